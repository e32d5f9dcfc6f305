"""Pacing every call the bot makes to Telegram so that none is refused for flooding.

Telegram counts the messages that reach it in any one second; over its limit it answers
429 with `retry_after`, and python-telegram-bot then halts *all* sending for that long
(a second at least, often many). A refusal costs far more than a little spare room, so
the pace is chosen to make one impossible, not merely rare:

- python-telegram-bot's limiter is a leaky bucket: in any second it lets through at most
  its bucket (`burst`) plus a second's `pace`.
- Calls let through before a second began can still arrive inside it, late because a
  busy process or network held them up; they bunch up behind whatever delayed them.
  Counting the calls on their way (`in_flight`) caps how many can: at most that many.

So in any second Telegram sees at most `burst + pace + in_flight` calls, and `pace` is
set to keep that a small margin under the limit. A small `burst` still lets one reply's
few messages out at once; `in_flight` still keeps enough calls on their way for the
rate (at 1,000 a second, 10 calls answered within 10 ms each). The price is paid at low
limits: at Telegram's usual 30 a second, the pace is about 24.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

MARGIN = 0.005  # of the limit, never used: the two clocks and rounding
BURST = 0.005  # of a second's allowance at once
MIN_BURST = 3  # one reply's messages, with a keyboard edit and a "typing…"
IN_FLIGHT = 0.01  # of a second's allowance on its way at once
MIN_IN_FLIGHT = 3  # enough for about 30 messages a second over a 100 ms round trip
LOWEST_RATE = 5.0

ApiResult = bool | dict[str, Any] | list[dict[str, Any]]


class PacedLimiter(AIORateLimiter):
    """AIORateLimiter with a bucket and pace chosen as above, and a cap on calls in flight."""

    def __init__(self, messages_per_second: float) -> None:
        rate = messages_per_second
        if rate < LOWEST_RATE:
            raise ValueError(f"messages_per_second must be at least {LOWEST_RATE}")
        # The minimums give way at low rates (a quarter of the limit each at most), so the
        # bound holds at every rate from LOWEST_RATE up.
        self.burst = max(min(float(MIN_BURST), rate / 4), rate * BURST)
        self.in_flight = max(
            1, min(MIN_IN_FLIGHT, math.floor(rate / 4)), math.floor(rate * IN_FLIGHT)
        )
        self.pace = rate - self.burst - self.in_flight - rate * MARGIN
        super().__init__(
            overall_max_rate=self.burst,
            overall_time_period=self.burst / self.pace,
            max_retries=3,
        )
        self._on_the_way = asyncio.Semaphore(self.in_flight)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> ApiResult:
        # Held from before the limiter lets the call go until its answer is read, so a
        # call counts as on its way for as long as it can still reach Telegram.
        async with self._on_the_way:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

    def most_in_any_second(self) -> float:
        """The most calls Telegram can receive in one second from this limiter."""
        return self.burst + self.pace + self.in_flight
