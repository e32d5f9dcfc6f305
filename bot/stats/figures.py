"""The figures behind `critical-friend stats`: counts and dates, never what anyone wrote.

Every figure is counted in SQL (SQLAlchemy Core) over columns that hold times, ids and
fixed states; no encrypted column is read, so nothing here could decrypt an answer even
by mistake. `Stats` checks its own fields: a string where a number belongs is refused.

The period is the last `weeks` ISO weeks, the current one included (so it is partial),
each from Monday 00:00 in `zone`, up to `now`. What each figure counts:

- workers: everyone in scope who has used the bot (a row in `users`), at any time.
- active_workers: workers who wrote something, an answer saved in any conversation (a
  reflection, a follow-up, feedback for a colleague, an answer to feedback, a draft
  still open), in the 28 days up to `now`.
- weeks: per ISO week, reflections finished that week, and the workers who wrote that
  week (the same "wrote" as active_workers, within one week).
- reflections_finished: a worker's own reflections finished in the period, follow-ups
  included; feedback for a colleague and answers to feedback are not reflections.
- reflections_started / started_then_finished / completion_rate: of the reflections
  started in the period, how many are finished now. A reflection begun yesterday and
  not yet finished counts against the rate until it is; a draft the worker discarded
  is deleted with everything in it, and so is counted nowhere.
- nudges_sent: weekly nudges sent in the period (pushed, or shown in the conversation).
  A snoozed nudge's second sending is not counted again.
- nudges_acted_on: of those, the ones after which the same worker finished a reflection
  within 3 days (72 hours after it was sent, to the millisecond). One reflection can
  answer two nudges if a worker has nudges on several days; a nudge sent less than 3
  days ago may still be acted on.
- pairings_made: critical-friend pairings begun in the period (by request or round).
- feedback_given: feedback a critical friend sent in the period.
- cpd_records / cpd_records_with_peer: CPD records made in the period, and those of
  them that include reflection with a peer.

With `organisation_id`, only that organisation's workers (and its pairings) count.
What retention or `forget` has deleted is not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Connection,
    Interval,
    Select,
    and_,
    case,
    distinct,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from bot.peer.sharing import FEEDBACK_DIALOGUE, REPLY_DIALOGUE
from bot.store.models import (
    answers,
    conversations,
    cpd_records,
    deliveries,
    feedback,
    pairings,
    reflections,
    users,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    # A SELECT of any columns (SQLAlchemy 2.1 types a Select by its columns).
    Query: TypeAlias = Select[*tuple[Any, ...]]

ACTIVE_DAYS = 28
ACTED_ON_DAYS = 3
MAX_WEEKS = 104
# Conversations that are not a worker's own reflection: what a friend writes, and the
# author's answer to it.
NOT_REFLECTIONS = (FEEDBACK_DIALOGUE, REPLY_DIALOGUE)


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{name} must be a count (a whole number, 0 or more), not {value!r}")


@dataclass(frozen=True, slots=True)
class WeekCount:
    """One ISO week: reflections finished in it, and the workers who wrote in it."""

    week_start: date  # a Monday
    reflections_finished: int
    workers_writing: int

    def __post_init__(self) -> None:
        if type(self.week_start) is not date or self.week_start.isoweekday() != 1:
            raise TypeError(f"week_start must be a Monday (a date), not {self.week_start!r}")
        _check_count("reflections_finished", self.reflections_finished)
        _check_count("workers_writing", self.workers_writing)

    @property
    def iso_week(self) -> str:
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class Stats:
    """Participation in numbers. Only counts, rates, dates and one time-zone name fit:
    there is no field a sentence could be put in, and `__post_init__` refuses one."""

    as_of: datetime  # aware, UTC
    zone: str  # an IANA time zone name, checked against the time-zone database
    organisation_id: int | None  # None: every organisation
    period_start: date  # the first week's Monday
    period_end: date  # as_of's date in `zone`
    workers: int
    active_workers: int
    reflections_finished: int
    reflections_started: int
    started_then_finished: int
    completion_rate: float | None  # None when nothing was started
    nudges_sent: int
    nudges_acted_on: int
    pairings_made: int
    feedback_given: int
    cpd_records: int
    cpd_records_with_peer: int
    weeks: tuple[WeekCount, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.as_of, datetime) or self.as_of.utcoffset() != timedelta(0):
            raise TypeError(f"as_of must be an aware UTC datetime, not {self.as_of!r}")
        _check_zone(self.zone)
        if self.organisation_id is not None:
            _check_count("organisation_id", self.organisation_id)
        for name in ("period_start", "period_end"):
            if type(getattr(self, name)) is not date:
                raise TypeError(f"{name} must be a date, not {getattr(self, name)!r}")
        rate = self.completion_rate
        if rate is not None and (
            not isinstance(rate, float) or not math.isfinite(rate) or not 0 <= rate <= 1
        ):
            raise TypeError(f"completion_rate must be a fraction from 0 to 1, not {rate!r}")
        if not isinstance(self.weeks, tuple) or not all(
            isinstance(week, WeekCount) for week in self.weeks
        ):
            raise TypeError("weeks must be a tuple of WeekCount")
        for field in fields(self):
            if field.type == "int":
                _check_count(field.name, getattr(self, field.name))

    @property
    def nudge_rate(self) -> float | None:
        """The share of weekly nudges acted on; None when none was sent."""
        return self.nudges_acted_on / self.nudges_sent if self.nudges_sent else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types: numbers, None, and dates as ISO 8601 text."""
        found: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif field.name == "weeks":
                value = [
                    {
                        "week_start": week.week_start.isoformat(),
                        "iso_week": week.iso_week,
                        "reflections_finished": week.reflections_finished,
                        "workers_writing": week.workers_writing,
                    }
                    for week in value
                ]
            found[field.name] = value
        found["nudge_rate"] = self.nudge_rate
        return found


def _check_zone(name: object) -> None:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise TypeError(f"zone must be a time zone name, not {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TypeError(f"zone must be a time zone name, not {name!r}") from None


# ---- collecting -----------------------------------------------------------------------


def collect(
    connection: Connection,
    now: datetime,
    *,
    weeks: int = 12,
    organisation_id: int | None = None,
    zone: str = "UTC",
) -> Stats:
    """The figures for the `weeks` ISO weeks up to `now` (weeks begin Monday 00:00 in
    `zone`), for one organisation or, with None, for all of them."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be from 1 to {MAX_WEEKS}, not {weeks}")
    _check_zone(zone)
    now, local = now.astimezone(UTC), ZoneInfo(zone)
    mondays = _mondays(now, weeks, local)
    bounds = [_start_of(monday, local) for monday in mondays]
    bounds.append(_start_of(mondays[-1] + timedelta(days=7), local))
    scope = _Scope(organisation_id)
    start = bounds[0]

    finished_weekly = _weekly(connection, scope.reflections(start, now), bounds)
    writing_weekly = _weekly_distinct(connection, scope.writing(start, now), bounds)
    started, started_finished = _started(connection, scope, start, now)
    sent, acted_on = _nudges(connection, scope, start, now)

    return Stats(
        as_of=now,
        zone=zone,
        organisation_id=organisation_id,
        period_start=mondays[0],
        period_end=now.astimezone(local).date(),
        workers=_scalar(connection, scope.users(select(func.count()).select_from(users), now)),
        active_workers=_distinct_workers(
            connection, scope.writing(now - timedelta(days=ACTIVE_DAYS), now)
        ),
        reflections_finished=sum(finished_weekly),
        reflections_started=started,
        started_then_finished=started_finished,
        completion_rate=started_finished / started if started else None,
        nudges_sent=sent,
        nudges_acted_on=acted_on,
        pairings_made=_scalar(connection, scope.pairings(start, now)),
        feedback_given=_scalar(connection, scope.feedback(start, now)),
        cpd_records=_scalar(connection, scope.cpd(start, now)),
        cpd_records_with_peer=_scalar(connection, scope.cpd(start, now, peer_only=True)),
        weeks=tuple(
            WeekCount(monday, finished, writing)
            for monday, finished, writing in zip(
                mondays, finished_weekly, writing_weekly, strict=True
            )
        ),
    )


def _mondays(now: datetime, weeks: int, zone: ZoneInfo) -> list[date]:
    today = now.astimezone(zone).date()
    this_monday = today - timedelta(days=today.weekday())
    return [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _scalar(connection: Connection, query: Query) -> int:
    return int(connection.scalar(query) or 0)


class _Scope:
    """The queries, each limited to one organisation's workers when one is given."""

    def __init__(self, organisation_id: int | None) -> None:
        self.organisation_id = organisation_id

    def users(self, query: Query, now: datetime) -> Query:
        query = query.where(users.c.created_at <= now)
        if self.organisation_id is None:
            return query
        return query.where(users.c.organisation_id == self.organisation_id)

    def _of_workers(self, query: Query, user_id: KeyedColumnElement[Any]) -> Query:
        if self.organisation_id is None:
            return query
        return query.where(
            user_id.in_(select(users.c.id).where(users.c.organisation_id == self.organisation_id))
        )

    def reflections(self, start: datetime, now: datetime) -> Query:
        """Finish times of workers' own reflections in [start, now]."""
        query = select(reflections.c.finished_at.label("at"), reflections.c.user_id).where(
            reflections.c.finished_at >= start,
            reflections.c.finished_at <= now,
            reflections.c.dialogue_id.not_in(NOT_REFLECTIONS),
        )
        return self._of_workers(query, reflections.c.user_id)

    def writing(self, start: datetime, now: datetime) -> Query:
        """When each answer in [start, now] was saved, and whose it was."""
        query = (
            select(answers.c.created_at.label("at"), conversations.c.user_id)
            .join(conversations, conversations.c.id == answers.c.conversation_id)
            .where(answers.c.created_at >= start, answers.c.created_at <= now)
        )
        return self._of_workers(query, conversations.c.user_id)

    def started(self, start: datetime, now: datetime) -> Query:
        query = select(func.count(), func.count(case((conversations.c.status == "finished", 1))))
        query = query.where(
            conversations.c.started_at >= start,
            conversations.c.started_at <= now,
            conversations.c.dialogue_id.not_in(NOT_REFLECTIONS),
        )
        return self._of_workers(query, conversations.c.user_id)

    def nudges(self, start: datetime, now: datetime, acted_on: ColumnElement[bool]) -> Query:
        query = select(func.count(), func.count(case((acted_on, 1)))).where(
            deliveries.c.kind == "weekly",
            deliveries.c.status == "sent",
            deliveries.c.sent_at >= start,
            deliveries.c.sent_at <= now,
        )
        return self._of_workers(query, deliveries.c.user_id)

    def pairings(self, start: datetime, now: datetime) -> Query:
        query = select(func.count()).where(
            pairings.c.started_at >= start, pairings.c.started_at <= now
        )
        if self.organisation_id is None:
            return query
        return query.where(pairings.c.organisation_id == self.organisation_id)

    def feedback(self, start: datetime, now: datetime) -> Query:
        query = select(func.count()).where(
            feedback.c.status == "sent", feedback.c.sent_at >= start, feedback.c.sent_at <= now
        )
        return self._of_workers(query, feedback.c.user_id)

    def cpd(self, start: datetime, now: datetime, *, peer_only: bool = False) -> Query:
        query = select(func.count()).where(
            cpd_records.c.created_at >= start, cpd_records.c.created_at <= now
        )
        if peer_only:
            query = query.where(cpd_records.c.peer.is_(True))
        return self._of_workers(query, cpd_records.c.user_id)


def _in_week(at: ColumnElement[datetime], bounds: list[datetime], i: int) -> ColumnElement[bool]:
    return and_(at >= bounds[i], at < bounds[i + 1])


def _weekly(connection: Connection, rows: Query, bounds: list[datetime]) -> list[int]:
    """How many of `rows` fall in each week: one statement, one column per week."""
    found = rows.subquery()
    columns = [
        func.count(case((_in_week(found.c.at, bounds, i), 1))) for i in range(len(bounds) - 1)
    ]
    counted = connection.execute(select(*columns).select_from(found)).one()
    return [int(n) for n in counted]


def _weekly_distinct(connection: Connection, rows: Query, bounds: list[datetime]) -> list[int]:
    """How many different workers appear in `rows` in each week."""
    found = rows.subquery()
    columns = [
        func.count(distinct(case((_in_week(found.c.at, bounds, i), found.c.user_id))))
        for i in range(len(bounds) - 1)
    ]
    counted = connection.execute(select(*columns).select_from(found)).one()
    return [int(n) for n in counted]


def _distinct_workers(connection: Connection, rows: Query) -> int:
    found = rows.subquery()
    return _scalar(connection, select(func.count(distinct(found.c.user_id))))


def _started(
    connection: Connection, scope: _Scope, start: datetime, now: datetime
) -> tuple[int, int]:
    started, finished = connection.execute(scope.started(start, now)).one()
    return int(started), int(finished)


def _nudges(
    connection: Connection, scope: _Scope, start: datetime, now: datetime
) -> tuple[int, int]:
    later = reflections.c.finished_at
    sent = deliveries.c.sent_at
    if connection.dialect.name == "sqlite":
        # SQLite keeps times as text; julianday() reads them, and counting in whole
        # milliseconds keeps a reflection exactly 72 hours later inside the window.
        within = func.round((func.julianday(later) - func.julianday(sent)) * 86_400_000) <= (
            ACTED_ON_DAYS * 86_400_000
        )
    else:
        # Typed as an interval: left to the column's type, it would be bound as a time.
        within = later <= sent + literal(timedelta(days=ACTED_ON_DAYS), Interval())
    acted_on = exists().where(
        reflections.c.user_id == deliveries.c.user_id,
        reflections.c.dialogue_id.not_in(NOT_REFLECTIONS),
        later > sent,
        later <= now,
        within,
    )
    total, answered = connection.execute(scope.nudges(start, now, acted_on)).one()
    return int(total), int(answered)
