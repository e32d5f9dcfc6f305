"""`guard: blame`: feedback with blame language is held back, not saved, while the friend
is invited to rephrase it; they may still send it as written.

Drives `bot.engine.step` as tests/test_engine.py does: what the friend would see, and the
effects the service would apply. No database, no clock.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogues import Catalog, Dialogue, DialogueError, load_dialogue
from bot.engine import (
    SEND_AS_WRITTEN,
    Context,
    Draft,
    Mode,
    RunState,
    SessionState,
    Turn,
    wording,
)
from bot.engine.effects import AnswerSaved, Effect, RunFinished, RunPaused, RunResumed
from bot.engine.tone import blame_phrases
from bot.messages import Choice, IncomingKind, Outgoing, UserRef
from tests.engine_chat import EngineChat

NOW = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
USER = UserRef("terminal", "alex", "Alex")
DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"

BLAME = "You should have rung the school before the visit."
KIND = "What might help you get the school's view before the next visit?"
CURLY = "You shouldn\u2019t have gone alone,  and it was your fault  \n that it went wrong."
PRAISE = "You kept the young person's view at the centre of the whole meeting."

FEEDBACK = Dialogue.model_validate(
    {
        "id": "feedback",
        "title": "Feedback for a colleague",
        "description": "Strengths, a question and a suggestion.",
        "minutes": 5,
        "steps": [
            {
                "id": "well",
                "prompt": "What went well?",
                "guard": "blame",
                "follow_up": {"prompt": "Could you name one thing they did?", "min_words": 3},
            },
            {"id": "question", "prompt": "One question for them?", "guard": "blame"},
            {"id": "note", "prompt": "A note for yourself (not guarded)."},
        ],
    }
)
CATALOG = Catalog.of([FEEDBACK])


def context(**changes: object) -> Context:
    base = Context(catalog=CATALOG, now=NOW, new_run_key="run-1", display_name="Alex")
    return replace(base, **changes)


def texts(turn: Turn) -> str:
    return "\n".join(reply.text for reply in turn.replies)


def question_of(turn: Turn) -> Outgoing:
    asked = [reply for reply in turn.replies if reply.reply_token is not None]
    assert asked, f"nothing was asked: {turn.replies}"
    return asked[-1]


def saved(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.step_id, e.text) for e in effects if isinstance(e, AnswerSaved)]


SEND_BUTTON = Choice(SEND_AS_WRITTEN, wording.SEND_AS_WRITTEN)


@dataclass
class Chat(EngineChat):
    """A friend talking to the engine (tests/engine_chat.py)."""

    ctx: Context = field(default_factory=context)
    user: UserRef = USER
    dialogue: str = "feedback"


def held(text: str = BLAME, at: str = "question") -> Chat:
    """A friend whose answer at `at` has just been held back for blame language."""
    chat = Chat()
    chat.start()
    if at == "question":
        chat.says(PRAISE)
    chat.says(text)
    assert chat.run.held_answer == text
    return chat


# ---- holding back -----------------------------------------------------------------------


def test_feedback_with_blame_is_held_back_not_saved() -> None:
    chat = Chat()
    chat.start()
    chat.says(PRAISE)
    turn = chat.says(BLAME)
    assert saved(turn.effects) == []
    assert chat.run.step_id == "question"
    assert chat.run.held_answer == BLAME
    assert "question" not in chat.run.answers
    assert chat.state.mode is Mode.IN_RUN


def test_the_invitation_quotes_the_phrase_and_offers_to_send_it_as_written() -> None:
    chat = held()
    question = question_of(chat.turns[-1])
    assert '"You should have"' in question.text
    assert "as a question" in question.text
    assert "a suggestion" in question.text
    assert "pause" in question.text
    assert "!" not in question.text
    assert question.choices == (SEND_BUTTON,)
    assert question.reply_token == chat.state.reply_token


def test_the_invitation_quotes_every_phrase_found_as_written() -> None:
    chat = held(CURLY)
    text = question_of(chat.turns[-1]).text
    assert '"You shouldn\u2019t have"' in text
    assert '"your fault"' in text


def test_an_unguarded_question_keeps_blame_as_written() -> None:
    chat = Chat()
    chat.start()
    chat.says(PRAISE)
    chat.says(KIND)
    turn = chat.says(BLAME)
    assert saved(turn.effects) == [("note", BLAME)]
    assert isinstance(turn.effects[-1], RunFinished)


def test_feedback_without_blame_is_saved_straight_away() -> None:
    chat = Chat()
    chat.start()
    chat.says(PRAISE)
    turn = chat.says(KIND)
    assert saved(turn.effects) == [("question", KIND)]
    assert chat.run.step_id == "note"
    assert chat.run.held_answer is None


# ---- rephrasing or sending as written ----------------------------------------------------


def test_a_rephrased_answer_is_saved_and_the_held_one_never_is() -> None:
    chat = held()
    turn = chat.says(KIND)
    assert saved(turn.effects) == [("question", KIND)]
    assert chat.run.answers["question"] == KIND
    assert chat.run.held_answer is None
    assert chat.run.step_id == "note"
    assert BLAME not in [text for _, text in saved(chat.effects)]


def test_a_new_version_that_still_blames_is_invited_again_and_can_still_be_sent() -> None:
    chat = held()
    first_token = chat.state.reply_token
    turn = chat.says("Why didn't you ring the school first?")
    assert saved(turn.effects) == []
    question = question_of(turn)
    assert '"Why didn\'t you"' in question.text
    assert '"You should have"' not in question.text  # only what is held now
    assert question.choices == (SEND_BUTTON,)
    assert question.reply_token != first_token
    assert chat.run.held_answer == "Why didn't you ring the school first?"


def test_send_as_written_saves_the_held_text_exactly() -> None:
    chat = held(CURLY)
    turn = chat.presses(SEND_AS_WRITTEN)
    assert saved(turn.effects) == [("question", CURLY)]
    assert chat.run.held_answer is None
    assert chat.run.step_id == "note"


@pytest.mark.parametrize("typed", ["1", "Send it as written", "send it as written"])
def test_send_as_written_can_be_typed_where_there_are_no_buttons(typed: str) -> None:
    chat = held()
    turn = chat.says(typed)
    assert saved(turn.effects) == [("question", BLAME)]


def test_a_stale_send_as_written_changes_nothing() -> None:
    chat = held()
    old_token = chat.state.reply_token
    chat.says("Your fault, really.")  # a second invitation, with a new token
    turn = chat.presses(SEND_AS_WRITTEN, token=old_token)
    assert turn.stale
    assert saved(turn.effects) == []
    assert chat.run.held_answer == "Your fault, really."
    assert wording.STALE in texts(turn)
    assert question_of(turn).choices == (SEND_BUTTON,)  # the open invitation, shown again


def test_send_as_written_pressed_after_rephrasing_saves_nothing_more() -> None:
    chat = held()
    old_token = chat.state.reply_token
    chat.says(KIND)
    turn = chat.presses(SEND_AS_WRITTEN, token=old_token)
    assert turn.stale
    assert saved(turn.effects) == []
    assert chat.run.answers["question"] == KIND
    assert chat.run.step_id == "note"


def test_send_as_written_with_nothing_held_is_not_taken_as_an_answer() -> None:
    chat = Chat()
    chat.start()
    turn = chat.presses(SEND_AS_WRITTEN)
    assert turn.stale
    assert saved(turn.effects) == []


def test_an_empty_or_too_long_new_version_keeps_the_held_answer() -> None:
    chat = held()
    chat.ctx = context(max_answer_chars=100)
    assert wording.EMPTY_ANSWER in texts(chat.says("   "))
    assert wording.too_long(101, 100) in texts(chat.says("x" * 101))
    assert chat.run.held_answer == BLAME
    assert saved(chat.turns[-1].effects) == []


def test_help_shows_the_invitation_again_with_the_same_token() -> None:
    chat = held()
    token = chat.state.reply_token
    turn = chat.says("help")
    assert question_of(turn).reply_token == token
    assert question_of(turn).choices == (SEND_BUTTON,)


# ---- with the gentle follow-up ------------------------------------------------------------


def test_a_short_answer_is_probed_first_and_the_guard_checks_both_parts_together() -> None:
    chat = Chat()
    chat.start()
    probe = chat.says("Your fault.")  # two words: the follow-up comes first
    assert "Could you name one thing they did?" in question_of(probe).text
    assert chat.run.held_answer is None
    turn = chat.says("You did keep everyone calm, to be fair.")
    assert saved(turn.effects) == []
    assert chat.run.held_answer == "Your fault.\n\nYou did keep everyone calm, to be fair."
    assert '"Your fault"' in question_of(turn).text
    sent = chat.presses(SEND_AS_WRITTEN)
    assert saved(sent.effects) == [
        ("well", "Your fault.\n\nYou did keep everyone calm, to be fair.")
    ]


def test_skip_at_the_follow_up_keeps_the_first_answer_only_through_the_guard() -> None:
    chat = Chat()
    chat.start()
    chat.says("Your fault.")  # probed first: too short
    turn = chat.says("skip")
    assert saved(turn.effects) == []
    assert chat.run.held_answer == "Your fault."
    assert chat.run.step_id == "well"
    assert question_of(turn).choices == (SEND_BUTTON,)
    moved_on = chat.says("skip")  # and skipping the invitation sends nothing
    assert saved(moved_on.effects) == []
    assert chat.run.step_id == "question"


def test_skip_at_the_follow_up_still_keeps_a_first_answer_without_blame() -> None:
    chat = Chat()
    chat.start()
    chat.says("Stayed calm.")
    turn = chat.says("skip")
    assert saved(turn.effects) == [("well", "Stayed calm.")]
    assert chat.run.step_id == "question"


def test_back_at_the_follow_up_drops_a_first_answer_the_guard_would_hold() -> None:
    chat = Chat()
    chat.start()
    chat.says("Your fault.")
    turn = chat.says("back")
    assert saved(turn.effects) == []
    assert chat.run.pending_answer is None
    assert chat.run.held_answer is None
    assert "What went well?" in question_of(turn).text


def test_a_new_version_of_a_held_answer_is_never_probed() -> None:
    chat = held("You were wrong to go in without knowing more.", at="well")
    turn = chat.says("Calm.")  # shorter than the follow-up's three words
    assert saved(turn.effects) == [("well", "Calm.")]
    assert chat.run.step_id == "question"


# ---- back, skip, pause and stop -----------------------------------------------------------


def test_back_from_the_invitation_returns_to_the_question_and_drops_the_held_text() -> None:
    chat = held()
    turn = chat.says("back")
    assert saved(turn.effects) == []
    assert chat.run.held_answer is None
    assert chat.run.step_id == "question"
    question = question_of(turn)
    assert "One question for them?" in question.text
    assert question.choices == ()


def test_skip_from_the_invitation_moves_on_without_sending_anything() -> None:
    chat = held()
    turn = chat.says("skip")
    assert saved(turn.effects) == []
    assert chat.run.held_answer is None
    assert "question" in chat.run.skipped
    assert chat.run.step_id == "note"


def test_skip_keeps_an_answer_given_on_an_earlier_pass() -> None:
    chat = Chat()
    chat.start()
    chat.says(PRAISE)
    chat.says(KIND)
    chat.says("back")
    chat.says(BLAME)  # a change that blames: held
    turn = chat.says("skip")
    assert saved(turn.effects) == []
    assert chat.run.answers["question"] == KIND


def test_pause_keeps_the_held_text_and_resuming_shows_it_with_the_invitation() -> None:
    chat = held(CURLY)
    paused = chat.says("pause")
    (pause,) = [e for e in paused.effects if isinstance(e, RunPaused)]
    assert pause.run.held_answer == CURLY
    assert saved(paused.effects) == []
    assert chat.state.mode is Mode.IDLE

    # Tomorrow: the service offers the draft, as it does any paused reflection.
    draft_run = RunState.from_json(json.loads(json.dumps(pause.run.to_json())))
    chat.ctx = context(now=NOW + timedelta(days=1), drafts=(Draft(draft_run, NOW),))
    chat.start("")
    resumed = chat.presses("resume:run-1")
    assert RunResumed("run-1") in resumed.effects
    assert wording.held_for_you(CURLY) in texts(resumed)
    assert question_of(resumed).choices == (SEND_BUTTON,)
    assert chat.run.held_answer == CURLY
    sent = chat.presses(SEND_AS_WRITTEN)
    assert saved(sent.effects) == [("question", CURLY)]


def test_stop_then_carry_on_shows_the_invitation_again() -> None:
    chat = held()
    chat.says("stop")
    assert chat.state.mode is Mode.CONFIRM_STOP
    turn = chat.presses("continue")
    assert question_of(turn).choices == (SEND_BUTTON,)
    assert chat.run.held_answer == BLAME


def test_stop_and_keep_as_draft_keeps_the_held_text() -> None:
    chat = held()
    chat.says("stop")
    turn = chat.presses("keep")
    (pause,) = [e for e in turn.effects if isinstance(e, RunPaused)]
    assert pause.run.held_answer == BLAME
    assert saved(turn.effects) == []


def test_a_state_saved_before_held_answers_existed_still_loads() -> None:
    data = held().state.to_json()
    assert data["run"]["held_answer"] == BLAME
    del data["run"]["held_answer"]
    assert SessionState.from_json(data).run == replace(held().run, held_answer=None)


# ---- whatever the friend does ------------------------------------------------------------

GUARDED = {s.id for s in FEEDBACK.steps if s.guard}
TYPED = [BLAME, KIND, CURLY, PRAISE, "Your fault.", "Calm.", "ok", "", "1", "Send it as written"]
COMMANDS = ["back", "skip", "pause", "stop", "help", "keep", "continue", "discard", "resume"]
actions = st.lists(
    st.one_of(
        st.sampled_from(TYPED).map(lambda text: ("says", text)),
        st.sampled_from(COMMANDS).map(lambda text: ("says", text)),
        st.sampled_from(["current", "stale", "unbound"]).map(lambda token: ("send", token)),
        st.just(("start", "")),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_blame_is_saved_on_a_guarded_question_only_by_send_as_written(
    steps: list[tuple[str, str]],
) -> None:
    chat = Chat()
    chat.start()
    for kind, argument in steps:
        before = chat.state
        held_before = before.run.held_answer if before.run else None
        if kind == "says":
            turn = chat.says(argument)
            sent = argument in {"1", "Send it as written"}
        elif kind == "send":
            stale = f"q{before.prompt_seq - 1}"
            token = {"current": before.reply_token, "stale": stale, "unbound": None}[argument]
            turn = chat.send(IncomingKind.CHOICE, SEND_AS_WRITTEN, token)
            sent = argument != "stale"
        else:
            turn = chat.start(argument)
            sent = False
        for step_id, text in saved(turn.effects):
            if step_id in GUARDED and blame_phrases(text):
                assert sent, (kind, argument, text)
                assert text == held_before


# ---- the shipped feedback dialogues -------------------------------------------------------


def test_the_friend_feedback_dialogue_guards_its_three_answers() -> None:
    feedback = load_dialogue(DIALOGUES / "friend_feedback.yaml")
    assert [s.id for s in feedback.steps] == ["well", "question", "suggestion"]
    assert all(s.guard == "blame" and not s.is_choice for s in feedback.steps)
    assert not feedback.listed
    assert feedback.minutes <= 5


def test_the_friend_reply_dialogue_asks_one_question() -> None:
    reply = load_dialogue(DIALOGUES / "friend_reply.yaml")
    assert [s.id for s in reply.steps] == ["take_away"]
    assert not reply.listed


def test_a_friend_walks_through_the_feedback_dialogue_with_one_rephrase() -> None:
    feedback = load_dialogue(DIALOGUES / "friend_feedback.yaml")
    chat = Chat(ctx=context(catalog=Catalog.of([feedback])))
    chat.start("friend_feedback")
    chat.says(PRAISE)
    chat.says("Why didn't you check the chronology first?")
    assert chat.run.held_answer is not None
    chat.says("What would have helped you find time to read the chronology?")
    finished = chat.says("It might help to book a joint visit with the health visitor.")
    assert [e.step_id for e in chat.effects if isinstance(e, AnswerSaved)] == [
        "well",
        "question",
        "suggestion",
    ]
    assert isinstance(finished.effects[-1], RunFinished)
    assert "Why didn't you" not in finished.effects[-1].summary


# ---- the file format ----------------------------------------------------------------------


HEAD = """\
title: A test model
description: Checks the guard key.
minutes: 5
steps:
"""


def write(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(HEAD + textwrap.dedent(steps), encoding="utf-8")
    return path


def test_guard_blame_on_a_free_text_question_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "  - id: well\n    prompt: What went well?\n    guard: blame\n")
    assert load_dialogue(path).steps[0].guard == "blame"


def test_guard_on_a_choice_question_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
  - id: pick
    prompt: Which one?
    guard: blame
    choices:
      - value: a
        label: A
""",
    )
    with pytest.raises(DialogueError) as caught:
        load_dialogue(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:7: a guard only makes sense on a free-text question"
    ]


def test_an_unknown_guard_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - id: well\n    prompt: What went well?\n    guard: tone\n")
    with pytest.raises(DialogueError) as caught:
        load_dialogue(path)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{path}:7: ")
    assert "blame" in str(problem)
