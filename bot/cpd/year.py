"""The CPD registration year, and how a worker stands in it.

Social Work England's year runs from 1 December to 30 November, the renewal deadline;
other regulators start theirs on another day (`YearStart`). A year is named by the
calendar year it ends in: "2026" is 1 December 2025 to 30 November 2026.

Everything here takes a local date, never an instant: which year a record falls in
depends on the worker's time zone (a reflection finished at 23:30 UTC on 30 November is
already 1 December in Tokyo). `local_date` turns an instant into that date; a datetime
given where a date is expected is refused rather than read in the wrong zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Protocol

from bot.nudges import schedule

__all__ = [
    "SOCIAL_WORK_ENGLAND",
    "CpdYear",
    "Policy",
    "Tracker",
    "YearStart",
    "local_date",
    "track",
    "uk_date",
    "year_of",
    "year_range",
]

REQUIRED: Final = 2  # pieces of CPD each year
REQUIRED_PEER: Final = 1  # of which include peer reflection
REMIND_MONTHS: Final = 2  # the weekly nudge mentions what is missing from 1 October


@dataclass(frozen=True, slots=True)
class YearStart:
    """The day a registration year starts, every year."""

    month: int = 12
    day: int = 1

    def __post_init__(self) -> None:
        try:
            date(2001, self.month, self.day)  # not a leap year: 29 February is refused
        except ValueError:
            raise ValueError(
                f"a CPD year cannot start on day {self.day} of month {self.month}: "
                "choose a day that comes every year"
            ) from None

    @property
    def new_year(self) -> bool:
        """Whether the year is the calendar year (it starts on 1 January)."""
        return (self.month, self.day) == (1, 1)


SOCIAL_WORK_ENGLAND: Final = YearStart(12, 1)


@dataclass(frozen=True, slots=True)
class Policy:
    """What the regulator asks (from `cpd:` in the config)."""

    start: YearStart = SOCIAL_WORK_ENGLAND
    required: int = REQUIRED
    required_peer: int = REQUIRED_PEER


@dataclass(frozen=True, slots=True)
class CpdYear:
    label: int  # the calendar year it ends in
    start: date
    end: date  # the last day, inclusive: the deadline

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= _plain(day) <= self.end

    def __str__(self) -> str:
        return f"{uk_date(self.start)} to {uk_date(self.end)}"

    @property
    def reminders_from(self) -> date:
        """The first day of the year's last two calendar months (1 October for 30 November)."""
        month = self.end.month - REMIND_MONTHS + 1
        year = self.end.year
        if month < 1:
            month, year = month + 12, year - 1
        return max(date(year, month, 1), self.start)


def local_date(instant: datetime, zone: str) -> date:
    """The date it was in `zone` at an aware `instant` (ValueError if it is naive or the
    zone unknown): the nudges' `local_date`, arguments in the CPD code's order."""
    return schedule.local_date(zone, instant)


def uk_date(day: date) -> str:
    """23 November 2026: the way dates are written in the UK, with no leading zero."""
    return f"{day.day} {day:%B %Y}"


def _plain(day: date) -> date:
    if isinstance(day, datetime):
        raise TypeError(
            "a CPD year needs the worker's local date, not an instant: use local_date(instant, zone)"
        )
    return day


def year_range(label_or_date: int | date, start: YearStart = SOCIAL_WORK_ENGLAND) -> CpdYear:
    """The year with this label ("2026"), or the year a local date falls in."""
    if isinstance(label_or_date, date):
        return year_of(label_or_date, start)
    label = label_or_date
    if start.new_year:
        first = date(label, 1, 1)
        return CpdYear(label, first, date(label, 12, 31))
    first = date(label - 1, start.month, start.day)
    return CpdYear(label, first, date(label, start.month, start.day) - timedelta(days=1))


def year_of(day: date, start: YearStart = SOCIAL_WORK_ENGLAND) -> CpdYear:
    """The registration year a local date falls in."""
    day = _plain(day)
    if start.new_year or day < date(day.year, start.month, start.day):
        return year_range(day.year, start)
    return year_range(day.year + 1, start)


class Counted(Protocol):
    """A CPD record as the tracker counts it (a stored record, or a draft)."""

    @property
    def activity_date(self) -> date: ...

    @property
    def includes_peer(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Tracker:
    """Where a worker stands in the year that `today` (their local date) falls in."""

    year: CpdYear
    today: date
    records: int
    with_peer: int
    required: int = REQUIRED
    required_peer: int = REQUIRED_PEER

    @property
    def includes_peer(self) -> bool:
        return self.with_peer > 0

    @property
    def missing_peer(self) -> int:
        return max(0, self.required_peer - self.with_peer)

    @property
    def missing(self) -> int:
        """Records still to make, counting any still needed with peer reflection."""
        return max(0, self.required - self.records, self.missing_peer)

    @property
    def done(self) -> bool:
        return self.missing == 0

    @property
    def days_left(self) -> int:
        return (self.year.end - self.today).days

    @property
    def reminder_due(self) -> bool:
        """Whether the weekly nudge should mention what is missing (from 1 October)."""
        return not self.done and self.today >= self.year.reminders_from

    def describe(self) -> str:
        """Where things stand, for the worker: two or three short sentences."""
        lines = [f"Your CPD year runs from {self.year}."]
        if self.records == 0:
            lines.append("You have no CPD records in it yet.")
        else:
            peer = (
                "none with peer reflection yet"
                if self.with_peer == 0
                else "with peer reflection"
                if self.with_peer == self.records == 1
                else f"{_number(self.with_peer)} with peer reflection"
            )
            lines.append(f"So far: {_records(self.records)}, {peer}.")
        if self.done:
            lines.append(
                f"That meets the yearly requirement of at least {_records(self.required)}, "
                f"{_number(self.required_peer)} with peer reflection."
            )
        else:
            lines.append(f"Still to do by {uk_date(self.year.end)}: {self.still_to_do()}.")
        return " ".join(lines)

    def still_to_do(self) -> str:
        """What is missing: "2 more records, one of them with peer reflection" ("" if nothing)."""
        if self.done:
            return ""
        more = _records(self.missing).replace("record", "more record", 1)
        if self.missing_peer == 0:
            return more
        if self.missing == self.missing_peer == 1:
            return f"{more}, with peer reflection"
        return f"{more}, {_number(self.missing_peer)} of them with peer reflection"

    def nudge_line(self) -> str | None:
        """A line for the weekly nudge while something is missing late in the year (from
        1 October for a year ending on 30 November); None otherwise. Three short
        sentences: when the year ends, where the worker stands, and that this week's
        reflection could count."""
        if not self.reminder_due:
            return None
        end = f"{self.year.end.day} {self.year.end:%B}"
        ends = f"today, {end}" if self.days_left == 0 else f"on {end}"
        with_colleague = "with a colleague's reflection"
        if self.records == 0:
            asks = _records(self.required).replace("no records", "no record")
            if self.required_peer == 0:
                peer = ""
            elif self.required_peer >= self.required:
                peer = f", {with_colleague}" if self.required == 1 else f", all {with_colleague}"
            else:
                peer = f", {_number(self.required_peer)} {with_colleague}"
            stands = f"You need {asks}{peer}, and you have none yet."
        else:
            have = (
                f"You have {self.records} of {self.required} records"
                if self.records < self.required
                else f"You have {_records(self.records)}"
            )
            if self.missing_peer == 0:
                stands = f"{have}."
            elif self.with_peer == 0:
                joined = ", but" if self.records >= self.required else ", and"
                stands = f"{have}{joined} none yet {with_colleague}."
            else:
                stands = f"{have}, {self.with_peer} of {self.required_peer} {with_colleague}."
        if self.records < self.required:
            could = "This week's reflection could be one."
        else:
            which = "that one" if self.missing_peer == 1 else "one of them"
            could = f"This week's reflection could be {which}, shared with a critical friend."
        return f"Your CPD year ends {ends}. {stands} {could}"


def track(
    records: Iterable[Counted],
    today: date,
    *,
    start: YearStart = SOCIAL_WORK_ENGLAND,
    required: int = REQUIRED,
    required_peer: int = REQUIRED_PEER,
) -> Tracker:
    """How the records in the year `today` falls in measure up; others are not counted."""
    year = year_of(today, start)
    this_year = [r for r in records if r.activity_date in year]
    return Tracker(
        year=year,
        today=today,
        records=len(this_year),
        with_peer=sum(1 for r in this_year if r.includes_peer),
        required=required,
        required_peer=required_peer,
    )


def _records(count: int) -> str:
    return "no records" if count == 0 else "1 record" if count == 1 else f"{count} records"


def _number(count: int) -> str:
    return "one" if count == 1 else str(count)
