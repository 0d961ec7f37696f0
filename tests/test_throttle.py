"""Throttle: concurrency, rate cap spacing, pool-wide pause and adaptive cap after 429s."""

from __future__ import annotations

import asyncio

import pytest

from bulk_import.throttle import DECREASE, Throttle


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
        throttle.release(status=201)

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
        throttle.release(status=201)

    await asyncio.gather(*(one() for _ in range(20)))
    assert stamps[-1] - start >= 19 / 200 * 0.95
    assert throttle.rate == 200


async def test_429_pauses_everyone_and_lowers_the_cap() -> None:
    """A 429 with Retry-After pauses the pool and creates an adaptive cap below the seen rate."""
    clock = Clock()
    throttle = Throttle(concurrency=4, clock=clock)
    assert throttle.rate is None
    for _ in range(100):
        await throttle.acquire()
        clock.now += 0.01  # 100 answers per second
        throttle.release(status=201)
    await throttle.acquire()
    throttle.release(status=429, retry_after=0.05)
    assert throttle.rate_limited == 1
    assert throttle.rate == pytest.approx(100 * DECREASE, rel=0.05)
    first_cap = throttle.rate
    # a second 429 within the same burst does not lower the cap again
    clock.now += 0.06
    await throttle.acquire()
    throttle.release(status=429, retry_after=None)
    assert throttle.rate == first_cap
    # without 429s the cap climbs back
    for _ in range(300):
        clock.now += 0.02
        await throttle.acquire()
        throttle.release(status=201)
    assert throttle.rate is not None
    assert throttle.rate > first_cap


async def test_retry_after_pauses_new_requests() -> None:
    """After a 429 asking for 0.1 s, the next request waits that long."""
    throttle = Throttle(concurrency=2)
    await throttle.acquire()
    throttle.release(status=429, retry_after=0.1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await throttle.acquire()
    assert loop.time() - start >= 0.09
    throttle.release(status=201)


async def test_user_rate_stays_the_ceiling() -> None:
    """The adaptive cap never lifts the cap above --rate."""
    clock = Clock()
    throttle = Throttle(concurrency=2, rate=10, clock=clock)
    await throttle.acquire()
    throttle.release(status=429, retry_after=None)
    assert throttle.rate is not None
    assert throttle.rate <= 10


async def test_no_answer_teaches_nothing() -> None:
    """A request with no answer (connection error) frees its slot and changes no cap."""
    throttle = Throttle(concurrency=1)
    await throttle.acquire()
    throttle.release(status=None)
    await asyncio.wait_for(throttle.acquire(), 1)
    throttle.release(status=None)
    assert throttle.rate is None
