"""Scheduled deliveries and nudge settings, on SQLite and PostgreSQL: planned once,
claimed once, leased, retried, and moved through their states only from the right one."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select

from bot.messages import UserRef
from bot.store import (
    Delivery,
    DeliveryBook,
    NudgeSettingsBook,
    PlannedRow,
    StoredNudgeSettings,
)
from bot.store.models import deliveries, nudge_settings, users
from bot.store.repository import Store

NOW = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def make_workers(store: Store, count: int, *, first: int = 1) -> list[int]:
    with store.transaction() as tx:
        organisation = tx.default_organisation(NOW)
        return [
            tx.join(UserRef("telegram", str(number)), organisation, NOW)
            for number in range(first, first + count)
        ]


def weeks(user_id: int, count: int, due_at: datetime = NOW) -> list[PlannedRow]:
    """`count` weekly nudges for one worker, all due at `due_at` (distinct periods)."""
    return [PlannedRow(user_id, "weekly", f"test-{week}", due_at) for week in range(count)]


def test_planning_the_same_delivery_twice_keeps_one_row(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        assert book.plan(worker, "weekly", "2026-W48", NOW, NOW)
        assert not book.plan(worker, "weekly", "2026-W48", NOW + timedelta(days=1), NOW)
        # Another kind or period is another delivery.
        assert book.plan(worker, "follow_up", "check-in:7", NOW, NOW, reference="7")
        assert book.plan(worker, "weekly", "2026-W49", NOW + timedelta(days=7), NOW)
        rows = [
            PlannedRow(worker, "weekly", "2026-W49", NOW),  # already planned
            PlannedRow(worker, "weekly", "2026-W50", NOW),
            PlannedRow(worker, "weekly", "2026-W50", NOW),  # twice in the same batch
            PlannedRow(worker, "draft_reminder", "draft:abc", NOW, "abc"),
        ]
        assert book.plan_many(rows, NOW) == 2
        assert book.plan_many([], NOW) == 0
        with pytest.raises(ValueError, match="unknown delivery kind"):
            book.plan(worker, "carrier pigeon", "x", NOW, NOW)
        planned = book.pending_for(worker)
    assert [(d.kind, d.period, d.due_at) for d in planned if d.period == "2026-W48"] == [
        ("weekly", "2026-W48", NOW)  # the first plan's time stands
    ]
    assert len(planned) == 5
    assert {d.reference for d in planned} == {None, "7", "abc"}
    assert all(d.status == "pending" and d.attempts == 0 for d in planned)


def test_claim_takes_due_rows_oldest_first_up_to_the_limit(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        for period, due in [
            ("later", NOW + timedelta(seconds=1)),
            ("now", NOW),
            ("two-hours-ago", NOW - timedelta(hours=2)),
            ("an-hour-ago", NOW - timedelta(hours=1)),
        ]:
            book.plan(worker, "weekly", period, due, NOW - timedelta(days=1))
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        first = book.claim(NOW, "worker-a", 2, LEASE)
        second = book.claim(NOW, "worker-a", 2, LEASE)
        third = book.claim(NOW, "worker-a", 2, LEASE)
        assert book.claim(NOW, "worker-a", 0, LEASE) == []
        lease = connection.execute(
            select(deliveries.c.claimed_by, deliveries.c.lease_until).where(
                deliveries.c.period == "now"
            )
        ).one()
    assert [d.period for d in first] == ["two-hours-ago", "an-hour-ago"]
    assert [d.period for d in second] == ["now"]
    assert third == []
    assert all(d.status == "claimed" and d.attempts == 1 for d in first + second)
    assert tuple(lease) == ("worker-a", NOW + LEASE)
    with store.engine.begin() as connection:
        later = DeliveryBook(connection).claim(NOW + timedelta(seconds=1), "worker-a", 10, LEASE)
    assert [d.period for d in later] == ["later"]


def test_a_retry_waits_for_its_not_before(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan(worker, "weekly", "2026-W48", NOW, NOW)
        (claimed,) = book.claim(NOW, "a", 10, LEASE)
        assert book.retry(claimed.id, NOW + timedelta(minutes=5), "telegram: RetryAfter")
        assert not book.retry(claimed.id, NOW, "again")  # no longer claimed
        assert book.pending_for(worker)[0].status == "pending"
        assert book.claim(NOW + timedelta(minutes=4, seconds=59), "a", 10, LEASE) == []
        (again,) = book.claim(NOW + timedelta(minutes=5), "a", 10, LEASE)
        row = connection.execute(select(deliveries)).one()
    assert again.id == claimed.id
    assert again.attempts == 2
    assert again.due_at == NOW  # the plan's time is kept; not_before only holds it back
    assert row.outcome == "telegram: RetryAfter"


def test_a_claim_is_not_taken_again_until_its_lease_has_run_out(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan(worker, "weekly", "2026-W48", NOW, NOW)
        (mine,) = book.claim(NOW, "a", 10, LEASE)
        assert book.claim(NOW + timedelta(minutes=1), "b", 10, LEASE) == []
        assert book.claim(NOW + LEASE, "b", 10, LEASE) == []  # expires after, not at, its end
        # "a" crashed: after the lease its claim comes back, to "b".
        (theirs,) = book.claim(NOW + LEASE + timedelta(seconds=1), "b", 10, LEASE)
        assert theirs.id == mine.id
        assert theirs.attempts == 2
        assert not book.sent(mine.id, NOW + LEASE, claimant="a")  # "a" lost it
        assert book.sent(theirs.id, NOW + LEASE, claimant="b")
        row = connection.execute(select(deliveries)).one()
    assert (row.status, row.claimed_by, row.lease_until, row.sent_at) == (
        "sent",
        "b",
        None,
        NOW + LEASE,
    )


def test_two_claimants_at_once_take_every_row_exactly_once(store: Store) -> None:
    workers = make_workers(store, 4)
    with store.engine.begin() as connection:
        rows = [
            PlannedRow(worker, "weekly", f"test-{n}", NOW - timedelta(seconds=n))
            for worker in workers
            for n in range(50)
        ]
        assert DeliveryBook(connection).plan_many(rows, NOW) == 200
        all_ids = set(connection.scalars(select(deliveries.c.id)))
    postgres = store.engine.dialect.name == "postgresql"
    start = threading.Barrier(2, timeout=30)
    # On PostgreSQL each claimant keeps its transaction (and its row locks) open until
    # both have claimed: SKIP LOCKED must let the second through without waiting. On
    # SQLite the write lock makes the second wait for the first to commit.
    both_claimed = threading.Barrier(2, timeout=30)
    claimed: dict[str, list[Delivery]] = {}
    errors: list[BaseException] = []

    def claimant(name: str) -> None:
        try:
            start.wait()
            with store.engine.begin() as connection:
                claimed[name] = DeliveryBook(connection).claim(NOW, name, 100, LEASE)
                if postgres:
                    both_claimed.wait()
        except BaseException as error:  # reported by the test thread below
            errors.append(error)

    threads = [threading.Thread(target=claimant, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    a = {d.id for d in claimed["a"]}
    b = {d.id for d in claimed["b"]}
    assert len(claimed["a"]) == len(claimed["b"]) == 100
    assert a | b == all_ids
    assert a & b == set()
    with store.engine.begin() as connection:
        owners = dict(
            connection.execute(
                select(deliveries.c.claimed_by, func.count()).group_by(deliveries.c.claimed_by)
            ).all()
        )
        assert DeliveryBook(connection).claim(NOW, "c", 100, LEASE) == []
    assert owners == {"a": 100, "b": 100}


def test_outcomes_move_only_a_claimed_delivery(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan_many(weeks(worker, 4), NOW)
        pending = book.pending_for(worker)[0]
        assert not book.sent(pending.id, NOW)
        assert not book.failed(pending.id, "x")
        assert not book.skipped(pending.id, "x")
        assert not book.retry(pending.id, NOW, "x")
        sent, failed, skipped, unclaimed = book.claim(NOW, "a", 10, LEASE)
        assert not book.sent(unclaimed.id, NOW, claimant="b")  # someone else's claim
        assert book.sent(sent.id, NOW)
        assert book.failed(failed.id, "telegram: Forbidden")
        assert book.skipped(skipped.id, "grace window passed " + "x" * 300)
        for done in (sent, failed, skipped):
            assert not book.sent(done.id, NOW)
            assert not book.retry(done.id, NOW, "x")
            assert not book.failed(done.id, "x")
        assert not book.sent(10_000, NOW)  # no such delivery
        outcomes = dict(connection.execute(select(deliveries.c.id, deliveries.c.outcome)).all())
        statuses = dict(connection.execute(select(deliveries.c.id, deliveries.c.status)).all())
    assert statuses == {
        sent.id: "sent",
        failed.id: "failed",
        skipped.id: "skipped",
        unclaimed.id: "claimed",
    }
    assert outcomes[failed.id] == "telegram: Forbidden"
    assert len(outcomes[skipped.id]) == 200  # cut to the column, not refused
    assert outcomes[sent.id] is None


def test_released_claims_are_pending_again_and_not_counted_as_attempts(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan_many(weeks(worker, 3), NOW)
        first, second, third = book.claim(NOW, "a", 10, LEASE)
        assert book.sent(first.id, NOW)
        # Only the claimant's own claimed rows go back; a sent one stays sent.
        assert book.release_many([second.id], claimant="b") == 0
        assert book.release_many([first.id, second.id, third.id], claimant="a") == 2
        assert book.release_many([], claimant="a") == 0
        found = connection.execute(
            select(deliveries.c.id, deliveries.c.status, deliveries.c.attempts).order_by(
                deliveries.c.id
            )
        ).all()
        assert [tuple(row) for row in found] == [
            (first.id, "sent", 1),
            (second.id, "pending", 0),
            (third.id, "pending", 0),
        ]
        # Due again at once: the next claim takes them.
        assert [d.id for d in book.claim(NOW, "b", 10, LEASE)] == [second.id, third.id]


def test_only_a_pending_delivery_is_cancelled_or_moved(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan(worker, "weekly", "2026-W48", NOW, NOW)
        book.plan(worker, "snoozed", "draft:abc", NOW, NOW, reference="abc")
        book.plan(worker, "follow_up", "check-in:1", NOW + timedelta(hours=1), NOW)
        assert book.move(worker, "snoozed", "draft:abc", NOW + timedelta(days=1))
        assert not book.move(worker, "snoozed", "draft:nope", NOW)
        assert book.cancel(worker, "follow_up", "check-in:1", "check-in cancelled")
        assert not book.cancel(worker, "follow_up", "check-in:1", "twice")
        assert not book.move(worker, "follow_up", "check-in:1", NOW)  # cancelled stays so
        (weekly,) = book.claim(NOW + timedelta(hours=2), "a", 10, timedelta(days=7))
        assert weekly.period == "2026-W48"  # the snoozed one is not due any more
        assert not book.cancel(worker, "weekly", "2026-W48", "too late: it is being sent")
        assert not book.move(worker, "weekly", "2026-W48", NOW + timedelta(days=1))
        (snoozed,) = book.claim(NOW + timedelta(days=1), "a", 10, LEASE)
        assert snoozed.period == "draft:abc"
        assert snoozed.due_at == NOW + timedelta(days=1)
        assert book.counts() == {
            "pending": 0,
            "claimed": 2,
            "sent": 0,
            "failed": 0,
            "skipped": 0,
            "cancelled": 1,
        }


def test_moving_a_retried_delivery_drops_its_backoff(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan(worker, "snoozed", "draft:abc", NOW, NOW)
        (claimed,) = book.claim(NOW, "a", 10, LEASE)
        book.retry(claimed.id, NOW + timedelta(days=3), "slack: ratelimited")
        assert book.move(worker, "snoozed", "draft:abc", NOW + timedelta(hours=1))
        assert [d.period for d in book.claim(NOW + timedelta(hours=1), "a", 10, LEASE)] == [
            "draft:abc"
        ]


def test_pending_for_has_open_and_counts(store: Store) -> None:
    one, two = make_workers(store, 2)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan(one, "weekly", "2026-W49", NOW + timedelta(days=7), NOW)
        book.plan(one, "weekly", "2026-W48", NOW, NOW)
        book.plan(one, "follow_up", "check-in:1", NOW + timedelta(days=1), NOW)
        book.plan(two, "weekly", "2026-W48", NOW, NOW)
        claimed = book.claim(NOW, "a", 10, LEASE)
        assert {d.user_id for d in claimed} == {one, two}
        book.sent(next(d.id for d in claimed if d.user_id == two), NOW)
        assert [(d.period, d.status) for d in book.pending_for(one)] == [
            ("2026-W48", "claimed"),
            ("check-in:1", "pending"),
            ("2026-W49", "pending"),
        ]
        assert book.pending_for(two) == []
        assert book.has_open(one, "weekly")
        assert book.has_open(one, "follow_up")
        assert not book.has_open(one, "draft_reminder")
        assert not book.has_open(two, "weekly")  # sent is not open
        assert book.counts()["pending"] == 2
        assert book.counts() == {
            "pending": 2,
            "claimed": 1,
            "sent": 1,
            "failed": 0,
            "skipped": 0,
            "cancelled": 0,
        }
        assert book.counts("follow_up") == {
            "pending": 1,
            "claimed": 0,
            "sent": 0,
            "failed": 0,
            "skipped": 0,
            "cancelled": 0,
        }


def test_workers_needing_a_nudge(store: Store) -> None:
    (
        fresh,
        pending,
        claimed,
        sent,
        opted_out,
        paused_long,
        pause_ends_tomorrow,
        follow_up_only,
    ) = make_workers(store, 8)
    with store.engine.begin() as connection:
        no_identity = connection.execute(
            insert(users).values(organisation_id=1, created_at=NOW).returning(users.c.id)
        ).scalar_one()
        book = DeliveryBook(connection)
        settings = NudgeSettingsBook(connection)
        book.plan(pending, "weekly", "2026-W48", NOW + timedelta(days=1), NOW)
        book.plan(claimed, "weekly", "2026-W48", NOW, NOW)
        book.plan(sent, "weekly", "2026-W47", NOW - timedelta(days=7), NOW)
        book.plan(follow_up_only, "follow_up", "check-in:1", NOW, NOW)
        for delivery in book.claim(NOW, "a", 10, LEASE):
            if delivery.user_id == sent:
                book.sent(delivery.id, NOW)
        settings.save(opted_out, NOW, opted_out=True)
        settings.save(paused_long, NOW, paused_until=date(2026, 11, 26))
        settings.save(pause_ends_tomorrow, NOW, paused_until=date(2026, 11, 24), at="09:00")
        needing = book.workers_needing("weekly", NOW, 100)
        assert needing == [fresh, sent, pause_ends_tomorrow, follow_up_only]
        assert no_identity not in needing
        # A page at a time, in id order.
        assert book.workers_needing("weekly", NOW, 2) == [fresh, sent]
        assert book.workers_needing("weekly", NOW, 2, after=sent) == [
            pause_ends_tomorrow,
            follow_up_only,
        ]
        assert book.workers_needing("weekly", NOW, 2, after=follow_up_only) == []
        # Two days on, the long pause is about to end too.
        assert paused_long in book.workers_needing("weekly", NOW + timedelta(days=2), 100)
        assert follow_up_only not in book.workers_needing("follow_up", NOW, 100)


def test_plan_many_plans_twenty_thousand_rows_quickly(store: Store) -> None:
    workers = make_workers(store, 20)
    rows = [
        PlannedRow(worker, "weekly", f"test-{n}", NOW + timedelta(minutes=n), str(n))
        for worker in workers
        for n in range(1_000)
    ]
    started = time.perf_counter()
    with store.engine.begin() as connection:
        planned = DeliveryBook(connection).plan_many(iter(rows), NOW)
    elapsed = time.perf_counter() - started
    assert planned == 20_000
    assert elapsed < 3.0, f"planning 20,000 deliveries took {elapsed:.2f} s"
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        assert book.plan_many(rows[::2], NOW) == 0  # all planned already
        assert book.counts()["pending"] == 20_000
        claimed = book.claim(NOW + timedelta(days=30), "a", 500, LEASE)
    assert len(claimed) == 500
    assert [d.due_at for d in claimed] == sorted(d.due_at for d in claimed)
    assert claimed[0].due_at == NOW


def test_nudge_settings_are_upserted_one_change_at_a_time(store: Store) -> None:
    (worker,) = make_workers(store, 1)
    later = NOW + timedelta(hours=1)
    with store.engine.begin() as connection:
        settings = NudgeSettingsBook(connection)
        assert settings.get(worker) is None
        first = settings.save(worker, NOW, weekdays="0,2,4", at="08:30")
        assert first == StoredNudgeSettings(
            user_id=worker,
            weekdays="0,2,4",
            at="08:30",
            timezone=None,
            working_days_only=None,
            paused_until=None,
            opted_out=False,
            updated_at=NOW,
        )
        settings.save(
            worker,
            later,
            timezone="Europe/London",
            working_days_only=True,
            paused_until=date(2026, 12, 24),
        )
        settings.save(worker, later, at=None, opted_out=True)  # back to the default time
        stored = settings.get(worker)
        for bad in ({"weekdays": "7"}, {"weekdays": "Mon"}, {"at": "25:00"}, {"at": "8:30"}):
            with pytest.raises(ValueError, match=r"weekdays|HH:MM"):
                settings.save(worker, later, **bad)
        with pytest.raises(ValueError, match="opted_out"):
            settings.save(worker, later, opted_out=None)
        with pytest.raises(TypeError, match="not a nudge setting: colour"):
            settings.save(worker, later, colour="blue")
    assert stored == StoredNudgeSettings(
        user_id=worker,
        weekdays="0,2,4",
        at=None,
        timezone="Europe/London",
        working_days_only=True,
        paused_until=date(2026, 12, 24),
        opted_out=True,
        updated_at=later,
    )


def test_a_workers_deliveries_and_settings_go_with_them(store: Store) -> None:
    one, two = make_workers(store, 2)
    with store.engine.begin() as connection:
        book = DeliveryBook(connection)
        book.plan(one, "weekly", "2026-W48", NOW, NOW)
        book.plan(two, "weekly", "2026-W48", NOW, NOW)
        NudgeSettingsBook(connection).save(one, NOW, opted_out=True)
    with store.engine.begin() as connection:
        connection.execute(delete(users).where(users.c.id == one))
    with store.engine.begin() as connection:
        assert connection.scalars(select(deliveries.c.user_id)).all() == [two]
        assert connection.execute(select(nudge_settings)).all() == []
