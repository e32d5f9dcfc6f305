"""The pace chosen for Telegram can never put more calls into one second than the limit.

The bound is arithmetic (see bot/channels/telegram_pacing.py); the sliding window that
enforces it is tested here with a clock of the test's own, and that it holds on the wire
is shown against the fake Telegram in test_telegram.py and in bench/bench_nudges.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from telegram.error import RetryAfter

from bot.channels.telegram_pacing import LOWEST_RATE, MARGIN, PacedLimiter, SlidingWindow


@given(st.floats(min_value=LOWEST_RATE, max_value=100_000))
def test_the_window_and_calls_on_their_way_stay_under_the_limit(rate: float) -> None:
    limiter = PacedLimiter(rate)
    assert limiter.most_in_any_second() <= rate * (1 - MARGIN) + 1e-9
    assert limiter.window >= 1  # the limiter lets one call through at least
    assert limiter.in_flight >= 1
    assert limiter.window >= rate / 2  # the margin never eats most of the limit


@pytest.mark.parametrize(("rate", "window"), [(30, 26), (1000, 985)])
def test_the_window_at_telegrams_usual_limit_and_a_paid_broadcast_one(
    rate: float, window: int
) -> None:
    assert PacedLimiter(rate).window == window


def test_a_rate_too_low_to_keep_the_promise_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        PacedLimiter(LOWEST_RATE - 1)


ONE = Fraction(1)  # a period of one second, so the window's pace is an exact fraction too


class Clock:
    """Time that moves only when a caller sleeps, or when the test moves it; exact
    fractions, so a sleep until the oldest start leaves the window lands on it."""

    def __init__(self) -> None:
        self.now = Fraction(100)

    def __call__(self) -> float:
        return self.now  # type: ignore[return-value]

    async def sleep(self, seconds: float) -> None:
        self.now += max(Fraction(seconds), Fraction(0))
        await asyncio.sleep(0)


def starts_of(
    window: SlidingWindow, clock: Clock, calls: int, pauses: dict[int, float]
) -> list[float]:
    async def scenario() -> list[float]:
        started = []
        for i in range(calls):
            clock.now += Fraction(pauses.get(i, 0.0))
            await window.acquire()
            started.append(clock.now)
        return started

    return asyncio.run(scenario())


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=12),
    burst=st.integers(min_value=1, max_value=12),
    calls=st.integers(min_value=1, max_value=60),
    pauses=st.dictionaries(st.integers(0, 59), st.floats(0, 2.5), max_size=10),
)
def test_no_second_holds_more_starts_than_the_window(
    limit: int, burst: int, calls: int, pauses: dict[int, float]
) -> None:
    clock = Clock()
    window = SlidingWindow(limit, ONE, burst=burst, clock=clock, sleep=clock.sleep)
    started = starts_of(window, clock, calls, pauses)
    assert len(started) == calls
    for first, later in zip(started, started[limit:], strict=False):
        assert later - first >= 1  # limit + 1 starts never fit in one second


class FloatClock:
    """Time in floating point, as time.monotonic gives it, moved only by sleeping."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


@settings(max_examples=200, deadline=None)
@example(  # found against that version: 6 of 60 starts within a second of 36 others
    start=0.0, limit=36, burst=27, calls=60, pauses={15: 1.8372947901986019, 18: 0.5031613883015285}
)
@given(
    start=st.floats(min_value=0, max_value=1e6),
    limit=st.integers(min_value=2, max_value=40),
    burst=st.integers(min_value=1, max_value=40),
    calls=st.integers(min_value=1, max_value=90),
    pauses=st.dictionaries(st.integers(0, 89), st.floats(0, 2.5), max_size=10),
)
def test_rounding_never_lets_a_call_into_a_full_window(
    start: float, limit: int, burst: int, calls: int, pauses: dict[int, float]
) -> None:
    """With a clock in floating point, freeing a place and waiting for one must agree: a
    version that computed them apart let whole bursts into a full window."""
    clock = FloatClock(start)
    window = SlidingWindow(limit, 1.0, burst=burst, clock=clock, sleep=clock.sleep)

    async def scenario() -> list[float]:
        started = []
        for i in range(calls):
            clock.now += pauses.get(i, 0.0)
            await window.acquire()
            started.append(clock.now)
        return started

    started = asyncio.run(scenario())
    for first, later in zip(started, started[limit:], strict=False):
        assert later - first >= 1.0 - 1e-6  # within rounding of a second, never less


def test_a_pause_is_made_up_within_the_second() -> None:
    """A leaky bucket loses what a held-up process missed; the window lets it go at once,
    as long as the second's allowance is not used up."""
    clock = Clock()
    window = SlidingWindow(10, ONE, clock=clock, sleep=clock.sleep)
    started = starts_of(window, clock, 10, dict.fromkeys(range(1, 5), 0.05) | {5: 0.3})
    assert started[5:] == [started[5]] * 5  # the five after the pause did not wait
    assert started[-1] - started[0] < 1.0


def test_callers_wait_their_turn_in_order() -> None:
    async def scenario() -> list[int]:
        clock = Clock()
        window = SlidingWindow(2, ONE, clock=clock, sleep=clock.sleep)
        order: list[int] = []

        async def call(i: int) -> None:
            await window.acquire()
            order.append(i)

        await asyncio.gather(*(call(i) for i in range(7)))
        return order

    assert asyncio.run(scenario()) == list(range(7))


def test_no_more_calls_are_on_their_way_than_the_cap() -> None:
    async def scenario() -> int:
        limiter = PacedLimiter(100)  # 3 on their way at most
        await limiter.initialize()
        busy = most = 0

        async def call(*_: object, **__: object) -> bool:
            nonlocal busy, most
            busy += 1
            most = max(most, busy)
            await asyncio.sleep(0.05)  # uncapped, about 7 would be on their way
            busy -= 1
            return True

        await asyncio.gather(
            *(
                limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 1}, None)
                for _ in range(10)
            )
        )
        await limiter.shutdown()
        return most

    assert asyncio.run(scenario()) == 3


def test_a_call_retried_after_a_429_is_counted_again() -> None:
    async def scenario() -> tuple[int, int]:
        limiter = PacedLimiter(100)
        attempts = 0

        async def call(*_: object, **__: object) -> bool:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise RetryAfter(dt.timedelta(seconds=0))
            return True

        await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 1}, None)
        return attempts, limiter._starts.in_window()

    assert asyncio.run(scenario()) == (2, 2)


def test_calls_to_no_chat_are_not_paced_and_wait_behind_no_message() -> None:
    """Telegram's limits count messages to chats: answering a button press is not held
    up by a window full of messages, nor counted in it."""

    async def scenario() -> tuple[bool, int]:
        limiter = PacedLimiter(100)
        blocked = asyncio.Event()

        async def held(*_: object, **__: object) -> bool:
            await blocked.wait()
            return True

        async def answer(*_: object, **__: object) -> bool:
            return True

        # Every slot on the way is taken by a message that has no answer yet.
        messages = [
            asyncio.create_task(
                limiter.process_request(held, (), {}, "sendMessage", {"chat_id": 1}, None)
            )
            for _ in range(limiter.in_flight + 2)
        ]
        await asyncio.sleep(0.01)
        answered = await asyncio.wait_for(
            limiter.process_request(answer, (), {}, "answerCallbackQuery", {}, None), 1
        )
        counted = limiter._starts.in_window()
        blocked.set()
        await asyncio.gather(*messages)
        return bool(answered), counted

    assert asyncio.run(scenario()) == (True, 3)  # only the three messages that started


def test_a_backlog_goes_out_evenly_after_the_first_few() -> None:
    """A second's allowance does not go out at once: after `burst`, starts are spaced at
    the window's pace, so a reply after a busy moment waits one space, not a second."""
    clock = Clock()
    window = SlidingWindow(20, ONE, burst=2, clock=clock, sleep=clock.sleep)
    started = starts_of(window, clock, 8, {})
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert gaps == [0] + [Fraction(1, 20)] * 6  # the burst, then the window's pace


def test_the_limiter_spaces_a_backlog_after_a_tenth_of_the_window_five_at_least() -> None:
    assert PacedLimiter(1000)._starts.burst == 99  # a tenth of the window of 985
    assert PacedLimiter(30)._starts.burst == 5  # a tenth of 26 is under five
