"""Find how many requests the account takes in flight, under ``--concurrency``, and keep ``--rate``.

One :class:`Limiter` is shared by every worker of a run. Before each HTTP attempt a worker takes a
:class:`Permit` (``await limiter.acquire(...)``); after the answer it gives it back
(``limiter.release(permit, status=..., retry_after=...)``). In between, the limiter learns:

- The window (how many requests may be in flight) is a float in ``[1, ceiling]``, or below 1
  when the server refuses far more than it answers (see :data:`MIN_RATE_PER_S`). It starts at
  ``min(ceiling, INITIAL_LIMIT)`` and doubles every round trip (TCP slow start: +1 per good answer)
  until the first refusal, so a server with no limit costs nothing after a few round trips.
- A 429 (any ``error_code``, with or without ``Retry-After``) cuts the window to
  :data:`BACKOFF` of itself, once per round (a 429 to a request given its slot before the last
  cut cuts nothing: TCP's "one cut per window"); one that names no wait, as a concurrency
  limit's, cuts no lower than :data:`RANK_MARGIN` below the rank it refused. Far over the limit
  (refusals :data:`FAR_OVER` times the good answers) it goes straight down to the level that got
  through (Little's law: good answers' time in flight per second). Latency grown well past its
  long average cuts too.
- Between cuts the window grows back along a cubic of *time* (TCP CUBIC, which the AWS SDKs'
  adaptive retry mode runs on its send rate): quickly, then flat at the level the server
  accepted, then faster and faster, so a limit that rises is found again in a second or two.
  The cubic's clock stops while the workers leave most of the window unused (all of them asleep
  on a ``Retry-After``, say), as Linux's CUBIC does after idle time.
- A window of 2.4 keeps 2 requests in flight and a third 40 % of the time (a credit of slot
  time). That is how it matches a *rate* limit at short latency (100/s at 20 ms is 2 in flight;
  at 1 ms it is a window of 0.1), where steps of one request would be 50 % steps.
- ``--rate`` is a hard cap on top: sends are spaced evenly, never in bursts.

Everything is O(1) on ``acquire`` and ``release``; the only timers are the ``--rate`` spacing
(through the ``sleep`` the caller gives) and the hand-over of the slot above when it is due.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple

#: The window a run starts with (capped by the ceiling): today's default ``--concurrency``.
INITIAL_LIMIT = 8
#: A cut keeps this fraction of the window (Netflix AIMDLimit's default ``backoffRatio``).
BACKOFF = 0.9
#: After a cut the window is back at the level the server accepted after this long, at least,
#: and at least this many round trips (CUBIC's K), so the server has answered for the new window.
REGROW_MIN_S = 0.75
REGROW_RTTS = 4.0
#: Latency is "grown" when its fast average is this many times its baseline and this much above.
DELAY_TOLERANCE = 2.0
DELAY_MIN_EXCESS_S = 0.1
#: Good answers needed before the latency baseline says anything.
DELAY_MIN_SAMPLES = 20
#: Weights of one latency sample in the fast average and in the baseline.
FAST_WEIGHT = 0.2
SLOW_WEIGHT = 1 / 600  # Gradient2Limit's long window: 600 answers
#: The level the server accepted is measured over this long (at least), or this many round trips.
ACCEPTED_SPAN_S = 0.25
ACCEPTED_SPAN_RTTS = 2.0
#: Rounding room of the slot above's credit, and the shortest wait for it.
CREDIT_SLACK_S = 1e-4
#: A refusal with no Retry-After to the N-th request in flight (a concurrency limit at N - 1, as
#: Cartesia's ``concurrency_limited`` says it) cuts no lower than this much below N - 1.
RANK_MARGIN = 0.5
#: Refusals this many times the good answers, lately, mean "far over the limit".
FAR_OVER = 2.0
FAR_OVER_MIN = 3.0
#: The round trip assumed before the first good answer.
DEFAULT_RTT_S = 0.1
#: Below one request in flight (only when refusals swamp the answers: a rate limit at a short
#: round trip, 100/s at 1 ms is 0.1 in flight) the window still sends this many a second.
MIN_RATE_PER_S = 1.0

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
        self._window = 0.0
        self._full = 0  # slots usable all the time: int(window)
        self._extra = 0.0  # share of the time the one slot above them may be used
        # Seconds the slot above may still be held: it earns `_extra` per second, and each
        # second in use costs one, so it is in use that share of the time (capped: no bursts).
        self._credit = 0.0
        self._credit_at = 0.0
        self._min = self._max = min(ceiling, INITIAL_LIMIT)
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[Permit]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._next_send = 0.0
        self._epoch = 0
        self._peak: float | None = None  # CUBIC's W_max; None while in slow start
        self._cut_at = 0.0
        self._idle_since: float | None = None  # less than half the window in use since then
        self._cubic_c = 0.0
        self._cubic_k = 0.0
        self._rtt_fast = DEFAULT_RTT_S
        self._rtt_slow = DEFAULT_RTT_S
        self._samples = 0
        # Decaying sums over _span: good answers' time in flight, good answers, refusals.
        self._busy = self._good = self._refusals = 0.0
        self._counted_at = 0.0
        self._span = 0.0
        self._first_sent: float | None = None
        self._at_floor = False
        self.refused = 0
        self._credit_at = clock()
        self._set_window(float(self._min))

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
        return self._window

    @property
    def limit(self) -> int:
        """Return the window as a whole number of requests in flight (at least 1)."""
        return max(1, int(self._window + 0.5))

    @property
    def min_limit(self) -> int:
        """Return the lowest :attr:`limit` of the run so far."""
        return self._min

    @property
    def max_limit(self) -> int:
        """Return the highest :attr:`limit` of the run so far."""
        return self._max

    @property
    def in_flight(self) -> int:
        """Return how many permits are out now."""
        return self._in_flight

    @property
    def at_floor(self) -> bool:
        """Say whether the window is down to its floor (``_least``) and the server still refuses.

        Only then should a 429 count as one of a row's ``--max-attempts`` tries: above the
        floor the limiter is still finding the account's limit, and the row is not to blame.
        """
        return self._at_floor

    def snapshot(self) -> dict[str, int]:
        """Return the ceiling and the limit's final, min and max values, as the summary shows."""
        return {
            "ceiling": self._ceiling,
            "final": self.limit,
            "min": self._min,
            "max": self._max,
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
        limit, one that does not for a concurrency limit (see :meth:`_cut`).
        """
        if not permit.rank:
            return
        in_flight = self._in_flight
        if in_flight > self._full:
            self._account(self._clock())
        self._in_flight = in_flight - 1
        if 2 * (in_flight - 1) < self._full and self._idle_since is None:
            self._idle_since = self._clock()
        if status == 429:
            self._refused(permit, timed=retry_after is not None)
        elif status is not None and status < 500 and status != 408:
            self._answered(permit, in_flight)
        if self._waiters:
            self._wake()

    # -- learning --------------------------------------------------------------------------------

    def _refused(self, permit: Permit, *, timed: bool) -> None:
        self.refused += 1
        self._count(self._clock(), refused=1.0)
        self._at_floor = self._window <= self._least()
        if permit.epoch == self._epoch:
            self._cut(self._clock(), passed=permit.rank - 1, at_rank=not timed)

    def _answered(self, permit: Permit, in_flight: int) -> None:
        self._at_floor = False
        now = self._clock()
        latency = now - permit.sent_at
        self._count(now, busy=latency)
        if self._samples:
            self._rtt_fast += FAST_WEIGHT * (latency - self._rtt_fast)
            self._rtt_slow += SLOW_WEIGHT * (latency - self._rtt_slow)
        else:
            self._rtt_fast = self._rtt_slow = latency
        self._samples += 1
        if (
            self._rtt_fast > DELAY_TOLERANCE * self._rtt_slow
            and self._rtt_fast - self._rtt_slow > DELAY_MIN_EXCESS_S
            and self._samples >= DELAY_MIN_SAMPLES
            and permit.epoch == self._epoch
        ):
            self._cut(now, passed=0)
            return
        window = self._window
        # Grow only a window in use: one the workers do not fill proves nothing (TCP's
        # congestion window validation; Netflix's limits ask for half of it in use).
        if window >= self._ceiling or in_flight < self._full:
            return
        if self._peak is None:
            grown = window + 1.0  # slow start: doubles every round trip
        else:
            t = now - self._cut_at - self._cubic_k
            target = self._peak + self._cubic_c * t * t * t
            if target <= window:
                return
            grown = min(target, window + 1.0)  # never faster than slow start
        self._set_window(min(grown, float(self._ceiling)))

    def _count(self, now: float, *, busy: float = 0.0, refused: float = 0.0) -> None:
        """Add one answer to the decaying sums: good answers' time in flight, and refusals."""
        span = max(ACCEPTED_SPAN_S, ACCEPTED_SPAN_RTTS * self._rtt_fast)
        decay = math.exp((self._counted_at - now) / span)
        self._busy = self._busy * decay + busy
        self._good = self._good * decay + (0.0 if refused else 1.0)
        self._refusals = self._refusals * decay + refused
        self._counted_at = now
        self._span = span

    def _accepted(self, now: float) -> float:
        """Return how many requests the server has been accepting in flight, on average, lately.

        Little's law: the time good answers spent in flight, per second. It is the level a
        concurrency limit lets through (L) and the one a rate limit does (rate x latency).
        """
        span = self._span  # set by the answer that led here, as _first_sent by its permit
        assert self._first_sent is not None
        # Early in the run the sum has not filled its span yet: scale it up as if it had.
        filled = -math.expm1((self._first_sent - now) / span)
        if filled <= 0:
            return 0.0
        return self._busy * math.exp((self._counted_at - now) / span) / (span * filled)

    def _cut(self, now: float, *, passed: int, at_rank: bool = False) -> None:
        """Cut the window once for this round: to BACKOFF of it, or to what was accepted.

        ``passed``: the level the refusal shows to have passed (the refused request was the
        ``passed + 1``-th in flight), which is where a concurrency limit is. ``at_rank``: the
        refusal named no wait (a concurrency limit's), so the cut stops RANK_MARGIN below it.
        """
        window = self._window
        accepted = self._accepted(now)
        cut = window * BACKOFF
        if at_rank and passed:
            # Half a request below a concurrency limit loses less than a BACKOFF step; a rate
            # limit's refusals come at any rank, so they keep the step.
            cut = max(cut, min(float(passed), window) - RANK_MARGIN)
        if self._far_over():
            # Far over the limit (a limit that dropped, a burst far over it): one BACKOFF step
            # per round would take long, so go straight to what got through.
            cut = min(cut, accepted)
        cut = max(self._least(), cut)
        # CUBIC's plateau sits on the level the server accepted, not on the one it refused: under
        # a concurrency limit the refused request's rank says it, under a rate limit Little's law.
        peak = min(max(accepted, float(passed), cut), window)
        period = max(REGROW_MIN_S, REGROW_RTTS * self._rtt_fast)
        self._cubic_c = (1.0 - BACKOFF) * peak / period**3
        self._cubic_k = ((peak - cut) / self._cubic_c) ** (1.0 / 3.0)
        self._peak = peak
        self._cut_at = now
        self._epoch += 1
        self._set_window(cut)
        self._credit = 0.0

    def _far_over(self) -> bool:
        """Say whether refusals have lately outnumbered good answers FAR_OVER times."""
        return self._refusals >= FAR_OVER_MIN and self._refusals > FAR_OVER * self._good

    def _least(self) -> float:
        """Return the lowest window a cut may reach now: 1, or MIN_RATE_PER_S's level below it.

        Below 1 only when refusals swamp the answers or the window is there already: a stray
        429 among good answers never takes a run below one request in flight.
        """
        if self._window < 1.0 or self._far_over():
            return min(1.0, MIN_RATE_PER_S * self._rtt_slow)
        return 1.0

    def _set_window(self, window: float) -> None:
        self._account(self._clock())
        self._window = window
        full = int(window)
        if full != self._full:
            self._credit = 0.0  # a new slot above: it may be tried at once
        self._full = full
        self._extra = window - full
        limit = max(1, int(window + 0.5))
        if limit < self._min:
            self._min = limit
        elif limit > self._max:
            self._max = limit

    # -- slots -----------------------------------------------------------------------------------

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
        self._credit = min(self._credit + earned, self._rtt_fast)

    def _take(self) -> Permit:
        """Take a slot: its permit belongs to the round in force now, whenever it goes out."""
        now = self._clock()
        in_flight = self._in_flight + 1
        if in_flight > self._full:
            self._account(now)
        self._in_flight = in_flight
        if self._first_sent is None:
            self._first_sent = now
        idle = self._idle_since
        if idle is not None and 2 * in_flight >= self._full:
            # The cubic's clock stood still while less than half the window was in use (Linux
            # CUBIC's idle fix): workers asleep on a Retry-After come back to no sudden growth.
            self._cut_at += now - idle
            self._idle_since = None
        return Permit(self._epoch, now, in_flight)

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
