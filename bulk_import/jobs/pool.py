"""Run rows through a job's handler with a bounded pool of workers: rows in, outcomes out.

A fixed number of worker tasks share one iterator of rows, so memory stays flat whatever the
number of rows: no task per row is created up front. Each outcome is handed to ``emit`` as soon
as it is known. After a stop (a refused key, too many failures in a row, Ctrl-C/SIGTERM) nothing
new is sent, requests in flight finish, and every row left is still emitted, as the job says.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator

from bulk_import.api.control import StopControl
from bulk_import.errors import BulkImportError
from bulk_import.models import Exit, Outcome, Row, Status

FAILURES = frozenset({Status.FAILED, Status.PATCH_FAILED, Status.DELETE_FAILED})
#: Rows a worker handles between two turns it gives the event loop when its handler never
#: waits (validate): signals are only seen when the loop runs.
YIELD_EVERY = 256
IN_FLIGHT_UNKNOWN = (
    "interrupted while the request was in flight: outcome unknown; "
    "run again: a 409 then means it had arrived"
)

Handler = Callable[[Row], Awaitable[Outcome | None]]
NotSent = Callable[[Row, str], Outcome | None]
Emit = Callable[[Row, Outcome | None], None]


class _Rows:
    """Share one iterator among the workers; after a stop, switch to a cheaper one if given."""

    def __init__(
        self, rows: Iterator[Row], rest: Callable[[int], Iterator[Row]] | None = None
    ) -> None:
        self._rows = rows
        self._rest = rest
        self.last = 0

    def take(self, stopping: bool) -> Row | None:
        if stopping and self._rest is not None:
            close = getattr(self._rows, "close", None)
            if close is not None:
                close()
            self._rows = self._rest(self.last)
            self._rest = None
        row = next(self._rows, None)
        if row is not None and row.row_number is not None:
            self.last = max(self.last, row.row_number)
        return row


async def run_pool(
    rows: Iterator[Row],
    *,
    handle: Handler,
    emit: Emit,
    not_sent: NotSent,
    control: StopControl,
    workers: int,
    max_consecutive_failures: int,
    rest: Callable[[int], Iterator[Row]] | None = None,
) -> None:
    """Hand every row to ``handle`` with ``workers`` tasks; ``emit`` every row once.

    Rows that already carry a status (invalid, duplicate) are emitted as they are. After a stop,
    the rows not yet handled are emitted as ``not_sent(row, reason)`` says (``None``: the row
    keeps the line it had). ``rest(last_row)``, when given, yields those rows more cheaply.
    """
    consecutive = 0
    shared = _Rows(rows, rest)

    def finish(row: Row, outcome: Outcome | None) -> None:
        nonlocal consecutive
        emit(row, outcome)
        if outcome is None or outcome.status is Status.NOT_ATTEMPTED:
            return
        if failed(outcome):
            consecutive += 1
            if consecutive >= max_consecutive_failures:
                control.stop(
                    f"{consecutive} rows failed in a row (--max-consecutive-failures "
                    f"{max_consecutive_failures}); the last said: {outcome.error}",
                    exit_code=Exit.STOPPED,
                )
        else:
            consecutive = 0

    async def worker() -> None:
        handled = 0
        try:
            while (row := shared.take(control.stopping)) is not None:
                if row.status is not None:
                    emit(row, Outcome(row, row.status, error=row.error))
                elif control.stopping:
                    emit(row, not_sent(row, f"not sent: {control.reason}"))
                else:
                    try:
                        outcome = await handle(row)
                    except asyncio.CancelledError:
                        # Deliberately absorbed: a second Ctrl-C abandons this request, but its
                        # row must still reach the report, and the rows left must be drained.
                        outcome = Outcome(row, Status.FAILED, error=IN_FLIGHT_UNKNOWN)
                    finish(row, outcome)
                handled += 1
                if handled % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except Exception as exc:
            # The input failed halfway (or a bug): send nothing new, and let the other workers
            # finish the requests they hold, so that their rows reach the report before it closes.
            code = exc.exit_code if isinstance(exc, BulkImportError) else Exit.INTERNAL
            control.stop(f"stopped by an error: {exc}", exit_code=code)
            raise

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, workers))]
    control.track(tasks)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def failed(outcome: Outcome) -> bool:
    """Say whether a row failed (for ``--max-consecutive-failures``)."""
    if outcome.status is Status.AGENT_MISMATCH:
        # A fix that failed leaves the row agent_mismatch, with the requests it made; reconcile's
        # plan finds agent_mismatch rows with none, and they are drift, not failures.
        return outcome.attempts > 0
    return outcome.status in FAILURES


@contextlib.contextmanager
def stop_on_signals(control: StopControl) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop; a second one cancels what is in flight."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, control.interrupt, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
