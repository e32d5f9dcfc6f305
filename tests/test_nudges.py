"""Weekly nudges and reminders, planned, claimed and delivered, with an injected clock.

Everything runs on the real service and store (SQLite file and PostgreSQL); the clock is
moved by hand, so nothing sleeps. The channels are stood in for by a courier that
records what it was given; the channels' own `push` is tested against the fake Telegram
and the fake Slack in their test files and in the end-to-end test at the bottom.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.dialogues import Catalog
from bot.messages import Pushed, UserRef
from bot.nudges import wording
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.planner import NudgeDefaults, Nudges
from bot.service import ConversationService
from bot.store import StorageError
from bot.store.models import deliveries
from bot.store.repository import Store
from tests.conftest import Clock
from tests.nudging import FRIDAY_2PM, LONG, Courier, worker
from tests.worker import Worker, finish_a_reflection


def tick(dispatcher: Dispatcher) -> tuple[int, int, int, int]:
    report = asyncio.run(dispatcher.tick())
    return report.sent, report.retried, report.failed, report.skipped


def rows(store: Store) -> list[tuple[str, str, str, datetime]]:
    with store.engine.connect() as connection:
        found = connection.execute(
            select(
                deliveries.c.kind, deliveries.c.period, deliveries.c.status, deliveries.c.due_at
            ).order_by(deliveries.c.id)
        )
        return [(r.kind, r.period, r.status, r.due_at) for r in found]


def test_a_weekly_nudge_is_sent_once_at_the_workers_time_and_the_next_is_planned(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    assert tick(dispatcher) == (0, 0, 0, 0)
    assert rows(store) == [("weekly", "2026-11-27", "pending", FRIDAY_2PM)]
    clock.now = FRIDAY_2PM - timedelta(seconds=1)
    assert tick(dispatcher) == (0, 0, 0, 0)
    clock.now = FRIDAY_2PM + timedelta(seconds=20)
    assert tick(dispatcher) == (1, 0, 0, 0)
    assert courier.pushed == [(UserRef("telegram", "1001"), [wording.WEEKLY])]
    clock.advance(seconds=30)
    assert tick(dispatcher) == (0, 0, 0, 0)  # sent once; the next one is a week away
    assert [(k, p, s) for k, p, s, _ in rows(store)] == [
        ("weekly", "2026-11-27", "sent"),
        ("weekly", "2026-12-04", "pending"),
    ]
    assert person.user.external_id == "1001"


def test_after_downtime_a_nudge_is_sent_within_the_grace_window_and_skipped_after_it(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    worker(chat)
    tick(dispatcher)
    clock.now = FRIDAY_2PM + timedelta(hours=5, minutes=59)  # the bot was down since noon
    assert tick(dispatcher) == (1, 0, 0, 0)
    clock.now = datetime(2026, 12, 4, 20, 1, tzinfo=UTC)  # down all afternoon next week
    assert tick(dispatcher) == (0, 0, 0, 1)
    assert len(courier.pushed) == 1
    statuses = [(p, s) for _, p, s, _ in rows(store)]
    assert statuses == [
        ("2026-11-27", "sent"),
        ("2026-12-04", "skipped"),
        ("2026-12-11", "pending"),
    ]


def test_a_worker_who_reflected_this_week_is_not_asked_again(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday
    finish_a_reflection(chat, person.user, LONG)
    clock.now = FRIDAY_2PM + timedelta(seconds=5)
    assert tick(dispatcher) == (0, 0, 0, 1)
    assert courier.pushed == []


def test_remind_me_tomorrow_comes_back_the_next_day_and_skip_this_week_stops_it(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    clock.now = FRIDAY_2PM + timedelta(seconds=5)
    tick(dispatcher)
    reply = person.says("nudge tomorrow")
    assert reply.messages[0].text == wording.WILL_REMIND.format(when="14:00")
    clock.now = FRIDAY_2PM + timedelta(days=1, seconds=5)
    assert tick(dispatcher) == (1, 0, 0, 0)
    assert courier.pushed[-1][1] == [wording.SNOOZED]
    person.says("nudge tomorrow")  # Sunday, then
    assert person.says("nudge skip").messages[0].text == wording.SKIPPED
    clock.now = FRIDAY_2PM + timedelta(days=2, seconds=5)
    assert tick(dispatcher) == (0, 0, 0, 0)
    kinds = [(k, p, s) for k, p, s, _ in rows(store)]
    assert ("snoozed", "2026-11-29", "cancelled") in kinds
    assert ("weekly", "2026-12-04", "pending") in kinds  # next week's is still on


def test_a_failed_send_is_retried_with_backoff_then_marked_failed(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    worker(chat)
    tick(dispatcher)
    courier.answers = [Pushed.RETRY, Pushed.RETRY]
    clock.now = FRIDAY_2PM
    assert tick(dispatcher) == (0, 1, 0, 0)
    clock.advance(seconds=30)
    assert tick(dispatcher) == (0, 0, 0, 0)  # waits out its backoff
    clock.advance(minutes=1)
    assert tick(dispatcher) == (0, 1, 0, 0)
    clock.advance(minutes=5)
    assert tick(dispatcher) == (1, 0, 0, 0)
    assert len(courier.pushed) == 1
    worker(chat, 2)
    tick(dispatcher)
    courier.answers = [Pushed.GONE]
    clock.now = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
    sent, retried, failed, _ = tick(dispatcher)
    assert (sent, retried, failed) == (1, 0, 1)
    assert [s for _, _, s, _ in rows(store)].count("failed") == 1


def test_a_reflection_paused_for_a_day_gets_one_gentle_reminder(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock
) -> None:
    person = worker(chat)
    person.start("gibbs_quick")
    person.says(LONG)
    person.says("pause")
    paused_at = clock.now
    clock.now = paused_at + timedelta(hours=23)
    tick(dispatcher)
    assert courier.pushed == []
    clock.now = paused_at + timedelta(hours=24, seconds=30)
    assert tick(dispatcher) == (1, 0, 0, 0)
    assert courier.pushed[0][1] == [wording.DRAFT_REMINDER.format(title="Quick Gibbs")]
    clock.advance(days=2)
    assert tick(dispatcher)[0] == 0  # never more than once


def test_a_reminder_for_a_reflection_carried_on_meanwhile_is_skipped(
    chat: ConversationService,
    dispatcher: Dispatcher,
    courier: Courier,
    clock: Clock,
    nudges: Nudges,
) -> None:
    person = worker(chat)
    person.start("gibbs_quick")
    person.says(LONG)
    person.says("pause")
    clock.advance(hours=24, seconds=10)
    nudges.plan(clock.now)  # the reminder is planned ...
    person.says("resume")  # ... and the worker carries on before it goes out
    assert tick(dispatcher) == (0, 0, 0, 1)
    assert courier.pushed == []


def test_two_dispatchers_at_once_send_each_nudge_exactly_once(
    chat: ConversationService, nudges: Nudges, clock: Clock, store: Store
) -> None:
    for number in range(1, 61):
        worker(chat, number)
    first, second = Courier(), Courier()
    one = Dispatcher(nudges, {"telegram": first}, clock, claimant="one", batch=7)
    two = Dispatcher(nudges, {"telegram": second}, clock, claimant="two", batch=7)
    try:
        asyncio.run(one.tick())
        clock.now = FRIDAY_2PM + timedelta(seconds=1)

        async def both() -> None:
            await asyncio.gather(one.tick(), two.tick())

        asyncio.run(both())
    finally:
        one.close()
        two.close()
    users = [user.external_id for user, _ in first.pushed + second.pushed]
    assert sorted(users) == sorted(str(1000 + n) for n in range(1, 61))
    assert [s for k, _, s, _ in rows(store) if k == "weekly"].count("sent") == 60


def test_nudges_reach_workers_through_the_fake_telegram_and_slack_once_despite_429s(
    chat: ConversationService, nudges: Nudges, clock: Clock, store: Store
) -> None:
    from bot.channels.slack import SlackChannel
    from bot.channels.telegram import TelegramChannel
    from tests.fakes.slack import FakeSlack
    from tests.fakes.telegram import FakeTelegram

    async def scenario() -> None:
        async with FakeTelegram() as telegram_api, FakeSlack() as slack_api:
            slack_api.register_user("U0WORKER01")
            on_telegram = Worker(chat, UserRef("telegram", "4242", "Tam"))
            on_slack = Worker(chat, UserRef("slack", f"{slack_api.team_id}:U0WORKER01"))
            for person in (on_telegram, on_slack):
                await asyncio.to_thread(person.start)
            telegram = TelegramChannel(
                chat, token=telegram_api.token, base_url=telegram_api.base_url
            )
            slack = SlackChannel(
                chat,
                bot_token=slack_api.bot_token,
                allowed_team_ids=[slack_api.team_id],
                api_base_url=slack_api.api_url,
                signing_secret="unused-in-this-test",
            )
            await telegram.application.initialize()
            await slack.start_http()
            dispatcher = Dispatcher(nudges, {"telegram": telegram, "slack": slack}, clock)
            try:
                await dispatcher.tick()  # plans both
                telegram_api.register_user(4242)
                telegram_api.fail_next("sendMessage", 429, retry_after=1)
                slack_api.fail_next("chat.postMessage", 429, retry_after=1)
                clock.now = FRIDAY_2PM + timedelta(seconds=3)
                report = await dispatcher.tick()
                assert (report.sent, report.retried, report.failed) == (2, 0, 0)
                again = await dispatcher.tick()
                assert again.sent == 0
            finally:
                await dispatcher.stop()
                await telegram.application.shutdown()
                await slack.stop()
            (message,) = telegram_api.sent_messages(4242)
            assert message["text"].startswith(wording.WEEKLY)
            labels = [row[0]["text"] for row in message["reply_markup"]["inline_keyboard"]]
            assert labels == [wording.REFLECT_NOW, wording.TOMORROW, wording.SKIP_WEEK]
            assert len(telegram_api.calls_to("sendMessage")) == 2  # the 429, then the message
            (posted,) = slack_api.messages_in("U0WORKER01")
            assert posted["blocks"][0]["text"]["text"] == wording.WEEKLY
            statuses = [c.status for c in slack_api.calls_to("chat.postMessage")]
            assert statuses == [429, 200]

    asyncio.run(scenario())


def test_a_plan_is_followed_up_on_its_day_and_the_answers_join_the_reflection(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    from bot import journal
    from tests.worker import text_of

    person = worker(chat)
    finish_a_reflection(chat, person.user, LONG)  # ends with "check in: in a week"
    clock.now = datetime(2026, 11, 30, 13, 59, tzinfo=UTC)  # the Monday a week later
    tick(dispatcher)
    assert [texts for _, texts in courier.pushed] == []  # Friday's weekly was not needed
    clock.now = datetime(2026, 11, 30, 14, 0, 10, tzinfo=UTC)  # at the worker's nudge time
    assert tick(dispatcher) == (1, 0, 0, 0)
    (text,) = courier.pushed[-1][1]
    assert text == wording.FOLLOW_UP.format(plan=LONG)
    clock.advance(days=1)
    assert tick(dispatcher)[0] == 0  # once
    assert "can't find" in text_of(person.says("followup 99"))
    started = person.says("followup 1")
    assert "How did it go?" in text_of(started)
    person.says("It went ahead on Thursday and the family were glad of it.")
    person.says("Time with my supervisor helped; the rota got in the way.")
    person.says("Nothing for now.")
    record = only_reflection_of(store, person.user, "gibbs_quick")
    (follow_up,) = record.follow_ups
    assert follow_up.answers["how_it_went"].startswith("It went ahead on Thursday")
    shown = journal.render_one(record, chat.catalog, "text")
    assert "Follow-up, Tuesday 01 December 2026" in shown
    assert "the rota got in the way" in shown


def only_reflection_of(store: Store, user: UserRef, dialogue_id: str) -> Any:
    with store.transaction() as tx:
        user_id = tx.find_user(user)
        assert user_id is not None
        (entry,) = [e for e in tx.journal(user_id) if e.dialogue_id == dialogue_id]
        return tx.reflection(user_id, entry.id)


def test_a_terminal_worker_sees_what_is_waiting_when_they_start(
    chat: ConversationService, clock: Clock
) -> None:
    from tests.worker import text_of

    person = Worker(chat, UserRef("terminal", "kim", "Kim"))
    clock.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # Thursday: not due yet
    assert wording.WEEKLY_WAITING not in text_of(person.start())
    clock.now = FRIDAY_2PM + timedelta(hours=3)
    opening = person.start()
    assert opening.messages[0].text.startswith("Hello")
    assert opening.messages[1].text == wording.WEEKLY_WAITING
    finish_a_reflection(chat, person.user, LONG)  # with a check-in in a week
    assert wording.WEEKLY_WAITING not in text_of(person.start())
    clock.now += timedelta(days=7, minutes=1)
    later = text_of(person.start())
    assert wording.FOLLOW_UP.format(plan=LONG) in later
    assert "Type followup 1 to tell me." in later
    assert "How did it go?" in text_of(person.says("followup 1"))


def test_a_worker_who_stopped_nudges_gets_no_reminder_about_a_paused_reflection(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock
) -> None:
    person = worker(chat)
    person.start("gibbs_quick")
    person.says(LONG)
    person.says("pause")
    person.says("settings off")
    clock.advance(hours=24, seconds=30)
    assert tick(dispatcher) == (0, 0, 0, 1)
    assert courier.pushed == []


def test_the_nudges_command_counts_by_kind_and_state(tmp_path: Path) -> None:
    import json

    from tests.chat_process import run_cli

    result = run_cli(tmp_path, "nudges", "--format", "json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert set(counts) == {"weekly", "follow_up", "draft_reminder", "snoozed", "peer", "retention"}
    assert counts["weekly"] == dict.fromkeys(
        ("pending", "claimed", "sent", "failed", "skipped", "cancelled"), 0
    )
    table = run_cli(tmp_path, "nudges")
    assert table.returncode == 0
    assert table.stdout.split(b"\n")[1].split()[0] == b"weekly"


def test_a_sent_nudge_whose_recording_failed_is_recorded_later_not_sent_again(
    chat: ConversationService, nudges: Nudges, clock: Clock, courier: Courier, store: Store
) -> None:
    from bot.store import StorageError

    class Flaky(Nudges):
        """The real nudges, whose first attempt to record outcomes meets a database error."""

        failures = 1

        def settle(self, *args: Any, **kwargs: Any) -> None:
            if self.failures:
                self.failures -= 1
                raise StorageError("the database went away for a moment")
            super().settle(*args, **kwargs)

    flaky = Flaky(nudges.store, nudges.catalog, nudges.defaults)
    dispatcher = Dispatcher(flaky, {"telegram": courier}, clock, claimant="flaky")
    try:
        worker(chat)
        tick(dispatcher)
        clock.now = FRIDAY_2PM + timedelta(seconds=5)
        tick(dispatcher)  # sent; the first recording fails, the tick's last one succeeds
        clock.now += timedelta(minutes=10)  # past the lease
        tick(dispatcher)
    finally:
        dispatcher.close()
    assert len(courier.pushed) == 1
    weekly = [(p, s) for k, p, s, _ in rows(store) if k == "weekly"]
    assert weekly[0] == ("2026-11-27", "sent")


def test_weekend_days_under_working_days_only_still_make_a_schedule(
    store: Store, catalog: Catalog, chat: ConversationService, clock: Clock
) -> None:
    from bot.store.deliveries import NudgeSettingsBook

    weekdays_only = Nudges(
        store, catalog, NudgeDefaults(weekdays=frozenset({4}), working_days_only=True)
    )
    person = worker(chat)
    with store.transaction() as tx:
        user_id = tx.find_user(person.user)
        assert user_id is not None
        NudgeSettingsBook(tx.connection).save(user_id, clock.now, weekdays="6")  # Sundays
        schedule = weekdays_only.schedule(tx, user_id)
    assert schedule.days == frozenset({6})  # the worker's own choice wins


def test_someone_who_joins_after_this_weeks_nudge_is_not_told_one_is_waiting(
    chat: ConversationService, clock: Clock
) -> None:
    from tests.worker import text_of

    clock.now = FRIDAY_2PM + timedelta(hours=3)
    newcomer = Worker(chat, UserRef("terminal", "new", "New"))
    assert wording.WEEKLY_WAITING not in text_of(newcomer.start())


def test_stopping_mid_tick_gives_back_the_batch_claimed_ahead_untried(
    chat: ConversationService, nudges: Nudges, clock: Clock, store: Store
) -> None:
    """The next batch is claimed while one is sent; a process told to stop sends no more,
    and the batch it held is pending again at once (not left until its lease ends), its
    claim not counted as an attempt."""
    for number in range(1, 7):
        worker(chat, number)

    class Slow(Courier):
        def __init__(self) -> None:
            super().__init__()
            self.first = asyncio.Event()

        async def push(self, user: UserRef, messages: Any) -> Pushed:
            self.first.set()
            await asyncio.sleep(0.05)
            return await super().push(user, messages)

    async def scenario() -> None:
        slow = Slow()
        dispatcher = Dispatcher(nudges, {"telegram": slow}, clock, claimant="one", batch=2)
        await dispatcher.tick()  # plans
        clock.now = FRIDAY_2PM + timedelta(seconds=1)
        ticking = asyncio.create_task(dispatcher.tick())
        await slow.first.wait()
        await dispatcher.stop()
        report = await ticking
        assert report.sent == len(slow.pushed) == 2  # the batch under way, no more

    asyncio.run(scenario())
    with store.engine.connect() as connection:
        found = connection.execute(
            select(deliveries.c.status, deliveries.c.attempts, deliveries.c.claimed_by).where(
                deliveries.c.period == "2026-11-27"
            )
        ).all()
    assert sorted(found) == [("pending", 0, None)] * 4 + [("sent", 1, "one")] * 2


def test_a_follow_up_quotes_the_plan_in_the_workers_words_without_a_coaching_question(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock
) -> None:
    from bot.engine import wording as engine_wording

    person = worker(chat)
    reply = person.start("gibbs_quick")
    plan = "It was all my fault. Next time I will ask for the handover notes first."
    reply_to_coach = "I did stay calm and kept the family talking."
    full = (
        "We met the family at home, talked through the plan together, and I felt "
        "anxious and then relieved that it went calmly."
    )
    answered_plan = False
    coached_plan = False
    while reply.waiting:
        question = person.question
        if question.choices:
            reply = person.presses(question.choices[0].value)
        elif engine_wording.COACH_SKIP in question.text:
            coached_plan = coached_plan or answered_plan
            reply = person.says(reply_to_coach if answered_plan else full)
        elif "one thing you will do now" in question.text:
            answered_plan = True
            reply = person.says(plan)
        else:
            reply = person.says(full)
    assert coached_plan  # the self-blame in the plan was met with a coaching question
    clock.now = datetime(2026, 11, 30, 14, 0, 10, tzinfo=UTC)
    tick(dispatcher)
    (text,) = courier.pushed[-1][1]
    assert "Critical Friend asked" not in text
    assert text == wording.FOLLOW_UP.format(plan=f"{plan}\n\n{reply_to_coach}")


def test_under_load_outcomes_are_recorded_together_and_when_quiet_at_once(
    chat: ConversationService, nudges: Nudges, clock: Clock, store: Store
) -> None:
    """Twelve nudges sent at once are recorded in a few transactions, not twelve; a lone
    nudge is recorded as soon as it is sent, not when the tick ends."""
    for number in range(1, 13):
        worker(chat, number)
    settles: list[int] = []
    real_settle = nudges.settle

    def counted_settle(results: Any, now: datetime, claimant: str) -> None:
        settles.append(len(results))
        real_settle(results, now, claimant)

    nudges.settle = counted_settle  # type: ignore[method-assign]

    def status_of_first() -> str:
        with store.engine.connect() as connection:
            return str(
                connection.execute(
                    select(deliveries.c.status)
                    .where(deliveries.c.period == "2026-11-27")
                    .order_by(deliveries.c.id)
                ).first()[0]  # type: ignore[index]
            )

    class HeldAfterOne(Courier):
        """Sends the first nudge, then holds the rest until the first is recorded."""

        def __init__(self) -> None:
            super().__init__()
            self.first_recorded = False

        async def push(self, user: UserRef, messages: Any) -> Pushed:
            if self.pushed:
                for _ in range(200):
                    if status_of_first() == "sent":
                        self.first_recorded = True
                        break
                    await asyncio.sleep(0.01)
            return await super().push(user, messages)

    async def scenario(courier: Courier, due: int) -> None:
        dispatcher = Dispatcher(nudges, {"telegram": courier}, clock, claimant="one", batch=1)
        await dispatcher.tick()  # plans
        clock.now = FRIDAY_2PM + timedelta(seconds=1)
        report = await dispatcher.tick()
        await dispatcher.stop()
        assert report.sent == due

    everyone = Courier()
    asyncio.run(scenario(everyone, 12))
    assert sum(settles) == 12
    assert len(settles) <= 4  # twelve one-row batches, sent at once: not twelve settles

    with store.engine.begin() as connection:  # the same week again, sent one by one
        connection.execute(deliveries.delete())
    for number in range(13, 15):
        worker(chat, number)
    clock.now = FRIDAY_2PM - timedelta(hours=1)
    held = HeldAfterOne()
    asyncio.run(scenario(held, 14))
    assert held.first_recorded  # recorded while the tick was still sending


def test_a_tick_starts_with_a_small_claim_then_plans_then_claims_whole_batches(
    chat: ConversationService, nudges: Nudges, clock: Clock, monkeypatch: Any
) -> None:
    """The first messages leave after a small claim instead of a whole batch's, before
    planning; every due nudge still goes in the one tick."""
    monkeypatch.setattr("bot.nudges.dispatcher.FIRST_CLAIM", 3)
    for number in range(1, 13):
        worker(chat, number)
    steps: list[str] = []
    real_claim, real_plan = nudges.claim, nudges.plan

    def counted_claim(now: datetime, claimant: str, limit: int, lease: timedelta) -> Any:
        steps.append(f"claim {limit}")
        return real_claim(now, claimant, limit, lease)

    def counted_plan(now: datetime) -> int:
        steps.append("plan")
        return real_plan(now)

    nudges.claim = counted_claim  # type: ignore[method-assign]
    nudges.plan = counted_plan  # type: ignore[method-assign]
    courier = Courier()
    dispatcher = Dispatcher(nudges, {"telegram": courier}, clock, claimant="one", batch=7)
    try:
        tick(dispatcher)  # plans
        clock.now = FRIDAY_2PM + timedelta(seconds=1)
        steps.clear()
        assert tick(dispatcher) == (12, 0, 0, 0)
    finally:
        dispatcher.close()
    assert steps == ["claim 3", "plan", "claim 7", "claim 7"]  # the last 7 found 2
    assert len({user for user, _ in courier.pushed}) == 12


def test_a_few_nudges_due_go_out_while_planning_is_still_under_way(
    chat: ConversationService, nudges: Nudges, clock: Clock
) -> None:
    for number in range(1, 4):
        worker(chat, number)
    pushed = threading.Event()
    real_plan = nudges.plan
    went_out_first: list[bool] = []

    class Telling(Courier):
        async def push(self, user: UserRef, messages: Any) -> Pushed:
            pushed.set()
            return await super().push(user, messages)

    def slow_plan(now: datetime) -> int:
        went_out_first.append(pushed.wait(timeout=5))  # planning holds until one is sent
        return real_plan(now)

    courier = Telling()
    dispatcher = Dispatcher(nudges, {"telegram": courier}, clock, claimant="one")
    try:
        tick(dispatcher)  # plans
        nudges.plan = slow_plan  # type: ignore[method-assign]
        clock.now = FRIDAY_2PM + timedelta(seconds=1)
        assert tick(dispatcher) == (3, 0, 0, 0)
    finally:
        dispatcher.close()
    assert went_out_first == [True]


@pytest.mark.parametrize("first_claim", [1, 100], ids=["first-claim-full", "first-claim-short"])
def test_nudges_due_still_go_when_planning_fails(
    chat: ConversationService,
    nudges: Nudges,
    clock: Clock,
    caplog: Any,
    monkeypatch: Any,
    first_claim: int,
) -> None:
    monkeypatch.setattr("bot.nudges.dispatcher.FIRST_CLAIM", first_claim)
    for number in range(1, 4):
        worker(chat, number)
    courier = Courier()
    dispatcher = Dispatcher(nudges, {"telegram": courier}, clock, claimant="one")
    try:
        tick(dispatcher)  # plans

        def broken_plan(now: datetime) -> int:
            raise StorageError("the database went away while planning")

        nudges.plan = broken_plan  # type: ignore[method-assign]
        clock.now = FRIDAY_2PM + timedelta(seconds=1)
        assert tick(dispatcher) == (3, 0, 0, 0)
    finally:
        dispatcher.close()
    assert "planning nudges stopped early" in caplog.text
