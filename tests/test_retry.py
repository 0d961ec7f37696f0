"""Retry policy: what is retried, how long to wait, Retry-After in every form."""

from __future__ import annotations

import asyncio
import email.utils

import httpx
import pytest
import tenacity

from bulk_import import retry
from bulk_import.retry import (
    RetryableResponse,
    backoff_s,
    is_retryable_exception,
    retry_after_s,
    retrying,
    wait_for,
)


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {})


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RetryableResponse(response(503)), True),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("dropped"), True),
        (httpx.UnsupportedProtocol("ftp"), False),
        (httpx.ProxyError("proxy"), False),
        (ValueError("bug"), False),
    ],
)
def test_what_is_retried(exc: BaseException, expected: bool) -> None:
    """Connection errors, timeouts and retryable statuses are retried; bugs are not."""
    assert is_retryable_exception(exc) is expected


def test_retry_after_forms() -> None:
    """Retry-After in seconds, as an HTTP date, and retry-after-ms are all understood."""
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert retry_after_s({"retry-after": date}, now=1_000_000) == pytest.approx(10)
    past = email.utils.formatdate(999_990, usegmt=True)
    assert retry_after_s({"retry-after": past}, now=1_000_000) == 0.0
    assert retry_after_s({}) is None
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({"retry-after-ms": "nan", "retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "x"}) is None
    assert retry_after_s({"retry-after": "99999"}) == retry.RETRY_AFTER_CAP_S
    assert retry_after_s({"retry-after": "Mon, 01 Jan 2001 00:00:00"}) is None


def test_backoff_grows_and_is_capped() -> None:
    """Backoff is full jitter under an exponential ceiling with a cap."""
    for attempt in range(1, 12):
        ceiling = min(retry.BACKOFF_CAP_S, retry.BACKOFF_BASE_S * 2 ** (attempt - 1))
        waits = [backoff_s(attempt) for _ in range(50)]
        assert all(0 <= w <= ceiling for w in waits)
    assert max(backoff_s(10) for _ in range(200)) > retry.BACKOFF_BASE_S * 4


def test_wait_prefers_the_server_word() -> None:
    """A 429's Retry-After sets the wait; without one, backoff applies."""
    policy = retrying(max_attempts=3, should_stop=lambda: False, sleep=asyncio.sleep)
    state = tenacity.RetryCallState(policy, None, (), {})
    state.attempt_number = 1
    fut = tenacity.Future(1)
    fut.set_exception(RetryableResponse(response(429, {"retry-after": "7"})))
    state.outcome = fut
    assert wait_for(state) == 7.0
    fut2 = tenacity.Future(1)
    fut2.set_exception(RetryableResponse(response(503)))
    state.outcome = fut2
    assert 0 <= wait_for(state) <= retry.BACKOFF_BASE_S


async def test_retrying_stops_at_max_attempts_and_reraises() -> None:
    """The policy tries max_attempts times, then raises the last error itself."""
    calls = 0
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        await retrying(max_attempts=4, should_stop=lambda: False, sleep=sleep)(flaky)
    assert calls == 4
    assert len(slept) == 3


async def test_retrying_stops_when_asked() -> None:
    """A stop request ends retries after the current try."""
    calls = 0

    async def sleep(seconds: float) -> None:
        return None

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        await retrying(max_attempts=10, should_stop=lambda: calls >= 2, sleep=sleep)(flaky)
    assert calls == 2
