"""When a worker's nudges fall: pure schedule maths, with no clock and no database.

Instants given must be aware, and instants returned are in UTC. A nudge is the worker's
local wall time `at` on an allowed local date, turned into an instant by two rules:

* A wall time that does not exist that day (clocks go forward over it, e.g. 01:30 in
  Europe/London on the last Sunday of March) fires at the first instant after the gap,
  the moment the clocks jump (02:00 BST that day, 01:00 UTC).
* A wall time that happens twice (clocks go back over it) fires once, at its first
  occurrence (fold=0: 01:30 BST, not 01:30 GMT, on the last Sunday of October).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SATURDAY = 5  # date.weekday(): 0 is Monday, 6 is Sunday
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class NudgeSchedule:
    """One worker's weekly nudge: which weekdays, at what local time, in which zone."""

    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday
    at: time  # local wall time, without a tzinfo
    timezone: str  # IANA name, e.g. "Europe/London"
    working_days_only: bool = False  # never Saturday or Sunday; weekend follow-ups go to Monday
    paused_until: date | None = None  # on holiday: no nudges on local dates before this one
    opted_out: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not self.weekdays:
            raise ValueError("A nudge schedule needs at least one weekday.")
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError(
                f"Weekdays are numbers from 0 (Monday) to 6 (Sunday), not {sorted(self.weekdays)}."
            )
        if not self.days:
            raise ValueError(
                "This schedule only has weekend days, and working_days_only rules them out."
            )
        if self.at.tzinfo is not None:
            raise ValueError(
                "The nudge time is a local wall time: give it without a timezone, "
                "the schedule's timezone says where it is."
            )
        _zone(self.timezone)

    @property
    def days(self) -> frozenset[int]:
        """The weekdays nudges may actually fall on (weekends removed for working days only)."""
        if self.working_days_only:
            return frozenset(d for d in self.weekdays if d < SATURDAY)
        return self.weekdays

    def nudges_on(self, day: date) -> bool:
        """Whether a weekly nudge is due on this local date (ignoring opt-out)."""
        paused = self.paused_until is not None and day < self.paused_until
        return day.weekday() in self.days and not paused


def is_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows ("Europe/London")."""
    try:
        _zone(name)
    except ValueError:
        return False
    return True


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # A folder of the zone database ("Europe") is an OSError, not "not found".
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not a time zone we know; use an IANA name such as 'Europe/London'."
        ) from None


def _require_aware(instant: datetime) -> None:
    if instant.utcoffset() is None:
        raise ValueError(f"{instant!r} has no timezone; schedule maths needs an aware instant.")


def local_date(zone: str, instant: datetime) -> date:
    """The calendar date it is in `zone` at `instant` (which must be aware)."""
    _require_aware(instant)
    return instant.astimezone(_zone(zone)).date()


def local_instant(zone: str, day: date, at: time) -> datetime:
    """The UTC instant the wall clock in `zone` shows `at` on `day`, by the gap and fold rules."""
    tz = _zone(zone)
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz)
    first = wall.astimezone(UTC)
    back = first.astimezone(tz)
    if (back.date(), back.time()) == (day, wall.time()):
        return first  # it exists; fold=0 is the first occurrence when it happens twice
    # A gap: fold=0 and fold=1 read the wall time with the offsets either side of the jump,
    # which puts the jump between the two instants; find it to the second.
    before, after = sorted((first, wall.replace(fold=1).astimezone(UTC)))
    before = before.replace(microsecond=0)
    offset = before.astimezone(tz).utcoffset()
    low, high = 0, int((after - before).total_seconds()) + 1  # offset changed by `high`
    while high - low > 1:
        middle = (low + high) // 2
        if (before + middle * _ONE_SECOND).astimezone(tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return before + high * _ONE_SECOND


@functools.lru_cache(maxsize=4096)
def next_nudge(schedule: NudgeSchedule, after: datetime) -> datetime | None:
    """The first weekly nudge strictly after `after`, in UTC; None when the worker opted out.

    Remembered: when a week's nudges are settled, most workers share a schedule and the
    minute their nudge fell in, so thousands of rows ask the same question.
    """
    _require_aware(after)
    if schedule.opted_out:
        return None
    # A day before, in case a nudge on the previous local date was pushed past a gap.
    day = local_date(schedule.timezone, after) - timedelta(days=1)
    if schedule.paused_until is not None:
        day = max(day, schedule.paused_until)
    for _ in range(16):  # one allowed weekday always falls within two weeks of `day`
        if schedule.nudges_on(day):
            instant = local_instant(schedule.timezone, day, schedule.at)
            if instant > after:
                return instant
        day += timedelta(days=1)
    raise AssertionError("unreachable: every schedule has an allowed weekday")


def due_between(schedule: NudgeSchedule, start: datetime, end: datetime) -> list[datetime]:
    """Every nudge in `start < t <= end` (so back-to-back windows never share one), for catch-up."""
    due: list[datetime] = []
    instant = next_nudge(schedule, start)
    while instant is not None and instant <= end:
        due.append(instant)
        instant = next_nudge(schedule, instant)
    return due


def nudge_period(schedule: NudgeSchedule, due: datetime) -> str:
    """The ISO week ("2026-W48") of the nudge's local date, so one weekly nudge per week is sent.

    With several weekdays a week, all of that week's nudges share this key.
    """
    year, week, _ = local_date(schedule.timezone, due).isocalendar()
    return f"{year}-W{week:02d}"


def follow_up_at(schedule: NudgeSchedule, day: date) -> datetime:
    """The worker's nudge time on local `day`, moved to Monday from a weekend for working days only.

    A follow-up is something the worker asked for, so pauses and opt-outs do not apply here.
    """
    if schedule.working_days_only and day.weekday() >= SATURDAY:
        day += timedelta(days=7 - day.weekday())
    return local_instant(schedule.timezone, day, schedule.at)


def remind_tomorrow(schedule: NudgeSchedule, now: datetime) -> datetime:
    """For "remind me tomorrow": the next local date at the nudge time, past a weekend if need be."""
    return follow_up_at(schedule, local_date(schedule.timezone, now) + timedelta(days=1))
