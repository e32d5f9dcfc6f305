"""`critical-friend people import FILE.csv`: who is in which team, and who manages whom.

The matcher needs both to choose a critical friend well: someone from another team for
an outside view, and never one's own line manager or report. A CSV file with a header:

    person,name,team,manager
    telegram:5551234,Sam Patel,North East,slack:T0123:U0456
    slack:T0123:U0456,Kim Lee,Leadership,
    terminal:alex,Alex,North East,telegram:5551234

`person` and `manager` say how the bot knows someone: their chat app and its id for them
(`terminal:NAME` for `critical-friend chat --user NAME`). Someone not known yet is added
to the organisation, so they are recognised when they first write. A manager must be a
person of the file or already known. Problems print as `file:line: what is wrong`, and
nothing is imported unless the whole file is right.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.messages import UserRef
from bot.store import Transaction
from bot.store.friends import FriendBook

COLUMNS = ("person", "name", "team", "manager")
CHANNELS = ("telegram", "slack", "terminal")
MAX_TEAM = 100
MAX_NAME = 200


class PeopleError(Exception):
    """Every problem found in the file, as `file:line: what is wrong` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class PersonRow:
    line: int
    person: UserRef
    team: str | None
    manager: UserRef | None


@dataclass(frozen=True, slots=True)
class Imported:
    added: int  # people not known before
    updated: int


def parse_ref(text: str) -> UserRef | None:
    channel, _, external_id = text.strip().partition(":")
    if channel not in CHANNELS or not external_id.strip():
        return None
    return UserRef(channel, external_id.strip())


def read_people(path: Path) -> list[PersonRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise PeopleError([f"{path}: cannot be read: {error}"]) from error
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in ("person",) if column not in header]
    unknown = [column for column in header if column not in COLUMNS]
    if missing or unknown:
        wrong = "no person column" if missing else f"unknown column {unknown[0]!r}"
        raise PeopleError([f"{path}:1: {wrong}; the columns are {', '.join(COLUMNS)}"])
    problems: list[str] = []
    rows: list[PersonRow] = []
    seen: dict[UserRef, int] = {}
    for number, raw in enumerate(reader, start=2):
        cells = {key.strip().lower(): (value or "").strip() for key, value in raw.items() if key}
        where = f"{path}:{number}"
        person = parse_ref(cells.get("person", ""))
        if person is None:
            problems.append(
                f"{where}: person must be like telegram:12345, slack:T01:U02 or terminal:NAME"
            )
            continue
        if person in seen:
            problems.append(f"{where}: {cells['person']} is on line {seen[person]} already")
            continue
        seen[person] = number
        name, team, boss = cells.get("name", ""), cells.get("team", ""), cells.get("manager", "")
        manager = parse_ref(boss) if boss else None
        if boss and manager is None:
            problems.append(f"{where}: manager must be like telegram:12345 or left empty")
        if manager == person:
            problems.append(f"{where}: nobody is their own manager")
        if len(team) > MAX_TEAM or len(name) > MAX_NAME:
            problems.append(f"{where}: the name or team is too long")
        named = UserRef(person.channel, person.external_id, name or None)
        rows.append(PersonRow(number, named, team or None, manager))
    if problems:
        raise PeopleError(problems)
    return rows


def import_people(
    tx: Transaction, rows: list[PersonRow], organisation_id: int, now: datetime, path: Path
) -> Imported:
    """Add or update everyone in `rows`, in the caller's transaction."""
    ids: dict[UserRef, int] = {}
    added = 0
    for row in rows:
        key = UserRef(row.person.channel, row.person.external_id)
        found = tx.find_user(key)
        if found is None:
            found = tx.join(row.person, organisation_id, now)
            added += 1
        elif row.person.display_name:
            tx.set_display_name(found, row.person.display_name)
        ids[key] = found
    friends = FriendBook(tx.connection)
    problems = []
    for row in rows:
        manager_id = None
        if row.manager is not None:
            manager_id = ids.get(row.manager) or tx.find_user(row.manager)
            if manager_id is None:
                problems.append(f"{path}:{row.line}: the manager is not in the file or known")
                continue
            if friends.organisation_of(manager_id) != organisation_id:
                # Known from another organisation: a typing slip, never a line manager.
                problems.append(f"{path}:{row.line}: the manager belongs to another organisation")
                continue
        person_id = ids[UserRef(row.person.channel, row.person.external_id)]
        if friends.organisation_of(person_id) != organisation_id:
            problems.append(f"{path}:{row.line}: this person belongs to another organisation")
            continue
        friends.set_place(person_id, row.team, manager_id)
    if problems:
        raise PeopleError(problems)
    return Imported(added=added, updated=len(rows) - added)
