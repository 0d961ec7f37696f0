"""Run any command as a job: input, checks, pool, journal, stops, signals, counts, summary.

Every command (``validate``, ``run``, ``retry-patch``, ``reconcile``) is a :class:`Job` (a row
handler plus what it checks before the first row and adds after the last) and the
:class:`Work` it was given (its rows, and the report lines it keeps). :func:`execute` does the
rest once, for all of them, keeping SPEC's promises:

- one command at a time per report: the report's lock (:mod:`bulk_import.output.lock`) is
  taken before anything is read or sent, and held to the last byte of output;
- the input is opened, and the job's checks run, before the report is touched: a command that
  fails there (exit 2, or a stop such as a refused key) leaves an existing report as it was;
- rows go to the report's journal as they finish, and the report is replaced whole at the end
  (:mod:`bulk_import.jobs.records`), so a crash at any moment loses no row; a write that fails
  stops the run (exit 3) and an internal error (exit 4) keeps the journal for the next run;
- every row reaches the report exactly once, whatever stops the run;
- the summary is printed (or, with ``--quiet``, the one line that matters on a non-zero exit)
  and ``--summary-json`` is written on every exit, exit 2 included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from bulk_import.api.control import StopControl
from bulk_import.config import ApiOptions, OutputOptions, Secret
from bulk_import.errors import BulkImportError, InternalError, WriteError
from bulk_import.jobs.pool import run_pool, stop_on_signals
from bulk_import.jobs.records import Records
from bulk_import.metrics import RunMetrics
from bulk_import.models import Exit, Outcome, Row, Status, Summary, iso, utc_now
from bulk_import.output.closing import close_output
from bulk_import.output.files import check_writable, is_stdout
from bulk_import.output.lock import Holder, ReportLock
from bulk_import.output.progress import Progress, in_flight_text
from bulk_import.output.summary import exit_code

if TYPE_CHECKING:  # httpx and the API layer cost start-up: a job that sends nothing skips them
    import httpx

    from bulk_import.api.cartesia import CartesiaApi


class Job(Protocol):
    """Say what one command does with each row, before the first and after the last."""

    @property
    def judged(self) -> frozenset[Status] | None:
        """Return the statuses whose rows decide the exit code (None: every row)."""

    async def start(self, api: CartesiaApi | None) -> list[str]:
        """Check what must hold before the first row; return lines of news to show.

        May raise UsageError (exit 2) or stop the run (then nothing is done, the report stays).
        """

    async def handle(self, row: Row) -> Outcome | None:
        """Return the row's outcome (``None``: the row keeps the line it had)."""

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Return the outcome of a row the stopped run did not handle (``None``: keep its line)."""

    def finish(self) -> Iterable[Outcome]:
        """Return the lines that follow the input's rows (reconcile's ``extra``)."""


@dataclass(slots=True)
class Work:
    """Hold what a job works on: its rows, and the report lines it keeps from before."""

    rows: Iterator[Row]
    #: Rows the progress bar expects (None: unknown).
    total: int | None = None
    #: Cells of report lines carried over; a row's new outcome replaces its line.
    base: Sequence[list[str]] = ()
    #: After a stop, yields the rows after the given row more cheaply (validate), if set.
    rest: Callable[[int], Iterator[Row]] | None = None
    #: A line of news to print before the rows go (what was recovered or resumed).
    news: list[str] = field(default_factory=list)
    #: Flush the journal at most this often (validate sends nothing: nothing to lose).
    flush_every_s: float = 0.0
    #: Worker tasks (1 for a job that sends nothing).
    workers: int = 1
    #: HTTP requests opening the input sent already (a ``twilio:`` listing), for the summary.
    requests: int = 0
    #: What a ``twilio:`` listing read (accounts read and skipped, numbers), for the summary.
    twilio: dict[str, object] = field(default_factory=dict)


Prepare = Callable[[], tuple[Job, Work]]


def options_in_force(*configs: object, **extra: object) -> dict[str, object]:
    """Return the options a command runs with, for the summary: never the key itself."""
    shown: dict[str, object] = {}
    for config in configs:
        for item in dataclasses.fields(config):  # type: ignore[arg-type]
            value = getattr(config, item.name)
            if isinstance(value, Secret) or item.name == "invocation":
                continue
            shown[item.name] = str(value) if isinstance(value, Path) else value
    shown.update(extra)
    return shown


@dataclass(frozen=True, slots=True)
class Command:
    """Name a command run: what it is, on what, with which options."""

    name: str
    input: str
    output: OutputOptions
    api: ApiOptions | None = None
    options: dict[str, object] = field(default_factory=dict)
    agent_id: str = ""


def execute(
    command: Command,
    prepare: Prepare,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    stderr: TextIO | None = None,
) -> Summary:
    """Run ``command``: hold its report, prepare its job, run it, close with the summary.

    A :class:`BulkImportError` from the lock, ``prepare`` or the job's checks is raised after
    the summary JSON (with ``error``) is written: the caller prints it as one line and exits 2.
    Any other exception is a bug: it is raised as :class:`InternalError` (exit 4), saying what
    was kept for the next run of the same command.
    """
    out = command.output
    stream = stderr if stderr is not None else sys.stderr
    summary = Summary(
        command=command.name,
        input=command.input,
        report=str(out.report),
        started_at=utc_now(),
        calls_api=command.api is not None,
        options=command.options,
        invocation=out.invocation,
        agent_id=command.agent_id,
    )
    started = time.monotonic()
    metrics = RunMetrics() if command.api is not None else None

    def close(*, printed: bool) -> None:
        summary.finished_at = utc_now()
        close_output(
            summary,
            output=out,
            elapsed_s=time.monotonic() - started,
            stream=stream,
            printed=printed,
            metrics=metrics,
        )

    lock: ReportLock | None = None
    try:
        lock = _hold(command, summary)
        job, work = prepare()
        runner = _Runner(
            command, summary, job, work, transport=transport, stream=stream, metrics=metrics
        )
        asyncio.run(runner.run())
    except BulkImportError as exc:
        summary.error = str(exc)
        summary.exit_code = exc.exit_code
        close(printed=False)
        raise
    except KeyboardInterrupt:
        summary.error = "interrupted before the first row"
        summary.exit_code = Exit.INTERRUPTED
        close(printed=False)
        raise
    except Exception as exc:  # a bug: what finished is kept for the next run, never published
        summary.error = f"internal error: {type(exc).__name__}: {exc}"
        summary.exit_code = Exit.INTERNAL
        close(printed=False)
        raise InternalError(exc, kept=_kept(summary)) from exc
    else:
        close(printed=True)
    finally:
        if lock is not None:
            lock.release()
    return summary


def _hold(command: Command, summary: Summary) -> ReportLock | None:
    """Take the report's lock (none for a report on stdout); check the other outputs' folders."""
    out = command.output
    for path, what in ((out.summary_json, "summary JSON"), (out.html, "run page")):
        if path is not None and not is_stdout(path):
            check_writable(path, what=what)
    if is_stdout(out.report):
        return None
    words = out.invocation or (command.name, command.input)
    holder = Holder(
        pid=os.getpid(),
        command=shlex.join(words),
        started_at=iso(summary.started_at),
        host=socket.gethostname(),
    )
    return ReportLock.take(out.report, holder=holder)


def _kept(summary: Summary) -> str:
    """Say what an internal error left for the next run."""
    if summary.journal:
        return (
            f"the journal {summary.journal} keeps the rows that finished: run the same command "
            "again to finish the work"
        )
    if summary.report_written:
        return "the report holds only the rows that finished"
    return "nothing was written: the report is as it was"


class _Runner:
    """Run one job's rows through the pool into the records, counting as they finish."""

    def __init__(
        self,
        command: Command,
        summary: Summary,
        job: Job,
        work: Work,
        *,
        transport: httpx.AsyncBaseTransport | None,
        stream: TextIO,
        metrics: RunMetrics | None,
    ) -> None:
        self.command = command
        self.metrics = metrics
        self.summary = summary
        self.job = job
        self.work = work
        self.transport = transport
        self.stream = stream
        self.records: Records | None = None

    async def run(self) -> None:
        control = StopControl()
        options = self.command.api
        api = None
        if options is not None:
            from bulk_import.api.cartesia import CartesiaApi

            api = CartesiaApi(
                options,
                control=control,
                recorder=self.metrics,
                transport=self.transport,
                log=None if self.command.output.quiet else self._say,
            )
            if self.command.output.debug:  # credentials masked: Route never shows them
                print(
                    f"bulk-import: debug: requests to {api.base_url} go {api.http.route}",
                    file=self.stream,
                )
        whole = False
        try:
            with stop_on_signals(control):
                self.work.news.extend(await self.job.start(api))
                if control.stopping:
                    # Nothing was done: the report stays as it was, and the reason is the error.
                    self.summary.error = control.reason
                    return
                await self._rows(control, api)
            whole = True
        finally:
            summary = self.summary
            summary.requests = self.work.requests
            summary.twilio = self.work.twilio
            if api is not None:
                await api.__aexit__()
                summary.requests += api.counters.requests
                summary.concurrency = api.limiter.snapshot()
            if self.metrics is not None:
                summary.http = self.metrics.http_counts()
                summary.latency_ms = self.metrics.latency_ms()
            summary.stopped = control.reason if control.stopping else ""
            summary.exit_code = exit_code(
                summary, stop_exit=control.exit_code, judged=self.job.judged
            )
            if self.records is not None and self.records.journal is not None:
                self.records.close(whole=whole)

    async def _rows(self, control: StopControl, api: CartesiaApi | None) -> None:
        work = self.work
        out = self.command.output
        progress = Progress(
            enabled=out.progress,
            quiet=out.quiet,
            total=work.total,
            desc=self.command.name,
            extra=(lambda: _in_flight(api)) if api is not None else None,
            stream=self.stream,
        )
        self.records = records = Records(
            report=out.report,
            summary=self.summary,
            control=control,
            progress=progress,
            metrics=self.metrics,
            stream=self.stream,
        )
        try:
            try:
                records.open(work.base, flush_every_s=work.flush_every_s)
            except WriteError as exc:  # found before the first row: nothing is sent
                control.stop(str(exc), exit_code=Exit.STOPPED)
                self.summary.error = str(exc)
                return
            for line in work.news:
                progress.log(line)
            await run_pool(
                work.rows,
                handle=self.job.handle,
                emit=records.emit,
                not_sent=self.job.not_sent,
                control=control,
                workers=work.workers,
                max_consecutive_failures=(
                    self.command.api.max_consecutive_failures if self.command.api else 1 << 62
                ),
                rest=work.rest,
            )
            for outcome in self.job.finish():
                records.emit(outcome.row, outcome)
        finally:
            progress.close()

    def _say(self, line: str) -> None:
        """Print a line of news before the rows (the bar, which would hold it, is not up yet)."""
        print(line, file=self.stream, flush=True)


def _in_flight(api: CartesiaApi) -> str:
    """Say what the API layer is doing: requests retrying, in flight, under which limit."""
    limiter = api.limiter
    return in_flight_text(
        retrying=api.counters.retrying,
        in_flight=limiter.in_flight,
        window=limiter.window,
        limit=limiter.limit,
        ceiling=limiter.ceiling,
    )
