"""`settings`: seeing and changing the weekly nudge, typed or by button, in every channel.

On the real service and store (SQLite file and PostgreSQL) with a clock moved by hand;
the dispatcher's tick sends through a courier that records what it was given, as in
tests/test_nudges.py. The last test goes through the fake Slack's Home tab.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.messages import Outgoing, Reply, UserRef
from bot.nudges import settings as nudge_settings
from bot.nudges import wording
from bot.nudges.dispatcher import Dispatcher
from bot.nudges.settings import (
    Ask,
    Pause,
    Resume,
    SetDays,
    SetTime,
    SetWorkdays,
    SetZone,
    Show,
    Switch,
    Unclear,
    parse,
)
from bot.service import ConversationService
from bot.store.deliveries import NudgeSettingsBook, StoredNudgeSettings
from bot.store.models import deliveries
from bot.store.repository import Store
from tests.conftest import Clock
from tests.nudging import FRIDAY_2PM, LONG, Courier, worker
from tests.worker import Worker

MONDAY = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # the test clock's start


def tick(dispatcher: Dispatcher) -> int:
    """One tick; how many nudges went out."""
    return asyncio.run(dispatcher.tick()).sent


def weekly_rows(store: Store) -> list[tuple[str, str, datetime, str | None]]:
    with store.engine.connect() as connection:
        found = connection.execute(
            select(deliveries.c.period, deliveries.c.status, deliveries.c.due_at)
            .add_columns(deliveries.c.outcome)
            .where(deliveries.c.kind == "weekly")
            .order_by(deliveries.c.id)
        )
        return [(r.period, r.status, r.due_at, r.outcome) for r in found]


def stored(store: Store, person: Worker) -> StoredNudgeSettings | None:
    with store.transaction() as tx:
        user_id = tx.find_user(person.user)
        assert user_id is not None
        return NudgeSettingsBook(tx.connection).get(user_id)


def first(reply: Reply) -> Outgoing:
    return reply.messages[0]


def labels(message: Outgoing) -> list[str]:
    return [shortcut.label for shortcut in message.shortcuts]


def pressed(person: Worker, message: Outgoing, label: str) -> Reply:
    """A shortcut button pressed as Telegram sends it: the command typed, with a slash."""
    value = next(s.value for s in message.shortcuts if s.label == label)
    return person.says(f"/{value}")


def sent_times(
    dispatcher: Dispatcher, courier: Courier, clock: Clock, until: datetime
) -> list[datetime]:
    """Tick every hour from now until `until` (and just after each tick's hour turns);
    when each nudge went out."""
    sent: list[datetime] = []
    while clock.now < until:
        clock.advance(hours=1)
        before = len(courier.pushed)
        tick(dispatcher)
        sent += [clock.now] * (len(courier.pushed) - before)
    return sent


# ---- reading what was typed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("", Show()),
        ("day", Ask("day")),
        ("time", Ask("time")),
        ("zone", Ask("zone")),
        ("workdays", Ask("workdays")),
        ("day friday", SetDays(frozenset({4}))),
        ("DAY Friday", SetDays(frozenset({4}))),
        ("days mon thu", SetDays(frozenset({0, 3}))),
        ("day monday, Thursday", SetDays(frozenset({0, 3}))),
        ("days tues and weds", SetDays(frozenset({1, 2}))),
        ("day Sundays", SetDays(frozenset({6}))),
        ("day weekdays", SetDays(frozenset(range(5)))),
        ("day every day", SetDays(frozenset(range(7)))),
        ("time 9:30", SetTime(time(9, 30))),
        ("time 09:30", SetTime(time(9, 30))),
        ("time 9.30", SetTime(time(9, 30))),
        ("time 14:00", SetTime(time(14, 0))),
        ("time 2pm", SetTime(time(14, 0))),
        ("time 2:30 PM", SetTime(time(14, 30))),
        ("time 12am", SetTime(time(0, 0))),
        ("time 12pm", SetTime(time(12, 0))),
        ("time noon", SetTime(time(12, 0))),
        ("time 7", SetTime(time(7, 0))),
        ("zone Europe/London", SetZone("Europe/London")),
        ("zone america/new_york", SetZone("America/New_York")),
        ("time zone New York", SetZone("America/New_York")),
        ("timezone UTC", SetZone("UTC")),
        ("pause", Pause(1)),
        ("pause 2", Pause(2)),
        ("pause 3 weeks", Pause(3)),
        ("pause for two weeks", Pause(2)),
        ("pause a week", Pause(1)),
        ("pause 8", Pause(8)),
        ("resume", Resume()),
        ("off", Switch(on=False)),
        ("stop", Switch(on=False)),
        ("on", Switch(on=True)),
        ("workdays on", SetWorkdays(on=True)),
        ("weekdays off", SetWorkdays(on=False)),
        ("working days on", SetWorkdays(on=True)),
    ],
)
def test_settings_are_read_in_any_case_and_common_forms(typed: str, meant: object) -> None:
    assert parse(typed) == meant


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("fish", wording.NOT_UNDERSTOOD.format(text="fish")),
        ("off please", wording.NOT_UNDERSTOOD.format(text="off please")),
        ("day fryday", wording.NOT_A_DAY.format(word="fryday")),
        ("day and", wording.NOT_A_DAY.format(word="that")),
        ("time 25:00", wording.NOT_A_TIME.format(text="25:00")),
        ("time 9:75", wording.NOT_A_TIME.format(text="9:75")),
        ("time 14pm", wording.NOT_A_TIME.format(text="14pm")),
        ("time half past nine", wording.NOT_A_TIME.format(text="half past nine")),
        ("zone Mars/Olympus", wording.NOT_A_ZONE.format(name="Mars/Olympus")),
        ("zone Europe", wording.NOT_A_ZONE.format(name="Europe")),
        ("zone ../../etc/passwd", wording.NOT_A_ZONE.format(name="../../etc/passwd")),
        ("pause 0", wording.PAUSE_WEEKS),
        ("pause 9", wording.PAUSE_WEEKS),
        ("pause 99999999999999999999", wording.PAUSE_WEEKS),
        ("pause forever", wording.PAUSE_WEEKS),
        ("workdays maybe", wording.ON_OR_OFF),
    ],
)
def test_garbled_settings_get_a_sentence_saying_what_to_type(typed: str, sentence: str) -> None:
    assert parse(typed) == Unclear(sentence)


def test_a_city_in_two_zones_is_asked_about() -> None:
    found = parse("zone Louisville")
    assert isinstance(found, Unclear)
    assert "America/Kentucky/Louisville" in found.sentence
    assert "America/Louisville" in found.sentence


# ---- what the worker sees -----------------------------------------------------------------


def test_the_summary_by_default_when_paused_and_when_off(
    chat: ConversationService, dispatcher: Dispatcher, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    shown = first(person.says("settings"))
    assert shown.text.startswith(
        "I'll ask on Fridays at 14:00 (Europe/London time). The next one is on Friday 27 "
        "November at 14:00.\n\nTo change this, type:\n"
    )
    assert "settings day friday" in shown.text
    assert "settings pause 2" in shown.text
    assert labels(shown) == [
        wording.PAUSE_A_WEEK,
        wording.PAUSE_TWO_WEEKS,
        wording.CHANGE_DAY,
        wording.CHANGE_TIME,
        wording.STOP,
    ]
    assert first(person.says("/settings")) == shown  # typed with a slash, as Telegram's menu does

    paused = first(pressed(person, shown, wording.PAUSE_TWO_WEEKS))
    assert paused.text == wording.PAUSED_DONE.format(date="Monday 7 December")
    again = first(person.says("settings"))
    assert again.text.startswith(
        "Paused until Monday 7 December. Then I'll ask on Fridays at 14:00 (Europe/London "
        "time) again. The next one is on Friday 11 December at 14:00."
    )
    assert "settings resume" in again.text
    assert labels(again)[0] == wording.RESUME

    off = first(pressed(person, again, wording.STOP))
    assert off.text == wording.OFF_DONE
    summary = first(person.says("settings"))
    assert summary.text.startswith("Weekly nudges are off.\n\nType settings on")
    assert labels(summary) == [wording.START, wording.CHANGE_DAY, wording.CHANGE_TIME]
    with store.transaction() as tx:
        user_id = tx.find_user(person.user)
        assert user_id is not None
        assert chat.nudges is not None
        assert nudge_settings.summary(chat.nudges, tx, user_id, MONDAY).text == wording.ALL_OFF


def test_several_days_every_day_and_working_days_read_naturally(
    chat: ConversationService,
) -> None:
    person = worker(chat)
    said = first(person.says("settings day monday thursday")).text
    assert said.startswith("Done. I'll ask on Mondays and Thursdays at 14:00")
    assert "The next one is on Thursday 26 November at 14:00." in said
    said = first(person.says("settings days mon wed fri")).text
    assert said.startswith("Done. I'll ask on Mondays, Wednesdays and Fridays at 14:00")
    assert first(person.says("settings day weekdays")).text.startswith(
        "Done. I'll ask every working day at 14:00"
    )
    said = first(person.says("settings day every day")).text
    assert said.startswith("Done. I'll ask every day at 14:00")
    assert "The next one is tomorrow at 14:00." in said


def test_change_day_and_change_time_offer_buttons_and_say_what_to_type(
    chat: ConversationService, store: Store
) -> None:
    person = worker(chat)
    shown = first(person.says("settings"))
    days = first(pressed(person, shown, wording.CHANGE_DAY))
    assert days.text == wording.ASK_DAY
    assert [s.value for s in days.shortcuts][:2] == ["settings day monday", "settings day tuesday"]
    assert len(days.shortcuts) == 7
    times = first(pressed(person, shown, wording.CHANGE_TIME))
    assert times.text == wording.ASK_TIME
    assert labels(times) == ["09:00", "12:00", "14:00", "16:00"]
    pressed(person, days, "Tuesday")
    pressed(person, times, "09:00")
    settings = stored(store, person)
    assert settings is not None
    assert (settings.weekdays, settings.at) == ("1", "09:00")
    zone = first(person.says("settings zone")).text
    assert zone == wording.ASK_ZONE.format(zone="Europe/London")


def test_typed_forms_and_buttons_give_the_same_result(
    chat: ConversationService, store: Store
) -> None:
    typist, presser = worker(chat, 1), worker(chat, 2)
    typed = [
        typist.says("SETTINGS Day Tue"),
        typist.says("settings time 9am"),
        typist.says("Settings pause 1"),
    ]
    shown = first(presser.says("settings"))
    day = first(pressed(presser, shown, wording.CHANGE_DAY))
    time_asked = first(pressed(presser, shown, wording.CHANGE_TIME))
    buttons = [
        pressed(presser, day, "Tuesday"),
        pressed(presser, time_asked, "09:00"),
        pressed(presser, shown, wording.PAUSE_A_WEEK),
    ]
    assert [first(r).text for r in typed] == [first(r).text for r in buttons]
    one, other = stored(store, typist), stored(store, presser)
    assert one is not None
    assert other is not None
    assert (one.weekdays, one.at, one.paused_until) == (
        other.weekdays,
        other.at,
        other.paused_until,
    )
    assert one.paused_until == date(2026, 11, 30)


def test_garbage_gets_a_sentence_and_the_summary_and_changes_nothing(
    chat: ConversationService, store: Store
) -> None:
    person = worker(chat)
    for typed, sentence in [
        ("settings fish", wording.NOT_UNDERSTOOD.format(text="fish")),
        ("/settings time 25:00", wording.NOT_A_TIME.format(text="25:00")),
        ("settings zone Atlantis", wording.NOT_A_ZONE.format(name="Atlantis")),
        ("settings pause 12", wording.PAUSE_WEEKS),
        ("settings day someday", wording.NOT_A_DAY.format(word="someday")),
    ]:
        reply = person.says(typed)
        assert not reply.failed
        assert reply.messages[0].text == sentence, typed
        assert reply.messages[1].text.startswith("I'll ask on Fridays at 14:00")
    odd = person.says("/settings \x00\u202e\ufeff day \U0001f600")
    assert not odd.failed
    assert odd.messages[0].text.startswith("I didn't")
    assert stored(store, person) is None


def test_working_days_only_and_weekend_days_are_checked_together(
    chat: ConversationService, store: Store
) -> None:
    person = worker(chat)
    person.says("settings workdays on")
    refused = first(person.says("settings day saturday sunday"))
    assert refused.text == wording.ONLY_WEEKENDS
    assert len(refused.shortcuts) == 5  # the working days, as buttons
    said = first(person.says("settings day friday saturday")).text
    assert said.startswith("Done. I'll ask on Fridays at 14:00")
    assert said.endswith(wording.WEEKENDS_LEFT_OUT)
    person.says("settings workdays off")
    person.says("settings day sunday")
    assert first(person.says("settings workdays on")).text == wording.NEEDS_A_WEEKDAY
    settings = stored(store, person)
    assert settings is not None
    assert (settings.weekdays, settings.working_days_only) == ("6", False)


def test_nothing_to_pause_when_off_and_nothing_to_resume_when_not_paused(
    chat: ConversationService,
) -> None:
    person = worker(chat)
    assert first(person.says("settings resume")).text == wording.NOT_PAUSED
    person.says("settings off")
    assert first(person.says("settings pause 2")).text == wording.NOTHING_TO_PAUSE


def test_without_nudges_for_the_organisation_settings_says_so(
    service: ConversationService,
) -> None:
    person = Worker(service)
    person.start()
    assert first(person.says("settings")).text == wording.SETTINGS_NOT_ON
    assert first(person.says("settings pause 2")).text == wording.SETTINGS_NOT_ON
    assert asyncio.run(service.nudge_summary(person.user)) is None


def test_inside_a_reflection_settings_work_and_the_question_comes_back_but_answers_stay_answers(
    chat: ConversationService, store: Store
) -> None:
    person = worker(chat)
    person.start("gibbs_quick")
    question = person.question.text
    reply = person.says("settings pause 1")
    assert reply.messages[0].text.startswith("Paused until Monday 30 November")
    assert reply.messages[-1].text == question
    assert reply.waiting
    answer = "settings at the family home were tense, and the " + LONG
    after = person.says(answer)
    assert after.messages[-1].text != question  # taken as the answer; the next question
    settings = stored(store, person)
    assert settings is not None
    assert settings.paused_until == date(2026, 11, 30)


# ---- changes reach the next nudge --------------------------------------------------------


def test_a_new_day_cancels_the_pending_nudge_and_the_next_goes_on_the_new_day(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    assert [r[:2] for r in weekly_rows(store)] == [("2026-11-27", "pending")]
    said = first(person.says("settings day wednesday")).text
    assert said.endswith("The next one is on Wednesday 25 November at 14:00.")
    rows = weekly_rows(store)
    assert rows[0] == ("2026-11-27", "cancelled", FRIDAY_2PM, "settings changed")
    assert rows[1][:2] == ("2026-11-25", "pending")
    sent = sent_times(dispatcher, courier, clock, until=datetime(2026, 12, 2, tzinfo=UTC))
    assert sent == [datetime(2026, 11, 25, 14, 30, tzinfo=UTC)]
    assert courier.pushed[0][1] == [wording.WEEKLY]
    assert weekly_rows(store)[-1][:2] == ("2026-12-02", "pending")


def test_a_day_changed_away_and_back_in_one_week_keeps_that_days_nudge(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    person.says("settings day wednesday")
    said = first(person.says("settings day friday")).text
    assert said.endswith("The next one is on Friday 27 November at 14:00.")
    assert [r[:2] for r in weekly_rows(store)] == [
        ("2026-11-27", "pending"),
        ("2026-11-25", "cancelled"),
    ]
    sent = sent_times(dispatcher, courier, clock, until=datetime(2026, 11, 28, tzinfo=UTC))
    assert sent == [datetime(2026, 11, 27, 14, 30, tzinfo=UTC)]


def test_a_new_time_the_same_day_moves_that_days_nudge(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # Friday morning
    said = first(person.says("settings time 4pm")).text
    assert said == (
        "Done. I'll ask on Fridays at 16:00 (Europe/London time). The next one is today at 16:00."
    )
    assert weekly_rows(store) == [
        ("2026-11-27", "pending", datetime(2026, 11, 27, 16, 0, tzinfo=UTC), None)
    ]
    clock.now = FRIDAY_2PM + timedelta(seconds=5)
    assert tick(dispatcher) == 0
    clock.now = datetime(2026, 11, 27, 16, 0, 5, tzinfo=UTC)
    assert tick(dispatcher) == 1


def test_a_time_later_today_after_todays_nudge_went_waits_for_next_week(
    chat: ConversationService, dispatcher: Dispatcher, clock: Clock
) -> None:
    person = worker(chat)
    tick(dispatcher)
    clock.now = FRIDAY_2PM + timedelta(seconds=5)
    assert tick(dispatcher) == 1
    clock.now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    said = first(person.says("settings time 16:00")).text
    assert said.endswith("The next one is on Friday 4 December at 16:00.")  # one a day at most
    clock.now = datetime(2026, 11, 27, 16, 0, 5, tzinfo=UTC)
    assert tick(dispatcher) == 0


def test_a_new_time_zone_moves_the_nudge_to_the_same_wall_time_there(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    said = first(person.says("settings zone America/New_York")).text
    assert said.startswith("Done. I'll ask on Fridays at 14:00 (America/New_York time).")
    new_york_2pm = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # EST is UTC-5
    assert [(r[1], r[2]) for r in weekly_rows(store)] == [("pending", new_york_2pm)]  # moved
    clock.now = FRIDAY_2PM + timedelta(seconds=5)
    assert tick(dispatcher) == 0
    clock.now = new_york_2pm + timedelta(seconds=5)
    assert tick(dispatcher) == 1
    settings = stored(store, person)
    assert settings is not None
    assert settings.timezone == "America/New_York"


def test_a_zone_change_keeps_one_row_for_the_nudges_local_date(
    chat: ConversationService, dispatcher: Dispatcher, store: Store
) -> None:
    person = worker(chat)
    person.says("settings time 0:30")
    tick(dispatcher)
    assert [r[:2] for r in weekly_rows(store)] == [("2026-11-27", "pending")]
    person.says("settings zone Pacific/Auckland")  # 00:30 Friday there is Thursday in UTC
    rows = weekly_rows(store)
    assert [r[:2] for r in rows] == [("2026-11-27", "pending")]
    assert rows[0][2] == datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    person.says("settings zone America/Los_Angeles")
    rows = weekly_rows(store)
    assert [r[:2] for r in rows] == [("2026-11-27", "pending")]
    assert rows[0][2] == datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


def test_a_two_week_pause_means_no_nudge_for_two_weeks_then_one(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    person.says("nudge tomorrow")  # a snooze for Tuesday is called off by the pause too
    said = first(person.says("settings pause 2")).text
    assert said == wording.PAUSED_DONE.format(date="Monday 7 December")
    assert weekly_rows(store)[0][1:] == ("cancelled", FRIDAY_2PM, "settings changed")
    sent = sent_times(dispatcher, courier, clock, until=datetime(2026, 12, 19, tzinfo=UTC))
    assert sent == [
        datetime(2026, 12, 11, 14, 30, tzinfo=UTC),
        datetime(2026, 12, 18, 14, 30, tzinfo=UTC),
    ]
    with store.engine.connect() as connection:
        snoozed = connection.execute(
            select(deliveries.c.status).where(deliveries.c.kind == "snoozed")
        ).scalar_one()
    assert snoozed == "cancelled"


def test_resume_ends_a_pause_at_once(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock
) -> None:
    person = worker(chat)
    person.says("settings pause 4")
    tick(dispatcher)
    said = first(person.says("settings resume")).text
    assert said.startswith("Nudges are back on. I'll ask on Fridays at 14:00")
    sent = sent_times(dispatcher, courier, clock, until=datetime(2026, 11, 28, tzinfo=UTC))
    assert sent == [datetime(2026, 11, 27, 14, 30, tzinfo=UTC)]


def test_off_means_no_nudges_and_on_brings_the_next_one(
    chat: ConversationService, dispatcher: Dispatcher, courier: Courier, clock: Clock, store: Store
) -> None:
    person = worker(chat)
    tick(dispatcher)
    person.says("settings off")
    assert [r[1] for r in weekly_rows(store)] == ["cancelled"]
    assert sent_times(dispatcher, courier, clock, until=datetime(2026, 12, 8, tzinfo=UTC)) == []
    assert [r[1] for r in weekly_rows(store)] == ["cancelled"]  # nothing planned meanwhile
    said = first(person.says("settings on")).text
    assert said.startswith("Weekly nudges are on. I'll ask on Fridays at 14:00")
    assert said.endswith("The next one is on Friday 11 December at 14:00.")
    sent = sent_times(dispatcher, courier, clock, until=datetime(2026, 12, 12, tzinfo=UTC))
    assert sent == [datetime(2026, 12, 11, 14, 30, tzinfo=UTC)]


# ---- Slack's Home tab -----------------------------------------------------------------------


def test_the_slack_home_tab_shows_the_nudge_and_its_pause_button_pauses(
    chat: ConversationService, store: Store
) -> None:
    from tests.fakes.slack import FakeSlack
    from tests.fakes.slack_blocks import VIEW_BLOCKS, problems
    from tests.test_slack import WORKER, bot_messages, buttons, shown, with_slack, worker_ref

    async def scenario(fake: FakeSlack, _channel: object) -> None:
        fake.user_sends_dm(WORKER, "hello")  # a worker from now on
        await bot_messages(fake, 1)
        fake.user_opens_home(WORKER)
        await fake.wait_for("views.publish")
        home = fake.home_view(WORKER)
        assert home is not None
        assert problems(home["blocks"], limit=VIEW_BLOCKS) == []
        headers = [b["text"]["text"] for b in home["blocks"] if b["type"] == "header"]
        assert headers[-1] == wording.SETTINGS_TITLE
        assert "I'll ask on Fridays at 14:00 (Europe/London time)." in shown(home)
        ids = [b["action_id"] for b in buttons(home)]
        assert "home-settings-pause1" in ids
        assert "home-settings-off" in ids
        before = len(fake.messages_in(WORKER))
        fake.user_presses_in_home(WORKER, "home-settings-pause1")
        seen = await bot_messages(fake, before + 1)
        assert shown(seen[before]).startswith(wording.PAUSED_DONE.format(date="Monday 30 November"))
        await fake.wait_for("views.publish", count=2)  # the Home tab shows the pause too
        home = fake.home_view(WORKER)
        assert home is not None
        assert "Paused until Monday 30 November." in shown(home)
        assert "home-settings-resume" in [b["action_id"] for b in buttons(home)]
        person.append(worker_ref(fake))

    person: list[UserRef] = []
    with_slack(chat, scenario)
    with store.transaction() as tx:
        user_id = tx.find_user(person[0])
        assert user_id is not None
        settings = NudgeSettingsBook(tx.connection).get(user_id)
    assert settings is not None
    assert settings.paused_until == date(2026, 11, 30)
