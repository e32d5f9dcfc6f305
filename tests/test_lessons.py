"""Lessons for the team: drafted from a reflection's conclusion and plan, checked for
identifying details, approved word for word, and posted without names in a digest that
goes out once per organisation, period and place."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import LessonsConfig
from bot.dialogues import Catalog
from bot.lessons import chat as words
from bot.lessons import default_themes
from bot.lessons.digest import INTRO, Schedule, compose
from bot.lessons.sender import DigestSender
from bot.messages import Outgoing, Pushed, UserRef
from bot.service import ConversationService
from bot.store.crypto import KEYS_ENV
from bot.store.lessons import TeamLesson
from bot.store.models import digests
from bot.store.repository import Store
from tests.chat_process import run_cli
from tests.conftest import Clock
from tests.worker import Worker

SAM = UserRef("telegram", "101", "Sam")
KIM = UserRef("telegram", "202", "Kim")
ANSWERS = {
    "what_happened": (
        "I visited a family with a colleague to review the plan, and we agreed the next "
        "steps together."
    ),
    "feelings": "I felt anxious beforehand and relieved afterwards, because it went calmly.",
    "well_and_why": "It went well because I prepared and listened carefully to their worries.",
    "learnt": (
        "I learnt that reading the whole chronology before a visit helps me ask better questions."
    ),
    "plan": (
        "Next time I will call Mr Patel on 07700 900123 to agree the handover before the visit."
    ),
}
DRAFTED = (
    "I learnt that reading the whole chronology before a visit helps me ask better "
    "questions. Next time I will call Mr [name] on [phone] to agree the handover before "
    "the visit."
)


class Poster:
    """A channel's posting, recorded; `answers` says how each post goes."""

    def __init__(self, *answers: Pushed) -> None:
        self.posts: list[tuple[str, list[Outgoing]]] = []
        self.answers = list(answers)

    async def post(self, place: str, messages: Sequence[Outgoing]) -> Pushed:
        answer = self.answers.pop(0) if self.answers else Pushed.SENT
        if answer is Pushed.SENT:
            self.posts.append((place, list(messages)))
        return answer


def reflect(service: ConversationService, user: UserRef, answers: dict[str, str]) -> Worker:
    """A whole quick Gibbs with these answers in step order (the first option at every
    choice)."""
    worker = Worker(service, user)
    reply = worker.start("gibbs_quick")
    waiting = list(answers.values())
    while reply.waiting:
        question = worker.question
        if question.choices:
            reply = worker.presses(question.choices[0].value)
        else:
            reply = worker.says(waiting.pop(0))
    assert not waiting
    return worker


def said(worker: Worker, text: str) -> list[Outgoing]:
    return list(worker.says(text).messages)


def button(messages: Sequence[Outgoing], label: str) -> str:
    return next(c.value for m in messages for c in m.shortcuts if c.label == label)


_made: list[DigestSender] = []


@pytest.fixture(autouse=True)
def _senders_closed() -> Iterator[None]:
    """Each sender's database thread keeps a connection: given back after the test."""
    yield
    while _made:
        _made.pop().close()


def sender(
    store: Store, clock: Clock, posters: dict[str, Poster], name: str = "one", **config: object
) -> DigestSender:
    settings = LessonsConfig.model_validate(
        {"post_to": ["slack:C0123TEAM", "telegram:-1001234"], **config}
    )
    made = DigestSender(
        store,
        settings,
        default_themes(),
        posters,  # type: ignore[arg-type]
        clock,
        claimant=name,
    )
    _made.append(made)
    return made


def tick_once(store: Store, clock: Clock, posters: dict[str, Poster], **config: object) -> int:
    """One tick of a new sender (a process started just for it), closed after."""
    posting = sender(store, clock, posters, **config)
    try:
        return asyncio.run(posting.tick())
    finally:
        _made.remove(posting)
        posting.close()


def offered(worker: Worker) -> list[Outgoing]:
    """After the reflection: the offer of a lesson, pressed."""
    return said(worker, button(worker.seen, words.OFFER_BUTTON))


def test_a_lesson_is_drafted_redacted_approved_word_for_word_and_posted_once(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    drafted = offered(sam)
    text = "\n".join(m.text for m in drafted)
    assert words.TOOK_OUT.format(kinds="name, phone") in text
    assert f"“{DRAFTED}”" in text
    assert "Theme: Communication" in text or "Theme: Information sharing" in text
    share = button(drafted, words.SHARE)
    # Before approval, nothing would be posted.
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00 London
    one = sender(store, clock, {"slack": Poster(), "telegram": Poster()})
    assert one.preview(1, clock.now) is None
    assert words.SHARED.split(".")[0] in said(sam, share)[0].text
    assert words.ALREADY_SHARED in said(sam, share)[0].text  # pressed twice: once
    clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    slack, telegram = Poster(), Poster()
    posted = tick_once(store, clock, {"slack": slack, "telegram": telegram})
    assert posted == 2
    ((place, messages),) = slack.posts
    assert place == "C0123TEAM"
    assert f"• {DRAFTED}" in messages[0].text
    assert "Sam" not in messages[0].text
    assert telegram.posts[0][0] == "-1001234"
    assert telegram.posts[0][1][0].text == messages[0].text
    # A second process, a second tick: nothing more.
    again = sender(store, clock, {"slack": slack, "telegram": telegram}, name="two")
    assert asyncio.run(again.tick()) == 0
    assert len(slack.posts) == 1
    assert len(telegram.posts) == 1
    listing = said(sam, "lessons")[0].text
    assert "in a team digest" in listing
    gone = said(sam, "lesson delete 1")[0].text
    assert "7 December 2026" in gone
    assert "cannot be unsent" in gone


def test_changed_words_need_a_new_approval_and_identifying_words_are_refused(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    drafted = offered(sam)
    old_share = button(drafted, words.SHARE)
    number = old_share.split()[2]
    asked = said(sam, button(drafted, words.CHANGE_WORDS))[0].text
    assert asked == words.HOW_TO_WORD.format(id=number)
    refused = said(sam, f"lesson words {number}: Ring Mrs Jones at 12 Acacia Road first.")
    assert "identifying details" in refused[0].text
    assert "Nothing was changed" in refused[0].text
    mine = "Check the handover notes before a first visit, even when the day is full."
    changed = said(sam, f"lesson words {number}: {mine}")
    assert f"“{mine}”" in changed[0].text
    stale = said(sam, old_share)
    assert stale[0].text == words.CHANGED_SINCE
    themes = said(sam, button(stale, words.CHANGE_THEME))
    workload = button(themes, "Workload and pressure")
    reworded = said(sam, workload)
    assert reworded[0].text == words.THEME_SET.format(theme="Workload and pressure")
    # The button sent before the theme changed approves nothing either.
    assert said(sam, button(changed, words.SHARE))[0].text == words.CHANGED_SINCE
    said(sam, button(reworded, words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slack = Poster()
    tick_once(store, clock, {"slack": slack}, post_to=["slack:C0123TEAM"])
    text = slack.posts[0][1][0].text
    assert f"Workload and pressure\n• {mine}" in text
    assert DRAFTED not in text
    assert "Acacia" not in text


def test_nobody_else_can_see_change_share_or_delete_a_lesson(
    team_service: ConversationService,
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    share = button(offered(sam), words.SHARE)
    number = share.split()[2]
    kim = Worker(team_service, KIM)
    kim.start()
    for attempt in (
        f"lesson show {number}",
        f"lesson words {number}: mine now",
        f"lesson theme {number} workload",
        share,
        f"lesson delete {number}",
    ):
        assert said(kim, attempt)[0].text == words.NO_LESSON.format(id=number)
    assert said(kim, "lesson new 1")[0].text == words.NOT_YOURS.format(id=1)
    assert said(kim, "lessons")[0].text == words.NONE_YET
    assert DRAFTED in said(sam, f"lesson show {number}")[0].text


def test_a_lesson_is_offered_beside_the_critical_friend_button_and_not_in_the_middle(
    team_service: ConversationService,
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    offers = [m for m in sam.seen if any(c.label == words.OFFER_BUTTON for c in m.shortcuts)]
    assert len(offers) == 1
    sam2 = Worker(team_service, KIM)
    sam2.start("gibbs_quick")
    # Mid-reflection, `lessons` is answered beside the question, which is asked again.
    reply = sam2.says("lessons")
    assert reply.waiting


def test_a_place_that_fails_is_retried_then_given_up_without_doubling_the_others(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slack = Poster(Pushed.RETRY, Pushed.RETRY)
    telegram = Poster(Pushed.GONE)
    posting = sender(store, clock, {"slack": slack, "telegram": telegram})
    assert asyncio.run(posting.tick()) == 0
    clock.advance(seconds=30)
    assert asyncio.run(posting.tick()) == 0  # the backoff: not yet
    clock.advance(minutes=1)
    assert asyncio.run(posting.tick()) == 0  # the second RETRY
    clock.advance(minutes=5)
    assert asyncio.run(posting.tick()) == 1
    assert len(slack.posts) == 1
    assert telegram.posts == []
    with store.engine.connect() as connection:
        states = dict(connection.execute(select(digests.c.destination, digests.c.status)).all())
    assert states == {"slack:C0123TEAM": "sent", "telegram:-1001234": "failed"}


def test_a_lesson_deleted_after_its_digest_was_claimed_is_not_posted(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slack = Poster(Pushed.RETRY)
    posting = sender(store, clock, {"slack": slack}, post_to=["slack:C0123TEAM"])
    asyncio.run(posting.tick())  # claimed, the lesson attached, the post to be retried
    said(sam, "lesson delete 1")
    clock.advance(minutes=2)
    asyncio.run(posting.tick())
    assert slack.posts == []
    with store.engine.connect() as connection:
        assert connection.scalar(select(digests.c.status)) == "empty"


def test_no_digest_when_nothing_was_shared_and_drafts_never_go_out(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    offered(sam)  # drafted, never approved
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slack = Poster()
    assert tick_once(store, clock, {"slack": slack}) == 0
    assert slack.posts == []


lesson_words = st.text(
    alphabet=st.characters(categories=["L", "N", "Zs"], max_codepoint=0x24F),
    min_size=3,
    max_size=60,
).map(lambda text: " ".join(text.split()) or "word")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lessons=st.lists(
        st.tuples(lesson_words, st.sampled_from(default_themes().keys), st.booleans()),
        max_size=8,
    )
)
def test_a_digest_holds_exactly_the_approved_words_and_nothing_else(
    lessons: list[tuple[str, str, bool]],
) -> None:
    approved = [TeamLesson(text, theme) for text, theme, ok in lessons if ok]
    text = compose(approved, default_themes(), "2026-11-30", "weekly")
    if not approved:
        assert text is None
        return
    assert text is not None
    bullets = [line[2:] for line in text.split("\n") if line.startswith("• ")]
    assert sorted(bullets) == sorted(lesson.text for lesson in approved)
    labels = {default_themes().label(key) for key in default_themes().keys}
    for line in text.split("\n"):
        assert (
            line.startswith("• ")
            or line in labels
            or line in {"", INTRO}
            or (line.startswith("Lessons from the team: the week to 30 November 2026"))
        )


@pytest.mark.parametrize(
    ("every", "now", "period", "due", "after"),
    [
        # Monday 09:00 in London: in GMT it is 09:00 UTC.
        ("weekly", "2026-11-30T08:59Z", "2026-11-23", "2026-11-23T09:00Z", "2026-11-30T09:00Z"),
        ("weekly", "2026-11-30T09:00Z", "2026-11-30", "2026-11-30T09:00Z", "2026-12-07T09:00Z"),
        # Summer time: 09:00 in London is 08:00 UTC; the clocks change on 29 March 2026.
        ("weekly", "2026-03-30T08:30Z", "2026-03-30", "2026-03-30T08:00Z", "2026-04-06T08:00Z"),
        ("monthly", "2026-12-01T08:59Z", "2026-11-01", "2026-11-01T09:00Z", "2026-12-01T09:00Z"),
        ("monthly", "2026-12-31T23:00Z", "2026-12-01", "2026-12-01T09:00Z", "2027-01-01T09:00Z"),
    ],
)
def test_when_a_digest_is_due(every: str, now: str, period: str, due: str, after: str) -> None:
    schedule = Schedule(every, 0, time(9), "Europe/London")  # type: ignore[arg-type]
    instant = datetime.fromisoformat(now)
    assert schedule.latest_due(instant) == (period, datetime.fromisoformat(due))
    assert schedule.next_due(instant) == datetime.fromisoformat(after)


def test_a_monthly_digest_is_headed_with_the_month_it_looks_back_on() -> None:
    text = compose([TeamLesson("Ask early.", "other")], default_themes(), "2026-12-01", "monthly")
    assert text is not None
    assert text.startswith("Lessons from the team: November 2026")
    assert "Other lessons\n• Ask early." in text


def test_themes_are_suggested_from_the_words_of_the_lesson() -> None:
    themes = default_themes()
    assert themes.suggest("My caseload was too high and I had no time to prepare.") == "workload"
    assert themes.suggest("I will write up my case notes the same day.") == "recording"
    assert themes.suggest("Zebra.") == "other"


def test_a_chart_can_go_with_the_digest(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC) + timedelta(minutes=1)
    slack = Poster()
    posting = sender(store, clock, {"slack": slack}, post_to=["slack:C0123TEAM"], chart=True)
    asyncio.run(posting.tick())
    ((_, messages),) = slack.posts
    assert messages[1].attachment is not None
    assert messages[1].attachment.content.startswith(b"\x89PNG")


def test_a_place_written_wrongly_and_a_broken_themes_file_exit_2_with_file_and_line(
    tmp_path: Path,
) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("lessons:\n  digest: weekly\n  post_to:\n    - '#team'\n")
    result = run_cli(tmp_path, "--config", str(file), "digest", "preview")
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"{file}:3: lessons.post_to: '#team': write a place")
    themes = tmp_path / "themes.yaml"
    themes.write_text("workload:\n  label: Workload\n  words: [caseload]\n  colour: red\n")
    file.write_text("lessons:\n  themes_file: themes.yaml\n")
    result = run_cli(tmp_path, "--config", str(file), "digest", "preview")
    assert result.returncode == 2
    assert f"{themes}:4: unknown key 'colour'" in result.stderr.decode().splitlines()
    assert b"Traceback" not in result.stderr


def test_digest_preview_shows_the_next_digest_when_and_where(
    tmp_path: Path, team_service: ConversationService, store: Store, secret_key: str
) -> None:
    """The command line reads the same database the service wrote to."""
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    file = tmp_path / "config.yaml"
    file.write_text(
        f"database_url: {store.engine.url.render_as_string(hide_password=False)}\nlessons:\n  post_to: [slack:C0123TEAM]\n"
    )
    result = run_cli(tmp_path, "--config", str(file), "digest", "preview", **{KEYS_ENV: secret_key})
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "posted to slack:C0123TEAM" in out
    assert "next due Monday" in out
    assert f"• {DRAFTED}" in out


SAFE_WORDS = [
    "Ask for the full chronology before a first visit.",
    "Agree who records what before a joint visit ends.",
    "Say out loud when the caseload means a visit will be rushed.",
]
IDENTIFYING_WORDS = ["Ring Mrs Jones on 07700 900456 before the visit."]
action = st.one_of(
    st.tuples(st.just("words"), st.sampled_from(SAFE_WORDS + IDENTIFYING_WORDS)),
    st.tuples(st.just("theme"), st.sampled_from(default_themes().keys)),
    st.tuples(st.just("share"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("delete"), st.just(0)),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(action, max_size=8))
def test_whatever_a_worker_does_only_words_they_approved_as_they_stand_are_posted(
    team_service: ConversationService, store: Store, clock: Clock, actions: list[tuple[str, object]]
) -> None:
    """Changes, stale and fresh share buttons, deletions in any order: the digest holds the
    lesson exactly as it read when its author last approved it, or nothing."""
    from bot.store.models import lessons as lesson_rows

    with store.engine.begin() as connection:  # each example starts with no lessons
        connection.execute(lesson_rows.delete())
        connection.execute(digests.delete())
    clock.now = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    user = UserRef("telegram", "303", "Ali")
    with store.transaction() as tx:
        known = tx.find_user(user)
        reflection = tx.journal(known)[0].id if known is not None else None
    if reflection is None:
        ali = reflect(team_service, user, ANSWERS)
        with store.transaction() as tx:
            found = tx.find_user(user)
            assert found is not None
            reflection = tx.journal(found)[0].id
    else:
        ali = Worker(team_service, user)
    shown: list[tuple[str, tuple[str, str]]] = []  # (share button, what it was shown with)
    state: dict[str, object] = {}

    def show(messages: Sequence[Outgoing]) -> None:
        for message in messages:
            for choice in message.shortcuts:
                if choice.label == words.SHARE:
                    text = message.text.split("“", 1)[1].split("”", 1)[0]
                    theme = message.text.split("Theme: ", 1)[1].split("\n", 1)[0]
                    shown.append((choice.value, (text, theme)))
                    state.update(
                        text=text, theme=theme, approved=None, number=choice.value.split()[2]
                    )

    show(said(ali, f"lesson new {reflection}"))
    for kind, value in actions:
        number = state["number"]
        if kind == "words":
            show(said(ali, f"lesson words {number}: {value}"))
        elif kind == "theme":
            show(said(ali, f"lesson theme {number} {value}"))
        elif kind == "share" and shown:
            pressed, looked = shown[int(value) % len(shown)]  # type: ignore[call-overload]
            current = (state["text"], state["theme"])
            said(ali, pressed)
            if state["approved"] is None and looked == current:
                state["approved"] = current
        elif kind == "delete":
            said(ali, f"lesson delete {number}")
            shown.clear()
            show(said(ali, f"lesson new {reflection}"))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slack = Poster()
    tick_once(store, clock, {"slack": slack}, post_to=["slack:C0123TEAM"])
    approved = state["approved"]
    if approved is None:
        assert slack.posts == []
        return
    text, theme = approved  # type: ignore[misc]
    ((_, messages),) = slack.posts
    bullets = [line[2:] for line in messages[0].text.split("\n") if line.startswith("• ")]
    assert bullets == [text]
    assert f"{theme}\n• {text}" in messages[0].text


def test_a_workers_lessons_are_in_their_export_and_go_with_forget(
    team_service: ConversationService, store: Store
) -> None:
    import json

    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    files = {
        m.attachment.filename.rsplit(".", 1)[1]: m.attachment
        for m in said(sam, "export")
        if m.attachment
    }
    (kept,) = json.loads(files["json"].content)["lessons_for_the_team"]
    assert (kept["text"], kept["shared"]) == (DRAFTED, True)
    markdown = files["md"].content.decode()
    assert "## Lessons offered to the team" in markdown
    assert f"- {DRAFTED} (" in markdown
    confirm = button(said(sam, "forget"), "Yes, delete everything")
    said(sam, confirm)
    from bot.store.models import lessons as lesson_rows

    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(lesson_rows)) == 0


def test_a_number_too_large_for_the_database_is_an_unknown_lesson_not_a_failed_turn(
    team_service: ConversationService,
) -> None:
    huge = "9" * 30  # typed with a slash, a command takes any argument
    sam = reflect(team_service, SAM, ANSWERS)
    assert said(sam, f"/lesson show {huge}")[0].text == words.NO_LESSON.format(id=huge)
    assert said(sam, f"/lesson delete {huge}")[0].text == words.NO_LESSON.format(id=huge)
    assert said(sam, f"/lesson new {huge}")[0].text == words.NOT_YOURS.format(id=huge)


@pytest.mark.parametrize(
    ("config", "goes_out"),
    [
        ({"post_to": ["slack:C0123TEAM"]}, True),
        ({}, False),  # no place to post a digest
        ({"post_to": ["slack:C0123TEAM"], "digest": "off"}, False),
        ({"organisations": {"another-team": {"post_to": ["slack:C0999"]}}}, False),
    ],
)
def test_a_lesson_is_offered_and_shared_only_where_a_digest_will_take_it_to_the_team(
    store: Store, catalog: Catalog, clock: Clock, config: dict[str, object], goes_out: bool
) -> None:
    from bot.lessons.settings import lessons_from

    lessons = lessons_from(LessonsConfig.model_validate(config), catalog, None)
    service = ConversationService(store, catalog, clock=clock, lessons=lessons)
    try:
        sam = reflect(service, SAM, ANSWERS)
        offers = [c for m in sam.seen for c in m.shortcuts if c.label == words.OFFER_BUTTON]
        assert len(offers) == (1 if goes_out else 0)
        drafted = said(sam, "lesson new 1")
        if not goes_out:
            # Not "it will be in the next team digest" for a digest that never comes.
            assert [m.text for m in drafted] == [words.NO_DIGEST]
            # Nor "after a reflection you can offer one", when none is offered.
            assert said(sam, "lessons")[0].text == words.NO_DIGEST_YET
            return
        assert words.SHARED.split(".")[0] in said(sam, button(drafted, words.SHARE))[0].text
    finally:
        service.close()


def test_a_place_retried_to_the_end_is_given_up_and_said_in_the_log(
    team_service: ConversationService,
    store: Store,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slack = Poster(*[Pushed.RETRY] * 5)
    posting = sender(store, clock, {"slack": slack}, post_to=["slack:C0123TEAM"])
    with caplog.at_level(logging.ERROR, logger="bot.lessons.sender"):
        for _ in range(5):
            asyncio.run(posting.tick())
            clock.advance(minutes=20)
    with store.engine.connect() as connection:
        assert connection.scalar(select(digests.c.status)) == "failed"
    assert "given up after 5 attempts" in caplog.text


def test_the_preview_is_headed_as_the_next_digest_will_be(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    wednesday = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    weekly = sender(store, clock, {}).preview(1, wednesday)
    assert weekly is not None
    assert weekly.startswith("Lessons from the team: the week to 7 December 2026")
    monthly = sender(store, clock, {}, name="two", digest="monthly").preview(1, wednesday)
    assert monthly is not None
    assert monthly.startswith("Lessons from the team: December 2026")  # out on 1 January


def test_lessons_whose_digest_no_place_took_go_in_the_next_one(
    team_service: ConversationService, store: Store, clock: Clock
) -> None:
    sam = reflect(team_service, SAM, ANSWERS)
    said(sam, button(offered(sam), words.SHARE))
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    refused = Poster(Pushed.GONE)
    assert tick_once(store, clock, {"slack": refused}, post_to=["slack:C0123TEAM"]) == 0
    assert "shared, waiting for the next digest" in said(sam, "lessons")[0].text
    clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    slack = Poster()
    assert tick_once(store, clock, {"slack": slack}, post_to=["slack:C0123TEAM"]) == 1
    assert f"• {DRAFTED}" in slack.posts[0][1][0].text
