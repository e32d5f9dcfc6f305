"""The pure conversation engine: state + input + context -> state + replies + effects."""

from bot.engine.engine import MAX_ANSWER_CHARS, Context, Draft, Turn, step
from bot.engine.state import Mode, RunState, SessionState

__all__ = [
    "MAX_ANSWER_CHARS",
    "Context",
    "Draft",
    "Mode",
    "RunState",
    "SessionState",
    "Turn",
    "step",
]
