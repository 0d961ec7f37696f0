"""Throttle: concurrency, even spacing under a rate cap, and the adaptive cap 429s teach."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bulk_import.api import throttle as th
from bulk_import.api.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_concurrency_bounds_in_flight() -> None:
    """No more than `concurrency` holders at once."""
    throttle = Throttle(concurrency=3)
    peak = 0
    holding = 0

    async def one() -> None:
        nonlocal peak, holding
        await throttle.acquire()
        holding += 1
        peak = max(peak, holding)
        await asyncio.sleep(0.01)
        holding -= 1
        throttle.release(0.0, status=201)

    await asyncio.gather(*(one() for _ in range(20)))
    assert peak == 3


async def test_rate_spaces_requests() -> None:
    """With --rate 200, 20 requests take at least ~0.095 s (never a burst)."""
    throttle = Throttle(concurrency=50, rate=200)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stamps = []

    async def one() -> None:
        await throttle.acquire()
        stamps.append(loop.time())
        throttle.release(0.0, status=201)

    await asyncio.gather(*(one() for _ in range(20)))
    assert stamps[-1] - start >= 19 / 200 * 0.95
    assert throttle.rate == 200


async def answer(throttle: Throttle, clock: Clock, status: int, dt: float) -> None:
    async def sleep(seconds: float) -> None:  # waiting for a turn moves the fake clock
        clock.now += seconds

    await throttle.acquire(sleep=sleep)
    clock.now += dt
    throttle.release(0.0, status=status)


async def test_overload_sets_a_cap_under_the_accepted_rate() -> None:
    """Many 429s in the last second cap the rate just under what the server accepted."""
    clock = Clock()
    throttle = Throttle(concurrency=4, clock=clock)
    for i in range(th.MIN_EVIDENCE):  # 100 accepted per second, one answer in two a 429
        assert throttle.rate is None
        await answer(throttle, clock, 429 if i % 2 else 201, 0.005)
    assert throttle.rate_limited == th.MIN_EVIDENCE // 2
    assert throttle.rate == pytest.approx(100 * th.DECREASE, rel=0.15)


async def test_a_stray_429_does_not_cut_the_rate() -> None:
    """One 429 among hundreds of answers (under OVERLOAD) leaves the run at full speed."""
    clock = Clock()
    throttle = Throttle(concurrency=4, clock=clock)
    for i in range(300):
        await answer(throttle, clock, 429 if i == 150 else 201, 0.003)
    assert throttle.rate_limited == 1
    assert throttle.rate is None


async def test_decreases_are_spaced_and_the_cap_climbs_back() -> None:
    """Decreases are DECREASE_GAP_S apart; quiet time grows the cap, slowly near the limit
    found, faster beyond it."""
    clock = Clock()
    throttle = Throttle(concurrency=4, clock=clock)
    for i in range(th.MIN_EVIDENCE):
        await answer(throttle, clock, 429 if i % 2 else 201, 0.01)
    first = throttle.rate
    assert first is not None
    await answer(throttle, clock, 429, 0.01)  # within the gap: no second decrease
    assert throttle.rate == first
    await answer(throttle, clock, 201, 0.5)  # within a window of the decrease: no growth yet
    assert throttle.rate == first
    rates = []
    for _ in range(30):
        await answer(throttle, clock, 201, 1.0)
        assert throttle.rate is not None
        rates.append(throttle.rate)
    assert rates == sorted(rates)
    assert rates[-1] > first * 1.5  # a storm that is over does not leave the run crawling
    steps = [b / a for a, b in itertools.pairwise(rates)]
    assert steps[0] == pytest.approx(1 + th.INCREASE_PER_S)
    assert steps[-1] > steps[0] * 1.1
    for _ in range(5):  # very long quiet: growth is bounded, never overflows
        await answer(throttle, clock, 201, 1000.0)
    assert throttle.rate is not None


async def test_user_rate_stays_the_ceiling() -> None:
    """The adaptive cap never lifts the cap above --rate."""
    clock = Clock()
    throttle = Throttle(concurrency=2, rate=10, clock=clock)
    for _ in range(60):
        await answer(throttle, clock, 201, 1.0)
    assert throttle.rate == 10


async def test_no_answer_teaches_nothing() -> None:
    """A request with no answer (connection error) frees its slot and changes no cap."""
    throttle = Throttle(concurrency=1)
    await throttle.acquire()
    throttle.release(0.0, status=None)
    await asyncio.wait_for(throttle.acquire(), 1)
    throttle.release(0.0, status=None)
    assert throttle.rate is None


async def test_a_stopping_run_does_not_wait_for_its_turn() -> None:
    """With stopping() true the turn under the cap is not waited for."""
    throttle = Throttle(concurrency=2, rate=0.5)
    await throttle.acquire()
    throttle.release(0.0, status=201)
    await asyncio.wait_for(throttle.acquire(stopping=lambda: True), 0.5)
    throttle.release(0.0, status=None)
