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
from bot.engine.guards import (
    CARE_CONTINUE,
    CARE_PAUSE,
    CARE_STOP,
    EDIT,
    KEEP_AS_WRITTEN,
    REDACT,
)
from bot.engine.state import Held, Mode, RunState, SessionState
from bot.engine.tone import blame_phrases

__all__ = [
    "CARE_CONTINUE",
    "CARE_PAUSE",
    "CARE_STOP",
    "EDIT",
    "KEEP_AS_WRITTEN",
    "MAX_ANSWER_CHARS",
    "MAX_DRAFTS_OFFERED",
    "REDACT",
    "SEND_AS_WRITTEN",
    "Context",
    "Draft",
    "Held",
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
