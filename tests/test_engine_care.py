"""Care checks on every free-text answer: distress and safeguarding cues, then identifiers.

A worker who writes "I can't go on" is answered with care and support, never with the
next question; an answer that looks like it names a family is shown back with Redact,
Keep as written or Edit before anything is saved. Drives `bot.engine.step` as
tests/test_engine_guard.py does: what the worker would see, and the effects the service
would apply. No database, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.care.cues import default_cues, find_cues
from bot.care.identifiers import default_patterns, find_identifiers
from bot.dialogues import Catalog, Dialogue, load_dialogue
from bot.engine import (
    CARE_CONTINUE,
    CARE_PAUSE,
    CARE_STOP,
    EDIT,
    KEEP_AS_WRITTEN,
    REDACT,
    SEND_AS_WRITTEN,
    Context,
    Draft,
    Held,
    Mode,
    RunState,
    SessionState,
    Turn,
    wording,
)
from bot.engine.effects import AnswerSaved, Effect, RunDiscarded, RunPaused, RunResumed
from bot.engine.guards import cue_key
from bot.messages import Choice, Outgoing, UserRef, parse_command
from tests.engine_chat import EngineChat

NOW = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
USER = UserRef("terminal", "sam", "Sam")
DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"

WORKER = "Honestly, I can't go on like this."
SHORT_WORKER = "Can't cope."
PERSON = "I noticed bruises on the child but I didn't report it."
BOTH = "I feel burnt out. Yesterday I noticed bruises on the baby but I didn't report it."
NEGATED = "I'm not suicidal, just tired after a long day."
IDIOM = "I was exhausted after the visit and drowning in paperwork."
OTHERS = "The mother said she wanted to end it all, so I rang the duty team."
IDENTIFIED = "Mrs Patel rang me on 07700 900123 before the visit."
REDACTED = "Mrs [name] rang me on [phone] before the visit."
PLAIN = "The visit went ahead and the family were at home and willing to talk."
CLEAN = "A parent rang me before the visit to say they were worried."

VISIT = Dialogue.model_validate(
    {
        "id": "visit",
        "title": "After a visit",
        "description": "A few questions to look back on a visit.",
        "minutes": 5,
        "stages": {"what": "What happened", "feel": "Feelings", "next": "Next steps"},
        "steps": [
            {
                "id": "what",
                "stage": "what",
                "prompt": "What happened on the visit?",
                "follow_up": {"prompt": "Could you say a little more?", "min_words": 3},
            },
            {"id": "feeling", "stage": "feel", "prompt": "How did you feel afterwards?"},
            {
                "id": "want_plan",
                "stage": "next",
                "prompt": "Would you like to plan a next step?",
                "choices": [
                    {"value": "plan", "label": "Yes, let's plan it"},
                    {"value": "later", "label": "Not this time", "next": "end"},
                ],
            },
            {"id": "plan", "stage": "next", "prompt": "What will you do, and by when?"},
        ],
    }
)
FEEDBACK = load_dialogue(DIALOGUES / "friend_feedback.yaml")
CATALOG = Catalog.of([VISIT, FEEDBACK])

CARE_BUTTONS = (
    Choice(CARE_CONTINUE, wording.CARE_CONTINUE),
    Choice(CARE_PAUSE, wording.CARE_PAUSE),
    Choice(CARE_STOP, wording.CARE_STOP),
)
IDENTIFIER_BUTTONS = (
    Choice(REDACT, wording.REDACT),
    Choice(KEEP_AS_WRITTEN, wording.KEEP_AS_WRITTEN),
    Choice(EDIT, wording.EDIT),
)


def context(**changes: object) -> Context:
    base = Context(
        catalog=CATALOG,
        now=NOW,
        new_run_key="run-1",
        display_name="Sam",
        identifiers=default_patterns(),
        cues=default_cues(),
    )
    return replace(base, **changes)


def texts(turn: Turn) -> str:
    return "\n".join(reply.text for reply in turn.replies)


def question_of(turn: Turn) -> Outgoing:
    asked = [reply for reply in turn.replies if reply.reply_token is not None]
    assert asked, f"nothing was asked: {turn.replies}"
    return asked[-1]


def saved(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.step_id, e.text) for e in effects if isinstance(e, AnswerSaved)]


def scripted_prompts(dialogue: Dialogue) -> list[str]:
    prompts = [s.prompt for s in dialogue.steps]
    return prompts + [s.follow_up.prompt for s in dialogue.steps if s.follow_up]


def asks_a_scripted_question(turn: Turn, dialogue: Dialogue = VISIT) -> bool:
    return any(prompt in texts(turn) for prompt in scripted_prompts(dialogue))


@dataclass
class Chat(EngineChat):
    """A worker talking to the engine (tests/engine_chat.py)."""

    ctx: Context = field(default_factory=context)
    user: UserRef = USER
    dialogue: str = "visit"


def at_feeling(chat: Chat | None = None) -> Chat:
    """A worker who has answered the first question and is asked how they felt."""
    chat = chat or Chat()
    chat.start()
    chat.says(PLAIN)
    assert chat.run.step_id == "feeling"
    return chat


def cared_for(text: str = WORKER) -> Chat:
    """A worker whose answer at Feelings has just been answered with care."""
    chat = at_feeling()
    chat.says(text)
    assert chat.run.held_for is Held.CARE
    return chat


def asked_about_identifiers(text: str = IDENTIFIED) -> Chat:
    chat = at_feeling()
    chat.says(text)
    assert chat.run.held_for is Held.IDENTIFIERS
    return chat


def paused_draft(chat: Chat) -> Draft:
    (pause,) = [e for e in chat.turns[-1].effects if isinstance(e, RunPaused)]
    return Draft(RunState.from_json(json.loads(json.dumps(pause.run.to_json()))), NOW)


def resume_tomorrow(chat: Chat) -> Turn:
    """The service offers the paused draft the next day, as it does any paused reflection."""
    chat.ctx = context(now=NOW + timedelta(days=1), drafts=(paused_draft(chat),))
    chat.start("")
    return chat.presses("resume:run-1")


# ---- a worker who may not be coping --------------------------------------------------------


def test_a_worker_who_cannot_go_on_is_answered_with_care_not_the_next_question() -> None:
    chat = at_feeling()
    turn = chat.says(WORKER)
    assert not asks_a_scripted_question(turn)
    assert saved(turn.effects) == []
    assert chat.run.step_id == "feeling"
    assert chat.run.held_answer == WORKER
    question = question_of(turn)
    assert wording.DEFAULT_SUPPORT in question.text
    assert "Samaritans on 116 123" in question.text
    assert question.choices == CARE_BUTTONS
    assert question.reply_token == chat.state.reply_token
    assert chat.state.mode is Mode.IN_RUN


def test_the_care_message_is_warm_and_does_not_quote_the_worker_back() -> None:
    text = question_of(cared_for().turns[-1]).text
    assert "!" not in text
    assert "can't go on" not in text.casefold()
    assert "Thank you for telling me" in text
    assert "pause" in text
    assert "stop" in text
    assert wording.DEFAULT_SAFEGUARDING not in text


def test_a_short_distressed_answer_is_never_probed_for_more() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says(SHORT_WORKER)  # two words: the follow-up would ask for more
    assert "Could you say a little more?" not in texts(turn)
    assert chat.run.pending_answer is None
    assert chat.run.held_answer == SHORT_WORKER
    assert question_of(turn).choices == CARE_BUTTONS


def test_carry_on_saves_the_answer_as_written_and_asks_the_next_question() -> None:
    chat = cared_for()
    turn = chat.presses(CARE_CONTINUE)
    assert saved(turn.effects) == [("feeling", WORKER)]
    assert chat.run.held_answer is None
    assert chat.run.held_for is None
    assert "Would you like to plan a next step?" in question_of(turn).text


@pytest.mark.parametrize("typed", ["1", "continue", "Carry on", "carry on"])
def test_carry_on_can_be_typed_where_there_are_no_buttons(typed: str) -> None:
    chat = cared_for()
    assert saved(chat.says(typed).effects) == [("feeling", WORKER)]


def test_carry_on_after_a_short_first_answer_does_not_probe_it_either() -> None:
    chat = Chat()
    chat.start()
    chat.says(SHORT_WORKER)
    turn = chat.presses(CARE_CONTINUE)
    assert saved(turn.effects) == [("what", SHORT_WORKER)]
    assert "How did you feel afterwards?" in question_of(turn).text


def test_the_same_words_at_the_same_question_bring_no_second_care_message() -> None:
    chat = cared_for()
    chat.presses(CARE_CONTINUE)
    chat.says("back")
    turn = chat.says(WORKER)  # the same again, after going back to change it
    assert saved(turn.effects) == [("feeling", WORKER)]
    assert wording.DEFAULT_SUPPORT not in texts(turn)


def test_new_words_of_distress_at_the_same_question_are_answered_again() -> None:
    chat = cared_for()
    chat.presses(CARE_CONTINUE)
    chat.says("back")
    turn = chat.says("I want to die.")
    assert saved(turn.effects) == []
    assert question_of(turn).choices == CARE_BUTTONS


def test_a_cue_in_the_follow_up_answer_is_answered_with_care_and_both_parts_are_kept() -> None:
    chat = Chat()
    chat.start()
    assert "Could you say a little more?" in texts(chat.says("Hard."))
    turn = chat.says(WORKER)
    assert not asks_a_scripted_question(turn)
    assert chat.run.held_answer == f"Hard.\n\n{WORKER}"
    assert saved(chat.presses(CARE_CONTINUE).effects) == [("what", f"Hard.\n\n{WORKER}")]


def test_a_stale_carry_on_is_refused_and_saves_nothing() -> None:
    chat = cared_for()
    old = chat.state.reply_token
    chat.says("help")  # the same question again, same token
    chat.says("stop")
    chat.presses("continue")  # back at the care message, with a new token
    turn = chat.presses(CARE_CONTINUE, token=old)
    assert turn.stale
    assert saved(turn.effects) == []
    assert chat.run.held_answer == WORKER
    assert question_of(turn).choices == CARE_BUTTONS


def test_something_typed_at_the_care_message_is_not_added_to_the_answer() -> None:
    chat = cared_for()
    token = chat.state.reply_token
    turn = chat.says("thanks")
    assert wording.CARE_NOT_AN_OPTION in texts(turn)
    assert saved(turn.effects) == []
    assert chat.run.held_answer == WORKER
    assert question_of(turn).reply_token == token
    assert question_of(turn).choices == CARE_BUTTONS


def test_distress_typed_at_the_safeguarding_reminder_brings_the_support_too() -> None:
    chat = cared_for(PERSON)
    assert wording.DEFAULT_SUPPORT not in texts(chat.turns[-1])
    turn = chat.says("I can't cope with any of this")
    question = question_of(turn)
    assert wording.DEFAULT_SUPPORT in question.text
    assert wording.DEFAULT_SAFEGUARDING in question.text
    assert chat.run.held_answer == PERSON  # what was typed is not the answer
    assert not asks_a_scripted_question(turn)


@pytest.mark.parametrize("kind", ["button", "typed"])
def test_pause_at_the_care_message_keeps_the_answer_in_the_draft(kind: str) -> None:
    chat = cared_for()
    turn = chat.presses(CARE_PAUSE) if kind == "button" else chat.says("pause")
    (pause,) = [e for e in turn.effects if isinstance(e, RunPaused)]
    assert pause.run.held_answer == WORKER
    assert pause.run.held_for is Held.CARE
    assert saved(turn.effects) == []
    assert chat.state.mode is Mode.IDLE
    assert wording.paused("Feelings") in texts(turn)
    assert wording.TAKE_CARE in texts(turn)


def test_resuming_after_a_pause_at_the_care_message_offers_the_same_choice() -> None:
    chat = cared_for()
    chat.presses(CARE_PAUSE)
    resumed = resume_tomorrow(chat)
    assert RunResumed("run-1") in resumed.effects
    assert wording.CARE_KEPT_WHILE_PAUSED in texts(resumed)
    assert WORKER not in texts(resumed)
    assert question_of(resumed).choices == CARE_BUTTONS
    assert not asks_a_scripted_question(resumed)
    turn = chat.presses(CARE_CONTINUE)
    assert saved(turn.effects) == [("feeling", WORKER)]


def test_stop_at_the_care_message_asks_keep_or_discard_and_keep_holds_the_answer() -> None:
    chat = cared_for()
    asked = chat.presses(CARE_STOP)
    assert chat.state.mode is Mode.CONFIRM_STOP
    assert wording.CONFIRM_STOP in texts(asked)
    kept = chat.presses("keep")
    (pause,) = [e for e in kept.effects if isinstance(e, RunPaused)]
    assert pause.run.held_answer == WORKER
    assert saved(kept.effects) == []


def test_stop_then_discard_at_the_care_message_deletes_the_reflection() -> None:
    chat = cared_for()
    chat.says("stop")
    turn = chat.presses("discard")
    assert RunDiscarded("run-1") in turn.effects
    assert saved(chat.effects) == [("what", PLAIN)]


def test_stop_then_carry_on_shows_the_care_message_again() -> None:
    chat = cared_for()
    chat.presses(CARE_STOP)
    turn = chat.presses("continue")
    assert question_of(turn).choices == CARE_BUTTONS
    assert chat.run.held_answer == WORKER


def test_back_at_the_care_message_returns_to_the_question_unsaved() -> None:
    chat = cared_for()
    turn = chat.says("back")
    assert saved(turn.effects) == []
    assert chat.run.held_answer is None
    assert chat.run.step_id == "feeling"
    assert "How did you feel afterwards?" in question_of(turn).text


def test_skip_at_the_care_message_moves_on_saving_nothing() -> None:
    chat = cared_for()
    turn = chat.says("skip")
    assert saved(turn.effects) == []
    assert "feeling" in chat.run.skipped
    assert chat.run.held_answer is None


@pytest.mark.parametrize("text", [NEGATED, IDIOM, OTHERS])
def test_ordinary_hard_day_words_are_saved_without_a_care_message(text: str) -> None:
    chat = at_feeling()
    turn = chat.says(text)
    assert saved(turn.effects) == [("feeling", text)]
    assert wording.DEFAULT_SUPPORT not in texts(turn)


def test_the_support_the_organisation_configured_is_shown() -> None:
    chat = Chat(ctx=context(support="Call the staff wellbeing line on 0113 000 0000."))
    at_feeling(chat)
    text = question_of(chat.says(WORKER)).text
    assert "Call the staff wellbeing line on 0113 000 0000." in text
    assert "Samaritans" not in text


def test_with_the_cues_off_distress_is_saved_like_any_answer() -> None:
    chat = Chat(ctx=context(cues=None))
    at_feeling(chat)
    assert saved(chat.says(WORKER).effects) == [("feeling", WORKER)]


# ---- someone the worker supports may be at risk ---------------------------------------------


def test_a_risk_not_acted_on_brings_a_calm_safeguarding_reminder() -> None:
    chat = at_feeling()
    turn = chat.says(PERSON)
    assert not asks_a_scripted_question(turn)
    assert saved(turn.effects) == []
    question = question_of(turn)
    assert wording.DEFAULT_SAFEGUARDING in question.text
    assert "call 999" in question.text
    assert wording.DEFAULT_SUPPORT not in question.text
    assert "!" not in question.text
    assert question.choices == CARE_BUTTONS
    assert saved(chat.presses(CARE_CONTINUE).effects) == [("feeling", PERSON)]


def test_the_organisations_safeguarding_words_are_used() -> None:
    chat = Chat(ctx=context(safeguarding="Ring the Front Door on 0113 222 0000 today."))
    at_feeling(chat)
    assert "Ring the Front Door on 0113 222 0000 today." in question_of(chat.says(PERSON)).text


def test_both_kinds_in_one_answer_bring_support_and_the_reminder_together() -> None:
    chat = at_feeling()
    text = question_of(chat.says(BOTH)).text
    assert wording.DEFAULT_SUPPORT in text
    assert wording.DEFAULT_SAFEGUARDING in text


# ---- identifiers ------------------------------------------------------------------------------


def test_an_answer_with_identifiers_is_shown_back_not_saved() -> None:
    chat = at_feeling()
    turn = chat.says(IDENTIFIED)
    assert saved(turn.effects) == []
    assert chat.run.step_id == "feeling"
    question = question_of(turn)
    assert "a name (Patel)" in question.text
    assert "a phone number (07700 900123)" in question.text
    assert "[name] and [phone]" in question.text
    assert "pause" in question.text
    assert "!" not in question.text
    assert question.choices == IDENTIFIER_BUTTONS


def test_redact_saves_the_answer_with_labels_in_place_of_the_details() -> None:
    chat = asked_about_identifiers()
    turn = chat.presses(REDACT)
    assert saved(turn.effects) == [("feeling", REDACTED)]
    assert wording.REDACTED in texts(turn)
    assert "Would you like to plan a next step?" in question_of(turn).text
    assert "07700" not in json.dumps(chat.state.to_json())


def test_keep_as_written_saves_it_exactly() -> None:
    chat = asked_about_identifiers()
    turn = chat.says("Keep as written")
    assert saved(turn.effects) == [("feeling", IDENTIFIED)]
    assert chat.run.step_id == "want_plan"


def test_edit_asks_for_a_new_version_which_is_checked_again() -> None:
    chat = asked_about_identifiers()
    editing = chat.presses(EDIT)
    assert saved(editing.effects) == []
    assert question_of(editing).text.endswith(wording.edit_prompt(IDENTIFIED))
    assert question_of(editing).choices == IDENTIFIER_BUTTONS[:2]
    still = chat.says("She rang from 07700 900123 at nine.")
    assert saved(still.effects) == []
    assert "a phone number (07700 900123)" in question_of(still).text
    assert "a name" not in question_of(still).text
    turn = chat.says(CLEAN)
    assert saved(turn.effects) == [("feeling", CLEAN)]


def test_a_new_version_can_be_typed_without_pressing_edit() -> None:
    chat = asked_about_identifiers()
    assert saved(chat.says(CLEAN).effects) == [("feeling", CLEAN)]


def test_a_stale_redact_press_is_refused() -> None:
    chat = asked_about_identifiers()
    old = chat.state.reply_token
    chat.says("Rang 07700 900123")  # a new version, asked about again with a new token
    turn = chat.presses(REDACT, token=old)
    assert turn.stale
    assert saved(turn.effects) == []
    assert chat.run.held_answer == "Rang 07700 900123"
    assert question_of(turn).choices == IDENTIFIER_BUTTONS


def test_redact_pressed_after_the_answer_was_kept_saves_nothing_more() -> None:
    chat = asked_about_identifiers()
    old = chat.state.reply_token
    chat.presses(KEEP_AS_WRITTEN)
    turn = chat.presses(REDACT, token=old)
    assert turn.stale
    assert saved(turn.effects) == []
    assert chat.run.answers["feeling"] == IDENTIFIED


def test_a_redact_press_with_nothing_held_is_not_an_answer() -> None:
    chat = at_feeling()
    turn = chat.presses(REDACT)
    assert turn.stale
    assert saved(turn.effects) == []


def test_a_short_first_answer_is_probed_and_both_parts_are_redacted_together() -> None:
    chat = Chat()
    chat.start()
    assert "Could you say a little more?" in texts(chat.says("07700 900123"))
    asked = chat.says("Mrs Patel rang before we went in.")
    assert "a phone number (07700 900123)" in question_of(asked).text
    turn = chat.presses(REDACT)
    assert saved(turn.effects) == [("what", "[phone]\n\nMrs [name] rang before we went in.")]


def test_back_at_the_identifier_question_drops_the_text_and_asks_the_question() -> None:
    chat = asked_about_identifiers()
    turn = chat.says("back")
    assert saved(turn.effects) == []
    assert chat.run.held_answer is None
    assert chat.run.held_found == []
    assert "How did you feel afterwards?" in question_of(turn).text


def test_skip_at_the_identifier_question_moves_on_saving_nothing() -> None:
    chat = asked_about_identifiers()
    turn = chat.says("skip")
    assert saved(turn.effects) == []
    assert chat.run.step_id == "want_plan"


def test_back_at_a_follow_up_drops_a_first_answer_with_identifiers() -> None:
    chat = Chat()
    chat.start()
    chat.says("07700 900123")
    turn = chat.says("back")
    assert saved(turn.effects) == []
    assert chat.run.pending_answer is None
    assert "What happened on the visit?" in question_of(turn).text


def test_skip_at_a_follow_up_asks_about_identifiers_in_the_first_answer() -> None:
    chat = Chat()
    chat.start()
    chat.says("07700 900123")
    turn = chat.says("skip")
    assert saved(turn.effects) == []
    assert question_of(turn).choices == IDENTIFIER_BUTTONS


def test_resuming_while_identifiers_wait_shows_the_answer_and_the_question() -> None:
    chat = asked_about_identifiers()
    paused = chat.says("pause")
    (pause,) = [e for e in paused.effects if isinstance(e, RunPaused)]
    assert pause.run.held_answer == IDENTIFIED
    assert saved(paused.effects) == []
    resumed = resume_tomorrow(chat)
    assert wording.held_unsaved(IDENTIFIED) in texts(resumed)
    assert question_of(resumed).choices == IDENTIFIER_BUTTONS
    assert saved(chat.presses(REDACT).effects) == [("feeling", REDACTED)]


def test_resuming_while_editing_asks_for_the_new_version_again() -> None:
    chat = asked_about_identifiers()
    chat.presses(EDIT)
    chat.says("pause")
    resumed = resume_tomorrow(chat)
    assert question_of(resumed).text.endswith(wording.EDIT_PROMPT)
    assert saved(chat.says(CLEAN).effects) == [("feeling", CLEAN)]


def test_redact_writes_what_was_promised_even_if_the_guard_was_turned_off_since() -> None:
    chat = asked_about_identifiers()
    chat.ctx = context(identifiers=None)
    assert saved(chat.presses(REDACT).effects) == [("feeling", REDACTED)]


def test_with_the_identifier_guard_off_an_answer_is_saved_as_written() -> None:
    chat = Chat(ctx=context(identifiers=None))
    at_feeling(chat)
    assert saved(chat.says(IDENTIFIED).effects) == [("feeling", IDENTIFIED)]


def test_kinds_an_organisation_adds_read_naturally() -> None:
    assert wording.identifier_kind("case_number") == "a case number"
    assert wording.identifier_kind("eclipse_id") == "an eclipse id"
    assert wording.identifier_kind("ni_number") == "a National Insurance number"


def test_many_identifiers_are_counted_after_the_first_few() -> None:
    found = [("phone", f"0770090012{n}") for n in range(7)]
    text = wording.identifiers_found(found, ["[phone]"] * 7)
    assert "and 2 more" in text
    assert text.count("a phone number") == wording.IDENTIFIERS_LISTED


# ---- the order of the checks -------------------------------------------------------------------


def test_care_comes_first_then_the_identifiers() -> None:
    chat = at_feeling()
    text = "I can't go on. Mrs Patel rang me on 07700 900123."
    first = chat.says(text)
    assert question_of(first).choices == CARE_BUTTONS
    assert "07700" not in question_of(first).text
    then = chat.presses(CARE_CONTINUE)
    assert saved(then.effects) == []
    assert question_of(then).choices == IDENTIFIER_BUTTONS
    turn = chat.presses(REDACT)
    assert saved(turn.effects) == [("feeling", "I can't go on. Mrs [name] rang me on [phone].")]


def test_an_edit_that_keeps_the_same_distress_is_not_answered_twice() -> None:
    chat = at_feeling()
    chat.says("I can't go on. Mrs Patel rang me on 07700 900123.")
    chat.presses(CARE_CONTINUE)
    chat.presses(EDIT)
    turn = chat.says("I can't go on. A parent rang me.")
    assert saved(turn.effects) == [("feeling", "I can't go on. A parent rang me.")]


def feedback_chat() -> Chat:
    chat = Chat()
    chat.start("friend_feedback")
    chat.says("You kept the young person's view at the centre of the whole meeting.")
    assert chat.run.step_id == "question"
    return chat


def test_in_feedback_identifiers_are_asked_about_before_blame() -> None:
    chat = feedback_chat()
    text = "You should have rung Mrs Patel on 07700 900123 first."
    asked = chat.says(text)
    assert question_of(asked).choices == IDENTIFIER_BUTTONS
    invited = chat.presses(REDACT)
    assert saved(invited.effects) == []
    redacted = "You should have rung Mrs [name] on [phone] first."
    assert chat.run.held_answer == redacted
    assert chat.run.held_for is Held.BLAME
    assert '"You should have"' in question_of(invited).text
    assert question_of(invited).choices == (Choice(SEND_AS_WRITTEN, wording.SEND_AS_WRITTEN),)
    sent = chat.presses(SEND_AS_WRITTEN)
    assert saved(sent.effects) == [("question", redacted)]


def test_in_feedback_a_rephrase_of_blame_is_checked_for_identifiers() -> None:
    chat = feedback_chat()
    chat.says("You should have rung the school first.")
    assert chat.run.held_for is Held.BLAME
    turn = chat.says("What might help you reach Mrs Patel before the next visit?")
    assert question_of(turn).choices == IDENTIFIER_BUTTONS
    kept = chat.presses(KEEP_AS_WRITTEN)
    assert saved(kept.effects) == [
        ("question", "What might help you reach Mrs Patel before the next visit?")
    ]


def test_in_feedback_distress_comes_before_everything() -> None:
    chat = feedback_chat()
    turn = chat.says("Honestly I feel burnt out. You should have rung Mrs Patel.")
    assert question_of(turn).choices == CARE_BUTTONS
    assert not asks_a_scripted_question(turn, FEEDBACK)
    assert question_of(chat.presses(CARE_CONTINUE)).choices == IDENTIFIER_BUTTONS
    kept = chat.presses(KEEP_AS_WRITTEN)
    assert '"You should have"' in question_of(kept).text
    assert chat.run.held_for is Held.BLAME


# ---- the state --------------------------------------------------------------------------------


def test_a_state_saved_before_these_checks_still_loads() -> None:
    data = cared_for().state.to_json()
    run = data["run"]
    for key in ("held_for", "held_cues", "held_found", "cues_shown"):
        del run[key]
    loaded = SessionState.from_json(data).run
    assert loaded is not None
    assert loaded.held_answer == WORKER
    assert loaded.held_for is Held.BLAME  # all an older version could have held it for
    assert loaded.held_cues == loaded.held_found == loaded.cues_shown == []


def test_a_held_answer_and_what_was_found_survive_json() -> None:
    chat = asked_about_identifiers()
    state = chat.state
    assert SessionState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert [(item.kind, item.text, item.label) for item in chat.run.held_found] == [
        ("name", "Patel", "[name]"),
        ("phone", "07700 900123", "[phone]"),
    ]


def test_a_cue_is_remembered_by_its_words_not_its_case_or_quotes() -> None:
    (cue,) = find_cues("I can\u2019t go on.")
    (same,) = find_cues("i CAN'T  go on")
    assert cue_key("feeling", cue) == cue_key("feeling", same)


# ---- whatever the worker sends ----------------------------------------------------------------

TYPED = [
    WORKER,
    SHORT_WORKER,
    PERSON,
    NEGATED,
    IDENTIFIED,
    PLAIN,
    CLEAN,
    "Hard.",
    "I can't go on. Mrs Patel rang me on 07700 900123.",
    "thanks",
    "I want to die.",
    "1",
    "2",
    "3",
    "",
]
COMMANDS = ["back", "skip", "pause", "stop", "help", "keep", "continue", "discard", "resume"]
VALUES = [CARE_CONTINUE, CARE_PAUSE, CARE_STOP, REDACT, KEEP_AS_WRITTEN, EDIT, "plan", "later"]
VALUES += ["keep", "discard", "resume:run-1"]
actions = st.lists(
    st.one_of(
        st.sampled_from(TYPED).map(lambda text: ("says", text)),
        st.sampled_from(TYPED).map(lambda text: ("says", text)),
        st.sampled_from(COMMANDS).map(lambda text: ("says", text)),
        st.tuples(st.just("presses"), st.sampled_from(VALUES)),
        # An option on screen, pressed: the way flows move on.
        st.tuples(st.just("picks"), st.sampled_from("0123")),
        st.tuples(st.just("picks"), st.sampled_from("0123")),
        st.tuples(st.just("stale"), st.sampled_from(VALUES)),
        st.just(("start", "visit")),
        st.just(("start", "friend_feedback")),
    ),
    max_size=25,
)


def picked(state: SessionState, text: str) -> str | None:
    """The option on screen that `text` names, as the engine reads a typed choice."""
    if text.isdecimal() and 1 <= int(text) <= len(state.pending):
        return state.pending[int(text) - 1][0]
    folded = text.casefold()
    for value, label in state.pending:
        if folded in {value.casefold(), label.casefold()}:
            return value
    return None


def new_cues(state: SessionState, text: str) -> bool:
    """Whether `text`, typed as an answer in `state`, holds a cue not yet shown there."""
    run = state.run
    if state.mode is not Mode.IN_RUN or run is None or parse_command(text) is not None:
        return False
    if CATALOG.dialogues[run.dialogue_id].step(run.step_id).is_choice:
        return False
    if picked(state, text) is not None:
        return False
    return any(cue_key(run.step_id, cue) not in run.cues_shown for cue in find_cues(text))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_no_turn_with_a_new_cue_asks_the_next_question_or_saves_anything(
    steps: list[tuple[str, str]],
) -> None:
    chat = Chat()
    chat.start()
    for kind, argument in steps:
        before = chat.state
        if kind == "picks":
            pending = before.pending
            kind, argument = (
                "presses",
                (pending[int(argument) % len(pending)][0] if pending else "nothing"),
            )
        cued = kind == "says" and new_cues(before, argument)
        if kind == "says":
            turn = chat.says(argument)
        elif kind == "presses":
            turn = chat.presses(argument)
        elif kind == "stale":
            turn = chat.presses(argument, token=f"q{before.prompt_seq - 1}")
        else:
            turn = chat.start(argument)
        if cued:
            assert before.run is not None
            dialogue = CATALOG.dialogues[before.run.dialogue_id]
            assert not asks_a_scripted_question(turn, dialogue), (argument, texts(turn))
            assert saved(turn.effects) == []
            assert question_of(turn).choices == CARE_BUTTONS
        # Whatever happened, a free-text answer with identifiers was saved only by the
        # worker choosing to keep it as written (or, in feedback, to send it as written).
        if before.run is None or kind == "stale":
            continue
        dialogue = CATALOG.dialogues[before.run.dialogue_id]
        for step_id, text in saved(turn.effects):
            if dialogue.step(step_id).is_choice or not find_identifiers(text, default_patterns()):
                continue
            chosen = argument if kind == "presses" else picked(before, argument)
            assert chosen in {KEEP_AS_WRITTEN, SEND_AS_WRITTEN}, (kind, argument, text)
