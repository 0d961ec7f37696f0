"""Send one logical request: the limiter's turn, the try, and the retry policy, in one loop.

Every HTTP request of a run goes through :meth:`Caller.send`: it waits for a turn under the
adaptive :class:`~bulk_import.api.limiter.Limiter` (concurrency and ``--rate``), sends, tells
the limiter and the metrics how the answer came, and asks the
:class:`~bulk_import.api.retry.RetryPolicy` what to do after a failure.
Nothing new goes out once the run is stopping, even when the stop came during a wait. A failure
no retry mends (:func:`~bulk_import.api.answers.stop_reason`: an unverifiable certificate, a
refusing proxy, an unknown host) stops the run at once, with the line that says what to fix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
import tenacity

from bulk_import.api.answers import Final, describe_exception, stop_reason
from bulk_import.api.control import StopControl
from bulk_import.api.limiter import Limiter, Permit
from bulk_import.api.retry import RETRY_STATUSES, RetryableAnswer, RetryPolicy, retry_after_s
from bulk_import.models import Exit


class Recorder(Protocol):
    """Record every try for the summary and the run page (``bulk_import.metrics.RunMetrics``)."""

    def sent(self) -> float:
        """Count a try going out; return the token :meth:`answered` takes."""

    def answered(self, token: float, *, status: int | None, retry: bool) -> None:
        """Count a try's answer (``None``: none came)."""

    def limit(self, n: int) -> None:
        """Note the concurrency limit in force (called when it changes)."""


@dataclass(slots=True)
class Counters:
    """Count what the progress bar and the summary show while the run goes."""

    requests: int = 0
    retrying: int = 0


Request = Callable[[], Awaitable[httpx.Response]]


class Caller:
    """Send logical requests with the run's retry policy, limiter, stop control and counters."""

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        limiter: Limiter,
        control: StopControl,
        counters: Counters | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.policy = policy
        self.limiter = limiter
        self.control = control
        self.counters = counters if counters is not None else Counters()
        self._recorder = recorder
        self._limit = 0

    async def send(
        self, request: Request, *, on_retry: Callable[[Final, float], None] | None = None
    ) -> Final:
        """Send ``request`` until it gets a final answer, the policy gives up, or the run stops.

        ``on_retry(last, wait)`` is told of each retry before its wait (the preflight says so).
        """
        control = self.control
        limiter = self.limiter
        counters = self.counters
        recorder = self._recorder
        tries = counted = 0
        state: tenacity.RetryCallState | None = None
        last: Final | None = None

        def stopping() -> bool:
            return control.stopping

        while True:
            permit = await limiter.acquire(sleep=control.sleep, stopping=stopping)
            if control.stopping:
                limiter.release(permit, status=None)
                return self._stopped(last, tries)
            tries += 1
            counters.requests += 1
            token = recorder.sent() if recorder is not None else 0.0
            status: int | None = None
            failure: BaseException
            try:
                response = await request()
            except httpx.HTTPError as exc:
                self._answered(permit, token, None, None, tries)
                reason = stop_reason(exc)
                if reason:  # no retry, no other row, gets past it: stop the run, say the fix
                    control.stop(reason, exit_code=Exit.STOPPED)
                    return self._stopped(last, tries)
                failure = exc
                last = Final(None, describe_exception(exc), tries)
            except BaseException:
                self._answered(permit, token, None, None, tries)
                raise
            else:
                status = response.status_code
                asked = retry_after_s(response.headers) if status in RETRY_STATUSES else None
                self._answered(permit, token, status, asked, tries)
                if status not in RETRY_STATUSES:
                    return Final(response, "", tries)
                failure = RetryableAnswer(status, asked)
                last = Final(response, "", tries)
            # A 429 while the limiter can still come down is the limiter's signal, not the row's
            # failure: it does not use up one of the row's --max-attempts.
            floor = limiter.at_floor
            if not (status == 429 and not floor):
                counted += 1
            if state is None:
                state = self.policy.new_state()
            wait = self.policy.next_wait(
                state, failure, counted=counted, tries=tries, at_floor=floor
            )
            if wait is None or control.stopping:
                return last
            if on_retry is not None:
                on_retry(last, wait)
            counters.retrying += 1
            try:
                await control.sleep(wait)
            finally:
                counters.retrying -= 1

    def _answered(
        self, permit: Permit, token: float, status: int | None, asked: float | None, tries: int
    ) -> None:
        """Tell the limiter and the recorder how one try ended."""
        limiter = self.limiter
        limiter.release(permit, status=status, retry_after=asked)
        recorder = self._recorder
        if recorder is not None:
            recorder.answered(token, status=status, retry=tries > 1)
            if limiter.limit != self._limit:
                self._limit = limiter.limit
                recorder.limit(self._limit)

    def _stopped(self, last: Final | None, tries: int) -> Final:
        """Return the final answer of a call the run's stop cut short."""
        if last is not None:
            return last
        return Final(None, f"not sent: {self.control.reason}", tries, not_sent=True)
