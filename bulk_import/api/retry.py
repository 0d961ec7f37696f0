"""Say what is retried and how long to wait: tenacity's strategies, and a test mode.

Retried: connection errors, timeouts, and the statuses in :data:`RETRY_STATUSES`. The wait is
the server's own word when it gives one (``retry-after-ms``, ``Retry-After`` in seconds or as an
HTTP date), else exponential backoff with full jitter (tenacity's ``wait_random_exponential``).

The loop that applies this policy is :class:`bulk_import.api.caller.Caller`: one loop for the
first try and every retry. It asks tenacity's ``retry``, ``stop`` and ``wait`` strategies what to
do only after a failure, through a ``RetryCallState`` made at the first one. Running each call
inside ``tenacity.AsyncRetrying`` instead cost 25-58 us of CPU per call here (7-15 % of a row's
CPU, BENCHMARKS.md), for a first try that nearly always succeeds.

:func:`set_testing` turns every wait to zero (or scales it), as stamina's ``set_testing`` does,
so tests of retries need no monkeypatching and take no time.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import tenacity

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 300.0
#: Jitter added to the server's wait: up to this share of it, and at most this many seconds.
SERVER_JITTER = 0.5
SERVER_JITTER_CAP_S = 2.0
#: Tries of one call at most, whatever else: 429s while the limiter still has room to come
#: down are not counted against --max-attempts, but a call never loops for ever.
HARD_TRIES_FACTOR = 4


@dataclass(slots=True)
class _Testing:
    on: bool = False
    wait_scale: float = 0.0


_TESTING = _Testing()


def set_testing(on: bool, *, wait_scale: float = 0.0) -> None:
    """Turn waits between tries to zero (or scale them by ``wait_scale``) while ``on`` (tests)."""
    _TESTING.on = on
    _TESTING.wait_scale = wait_scale


def is_testing() -> bool:
    """Say whether the test mode of :func:`set_testing` is on."""
    return _TESTING.on


class RetryableAnswer(Exception):
    """Carry an answer whose status says "try again" (and what it asked to wait) to tenacity."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def is_retryable(exc: BaseException) -> bool:
    """Say whether the failure of one try is worth another."""
    if isinstance(exc, RetryableAnswer):
        return True
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return False
    return isinstance(exc, httpx.TransportError)


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return the wait a response asks for, in seconds, or ``None`` when it asks for none."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return min(value, RETRY_AFTER_CAP_S)
    text = headers.get("retry-after")
    if text is None:
        return None
    text = text.strip()
    if text.isdigit():
        return min(float(text), RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(wait, 0.0), RETRY_AFTER_CAP_S)


class wait_server_first(tenacity.wait.wait_base):
    """Wait what the server asked for when it asked, else ``fallback`` (tenacity's backoff).

    The server's word is a minimum, and a little jitter is added to it (up to half of it, at
    most :data:`SERVER_JITTER_CAP_S`): requests refused together and told the same wait would
    otherwise all come back in the same instant, and be refused together again.
    """

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self._fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(exc, RetryableAnswer) and exc.retry_after is not None:
            asked = exc.retry_after
            return asked + random.uniform(0, min(asked * SERVER_JITTER, SERVER_JITTER_CAP_S))
        return float(self._fallback(retry_state))


#: The backoff: full jitter, 0.5 s doubling up to 30 s.
BACKOFF = tenacity.wait_random_exponential(multiplier=BACKOFF_BASE_S, max=BACKOFF_CAP_S)


class RetryPolicy:
    """Decide, after a failed try, whether to try again and how long to wait first."""

    def __init__(self, *, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self.hard_limit = max(max_attempts, 1) * HARD_TRIES_FACTOR
        self._retry = tenacity.retry_if_exception(is_retryable)
        self._stop = tenacity.stop_after_attempt(max_attempts)
        self._wait = wait_server_first(BACKOFF)

    def new_state(self) -> tenacity.RetryCallState:
        """Return the state one call's decisions are made on (made at its first failure)."""
        return tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]

    def next_wait(
        self,
        state: tenacity.RetryCallState,
        failure: BaseException,
        *,
        counted: int,
        tries: int,
        at_floor: bool = False,
    ) -> float | None:
        """Return the wait before the next try, or ``None`` to give up.

        ``counted`` is the tries that count against ``--max-attempts``; ``tries`` all of them.
        ``at_floor``: the limiter is at one request in flight and the server still refuses, so
        a 429 waits at least the backoff whatever it asks (a ``Retry-After: 0`` would otherwise
        have one request hammer a rate limit the limiter can no longer slow down).
        """
        state.attempt_number = max(counted, 1)
        state.outcome = None
        state.set_exception((type(failure), failure, failure.__traceback__))
        if not self._retry(state) or tries >= self.hard_limit:
            return None
        if counted and self._stop(state):
            return None
        wait = float(self._wait(state))
        if at_floor and isinstance(failure, RetryableAnswer) and failure.status == 429:
            wait = max(wait, float(BACKOFF(state)))
        return wait * _TESTING.wait_scale if _TESTING.on else wait
