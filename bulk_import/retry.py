"""Say what is retried and how long to wait, as small named functions over tenacity.

Retried: connection errors, timeouts, and the statuses in :data:`RETRY_STATUSES`. The wait is
the server's own word when it gives one (``retry-after-ms``, ``Retry-After`` in seconds or as an
HTTP date), else exponential backoff with full jitter.
"""

from __future__ import annotations

import email.utils
import functools
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import tenacity

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 300.0


class RetryableResponse(Exception):
    """Carry a response whose status says "try again" through tenacity."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def is_retryable_exception(exc: BaseException) -> bool:
    """Say whether an exception from one request is worth another try."""
    if isinstance(exc, RetryableResponse):
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


def backoff_s(attempt: int, *, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Return the wait before try ``attempt + 1``: exponential with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def wait_after(exc: BaseException | None, *, attempt: int) -> float:
    """Return the wait after failed try ``attempt``: the server's word if any, else backoff."""
    if isinstance(exc, RetryableResponse):
        asked = retry_after_s(exc.response.headers)
        if asked is not None:
            return asked
    return backoff_s(attempt)


def wait_for(retry_state: tenacity.RetryCallState, *, attempt_offset: int = 0) -> float:
    """Return how long tenacity waits: the server's ``Retry-After`` if any, else backoff."""
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None and outcome.failed else None
    return wait_after(exc, attempt=retry_state.attempt_number + attempt_offset)


def retrying(
    *,
    max_attempts: int,
    should_stop: Callable[[], bool],
    sleep: Callable[[float], Awaitable[Any]],
    attempt_offset: int = 0,
) -> tenacity.AsyncRetrying:
    """Return the retry policy of every API call: what to retry, how long, when to give up.

    ``should_stop`` ends the retries early (the run is stopping); ``sleep`` is the wait, which
    the runner makes interruptible. The last exception or result is returned, never wrapped.
    ``attempt_offset`` counts tries made before this policy took over, for the backoff.
    """

    def stop(retry_state: tenacity.RetryCallState) -> bool:
        return retry_state.attempt_number >= max_attempts or should_stop()

    return tenacity.AsyncRetrying(
        stop=stop,
        wait=functools.partial(wait_for, attempt_offset=attempt_offset),
        retry=tenacity.retry_if_exception(is_retryable_exception),
        sleep=sleep,
        reraise=True,
    )
