"""Keep the whole run inside its limits: concurrency, ``--rate``, and what 429s teach us.

One :class:`Throttle` is shared by every worker. Before each request a worker waits for it:
for a pause the server asked for (``Retry-After`` on a 429 pauses everyone, not one request),
for a slot among ``--concurrency``, and for its turn under the rate cap. The rate cap is the
smaller of ``--rate`` and an adaptive cap that appears at the first 429: multiplicative decrease
on each 429, additive increase while none come (AIMD, as TCP and the AWS SDKs' adaptive mode do).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: On a 429 the adaptive cap becomes this fraction of the rate of answered requests just before.
DECREASE = 0.85
#: Without a 429 the adaptive cap grows by this fraction of itself each second.
INCREASE_PER_S = 0.03
#: A 429 less than this long after the previous decrease does not decrease again (same burst).
DECREASE_GAP_S = 1.0


class Throttle:
    """Gate every request of a run: pause, concurrency, and rate, in that order."""

    def __init__(
        self,
        *,
        concurrency: int,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrency = concurrency
        self._user_rate = rate
        self._adaptive_rate: float | None = None
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._next_send = 0.0
        self._paused_until = 0.0
        self._last_decrease = -DECREASE_GAP_S
        self._window_start = clock()
        self._window_count = 0
        self._recent_rate = 0.0
        self.rate_limited = 0

    @property
    def rate(self) -> float | None:
        """Return the cap in force, in requests per second, or ``None`` for none."""
        caps = [r for r in (self._user_rate, self._adaptive_rate) if r is not None]
        return min(caps) if caps else None

    async def acquire(self) -> None:
        """Wait until this request may be sent, and take a concurrency slot for it."""
        while True:
            pause = self._paused_until - self._clock()
            if pause <= 0:
                break
            await asyncio.sleep(pause)
        await self._slots.acquire()
        rate = self.rate
        if rate is None:
            return
        now = self._clock()
        slot = max(now, self._next_send)
        self._next_send = slot + 1.0 / rate
        if slot > now:
            await asyncio.sleep(slot - now)

    def release(self, *, status: int | None, retry_after: float | None = None) -> None:
        """Give the slot back and learn from the answer (``None``: no answer came)."""
        self._slots.release()
        if status == 429:
            self.rate_limited += 1
            self._slow_down(retry_after)
        elif status is not None:
            self._count_answer(self._clock())

    def _count_answer(self, now: float) -> None:
        self._window_count += 1
        elapsed = now - self._window_start
        if elapsed >= 1.0:
            self._recent_rate = self._window_count / elapsed
            self._window_start = now
            self._window_count = 0
            if self._adaptive_rate is not None:
                self._adaptive_rate *= (1 + INCREASE_PER_S) ** elapsed

    def _slow_down(self, wait_s: float | None) -> None:
        """Slow the whole run after a 429: pause everyone, then lower the adaptive cap."""
        now = self._clock()
        if wait_s is not None:
            self._paused_until = max(self._paused_until, now + wait_s)
        if now - self._last_decrease < DECREASE_GAP_S:
            return
        self._last_decrease = now
        elapsed = now - self._window_start
        observed = max(self._recent_rate, self._window_count / elapsed if elapsed > 0 else 0.0)
        current = self._adaptive_rate or observed or 1.0
        self._adaptive_rate = max(1.0, min(current, observed or current) * DECREASE)
