"""Drive the limiter against a simulated API in virtual time: fast, deterministic, no sockets.

:class:`VirtualLoop` is an asyncio event loop whose clock jumps to the next timer instead of
waiting for it, so a 15-second import takes a fraction of a second and runs the same every time.
:class:`Server` is the API: a concurrency limit that answers 429 at once to any request beyond it
(no ``Retry-After``), a token-bucket rate limit that answers 429 + ``Retry-After`` the way the
sandbox does, latency with jitter (or latency that grows with a queue), and limits that change at
given times. :func:`simulate` sends rows through workers that use a limiter exactly as the engine
does: acquire, request, release, and on a 429 the engine's own :class:`RetryPolicy` decides the
wait after the release (the server's ``Retry-After`` jittered up, else exponential with full
jitter; at least the backoff at the floor) and when to give up, counting the 429 as one of
``max_attempts`` tries only when the limiter is at its floor.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import selectors
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from bulk_import.api.limiter import Limiter, Permit
from bulk_import.api.retry import RetryableAnswer, RetryPolicy

T = TypeVar("T")


class Deadlock(RuntimeError):
    """Say that nothing is scheduled and nothing can wake the loop: the simulation is stuck."""


class _VirtualSelector(selectors.DefaultSelector):
    """Poll real file descriptors without blocking; advance the virtual clock instead of waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise Deadlock("every task waits and no timer is set")
        self.now += timeout
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    """Run asyncio with a clock that jumps from one timer to the next."""

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        self._virtual = selector

    def time(self) -> float:
        """Return the virtual time, in seconds since the loop was made."""
        return self._virtual.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` to completion on a fresh :class:`VirtualLoop`."""
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        return runner.run(main())


Schedule = Sequence[tuple[float, float | None]]  # (from this virtual second, the limit or None)


def _at(schedule: Schedule, now: float) -> float | None:
    if not schedule:
        return None
    i = bisect.bisect_right([t for t, _ in schedule], now) - 1
    return schedule[max(i, 0)][1]


@dataclass(slots=True)
class Server:
    """Answer requests in virtual time like a limited API: 201, or 429 when over a limit."""

    latency_s: float = 0.1
    jitter_s: float = 0.0  # latency is uniform in [latency - jitter, latency + jitter]
    concurrency: Schedule = ()  # in flight at once; beyond: 429 at once, no Retry-After
    rate: float | None = None  # token bucket, burst max(1, rate / 10), checked after latency
    retry_after_min_s: float = 1.0  # a rate 429 says Retry-After: ceil(wait), at least this
    capacity: int | None = None  # served at once; beyond, requests queue (latency grows)
    refuse_all: bool = False  # a quota exhausted: 429 to everything, at once
    seed: int = 1
    in_flight: int = 0  # accepted requests being served
    peak: int = 0  # most requests at the server at once, refused ones included
    arrivals: list[float] = field(default_factory=list)
    requests: int = 0
    refused: int = 0
    _random: random.Random = field(default_factory=random.Random)
    _tokens: float = 0.0
    _refilled: float = 0.0
    _serving: asyncio.Semaphore | None = None

    def start(self) -> None:
        """Make the server ready to answer on the running loop, from a full token bucket."""
        self._random.seed(self.seed)
        self._tokens = max(1.0, (self.rate or 0) / 10)
        self._refilled = asyncio.get_running_loop().time()
        if self.capacity is not None:
            self._serving = asyncio.Semaphore(self.capacity)

    async def request(self) -> tuple[int, float | None]:
        """Answer one request: its status and the Retry-After it carries (``None``: none)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.requests += 1
        self.arrivals.append(now)
        self.peak = max(self.peak, self.in_flight + 1)
        limit = _at(self.concurrency, now)
        if self.refuse_all or (limit is not None and self.in_flight >= limit):
            self.refused += 1
            return 429, None
        self.in_flight += 1
        try:
            latency = self.latency_s + self._random.uniform(-self.jitter_s, self.jitter_s)
            if self._serving is None:
                await asyncio.sleep(latency)
            else:
                async with self._serving:
                    await asyncio.sleep(latency)
        finally:
            self.in_flight -= 1
        wait = self._take_token(loop.time())
        if wait > 0:
            self.refused += 1
            return 429, float(max(math.ceil(wait), self.retry_after_min_s))
        return 201, None

    def _take_token(self, now: float) -> float:
        rate = self.rate
        if rate is None:
            return 0.0
        burst = max(1.0, rate / 10)
        tokens = min(burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if tokens >= 1:
            self._tokens = tokens - 1
            return 0.0
        self._tokens = tokens
        return (1 - tokens) / rate


class Gate(Protocol):
    """Say what the workers need of a limiter: the engine's view of it, and its window."""

    @property
    def at_floor(self) -> bool: ...

    @property
    def window(self) -> float: ...

    async def acquire(
        self,
        *,
        sleep: Callable[[float], Coroutine[Any, Any, None]] | None = ...,
        stopping: Callable[[], bool] | None = ...,
    ) -> Permit: ...

    def release(
        self, permit: Permit, *, status: int | None, retry_after: float | None = ...
    ) -> None: ...


class FixedGate:
    """Allow a fixed number in flight: today's behaviour without the adaptive cap, for comparing."""

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.window = float(concurrency)
        self.at_floor = True  # every 429 counts as a try, as it does today

    async def acquire(
        self,
        *,
        sleep: Callable[[float], Coroutine[Any, Any, None]] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> Permit:
        """Take a slot."""
        await self._slots.acquire()
        return Permit(epoch=0, sent_at=0.0, rank=1)

    def release(
        self, permit: Permit, *, status: int | None, retry_after: float | None = None
    ) -> None:
        """Give the slot back."""
        self._slots.release()


@dataclass(frozen=True, slots=True)
class Result:
    """Hold what one simulated run did: its pace, its 429s, and the limit over time."""

    rows: int
    done: int
    failed: int
    requests: int
    refused: int
    duration_s: float
    peak_in_flight: int
    limits: tuple[tuple[float, float], ...]  # (virtual second, window) every SAMPLE_S

    @property
    def share_429(self) -> float:
        """Return the 429s' share of all requests."""
        return self.refused / self.requests if self.requests else 0.0

    @property
    def rows_per_s(self) -> float:
        """Return rows finished per second."""
        return self.done / self.duration_s

    def settle_s(self, *, target: float, start: float, end: float, within: float = 0.1) -> float:
        """Return how long after ``start`` the window stayed within ``within`` of ``target``."""
        settled = end
        for when, window in reversed(self.limits):
            if when < start or when >= end:
                continue
            if abs(window - target) > within * target:
                break
            settled = when
        return settled - start


SAMPLE_S = 0.01


def simulate(
    server: Server,
    gate: Callable[[], Gate],
    *,
    rows: int,
    workers: int,
    max_attempts: int = 6,
    stop_at: float | None = None,
    seed: int = 7,
) -> Result:
    """Send ``rows`` through ``workers`` tasks that share one gate; return what happened.

    The engine's waits draw from the ``random`` module: it is seeded with ``seed`` for the run
    (and given back its state after), so a scenario runs the same every time.
    """
    policy = RetryPolicy(max_attempts=max_attempts)

    async def main() -> Result:
        loop = asyncio.get_running_loop()
        server.start()
        limiter = gate()
        pending = iter(range(rows))
        done = failed = 0
        samples: list[tuple[float, float]] = []

        def stopping() -> bool:
            return stop_at is not None and loop.time() >= stop_at

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds)

        async def one_row() -> bool:
            tries = counted = 0
            state = policy.new_state()
            while not stopping():
                permit = await limiter.acquire(sleep=sleep, stopping=stopping)
                if stopping():
                    limiter.release(permit, status=None)
                    return False
                status, retry_after = await server.request()
                limiter.release(permit, status=status, retry_after=retry_after)
                tries += 1
                if status != 429:
                    return True
                if limiter.at_floor:
                    counted += 1
                wait = policy.next_wait(
                    state,
                    RetryableAnswer(status, retry_after),
                    counted=counted,
                    tries=tries,
                    at_floor=limiter.at_floor,
                )
                if wait is None:
                    return False
                await asyncio.sleep(wait)
            return False

        async def worker() -> None:
            nonlocal done, failed
            for _ in pending:
                if stopping():
                    return
                if await one_row():
                    done += 1
                else:
                    failed += 1

        async def sample() -> None:
            while True:
                samples.append((loop.time(), limiter.window))
                await asyncio.sleep(SAMPLE_S)

        sampler = asyncio.ensure_future(sample())
        await asyncio.gather(*(worker() for _ in range(workers)))
        end = loop.time()
        sampler.cancel()
        return Result(
            rows=rows,
            done=done,
            failed=failed,
            requests=server.requests,
            refused=server.refused,
            duration_s=end,
            peak_in_flight=server.peak,
            limits=tuple(samples),
        )

    saved = random.getstate()
    random.seed(seed)
    try:
        return run_virtual(main)
    finally:
        random.setstate(saved)


def adaptive(ceiling: int, rate: float | None = None) -> Callable[[], Limiter]:
    """Return a factory of the limiter under test, on the virtual loop's clock."""

    def make() -> Limiter:
        return Limiter(ceiling=ceiling, rate=rate, clock=asyncio.get_running_loop().time)

    return make


# -- the scenarios of issue 10, shared by the tests and by `python tests/limiter_sim.py` -----------

LIMIT = 10
LATENCY_S = 0.1


def concurrency_limit(ceiling: int, *, seed: int = 1) -> Result:
    """Run 1,500 rows at ``ceiling`` against a limit of 10 in flight, 100 ms (+- 10 ms)."""
    server = Server(latency_s=LATENCY_S, jitter_s=0.01, concurrency=[(0, LIMIT)], seed=seed)
    return simulate(server, adaptive(ceiling), rows=1_500, workers=ceiling, seed=seed)


MOVES: tuple[tuple[float, float], ...] = ((0.0, 10), (5.0, 20), (10.0, 5))
MOVES_END_S = 15.0


def moving_limit() -> Result:
    """Run 15 s at ceiling 64 against a limit that moves 10 -> 20 -> 5, 100 ms (+- 10 ms)."""
    server = Server(latency_s=LATENCY_S, jitter_s=0.01, concurrency=MOVES)
    return simulate(server, adaptive(64), rows=100_000, workers=64, stop_at=MOVES_END_S)


def settle_times(result: Result) -> list[float]:
    """Return how long the window took to stay within 10 % of each limit of :data:`MOVES`."""
    ends = [start for start, _ in MOVES[1:]] + [MOVES_END_S]
    return [
        result.settle_s(target=limit, start=start, end=end)
        for (start, limit), end in zip(MOVES, ends, strict=True)
    ]


RATE = 100.0


def rate_limit(*, seed: int = 1, latency_s: float = 0.02) -> Result:
    """Run 3,000 rows at ceiling 64 against a 100/s token bucket, 20 ms (+- a quarter)."""
    server = Server(latency_s=latency_s, jitter_s=latency_s / 4, rate=RATE, seed=seed)
    return simulate(server, adaptive(64), rows=3_000, workers=64, seed=seed)


def no_limit(ceiling: int = 16) -> Result:
    """Run 5,000 rows at ``ceiling`` against a server with no limit, 20 ms."""
    return simulate(Server(latency_s=0.02), adaptive(ceiling), rows=5_000, workers=ceiling)


MIGRATION_LIMIT = 20
MIGRATION_LATENCY_S = 0.8


def migration(gate: Callable[[], Gate], workers: int) -> Result:
    """Run 2,000 rows against a limit of 20 in flight, 800 +- 400 ms: a realistic migration."""
    server = Server(latency_s=MIGRATION_LATENCY_S, jitter_s=0.4, concurrency=[(0, MIGRATION_LIMIT)])
    return simulate(server, gate, rows=2_000, workers=workers)


def fixed(concurrency: int) -> Callable[[], Gate]:
    """Return a factory of a fixed gate of ``concurrency``."""
    return lambda: FixedGate(concurrency)


def main() -> None:
    """Print every figure of the simulation, as BENCHMARKS.md quotes them."""
    for ceiling in (64, 16, 8):
        r = concurrency_limit(ceiling)
        ideal = min(ceiling, LIMIT) / LATENCY_S
        print(
            f"limit 10, ceiling {ceiling:2}: {r.rows_per_s / ideal:.3f} of ideal, "
            f"{r.share_429:.2%} 429s, peak {r.peak_in_flight}"
        )
    moved = moving_limit()
    print("limit 10 -> 20 -> 5, settled after (s):", [round(t, 2) for t in settle_times(moved)])
    for latency_s in (0.02, 0.001):
        r = rate_limit(latency_s=latency_s)
        print(
            f"rate limit 100/s, {latency_s * 1000:g} ms: {r.rows_per_s / RATE:.3f} of the limit, "
            f"{r.share_429:.2%} 429s, {r.failed} failed"
        )
    r = no_limit()
    print(f"no limit, 20 ms, ceiling 16: {r.rows_per_s / (16 / 0.02):.3f} of ideal")
    adaptive_run = migration(adaptive(64), 64)
    print(
        f"migration, adaptive at 64: {adaptive_run.duration_s / 60:.2f} min, "
        f"{adaptive_run.share_429:.2%} 429s, {adaptive_run.failed} failed"
    )
    for n in (8, 16, 20, 32, 64):
        r = migration(fixed(n), n)
        print(
            f"migration, fixed {n:2}: {r.duration_s / 60:.2f} min, {r.share_429:.2%} 429s, "
            f"{r.failed} failed"
        )


if __name__ == "__main__":
    main()
