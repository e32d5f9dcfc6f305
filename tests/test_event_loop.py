"""`critical-friend run` serves on uvloop where it runs, asyncio's own loop elsewhere."""

from __future__ import annotations

import asyncio
import platform
import sys

import pytest

from bot import event_loop


async def loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(
    sys.platform == "win32" or platform.python_implementation() != "CPython",
    reason="uvloop is a dependency on CPython outside Windows only",
)
def test_the_bot_serves_on_uvloop_where_it_is_a_dependency() -> None:
    assert event_loop.serve(loop_module()).startswith("uvloop")


def test_without_uvloop_the_bot_serves_on_asyncios_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert event_loop.serve(loop_module()).startswith("asyncio")
