"""Record what a run's requests and rows did, per second, in memory that grows with time only.

The API layer calls :meth:`RunMetrics.sent` as an HTTP attempt goes out and
:meth:`RunMetrics.answered` when its answer (or its failure) comes; the engine calls
:meth:`RunMetrics.row_finished` for every row and :meth:`RunMetrics.limit` when the concurrency
limit in force changes. Each call is O(1), a few hundred nanoseconds: it is on every request.

Memory is O(seconds of the run), never O(requests) or O(rows): the current second's counts are
plain attributes, folded into one tuple per second when the clock passes into the next one; and
latencies go into a fixed-size sketch of log-spaced buckets (DDSketch's idea) whose quantiles are
within :data:`RELATIVE_ERROR` of the true ones. Standard library only; not thread-safe: the
engine calls it from its event loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

#: A quantile read from the sketch is within this fraction of the true latency.
RELATIVE_ERROR: Final = 0.02
#: The columns of :meth:`RunMetrics.per_second`, in order.
SERIES_COLUMNS: Final = (
    "second",  # whole seconds since the metrics were created
    "rows_ok",  # rows that finished ok in that second
    "rows_attention",  # rows that finished needing attention
    "requests",  # HTTP attempts sent
    "http_429",  # answers that were 429
    "retries",  # answers to attempts that were retries
    "in_flight",  # most attempts in flight at once
    "in_flight_end",  # attempts in flight as the second ended: the level of the quiet seconds after
    "limit",  # concurrency limit in force as the second ended (0: none reported)
)
NO_ANSWER: Final = "no_answer"  # http_counts' key for an attempt that got no HTTP answer

_GAMMA: Final = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_INV_LOG_GAMMA: Final = 1 / math.log(_GAMMA)
_MIN_S: Final = 1e-6  # latencies below a microsecond share the first bucket
_MAX_S: Final = 1e4  # and above ~3 hours the last one (max stays exact)
_OFFSET: Final = math.floor(math.log(_MIN_S) * _INV_LOG_GAMMA)
_BUCKETS: Final = math.ceil(math.log(_MAX_S) * _INV_LOG_GAMMA) - _OFFSET + 1
_QUANTILES: Final = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


class RunMetrics:
    """Count a run's requests, answers, rows and concurrency limit per second, and its latencies.

    ``clock`` returns seconds (monotonic); tests pass a fake one.
    """

    __slots__ = (
        "_answered",
        "_clock",
        "_http",
        "_in_flight",
        "_latency",
        "_limit",
        "_limit_max",
        "_limit_min",
        "_max_s",
        "_min_s",
        "_next",
        "_now_429",
        "_now_attention",
        "_now_ok",
        "_now_peak",
        "_now_requests",
        "_now_retries",
        "_second",
        "_seconds",
        "_start",
    )

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._second = 0
        self._next = self._start + 1.0
        self._seconds: list[tuple[int, ...]] = []
        self._now_ok = self._now_attention = self._now_requests = 0
        self._now_429 = self._now_retries = self._now_peak = 0
        self._in_flight = 0
        self._limit = 0
        self._limit_min = self._limit_max = 0
        self._http: dict[int | None, int] = {}
        self._latency = [0] * _BUCKETS
        self._answered = 0
        self._min_s = math.inf
        self._max_s = 0.0

    # -- recording: on every request and row, so kept to a few attribute updates -------------

    def sent(self) -> float:
        """Count an HTTP attempt going out; return the token to give :meth:`answered`."""
        now = self._clock()
        if now >= self._next:
            self._roll(now)
        self._now_requests += 1
        in_flight = self._in_flight + 1
        self._in_flight = in_flight
        if in_flight > self._now_peak:
            self._now_peak = in_flight
        return now

    def answered(self, token: float, *, status: int | None, retry: bool) -> None:
        """Count the answer to the attempt ``token`` names (``status`` None: it got none).

        Only attempts that got an HTTP answer go into the latency sketch: a timeout measures
        the timeout, not the API.
        """
        now = self._clock()
        if now >= self._next:
            self._roll(now)
        self._in_flight -= 1
        http = self._http
        http[status] = http.get(status, 0) + 1
        if retry:
            self._now_retries += 1
        if status is None:
            return
        if status == 429:
            self._now_429 += 1
        elapsed = now - token
        self._answered += 1
        if elapsed > self._max_s:
            self._max_s = elapsed
        if elapsed < self._min_s:
            self._min_s = elapsed
        if elapsed > _MIN_S:
            # The argument is >= 0 here, so int() floors it.
            index = int(math.log(elapsed) * _INV_LOG_GAMMA - _OFFSET)
            self._latency[index if index < _BUCKETS else _BUCKETS - 1] += 1
        else:
            self._latency[0] += 1

    def row_finished(self, *, ok: bool) -> None:
        """Count one row reaching its final status (``ok``: in the exit code's ok class)."""
        now = self._clock()
        if now >= self._next:
            self._roll(now)
        if ok:
            self._now_ok += 1
        else:
            self._now_attention += 1

    def limit(self, n: int) -> None:
        """Record the concurrency limit now in force (call it when it changes)."""
        now = self._clock()
        if now >= self._next:
            self._roll(now)
        if not self._limit:
            self._limit_min = self._limit_max = n
        self._limit = n
        self._limit_min = min(self._limit_min, n)
        self._limit_max = max(self._limit_max, n)

    def _roll(self, now: float) -> None:
        """Close the current second's counts and start the one ``now`` falls in."""
        self._seconds.append(self._current())
        self._second = int(now - self._start)
        self._next = self._start + self._second + 1
        self._now_ok = self._now_attention = self._now_requests = 0
        self._now_429 = self._now_retries = 0
        self._now_peak = self._in_flight

    def _current(self) -> tuple[int, ...]:
        return (
            self._second,
            self._now_ok,
            self._now_attention,
            self._now_requests,
            self._now_429,
            self._now_retries,
            self._now_peak,
            self._in_flight,
            self._limit,
        )

    # -- reading: at the end of the run, or for the page ---------------------------------------

    def per_second(self) -> dict[str, list[int]]:
        """Return the per-second series, one list per :data:`SERIES_COLUMNS` name.

        Only seconds in which something was recorded have an entry (and the first second):
        a second missing between two holds no events, with ``in_flight_end`` of the one
        before it still in flight.
        """
        rows = [*self._seconds, self._current()]
        return {name: [row[i] for row in rows] for i, name in enumerate(SERIES_COLUMNS)}

    def http_counts(self) -> dict[str, int]:
        """Return the number of answers per HTTP status (``no_answer``: no HTTP answer at all)."""
        counts = sorted(self._http.items(), key=lambda item: (item[0] is None, item[0] or 0))
        return {NO_ANSWER if status is None else str(status): n for status, n in counts}

    def latency_ms(self) -> dict[str, float]:
        """Return p50, p90, p99 and max latency of the answered attempts, in milliseconds.

        Empty when no attempt got an answer. Quantiles are within :data:`RELATIVE_ERROR`.
        """
        total = self._answered
        if not total:
            return {}
        result: dict[str, float] = {}
        for name, q in _QUANTILES:
            result[name] = _ms(min(max(self._quantile_s(q), self._min_s), self._max_s))
        result["max"] = _ms(self._max_s)
        return result

    def _quantile_s(self, q: float) -> float:
        """Return the latency at quantile ``q`` (nearest rank) as its bucket's representative."""
        rank = max(1, math.ceil(q * self._answered))
        seen = 0
        for index, count in enumerate(self._latency):
            seen += count
            if seen >= rank:
                # The end buckets hold all below a microsecond and all above _MAX_S: there the
                # exact least and most stand in.
                if index == 0:
                    return self._min_s
                return self._max_s if index == _BUCKETS - 1 else _representative(index)
        return self._max_s  # pragma: no cover - the counts add up to the rank

    def concurrency(self, *, ceiling: int) -> dict[str, int]:
        """Return the summary's ``concurrency``: the ceiling, and the final, least and most limit.

        When no limit was ever reported the ceiling was the limit throughout.
        """
        if not self._limit:
            return {"ceiling": ceiling, "final": ceiling, "min": ceiling, "max": ceiling}
        return {
            "ceiling": ceiling,
            "final": self._limit,
            "min": self._limit_min,
            "max": self._limit_max,
        }

    @property
    def requests(self) -> int:
        """Return the number of HTTP attempts sent so far."""
        return sum(row[3] for row in self._seconds) + self._now_requests


def _representative(index: int) -> float:
    """Return the value that stands for bucket ``index``: within RELATIVE_ERROR of its range."""
    upper = _GAMMA ** (index + _OFFSET + 1)
    return 2 * upper / (_GAMMA + 1)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
