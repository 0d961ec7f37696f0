"""Run rows through the API with a bounded pool of workers: rows in, outcomes out.

A fixed number of worker tasks (``--concurrency``) share one iterator of rows, so memory stays
flat whatever the number of rows: no task per row is created up front. Each outcome is handed
to ``emit`` as soon as it is known. A :class:`StopControl` ends the run early (401/403, too many
failures in a row, Ctrl-C/SIGTERM): nothing new is sent, requests in flight finish, and the
rows left are emitted as ``not_attempted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx

from bulk_import.client import describe_exception
from bulk_import.config import ApiOptions
from bulk_import.errors import BulkImportError
from bulk_import.models import Outcome, Row, Status
from bulk_import.retry import (
    RETRY_STATUSES,
    RetryableResponse,
    is_retryable_exception,
    retry_after_s,
    retrying,
    wait_after,
)
from bulk_import.throttle import Throttle

EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 4  # the CLI's exit code for a bug
FAILURES = frozenset({Status.FAILED, Status.PATCH_FAILED})
IN_FLIGHT_UNKNOWN = (
    "interrupted while the request was in flight: outcome unknown; "
    "--resume sends it again (a 409 then means it had arrived)"
)


class StopControl:
    """Say whether the run must stop, why, and with which exit code; wake sleepers when it does."""

    def __init__(self) -> None:
        self.reason = ""
        self.exit_code = 0
        self._event = asyncio.Event()
        self.signals = 0
        self._workers: list[asyncio.Task[None]] = []

    @property
    def stopping(self) -> bool:
        """Say whether a stop was asked for."""
        return self._event.is_set()

    def stop(self, reason: str, *, exit_code: int) -> None:
        """Ask the run to stop; the first reason given is the one kept."""
        if not self._event.is_set():
            self.reason = reason
            self.exit_code = exit_code
            self._event.set()

    def stop_if_refused(self, code: int) -> None:
        """Stop at once when an answer says the API key is refused (401 or 403)."""
        if code in (401, 403):
            self.stop(
                f"the API refused the key (HTTP {code}); check CARTESIA_API_KEY or --api-key-file",
                exit_code=EXIT_STOPPED,
            )

    def track(self, workers: list[asyncio.Task[None]]) -> None:
        """Remember the worker tasks, so that a second Ctrl-C can cancel them."""
        self._workers = workers

    def cancel_in_flight(self) -> None:
        """Abandon the requests in flight (a second Ctrl-C): their rows are marked unknown."""
        for task in self._workers:
            task.cancel()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when a stop is asked for."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=seconds)


@dataclass(slots=True)
class Counters:
    """Count what the progress bar and the summary show while the run goes."""

    requests: int = 0
    retrying: int = 0


@dataclass(frozen=True, slots=True)
class Sent:
    """Hold the final answer to one logical call after retries: a response, or why none came."""

    response: httpx.Response | None
    error: str
    attempts: int


class _NotSent(Exception):
    """Say that the run stopped before a request went out: nothing was sent."""


class Caller:
    """Send one logical request with the run's retry policy, throttle and stop control."""

    def __init__(
        self,
        *,
        throttle: Throttle,
        control: StopControl,
        counters: Counters,
        max_attempts: int,
    ) -> None:
        self._throttle = throttle
        self._control = control
        self._counters = counters
        self._max_attempts = max_attempts

    @classmethod
    def for_options(cls, api: ApiOptions) -> Caller:
        """Return the caller of one command: its own throttle, stop control and counters."""
        return cls(
            throttle=Throttle(concurrency=api.concurrency, rate=api.rate),
            control=StopControl(),
            counters=Counters(),
            max_attempts=api.max_attempts,
        )

    @property
    def control(self) -> StopControl:
        """Return the stop control the calls obey."""
        return self._control

    @property
    def counters(self) -> Counters:
        """Return the counters the calls keep."""
        return self._counters

    async def _sleep(self, seconds: float) -> None:
        self._counters.retrying += 1
        try:
            await self._control.sleep(seconds)
        finally:
            self._counters.retrying -= 1

    async def send(self, request: Callable[[], Awaitable[httpx.Response]]) -> Sent:
        """Send ``request`` until it gets a final answer, attempts run out, or the run stops."""
        attempts = 0
        last: BaseException | None = None
        throttle = self._throttle
        counters = self._counters
        control = self._control

        async def once() -> httpx.Response:
            nonlocal attempts, last
            await throttle.acquire(sleep=control.sleep, stopping=lambda: control.stopping)
            if control.stopping:
                # Nothing new goes out after a stop, even when it came during a backoff or a
                # Retry-After pause (tenacity does not ask `stop` again after its sleep).
                throttle.release(status=None)
                raise last if last is not None else _NotSent()
            status: int | None = None
            wait: float | None = None
            try:
                attempts += 1
                counters.requests += 1
                response = await request()
                status = response.status_code
                if status in RETRY_STATUSES:
                    wait = retry_after_s(response.headers)
                    raise RetryableResponse(response)
                return response
            except BaseException as exc:
                last = exc
                raise
            finally:
                throttle.release(status=status, retry_after=wait)

        # The first try goes out directly: nearly every row succeeds at once, and building
        # tenacity's machinery for it cost as much CPU as the request (BENCHMARKS.md).
        try:
            return Sent(await once(), "", attempts)
        except BaseException as exc:
            first = exc
        if self._max_attempts <= 1 or control.stopping or not is_retryable_exception(first):
            return self._final(first, attempts)
        await self._sleep(wait_after(first, attempt=1))
        policy = retrying(
            max_attempts=self._max_attempts - 1,
            should_stop=lambda: control.stopping,
            sleep=self._sleep,
            attempt_offset=1,
        )
        try:
            response: httpx.Response = await policy(once)
        except BaseException as exc:
            return self._final(exc, attempts)
        return Sent(response, "", attempts)

    def _final(self, exc: BaseException, attempts: int) -> Sent:
        """Turn the exception that ended a call into its final answer; re-raise the others."""
        if isinstance(exc, RetryableResponse):
            return Sent(exc.response, "", attempts)
        if isinstance(exc, _NotSent):
            return Sent(None, f"not sent: {self._control.reason}", attempts)
        if isinstance(exc, httpx.HTTPError):
            return Sent(None, describe_exception(exc), attempts)
        raise exc


Handler = Callable[[Row], Awaitable[Outcome]]


async def run_pool(
    rows: Iterator[Row],
    *,
    handle: Handler,
    emit: Callable[[Outcome], None],
    control: StopControl,
    workers: int,
    max_consecutive_failures: int,
    not_sent: Callable[[Row, str], Outcome] | None = None,
) -> None:
    """Hand every row to ``handle`` with ``workers`` tasks; ``emit`` every outcome once.

    Rows that already carry a status (invalid, duplicate) are emitted as they are. After a stop,
    the rows not yet sent are emitted as ``not_sent(row, reason)`` says, by default
    ``not_attempted``.
    """
    consecutive = 0
    skipped = not_sent or _not_attempted

    def finish(outcome: Outcome) -> None:
        nonlocal consecutive
        emit(outcome)
        if outcome.status in FAILURES:
            consecutive += 1
            if consecutive >= max_consecutive_failures:
                control.stop(
                    f"{consecutive} rows failed in a row (--max-consecutive-failures "
                    f"{max_consecutive_failures}); the last said: {outcome.error}",
                    exit_code=EXIT_STOPPED,
                )
        elif outcome.status is not Status.NOT_ATTEMPTED:
            consecutive = 0

    async def worker() -> None:
        try:
            for row in rows:
                if row.status is not None:
                    emit(Outcome(row, row.status, error=row.error))
                elif control.stopping:
                    emit(skipped(row, f"not sent: {control.reason}"))
                else:
                    try:
                        outcome = await handle(row)
                    except asyncio.CancelledError:
                        # Deliberately absorbed: a second Ctrl-C abandons this request, but its
                        # row must still reach the report, and the rows left must be drained.
                        outcome = Outcome(row, Status.FAILED, error=IN_FLIGHT_UNKNOWN)
                    finish(outcome)
        except Exception as exc:
            # The input failed halfway (or a bug): send nothing new, and let the other workers
            # finish the requests they hold, so that their rows reach the report before it closes.
            code = exc.exit_code if isinstance(exc, BulkImportError) else EXIT_INTERNAL
            control.stop(f"stopped by an error: {exc}", exit_code=code)
            raise

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, workers))]
    control.track(tasks)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _not_attempted(row: Row, reason: str) -> Outcome:
    return Outcome(row, Status.NOT_ATTEMPTED, error=reason)


@contextlib.contextmanager
def stop_on_signals(control: StopControl) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop; a second one cancels what is in flight."""
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        control.signals += 1
        if control.signals == 1:
            control.stop(f"interrupted by {name}", exit_code=EXIT_INTERRUPTED)
        else:
            control.cancel_in_flight()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
        except (
            NotImplementedError,
            RuntimeError,
            ValueError,
        ):  # pragma: no cover - not main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
