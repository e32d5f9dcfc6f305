"""Scheduled deliveries (nudges, follow-ups, reminders) and each worker's nudge settings.

The database is the source of truth: a message due to a worker is a row, planned once
per (worker, kind, period) — the unique key makes planning the same nudge twice a no-op,
on either database, whoever plans it. A job claims due rows in a transaction and
leases them for a while; a process that dies holding a claim loses it when the lease
ends, and the row is claimed again.

Claiming on PostgreSQL locks the chosen rows with FOR UPDATE SKIP LOCKED, so two
processes ticking at once take different rows without waiting for each other. On
SQLite the claim is a single UPDATE: the driver opens the transaction with BEGIN
IMMEDIATE before it, so claimants take turns holding the write lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)

from bot.store.ids import among
from bot.store.models import UTCDateTime, deliveries, identities, nudge_settings, users

KINDS = ("weekly", "follow_up", "draft_reminder", "snoozed", "peer", "retention")
STATUSES = ("pending", "claimed", "sent", "failed", "skipped", "cancelled")
OPEN_STATUSES = ("pending", "claimed")
OUTCOME_LENGTH = 200  # the column's width; a longer reason is cut, not refused
# Rows per INSERT in plan_many. On SQLite, 7 parameters a row stays far below its limit
# on variables in one statement (32,766 since 3.32); PostgreSQL gets seven arrays.
PLAN_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    user_id: int
    kind: str
    period: str
    reference: str | None
    due_at: datetime
    attempts: int
    status: str


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """One delivery to plan with `DeliveryBook.plan_many`."""

    user_id: int
    kind: str
    period: str
    due_at: datetime
    reference: str | None = None


_DELIVERY_COLUMNS = (
    deliveries.c.id,
    deliveries.c.user_id,
    deliveries.c.kind,
    deliveries.c.period,
    deliveries.c.reference,
    deliveries.c.due_at,
    deliveries.c.attempts,
    deliveries.c.status,
)


def _delivery(row: Any) -> Delivery:  # a Row with the _DELIVERY_COLUMNS
    return Delivery(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        period=row.period,
        reference=row.reference,
        due_at=row.due_at,
        attempts=row.attempts,
        status=row.status,
    )


def dialect_insert(connection: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both dialects spell it the same)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # only loaded when PostgreSQL is in use

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown delivery kind {kind!r}; one of {', '.join(KINDS)}")


def _chunks(rows: Iterable[PlannedRow], size: int) -> Iterator[list[PlannedRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _plan_on_sqlite() -> Any:
    """One INSERT, run for every row of a chunk by the driver's executemany. No RETURNING:
    SQLite counts the rows an executemany inserted (not those the conflict left out),
    and RETURNING would make SQLAlchemy write each chunk out as one long statement with
    seven placeholders a row, which cost more than the insert."""
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(deliveries).on_conflict_do_nothing(
        index_elements=["user_id", "kind", "period"]
    )


def _plan_on_postgresql() -> Any:
    """INSERT ... SELECT FROM unnest(arrays): one statement with seven parameters a chunk."""
    from sqlalchemy.dialects import postgresql

    planned = (
        func.unnest(
            bindparam("user_ids", type_=postgresql.ARRAY(Integer)),
            bindparam("kinds", type_=postgresql.ARRAY(String)),
            bindparam("periods", type_=postgresql.ARRAY(String)),
            bindparam("references", type_=postgresql.ARRAY(String)),
            bindparam("due_ats", type_=postgresql.ARRAY(UTCDateTime)),
        )
        .table_valued("user_id", "kind", "period", "reference", "due_at")
        .render_derived(name="planned")
    )
    columns = ["user_id", "kind", "period", "reference", "due_at", "status", "created_at"]
    return (
        postgresql.insert(deliveries)
        .from_select(
            columns,
            select(
                *(planned.c[name] for name in columns[:5]),
                literal("pending", String),
                bindparam("now", type_=UTCDateTime),
            ),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "kind", "period"])
        .returning(deliveries.c.id)
    )


class DeliveryBook:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # ---- planning ------------------------------------------------------------

    def plan(
        self,
        user_id: int,
        kind: str,
        period: str,
        due_at: datetime,
        now: datetime,
        reference: str | None = None,
    ) -> bool:
        """Plan a pending delivery unless this (worker, kind, period) has one; True if planned."""
        return self.plan_many([PlannedRow(user_id, kind, period, due_at, reference)], now) == 1

    def plan_many(self, rows: Iterable[PlannedRow], now: datetime) -> int:
        """Plan many deliveries, one statement a chunk (an executemany on SQLite); how many
        were new.

        Rows whose (worker, kind, period) is already planned, in the database or
        earlier in `rows`, are left out by the database itself (ON CONFLICT DO NOTHING),
        so two planners racing cannot plan one nudge twice.
        """
        postgres = self.connection.dialect.name == "postgresql"
        statement = _plan_on_postgresql() if postgres else _plan_on_sqlite()
        planned = 0
        for chunk in _chunks(rows, PLAN_CHUNK):
            for row in chunk:
                _check_kind(row.kind)
            if postgres:
                # Seven arrays, however many rows: the driver would otherwise parse
                # seven placeholders a row, which costs more than the insert.
                parameters: Any = {
                    "user_ids": [row.user_id for row in chunk],
                    "kinds": [row.kind for row in chunk],
                    "periods": [row.period for row in chunk],
                    "references": [row.reference for row in chunk],
                    "due_ats": [row.due_at for row in chunk],
                    "now": now,
                }
            else:
                parameters = [
                    {
                        "user_id": row.user_id,
                        "kind": row.kind,
                        "period": row.period,
                        "reference": row.reference,
                        "due_at": row.due_at,
                        "status": "pending",
                        "created_at": now,
                    }
                    for row in chunk
                ]
            result = self.connection.execute(statement, parameters)
            # PostgreSQL's RETURNING gives back only the rows inserted; SQLite's driver
            # adds up the rows each run of an executemany inserted.
            planned += len(result.all()) if postgres else result.rowcount
        return planned

    # ---- claiming --------------------------------------------------------------

    def claim(self, now: datetime, claimant: str, limit: int, lease: timedelta) -> list[Delivery]:
        """Take up to `limit` due deliveries for `claimant`, oldest due first, until now + lease.

        Due: pending and past `not_before` (or `due_at` when there is none), or claimed
        by someone whose lease has run out. Each claim counts as an attempt.
        """
        if limit <= 0:
            return []
        # Two queries, each answered from the (status, due_at) index in due order: one
        # OR of both would make the database sort every due row for every batch.
        pending = (
            select(deliveries.c.id, deliveries.c.due_at)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.due_at <= now,
                or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now),
            )
            .order_by(deliveries.c.due_at, deliveries.c.id)
            .limit(limit)
        )
        abandoned = (
            select(deliveries.c.id, deliveries.c.due_at)
            .where(deliveries.c.status == "claimed", deliveries.c.lease_until < now)
            .order_by(deliveries.c.due_at, deliveries.c.id)
            .limit(limit)
        )
        chosen: ColumnElement[bool]
        if self.connection.dialect.name == "postgresql":
            # Lock the rows first, passing over those another claimant has locked: two
            # processes never wait for each other, and never take the same row.
            found = [
                *self.connection.execute(pending.with_for_update(skip_locked=True)),
                *self.connection.execute(abandoned.with_for_update(skip_locked=True)),
            ]
            found.sort(key=lambda row: (row.due_at, row.id))
            ids = [row.id for row in found[:limit]]
            if not ids:
                return []
            chosen = among(self.connection, deliveries.c.id, ids)
        else:
            # One statement, so the write lock is held from the choosing to the claiming.
            due, late = pending.subquery(), abandoned.subquery()
            both = union_all(
                select(due.c.id, due.c.due_at), select(late.c.id, late.c.due_at)
            ).subquery()
            first = select(both.c.id).order_by(both.c.due_at, both.c.id).limit(limit)
            chosen = deliveries.c.id.in_(first.scalar_subquery())
        rows = self.connection.execute(
            update(deliveries)
            .where(chosen)
            .values(
                status="claimed",
                claimed_by=claimant,
                lease_until=now + lease,
                attempts=deliveries.c.attempts + 1,
            )
            .returning(*_DELIVERY_COLUMNS)
        )
        claimed = [_delivery(row) for row in rows]
        claimed.sort(key=lambda delivery: (delivery.due_at, delivery.id))
        return claimed

    # ---- what became of a claimed delivery -------------------------------------

    def _finish(self, delivery_id: int, claimant: str | None, **values: Any) -> bool:
        """Move a claimed delivery on; False if it is not claimed (by `claimant`, if given)."""
        conditions = [deliveries.c.id == delivery_id, deliveries.c.status == "claimed"]
        if claimant is not None:
            conditions.append(deliveries.c.claimed_by == claimant)
        result = self.connection.execute(
            update(deliveries).where(*conditions).values(lease_until=None, **values)
        )
        return bool(result.rowcount)

    def sent(self, delivery_id: int, now: datetime, *, claimant: str | None = None) -> bool:
        return self._finish(delivery_id, claimant, status="sent", sent_at=now)

    def sent_many(self, delivery_ids: Sequence[int], now: datetime, *, claimant: str) -> int:
        """Mark many of the claimant's claimed deliveries sent, in one statement."""
        if not delivery_ids:
            return 0
        result = self.connection.execute(
            update(deliveries)
            .where(
                among(self.connection, deliveries.c.id, delivery_ids),
                deliveries.c.status == "claimed",
                deliveries.c.claimed_by == claimant,
            )
            .values(status="sent", sent_at=now, lease_until=None)
        )
        return int(result.rowcount)

    def release_many(self, delivery_ids: Sequence[int], *, claimant: str) -> int:
        """Give back claimed deliveries that were never tried (a process stopping with a
        batch in hand): pending again at once, and the claim not counted as an attempt."""
        if not delivery_ids:
            return 0
        result = self.connection.execute(
            update(deliveries)
            .where(
                among(self.connection, deliveries.c.id, delivery_ids),
                deliveries.c.status == "claimed",
                deliveries.c.claimed_by == claimant,
            )
            .values(
                status="pending",
                claimed_by=None,
                lease_until=None,
                attempts=deliveries.c.attempts - 1,
            )
        )
        return int(result.rowcount)

    def take_due(self, user_id: int, kind: str, now: datetime) -> list[Delivery]:
        """Mark a worker's due, unclaimed deliveries of one kind sent and return them: for
        showing them in the conversation the worker is having now. A row the dispatcher
        has claimed meanwhile is left to it, so each goes out once either way."""
        rows = self.connection.execute(
            update(deliveries)
            .where(
                deliveries.c.user_id == user_id,
                deliveries.c.kind == kind,
                deliveries.c.status == "pending",
                deliveries.c.due_at <= now,
            )
            .values(status="sent", sent_at=now, outcome="shown in the conversation")
            .returning(*_DELIVERY_COLUMNS)
        )
        return sorted((_delivery(row) for row in rows), key=lambda d: (d.due_at, d.id))

    def not_shown(self, delivery_id: int, outcome: str) -> None:
        """A delivery taken with `take_due` that turned out to say nothing any more: skipped."""
        self.connection.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.status == "sent")
            .values(status="skipped", sent_at=None, outcome=outcome[:OUTCOME_LENGTH])
        )

    def hold(self, delivery_id: int, until: datetime, outcome: str, *, claimant: str) -> bool:
        """Give a claimed delivery back untried until `until`: for a worker who can only be
        told in the conversation (the terminal), whose message waits for them there."""
        return self._finish(
            delivery_id,
            claimant,
            status="pending",
            not_before=until,
            claimed_by=None,
            attempts=deliveries.c.attempts - 1,
            outcome=outcome[:OUTCOME_LENGTH],
        )

    def retry(
        self,
        delivery_id: int,
        not_before: datetime,
        outcome: str,
        *,
        claimant: str | None = None,
    ) -> bool:
        """Give a claimed delivery back, to be claimed again from `not_before`."""
        return self._finish(
            delivery_id,
            claimant,
            status="pending",
            not_before=not_before,
            claimed_by=None,
            outcome=outcome[:OUTCOME_LENGTH],
        )

    def failed(self, delivery_id: int, outcome: str, *, claimant: str | None = None) -> bool:
        return self._finish(
            delivery_id, claimant, status="failed", outcome=outcome[:OUTCOME_LENGTH]
        )

    def skipped(self, delivery_id: int, outcome: str, *, claimant: str | None = None) -> bool:
        return self._finish(
            delivery_id, claimant, status="skipped", outcome=outcome[:OUTCOME_LENGTH]
        )

    # ---- changing plans ----------------------------------------------------------

    def _pending(self, user_id: int, kind: str, period: str) -> tuple[ColumnElement[bool], ...]:
        return (
            deliveries.c.user_id == user_id,
            deliveries.c.kind == kind,
            deliveries.c.period == period,
            deliveries.c.status == "pending",
        )

    def cancel(self, user_id: int, kind: str, period: str, outcome: str) -> bool:
        """Call off a pending delivery; False if there is none (sent, claimed, or never planned)."""
        result = self.connection.execute(
            update(deliveries)
            .where(*self._pending(user_id, kind, period))
            .values(status="cancelled", outcome=outcome[:OUTCOME_LENGTH])
        )
        return bool(result.rowcount)

    def move(self, user_id: int, kind: str, period: str, due_at: datetime) -> bool:
        """Make a pending delivery due at another time (a snooze); False if none is pending."""
        result = self.connection.execute(
            update(deliveries)
            .where(*self._pending(user_id, kind, period))
            .values(due_at=due_at, not_before=None)
        )
        return bool(result.rowcount)

    def reinstate(self, user_id: int, kind: str, period: str, due_at: datetime) -> bool:
        """Plan again a delivery that was called off (a worker changed their day away and
        back); False unless it was cancelled. A sent one is never planned again."""
        result = self.connection.execute(
            update(deliveries)
            .where(
                deliveries.c.user_id == user_id,
                deliveries.c.kind == kind,
                deliveries.c.period == period,
                deliveries.c.status == "cancelled",
            )
            .values(status="pending", due_at=due_at, not_before=None, outcome=None)
        )
        return bool(result.rowcount)

    # ---- reading ------------------------------------------------------------------

    def pending_for(self, user_id: int) -> list[Delivery]:
        """The worker's deliveries still to go out (pending or claimed), soonest first."""
        rows = self.connection.execute(
            select(*_DELIVERY_COLUMNS)
            .where(deliveries.c.user_id == user_id, deliveries.c.status.in_(OPEN_STATUSES))
            .order_by(deliveries.c.due_at, deliveries.c.id)
        )
        return [_delivery(row) for row in rows]

    def has_open(self, user_id: int, kind: str) -> bool:
        return bool(
            self.connection.scalar(
                select(
                    exists().where(
                        deliveries.c.user_id == user_id,
                        deliveries.c.kind == kind,
                        deliveries.c.status.in_(OPEN_STATUSES),
                    )
                )
            )
        )

    def counts(self, kind: str | None = None) -> dict[str, int]:
        """How many deliveries are in each status (every status listed, zeros too)."""
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        if kind is not None:
            query = query.where(deliveries.c.kind == kind)
        counted = dict.fromkeys(STATUSES, 0)
        for status, count in self.connection.execute(query):
            counted[status] = count
        return counted

    def workers_needing(self, kind: str, now: datetime, limit: int, *, after: int = 0) -> list[int]:
        """Workers (ids above `after`, ascending) with an identity and no open delivery of `kind`.

        For the weekly planner, which works out each one's next nudge: workers who
        opted out are left out, and so are those whose pause runs past tomorrow in
        every time zone (they come back the day before it ends, so what is planned
        follows the settings they have then). Page through everyone with `after`.
        """
        horizon = (now + timedelta(days=1)).date()
        query = (
            select(users.c.id)
            .where(
                users.c.id > after,
                exists().where(identities.c.user_id == users.c.id),
                ~exists().where(
                    deliveries.c.user_id == users.c.id,
                    deliveries.c.kind == kind,
                    deliveries.c.status.in_(OPEN_STATUSES),
                ),
                ~exists().where(
                    nudge_settings.c.user_id == users.c.id,
                    or_(
                        nudge_settings.c.opted_out.is_(True),
                        nudge_settings.c.paused_until > horizon,
                    ),
                ),
            )
            .order_by(users.c.id)
            .limit(limit)
        )
        return list(self.connection.scalars(query))


# ---- nudge settings ------------------------------------------------------------------

WEEKDAYS_SHAPE = re.compile(r"^[0-6](,[0-6]){0,6}$")
AT_SHAPE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
SETTINGS = ("weekdays", "at", "timezone", "working_days_only", "paused_until", "opted_out")


@dataclass(frozen=True, slots=True)
class StoredNudgeSettings:
    """A worker's own nudge settings; None is "the default" (see the nudge_settings table)."""

    user_id: int
    weekdays: str | None
    at: str | None
    timezone: str | None
    working_days_only: bool | None
    paused_until: date | None
    opted_out: bool
    updated_at: datetime


def _check_settings(changes: dict[str, str | bool | date | None]) -> None:
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise TypeError(f"not a nudge setting: {', '.join(unknown)}")
    weekdays = changes.get("weekdays")
    if weekdays is not None and not (isinstance(weekdays, str) and WEEKDAYS_SHAPE.match(weekdays)):
        raise ValueError(f"weekdays are like '4' or '0,2,4' (0 is Monday), not {weekdays!r}")
    at = changes.get("at")
    if at is not None and not (isinstance(at, str) and AT_SHAPE.match(at)):
        raise ValueError(f"a nudge time is 'HH:MM', not {at!r}")
    if "opted_out" in changes and not isinstance(changes["opted_out"], bool):
        raise ValueError("opted_out is True or False")


class NudgeSettingsBook:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get_many(self, user_ids: Iterable[int]) -> dict[int, StoredNudgeSettings]:
        """Settings of several workers at once; those with none are left out."""
        rows = self.connection.execute(
            select(nudge_settings).where(among(self.connection, nudge_settings.c.user_id, user_ids))
        )
        return {row.user_id: StoredNudgeSettings(**row._asdict()) for row in rows}

    def get(self, user_id: int) -> StoredNudgeSettings | None:
        """The worker's settings, or None when they never changed any (all defaults)."""
        row = self.connection.execute(
            select(nudge_settings).where(nudge_settings.c.user_id == user_id)
        ).first()
        return StoredNudgeSettings(**row._asdict()) if row is not None else None

    def save(
        self, user_id: int, now: datetime, **changes: str | bool | date | None
    ) -> StoredNudgeSettings:
        """Change some settings, keeping the others (a first change makes the row)."""
        _check_settings(changes)
        values = {**changes, "updated_at": now}
        statement = (
            dialect_insert(self.connection, nudge_settings)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=["user_id"], set_=values)
            .returning(*nudge_settings.c)
        )
        return StoredNudgeSettings(**self.connection.execute(statement).one()._asdict())
