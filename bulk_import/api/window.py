"""Learn how many requests the account takes in flight: the adaptive window.

The :class:`Window` is the limiter's learning half (:mod:`bulk_import.api.limiter` is its
gating half: slots, the slot above, ``--rate``). Told of every refusal and good answer, it keeps
the window, a float in ``[1, ceiling]`` (or below 1 when the server refuses far more than it
answers, see :data:`MIN_RATE_PER_S`):

- It starts at ``min(ceiling, INITIAL_LIMIT)`` and doubles every round trip (TCP slow start: +1
  per good answer) until the first refusal.
- A 429 cuts it to :data:`BACKOFF` of itself, once per round (a refusal of a request sent before
  the last cut cuts nothing: TCP's "one cut per window"); one that names no wait, as a
  concurrency limit's, says which level passed (the rank it refused, less one): the window goes
  to that level when it is above the BACKOFF step (or the run is still in slow start) and holds
  there for as long as a regrowth from :data:`RANK_MARGIN` below it would take. Far over
  the limit (refusals :data:`FAR_OVER` times the good answers) it goes straight down to the level
  that got through (Little's law). Latency grown well past its long average cuts too.
- Between cuts it grows back along a cubic of time (TCP CUBIC), whose clock stops while the
  workers leave most of the window unused (Linux's CUBIC after idle time).

Pure arithmetic on a clock: no asyncio, O(1) per answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
#: A refusal with no Retry-After to the N-th request in flight (a concurrency limit at N - 1, as
#: Cartesia's ``concurrency_limited`` says it) sets the window to N - 1 and holds it there for as
#: long as CUBIC would take to climb back from this much below (about 0.6 s at 10 and 100 ms).
RANK_MARGIN = 0.5
#: Refusals this many times the good answers, lately, mean "far over the limit".
FAR_OVER = 2.0
FAR_OVER_MIN = 3.0
#: The round trip assumed before the first good answer.
DEFAULT_RTT_S = 0.1
#: Below one request in flight (only when refusals swamp the answers: a rate limit at a short
#: round trip, 100/s at 1 ms is 0.1 in flight) the window still sends this many a second.
MIN_RATE_PER_S = 1.0


#: Told when the window changes: (the new window, whether a cut made it).
Changed = Callable[[float, bool], None]


class Window:
    """Keep the adaptive window from the answers: slow start, cuts on 429s, CUBIC regrowth."""

    def __init__(self, *, ceiling: int, clock: Callable[[], float], changed: Changed) -> None:
        self.ceiling = ceiling
        self._clock = clock
        self._changed = changed
        self.value = 0.0
        self.min_limit = self.max_limit = min(ceiling, INITIAL_LIMIT)
        #: The round in force: bumped by every cut, so that one round is cut once.
        self.epoch = 0
        self._peak: float | None = None  # CUBIC's W_max; None while in slow start
        self._cut_at = 0.0
        self._idle_since: float | None = None  # less than half the window in use since then
        self._cubic_c = 0.0
        self._cubic_k = 0.0
        self.rtt_fast = DEFAULT_RTT_S
        self._rtt_slow = DEFAULT_RTT_S
        self._samples = 0
        # Decaying sums over _span: good answers' time in flight, good answers, refusals.
        self._busy = self._good = self._refusals = 0.0
        self._counted_at = 0.0
        self._span = 0.0
        self._first_sent: float | None = None
        self.at_floor = False
        self.refused_count = 0
        # The gate reads the first window itself (it is building itself around this one).
        self.value = float(self.min_limit)

    @property
    def limit(self) -> int:
        """Return the window as a whole number of requests in flight (at least 1)."""
        return max(1, int(self.value + 0.5))

    # -- what the gate tells it --------------------------------------------------------------

    def sent(self, now: float, *, in_flight: int, full: int) -> None:
        """Note a request going out (``in_flight`` with it, of ``full`` slots always usable)."""
        if self._first_sent is None:
            self._first_sent = now
        idle = self._idle_since
        if idle is not None and 2 * in_flight >= full:
            # The cubic's clock stood still while less than half the window was in use (Linux
            # CUBIC's idle fix): workers asleep on a Retry-After come back to no sudden growth.
            self._cut_at += now - idle
            self._idle_since = None

    def returned(self, now: float, *, in_flight: int, full: int) -> None:
        """Note a permit given back (``in_flight`` left): the window may be standing unused."""
        if 2 * in_flight < full and self._idle_since is None:
            self._idle_since = now

    def refused(self, *, epoch: int, rank: int, timed: bool) -> None:
        """Learn from a 429 to a request of round ``epoch`` that was ``rank``-th in flight.

        ``timed``: the refusal named a wait (a rate limit's, as a rule).
        """
        self.refused_count += 1
        self._count(self._clock(), refused=1.0)
        self.at_floor = self.value <= self._least()
        if epoch == self.epoch:
            self._cut(self._clock(), passed=rank - 1, at_rank=not timed)

    def answered(self, *, epoch: int, sent_at: float, in_flight: int, full: int) -> None:
        """Learn from a good answer to a request sent at ``sent_at`` (``in_flight`` with it)."""
        self.at_floor = False
        now = self._clock()
        latency = now - sent_at
        self._count(now, busy=latency)
        if self._samples:
            self.rtt_fast += FAST_WEIGHT * (latency - self.rtt_fast)
            self._rtt_slow += SLOW_WEIGHT * (latency - self._rtt_slow)
        else:
            self.rtt_fast = self._rtt_slow = latency
        self._samples += 1
        if (
            self.rtt_fast > DELAY_TOLERANCE * self._rtt_slow
            and self.rtt_fast - self._rtt_slow > DELAY_MIN_EXCESS_S
            and self._samples >= DELAY_MIN_SAMPLES
            and epoch == self.epoch
        ):
            self._cut(now, passed=0)
            return
        window = self.value
        # Grow only a window in use: one the workers do not fill proves nothing (TCP's
        # congestion window validation; Netflix's limits ask for half of it in use).
        if window >= self.ceiling or in_flight < full:
            return
        if self._peak is None:
            grown = window + 1.0  # slow start: doubles every round trip
        else:
            t = now - self._cut_at - self._cubic_k
            target = self._peak + self._cubic_c * t * t * t
            if target <= window:
                return
            grown = min(target, window + 1.0)  # never faster than slow start
        self._set(min(grown, float(self.ceiling)), cut=False)

    # -- learning ----------------------------------------------------------------------------
    def _count(self, now: float, *, busy: float = 0.0, refused: float = 0.0) -> None:
        """Add one answer to the decaying sums: good answers' time in flight, and refusals."""
        span = max(ACCEPTED_SPAN_S, ACCEPTED_SPAN_RTTS * self.rtt_fast)
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
        refusal named no wait (a concurrency limit's), so the window may hold at that level.
        """
        window = self.value
        accepted = self._accepted(now)
        cut = window * BACKOFF
        regrow_from = None
        if at_rank and passed:
            # A concurrency limit's refusal names the level that passed. Stopping under it (as a
            # cut to RANK_MARGIN below did) left the window short of the limit most of each
            # cycle; sitting on it, with no growth for the time that regrowth took, keeps every
            # slot the account allows in use and probes above as often. In slow start the level
            # is believed below a BACKOFF step too: the first overshoot is cut in one go. A rate
            # limit's refusals come at any rank (and name a wait): they keep the BACKOFF step.
            level = min(float(passed), window)
            if level > cut or self._peak is None:
                regrow_from = level - RANK_MARGIN
                cut = level
        if self._far_over():
            # Far over the limit (a limit that dropped, a burst far over it): one BACKOFF step
            # per round would take long, so go straight to what got through.
            cut = min(cut, accepted)
        cut = max(self._least(), cut)
        # CUBIC's plateau sits on the level the server accepted, not on the one it refused: under
        # a concurrency limit the refused request's rank says it, under a rate limit Little's law.
        peak = min(max(accepted, float(passed), cut), window)
        period = max(REGROW_MIN_S, REGROW_RTTS * self.rtt_fast)
        self._cubic_c = (1.0 - BACKOFF) * peak / period**3
        # K: the cubic is back at its plateau K seconds after the cut; a window held at the
        # refused level waits, unchanged, until the cubic has climbed past it.
        start = cut if regrow_from is None else min(regrow_from, cut)
        self._cubic_k = ((peak - start) / self._cubic_c) ** (1.0 / 3.0)
        self._peak = peak
        self._cut_at = now
        self.epoch += 1
        self._set(cut, cut=True)

    def _far_over(self) -> bool:
        """Say whether refusals have lately outnumbered good answers FAR_OVER times."""
        return self._refusals >= FAR_OVER_MIN and self._refusals > FAR_OVER * self._good

    def _least(self) -> float:
        """Return the lowest window a cut may reach now: 1, or MIN_RATE_PER_S's level below it.

        Below 1 only when refusals swamp the answers or the window is there already: a stray
        429 among good answers never takes a run below one request in flight.
        """
        if self.value < 1.0 or self._far_over():
            return min(1.0, MIN_RATE_PER_S * self._rtt_slow)
        return 1.0

    def _set(self, window: float, *, cut: bool) -> None:
        """Set the window, keep its min and max, and tell the gate."""
        self._changed(window, cut)  # first: the gate accounts for the time at the old window
        self.value = window
        limit = max(1, int(window + 0.5))
        if limit < self.min_limit:
            self.min_limit = limit
        elif limit > self.max_limit:
            self.max_limit = limit
