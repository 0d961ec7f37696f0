"""Gate every request of a run under ``--concurrency`` and ``--rate``: slots, and the slot above.

One :class:`Limiter` is shared by every worker of a run. Before each HTTP attempt a worker takes a
:class:`Permit` (``await limiter.acquire(...)``); after the answer it gives it back
(``limiter.release(permit, status=..., retry_after=...)``). The limiter tells its
:class:`~bulk_import.api.window.Window` (the learning half: slow start, cuts on 429s, CUBIC
regrowth, Little's law) what each answer was, and lets as many requests out as the window says:

- A window of 2.4 keeps 2 requests in flight and a third 40 % of the time (a credit of slot
  time). That is how it matches a *rate* limit at short latency (100/s at 20 ms is 2 in flight;
  at 1 ms it is a window of 0.1), where steps of one request would be 50 % steps.
- ``--rate`` is a hard cap on top: sends are spaced evenly, never in bursts.

Everything is O(1) on ``acquire`` and ``release``; the only timers are the ``--rate`` spacing
(through the ``sleep`` the caller gives) and the hand-over of the slot above when it is due.
The design, the anchors read and the figures: BENCHMARKS.md, "Adaptive concurrency".
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from bulk_import.api.window import (  # re-exported: the limiter's knobs, for tests and benches
    BACKOFF,
    DEFAULT_RTT_S,
    INITIAL_LIMIT,
    MIN_RATE_PER_S,
    RANK_MARGIN,
    Window,
)

__all__ = [
    "BACKOFF",
    "CREDIT_SLACK_S",
    "DEFAULT_RTT_S",
    "INITIAL_LIMIT",
    "MIN_RATE_PER_S",
    "RANK_MARGIN",
    "Limiter",
    "Permit",
]

#: Rounding room of the slot above's credit, and the shortest wait for it.
CREDIT_SLACK_S = 1e-4

Sleep = Callable[[float], Awaitable[object]]


class Permit(NamedTuple):
    """Hold one request's place: the round it was sent in, when, and its rank in flight.

    A NamedTuple, not a frozen dataclass: one is made per request, at a third of the cost.
    """

    epoch: int
    sent_at: float
    rank: int  # requests in flight when it went out, itself included; 0: it took no slot


_NO_SLOT = Permit(-1, 0.0, 0)


class Limiter:
    """Gate every request of a run: a slot in the adaptive window, then its turn under --rate."""

    def __init__(
        self,
        *,
        ceiling: int,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling < 1:
            raise ValueError(f"the concurrency ceiling must be at least 1, not {ceiling}")
        if rate is not None and not rate > 0:
            raise ValueError(f"the rate cap must be above 0, not {rate}")
        self._ceiling = ceiling
        self._rate = rate
        self._clock = clock
        self._full = 0  # slots usable all the time: int(window)
        self._extra = 0.0  # share of the time the one slot above them may be used
        # Seconds the slot above may still be held: it earns `_extra` per second, and each
        # second in use costs one, so it is in use that share of the time (capped: no bursts).
        self._credit = 0.0
        self._credit_at = clock()
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[Permit]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._next_send = 0.0
        self._window = Window(ceiling=ceiling, clock=clock, changed=self._resized)
        self._resized(self._window.value, False)

    # -- what the progress bar and the summary show ----------------------------------------------

    @property
    def ceiling(self) -> int:
        """Return ``--concurrency``: the window never goes above it."""
        return self._ceiling

    @property
    def rate(self) -> float | None:
        """Return the ``--rate`` cap in requests per second, or ``None`` for none."""
        return self._rate

    @property
    def window(self) -> float:
        """Return the exact window: how many requests may be in flight, on average."""
        return self._window.value

    @property
    def limit(self) -> int:
        """Return the window as a whole number of requests in flight (at least 1)."""
        return self._window.limit

    @property
    def min_limit(self) -> int:
        """Return the lowest :attr:`limit` of the run so far."""
        return self._window.min_limit

    @property
    def max_limit(self) -> int:
        """Return the highest :attr:`limit` of the run so far."""
        return self._window.max_limit

    @property
    def in_flight(self) -> int:
        """Return how many permits are out now."""
        return self._in_flight

    @property
    def refused(self) -> int:
        """Return how many 429s the run met."""
        return self._window.refused_count

    @property
    def at_floor(self) -> bool:
        """Say whether the window is down to its floor and the server still refuses.

        Only then should a 429 count as one of a row's ``--max-attempts`` tries: above the
        floor the limiter is still finding the account's limit, and the row is not to blame.
        """
        return self._window.at_floor

    def snapshot(self) -> dict[str, int]:
        """Return the ceiling and the limit's final, min and max values, as the summary shows."""
        window = self._window
        return {
            "ceiling": self._ceiling,
            "final": window.limit,
            "min": window.min_limit,
            "max": window.max_limit,
        }

    # -- acquire and release ---------------------------------------------------------------------

    async def acquire(
        self,
        *,
        sleep: Sleep | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> Permit:
        """Wait until one more request may be sent, and return its permit.

        ``sleep`` waits for a turn under ``--rate`` (default :func:`asyncio.sleep`); ``stopping``
        cuts that wait short when the run is stopping. When the run is already stopping no slot
        is waited for. Either way the caller releases the permit, sent or not.
        """
        if stopping is not None and stopping():
            return _NO_SLOT
        if self._waiters or not self._has_room():
            permit = await self._wait_for_slot()
        else:
            permit = self._take()
        rate = self._rate
        if rate is not None and not (stopping is not None and stopping()):
            now = self._clock()
            turn = max(now, self._next_send)
            self._next_send = turn + 1.0 / rate
            if turn > now:
                await (sleep or asyncio.sleep)(turn - now)
                permit = Permit(permit.epoch, self._clock(), permit.rank)
        return permit

    def release(
        self, permit: Permit, *, status: int | None, retry_after: float | None = None
    ) -> None:
        """Give the permit back and learn from the answer (``status=None``: no answer came).

        A 429 cuts the window; any other answer below 500 (but 408) is a good one and lets it
        grow; 5xx, 408 and no answer teach nothing. ``retry_after`` is what a 429 asked for: the
        request that got it waits that itself, after this release, so the slot is free meanwhile.
        Here it only says what kind of limit refused: one that names a wait is taken for a rate
        limit, one that does not for a concurrency limit (see ``Window._cut``).
        """
        if not permit.rank:
            return
        in_flight = self._in_flight
        if in_flight > self._full:
            self._account(self._clock())
        self._in_flight = in_flight - 1
        window = self._window
        window.returned(self._clock(), in_flight=in_flight - 1, full=self._full)
        if status == 429:
            window.refused(epoch=permit.epoch, rank=permit.rank, timed=retry_after is not None)
        elif status is not None and status < 500 and status != 408:
            window.answered(
                epoch=permit.epoch, sent_at=permit.sent_at, in_flight=in_flight, full=self._full
            )
        if self._waiters:
            self._wake()

    # -- slots -----------------------------------------------------------------------------------

    def _resized(self, window: float, cut: bool) -> None:
        """Take a new window: account the slot above's credit so far, then the new shares."""
        self._account(self._clock())
        full = int(window)
        if full != self._full or cut:
            self._credit = 0.0  # a new slot above may be tried at once; after a cut, from zero
        self._full = full
        self._extra = window - full

    def _has_room(self) -> bool:
        in_flight = self._in_flight
        if in_flight < self._full:
            return True
        if in_flight == self._full and self._extra > 0:
            self._account(self._clock())
            return self._credit > -CREDIT_SLACK_S
        return False

    def _account(self, now: float) -> None:
        """Bring the slot above's credit up to ``now``."""
        elapsed = now - self._credit_at
        self._credit_at = now
        earned = self._extra * elapsed
        if self._in_flight > self._full:
            earned -= elapsed
        self._credit = min(self._credit + earned, self._window.rtt_fast)

    def _take(self) -> Permit:
        """Take a slot: its permit belongs to the round in force now, whenever it goes out."""
        now = self._clock()
        in_flight = self._in_flight + 1
        if in_flight > self._full:
            self._account(now)
        self._in_flight = in_flight
        window = self._window
        window.sent(now, in_flight=in_flight, full=self._full)
        return Permit(window.epoch, now, in_flight)

    async def _wait_for_slot(self) -> Permit:
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # The slot was handed over just as the waiter was cancelled: give it back.
                self._in_flight -= 1
                self._wake()
            raise

    def _wake(self) -> None:
        """Hand free slots to the waiters in order; set a timer for the extra slot's turn."""
        waiters = self._waiters
        while waiters:
            if waiters[0].done():  # cancelled while waiting
                waiters.popleft()
                continue
            if not self._has_room():
                break
            waiters.popleft().set_result(self._take())
        if waiters and self._in_flight == self._full and self._extra > 0:
            # Only the slot above is free, and not yet: wake up when it is (sooner if the
            # window has grown since the timer was set).
            due = self._credit_at - self._credit / self._extra
            timer = self._timer
            if timer is not None and due < self._timer_due:
                timer.cancel()
                timer = None
            if timer is None:
                self._timer_due = due
                delay = max(due - self._clock(), CREDIT_SLACK_S)
                self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()
