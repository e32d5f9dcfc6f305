"""The pure conversation engine, one behaviour at a time.

Every test drives `bot.engine.step` with a small in-test dialogue and looks at what
the worker would see (reply texts, choices, reply tokens) and at the effects the
service would apply. No database, no clock: time and run keys arrive in the Context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.dialogues import Catalog, Dialogue
from bot.engine import (
    MAX_ANSWER_CHARS,
    Context,
    Draft,
    Mode,
    RunState,
    SessionState,
    Turn,
    step,
    wording,
)
from bot.engine.effects import (
    AnswerSaved,
    CheckInRequested,
    Effect,
    RunDiscarded,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
)
from bot.messages import (
    Choice,
    Command,
    Incoming,
    IncomingKind,
    Outgoing,
    UnknownCommand,
    UserRef,
    parse_command,
)

NOW = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
USER = UserRef("terminal", "sam", "Sam")
LONG = "The visit went ahead and the family were at home and willing to talk."
LATER = "I will ask my supervisor for a joint visit before the end of next week."

VISIT = Dialogue.model_validate(
    {
        "id": "visit",
        "title": "After a visit",
        "description": "A few questions to look back on a visit.",
        "minutes": 5,
        "stages": {"what": "What happened", "learn": "Learning", "next": "Next steps"},
        "intro": "Please leave out names and identifying details.",
        "steps": [
            {
                "id": "what_happened",
                "stage": "what",
                "prompt": "Briefly, what happened?",
                "hint": "Describe people by their role.",
                "follow_up": {"prompt": "Could you say a little more?", "min_words": 3},
            },
            {"id": "feeling", "stage": "learn", "prompt": "How did you feel?"},
            {
                "id": "want_plan",
                "stage": "next",
                "prompt": "Would you like to plan a next step?",
                "choices": [
                    {"value": "plan", "label": "Yes, let's plan it"},
                    {"value": "later", "label": "Not this time", "next": "wrap_up"},
                ],
            },
            {
                "id": "plan",
                "stage": "next",
                "prompt": "You wrote: {what_happened}. What will you do, and by when?",
            },
            {
                "id": "check_in",
                "stage": "next",
                "prompt": "Shall I check in with you about your plan?",
                "action": "check_in",
                "choices": [
                    {"value": 7, "label": "In a week"},
                    {"value": 14, "label": "In two weeks"},
                    {"value": "none", "label": "No thanks"},
                ],
            },
            {"id": "wrap_up", "prompt": "Anything else you want to note?"},
        ],
        "summary": "What happened: {what_happened}\nPlan: {plan}\nCheck-in: {check_in}",
    }
)

HIDDEN = Dialogue.model_validate(
    {
        "id": "hidden",
        "title": "A hidden check-in",
        "description": "Started by the scheduler, never from the menu.",
        "minutes": 2,
        "listed": False,
        "steps": [{"id": "how", "prompt": "How is your plan going?"}],
    }
)

OTHER = Dialogue.model_validate(
    {
        "id": "other",
        "title": "Another model",
        "description": "What is left when the visit file is gone.",
        "minutes": 3,
        "steps": [{"id": "what", "prompt": "What is on your mind?"}],
    }
)

CATALOG = Catalog.of([VISIT, HIDDEN])
WITHOUT_VISIT = Catalog.of([OTHER, HIDDEN])


def context(**changes: object) -> Context:
    base = Context(catalog=CATALOG, now=NOW, new_run_key="run-1", display_name="Sam")
    return replace(base, **changes)


def incoming(
    kind: IncomingKind, text: str = "", in_reply_to: str | None = None, event: str = "e"
) -> Incoming:
    return Incoming(event_id=event, user=USER, kind=kind, text=text, in_reply_to=in_reply_to)


def texts(turn: Turn) -> str:
    return "\n".join(reply.text for reply in turn.replies)


def question_of(turn: Turn) -> Outgoing:
    """The last thing the turn asked (a reply with a reply token)."""
    asked = [reply for reply in turn.replies if reply.reply_token is not None]
    assert asked, f"nothing was asked: {turn.replies}"
    return asked[-1]


def saved(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.step_id, e.text) for e in effects if isinstance(e, AnswerSaved)]


@dataclass
class Chat:
    """A worker talking to the engine, keeping the state between turns as the service does."""

    ctx: Context = field(default_factory=context)
    state: SessionState = field(default_factory=SessionState)
    turns: list[Turn] = field(default_factory=list)

    def send(self, message: Incoming, ctx: Context | None = None) -> Turn:
        turn = step(self.state, message, ctx or self.ctx)
        self.state = turn.state
        self.turns.append(turn)
        return turn

    def start(self, dialogue: str = "", ctx: Context | None = None) -> Turn:
        return self.send(incoming(IncomingKind.START, dialogue), ctx)

    def says(self, text: str, ctx: Context | None = None) -> Turn:
        return self.send(incoming(IncomingKind.TEXT, text), ctx)

    def presses(self, value: str, ctx: Context | None = None) -> Turn:
        return self.send(incoming(IncomingKind.CHOICE, value, self.state.reply_token), ctx)

    @property
    def run(self) -> RunState:
        assert self.state.run is not None
        return self.state.run

    @property
    def effects(self) -> list[Effect]:
        return [effect for turn in self.turns for effect in turn.effects]


def at_step(step_id: str) -> Chat:
    """A chat in the visit dialogue, answered with long answers up to `step_id`."""
    chat = Chat()
    chat.start("visit")
    answers = {"what_happened": LONG, "feeling": "Tired but glad I went, honestly.", "plan": LATER}
    while chat.run.step_id != step_id:
        current = VISIT.step(chat.run.step_id)
        chat.says("1" if current.is_choice else answers[current.id])
    return chat


# ---- starting ---------------------------------------------------------------


def test_a_new_worker_is_greeted_by_name_and_offered_the_listed_models() -> None:
    chat = Chat()
    turn = chat.start()
    assert turn.replies[0].text.startswith("Hello Sam.")
    menu = question_of(turn)
    assert menu.text == wording.CHOOSE_MODEL
    assert menu.choices == (Choice("dialogue:visit", "After a visit (about 5 min)"),)
    assert menu.reply_token == "q1"
    assert chat.state.mode is Mode.CHOOSING
    assert turn.effects == []


def test_picking_from_the_menu_by_number_starts_that_model() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says("1")
    assert turn.effects == [RunStarted("run-1", "visit")]
    assert "Briefly, what happened?" in question_of(turn).text


def test_start_with_a_dialogue_id_begins_at_the_first_question() -> None:
    chat = Chat()
    turn = chat.start("visit")
    assert turn.effects == [RunStarted("run-1", "visit")]
    assert "Please leave out names and identifying details." in texts(turn)
    question = question_of(turn)
    assert question.text == (
        "What happened (1 of 3)\nBriefly, what happened?\n\nDescribe people by their role."
    )
    assert question.footer == wording.HOW_TO_PAUSE
    assert question.choices == ()
    assert chat.state.mode is Mode.IN_RUN
    assert chat.run.step_id == "what_happened"
    assert chat.run.started_at == NOW.isoformat()


def test_a_hidden_model_can_be_started_by_name() -> None:
    chat = Chat()
    turn = chat.says("/reflect hidden")
    assert turn.effects == [RunStarted("run-1", "hidden")]
    assert "How is your plan going?" in question_of(turn).text


def test_starting_an_unknown_model_says_so_and_shows_the_menu() -> None:
    chat = Chat()
    turn = chat.start("gibbz")
    assert wording.unknown_model("gibbz") in texts(turn)
    assert question_of(turn).text == wording.CHOOSE_MODEL
    assert turn.effects == []


def test_with_no_models_at_all_the_worker_is_told_and_nothing_is_asked() -> None:
    chat = Chat(ctx=context(catalog=Catalog()))
    turn = chat.start()
    assert wording.NO_MODELS in texts(turn)
    assert all(reply.reply_token is None for reply in turn.replies)
    assert chat.state.mode is Mode.IDLE


def test_not_now_closes_the_menu() -> None:
    chat = Chat(ctx=context(drafts=(Draft(_draft_run(), NOW),)))
    chat.start()
    turn = chat.presses("later")
    assert texts(turn) == wording.NOT_NOW_REPLY
    assert chat.state.mode is Mode.IDLE
    assert chat.state.pending == []
    assert turn.effects == []


# ---- answering and following up ----------------------------------------------


def test_a_long_enough_answer_is_saved_and_the_next_question_follows() -> None:
    chat = at_step("what_happened")
    turn = chat.says(LONG)
    assert turn.effects == [AnswerSaved("run-1", "what_happened", LONG)]
    assert question_of(turn).text == "Learning (2 of 3)\nHow did you feel?"
    assert chat.run.history == ["what_happened"]


def test_a_short_answer_gets_one_gentle_follow_up_never_two() -> None:
    chat = at_step("what_happened")
    first = chat.says("Hard visit")
    assert first.effects == []
    assert question_of(first).text == "What happened (1 of 3)\nCould you say a little more?"
    assert chat.run.step_id == "what_happened"
    second = chat.says("Really hard")
    assert saved(second.effects) == [("what_happened", "Hard visit\n\nReally hard")]
    assert "How did you feel?" in question_of(second).text
    assert "Could you say a little more?" not in texts(second)


@pytest.mark.parametrize("vague", ["I don't know", "It was FINE."])
def test_a_vague_answer_of_enough_words_still_gets_the_follow_up(vague: str) -> None:
    chat = at_step("what_happened")
    turn = chat.says(vague)
    assert turn.effects == []
    assert "Could you say a little more?" in question_of(turn).text
    assert chat.run.pending_answer == vague


def test_an_answer_of_exactly_the_minimum_words_is_not_probed() -> None:
    chat = at_step("what_happened")
    turn = chat.says("She was angry")
    assert saved(turn.effects) == [("what_happened", "She was angry")]


def test_a_vague_first_answer_is_dropped_when_the_follow_up_is_answered() -> None:
    chat = at_step("what_happened")
    chat.says("not sure")
    turn = chat.says(LONG)
    assert saved(turn.effects) == [("what_happened", LONG)]
    assert chat.run.answers["what_happened"] == LONG


def test_a_step_without_a_follow_up_accepts_a_one_word_answer() -> None:
    chat = at_step("feeling")
    turn = chat.says("Tired")
    assert saved(turn.effects) == [("feeling", "Tired")]
    assert "plan a next step" in question_of(turn).text


def test_a_revisited_question_is_not_probed_again() -> None:
    chat = at_step("feeling")
    chat.says("back")
    turn = chat.says("Short now")
    assert saved(turn.effects) == [("what_happened", "Short now")]
    assert "How did you feel?" in question_of(turn).text


def test_an_answer_that_starts_with_a_command_word_stays_an_answer() -> None:
    chat = at_step("feeling")
    turn = chat.says("back to the office and I felt drained")
    assert saved(turn.effects) == [("feeling", "back to the office and I felt drained")]


def test_an_answer_is_put_into_later_prompts_as_written_never_re_read() -> None:
    chat = at_step("what_happened")
    chat.says("The {feeling} braces stayed {plan} as typed here.")
    chat.says("Calm enough.")
    turn = chat.says("plan")
    assert question_of(turn).text.startswith(
        "Next steps (3 of 3)\nYou wrote: The {feeling} braces stayed {plan} as typed here."
    )


# ---- back and skip -----------------------------------------------------------


def test_back_at_the_first_question_says_so() -> None:
    chat = at_step("what_happened")
    before = chat.state.to_json()
    turn = chat.says("back")
    assert turn.replies[0].text == wording.FIRST_QUESTION
    assert "Briefly, what happened?" in question_of(turn).text
    assert question_of(turn).reply_token == "q1"  # the same question, not a new one
    assert turn.effects == []
    assert chat.state.to_json() == before


def test_back_goes_to_the_previous_question_and_shows_the_earlier_answer() -> None:
    chat = at_step("feeling")
    turn = chat.says("/back")
    question = question_of(turn)
    assert "Briefly, what happened?" in question.text
    assert f"Earlier you wrote:\n{LONG}" in question.text
    assert chat.run.step_id == "what_happened"
    assert chat.run.history == []
    assert turn.effects == []


def test_back_from_a_follow_up_keeps_the_first_answer_and_asks_its_question_again() -> None:
    chat = at_step("what_happened")
    chat.says("Quite hard")
    turn = chat.says("back")
    assert saved(turn.effects) == [("what_happened", "Quite hard")]
    assert chat.run.step_id == "what_happened"
    assert chat.run.pending_answer is None
    assert "Earlier you wrote:\nQuite hard" in question_of(turn).text


def test_changing_an_answer_after_back_saves_the_new_text() -> None:
    chat = at_step("feeling")
    chat.says("back")
    turn = chat.says("A second and fuller account of what happened.")
    assert saved(turn.effects) == [
        ("what_happened", "A second and fuller account of what happened.")
    ]
    assert chat.run.answers["what_happened"] == "A second and fuller account of what happened."


def test_skip_on_a_revisited_question_keeps_the_earlier_answer() -> None:
    chat = at_step("feeling")
    chat.says("back")
    turn = chat.says("skip")
    assert turn.effects == []
    assert chat.run.answers["what_happened"] == LONG
    assert chat.run.skipped == []
    assert "How did you feel?" in question_of(turn).text


def test_skip_on_a_new_question_moves_on_and_saves_nothing() -> None:
    chat = at_step("feeling")
    turn = chat.says("skip")
    assert turn.effects == []
    assert "feeling" not in chat.run.answers
    assert chat.run.skipped == ["feeling"]
    assert "plan a next step" in question_of(turn).text


def test_skip_at_a_follow_up_keeps_the_first_answer() -> None:
    chat = at_step("what_happened")
    chat.says("Very hard")
    turn = chat.says("skip")
    assert saved(turn.effects) == [("what_happened", "Very hard")]
    assert "How did you feel?" in question_of(turn).text


# ---- stop, pause, leave --------------------------------------------------------


def test_stop_asks_keep_or_discard() -> None:
    chat = at_step("feeling")
    turn = chat.says("stop")
    assert turn.effects == []
    question = question_of(turn)
    assert question.text == wording.CONFIRM_STOP
    assert [c.value for c in question.choices] == ["keep", "discard", "continue"]
    assert chat.state.mode is Mode.CONFIRM_STOP
    assert chat.run.answers == {"what_happened": LONG}


def test_stop_then_keep_pauses_the_run_as_a_draft() -> None:
    chat = at_step("feeling")
    chat.says("stop")
    before = chat.run
    turn = chat.presses("keep")
    assert turn.effects == [RunPaused("run-1", before)]
    assert texts(turn) == wording.kept_as_draft("Learning")
    assert chat.state.run is None
    assert chat.state.mode is Mode.IDLE


def test_stop_then_discard_deletes_the_run() -> None:
    chat = at_step("feeling")
    chat.says("stop")
    turn = chat.says("2")
    assert turn.effects == [RunDiscarded("run-1")]
    assert texts(turn) == wording.DISCARDED
    assert chat.state.run is None


def test_stop_then_carry_on_asks_the_same_question_again() -> None:
    chat = at_step("feeling")
    chat.says("stop")
    turn = chat.says("Carry on reflecting")
    assert turn.effects == []
    assert chat.state.mode is Mode.IN_RUN
    assert question_of(turn).text == "Learning (2 of 3)\nHow did you feel?"


def test_stop_then_something_else_asks_again_for_an_option() -> None:
    chat = at_step("feeling")
    chat.says("stop")
    turn = chat.says("I am not sure what to do")
    assert turn.replies[0].text == wording.PICK_AN_OPTION
    assert question_of(turn).text == wording.CONFIRM_STOP
    assert chat.state.mode is Mode.CONFIRM_STOP
    assert turn.effects == []


def test_pause_keeps_everything_and_says_where() -> None:
    chat = at_step("feeling")
    before = chat.run
    turn = chat.says("pause")
    # The draft is the run exactly as it stood: every answer, where it was, what is behind.
    assert turn.effects == [RunPaused("run-1", before)]
    assert before.answers == {"what_happened": LONG}
    assert before.step_id == "feeling"
    assert texts(turn) == wording.paused("Learning")
    assert chat.state.run is None
    assert chat.state.mode is Mode.IDLE


def test_pausing_at_a_follow_up_keeps_the_first_answer_in_the_draft() -> None:
    chat = at_step("what_happened")
    chat.says("Quite hard")
    turn = chat.says("/pause")
    (paused,) = turn.effects
    assert isinstance(paused, RunPaused)
    assert paused.run.pending_answer == "Quite hard"
    assert paused.run.probed == ["what_happened"]


@pytest.mark.parametrize(
    ("command", "sentence"),
    [("pause", wording.NOTHING_TO_PAUSE), ("stop", wording.NOTHING_TO_STOP)],
)
def test_pause_or_stop_with_nothing_in_progress_says_so(command: str, sentence: str) -> None:
    turn = Chat().says(command)
    assert texts(turn) == sentence
    assert turn.effects == []


def test_leave_pauses_a_run_quietly() -> None:
    chat = at_step("feeling")
    before = chat.run
    turn = chat.send(incoming(IncomingKind.LEAVE))
    assert turn.effects == [RunPaused("run-1", before)]
    assert turn.replies[0].text == wording.paused("Learning")
    assert all(reply.reply_token is None for reply in turn.replies)
    assert chat.state.run is None


def test_leave_with_nothing_in_progress_says_nothing_and_closes_a_menu() -> None:
    chat = Chat()
    chat.start()
    turn = chat.send(incoming(IncomingKind.LEAVE))
    assert turn.replies == []
    assert turn.effects == []
    assert chat.state.mode is Mode.IDLE
    assert chat.state.pending == []


# ---- drafts --------------------------------------------------------------------


def _draft_run(key: str = "old-run") -> RunState:
    return RunState(
        key=key,
        dialogue_id="visit",
        step_id="feeling",
        started_at=(NOW - timedelta(days=1)).isoformat(),
        answers={"what_happened": LONG},
        history=["what_happened"],
    )


def test_an_interrupted_run_is_offered_as_a_draft_on_the_next_start() -> None:
    chat = at_step("feeling")
    before = chat.run
    turn = chat.start()
    assert turn.effects == [RunPaused("run-1", before)]
    offer = question_of(turn)
    assert offer.text == wording.resume_offer("After a visit", "Learning", "from today")
    assert [c.value for c in offer.choices] == ["resume:run-1", "new", "later"]
    assert chat.state.run is None
    assert chat.state.mode is Mode.CHOOSING


def test_resuming_a_draft_carries_on_at_the_same_question_with_every_answer() -> None:
    chat = at_step("feeling")
    interrupted = chat.run.to_json()
    (paused,) = chat.start().effects
    assert isinstance(paused, RunPaused)
    # The service keeps the paused run, through JSON, and lists it among the drafts.
    stored = RunState.from_json(json.loads(json.dumps(paused.run.to_json())))
    ctx = context(new_run_key="run-2", drafts=(Draft(stored, NOW),))
    turn = chat.says("1", ctx)
    assert turn.effects == [RunResumed("run-1")]
    assert wording.resumed("After a visit") in texts(turn)
    assert question_of(turn).text == "Learning (2 of 3)\nHow did you feel?"
    assert chat.run.to_json() == interrupted


def test_resume_carries_on_with_the_newest_draft_without_a_menu() -> None:
    chat = at_step("feeling")
    interrupted = chat.run.to_json()
    (paused,) = chat.says("pause").effects
    assert isinstance(paused, RunPaused)
    older = _draft_run("older-run")
    ctx = context(drafts=(Draft(paused.run, NOW), Draft(older, NOW - timedelta(days=2))))
    turn = chat.says("resume", ctx)
    assert turn.effects == [RunResumed("run-1")]
    assert question_of(turn).text == "Learning (2 of 3)\nHow did you feel?"
    assert chat.run.to_json() == interrupted
    # In a reflection already, resume just shows the open question again.
    again = chat.says("/resume", ctx)
    assert again.effects == []
    assert question_of(again).text == "Learning (2 of 3)\nHow did you feel?"


def test_resume_with_nothing_paused_says_so_and_offers_the_menu() -> None:
    chat = Chat()
    turn = chat.says("resume")
    assert texts(turn).startswith(wording.NOTHING_TO_RESUME)
    assert chat.state.mode is Mode.CHOOSING


def test_a_draft_from_yesterday_is_offered_with_when_it_was_left() -> None:
    chat = Chat(ctx=context(drafts=(Draft(_draft_run(), NOW - timedelta(days=1)),)))
    offer = question_of(chat.start())
    assert "from yesterday" in offer.text
    assert offer.choices[0] == Choice("resume:old-run", "Carry on with After a visit")


def test_with_several_drafts_each_is_labelled_with_its_day() -> None:
    drafts = (
        Draft(_draft_run("a"), NOW - timedelta(days=1)),
        Draft(_draft_run("b"), NOW - timedelta(days=3)),
    )
    offer = question_of(Chat(ctx=context(drafts=drafts)).start())
    assert [c.label for c in offer.choices[:2]] == [
        "Carry on with After a visit (from yesterday)",
        "Carry on with After a visit (from Friday 20 November)",
    ]


def test_asking_for_a_model_with_a_draft_waiting_offers_both() -> None:
    chat = Chat(ctx=context(drafts=(Draft(_draft_run(), NOW),)))
    turn = chat.says("/reflect visit")
    assert turn.effects == []
    assert [c.value for c in question_of(turn).choices] == [
        "resume:old-run",
        "dialogue:visit",
        "later",
    ]
    started = chat.presses("dialogue:visit")
    assert started.effects == [RunStarted("run-1", "visit")]


def test_a_draft_that_is_gone_when_chosen_says_so_and_shows_the_menu() -> None:
    chat = Chat(ctx=context(drafts=(Draft(_draft_run(), NOW),)))
    chat.start()
    turn = chat.presses("resume:old-run", context())  # discarded elsewhere meanwhile
    assert wording.STALE in texts(turn)
    assert question_of(turn).text == wording.CHOOSE_MODEL
    assert turn.effects == []


def test_a_dialogue_file_that_disappeared_keeps_the_draft() -> None:
    chat = at_step("feeling")
    before = chat.run
    turn = chat.says("Tired but fine.", context(catalog=WITHOUT_VISIT))
    assert turn.effects == [RunPaused("run-1", before)]
    assert "kept what you wrote as a draft" in texts(turn)
    assert chat.state.run is None
    assert chat.state.mode is Mode.IDLE


def test_a_draft_whose_dialogue_disappeared_is_not_offered() -> None:
    ctx = context(catalog=WITHOUT_VISIT, drafts=(Draft(_draft_run(), NOW),))
    turn = Chat(ctx=ctx).start()
    assert "haven't finished" not in texts(turn)
    menu = question_of(turn)
    assert menu.text == wording.CHOOSE_MODEL
    assert [c.value for c in menu.choices] == ["dialogue:other"]


def test_resuming_a_draft_whose_dialogue_disappeared_since_the_offer_keeps_it() -> None:
    # The offer was made, then the bot restarted without that dialogue file.
    chat = Chat(ctx=context(drafts=(Draft(_draft_run(), NOW),)))
    chat.start()
    after_restart = context(catalog=WITHOUT_VISIT, drafts=(Draft(_draft_run(), NOW),))
    turn = chat.presses("resume:old-run", after_restart)
    assert not any(isinstance(e, RunResumed | RunDiscarded) for e in turn.effects)
    assert "kept what you wrote as a draft" in texts(turn)
    assert chat.state.run is None


# ---- choices --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (IncomingKind.TEXT, "1"),
        (IncomingKind.TEXT, " 1 "),
        (IncomingKind.TEXT, "Yes, let's plan it"),
        (IncomingKind.TEXT, "YES, LET'S PLAN IT"),
        (IncomingKind.TEXT, "plan"),
        (IncomingKind.TEXT, "Plan"),
        (IncomingKind.CHOICE, "plan"),
    ],
)
def test_choices_accept_number_label_or_value(kind: IncomingKind, text: str) -> None:
    chat = at_step("want_plan")
    turn = chat.send(incoming(kind, text, chat.state.reply_token))
    assert turn.effects == [AnswerSaved("run-1", "want_plan", "Yes, let's plan it")]
    assert chat.run.step_id == "plan"


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (IncomingKind.TEXT, "0"),
        (IncomingKind.TEXT, "3"),
        (IncomingKind.TEXT, "perhaps"),
        (IncomingKind.TEXT, "²"),  # a digit to str.isdigit, but not a number
        (IncomingKind.TEXT, "¹"),
        (IncomingKind.CHOICE, "1"),  # a button carries a value, never a position
        (IncomingKind.CHOICE, "maybe"),
    ],
)
def test_an_option_that_does_not_exist_is_refused_with_the_options_again(
    kind: IncomingKind, text: str
) -> None:
    chat = at_step("want_plan")
    before = chat.state.to_json()
    turn = chat.send(incoming(kind, text, chat.state.reply_token))
    assert turn.replies[0].text == wording.PICK_AN_OPTION
    assert [c.value for c in question_of(turn).choices] == ["plan", "later"]
    assert turn.effects == []
    assert chat.state.to_json() == before


def test_a_superscript_digit_in_the_menu_is_refused_not_a_crash() -> None:
    chat = Chat()
    chat.start()
    turn = chat.says("²")
    assert turn.replies[0].text == wording.PICK_AN_OPTION
    assert chat.state.mode is Mode.CHOOSING


def test_branching_choice_goes_to_its_step() -> None:
    chat = at_step("want_plan")
    turn = chat.says("Not this time")
    assert saved(turn.effects) == [("want_plan", "Not this time")]
    assert chat.run.step_id == "wrap_up"
    assert question_of(turn).text == "After a visit\nAnything else you want to note?"


def test_a_choice_without_a_branch_follows_the_file_order() -> None:
    chat = at_step("want_plan")
    turn = chat.says("1")
    assert chat.run.step_id == "plan"
    assert question_of(turn).text == (
        f"Next steps (3 of 3)\nYou wrote: {LONG}. What will you do, and by when?"
    )


@pytest.mark.parametrize(
    ("typed", "days", "label"), [("1", 7, "In a week"), ("2", 14, "In two weeks")]
)
def test_check_in_choice_emits_CheckInRequested_with_days(
    typed: str, days: int, label: str
) -> None:
    chat = at_step("check_in")
    turn = chat.says(typed)
    assert turn.effects == [
        AnswerSaved("run-1", "check_in", label),
        CheckInRequested("run-1", days),
    ]
    assert wording.check_in_booked(days) in texts(turn)


def test_no_thanks_to_the_check_in_books_nothing_and_says_nothing_about_it() -> None:
    chat = at_step("check_in")
    turn = chat.says("No thanks")
    assert turn.effects == [
        AnswerSaved("run-1", "check_in", "No thanks"),
        CheckInRequested("run-1", 0),
    ]
    assert "check in with you" not in texts(turn)


def test_skipping_the_check_in_records_no_thanks() -> None:
    chat = at_step("check_in")
    turn = chat.says("skip")
    assert turn.effects == [
        AnswerSaved("run-1", "check_in", "No thanks"),
        CheckInRequested("run-1", 0),
    ]
    assert chat.run.answers["check_in"] == "No thanks"
    assert chat.run.skipped == []


# ---- finishing ------------------------------------------------------------------


def test_finishing_shows_the_summary_and_the_default_closing() -> None:
    chat = at_step("wrap_up")
    turn = chat.says("Nothing more for today, thank you.")
    summary = f"What happened: {LONG}\nPlan: {LATER}\nCheck-in: In a week"
    assert turn.effects == [
        AnswerSaved("run-1", "wrap_up", "Nothing more for today, thank you."),
        RunFinished("run-1", summary),
    ]
    assert [reply.text for reply in turn.replies] == [summary, wording.FINISHED]
    assert chat.state.run is None
    assert chat.state.mode is Mode.IDLE


def test_a_step_left_out_by_a_branch_shows_as_skipped_in_the_summary() -> None:
    chat = at_step("want_plan")
    chat.says("later")
    turn = chat.says("skip")
    finished = [e for e in turn.effects if isinstance(e, RunFinished)]
    assert finished == [
        RunFinished("run-1", f"What happened: {LONG}\nPlan: (skipped)\nCheck-in: (skipped)")
    ]


def test_without_a_summary_every_answer_is_listed_under_its_stage() -> None:
    chat = Chat()
    chat.start("hidden")
    turn = chat.says("Going well so far.")
    finished = next(e for e in turn.effects if isinstance(e, RunFinished))
    assert finished.summary == (
        "Your reflection: A hidden check-in\n\nHow is your plan going?: Going well so far."
    )


# ---- things that are not answers --------------------------------------------------


def test_a_stale_reply_token_changes_nothing() -> None:
    chat = at_step("feeling")
    before = chat.state.to_json()
    turn = chat.send(incoming(IncomingKind.TEXT, "An answer to an old question", "q1"))
    assert turn.effects == []
    assert turn.replies[0].text == wording.STALE
    assert question_of(turn).reply_token == chat.state.reply_token == "q2"
    assert chat.state.to_json() == before


def test_a_stale_button_press_changes_nothing() -> None:
    chat = at_step("want_plan")
    before = chat.state.to_json()
    turn = chat.send(incoming(IncomingKind.CHOICE, "later", "q1"))
    assert turn.effects == []
    assert turn.replies[0].text == wording.STALE
    assert chat.state.to_json() == before


def test_the_current_reply_token_is_accepted() -> None:
    chat = at_step("feeling")
    turn = chat.send(incoming(IncomingKind.TEXT, "Calm.", chat.state.reply_token))
    assert saved(turn.effects) == [("feeling", "Calm.")]


def test_help_shows_the_commands_and_the_question_again() -> None:
    chat = at_step("feeling")
    before = chat.state.to_json()
    turn = chat.says("help")
    assert turn.replies[0].text == wording.HELP
    assert question_of(turn).text == "Learning (2 of 3)\nHow did you feel?"
    assert chat.state.to_json() == before


def test_unknown_slash_command_gets_a_sentence_and_the_question_again() -> None:
    chat = at_step("feeling")
    before = chat.state.to_json()
    turn = chat.says("/frobnicate now")
    assert turn.replies[0].text == wording.unknown_command("frobnicate")
    assert "back, skip, pause or stop" in turn.replies[0].text
    assert question_of(turn).text == "Learning (2 of 3)\nHow did you feel?"
    assert question_of(turn).reply_token == "q2"
    assert turn.effects == []
    assert chat.state.to_json() == before


def test_an_answer_over_the_limit_is_refused_and_nothing_changes() -> None:
    chat = at_step("feeling")
    before = chat.state.to_json()
    too_long = "x" * (MAX_ANSWER_CHARS + 1)
    turn = chat.says(too_long)
    assert turn.replies[0].text == wording.too_long(MAX_ANSWER_CHARS + 1, MAX_ANSWER_CHARS)
    assert "20,000" in turn.replies[0].text
    assert "How did you feel?" in question_of(turn).text
    assert turn.effects == []
    assert chat.state.to_json() == before


def test_an_answer_exactly_at_the_limit_is_kept_whole() -> None:
    chat = at_step("feeling")
    ctx = context(max_answer_chars=40)
    refused = chat.says("y" * 41, ctx)
    assert refused.effects == []
    turn = chat.says("y" * 40, ctx)
    assert saved(turn.effects) == [("feeling", "y" * 40)]


def test_a_follow_up_answer_over_the_limit_is_refused_and_the_first_answer_waits() -> None:
    chat = at_step("what_happened")
    chat.says("Quite hard")
    turn = chat.says("z" * 41, context(max_answer_chars=40))
    assert turn.effects == []
    assert chat.run.pending_answer == "Quite hard"
    assert "Could you say a little more?" in question_of(turn).text


@pytest.mark.parametrize("blank", ["", "   ", "\n\t  \n"])
def test_empty_or_whitespace_is_re_asked_kindly(blank: str) -> None:
    chat = at_step("feeling")
    before = chat.state.to_json()
    turn = chat.says(blank)
    assert turn.replies[0].text == wording.EMPTY_ANSWER
    assert "Take your time" in turn.replies[0].text
    assert "How did you feel?" in question_of(turn).text
    assert turn.effects == []
    assert chat.state.to_json() == before


def test_a_message_of_only_control_characters_cannot_be_read() -> None:
    chat = at_step("feeling")
    turn = chat.says("\x00\x07\x1b")
    assert turn.replies[0].text == wording.UNREADABLE
    assert turn.effects == []


def test_control_characters_are_dropped_but_emoji_and_right_to_left_text_are_kept() -> None:
    chat = at_step("feeling")
    typed = "\x1b[31mشعرت بالتعب 😔\x00 but\tokay\x7f\nafter\x9b all \U0001f44d\u200f\x07"
    turn = chat.says(typed)
    kept = "[31mشعرت بالتعب 😔 but\tokay\nafter all \U0001f44d\u200f"
    assert saved(turn.effects) == [("feeling", kept)]
    assert chat.run.answers["feeling"] == kept


def test_photos_and_stickers_get_a_kind_reply() -> None:
    chat = at_step("feeling")
    before = chat.state.to_json()
    turn = chat.send(incoming(IncomingKind.UNSUPPORTED))
    assert turn.replies[0].text == wording.ONLY_TEXT
    assert "How did you feel?" in question_of(turn).text
    assert turn.effects == []
    assert chat.state.to_json() == before


def test_a_message_while_idle_starts_with_a_greeting() -> None:
    turn = Chat().says("Hello there")
    assert turn.replies[0].text.startswith("Hello Sam.")
    assert question_of(turn).text == wording.CHOOSE_MODEL


# ---- purity -------------------------------------------------------------------------


def test_engine_does_not_mutate_the_input_state() -> None:
    chat = at_step("what_happened")
    chat.says("Quite hard")  # a follow-up is open: pending_answer and probed are set
    state = chat.state
    snapshot = json.dumps(state.to_json(), sort_keys=True)
    for message in [
        incoming(IncomingKind.TEXT, "A much longer answer about what happened today."),
        incoming(IncomingKind.TEXT, "back"),
        incoming(IncomingKind.TEXT, "skip"),
        incoming(IncomingKind.TEXT, "pause"),
        incoming(IncomingKind.START, "visit"),
        incoming(IncomingKind.LEAVE),
    ]:
        turn = step(state, message, context())
        assert turn.state is not state
        assert json.dumps(state.to_json(), sort_keys=True) == snapshot


def test_a_resumed_draft_is_a_copy_not_the_draft_itself() -> None:
    draft = _draft_run()
    snapshot = draft.to_json()
    chat = Chat(ctx=context(drafts=(Draft(draft, NOW),)))
    chat.start()
    chat.presses("resume:old-run")
    chat.says("A new answer about how I felt at the time.")
    assert draft.to_json() == snapshot
    assert chat.run.answers["feeling"] == "A new answer about how I felt at the time."


def test_the_same_turn_gives_the_same_result_every_time() -> None:
    chat = at_step("feeling")
    message = incoming(IncomingKind.TEXT, "Calm but tired.")
    first = step(chat.state, message, context())
    second = step(chat.state, message, context())
    assert first.state == second.state
    assert first.replies == second.replies
    assert first.effects == second.effects


def test_state_round_trips_through_json() -> None:
    chat = at_step("want_plan")
    chat.says("back")
    chat.says("Hm")  # no follow-up on this step; still a change
    chat.says("stop")
    state = chat.state
    assert state.mode is Mode.CONFIRM_STOP
    restored = SessionState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state
    # And the restored state carries on exactly as the original would.
    message = incoming(IncomingKind.TEXT, "continue")
    assert step(restored, message, context()).replies == step(state, message, context()).replies


def test_an_empty_stored_state_is_an_idle_session() -> None:
    assert SessionState.from_json({}) == SessionState()


# ---- parse_command -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("back", Command("back")),
        ("/back", Command("back")),
        ("Back", Command("back")),
        ("  SKIP  ", Command("skip")),
        ("/pause", Command("pause")),
        ("/reflect gibbs", Command("reflect", "gibbs")),
        ("reflect gibbs_quick", Command("reflect", "gibbs_quick")),
        ("journal 3", Command("journal", "3")),
        ("/journal", Command("journal")),
        ("/start@CriticalFriendBot", Command("start")),
        ("/menu", Command("menu")),
        ("/help me please", Command("help", "me please")),
        ("/unknown", UnknownCommand("unknown")),
        ("/Frobnicate now", UnknownCommand("frobnicate")),
        ("back to the office", None),
        ("stop it", None),
        ("reflect on my day", None),
        ("journal entry for today", None),
        # Without a slash, a command's word must be one it takes: answers stay answers.
        ("journal entries", None),
        ("nudge tomorrow", Command("nudge", "tomorrow")),
        ("Nudge gently", None),
        ("followup 2", Command("followup", "2")),
        ("followup needed", None),
        ("settings matter", None),
        ("/settings pause 2", Command("settings", "pause 2")),
        ("I want to go back", None),
        ("stop!", None),
        ("", None),
        ("/", None),
        ("12", None),
    ],
)
def test_parse_command(text: str, expected: Command | UnknownCommand | None) -> None:
    assert parse_command(text) == expected
