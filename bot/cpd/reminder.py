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

from bot.cpd.year import CpdYear, Policy, Tracker, local_date, year_of
from bot.store import Transaction
from bot.store.cpd import CpdBook


def nudge_lines(
    tx: Transaction, zones: Mapping[int, str], now: datetime, policy: Policy
) -> dict[int, str]:
    """The CPD line for each worker (by id, with their time zone) who should have one
    in a weekly nudge sent at `now`; workers with nothing to add are left out."""
    # A batch's workers share a few zones, and their counts a few values: each date and
    # each line is worked out once, not once a worker.
    days: dict[str, tuple[date, CpdYear] | None] = {}
    due: dict[int, tuple[date, CpdYear]] = {}
    for user_id, zone in zones.items():
        if zone not in days:
            days[zone] = _late_in_year(now, zone, policy)
        found = days[zone]
        if found is not None:
            due[user_id] = found
    if not due:
        return {}
    # Workers either side of midnight on the last day are in different years: one
    # statement covers both, and each worker's own year is picked out below.
    start = min(year.start for _, year in due.values())
    end = max(year.end for _, year in due.values())
    records = CpdBook(tx).counted_many(due.keys(), start, end)
    said: dict[tuple[date, int, int], str | None] = {}
    lines: dict[int, str] = {}
    for user_id, (today, year) in due.items():
        theirs = [r for r in records.get(user_id, ()) if r.activity_date in year]
        key = (today, len(theirs), sum(1 for r in theirs if r.includes_peer))
        if key not in said:
            said[key] = Tracker(
                year, today, key[1], key[2], policy.required, policy.required_peer
            ).nudge_line()
        line = said[key]
        if line is not None:
            lines[user_id] = line
    return lines


def _late_in_year(now: datetime, zone: str, policy: Policy) -> tuple[date, CpdYear] | None:
    """The worker's date and CPD year, if the year ends within two months; else None."""
    try:
        today = local_date(now, zone)
    except ValueError:  # a zone this machine does not know: no line, not a lost nudge
        return None
    year = year_of(today, policy.start)
    return (today, year) if today >= year.reminders_from else None
