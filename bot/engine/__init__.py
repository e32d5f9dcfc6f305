"""The pure conversation engine: state + input + context -> state + replies + effects."""

from bot.engine import wording
from bot.engine.engine import (
    MAX_ANSWER_CHARS,
    MAX_DRAFTS_OFFERED,
    SEND_AS_WRITTEN,
    Context,
    Draft,
    Turn,
    clean_text,
    current_question,
    step,
)
from bot.engine.state import Mode, RunState, SessionState
from bot.engine.tone import blame_phrases

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_DRAFTS_OFFERED",
    "SEND_AS_WRITTEN",
    "Context",
    "Draft",
    "Mode",
    "RunState",
    "SessionState",
    "Turn",
    "blame_phrases",
    "clean_text",
    "current_question",
    "step",
    "wording",
]
