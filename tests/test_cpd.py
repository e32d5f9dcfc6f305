"""CPD records: drafted from real reflections, placed in the registration year, kept
encrypted and each worker's own, and taken away as Markdown, PDF and from the command line."""

from __future__ import annotations

import argparse
import io
import re
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.app import App, build_app
from bot.config import load_config
from bot.cpd import cli as cpd_cli
from bot.cpd import render
from bot.cpd.draft import (
    DESCRIPTION_CHARS,
    FIELDS,
    IMPACT_CHARS,
    LEARNT_CHARS,
    PEER_CHARS,
    PEER_REFLECTION,
    REFLECTION_ON_PRACTICE,
    TITLE_CHARS,
    CpdFields,
    draft,
    parse_date,
    trim,
)
from bot.cpd.year import (
    SOCIAL_WORK_ENGLAND,
    CpdYear,
    YearStart,
    local_date,
    track,
    year_of,
    year_range,
)
from bot.dialogues import Catalog
from bot.messages import UserRef
from bot.peer import wording as peer_wording
from bot.service import ConversationService
from bot.store.cpd import CpdBook
from bot.store.crypto import Cipher
from bot.store.db import open_engine, upgrade
from bot.store.models import cpd_records
from bot.store.repository import FollowUpRecord, PeerExchange, ReflectionRecord, Store
from tests.conftest import Clock
from tests.friends import Colleague
from tests.worker import Worker, finish_a_reflection, only_reflection

SAM = UserRef("terminal", "sam", "Sam")
LONG = (
    "I visited the family with my colleague and we went through the plan together. "
    "The young person was upset when we arrived, and the duty manager rang twice."
)

# One answer for each step of each model, each naming its step so a field's source shows.
ANSWERS = {
    "what_happened": "WHAT-HAPPENED: a home visit where the mother was angry about the plan and the visit ran late.",
    "feelings": "FEELINGS: I felt anxious at the time and a bit flat afterwards, driving back to the office.",
    "went_well": "WENT-WELL: I stayed calm and listened, and the young person spoke to me on my own for a while.",
    "less_well": "LESS-WELL: I did not check the chronology before I went, so one question caught me out.",
    "why": "WHY: my caseload is high this month and the records were not updated after the last meeting.",
    "kinder_view": "KINDER-VIEW: I would tell a colleague that they did their best with what they knew then.",
    "other_options": "OTHER-OPTIONS: I could have asked the duty manager for ten minutes before leaving the office.",
    "learnt": "LEARNT: reading the latest case notes first matters most when a family is already upset.",
    "plan": "PLAN: I will read the case notes the day before each visit, starting with Thursday's visit.",
    "well_and_why": "WELL-AND-WHY: listening went well; the late update to the records made it harder than it needed to be.",
    "what_it_meant": "WHAT-IT-MEANT: it matters because the young person needs to trust that we are ready when we come.",
    "helped_and_hindered": "HELPED-AND-HINDERED: my colleague helped; missing information and time got in the way.",
    "take_forward": "TAKE-FORWARD: slowing down at the start of a visit helps everyone, and me most of all.",
}
# Where each model's answers should land: field -> steps whose answers it holds.
SOURCES = {
    "gibbs": {
        "description": ("what_happened", "why"),
        "learnt": ("learnt", "other_options"),
        "impact": ("plan",),
    },
    "gibbs_quick": {
        "description": ("what_happened", "well_and_why"),
        "learnt": ("learnt",),
        "impact": ("plan",),
    },
    "driscoll": {
        "description": ("what_happened", "what_it_meant"),
        "learnt": ("learnt",),
        "impact": ("plan",),
    },
    "weekly": {
        "description": ("what_happened",),
        "learnt": ("take_forward",),
        "impact": ("plan",),
    },
}


def _plain(text: str) -> str:
    return " ".join(text.split())


def reflect(service: ConversationService, catalog: Catalog, user: UserRef, model: str) -> None:
    """A whole reflection through the service: each question answered with that step's
    answer in ANSWERS (found by its prompt), each choice with its first option."""
    dialogue = catalog.get(model)
    assert dialogue is not None
    worker = Worker(service, user)
    reply = worker.start(model)
    while reply.waiting:
        asked = worker.last
        if asked.choices:
            reply = worker.presses(asked.choices[0].value)
            continue
        step = next((s for s in dialogue.steps if _plain(s.prompt) in _plain(asked.text)), None)
        # No step asks that: a coaching follow-up on the answer just given, passed over.
        reply = worker.says(ANSWERS[step.id] if step is not None else "skip")


def reflection_of(store: Store, user: UserRef) -> ReflectionRecord:
    return only_reflection(store, user)


# ---- drafting ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(SOURCES))
def test_each_field_is_drafted_from_the_answers_that_say_it(
    model: str, service: ConversationService, store: Store, catalog: Catalog
) -> None:
    reflect(service, catalog, SAM, model)
    record = reflection_of(store, SAM)
    fields = draft(record, catalog)
    for name, steps in SOURCES[model].items():
        text = getattr(fields, name)
        for step in steps:
            assert ANSWERS[step].split(":")[0] in text, (name, step)
    used = {step for steps in SOURCES[model].values() for step in steps}
    everything = " ".join(getattr(fields, name) for name, _ in FIELDS if name != "activity_date")
    for step in set(record.answers) - used:
        assert record.answers[step] not in everything  # feelings, choices: not for the form
    assert "In a week" not in everything
    assert fields.cpd_type == REFLECTION_ON_PRACTICE
    assert fields.peer == ""
    assert fields.title.startswith("WHAT-HAPPENED: a home visit where the mother was angry")
    assert fields.activity_date == date(2026, 11, 23)  # the clock's day in London


@pytest.mark.parametrize("model", ["gibbs", "gibbs_quick", "driscoll", "weekly"])
def test_every_model_gives_a_whole_form_within_its_lengths(
    model: str, service: ConversationService, store: Store, catalog: Catalog
) -> None:
    finish_a_reflection(service, SAM, LONG * 5, model)
    fields = draft(reflection_of(store, SAM), catalog)
    limits = {
        "title": TITLE_CHARS,
        "description": DESCRIPTION_CHARS,
        "learnt": LEARNT_CHARS,
        "impact": IMPACT_CHARS,
    }
    for name, limit in limits.items():
        text = getattr(fields, name)
        assert text, name
        assert len(text) <= limit, name
        assert name == "title" or text.endswith("."), name  # cut after a whole sentence
    assert fields.description.startswith("I visited the family")


def test_a_long_answer_is_cut_after_a_whole_sentence() -> None:
    sentences = [f"Sentence number {n} says something about the visit." for n in range(40)]
    cut = trim(" ".join(sentences), 200)
    assert len(cut) <= 200
    assert cut.endswith("about the visit.")
    assert cut == " ".join(sentences[: len(cut.split(". "))])
    one_long = "word " * 100
    assert trim(one_long, 50).endswith("word…")
    assert len(trim(one_long, 50)) <= 50
    assert trim("Kept\n\nas   written.", 100) == "Kept\n\nas written."


def test_a_model_of_the_organisations_own_falls_back_on_the_order_of_its_answers(
    catalog: Catalog,
) -> None:
    record = ReflectionRecord(
        id=1,
        dialogue_id="after_a_court_hearing",
        started_at=datetime(2026, 6, 1, 9, tzinfo=UTC),
        finished_at=datetime(2026, 6, 1, 10, tzinfo=UTC),
        summary="",
        answers={
            "first_thoughts": "The hearing was moved at short notice and the family arrived upset.",
            "feelings_now": "Tired, but calmer than I was.",
            "lesson": "Ring the court office the day before.",
            "next_time": "Nothing for now",
            "what_i_will_try": "I will brief the family by phone the evening before.",
        },
    )
    fields = draft(record, catalog)
    assert (
        fields.description == "The hearing was moved at short notice and the family arrived upset."
    )
    assert fields.impact == "I will brief the family by phone the evening before."
    assert fields.learnt == "Ring the court office the day before."
    assert fields.title == "The hearing was moved at short notice and the family arrived upset"


def test_how_the_plan_went_is_part_of_the_impact(catalog: Catalog) -> None:
    record = ReflectionRecord(
        id=1,
        dialogue_id="gibbs_quick",
        started_at=datetime(2026, 6, 1, 9, tzinfo=UTC),
        finished_at=datetime(2026, 6, 1, 10, tzinfo=UTC),
        summary="",
        answers={"what_happened": "A visit.", "plan": "Read the notes first."},
        follow_ups=[
            FollowUpRecord(
                "follow_up",
                datetime(2026, 6, 15, tzinfo=UTC),
                {"how_it_went": "The next visit was calmer; the mother said she felt heard."},
            )
        ],
    )
    assert draft(record, catalog).impact == (
        "Read the notes first.\n\nHow it went: The next visit was calmer; the mother said she felt heard."
    )


def test_the_date_is_the_workers_own_day() -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    record = ReflectionRecord(1, "gibbs", late, late, "", {"what_happened": "A visit."})
    assert draft(record, Catalog()).activity_date == date(2026, 11, 30)
    assert draft(record, Catalog(), timezone="Asia/Tokyo").activity_date == date(2026, 12, 1)


def share_and_talk_it_over(team: dict[str, Colleague], service: ConversationService) -> None:
    """Sam reflects, Kim becomes Sam's critical friend and gives feedback, Sam answers it."""
    sam, kim = team["Sam"], team["Kim"]
    finish_a_reflection(service, sam.worker.user, LONG)
    sam.says("friend")
    kim.says(kim.button(kim.check_inbox(), peer_wording.ACCEPT))
    sam.check_inbox()
    confirm = sam.says(sam.button(sam.says("friend share"), "·"))
    sam.says(sam.button(confirm, "Yes, share"))
    opened = kim.says(kim.button(kim.check_inbox(), peer_wording.OPEN_IT))
    kim.says(kim.button(opened, peer_wording.GIVE_FEEDBACK))
    kim.says("You kept the family talking and named the risk calmly and clearly.")
    kim.says("What might help you decide when to ring the duty team next time?")
    kim.says("You could try a short call with the duty team before leaving next time.")
    received = sam.check_inbox()
    sam.says(sam.button(received, peer_wording.ANSWER_FEEDBACK))
    sam.says("I will ring the duty team from the car before I leave a visit like that.")


def test_a_critical_friends_feedback_and_the_answer_to_it_make_the_peer_reflection(
    team: dict[str, Colleague], friendly: ConversationService, store: Store, catalog: Catalog
) -> None:
    share_and_talk_it_over(team, friendly)
    with store.transaction() as tx:
        sam_id = tx.find_user(team["Sam"].worker.user)
        assert sam_id is not None
        record = tx.reflection(sam_id, tx.journal(sam_id)[0].id)
    assert record is not None
    fields = draft(record, catalog)
    assert fields.cpd_type == PEER_REFLECTION
    assert fields.includes_peer
    assert "named the risk calmly" in fields.peer
    assert "What might help you decide when to ring the duty team" in fields.peer
    assert "a short call with the duty team" in fields.peer
    assert "What I take from it: I will ring the duty team from the car" in fields.peer
    assert "Kim" not in fields.peer  # the record is about the learning, not who said it
    assert len(fields.peer) <= PEER_CHARS


def test_feedback_not_yet_answered_still_counts_and_answered_feedback_comes_first(
    catalog: Catalog,
) -> None:
    when = datetime(2026, 3, 2, 10, tzinfo=UTC)

    def exchange(word: str, answer: str, day: int) -> PeerExchange:
        return PeerExchange(
            friend="Kim",
            sent_at=datetime(2026, 3, day, tzinfo=UTC),
            feedback={"well": f"{word} went well.", "question": "", "suggestion": "Try X."},
            dialogue_id="friend_feedback",
            answer={"take_away": answer} if answer else {},
            answered_at=when if answer else None,
        )

    record = ReflectionRecord(
        1,
        "gibbs",
        when,
        when,
        "",
        {"what_happened": "A visit."},
        peer=[exchange("EARLY", "", 3), exchange("ANSWERED", "I will try X.", 4)],
    )
    peer = draft(record, catalog).peer
    assert peer.index("ANSWERED") < peer.index("EARLY")
    assert "They asked" not in peer  # an empty answer is left out, not shown blank


# ---- the registration year ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "label"),
    [
        # London is on GMT in November: its day and UTC's agree.
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "Europe/London", 2026),
        (datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC), "Europe/London", 2027),
        # Tokyo (UTC+9) reaches 1 December nine hours before London.
        (datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC), "Asia/Tokyo", 2026),
        (datetime(2026, 11, 30, 15, 0, 0, tzinfo=UTC), "Asia/Tokyo", 2027),
        # New York (UTC-5) is still on 30 November five hours after London has moved on.
        (datetime(2026, 12, 1, 4, 59, 59, tzinfo=UTC), "America/New_York", 2026),
        (datetime(2026, 12, 1, 5, 0, 0, tzinfo=UTC), "America/New_York", 2027),
    ],
)
def test_the_year_turns_at_midnight_between_30_november_and_1_december_where_the_worker_is(
    instant: datetime, zone: str, label: int
) -> None:
    assert year_of(local_date(instant, zone)).label == label


def test_a_year_is_named_by_the_year_it_ends_in() -> None:
    year = year_range(2026)
    assert (year.start, year.end) == (date(2025, 12, 1), date(2026, 11, 30))
    assert str(year) == "1 December 2025 to 30 November 2026"
    assert date(2026, 11, 30) in year
    assert date(2026, 12, 1) not in year
    assert date(2025, 11, 30) not in year
    assert year_of(date(2025, 12, 1)) == year == year_range(date(2026, 6, 1))


def test_other_regulators_years_start_on_their_own_day() -> None:
    calendar = YearStart(1, 1)
    assert year_range(2026, calendar) == CpdYear(2026, date(2026, 1, 1), date(2026, 12, 31))
    assert year_of(date(2026, 12, 31), calendar).label == 2026
    assert year_of(date(2027, 1, 1), calendar).label == 2027
    april = YearStart(4, 1)
    assert year_of(date(2026, 3, 31), april) == CpdYear(2026, date(2025, 4, 1), date(2026, 3, 31))
    assert year_of(date(2026, 4, 1), april).label == 2027
    with pytest.raises(ValueError, match="comes every year"):
        YearStart(2, 29)


def test_an_instant_is_refused_where_a_local_date_is_needed() -> None:
    with pytest.raises(TypeError, match="local date"):
        year_of(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 11, 30, 23, 30), "Europe/London")  # noqa: DTZ001 - on purpose


def _record(day: date, peer: str = "") -> CpdFields:
    return CpdFields(REFLECTION_ON_PRACTICE, "A visit", day, "d", "l", "i", peer)


def test_the_tracker_counts_this_years_records_and_what_is_still_missing() -> None:
    last_day, first_day = date(2026, 11, 30), date(2026, 12, 1)
    records = [_record(date(2026, 2, 1)), _record(last_day, peer="We talked it over.")]
    on_the_last_day = track(records, last_day)
    assert (on_the_last_day.records, on_the_last_day.with_peer) == (2, 1)
    assert on_the_last_day.done
    assert on_the_last_day.includes_peer
    # A day later is a new year, with nothing in it yet.
    next_day = track(records, first_day)
    assert next_day.year.label == 2027
    assert (next_day.records, next_day.missing, next_day.missing_peer) == (0, 2, 1)
    assert not next_day.includes_peer
    assert next_day.days_left == 364


def test_two_records_without_peer_reflection_still_leave_one_to_do() -> None:
    tracker = track([_record(date(2026, 2, 1)), _record(date(2026, 3, 1))], date(2026, 6, 1))
    assert tracker.missing == 1
    assert tracker.missing_peer == 1
    assert "Still to do by 30 November 2026: 1 more record, with peer reflection." in (
        tracker.describe()
    )


def test_the_nudge_mentions_what_is_missing_from_1_october() -> None:
    records = [_record(date(2026, 2, 1))]
    assert track(records, date(2026, 9, 30)).nudge_line() is None
    line = track(records, date(2026, 10, 1)).nudge_line()
    assert line == (
        "Your CPD year ends on 30 November. You have 1 of 2 records, and none yet with a "
        "colleague's reflection. This week's reflection could be one."
    )
    on_the_day = track(records, date(2026, 11, 30)).nudge_line()
    assert on_the_day is not None
    assert on_the_day.startswith("Your CPD year ends today, 30 November.")
    # 1 December: a new year, ten months from its end, so nothing is said yet.
    assert track(records, date(2026, 12, 1)).nudge_line() is None
    done = [_record(date(2026, 2, 1)), _record(date(2026, 3, 1), peer="We talked.")]
    assert track(done, date(2026, 11, 1)).nudge_line() is None


@pytest.mark.parametrize(
    ("records", "said"),
    [
        ([], "You need 2 records, one with a colleague's reflection, and you have none yet."),
        ([_record(date(2026, 2, 1), peer="Talked.")], "You have 1 of 2 records. This week's"),
        (
            [_record(date(2026, 2, 1)), _record(date(2026, 3, 1))],
            "You have 2 records, but none yet with a colleague's reflection. This week's "
            "reflection could be that one, shared with a critical friend.",
        ),
        # Last year's records do not count towards this one.
        ([_record(date(2025, 11, 30), peer="Talked.")], "and you have none yet."),
    ],
)
def test_the_nudge_line_says_where_the_worker_stands(records: list[CpdFields], said: str) -> None:
    line = track(records, date(2026, 10, 15)).nudge_line()
    assert line is not None
    assert said in line
    assert "!" not in line


@pytest.mark.parametrize(
    ("instant", "zone", "reminded"),
    [
        # London is on BST in October: 1 October begins at 23:00 UTC on 30 September.
        (datetime(2026, 9, 30, 22, 59, 59, tzinfo=UTC), "Europe/London", False),
        (datetime(2026, 9, 30, 23, 0, 0, tzinfo=UTC), "Europe/London", True),
        (datetime(2026, 9, 30, 14, 59, 59, tzinfo=UTC), "Asia/Tokyo", False),
        (datetime(2026, 9, 30, 15, 0, 0, tzinfo=UTC), "Asia/Tokyo", True),
        (datetime(2026, 10, 1, 3, 59, 59, tzinfo=UTC), "America/New_York", False),
        (datetime(2026, 10, 1, 4, 0, 0, tzinfo=UTC), "America/New_York", True),
        # And it stops when the new year starts where the worker is.
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "Europe/London", True),
        (datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC), "Europe/London", False),
        (datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC), "Asia/Tokyo", True),
        (datetime(2026, 11, 30, 15, 0, 0, tzinfo=UTC), "Asia/Tokyo", False),
    ],
)
def test_the_reminders_start_on_1_october_and_end_with_the_year_where_the_worker_is(
    instant: datetime, zone: str, reminded: bool
) -> None:
    tracker = track([_record(date(2026, 2, 1))], local_date(instant, zone))
    assert (tracker.nudge_line() is not None) is reminded


def test_another_regulators_reminders_start_two_months_before_its_year_ends() -> None:
    april = YearStart(4, 1)  # a year ending on 31 March: reminders from 1 February
    assert track([], date(2027, 1, 31), start=april).nudge_line() is None
    line = track([], date(2027, 2, 1), start=april, required=3, required_peer=0).nudge_line()
    assert line == (
        "Your CPD year ends on 31 March. You need 3 records, and you have none yet. "
        "This week's reflection could be one."
    )


def test_the_tracker_can_ask_for_more() -> None:
    tracker = track([], date(2026, 6, 1), start=SOCIAL_WORK_ENGLAND, required=4, required_peer=2)
    assert tracker.still_to_do() == "4 more records, 2 of them with peer reflection"
    assert "You have no CPD records in it yet." in tracker.describe()


# ---- the store ---------------------------------------------------------------------------


def _sam_with_a_reflection(service: ConversationService, store: Store) -> tuple[int, int]:
    finish_a_reflection(service, SAM, LONG)
    with store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        return user_id, tx.journal(user_id)[0].id


SECRET = "SECRET-LEARNING: the duty team answers fastest before nine."


def test_a_record_is_kept_encrypted_and_read_back_as_written(
    service: ConversationService, store: Store, catalog: Catalog, clock: Clock
) -> None:
    user_id, reflection_id = _sam_with_a_reflection(service, store)
    with store.transaction() as tx:
        reflection = tx.reflection(user_id, reflection_id)
        assert reflection is not None
        fields = draft(reflection, catalog).with_text("learnt", SECRET)
        record_id = CpdBook(tx).create(user_id, reflection_id, fields, clock.now)
    with store.transaction() as tx:
        stored = CpdBook(tx).get(user_id, record_id)
        raw = tx.connection.execute(select(cpd_records)).one()
    assert stored is not None
    assert stored.fields == fields
    assert stored.reflection_id == reflection_id
    assert stored.created_at == clock.now
    assert (raw.activity_date, raw.peer) == (date(2026, 11, 23), False)
    for text in (SECRET, fields.title, fields.description, "SECRET-LEARNING"):
        assert text.encode() not in bytes(raw.fields_enc)


def test_the_database_file_holds_no_field_text(
    sqlite_url: str, tmp_path: Path, cipher: Cipher, catalog: Catalog, clock: Clock
) -> None:
    engine = open_engine(sqlite_url)
    upgrade(engine)
    store = Store(engine, cipher)
    service = ConversationService(store, catalog, clock=clock)
    try:
        user_id, reflection_id = _sam_with_a_reflection(service, store)
        with store.transaction() as tx:
            fields = _record(date(2026, 5, 1), peer="PEER-SECRET talked with a colleague")
            CpdBook(tx).create(
                user_id, reflection_id, fields.with_text("learnt", SECRET), clock.now
            )
    finally:
        service.close()
        store.dispose()
    written = b"".join(path.read_bytes() for path in tmp_path.glob("critical-friend.db*"))
    assert b"SECRET-LEARNING" not in written
    assert b"PEER-SECRET" not in written


def test_another_worker_can_neither_see_nor_change_nor_delete_a_record(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    user_id, reflection_id = _sam_with_a_reflection(service, store)
    finish_a_reflection(service, UserRef("terminal", "kim", "Kim"), LONG)
    with store.transaction() as tx:
        kim_id = tx.find_user(UserRef("terminal", "kim"))
        assert kim_id is not None
        book = CpdBook(tx)
        record_id = book.create(user_id, reflection_id, _record(date(2026, 5, 1)), clock.now)
        # Kim's record cannot claim Sam's reflection as its source.
        kims = book.create(kim_id, reflection_id, _record(date(2026, 5, 2)), clock.now)
        kims_record = book.get(kim_id, kims)
        assert kims_record is not None
        assert kims_record.reflection_id is None
        assert book.get(kim_id, record_id) is None
        assert book.update_field(kim_id, record_id, "title", "Mine now", clock.now) is None
        assert not book.delete(kim_id, record_id)
        assert [r.id for r in book.list_for(kim_id, date(2026, 1, 1), date(2026, 12, 31))] == [kims]
        sams_record = book.get(user_id, record_id)
        assert sams_record is not None
        assert sams_record.fields.title == "A visit"


def test_editing_fields_changes_the_record_its_year_and_its_peer_flag(
    service: ConversationService, store: Store, clock: Clock
) -> None:
    user_id, reflection_id = _sam_with_a_reflection(service, store)
    with store.transaction() as tx:
        book = CpdBook(tx)
        record_id = book.create(user_id, reflection_id, _record(date(2026, 11, 30)), clock.now)
        clock.advance(hours=1)
        edited = book.update_field(user_id, record_id, "peer", "  We talked it over.  ", clock.now)
        assert edited is not None
        assert edited.fields.peer == "We talked it over."
        assert edited.includes_peer
        assert edited.updated_at == clock.now
        book.update_field(user_id, record_id, "activity_date", "1/12/2026", clock.now)
        this_year, next_year = year_range(2026), year_range(2027)
        assert book.list_for(user_id, this_year.start, this_year.end) == []
        (moved,) = book.list_for(user_id, next_year.start, next_year.end)
        assert moved.activity_date == date(2026, 12, 1)
        assert moved.includes_peer
        assert track(
            book.list_for(user_id, next_year.start, next_year.end), date(2027, 1, 1)
        ).includes_peer
        for name, text, reason in (
            ("mood", "fine", "no CPD field"),
            ("title", "   ", "cannot be empty"),
            ("activity_date", "31/2/2026", "is not a date"),
        ):
            with pytest.raises(ValueError, match=reason):
                book.update_field(user_id, record_id, name, text, clock.now)
        assert book.of_reflection(user_id, reflection_id)[0].id == record_id
        assert book.delete(user_id, record_id)
        assert book.get(user_id, record_id) is None


def test_dates_are_read_day_first_or_as_iso() -> None:
    assert parse_date("23/11/2026") == parse_date("2026-11-23") == date(2026, 11, 23)
    with pytest.raises(ValueError, match="like 23/11/2026"):
        parse_date("next Tuesday")


# ---- Markdown and PDF --------------------------------------------------------------------

FULL = CpdFields(
    cpd_type=PEER_REFLECTION,
    title="A home visit that ran late",
    activity_date=date(2026, 11, 23),
    description="DESCRIPTION-TEXT: a visit to a family where the plan was disputed. It matters to me.",
    learnt="LEARNT-TEXT: reading the latest notes first matters when a family is upset.",
    impact="IMPACT-TEXT: I now read the notes the day before, and the family say they feel heard.",
    peer="PEER-TEXT: my critical friend asked what helped me decide to stay.",
)
SECOND = CpdFields(
    REFLECTION_ON_PRACTICE,
    "A missed call to the school",
    date(2026, 3, 4),
    "SECOND-DESCRIPTION",
    "SECOND-LEARNT",
    "SECOND-IMPACT",
)


def _pages(content: bytes) -> list[str]:
    return [_plain(page.extract_text()) for page in PdfReader(io.BytesIO(content)).pages]


def test_markdown_has_every_field_under_its_heading() -> None:
    text = render.markdown(
        [FULL, SECOND], heading="CPD records, 1 December 2025 to 30 November 2026"
    )
    assert text.startswith("# CPD records, 1 December 2025 to 30 November 2026\n")
    assert "## A home visit that ran late" in text
    for name, label in FIELDS:
        if name != "title":
            assert f"### {label}\n\n{FULL.text_of(name)}" in text
    assert "### Date\n\n23 November 2026" in text
    # A record without peer reflection has no empty peer section.
    assert text.count("### What I learnt from discussing it with a peer") == 1
    escaped = render.markdown([FULL.with_text("learnt", "# Not a heading")])
    assert "\n\\# Not a heading" in escaped
    assert "\n# Not a heading" not in escaped


@pytest.mark.parametrize("font", [None, "auto"])
def test_the_pdf_opens_with_every_field_and_each_record_on_its_own_pages(
    font: str | None,
) -> None:
    if font == "auto" and render.find_font() is None:
        pytest.skip("no DejaVu Sans on this machine: the core-font case covers the PDF")
    content = render.pdf([FULL, SECOND], heading="CPD records", font="auto" if font else None)
    assert content.startswith(b"%PDF-")
    pages = _pages(content)
    assert len(pages) == 2
    first, second = pages
    for name, label in FIELDS:
        assert _plain(label) in first or name == "title"
        assert _plain(FULL.text_of(name)) in first, name
    assert "SECOND-LEARNT" in second
    assert "SECOND-LEARNT" not in first
    assert "page 1 of 2" in first


def test_a_record_at_its_longest_takes_one_or_two_pages() -> None:
    sentence = "This sentence stands for a long and careful answer about a visit. "
    longest = CpdFields(
        PEER_REFLECTION,
        trim(sentence * 3, TITLE_CHARS),
        date(2026, 11, 23),
        trim(sentence * 20, DESCRIPTION_CHARS),
        trim(sentence * 20, LEARNT_CHARS),
        trim(sentence * 20, IMPACT_CHARS),
        trim(sentence * 20, PEER_CHARS),
    )
    assert 1 <= len(_pages(render.pdf([longest], font=None))) <= 2


UNICODE = CpdFields(
    cpd_type="Reflection on practice",
    title="Zoë\u2019s \u201creview\u201d \u2014 with Łukasz 🧡",
    activity_date=date(2026, 11, 23),
    description="Straße, São Paulo, Ørsted… and a tab\there. 😀👍🏽 Emoji everywhere.",
    learnt="漢字 and Ελληνικά and Кирилиця",
    impact="Plain text.",
)


def test_unicode_in_worker_text_does_not_stop_the_pdf_in_the_core_font() -> None:
    (page,) = _pages(render.pdf([UNICODE], font=None))
    assert 'Zoë\'s "review" - with Lukasz' in page
    assert "Straße, São Paulo, Ørsted... and a tab here. Emoji everywhere." in page
    assert "??" in page  # letters the font cannot show at all are marked, not dropped


def test_unicode_in_worker_text_is_drawn_as_written_with_an_embedded_font() -> None:
    found = render.find_font()
    if found is None:
        pytest.skip("no DejaVu Sans on this machine")
    (page,) = _pages(render.pdf([UNICODE], font=found))
    assert "Zoë\u2019s \u201creview\u201d \u2014 with Łukasz" in page
    assert "Ελληνικά and Кирилиця" in page


def test_folding_keeps_what_the_font_has_and_replaces_or_drops_the_rest() -> None:
    def latin1(ch: str) -> bool:
        return ord(ch) < 256

    assert render.fold("\u201cZoë\u201d \u2013 Łukasz…", has_glyph=latin1) == '"Zoë" - Lukasz...'
    assert render.fold("ok 👍🏽 😀\u200d!", has_glyph=latin1) == "ok  !"
    assert render.fold("漢 €", has_glyph=latin1) == "? EUR"


def test_an_attachment_is_named_and_typed_for_the_channel() -> None:
    as_pdf = render.attachment([FULL], "pdf", stem="cpd-2026")
    as_md = render.attachment([FULL], "md", stem="cpd-2026")
    assert (as_pdf.filename, as_pdf.media_type) == ("cpd-2026.pdf", "application/pdf")
    assert (as_md.filename, as_md.media_type) == ("cpd-2026.md", "text/markdown")
    assert "LEARNT-TEXT" in as_md.content.decode()


# ---- the command line --------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The application as `critical-friend` builds it, with its home in a folder of its own."""
    home = tmp_path / "home"
    made = build_app(
        load_config(environ={"CRITICAL_FRIEND_HOME": str(home)}),
        environ={},
        announce=lambda _: None,
    )
    yield made
    made.close()


def _args(tmp_path: Path, *line: str) -> argparse.Namespace:
    """The command line as bot.cli will build it: a parent with the shared options."""
    top = argparse.ArgumentParser(prog="critical-friend")
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--config", type=Path, default=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True)
    cpd_cli.add_commands(commands, shared)
    return top.parse_args(["cpd", "export", *line])


def _sam_records(app: App, *fields: CpdFields) -> None:
    finish_a_reflection(app.service, SAM, LONG)
    with app.store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        reflection_id = tx.journal(user_id)[0].id
        for one in fields:
            CpdBook(tx).create(user_id, reflection_id, one, datetime.now(UTC))


def test_cpd_export_writes_a_years_records_as_a_pdf_only_its_owner_can_read(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sam_records(app, FULL, SECOND, _record(date(2025, 6, 1)))  # the last: another year
    out = tmp_path / "cpd-2026.pdf"
    code = cpd_cli.run(app, _args(tmp_path, "--user", "sam", "--year", "2026", "--out", str(out)))
    said = capsys.readouterr()
    assert code == 0, said.err
    assert "Wrote 2 CPD records for 1 December 2025 to 30 November 2026" in said.out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    pages = _pages(out.read_bytes())
    assert len(pages) == 2
    assert "SECOND-DESCRIPTION" in pages[0]  # oldest first: March, then November
    assert "LEARNT-TEXT" in pages[1]
    assert "CPD records, 1 December 2025 to 30 November 2026" in pages[0]


def test_cpd_export_as_markdown_and_an_old_file_of_that_name_is_made_private(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sam_records(app, FULL)
    out = tmp_path / "cpd.txt"
    out.write_text("old")
    out.chmod(0o644)
    line = ("--user", "sam", "--year", "2026", "--format", "md", "--out", str(out))
    assert cpd_cli.run(app, _args(tmp_path, *line)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert "### What I learnt\n\nLEARNT-TEXT" in text
    assert "old" not in text


def test_cpd_export_without_a_year_takes_the_current_one(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = local_date(datetime.now(UTC), "Europe/London")  # the worker's day, in the default zone
    _sam_records(app, _record(today))
    out = tmp_path / "now.md"
    code = cpd_cli.run(app, _args(tmp_path, "--user", "sam", "--out", str(out)))
    assert code == 0, capsys.readouterr().err
    assert "## A visit" in out.read_text()


@pytest.mark.parametrize(
    ("line", "code", "sentence"),
    [
        (("--user", "nobody"), 1, "Nobody called nobody has used the bot here."),
        (("--user", "sam", "--year", "2030"), 1, "has no CPD records in the year 1 December 2029"),
    ],
)
def test_cpd_export_with_nothing_to_write_says_why_and_writes_nothing(
    app: App,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: tuple[str, ...],
    code: int,
    sentence: str,
) -> None:
    _sam_records(app, FULL)
    out = tmp_path / "none.pdf"
    assert cpd_cli.run(app, _args(tmp_path, *line, "--out", str(out))) == code
    said = capsys.readouterr()
    assert sentence in said.err
    assert said.err.count("\n") == 1
    assert not out.exists()


def test_cpd_export_to_a_folder_that_does_not_exist_is_one_sentence(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sam_records(app, FULL)
    out = tmp_path / "missing" / "cpd.pdf"
    line = ("--user", "sam", "--year", "2026", "--out", str(out))
    assert cpd_cli.run(app, _args(tmp_path, *line)) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"critical-friend: cannot write .*cpd\.pdf: No such file or directory\n", err
    )


def test_cpd_export_refuses_a_year_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _args(tmp_path, "--year", "26", "--out", "x.pdf")
    assert stopped.value.code == 2
    assert "'26' is not a year such as 2026" in capsys.readouterr().err


def test_cpd_export_passes_over_a_time_zone_this_machine_does_not_know(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = local_date(datetime.now(UTC), "Europe/London")
    _sam_records(app, _record(today))
    with app.store.transaction() as tx:
        user_id = tx.find_user(SAM)
        assert user_id is not None
        tx.set_timezone(user_id, "Mars/Olympus_Mons")
        assert CpdBook(tx).timezone(user_id, "Europe/London") == "Europe/London"
    out = tmp_path / "now.md"
    assert cpd_cli.run(app, _args(tmp_path, "--user", "sam", "--out", str(out))) == 0
