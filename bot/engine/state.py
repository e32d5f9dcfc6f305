"""Conversation state: plain data, JSON in and out, so it can be stored and replayed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    IDLE = "idle"  # nothing in progress
    CHOOSING = "choosing"  # a menu is open: which model, or resume a draft
    IN_RUN = "in_run"  # answering the questions of a reflection
    CONFIRM_STOP = "confirm_stop"  # asked whether to keep or discard the draft


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
    # An answer to a `guard: blame` step that used blame language: not saved yet, while
    # the worker is invited to rephrase it or send it as written. Kept through a pause.
    held_answer: str | None = None

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
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        # Field by field, with defaults, so a state saved by an older version still loads.
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
            held_answer=data.get("held_answer"),
        )


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
