"""Conversation state: plain data, JSON in and out, so it can be stored and replayed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class Mode(StrEnum):
    IDLE = "idle"  # nothing in progress
    CHOOSING = "choosing"  # a menu is open: which model, or resume a draft
    IN_RUN = "in_run"  # answering the questions of a reflection
    CONFIRM_STOP = "confirm_stop"  # asked whether to keep or discard the draft


class Held(StrEnum):
    """Why an answer is held back (`RunState.held_answer`) rather than saved."""

    CARE = "care"  # a distress or safeguarding cue: asked to carry on, pause or stop
    IDENTIFIERS = "identifiers"  # looks like it identifies someone: Redact, Keep or Edit
    EDITING = "editing"  # the same, after Edit: waiting for the new version
    BLAME = "blame"  # a `guard: blame` step: invited to rephrase or send it as written


class Spotted(NamedTuple):
    """Something the identifier guard found in a held answer, and what Redact writes."""

    kind: str  # "phone", "name", ...
    start: int  # character offsets in the held answer
    end: int
    text: str  # as written
    label: str  # "[phone]", "[name]", ...


class Coached(NamedTuple):
    """A coaching follow-up asked about the current step's answer (bot.engine.coach)."""

    rule: str  # the rule in dialogues/coach.yaml that fitted
    question: str  # as asked
    paragraphs: int  # of the first answer, so the reply can be told from it when saved


@dataclass(slots=True)
class RunState:
    """One reflection in progress."""

    key: str  # stable id of the conversation, given by the service
    dialogue_id: str
    step_id: str
    started_at: str  # ISO 8601, UTC
    answers: dict[str, str] = field(default_factory=dict)  # step id -> current text
    skipped: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # steps behind us, for `back`
    probed: list[str] = field(default_factory=list)  # steps whose follow-up was asked
    # The first answer to the current step while its follow-up question is open.
    pending_answer: str | None = None
    # An answer not saved yet, for the reason in `held_for`: kept through a pause, saved
    # only by the worker's choice, dropped by back or skip.
    held_answer: str | None = None
    held_for: Held | None = None
    # Held.CARE: the kinds of cue the care message answered ("worker_at_risk", ...).
    held_cues: list[str] = field(default_factory=list)
    # Held.IDENTIFIERS and Held.EDITING: what was found in `held_answer`.
    held_found: list[Spotted] = field(default_factory=list)
    # Cues already shown for an answer to a step ("step:kind:phrase"): never shown twice.
    cues_shown: list[str] = field(default_factory=list)
    # The coaching follow-up asked on the current step, kept until its answer is saved.
    coached: Coached | None = None

    def to_json(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict, which deep-copies every answer each turn.
        return {
            "key": self.key,
            "dialogue_id": self.dialogue_id,
            "step_id": self.step_id,
            "started_at": self.started_at,
            "answers": dict(self.answers),
            "skipped": list(self.skipped),
            "history": list(self.history),
            "probed": list(self.probed),
            "pending_answer": self.pending_answer,
            "held_answer": self.held_answer,
            "held_for": self.held_for.value if self.held_for else None,
            "held_cues": list(self.held_cues),
            "held_found": [list(item) for item in self.held_found],
            "cues_shown": list(self.cues_shown),
            "coached": list(self.coached) if self.coached else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        # Field by field, with defaults, so a state saved by an older version still loads.
        held_answer = data.get("held_answer")
        held_for = data.get("held_for")
        if held_for is None and held_answer is not None:
            held_for = Held.BLAME  # before there were other reasons, blame was the only one
        return cls(
            key=str(data["key"]),
            dialogue_id=str(data["dialogue_id"]),
            step_id=str(data["step_id"]),
            started_at=str(data.get("started_at", "")),
            answers={str(k): str(v) for k, v in data.get("answers", {}).items()},
            skipped=[str(x) for x in data.get("skipped", [])],
            history=[str(x) for x in data.get("history", [])],
            probed=[str(x) for x in data.get("probed", [])],
            pending_answer=data.get("pending_answer"),
            held_answer=held_answer,
            held_for=Held(held_for) if held_for else None,
            held_cues=[str(x) for x in data.get("held_cues", [])],
            held_found=[
                Spotted(str(kind), int(start), int(end), str(text), str(label))
                for kind, start, end, text, label in data.get("held_found", [])
            ],
            cues_shown=[str(x) for x in data.get("cues_shown", [])],
            coached=_coached(data.get("coached")),
        )


def _coached(data: Any) -> Coached | None:
    if not data:
        return None  # also a state saved before there was coaching
    rule, question, paragraphs = data
    return Coached(str(rule), str(question), int(paragraphs))


@dataclass(slots=True)
class SessionState:
    """Everything the engine knows about one worker between two messages."""

    mode: Mode = Mode.IDLE
    run: RunState | None = None
    # Increases every time a question is asked; the question's reply token.
    prompt_seq: int = 0
    # The (value, label) pairs of the question on screen, so "2" or a label can be resolved.
    pending: list[tuple[str, str]] = field(default_factory=list)
    question: str = ""  # the open question's text, to show again after help or a slip

    @property
    def reply_token(self) -> str:
        return f"q{self.prompt_seq}"

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "run": self.run.to_json() if self.run else None,
            "prompt_seq": self.prompt_seq,
            "pending": [list(pair) for pair in self.pending],
            "question": self.question,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionState:
        run = data.get("run")
        return cls(
            mode=Mode(data.get("mode", "idle")),
            run=RunState.from_json(run) if run else None,
            prompt_seq=int(data.get("prompt_seq", 0)),
            pending=[(str(v), str(label)) for v, label in data.get("pending", [])],
            question=str(data.get("question", "")),
        )
