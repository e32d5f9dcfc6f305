"""The CPD line in the weekly nudge: late in the registration year (from 1 October for
a year ending on 30 November), a worker still short of what their regulator asks is
told what is missing, in the nudge they get anyway.

The dispatcher claims nudges in batches of hundreds, so the records are read for the
whole batch in one statement, and only for the workers whose year is in its last two
months where they are: on most days of the year no statement runs at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from bot.cpd.year import CpdYear, Policy, local_date, track, year_of
from bot.store import Transaction
from bot.store.cpd import CpdBook


def nudge_lines(
    tx: Transaction, zones: Mapping[int, str], now: datetime, policy: Policy
) -> dict[int, str]:
    """The CPD line for each worker (by id, with their time zone) who should have one
    in a weekly nudge sent at `now`; workers with nothing to add are left out."""
    due: dict[int, tuple[date, CpdYear]] = {}
    for user_id, zone in zones.items():
        try:
            today = local_date(now, zone)
        except ValueError:  # a zone this machine does not know: no line, not a lost nudge
            continue
        year = year_of(today, policy.start)
        if today >= year.reminders_from:
            due[user_id] = (today, year)
    if not due:
        return {}
    # Workers either side of midnight on the last day are in different years: one
    # statement covers both, and each worker's own year is picked out by `track`.
    start = min(year.start for _, year in due.values())
    end = max(year.end for _, year in due.values())
    records = CpdBook(tx).counted_many(due.keys(), start, end)
    lines: dict[int, str] = {}
    for user_id, (today, _) in due.items():
        line = track(
            records.get(user_id, ()),
            today,
            start=policy.start,
            required=policy.required,
            required_peer=policy.required_peer,
        ).nudge_line()
        if line is not None:
            lines[user_id] = line
    return lines
