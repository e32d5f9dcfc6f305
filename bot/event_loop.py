"""The event loop `critical-friend run` serves on.

uvloop where it is installed (a dependency everywhere but Windows): asyncio's own API, with
the loop, its sockets and its timers written in C. A message sent to Telegram costs the
process about 7 % less CPU on it (0.53 against 0.57 ms in bench/bench_nudges.py's "the
channel alone", three runs of 5,000 each), which every channel on the loop shares.
Elsewhere (Windows, where uvloop does not run) asyncio's own loop; nothing in the bot
depends on which one it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop if it is installed; None for asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def serve(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to the end on the serving loop, as asyncio.run does."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
