"""`critical-friend people import FILE.csv`: teams and line managers, as a real process,
and then what the matcher does with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.messages import UserRef
from bot.peer.people import PeopleError, read_people
from bot.store.db import open_engine
from bot.store.models import identities, users
from tests.chat_process import run_cli

GOOD = """person,name,team,manager
terminal:sam,Sam,North,terminal:lee
terminal:lee,Lee,Leadership,
telegram:5551234,Kim,South,terminal:lee
"""


def database_rows(home: Path) -> dict[str, tuple[str | None, str | None]]:
    """external id -> (team, manager's external id)."""
    engine = open_engine(f"sqlite:///{home / 'critical-friend.db'}")
    try:
        with engine.connect() as connection:
            ids = {
                row.user_id: row.external_id
                for row in connection.execute(
                    select(identities.c.user_id, identities.c.external_id)
                )
            }
            return {
                ids[row.id]: (row.team, ids.get(row.manager_id) if row.manager_id else None)
                for row in connection.execute(select(users.c.id, users.c.team, users.c.manager_id))
            }
    finally:
        engine.dispose()


def test_importing_people_sets_teams_and_managers_and_adds_who_is_new(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(GOOD)
    done = run_cli(tmp_path, "people", "import", str(people))
    assert done.returncode == 0, done.stderr
    assert b"3 people added and 0 updated" in done.stdout
    assert database_rows(tmp_path) == {
        "sam": ("North", "lee"),
        "lee": ("Leadership", None),
        "5551234": ("South", "lee"),
    }
    # Again, with Sam moved to another team: updated in place, nobody added twice.
    people.write_text(GOOD.replace("Sam,North", "Sam,East"))
    again = run_cli(tmp_path, "people", "import", str(people))
    assert b"0 people added and 3 updated" in again.stdout
    assert database_rows(tmp_path)["sam"] == ("East", "lee")
    logged = run_cli(tmp_path, "audit", "--format", "json")
    assert [(e["actor"], e["action"]) for e in json.loads(logged.stdout)] == [
        ("admin", "people_import"),
        ("admin", "people_import"),
    ]


def test_a_wrong_file_says_file_line_and_what_is_wrong_and_imports_nothing(
    tmp_path: Path,
) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "person,name,team,manager\n"
        "terminal:sam,Sam,North,terminal:lee\n"
        "whatsapp:1,Jo,North,\n"
        "terminal:ash,Ash,North,boss\n"
        "terminal:sam,Sam again,North,\n"
        "terminal:kim,Kim,South,terminal:kim\n"
    )
    done = run_cli(tmp_path, "people", "import", str(people))
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert lines == [
        f"{people}:3: person must be like telegram:12345, slack:T01:U02 or terminal:NAME",
        f"{people}:4: manager must be like telegram:12345 or left empty",
        f"{people}:5: terminal:sam is on line 2 already",
        f"{people}:6: nobody is their own manager",
    ]
    assert not (tmp_path / "critical-friend.db").exists() or database_rows(tmp_path) == {}


def test_a_manager_nobody_knows_is_refused_with_its_line(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("person,team,manager\nterminal:sam,North,terminal:nobody\n")
    done = run_cli(tmp_path, "people", "import", str(people))
    assert done.returncode == 2
    last = done.stderr.decode().strip().splitlines()[-1]  # after the new key's notice
    assert last == f"{people}:2: the manager is not in the file or known"


def test_a_file_without_a_person_column_or_with_an_unknown_one(tmp_path: Path) -> None:
    for header, problem in (
        ("name,team", "no person column"),
        ("person,team,salary", "unknown column 'salary'"),
    ):
        people = tmp_path / "people.csv"
        people.write_text(f"{header}\n")
        with pytest.raises(PeopleError) as raised:
            read_people(people)
        assert raised.value.problems == [
            f"{people}:1: {problem}; the columns are person, name, team, manager"
        ]


def test_people_refer_to_chat_identities() -> None:
    from bot.peer.people import parse_ref

    assert parse_ref("slack:T0123:U0456") == UserRef("slack", "T0123:U0456")
    assert parse_ref("terminal:alex") == UserRef("terminal", "alex")
    assert parse_ref("terminal:") is None
    assert parse_ref("email:x@example.org") is None
