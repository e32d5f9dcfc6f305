"""The weekly nudge late in the CPD year: from 1 October (for a year ending on 30
November) it says what is still missing, read for a whole batch in one statement.

Real service, real store (SQLite file and PostgreSQL), the real dispatcher with a
courier standing in for the channel, and a clock moved by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.cpd.draft import REFLECTION_ON_PRACTICE, CpdFields
from bot.cpd.reminder import nudge_lines
from bot.cpd.year import Policy, YearStart
from bot.dialogues import Catalog
from bot.messages import UserRef
from bot.nudges import wording
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.planner import NudgeDefaults, Nudges
from bot.service import ConversationService
from bot.store.cpd import CpdBook
from bot.store.repository import Store
from tests.conftest import Clock
from tests.nudging import Courier
from tests.worker import Worker

MONDAY_12_OCTOBER = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
FRIDAY_16_OCTOBER = datetime(2026, 10, 16, 13, 0, tzinfo=UTC)  # 14:00 in London (BST)
MONDAY_21_SEPTEMBER = datetime(2026, 9, 21, 9, 0, tzinfo=UTC)
FRIDAY_25_SEPTEMBER = datetime(2026, 9, 25, 13, 0, tzinfo=UTC)


@pytest.fixture
def late_nudges(store: Store, catalog: Catalog) -> Nudges:
    """Friday 14:00 in London, and Social Work England's year, as the app wires it."""
    defaults = NudgeDefaults(weekdays=frozenset({4}), at=time(14, 0))
    return Nudges(store, catalog, defaults, cpd=Policy())


@pytest.fixture
def late_chat(
    store: Store, catalog: Catalog, clock: Clock, late_nudges: Nudges
) -> Iterator[ConversationService]:
    service = ConversationService(store, catalog, clock=clock, nudges=late_nudges)
    yield service
    service.close()


def dispatcher(nudges: Nudges, courier: Courier, clock: Clock, batch: int = 500) -> Dispatcher:
    return Dispatcher(nudges, {"telegram": courier}, clock, claimant="test", batch=batch)


def telegram_worker(chat: ConversationService, number: int) -> int:
    """A worker on Telegram (their first message makes them one); their id."""
    user = UserRef("telegram", str(5000 + number), f"Worker {number}")
    Worker(chat, user).start()
    with chat.store.transaction() as tx:
        found = tx.find_user(user)
    assert found is not None
    return found


def add_records(store: Store, user_id: int, *peers: bool, day: date = date(2026, 3, 2)) -> None:
    with store.transaction() as tx:
        for peer in peers:
            fields = CpdFields(
                REFLECTION_ON_PRACTICE, "A visit", day, "d", "l", "i", "Talked." if peer else ""
            )
            CpdBook(tx).create(user_id, None, fields, datetime(2026, 3, 2, tzinfo=UTC))


def nudge_texts(nudges: Nudges, clock: Clock, plan_at: datetime, send_at: datetime) -> list[str]:
    """Plan everyone's next weekly nudge at `plan_at`, send what is due at `send_at`: the
    text each chat got, in the order of the workers' numbers."""
    courier = Courier()
    ticking = dispatcher(nudges, courier, clock)
    try:
        clock.now = plan_at
        asyncio.run(ticking.tick())
        clock.now = send_at + timedelta(seconds=20)
        report = asyncio.run(ticking.tick())
        assert report.sent == len(courier.pushed)
    finally:
        ticking.close()
    by_chat = {user.external_id: texts for user, texts in courier.pushed}
    return ["\n".join(by_chat[chat]) for chat in sorted(by_chat)]


def test_an_october_nudge_says_what_is_missing_and_nothing_once_it_is_done(
    late_chat: ConversationService, late_nudges: Nudges, clock: Clock, store: Store
) -> None:
    clock.now = MONDAY_12_OCTOBER
    people = [telegram_worker(late_chat, n) for n in range(1, 6)]
    add_records(store, people[1], False)  # 1 record, no peer
    add_records(store, people[2], True)  # 1 record, with peer
    add_records(store, people[3], False, False)  # 2 records, no peer
    add_records(store, people[4], False, True)  # 2 records, one with peer: done
    texts = nudge_texts(late_nudges, clock, MONDAY_12_OCTOBER, FRIDAY_16_OCTOBER)
    assert len(texts) == 5
    assert all(text.startswith(wording.WEEKLY) for text in texts)
    lines = [text.removeprefix(wording.WEEKLY).strip() for text in texts]
    assert lines[0] == (
        "Your CPD year ends on 30 November. You need 2 records, one with a colleague's "
        "reflection, and you have none yet. This week's reflection could be one."
    )
    assert lines[1] == (
        "Your CPD year ends on 30 November. You have 1 of 2 records, and none yet with a "
        "colleague's reflection. This week's reflection could be one."
    )
    assert lines[2] == (
        "Your CPD year ends on 30 November. You have 1 of 2 records. "
        "This week's reflection could be one."
    )
    assert lines[3] == (
        "Your CPD year ends on 30 November. You have 2 records, but none yet with a "
        "colleague's reflection. This week's reflection could be that one, shared with a "
        "critical friend."
    )
    assert texts[4] == wording.WEEKLY  # the requirement is met: nothing more is said


def test_last_years_records_do_not_count_in_october(
    late_chat: ConversationService, late_nudges: Nudges, clock: Clock, store: Store
) -> None:
    clock.now = MONDAY_12_OCTOBER
    sam = telegram_worker(late_chat, 1)
    add_records(store, sam, False, True, day=date(2025, 11, 30))  # the year before
    (text,) = nudge_texts(late_nudges, clock, MONDAY_12_OCTOBER, FRIDAY_16_OCTOBER)
    assert "you have none yet" in text


def test_a_september_nudge_says_nothing_about_cpd(
    late_chat: ConversationService, late_nudges: Nudges, clock: Clock, store: Store
) -> None:
    clock.now = MONDAY_21_SEPTEMBER
    telegram_worker(late_chat, 1)
    add_records(store, telegram_worker(late_chat, 2), False)
    texts = nudge_texts(late_nudges, clock, MONDAY_21_SEPTEMBER, FRIDAY_25_SEPTEMBER)
    assert texts == [wording.WEEKLY, wording.WEEKLY]


def test_nudges_without_a_cpd_policy_say_nothing_about_cpd(
    store: Store, catalog: Catalog, clock: Clock
) -> None:
    plain = Nudges(store, catalog, NudgeDefaults(weekdays=frozenset({4}), at=time(14, 0)))
    service = ConversationService(store, catalog, clock=clock, nudges=plain)
    try:
        clock.now = MONDAY_12_OCTOBER
        telegram_worker(service, 1)
        assert nudge_texts(plain, clock, MONDAY_12_OCTOBER, FRIDAY_16_OCTOBER) == [wording.WEEKLY]
    finally:
        service.close()


class Statements:
    """Counts the statements that read CPD records, as the database is sent them."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.cpd = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "cpd_records" in statement:
            self.cpd += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.mark.parametrize(("batch", "statements"), [(500, 1), (4, 3)])
def test_the_records_are_read_once_for_each_batch_not_once_for_each_worker(
    late_chat: ConversationService,
    late_nudges: Nudges,
    clock: Clock,
    store: Store,
    batch: int,
    statements: int,
) -> None:
    clock.now = MONDAY_12_OCTOBER
    people = [telegram_worker(late_chat, n) for n in range(1, 11)]
    for user_id in people[::2]:
        add_records(store, user_id, True)
    courier = Courier()
    ticking = dispatcher(late_nudges, courier, clock, batch=batch)
    try:
        asyncio.run(ticking.tick())  # plans the ten nudges
        clock.now = FRIDAY_16_OCTOBER + timedelta(seconds=20)
        counting = Statements(store)
        try:
            report = asyncio.run(ticking.tick())
        finally:
            counting.close()
    finally:
        ticking.close()
    assert report.sent == 10
    assert counting.cpd == statements  # 10 workers in batches of 4: 3 batches
    assert sum("Your CPD year ends" in text for _, (text,) in courier.pushed) == 10


def test_no_statement_at_all_while_no_one_is_near_the_end_of_their_year(
    late_chat: ConversationService, late_nudges: Nudges, clock: Clock, store: Store
) -> None:
    clock.now = MONDAY_21_SEPTEMBER
    for number in range(1, 4):
        telegram_worker(late_chat, number)
    courier = Courier()
    ticking = dispatcher(late_nudges, courier, clock)
    try:
        asyncio.run(ticking.tick())
        clock.now = FRIDAY_25_SEPTEMBER + timedelta(seconds=20)
        counting = Statements(store)
        try:
            assert asyncio.run(ticking.tick()).sent == 3
        finally:
            counting.close()
    finally:
        ticking.close()
    assert counting.cpd == 0


def test_workers_either_side_of_1_october_in_their_own_zones_share_one_statement(
    late_chat: ConversationService, store: Store
) -> None:
    london, tokyo = telegram_worker(late_chat, 1), telegram_worker(late_chat, 2)
    # 20:00 UTC on 30 September: 21:00 in London, already 05:00 on 1 October in Tokyo.
    now = datetime(2026, 9, 30, 20, 0, tzinfo=UTC)
    counting = Statements(store)
    try:
        with store.transaction() as tx:
            lines = nudge_lines(tx, {london: "Europe/London", tokyo: "Asia/Tokyo"}, now, Policy())
    finally:
        counting.close()
    assert set(lines) == {tokyo}
    assert counting.cpd == 1
    # On 30 November in London it is already 1 December, a new year, in Tokyo.
    last_day = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    with store.transaction() as tx:
        lines = nudge_lines(
            tx,
            {london: "Europe/London", tokyo: "Asia/Tokyo", 999: "Nowhere/Town"},
            last_day,
            Policy(),
        )
    assert set(lines) == {london}
    assert lines[london].startswith("Your CPD year ends today, 30 November.")


def test_the_app_gives_the_nudges_the_configured_cpd_year(
    tmp_path: Path, store: Store, catalog: Catalog
) -> None:
    from bot.app import nudges_from
    from bot.config import load_config

    file = tmp_path / "config.yaml"
    file.write_text('cpd:\n  year_starts: "04-01"\n  records_a_year: 3\n  with_peer: 0\n')
    config = load_config(file)
    built = nudges_from(config, store, catalog)
    assert built is not None
    assert built.cpd == Policy(YearStart(4, 1), required=3, required_peer=0)
