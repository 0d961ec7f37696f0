"""The functions of the Python API: ``validate``, ``run``, ``retry_patch``, ``reconcile``, and
an ``async`` twin of each (``validate_async``, ...), over the same engine as the CLI.

Each command is written once, as a planner: its keyword options (the CLI's, by their Python
names; None stands for the CLI's default) are checked and turned into the engine's
:class:`~bulk_import.jobs.engine.Plan` (:mod:`bulk_import.library.options`). From each planner
come two functions, as httpx's ``Client`` and ``AsyncClient`` are twins:

- the sync one runs the plan in this thread as the CLI does (SIGINT and SIGTERM stop it
  gracefully); when an event loop is already running in this thread (a notebook), on a worker
  thread with a loop of its own, a KeyboardInterrupt in this thread forwarded to the run. A run
  stopped so raises :class:`~bulk_import.library.result.Interrupted` carrying its Result;
- the async one awaits the plan on the running loop; a cancellation stops it as Ctrl-C does
  (nothing new sent, requests in flight finish, the report written), then is raised again.

Nothing is printed unless ``progress=True`` (``tqdm.auto``: a widget in Jupyter) or
``verbose=True`` (the lines of news and the summary, on stderr). Without ``report=`` nothing
is written to disk: the report is kept in memory for the Result, and a crash loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeAlias, cast

from bulk_import.errors import UsageError
from bulk_import.jobs.engine import Caller, Execution, Plan
from bulk_import.jobs.inputs import Input
from bulk_import.library import options
from bulk_import.library.naming import PYTHON
from bulk_import.library.result import Interrupted, Result, SummaryJson
from bulk_import.library.twilio import twilio_options
from bulk_import.models import Exit
from bulk_import.output.files import STDOUT
from bulk_import.sources.frame import given_rows

if TYPE_CHECKING:
    import pandas as pd

    from bulk_import.config import InputOptions, OutputOptions, TwilioOptions

__all__ = [
    "PathLike",
    "ReportSource",
    "Source",
    "reconcile",
    "reconcile_async",
    "retry_patch",
    "retry_patch_async",
    "run",
    "run_async",
    "validate",
    "validate_async",
]

PathLike: TypeAlias = "str | os.PathLike[str]"
#: What ``validate``, ``run`` and ``reconcile`` read: a path (or ``twilio:...``), a DataFrame,
#: dicts (one per row), or number strings.
Source: TypeAlias = (
    "str | os.PathLike[str] | pd.DataFrame | Iterable[Mapping[str, object]]"
    " | Iterable[str | int | float | None]"
)
#: What ``retry_patch`` reads: a report's path, or a report as a DataFrame (a Result's).
ReportSource: TypeAlias = "str | os.PathLike[str] | pd.DataFrame"
Region: TypeAlias = Literal["us1", "ie1", "au1"]
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class _Call:
    """Say what a call runs (the plan) and how it shows (a bar, the summary on stderr)."""

    plan: Plan
    verbose: bool


# -- the planners: one per command, the options checked -------------------------------------------


def _validate(
    source: Source,
    *,
    sheet: str | int | None = None,
    number_column: str | None = None,
    label_column: str | None = None,
    header_row: int | None = None,
    no_header: bool = False,
    default_label: str | None = None,
    default_region: str | None = None,
    provider_id: str | None = None,
    twilio_account_sid: str | None = None,
    region: Region | None = None,
    agent_id: str | None = None,
    twilio_base_url: str | None = None,
    twilio_credentials_file: PathLike | None = None,
    subaccounts: bool = False,
    report: PathLike | None = None,
    summary_json: PathLike | None = None,
    html: PathLike | None = None,
    progress: bool = False,
    verbose: bool = False,
) -> _Call:
    from bulk_import.jobs.validate import plan_validate

    params = dict(locals())
    given, inputs, twilio, output = _input_config(params)
    plan = plan_validate(source=given, input_options=inputs, output=output, twilio=twilio)
    return _Call(plan, verbose=verbose)


def _run(
    source: Source,
    *,
    sheet: str | int | None = None,
    number_column: str | None = None,
    label_column: str | None = None,
    header_row: int | None = None,
    no_header: bool = False,
    default_label: str | None = None,
    default_region: str | None = None,
    provider_id: str | None = None,
    twilio_account_sid: str | None = None,
    region: Region | None = None,
    agent_id: str | None = None,
    twilio_base_url: str | None = None,
    twilio_credentials_file: PathLike | None = None,
    subaccounts: bool = False,
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_file: PathLike | None = None,
    api_version: str | None = None,
    concurrency: int | None = None,
    rate: float | None = None,
    max_attempts: int | None = None,
    timeout: float | None = None,
    max_consecutive_failures: int | None = None,
    resume: bool = False,
    report: PathLike | None = None,
    summary_json: PathLike | None = None,
    html: PathLike | None = None,
    progress: bool = False,
    verbose: bool = False,
) -> _Call:
    from bulk_import.jobs.importing import plan_run

    params = dict(locals())
    if resume and report is None:
        raise UsageError("resume=True needs report=PATH: the report of the run to resume")
    given, inputs, twilio, output = _input_config(params)
    api = options.api_options(params, naming=PYTHON)
    plan = plan_run(
        source=given,
        input_options=inputs,
        api=api,
        output=output,
        resume=options.flag(params, "resume", PYTHON),
        twilio=twilio,
    )
    return _Call(plan, verbose=verbose)


def _retry_patch(
    source: ReportSource,
    *,
    agent_id: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_file: PathLike | None = None,
    api_version: str | None = None,
    concurrency: int | None = None,
    rate: float | None = None,
    max_attempts: int | None = None,
    timeout: float | None = None,
    max_consecutive_failures: int | None = None,
    report: PathLike | None = None,
    summary_json: PathLike | None = None,
    html: PathLike | None = None,
    progress: bool = False,
    verbose: bool = False,
) -> _Call:
    from bulk_import.jobs.patching import plan_retry_patch
    from bulk_import.library.report import FrameReport

    params = dict(locals())
    report_in: Path | FrameReport
    if isinstance(source, str | os.PathLike):
        report_in = Path(source)
    elif _is_frame(source):
        report_in = FrameReport(source)
    else:
        raise UsageError(
            "source must be a report: its path (str or os.PathLike) or a DataFrame (a "
            f"Result's report), not {type(source).__name__}"
        )
    output = _output(params, source=None)
    api = options.api_options(params, naming=PYTHON)
    agent = options.text(params, "agent_id", PYTHON)
    plan = plan_retry_patch(report=report_in, agent_id=agent, api=api, output=output)
    return _Call(plan, verbose=verbose)


def _reconcile(
    source: Source,
    *,
    sheet: str | int | None = None,
    number_column: str | None = None,
    label_column: str | None = None,
    header_row: int | None = None,
    no_header: bool = False,
    default_label: str | None = None,
    default_region: str | None = None,
    provider_id: str | None = None,
    twilio_account_sid: str | None = None,
    region: Region | None = None,
    agent_id: str | None = None,
    twilio_base_url: str | None = None,
    twilio_credentials_file: PathLike | None = None,
    subaccounts: bool = False,
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_file: PathLike | None = None,
    api_version: str | None = None,
    concurrency: int | None = None,
    rate: float | None = None,
    max_attempts: int | None = None,
    timeout: float | None = None,
    max_consecutive_failures: int | None = None,
    apply: bool = False,
    report: PathLike | None = None,
    summary_json: PathLike | None = None,
    html: PathLike | None = None,
    progress: bool = False,
    verbose: bool = False,
) -> _Call:
    from bulk_import.jobs.reconcile import plan_reconcile

    params = dict(locals())
    given, inputs, twilio, output = _input_config(params)
    api = options.api_options(params, naming=PYTHON)
    plan = plan_reconcile(
        source=given,
        input_options=inputs,
        api=api,
        output=output,
        apply=options.flag(params, "apply", PYTHON),
        twilio=twilio,
    )
    return _Call(plan, verbose=verbose)


def _input_config(
    params: dict[str, Any],
) -> tuple[Input, InputOptions, TwilioOptions | None, OutputOptions]:
    """Return a command's input (a path, or rows given in memory) and its options."""
    source = params["source"]
    given = given_rows(source)
    if given is None:
        path = os.fspath(source)
        twilio = twilio_options(params, path, naming=PYTHON, typed=lambda name: True)
        return path, options.input_options(params, naming=PYTHON), twilio, _output(params, path)
    twilio = twilio_options(params, given.name, naming=PYTHON, typed=lambda name: True)
    return given, options.input_options(params, naming=PYTHON), twilio, _output(params, None)


def _output(params: dict[str, Any], source: str | None) -> OutputOptions:
    """Return the output options: no report path keeps the report in memory only."""
    if params.get("report") in (STDOUT, os.fspath(STDOUT)):
        raise UsageError(
            "report='-' (stdout) is for the command line: pass a path, or leave report out "
            "to keep the report in memory (Result.report)"
        )
    return options.output_options(params, default=None, source=source, naming=PYTHON)


def _is_frame(data: object) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(data, pandas.DataFrame)


# -- running a call: sync (this thread, or a worker thread), or async ---------------------------


def _caller(call: _Call, *, signals: bool) -> Caller:
    # Nothing is printed unless verbose: the lines of news and the summary go nowhere.
    stream = sys.stderr if call.verbose else io.StringIO()
    return Caller(stream=stream, bar="auto", signals=signals, memory=True)


def _sync(call: _Call) -> Result:
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
    return _returned(execution)


async def _async(call: _Call) -> Result:
    """Run a call to the end on the running loop."""
    execution = Execution(call.plan, caller=_caller(call, signals=False))
    await execution.run_async()
    return _returned(execution)


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


# -- the public functions -------------------------------------------------------------------------


def _public(
    planner: Callable[P, _Call], name: str, doc: str
) -> tuple[Callable[P, Result], Callable[P, Coroutine[Any, Any, Result]]]:
    """Return the sync function and its async twin for one command."""

    def sync(*args: P.args, **kwargs: P.kwargs) -> Result:
        return _sync(planner(*args, **kwargs))

    async def twin(*args: P.args, **kwargs: P.kwargs) -> Result:
        return await _async(planner(*args, **kwargs))

    signature = inspect.signature(planner).replace(return_annotation="Result")
    twin_doc = (
        f"The ``async`` twin of :func:`bulk_import.{name}`: awaited on the running loop; a "
        f"cancellation stops it as Ctrl-C does, then is raised again.\n\n{doc}"
    )
    for func, called, text in ((sync, name, doc), (twin, f"{name}_async", twin_doc)):
        func.__name__ = func.__qualname__ = called
        func.__module__ = "bulk_import"
        func.__doc__ = text + _OPTIONS
        func.__signature__ = signature  # type: ignore[union-attr]
    return sync, twin


_OPTIONS = """

Options are the command line's, by their Python names, keyword-only; None (or leaving one
out) gives the command line's default. For an input: ``sheet``, ``number_column``,
``label_column``, ``header_row``, ``no_header``, ``default_label`` ("{number}"),
``default_region`` ("US"), ``provider_id``, ``twilio_account_sid``, ``region`` ("us1"),
``agent_id``; for a ``twilio:`` source ``twilio_base_url``, ``twilio_credentials_file``,
``subaccounts``. For the API: ``base_url`` (env CARTESIA_BASE_URL), ``api_key`` (else env
CARTESIA_API_KEY, or ``api_key_file``), ``api_version``, ``concurrency`` (8), ``rate``,
``max_attempts`` (6), ``timeout`` (30), ``max_consecutive_failures`` (25). Output:
``report`` (a path: the report and its journal beside it, as the CLI writes them, crash-safe;
left out, the report is kept in memory only and a crash loses it), ``summary_json``, ``html``,
``progress`` (a tqdm.auto bar), ``verbose`` (the summary on stderr).

Return a :class:`~bulk_import.Result` (``.report``, ``.summary``, ``.exit_code``, ``.ok``).
Raise ``ValueError`` (:class:`~bulk_import.UsageError`, :class:`~bulk_import.InputError`)
naming a bad option or an unusable source, before anything is sent; and
:class:`~bulk_import.Interrupted` (a KeyboardInterrupt whose ``.result`` holds what was done)
when Ctrl-C or SIGTERM stopped the run.
"""

validate, validate_async = _public(
    _validate,
    "validate",
    "Read and normalise every row of ``source``: no network, no API key (a ``twilio:`` source "
    "lists Twilio). Statuses ``valid``, ``invalid``, ``duplicate``.",
)
run, run_async = _public(
    _run,
    "run",
    "Import every row of ``source`` into the account (``resume=True`` with ``report=`` keeps "
    "the rows that report has done).",
)
retry_patch, retry_patch_async = _public(
    _retry_patch,
    "retry_patch",
    "Assign the agent of every ``webhook_failed``, ``patch_failed`` or ``agent_mismatch`` row "
    "of a report (its path, or a Result's report); ``agent_id`` for the rows that name none. "
    "Without ``report=`` the source is left as it is (``report=`` the same path rewrites it).",
)
reconcile, reconcile_async = _public(
    _reconcile,
    "reconcile",
    "Diff ``source`` against the account (GET, paginated); ``apply=True`` imports the missing "
    "numbers and PATCHes wrong agents. Never deletes.",
)
