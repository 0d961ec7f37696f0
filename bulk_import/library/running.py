"""Run a planned library call to its end: sync (in this thread, or on a worker thread when a
loop runs here) or async, and turn what it did into a :class:`~bulk_import.library.result.Result`.

- In this thread, with no loop running: as the CLI runs (SIGINT and SIGTERM stop the run
  gracefully while it goes); the caller's own signal handlers are put back afterwards.
- A loop runs here (a notebook): the run gets a thread and a loop of its own, and this thread
  waits, a KeyboardInterrupt here forwarded to the run (:meth:`StopControl.interrupt`): the
  first stops sending, the next abandons the requests in flight.
- Awaited: on the caller's loop; a cancellation stops the run as Ctrl-C does, then is raised
  again (:meth:`Execution.run_async`).

A run that Ctrl-C (or SIGTERM) stopped raises :class:`Interrupted` carrying its Result. What
the CLI says as a ``warning:`` line is raised as a :class:`~bulk_import.errors.BulkImportWarning`
in the caller's thread once the run is over, pointing at the caller's line (``verbose=True``
prints it as the CLI does, too).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from bulk_import.errors import BulkImportWarning
from bulk_import.jobs.engine import Caller, Execution, Plan
from bulk_import.library.result import Interrupted, Result, SummaryJson
from bulk_import.models import Exit

__all__ = ["Call", "run_async", "run_sync"]


@dataclass(frozen=True, slots=True)
class Call:
    """Say what a call runs (the plan) and how it shows (a bar, the summary on stderr)."""

    plan: Plan
    verbose: bool
    #: The call as words, for next steps written as Python calls (:attr:`Caller.python`).
    words: tuple[str, ...] = ()


def _caller(call: Call, *, signals: bool) -> Caller:
    # Nothing is printed unless verbose: the lines of news and the summary go nowhere.
    stream = sys.stderr if call.verbose else io.StringIO()
    return Caller(stream=stream, bar="auto", signals=signals, memory=True, python=call.words)


def run_sync(call: Call) -> Result:
    """Run a call to the end from sync code, inside a running event loop or not."""
    in_main = threading.current_thread() is threading.main_thread()
    looping = _loop_running()
    execution = Execution(call.plan, caller=_caller(call, signals=in_main and not looping))
    try:
        if looping:
            _on_worker_thread(execution)
        else:
            with _handlers_kept(in_main):
                execution.run()
    except KeyboardInterrupt:  # before the first row: the summary says so, nothing was done
        raise Interrupted(_result(execution)) from None
    _warn(execution)
    return _returned(execution)


async def run_async(call: Call) -> Result:
    """Run a call to the end on the running loop."""
    execution = Execution(call.plan, caller=_caller(call, signals=False))
    await execution.run_async()
    _warn(execution)
    return _returned(execution)


#: How a line of news that is a warning starts (:func:`~bulk_import.sources.sheets.rounded_warning`
#: writes one).
_WARNING = "warning: "


def _warn(execution: Execution) -> None:
    """Raise each ``warning:`` line of the run's news as a BulkImportWarning at the caller."""
    news = execution.runner.work.news if execution.runner is not None else []
    for line in news:
        if line.startswith(_WARNING):
            # 4: this function, run_sync or run_async, the public function, its caller.
            warnings.warn(line.removeprefix(_WARNING), BulkImportWarning, stacklevel=4)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _on_worker_thread(execution: Execution) -> None:
    """Run on a thread with a loop of its own; forward Ctrl-C here to the run, as SIGINT."""
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: loop) as runner:
                runner.run(execution.run_async())
        except BaseException as exc:  # handed to the calling thread
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=work, name="bulk-import")
    with _ctrl_c_raises():
        thread.start()
        # Waited for on an Event, not by join(): Python 3.11's join() interrupted by Ctrl-C
        # can take a thread still running for one that has ended.
        while not done.is_set():
            try:
                done.wait()
            except KeyboardInterrupt:
                # The first stops sending (requests in flight finish), the next ones abandon
                # them; either way this thread waits for the report.
                with contextlib.suppress(RuntimeError):  # the loop has closed: the run is over
                    loop.call_soon_threadsafe(execution.control.interrupt, "SIGINT")
    thread.join()
    if failure:
        raise failure[0]


@contextlib.contextmanager
def _ctrl_c_raises() -> Iterator[None]:
    """Make Ctrl-C a KeyboardInterrupt in this (main) thread while a call waits for its run.

    The loop this thread runs is blocked by the call: the handler its owner installed
    (``asyncio.run`` cancels its main task at the first Ctrl-C) could act only once the call
    is over. Jupyter's kernel raises KeyboardInterrupt already.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler not set from Python, left as it was
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _handlers_kept(in_main: bool) -> Iterator[None]:
    """Put the caller's SIGINT and SIGTERM handlers back: asyncio leaves the defaults."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if in_main and handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


def _result(execution: Execution) -> Result:
    """Return what the execution did as a Result."""
    from bulk_import.library.report import report_frame
    from bulk_import.output.summary import as_json

    summary = as_json(execution.summary, elapsed_s=execution.elapsed_s)
    return Result(report=report_frame(execution.report_csv), summary=cast(SummaryJson, summary))


def _returned(execution: Execution) -> Result:
    """Return the Result; raise :class:`Interrupted` with it for a run Ctrl-C stopped."""
    result = _result(execution)
    if result.exit_code == Exit.INTERRUPTED:
        raise Interrupted(result)
    return result
