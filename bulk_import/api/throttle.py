"""Keep the whole run inside its limits: concurrency, ``--rate``, and what 429s teach us.

One :class:`Throttle` is shared by every worker. Before each request a worker waits for a slot
among ``--concurrency`` and for its turn under the rate cap (requests are spaced evenly, never
sent in bursts). The cap is the smaller of ``--rate`` and an adaptive cap learnt from 429s:

- The request that got a 429 waits what its ``Retry-After`` asks (see :mod:`bulk_import.retry`).
- When 429s are more than :data:`OVERLOAD` of the answers of the last second, the run is over
  the server's limit: the adaptive cap drops to :data:`DECREASE` times the rate the server
  accepted in that second. So the whole run slows down, not just the one request. A stray 429
  among many answers (an account's concurrency blip) does not cut the rate.
- While no 429 comes the cap climbs back: slowly near the limit it found (the rate accepted
  when it was last overloaded), then faster the longer it stays quiet (as TCP's congestion
  control does after a loss), so a 429 storm that is over does not leave the run crawling.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

#: The answers the adaptive cap learns from: those of the last second.
WINDOW_S = 1.0
#: Share of 429s among the window's answers that means "over the server's limit".
OVERLOAD = 0.02
#: On overload the cap becomes this fraction of the rate the server accepted.
DECREASE = 0.95
#: Two decreases are at least this far apart (the window must show the last one's effect).
DECREASE_GAP_S = 0.5
#: Growth of the cap per second near the limit found (up to NEAR times it); past that it
#: doubles every QUIET_DOUBLING_S quiet seconds, up to MAX_INCREASE_PER_S.
INCREASE_PER_S = 0.01
NEAR = 1.1
QUIET_DOUBLING_S = 2.0
MAX_INCREASE_PER_S = 0.5
MIN_RATE = 1.0
#: Answers needed in the window before it says anything, and the shortest span it measures.
MIN_EVIDENCE = 10
MIN_SPAN_S = 0.05


class Throttle:
    """Gate every request of a run: a concurrency slot, then its turn under the rate cap."""

    def __init__(
        self,
        *,
        concurrency: int,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._concurrency = concurrency
        self._user_rate = rate
        self._adaptive_rate: float | None = None
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._next_send = 0.0
        self._answers: deque[tuple[float, bool]] = deque()  # (when, was it a 429)
        self._limited_in_window = 0
        self._last_decrease = -DECREASE_GAP_S
        self._last_429 = 0.0
        self._grown_at = 0.0
        self._ceiling = 0.0
        self.rate_limited = 0

    @property
    def rate(self) -> float | None:
        """Return the cap in force, in requests per second, or ``None`` for none."""
        caps = [r for r in (self._user_rate, self._adaptive_rate) if r is not None]
        return min(caps) if caps else None

    @property
    def at_floor(self) -> bool:
        """Say whether the limit can come down no further (this fixed pool never comes down)."""
        return False

    def snapshot(self) -> dict[str, int]:
        """Return the concurrency limit's ceiling, final, min and max (fixed here)."""
        n = self._concurrency
        return {"ceiling": n, "final": n, "min": n, "max": n}

    async def acquire(
        self,
        *,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> float:
        """Wait until this request may be sent, and take a concurrency slot for it.

        ``sleep`` waits (default :func:`asyncio.sleep`); ``stopping`` cuts the wait for a turn
        short when the run is stopping. The slot is taken either way: the caller releases it,
        sent or not.
        """
        await self._slots.acquire()
        rate = self.rate
        if rate is None or (stopping is not None and stopping()):
            return 0.0
        now = self._clock()
        slot = max(now, self._next_send)
        self._next_send = slot + 1.0 / rate
        if slot > now:
            await (sleep or asyncio.sleep)(slot - now)
        return 0.0

    def release(
        self, permit: float, *, status: int | None, retry_after: float | None = None
    ) -> None:
        """Give the slot back and learn from the answer (``None``: no answer came).

        ``retry_after`` is what a 429 asked for; the request that got it honours it itself.
        """
        self._slots.release()
        if status is None:
            return
        now = self._clock()
        limited = status == 429
        answers = self._answers
        answers.append((now, limited))
        if limited:
            self.rate_limited += 1
            self._limited_in_window += 1
            self._last_429 = now
        cutoff = now - WINDOW_S
        while answers[0][0] < cutoff:
            if answers.popleft()[1]:
                self._limited_in_window -= 1
        if limited:
            self._maybe_decrease(now)
        elif self._adaptive_rate is not None:
            self._grow(now)

    def _maybe_decrease(self, now: float) -> None:
        if now - self._last_decrease < DECREASE_GAP_S:
            return
        answers = len(self._answers)
        limited = self._limited_in_window
        if answers < MIN_EVIDENCE or limited < 2 or limited < OVERLOAD * answers:
            return
        span = max(now - self._answers[0][0], MIN_SPAN_S)
        accepted = (answers - limited) / span
        self._ceiling = accepted
        cap = max(MIN_RATE, accepted * DECREASE)
        if self._adaptive_rate is None or cap < self._adaptive_rate:
            self._adaptive_rate = cap
        self._last_decrease = now
        self._grown_at = now

    def _grow(self, now: float) -> None:
        assert self._adaptive_rate is not None
        if now - self._last_decrease < WINDOW_S:
            return  # let the window show the last decrease's effect first
        per_s = INCREASE_PER_S
        if self._adaptive_rate > self._ceiling * NEAR:
            quiet = min(now - self._last_429, 30.0)  # past that, growth is at its maximum anyway
            per_s = min(per_s * 2 ** (quiet / QUIET_DOUBLING_S), MAX_INCREASE_PER_S)
        self._adaptive_rate *= 1 + per_s * (now - self._grown_at)
        self._grown_at = now
