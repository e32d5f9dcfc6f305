"""Pacing every message the bot sends to Telegram so that none is refused for flooding.

Telegram counts the messages that reach it in any one second; over its limit it answers
429 with `retry_after`, and python-telegram-bot then halts *all* sending for that long
(a second at least, often many). A refusal costs far more than a little spare room, so
the pace is chosen to make one impossible, not merely rare:

- A sliding window lets at most `window` calls to a chat start in any one second.
- Calls that started before a second began can still arrive inside it, late because a
  busy process or network held them up. Counting the calls on their way (`in_flight`)
  caps how many can: at most that many.

So in any second Telegram sees at most `window + in_flight` calls to a chat, kept just
under the limit. Unlike a leaky bucket, the window makes up for a moment the process was
held up (a pause of 20 ms is followed by the 20 calls it missed, within the second's
allowance and the burst below), so a busy process loses no rate. Starts beyond a burst
(a tenth of the window, five at least) are spaced evenly, so a reply after a busy moment
waits a space, not the rest of a second. `in_flight` still keeps enough calls on their
way for the rate (at 1,000 a second, 10 calls answered within 10 ms each).

Only calls to a chat are paced and counted, as in python-telegram-bot's own limiter:
answering a button press or setting the commands is not a message, and must not wait
behind a window full of nudges. (python-telegram-bot never passes getUpdates to a limiter.)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

MARGIN = 0.005  # of the limit, never used: the two clocks and rounding
IN_FLIGHT = 0.01  # of a second's allowance on its way at once
MIN_IN_FLIGHT = 3  # enough for about 30 messages a second over a 100 ms round trip
BURST = 0.1  # of the window: the most calls that may start at once (see SlidingWindow)
MIN_BURST = 5  # a button press and what answers it (three or four calls) go at once
LOWEST_RATE = 5.0
PERIOD_S = 1.0

ApiResult = bool | dict[str, Any] | list[dict[str, Any]]


class SlidingWindow:
    """At most `limit` calls start in any `period` seconds, and at most `burst` at once:
    beyond that, starts are spaced at the window's average pace (`period / limit` apart),
    so a backlog goes out evenly rather than a whole second's allowance at once followed
    by a second of waiting. Callers wait their turn in order.

    The spacing is why a reply does not wait long after a busy moment: were a second's
    allowance to go out at once, the next call would wait until that second had passed
    (bench/bench_telegram.py: p95 90 ms added, against 14 ms spaced). A `burst` of a
    tenth of the limit still lets a process held up for up to a tenth of a second make
    up what it missed."""

    def __init__(
        self,
        limit: int,
        period: float = PERIOD_S,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("a window lets one call through at least")
        self.limit = limit
        self.period = period
        self.burst = limit if burst is None else max(1, min(burst, limit))
        self._spacing = period / limit
        # The generic cell rate algorithm: the instant the next start is due at the
        # average pace; a start may come up to `burst - 1` spacings before it.
        self._due = clock()
        self._tolerance = (self.burst - 1) * self._spacing
        self._clock = clock
        self._sleep = sleep
        # When each start in the window leaves it. Kept as that instant, not the start's
        # own, so the test that frees a place and the wait for one compare one number:
        # computed twice in floating point, they could disagree and let a call through
        # into a full window.
        self._leaving: deque[float] = deque()
        self._turn = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._turn:
            while True:
                now = self._clock()
                leaving = self._leaving
                while leaving and leaving[0] <= now:
                    leaving.popleft()
                due = max(self._due, now)
                wait = due - self._tolerance - now
                if len(leaving) >= self.limit:
                    wait = max(wait, leaving[0] - now)
                if wait <= 0:
                    leaving.append(now + self.period)
                    self._due = due + self._spacing
                    return
                await self._sleep(wait)

    def in_window(self) -> int:
        """How many starts the window holds (those of the last `period`, as last seen)."""
        return len(self._leaving)


class PacedLimiter(AIORateLimiter):
    """python-telegram-bot's AIORateLimiter (429 retries, group limits) with the start of
    every call to a chat held to a sliding window and a cap on calls in flight, as above."""

    def __init__(self, messages_per_second: float) -> None:
        rate = messages_per_second
        if rate < LOWEST_RATE:
            raise ValueError(f"messages_per_second must be at least {LOWEST_RATE}")
        # The minimum gives way at low rates (a quarter of the limit at most), so the
        # bound holds at every rate from LOWEST_RATE up.
        self.in_flight = max(
            1, min(MIN_IN_FLIGHT, math.floor(rate / 4)), math.floor(rate * IN_FLIGHT)
        )
        self.window = math.floor(rate * (1 - MARGIN)) - self.in_flight
        # The overall limit is the window's: AIORateLimiter's own bucket is switched off.
        super().__init__(overall_max_rate=0, max_retries=3)
        self._on_the_way = asyncio.Semaphore(self.in_flight)
        burst = max(MIN_BURST, math.ceil(self.window * BURST))
        self._starts = SlidingWindow(self.window, burst=burst)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> ApiResult:
        if data.get("chat_id") is None:
            # Telegram's limits count messages to chats. A call with none (answering a
            # button press, setting the commands) is not paced, as in python-telegram-bot's
            # own limiter, and waits behind no message.
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

        async def paced(*call_args: Any, **call_kwargs: Any) -> ApiResult:
            # Every attempt, a retry after a 429 too, is counted. The slot on the way is
            # held from before the window lets the call go until its answer is read, so
            # a call counts as on its way for as long as it can still reach Telegram.
            async with self._on_the_way:
                await self._starts.acquire()
                return await callback(*call_args, **call_kwargs)

        return await super().process_request(paced, args, kwargs, endpoint, data, rate_limit_args)

    def most_in_any_second(self) -> float:
        """The most calls to a chat Telegram can receive in one second from this limiter."""
        return self.window + self.in_flight
