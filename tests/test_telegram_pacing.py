"""The pace chosen for Telegram can never put more calls into one second than the limit.

The bound is arithmetic (see bot/channels/telegram_pacing.py); that it holds on the wire
is shown against the fake Telegram in test_telegram.py and in bench/bench_nudges.py.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.telegram_pacing import LOWEST_RATE, MARGIN, PacedLimiter


@given(st.floats(min_value=LOWEST_RATE, max_value=100_000))
def test_bucket_pace_and_calls_on_their_way_stay_under_the_limit(rate: float) -> None:
    limiter = PacedLimiter(rate)
    assert limiter.most_in_any_second() <= rate * (1 - MARGIN) + 1e-9
    assert limiter.burst >= 1  # the limiter lets one call through at least
    assert limiter.in_flight >= 1
    assert limiter.pace >= rate / 2  # the margin never eats most of the limit


@pytest.mark.parametrize(("rate", "pace"), [(30, 23.85), (1000, 980.0)])
def test_the_pace_at_telegrams_usual_limit_and_a_paid_broadcast_one(
    rate: float, pace: float
) -> None:
    assert PacedLimiter(rate).pace == pytest.approx(pace)


def test_a_rate_too_low_to_keep_the_promise_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        PacedLimiter(LOWEST_RATE - 1)


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
            *(limiter.process_request(call, (), {}, "sendMessage", {}, None) for _ in range(10))
        )
        await limiter.shutdown()
        return most

    assert asyncio.run(scenario()) == 3
