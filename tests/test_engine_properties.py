"""Properties of the engine that must hold for ANY sequence of messages a worker can send.

A small in-memory stand-in for the conversation service applies the engine's effects
the way `bot/service.py` does (a run's state is kept when it is paused, from the run
that `RunPaused` carries, and dropped when it is resumed or finished; drafts are the
paused runs, newest first; `journal` never reaches the engine), and checks after every
turn that

  (a) the engine never raises,
  (b) the new state survives a trip through JSON unchanged,
  (c) the stored answers agree with the state: one revision per AnswerSaved, and the
      latest revision of every answered step is the text in `state.run.answers`,
  (d) a paused reflection, when resumed, has every answer it had when it was paused.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogues import Catalog, Dialogue, load_catalog
from bot.dialogues.model import PART
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
    RunDiscarded,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
)
from bot.engine.engine import MAX_DRAFTS_OFFERED
from bot.messages import Command, Incoming, IncomingKind, UserRef, parse_command

DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"
SHIPPED = load_catalog([DIALOGUES])

BRANCHING = Dialogue.model_validate(
    {
        "id": "branching",
        "title": "A branching check",
        "description": "Short, with a branch, a jump, a check-in and a loop back.",
        "minutes": 3,
        "stages": {"first": "First", "then": "Then"},
        "steps": [
            {
                "id": "what",
                "stage": "first",
                "prompt": "What happened?",
                "follow_up": {"prompt": "A little more?", "min_words": 4},
            },
            {
                "id": "route",
                "stage": "first",
                "prompt": "Short or long?",
                "choices": [
                    {"value": "short", "label": "Short", "next": "close"},
                    {"value": "long", "label": "Long"},
                    {"value": "side", "label": "Side path", "next": "never_by_order"},
                ],
            },
            {
                "id": "detail",
                "stage": "then",
                "prompt": "You said {what}. Tell me more.",
                "follow_up": {"prompt": "Anything at all?", "min_words": 1},
                "next": "check",
            },
            {"id": "never_by_order", "prompt": "Reached only by a choice.", "next": "close"},
            {
                "id": "check",
                "stage": "then",
                "prompt": "Check in?",
                "action": "check_in",
                "choices": [
                    {"value": 7, "label": "In a week"},
                    {"value": "none", "label": "No thanks"},
                ],
            },
            {
                "id": "close",
                "stage": "then",
                "prompt": "Once more, or done?",
                "choices": [
                    {"value": "again", "label": "Once more", "next": "what"},
                    {"value": "done", "label": "Done", "next": "end"},
                ],
            },
        ],
        "summary": "{what} / {detail} / {check}",
    }
)

CATALOG = Catalog.of([*SHIPPED.dialogues.values(), BRANCHING])
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
USER = UserRef("terminal", "sam", "Sam")
SENTENCE = "The visit went ahead and the family were at home and willing to talk."


def test_the_shipped_dialogues_load_for_these_properties() -> None:
    assert not SHIPPED.problems
    assert {"gibbs", "gibbs_quick", "driscoll"} <= set(SHIPPED.dialogues)


# ---- the service's bookkeeping, in memory --------------------------------------------


@dataclass
class StoredRun:
    key: str
    dialogue_id: str
    status: str  # open | paused | finished (a discarded run is deleted)
    state: dict[str, Any] | None  # where a paused run stood; None while open or finished
    updated_at: datetime
    row: int
    revisions: dict[str, list[str]] = field(default_factory=dict)
    check_in_days: int | None = None


class Broken(AssertionError):
    pass


@dataclass
class FakeService:
    """What `ConversationService._turn` does with a turn, minus the database."""

    catalog: Catalog = field(default_factory=lambda: CATALOG)
    session: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, StoredRun] = field(default_factory=dict)
    turn_number: int = 0
    resumes: int = 0
    finishes: int = 0
    _keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Per paused run: its answers and its whole state when it was paused.
    at_pause: dict[str, tuple[dict[str, str], dict[str, Any]]] = field(default_factory=dict)

    @property
    def state(self) -> SessionState:
        return SessionState.from_json(self.session)

    def drafts(self) -> tuple[Draft, ...]:
        paused = [run for run in self.runs.values() if run.status == "paused"]
        paused.sort(key=lambda run: (run.updated_at, run.row), reverse=True)
        return tuple(
            Draft(RunState.from_json(run.state), run.updated_at)
            for run in paused[:MAX_DRAFTS_OFFERED]
            if run.state
        )

    def handle(self, incoming: Incoming) -> Turn | None:
        self.turn_number += 1
        now = NOW + timedelta(minutes=self.turn_number)
        state = self.state
        command = parse_command(incoming.text) if incoming.kind is IncomingKind.TEXT else None
        if isinstance(command, Command) and command.name == "journal":
            # The service answers this from the store and leaves the state alone. The engine
            # must still cope with it, for a channel that does not go through the service.
            step(state, incoming, Context(self.catalog, now, "unused"))
            return None
        in_reflection = (
            state.mode is Mode.IN_RUN
            and incoming.kind is not IncomingKind.START
            and command is None
        )
        context = Context(
            catalog=self.catalog,
            now=now,
            new_run_key=f"run-{next(self._keys)}",
            drafts=() if in_reflection else self.drafts(),
            display_name=None if in_reflection else "Sam",
        )
        turn = step(state, incoming, context)
        self.check_round_trip(turn.state)
        self.apply(state, turn, now)
        self.session = json.loads(json.dumps(turn.state.to_json()))
        self.check_record(turn)
        return turn

    # (b)
    @staticmethod
    def check_round_trip(state: SessionState) -> None:
        restored = SessionState.from_json(json.loads(json.dumps(state.to_json())))
        if restored != state:
            raise Broken(f"state changed through JSON: {state} -> {restored}")

    def apply(self, before: SessionState, turn: Turn, now: datetime) -> None:
        saved_this_turn: Counter[tuple[str, str]] = Counter()
        for effect in turn.effects:
            match effect:
                case RunStarted(key=key, dialogue_id=dialogue_id):
                    assert key not in self.runs, f"run key {key} started twice"
                    self.runs[key] = StoredRun(
                        key=key,
                        dialogue_id=dialogue_id,
                        status="open",
                        state=None,
                        updated_at=now,
                        row=len(self.runs) + 1,
                    )
                case AnswerSaved(key=key, step_id=step_id, text=text):
                    stored = self.open_run(key, effect)
                    assert text, f"an empty answer was saved for {step_id}"
                    stored.revisions.setdefault(step_id, []).append(text)
                    saved_this_turn[(key, step_id)] += 1
                case RunPaused(key=key, run=run):
                    stored = self.open_run(key, effect)
                    # Only the run in progress can be paused.
                    assert before.run is not None
                    assert before.run.key == key == run.key
                    # What the worker had when they paused: everything saved so far. The
                    # draft must hold all of it, or resuming would lose some.
                    latest = {step: texts[-1] for step, texts in stored.revisions.items()}
                    assert run.answers == latest, "the draft differs from the saved answers"
                    self.at_pause[key] = (latest, run.to_json())
                    stored.state = json.loads(json.dumps(run.to_json()))
                    stored.status, stored.updated_at = "paused", now
                case RunResumed(key=key):
                    stored = self.runs[key]
                    assert stored.status == "paused", f"resumed a run that was {stored.status}"
                    stored.status, stored.state, stored.updated_at = "open", None, now
                    self.resumes += 1
                case RunDiscarded(key=key):
                    self.open_run(key, effect)
                    del self.runs[key]
                case RunFinished(key=key):
                    stored = self.open_run(key, effect)
                    stored.status, stored.state, stored.updated_at = "finished", None, now
                    self.finishes += 1
                case CheckInRequested(key=key, days=days):
                    assert days >= 0
                    self.open_run(key, effect).check_in_days = days
        # (c) one revision per AnswerSaved: never two for the same step in one turn
        assert all(count == 1 for count in saved_this_turn.values()), saved_this_turn

    def open_run(self, key: str, effect: object) -> StoredRun:
        assert key in self.runs, f"{effect} for a run that was never started"
        stored = self.runs[key]
        assert stored.status == "open", f"{effect} for a run that is {stored.status}"
        return stored

    def check_record(self, turn: Turn) -> None:
        state = turn.state
        open_runs = {key for key, run in self.runs.items() if run.status == "open"}
        # Exactly the run in progress is open: nothing is left behind where no menu finds it.
        assert open_runs == ({state.run.key} if state.run else set()), (open_runs, state.run)
        assert (state.run is not None) == (state.mode in {Mode.IN_RUN, Mode.CONFIRM_STOP})
        if state.run is not None:
            stored = self.runs[state.run.key]
            latest = {step_id: texts[-1] for step_id, texts in stored.revisions.items()}
            # (c) the latest saved text is the answer in the state, for every step
            assert latest == state.run.answers
            assert stored.dialogue_id == state.run.dialogue_id
        if state.mode is not Mode.IDLE:
            # Whenever something is open, the worker's last message is that question.
            assert turn.replies, "a question is open but nothing was said"
            assert turn.replies[-1].reply_token == state.reply_token
            assert turn.replies[-1].text == state.question
        for effect in turn.effects:
            if isinstance(effect, RunResumed):
                # (d) everything the run had when paused is there after resuming
                assert state.run is not None
                assert state.run.key == effect.key
                answers, run_state = self.at_pause[effect.key]
                for step_id, text in answers.items():
                    assert state.run.answers.get(step_id) == text, step_id
                assert state.run.to_json() == run_state


# ---- what a worker can send ---------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: IncomingKind
    text: str = ""
    token: str = "none"  # none | current | stale | garbage
    pick: int | None = None  # press (or type) the pick-th option on screen


def build(action: Action, state: SessionState, number: int) -> Incoming:
    text = action.text
    if action.pick is not None:
        if state.pending:
            value, label = state.pending[action.pick % len(state.pending)]
            text = value if action.kind is IncomingKind.CHOICE else label
        else:
            text = "no-such-option"
    in_reply_to = {
        "none": None,
        "current": state.reply_token,
        "stale": f"q{max(state.prompt_seq - 1, 0)}",
        "garbage": "not-a-token",
    }[action.token]
    return Incoming(f"event-{number}", USER, action.kind, text, in_reply_to)


ALL_LABELS = sorted(
    {c.label for d in CATALOG.dialogues.values() for s in d.steps for c in s.choices}
    | {wording.KEEP_DRAFT, wording.DISCARD, wording.CARRY_ON, wording.NEW_REFLECTION}
    | {wording.NOT_NOW}
)
ALL_VALUES = sorted(
    {c.value for d in CATALOG.dialogues.values() for s in d.steps for c in s.choices}
    | {"keep", "discard", "continue", "new", "later", "resume:run-1", "resume:nope"}
    | {f"dialogue:{d}" for d in [*CATALOG.dialogues, "nope"]}
)
WORDS = ["back", "skip", "pause", "stop", "help", "journal", "reflect", "menu", "start"]
DIALOGUE_IDS = [*CATALOG.dialogues, "nope"]

tokens = st.sampled_from(["none", "none", "current", "current", "stale", "garbage"])
free_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", " ", "\n\t ", "\x00\x1b", "ok", "not sure", "Really hard"]),
    st.sampled_from(["😔 شعرت بالتعب", "עבודה קשה היום 👍", "{what} and {nope}", "None"]),
    st.just("x" * (MAX_ANSWER_CHARS + 1)),
    st.just(SENTENCE),
    st.integers(-1, 12).map(str),
    st.sampled_from(["²", "٣", " 2 "]),
    st.sampled_from(ALL_LABELS),
)
commands = st.builds(
    lambda word, slash, upper: ("/" if slash else "") + (word.upper() if upper else word),
    st.sampled_from(WORDS),
    st.booleans(),
    st.booleans(),
)
argument_commands = st.one_of(
    st.sampled_from(DIALOGUE_IDS).map(lambda d: f"/reflect {d}"),
    st.sampled_from(DIALOGUE_IDS).map(lambda d: f"reflect {d}"),
    st.sampled_from(["journal 1", "/journal 2", "/menu", "/frobnicate", "/x@bot", "/"]),
)
texts = st.builds(
    Action,
    kind=st.just(IncomingKind.TEXT),
    text=st.one_of(free_text, commands, argument_commands),
    token=tokens,
)
answers = st.builds(Action, kind=st.just(IncomingKind.TEXT), text=st.just(SENTENCE))
presses = st.builds(
    Action, kind=st.just(IncomingKind.CHOICE), text=st.sampled_from(ALL_VALUES), token=tokens
)
picks = st.builds(
    Action,
    kind=st.sampled_from([IncomingKind.CHOICE, IncomingKind.TEXT]),
    token=st.sampled_from(["none", "current", "current"]),
    pick=st.integers(0, 5),
)
starts = st.builds(
    Action,
    kind=st.just(IncomingKind.START),
    text=st.sampled_from(
        ["", "", "branching", "branching", "gibbs_quick", "driscoll", "gibbs", "nope"]
    ),
)
others = st.builds(Action, kind=st.sampled_from([IncomingKind.LEAVE, IncomingKind.UNSUPPORTED]))
# Answers and presses of what is on screen are frequent, so runs get far and finish.
any_action = st.one_of(
    texts, texts, answers, answers, answers, picks, picks, picks, presses, starts, others
)
# Most sessions open a reflection straight away; the short branching one most often.
opening = st.builds(
    Action,
    kind=st.just(IncomingKind.START),
    text=st.sampled_from(["branching", "branching", "branching", "gibbs_quick", "driscoll", ""]),
)
sessions = st.builds(
    lambda first, rest: [first, *rest],
    opening,
    st.lists(any_action, min_size=8, max_size=40),
)

pausing = st.sampled_from(
    [
        Action(IncomingKind.TEXT, "pause"),
        Action(IncomingKind.TEXT, "/pause"),
        Action(IncomingKind.LEAVE),
        Action(IncomingKind.START),
        Action(IncomingKind.TEXT, "menu"),
    ]
)
RESUME = [Action(IncomingKind.START), Action(IncomingKind.CHOICE, token="current", pick=0)]
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def play(actions: list[Action]) -> FakeService:
    service = FakeService()
    for number, action in enumerate(actions):
        service.handle(build(action, service.state, number))
    return service


@PROPERTY_SETTINGS
@given(sessions)
def test_any_messages_keep_the_engine_running_and_the_record_true(actions: list[Action]) -> None:
    play(actions)


@PROPERTY_SETTINGS
@given(
    st.sampled_from(["branching", "gibbs_quick", "driscoll", "gibbs"]),
    st.lists(st.one_of(answers, answers, picks, texts), max_size=12),
    pausing,
    st.lists(any_action, max_size=8),
)
def test_pause_then_resume_never_loses_an_answer(
    dialogue_id: str, before: list[Action], pause: Action, between: list[Action]
) -> None:
    start = [Action(IncomingKind.START, dialogue_id)]
    service = play([*start, *before, pause, *between, *RESUME])
    # Whatever happened in between, no draft lost an answer it had when it was paused:
    # a draft still waiting would bring back exactly those answers, and a run taken up
    # again (or finished) still has every one of those steps answered.
    for key, (answers_then, _state) in service.at_pause.items():
        run = service.runs.get(key)
        if run is None:
            continue  # discarded on purpose
        if run.status == "paused":
            assert run.state is not None
            waiting = RunState.from_json(run.state).answers
            assert answers_then.items() <= waiting.items()
        else:
            assert set(answers_then) <= set(run.revisions)


@PROPERTY_SETTINGS
@given(st.lists(st.one_of(answers, answers, picks, picks, texts), min_size=5, max_size=30))
def test_the_branching_dialogue_always_reaches_a_sensible_place(actions: list[Action]) -> None:
    service = play([Action(IncomingKind.START, "branching"), *actions])
    state = service.state
    if state.run is not None:
        dialogue = CATALOG.dialogues[state.run.dialogue_id]
        assert dialogue.has_step(state.run.step_id)
        assert all(dialogue.has_step(step_id) for step_id in state.run.history)
        # Free writing keeps each message under its own key: entry, entry_part_2, ...
        kept = {key.split(PART)[0] for key in state.run.answers}
        assert kept <= {step.id for step in dialogue.steps}
        assert all(
            dialogue.step(key.split(PART)[0]).collect is not None
            for key in state.run.answers
            if PART in key
        )


# ---- the stand-in itself must see what it is meant to check ---------------------------


def test_the_stand_in_sees_a_pause_and_a_resume() -> None:
    service = play(
        [
            Action(IncomingKind.START, "branching"),
            Action(IncomingKind.TEXT, SENTENCE),
            Action(IncomingKind.TEXT, "pause"),
            *RESUME,
        ]
    )
    assert service.resumes == 1
    assert service.state.run is not None
    assert service.state.run.answers == {"what": SENTENCE}
    assert service.at_pause["run-1"][0] == {"what": SENTENCE}


def test_the_stand_in_notices_a_run_left_open() -> None:
    service = play([Action(IncomingKind.START, "branching")])
    service.runs["stray"] = StoredRun("stray", "branching", "open", None, NOW, 99)
    with pytest.raises(AssertionError):
        service.check_record(Turn(state=service.state))


def test_the_stand_in_notices_a_lost_answer_on_resume() -> None:
    service = play(
        [
            Action(IncomingKind.START, "branching"),
            Action(IncomingKind.TEXT, SENTENCE),
            Action(IncomingKind.TEXT, "pause"),
            Action(IncomingKind.START),
        ]
    )
    # Pretend the stored draft forgot the answer, as a broken save would.
    stored = service.runs["run-1"].state
    assert stored is not None
    stored["answers"] = {}
    with pytest.raises(AssertionError):
        service.handle(build(RESUME[1], service.state, 99))


def test_the_stand_in_finishes_a_whole_branching_run() -> None:
    service = play(
        [
            Action(IncomingKind.START, "branching"),
            Action(IncomingKind.TEXT, SENTENCE),
            Action(IncomingKind.TEXT, "Long"),
            Action(IncomingKind.TEXT, "More detail than that."),
            Action(IncomingKind.TEXT, "skip"),
            Action(IncomingKind.CHOICE, "done", token="current"),
        ]
    )
    assert service.finishes == 1
    run = service.runs["run-1"]
    assert run.status == "finished"
    assert run.check_in_days == 0
    assert {step: texts[-1] for step, texts in run.revisions.items()} == {
        "what": SENTENCE,
        "route": "Long",
        "detail": "More detail than that.",
        "check": "No thanks",
        "close": "Done",
    }
