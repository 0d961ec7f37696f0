"""Run any command as a job: input, checks, pool, journal, stops, signals, counts, summary.

Every command (``validate``, ``run``, ``retry-patch``, ``reconcile``) is a :class:`Job` (a row
handler plus what it checks before the first row and adds after the last) and the
:class:`Work` it was given (its rows, and the report lines it keeps), which each job module
plans (a :class:`Plan`: ``plan_run``, ...). :func:`execute` (the CLI) and :class:`Execution`
(the library: in this thread, or awaited on a running loop, the report in memory too) do the
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
import contextlib
import dataclasses
import functools
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, Protocol, TextIO

from bulk_import.api.control import StopControl
from bulk_import.config import ApiOptions, OutputOptions, Secret
from bulk_import.errors import BulkImportError, InternalError
from bulk_import.jobs.runner import Runner
from bulk_import.metrics import RunMetrics
from bulk_import.models import Exit, Outcome, Row, Status, Summary, iso, utc_now
from bulk_import.naming import Naming
from bulk_import.output.closing import close_output
from bulk_import.output.files import check_writable, is_stdout
from bulk_import.output.lock import Holder, ReportLock

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
P = ParamSpec("P")


#: Config fields the summary's options leave out: the command line's words, the key's origin.
_NOT_SHOWN = frozenset({"invocation", "key_origin"})


def options_in_force(*configs: object, **extra: object) -> dict[str, object]:
    """Return the options a command runs with, for the summary: never the key itself."""
    shown: dict[str, object] = {}
    for config in configs:
        for item in dataclasses.fields(config):  # type: ignore[arg-type]
            value = getattr(config, item.name)
            # How the caller names the options (Naming) and where the key came from are not
            # options: the summary is the same whoever calls.
            if isinstance(value, Secret | Naming) or item.name in _NOT_SHOWN:
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


@dataclass(frozen=True, slots=True)
class Plan:
    """Say what one run of a command is: the command, how to open its work, where to send.

    Each job module makes one (``plan_validate``, ...); :func:`execute` (the CLI) or an
    :class:`Execution` (the library) runs it.
    """

    command: Command
    prepare: Prepare
    #: The HTTP transport (tests inject one); None: the network.
    transport: httpx.AsyncBaseTransport | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Say how the caller of a run shows it and stops it: the CLI's way by default.

    A library call (:mod:`bulk_import.library`) prints nothing unless asked, draws ``tqdm.auto``
    (a widget in Jupyter), keeps the report in memory for its ``Result``, and off the main
    thread or awaited, hears Ctrl-C as a KeyboardInterrupt forwarded to
    :meth:`StopControl.interrupt` or as a cancellation, not as a signal.
    """

    #: Where the summary and the lines of news go (None: stderr).
    stream: TextIO | None = None
    #: "terminal": a tqdm bar when the stream is a terminal (``--no-progress`` turns it off);
    #: "auto": ``tqdm.auto`` on stderr, whatever stderr is (a library call's ``progress=True``).
    bar: str = "terminal"
    #: Turn SIGINT and SIGTERM into a graceful stop while the rows go (main thread only).
    signals: bool = True
    #: Keep the report's lines in memory too: :attr:`Execution.report_csv`.
    memory: bool = False
    #: A library call as words (``run``, the source, ``--name=<Python literal>``): the summary's
    #: next steps are then Python calls (:mod:`bulk_import.output.followup`).
    python: tuple[str, ...] | None = None


CLI = Caller()


def execute(plan: Plan) -> Summary:
    """Run ``plan`` as the CLI does: hold its report, prepare its job, run it, close.

    A :class:`BulkImportError` from the lock, the preparation or the job's checks is raised
    after the summary JSON (with ``error``) is written: the caller prints it as one line and
    exits 2. Any other exception is a bug: it is raised as :class:`InternalError` (exit 4),
    saying what was kept for the next run of the same command.
    """
    return Execution(plan).run()


def executed(planner: Callable[P, Plan]) -> Callable[P, Summary]:
    """Return a function that makes the planner's plan and executes it (a job's entry point)."""

    @functools.wraps(planner)
    def run(*args: P.args, **kwargs: P.kwargs) -> Summary:
        return execute(planner(*args, **kwargs))

    run.__name__ = run.__qualname__ = planner.__name__.removeprefix("plan_")
    run.__doc__ = f"Execute :func:`{planner.__name__}`'s plan as the CLI does; return the summary."
    return run


class Execution:
    """Run one plan once, in this thread (:meth:`run`) or on a running loop (:meth:`run_async`).

    :attr:`summary` and :attr:`control` are there from the start, so that a caller can stop the
    run from another thread and read what it did whatever ends it.
    """

    def __init__(
        self, plan: Plan, *, caller: Caller = CLI, control: StopControl | None = None
    ) -> None:
        command = plan.command
        out = command.output
        self.plan = plan
        self.caller = caller
        self.control = control if control is not None else StopControl()
        self.summary = Summary(
            command=command.name,
            input=command.input,
            report="" if out.report is None else str(out.report),
            started_at=utc_now(),
            calls_api=command.api is not None,
            options=command.options,
            invocation=out.invocation if caller.python is None else caller.python,
            agent_id=command.agent_id,
            python=caller.python is not None,
        )
        self.metrics = RunMetrics() if command.api is not None else None
        self.stream = caller.stream if caller.stream is not None else sys.stderr
        self.runner: Runner | None = None
        #: Seconds from start to close (the summary's ``duration_s``), once closed.
        self.elapsed_s: float | None = None
        self._started = time.monotonic()

    @property
    def report_csv(self) -> bytes | None:
        """Return the report as CSV bytes, sorted, ``'`` marks and all (:attr:`Caller.memory`).

        None when the run did no row (it stopped before its first).
        """
        records = self.runner.records if self.runner is not None else None
        return records.memory_csv if records is not None else None

    def run(self) -> Summary:
        """Run to the end in this thread, on an event loop of its own."""
        with self._held():
            job, work = self.plan.prepare()
            self.runner = self._runner(job, work)
            asyncio.run(self.runner.run())
        return self.summary

    async def run_async(self) -> Summary:
        """Run to the end on the running loop; the input is opened on a worker thread.

        A cancellation stops the run as Ctrl-C does (nothing new sent, requests in flight
        finish, the report written), then is raised again once the run is closed.
        """
        with self._held():
            # Opening may read a large file or list a Twilio account (its own asyncio.run):
            # never on the caller's loop.
            job, work = await asyncio.to_thread(self.plan.prepare)
            self.runner = self._runner(job, work)
            cancelled = await _despite_cancellation(self.runner.run(), self.control)
        if cancelled:
            raise asyncio.CancelledError
        return self.summary

    def _runner(self, job: Job, work: Work) -> Runner:
        return Runner(
            self.plan.command,
            self.summary,
            job,
            work,
            transport=self.plan.transport,
            stream=self.stream,
            metrics=self.metrics,
            control=self.control,
            caller=self.caller,
        )

    def _close(self, *, printed: bool) -> None:
        self.summary.finished_at = utc_now()
        self.elapsed_s = time.monotonic() - self._started
        close_output(
            self.summary,
            output=self.plan.command.output,
            elapsed_s=self.elapsed_s,
            stream=self.stream,
            printed=printed,
            metrics=self.metrics,
        )

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Hold the report while the body runs; close with the summary however it ends."""
        summary = self.summary
        lock: ReportLock | None = None
        try:
            lock = _hold(self.plan.command, summary)
            yield
        except BulkImportError as exc:
            summary.error = str(exc)
            summary.exit_code = exc.exit_code
            self._close(printed=False)
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):
            summary.error = "interrupted before the first row"
            summary.exit_code = Exit.INTERRUPTED
            self._close(printed=False)
            raise
        except Exception as exc:  # a bug: what finished is kept for the next run, never published
            summary.error = f"internal error: {type(exc).__name__}: {exc}"
            summary.exit_code = Exit.INTERNAL
            self._close(printed=False)
            raise InternalError(exc, kept=_kept(summary)) from exc
        else:
            self._close(printed=True)
        finally:
            if lock is not None:
                lock.release()


async def _despite_cancellation(run: Coroutine[object, object, None], control: StopControl) -> bool:
    """Await ``run`` to its end; say whether the caller's task was cancelled meanwhile.

    A cancellation is an interrupt (:meth:`StopControl.interrupt`): the first stops sending,
    the next abandons what is in flight; the run always finishes its report.
    """
    task = asyncio.ensure_future(run)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():  # the run itself was cancelled, not this caller
                raise
            cancelled = True
            control.interrupt("cancellation")
        else:
            return cancelled


def _hold(command: Command, summary: Summary) -> ReportLock | None:
    """Take the report's lock (none for a report on stdout or in memory); check the other
    outputs' folders."""
    out = command.output
    for path, what in ((out.summary_json, "summary JSON"), (out.html, "run page")):
        if path is not None and not is_stdout(path):
            check_writable(path, what=what)
    if out.report is None or is_stdout(out.report):
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
    if not summary.report:
        return "nothing was written: the report was kept in memory only"
    return "nothing was written: the report is as it was"
