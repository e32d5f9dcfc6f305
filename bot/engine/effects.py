"""What the engine asks the outside world to do. The service applies these in the same
transaction as the new state, so a turn either happens completely or not at all."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.state import RunState


@dataclass(frozen=True, slots=True)
class RunStarted:
    key: str
    dialogue_id: str


@dataclass(frozen=True, slots=True)
class AnswerSaved:
    """A step's answer, first or changed; the service keeps earlier text as revisions."""

    key: str
    step_id: str
    text: str


@dataclass(frozen=True, slots=True)
class RunPaused:
    """Keep the run as a draft; `run` is where it stood, to pick it up again later."""

    key: str
    run: RunState


@dataclass(frozen=True, slots=True)
class RunResumed:
    key: str


@dataclass(frozen=True, slots=True)
class RunDiscarded:
    key: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    key: str
    summary: str


@dataclass(frozen=True, slots=True)
class CheckInRequested:
    """The worker asked to be checked in with in `days` days about their action plan."""

    key: str
    days: int


Effect = (
    RunStarted
    | AnswerSaved
    | RunPaused
    | RunResumed
    | RunDiscarded
    | RunFinished
    | CheckInRequested
)
