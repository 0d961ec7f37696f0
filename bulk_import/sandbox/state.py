"""Hold the sandbox's state: its store, the counters, the fault dice and the token bucket."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from bulk_import.sandbox.faults import TRANSPORT_FAULTS, Faults
from bulk_import.sandbox.store import Store
from bulk_import.sandbox.twilio_store import TwilioOrg


class SandboxState:
    """Hold the sandbox's store, fault dice, rate limiter and counters.

    The event loop owns the state; another thread may read it through :meth:`stats`,
    :attr:`numbers`, :attr:`post_counts` and :meth:`get`, which copy under a lock, and may call
    :meth:`add_number` and :meth:`reset`.
    """

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self.store = Store(faults)
        # Add a number directly, without faults: for drift in the demo and set-up in tests.
        self.add_number = self.store.add
        self.webhook_numbers = frozenset(faults.webhook_fail_numbers)
        self.not_in_account = frozenset(faults.not_in_account)
        self._in_flight = 0  # requests really in flight: a reset does not forget them
        self._initial = faults
        self.twilio: TwilioOrg | None = None
        self.reset()
        if faults.twilio_numbers is not None:
            self.twilio = TwilioOrg(faults)

    def _configure(self, faults: Faults) -> None:
        """Derive the waits, the dice's thresholds and the token bucket from the faults."""
        self.faults = faults
        self.latency_s = faults.latency_ms / 1000
        self.jitter_s = faults.latency_jitter_ms / 1000
        thresholds: list[tuple[str, float]] = []
        total = 0.0
        for name in TRANSPORT_FAULTS:
            share = float(getattr(faults, name))
            if share > 0:
                total += share
                thresholds.append((name, total))
        self._thresholds = tuple(thresholds)
        rate = faults.rate_limit
        self._rate = rate
        self._burst = max(1.0, rate / 10) if rate else 1.0
        self._tokens = self._burst
        self._refilled = time.monotonic()

    def change_faults(self, changes: object) -> Faults:
        """Change the faults at once (the keys of ``LIVE_KEYS``); return the faults in force.

        Raise ValueError naming the problem; the faults in force are then unchanged.
        """
        faults = self.faults.changed(changes)
        with self._lock:
            self._configure(faults)
        return faults

    def reset(self) -> None:
        """Go back to the state at start: its faults, the ``existing`` numbers, zero counters."""
        with self._lock:
            self._configure(self._initial)
            self._rng = random.Random(self.seed)
            # Its own dice, so a jitter changes no fault draw of a seeded run.
            self._latency_rng = random.Random(None if self.seed is None else f"latency {self.seed}")
            self._started = time.monotonic()
            self._requests = 0
            self._by_status: Counter[str] = Counter()
            self._by_method: Counter[str] = Counter()
            self._post_counts: Counter[str] = Counter()
            self._post_seconds: list[int] = []
            self._max_in_flight = self._in_flight
            self._in_flight_seconds: list[int] = []
            self._rejected_seconds: list[int] = []
            self._twilio_by_status: Counter[str] = Counter()
            self._refusals = Counter(self._initial.link_refusals)
        self.store.clear()
        if self.twilio is not None:
            self.twilio.reset()
        default_provider = self.faults.providers[0] if self.faults.providers else ""
        for entry in self.faults.existing:
            self.add_number(
                entry["number"],
                label=entry.get("label"),
                agent_id=entry.get("agent_id"),
                provider_id=entry.get("provider_id", default_provider),
            )

    # -- reading, from any thread ---------------------------------------------------------------

    def stats(self, *, detail: bool = False) -> dict[str, Any]:
        """Return the counters (``detail`` adds ``posts_by_number``).

        ``requests``, ``by_status``, ``by_method``, ``stored``; ``in_flight`` now and
        ``max_in_flight`` since the start; and per second since the start, ``post_seconds`` (POSTs
        arrived), ``in_flight_seconds`` (the most requests in flight) and ``rejected_seconds``
        (429s answered); ``twilio_requests`` and ``twilio_by_status``, the Twilio stand-in's, with
        ``twilio_accounts`` (the parent and its subaccounts) and ``twilio_keys`` (the API keys
        made through its API that still exist) when it is on.
        """
        with self._lock:
            out: dict[str, Any] = {
                "requests": self._requests,
                "by_status": dict(self._by_status),
                "by_method": dict(self._by_method),
                "stored": len(self.store),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "post_seconds": list(self._post_seconds),
                "in_flight_seconds": list(self._in_flight_seconds),
                "rejected_seconds": list(self._rejected_seconds),
                "twilio_requests": self._twilio_by_status.total(),
                "twilio_by_status": dict(self._twilio_by_status),
                **(self.twilio.counts() if self.twilio is not None else {}),
                "uptime_s": round(time.monotonic() - self._started, 3),
            }
            if detail:
                out["posts_by_number"] = dict(self._post_counts)
        return out

    @property
    def numbers(self) -> dict[str, dict[str, Any]]:
        """Return every stored number as its API object, by E.164 number, in creation order."""
        store = self.store
        with store.lock:
            return {n.number: store.snapshot(n) for n in store.order}

    @property
    def post_counts(self) -> Counter[str]:
        """Return how many POSTs named each number, whatever their answer."""
        with self._lock:
            return Counter(self._post_counts)

    def get(self, number: str) -> dict[str, Any] | None:
        """Return the stored number's API object, or None when it is not there."""
        store = self.store
        with store.lock:
            found = store.by_number(number)
            return None if found is None else store.snapshot(found)

    # -- counting -------------------------------------------------------------------------------

    def arrive(self, method: str, number: str | None, now: float) -> None:
        """Count one API request as it arrives (a POST also by number and by second)."""
        with self._lock:
            self._requests += 1
            self._by_method[method] += 1
            if method == "POST":
                self._post_seconds[self._second(self._post_seconds, now, 0)] += 1
                if number is not None:
                    self._post_counts[number] += 1

    def refuse_link(self, account_sid: str) -> bool:
        """Say whether Cartesia refuses this link attempt (``link_refusals``), counting it."""
        with self._lock:
            if self._refusals[account_sid] <= 0:
                return False
            self._refusals[account_sid] -= 1
            return True

    def count_twilio(self, status: str) -> None:
        """Count one answer of the Twilio stand-in: an HTTP status, or ``dropped``."""
        with self._lock:
            self._twilio_by_status[status] += 1

    def admit(self, now: float) -> bool:
        """Take a place among the requests in flight; False once ``concurrency_limit`` are."""
        with self._lock:
            limit = self.faults.concurrency_limit
            if limit is not None and self._in_flight >= limit:
                return False
            series = self._in_flight_seconds
            second = self._second(series, now, self._in_flight)
            self._in_flight += 1
            series[second] = max(series[second], self._in_flight)
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return True

    def leave(self, now: float) -> None:
        """Give back a place among the requests in flight (the request has its answer)."""
        with self._lock:
            self._second(self._in_flight_seconds, now, self._in_flight)
            self._in_flight -= 1

    def finish(self, status: str, now: float) -> None:
        """Count one API request's answer: an HTTP status, or ``dropped``."""
        with self._lock:
            self._by_status[status] += 1
            if status == "429":
                self._rejected_seconds[self._second(self._rejected_seconds, now, 0)] += 1

    def _second(self, series: list[int], now: float, fill: int) -> int:
        """Return the index of ``now``'s second in a per-second series, growing it with ``fill``.

        The seconds in which nothing happened get ``fill``: for a count that is 0, for the
        number in flight it is the level that held since the last change.
        """
        second = max(0, int(now - self._started))
        if len(series) <= second:
            series.extend([fill] * (second + 1 - len(series)))
        return second

    # -- faults ---------------------------------------------------------------------------------

    def take_token(self, now: float) -> float:
        """Take a rate-limit token: 0.0 when one was free, else the seconds until one is."""
        rate = self._rate
        if rate is None:
            return 0.0
        # A request timed just before the faults changed may be a hair older than the bucket.
        tokens = min(self._burst, self._tokens + max(0.0, now - self._refilled) * rate)
        self._refilled = max(now, self._refilled)
        if tokens >= 1:
            self._tokens = tokens - 1
            return 0.0
        self._tokens = tokens
        return (1 - tokens) / rate

    def latency(self) -> float:
        """Return this request's latency in seconds: ``latency_ms`` give or take the jitter."""
        if self.jitter_s <= 0:
            return self.latency_s
        return max(0.0, self.latency_s + self._latency_rng.uniform(-self.jitter_s, self.jitter_s))

    def draw_fault(self) -> str | None:
        """Draw which transport fault (drop, error_NNN) this request suffers, if any."""
        if not self._thresholds:
            return None
        roll = self._rng.random()
        for name, upto in self._thresholds:
            if roll < upto:
                return name
        return None

    def chance(self, fraction: float) -> bool:
        """Draw a seeded yes with this probability (no draw at all when it is 0)."""
        return fraction > 0 and self._rng.random() < fraction
