"""The one loop that sends a call: turns, tries, retries; nothing new goes out after a stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from bulk_import.api import retry
from bulk_import.api.answers import Final
from bulk_import.api.caller import Caller, Counters
from bulk_import.api.control import StopControl
from bulk_import.api.http import Blocked, Blocker
from bulk_import.api.limiter import Limiter
from bulk_import.api.proxies import DIRECT
from bulk_import.api.retry import RetryPolicy
from bulk_import.models import Exit


class Recorder:
    """Record what the caller tells a recorder."""

    def __init__(self) -> None:
        self.tries = 0
        self.answers: list[tuple[int | None, bool]] = []
        self.limits: list[int] = []

    def sent(self) -> float:
        """Count a try; its token is its number."""
        self.tries += 1
        return float(self.tries)

    def answered(self, token: float, *, status: int | None, retry: bool) -> None:
        """Keep the answer's status and whether it was a retry."""
        self.answers.append((status, retry))

    def limit(self, n: int) -> None:
        """Keep the limits it was told of."""
        self.limits.append(n)


def caller(
    *, max_attempts: int = 5, rate: float | None = None, concurrency: int = 2
) -> tuple[Caller, StopControl, Counters, Recorder]:
    """Return a caller with its stop control, counters and recorder."""
    control = StopControl()
    counters = Counters()
    recorder = Recorder()
    made = Caller(
        policy=RetryPolicy(max_attempts=max_attempts),
        limiter=Limiter(ceiling=concurrency, rate=rate),
        control=control,
        counters=counters,
        recorder=recorder,
    )
    return made, control, counters, recorder


def answers(*statuses: int) -> tuple[Callable[[], object], list[int]]:
    """Return a request answering these statuses in turn (then 201), and its list of calls."""
    calls: list[int] = []
    pending = list(statuses)

    async def request() -> httpx.Response:
        status = pending.pop(0) if pending else 201
        calls.append(status)
        return httpx.Response(status, headers={"retry-after-ms": "1"} if status == 429 else {})

    return request, calls


async def test_a_first_try_that_succeeds_is_one_request() -> None:
    """The common case: one try, no wait, counted once everywhere."""
    made, _, counters, recorder = caller()
    request, calls = answers()
    final = await made.send(request)  # type: ignore[arg-type]
    assert final.response is not None
    assert (final.response.status_code, final.attempts, final.error) == (201, 1, "")
    assert calls == [201]
    assert counters.requests == 1
    assert recorder.answers == [(201, False)]


async def test_retryable_answers_are_retried_until_one_is_final(fast_retries: None) -> None:
    """408, 429 and 5xx are tried again in the same loop; the final answer is kept."""
    made, _, counters, recorder = caller(max_attempts=7)
    request, calls = answers(408, 429, 500, 502, 503, 504)
    final = await made.send(request)  # type: ignore[arg-type]
    assert final.response is not None
    assert (final.response.status_code, final.attempts) == (201, 7)
    assert calls == [408, 429, 500, 502, 503, 504, 201]
    assert counters.requests == 7
    assert [retried for _, retried in recorder.answers] == [False] + [True] * 6


async def test_the_last_answer_stands_when_attempts_run_out(fast_retries: None) -> None:
    """After --max-attempts the last answer is the final one, never an exception."""
    made, _, counters, _ = caller(max_attempts=3)
    request, calls = answers(503, 503, 503, 503)
    final = await made.send(request)  # type: ignore[arg-type]
    assert final.response is not None
    assert (final.response.status_code, final.attempts) == (503, 3)
    assert calls == [503, 503, 503]
    assert counters.retrying == 0


async def test_transport_errors_are_retried_then_named(fast_retries: None) -> None:
    """No answer at all: retried, then the final says which error it was."""
    made, _, counters, recorder = caller(max_attempts=2)

    async def request() -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    final = await made.send(request)
    assert final == Final(None, "ConnectError: connection refused", 2)
    assert counters.requests == 2
    assert recorder.answers == [(None, False), (None, True)]


def unknown_host() -> Blocked:
    """Return the failure of a request to a host DNS does not know."""
    return Blocked(
        "Name or service not known",
        blocker=Blocker.DNS,
        host="api.nowhere.invalid",
        route=DIRECT,
        option="--base-url",
    )


async def test_a_failure_no_retry_mends_stops_the_run_at_once(fast_retries: None) -> None:
    """Blocked (certificate, proxy, DNS): one try, the run stopped (exit 3), the call not sent."""
    made, control, counters, recorder = caller(max_attempts=6)

    async def request() -> httpx.Response:
        raise unknown_host()

    final = await made.send(request)
    reason = "unknown host api.nowhere.invalid (DNS: Name or service not known); check the host in"
    assert control.stopping
    assert control.exit_code == Exit.STOPPED
    assert control.reason.startswith(reason)
    assert final == Final(None, f"not sent: {control.reason}", 1, not_sent=True)
    assert counters.requests == 1
    assert recorder.answers == [(None, False)]


async def test_a_blocked_retry_keeps_the_answer_before_it(fast_retries: None) -> None:
    """A 503, then a blocked retry: the run stops and the call ends with the 503 it got."""
    made, control, _, _ = caller(max_attempts=6)
    tries: list[int] = []

    async def request() -> httpx.Response:
        tries.append(1)
        if len(tries) == 1:
            return httpx.Response(503)
        raise unknown_host()

    final = await made.send(request)
    assert control.stopping
    assert final.response is not None
    assert (final.response.status_code, final.attempts, final.not_sent) == (503, 1, False)
    assert len(tries) == 2


async def test_a_bug_in_the_request_is_raised_and_the_turn_given_back() -> None:
    """An exception that is not HTTP is a bug: raised as it is, the limiter's slot released."""
    made, _, _, _ = caller(concurrency=1)

    async def request() -> httpx.Response:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await made.send(request)
    request2, _ = answers()
    final = await asyncio.wait_for(made.send(request2), 1)  # type: ignore[arg-type]
    assert final.attempts == 1


async def test_stop_while_waiting_for_a_turn_sends_nothing() -> None:
    """A stop while a request waits for its turn under the rate cap leaves it unsent, at once."""
    made, control, counters, _ = caller(rate=0.5)
    first, _ = answers()
    await made.send(first)  # type: ignore[arg-type]  # the next turn is now 2 s away
    request, calls = answers()
    task = asyncio.ensure_future(made.send(request))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not task.done()
    control.stop("interrupted by SIGINT", exit_code=130)
    final = await asyncio.wait_for(task, 0.5)
    assert final == Final(None, "not sent: interrupted by SIGINT", 0, not_sent=True)
    assert calls == []
    assert counters.requests == 1
    # The slots it took were given back: both can be taken again.
    for _ in range(2):
        await asyncio.wait_for(made.limiter.acquire(stopping=lambda: True), 0.5)


async def test_stop_during_a_backoff_keeps_the_last_answer() -> None:
    """A stop while waiting to retry ends the retries: the last answer stands, no new request."""
    made, control, counters, _ = caller(max_attempts=5)
    calls: list[int] = []

    async def request() -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, headers={"Retry-After": "60"})

    task = asyncio.ensure_future(made.send(request))
    while not counters.retrying:
        await asyncio.sleep(0.01)
    control.stop("interrupted by SIGTERM", exit_code=130)
    final = await asyncio.wait_for(task, 1)
    assert final.response is not None
    assert (final.response.status_code, final.attempts) == (503, 1)
    assert calls == [1]
    assert counters.requests == 1
    assert counters.retrying == 0


class Floor(Limiter):
    """A limiter whose floor the test sets (the real one reaches it after 429s at a limit of 1)."""

    floor = False

    @property
    def at_floor(self) -> bool:
        return self.floor


async def test_429s_count_against_max_attempts_only_at_the_floor() -> None:
    """While the limit can still come down a 429 is not one of the row's tries; at 1 it is."""
    retry.set_testing(True)
    try:
        limiter = Floor(ceiling=4)
        made = Caller(policy=RetryPolicy(max_attempts=2), limiter=limiter, control=StopControl())
        request, calls = answers(429, 429, 429, 429)
        final = await made.send(request)  # type: ignore[arg-type]
        assert final.attempts == 5  # four uncounted 429s, then the 201
        assert calls == [429, 429, 429, 429, 201]
        limiter.floor = True
        request, calls = answers(429, 429, 429)
        final = await made.send(request)  # type: ignore[arg-type]
        assert final.response is not None
        assert (final.response.status_code, final.attempts) == (429, 2)
        assert calls == [429, 429]
    finally:
        retry.set_testing(False)


async def test_the_recorder_is_told_the_limit_when_it_changes(fast_retries: None) -> None:
    """The limiter's limit reaches the recorder once at the start and again when a 429 cuts it."""
    made, _, _, recorder = caller(max_attempts=3, concurrency=8)
    request, _ = answers()
    await made.send(request)  # type: ignore[arg-type]
    assert recorder.limits == [8]
    request, _ = answers(429)
    await made.send(request)  # type: ignore[arg-type]
    assert recorder.limits[-1] < 8
