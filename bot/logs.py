"""Logging that never carries what a worker wrote.

The bot's own log lines name events, ids and counts, never text. The platform libraries
are another matter: at debug level slack_sdk logs request bodies, python-telegram-bot and
httpx log URLs with the bot token in them, and slack-bolt's warnings about unexpected
requests quote the whole payload. So their records are held to warnings and above, and
even those are shown without their details: which library, how serious, and the kind of
error, which is enough to know where to look.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

# Loggers of libraries that handle message payloads or tokens.
PLATFORM_LOGGERS = (
    "slack_bolt",
    "slack_sdk",
    "telegram",
    "httpx",
    "httpcore",
    "aiohttp",
    "apscheduler",
)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def is_platform(name: str) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in PLATFORM_LOGGERS)


class WithholdPlatformDetails(logging.Filter):
    """Lets a platform library's record through only as a bare, text-free line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_platform(record.name):
            return True
        if record.levelno < logging.WARNING:
            return False
        kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        record.msg = "details withheld, as they may contain what a worker wrote" + (
            f" ({kind})" if kind else ""
        )
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def configure(level: str, stream: TextIO | None = None) -> None:
    """Log to stderr (or `stream`) at `level` (debug, info, warning, error), privately."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(WithholdPlatformDetails())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    for name in PLATFORM_LOGGERS:
        # Their debug and info lines are never shown, so they need not be made at all.
        logging.getLogger(name).setLevel(logging.WARNING)
