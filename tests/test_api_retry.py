"""The retry policy: what is retried, how long to wait, Retry-After in every form, test mode."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from bulk_import.api import retry
from bulk_import.api.retry import RetryableAnswer, RetryPolicy, is_retryable, retry_after_s


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RetryableAnswer(503, None), True),
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
    assert is_retryable(exc) is expected


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


def waits(policy: RetryPolicy, failure: BaseException, tries: int) -> list[float | None]:
    """Return the policy's answer after each of ``tries`` failed tries, all counted."""
    state = policy.new_state()
    return [policy.next_wait(state, failure, counted=n, tries=n) for n in range(1, tries + 1)]


def test_backoff_is_full_jitter_under_a_doubling_ceiling_with_a_cap() -> None:
    """Without the server's word the wait is uniform in [0, min(cap, 0.5 * 2^(n-1))]."""
    policy = RetryPolicy(max_attempts=12)
    for _ in range(30):
        for n, wait in enumerate(waits(policy, httpx.ConnectError("x"), 11), start=1):
            assert wait is not None
            assert 0 <= wait <= min(retry.BACKOFF_CAP_S, retry.BACKOFF_BASE_S * 2 ** (n - 1))
    late = [waits(policy, httpx.ConnectError("x"), 10)[-1] or 0.0 for _ in range(100)]
    assert max(late) > retry.BACKOFF_BASE_S * 4


def test_the_server_word_wins_and_max_attempts_ends_it() -> None:
    """A Retry-After is the least wait (jittered a little above it); the last try: give up."""
    policy = RetryPolicy(max_attempts=3)
    first, second, last = waits(policy, RetryableAnswer(429, 7.0), 3)
    assert first is not None
    assert second is not None
    assert 7.0 <= first <= 7.0 + retry.SERVER_JITTER_CAP_S
    assert 7.0 <= second <= 7.0 + retry.SERVER_JITTER_CAP_S
    assert last is None
    assert waits(policy, RetryableAnswer(503, None), 3)[2] is None


def test_workers_told_the_same_wait_do_not_come_back_together() -> None:
    """Refused together and told 1 s, retries spread over [1, 1.5] s instead of one instant."""
    policy = RetryPolicy(max_attempts=3)
    spread = [waits(policy, RetryableAnswer(429, 1.0), 1)[0] or 0.0 for _ in range(200)]
    assert min(spread) >= 1.0
    assert max(spread) <= 1.5
    assert max(spread) - min(spread) > 0.3


def test_what_is_not_retried_is_given_up_at_once() -> None:
    """A failure that is not worth another try gets no wait at all."""
    assert waits(RetryPolicy(max_attempts=5), httpx.UnsupportedProtocol("ftp"), 1) == [None]


def test_uncounted_tries_are_still_bounded() -> None:
    """Tries that do not count (429s while the limit comes down) still end at a hard limit."""
    policy = RetryPolicy(max_attempts=2)
    state = policy.new_state()
    failure = RetryableAnswer(429, 0.0)
    answers = [policy.next_wait(state, failure, counted=0, tries=n) for n in range(1, 20)]
    assert answers[: policy.hard_limit - 1] == [0.0] * (policy.hard_limit - 1)
    assert answers[policy.hard_limit - 1] is None
    assert policy.hard_limit == 2 * retry.HARD_TRIES_FACTOR


def test_test_mode_scales_every_wait() -> None:
    """set_testing scales waits (zero by default), the server's word included, and undoes."""
    policy = RetryPolicy(max_attempts=3)
    retry.set_testing(True)
    try:
        assert retry.is_testing()
        assert waits(policy, RetryableAnswer(429, 30.0), 2) == [0.0, 0.0]
        retry.set_testing(True, wait_scale=0.1)
        (scaled,) = waits(policy, RetryableAnswer(429, 30.0), 1)
        assert scaled is not None
        assert 3.0 <= scaled <= 3.2
    finally:
        retry.set_testing(False)
    assert not retry.is_testing()
    (real,) = waits(policy, RetryableAnswer(429, 30.0), 1)
    assert real is not None
    assert real >= 30.0


def test_a_429_at_the_floor_waits_at_least_the_backoff() -> None:
    """At one request in flight, a 429 asking 0 s still waits the jittered backoff."""
    policy = RetryPolicy(max_attempts=12)
    failure = RetryableAnswer(429, 0.0)
    waits = []
    for _ in range(200):
        state = policy.new_state()
        waits.append(policy.next_wait(state, failure, counted=6, tries=6, at_floor=True) or 0.0)
    assert max(waits) > 1.0  # the backoff after six tries reaches up to 16 s
    state = policy.new_state()
    assert policy.next_wait(state, failure, counted=6, tries=6, at_floor=False) == 0.0
