"""The functions of the Python API: ``validate``, ``run``, ``retry_patch``, ``reconcile``,
``rollback``, and an ``async`` twin of each (``run_async``, ...), over the same engine as the CLI.

Each command is written once, as a planner: its keyword options (the CLI's, by their Python
names, :mod:`bulk_import.library.keywords`; None stands for the CLI's default) are checked and
turned into the engine's :class:`~bulk_import.jobs.engine.Plan` by the checks the CLI uses
(:mod:`bulk_import.library.options`). From each planner come two functions, as httpx's
``Client`` and ``AsyncClient`` are twins: the sync one, which works inside a running event loop
too (a notebook), and the async one (:mod:`bulk_import.library.running`).

Nothing is printed unless ``progress=True`` (``tqdm.auto``: a widget in Jupyter) or
``verbose=True`` (the lines of news and the summary, on stderr). Without ``report=`` nothing
is written to disk: the report is kept in memory for the Result, and a crash loses it.
"""

from __future__ import annotations

import difflib
import os
import sys
import types
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeAlias, cast

from bulk_import.errors import UsageError
from bulk_import.jobs.engine import Plan
from bulk_import.jobs.inputs import Input
from bulk_import.library import running
from bulk_import.library.keywords import (
    ReconcileOptions,
    RetryPatchOptions,
    RollbackOptions,
    RunOptions,
    ValidateOptions,
    names,
    signature,
)
from bulk_import.library.options import api_options, flag, input_options, output_options, text
from bulk_import.library.result import Result
from bulk_import.library.twilio import twilio_options
from bulk_import.naming import PYTHON
from bulk_import.output.files import STDOUT
from bulk_import.sources.frame import DICTS, FRAME, NUMBERS, given_rows

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack

    from bulk_import.config import InputOptions, OutputOptions, TwilioOptions
    from bulk_import.output.recovery import GivenReport

__all__ = [
    "ReportSource",
    "Source",
    "reconcile",
    "reconcile_async",
    "retry_patch",
    "retry_patch_async",
    "rollback",
    "rollback_async",
    "run",
    "run_async",
    "validate",
    "validate_async",
]

#: What ``validate``, ``run`` and ``reconcile`` read: a path (or ``twilio:...``), a DataFrame,
#: dicts (one per row; any key type, so that ``frame.to_dict("records")`` type-checks), or number
#: strings.
Source: TypeAlias = (
    "str | os.PathLike[str] | pd.DataFrame | Iterable[Mapping[Any, object]]"
    " | Iterable[str | int | float | None]"
)
#: What ``retry_patch`` reads: a report's path, or a report as a DataFrame (a Result's).
ReportSource: TypeAlias = "str | os.PathLike[str] | pd.DataFrame"
P = ParamSpec("P")


# -- the planners: one per command, the options checked -------------------------------------------


def _validate(source: Source, **options: Unpack[ValidateOptions]) -> running.Call:
    from bulk_import.jobs.validate import plan_validate

    params = _params("validate", ValidateOptions, source, options)
    given, inputs, twilio, output = _input_config(params)
    plan = plan_validate(source=given, input_options=inputs, output=output, twilio=twilio)
    return _planned(plan, params)


def _run(source: Source, **options: Unpack[RunOptions]) -> running.Call:
    from bulk_import.jobs.importing import plan_run

    params = _params("run", RunOptions, source, options)
    resume = flag(params, "resume", PYTHON)
    if resume and params.get("report") is None:
        raise UsageError("resume=True needs report=PATH: the report of the run to resume")
    given, inputs, twilio, output = _input_config(params)
    api = api_options(params, naming=PYTHON)
    plan = plan_run(
        source=given, input_options=inputs, api=api, output=output, resume=resume, twilio=twilio
    )
    return _planned(plan, params)


def _retry_patch(source: ReportSource, **options: Unpack[RetryPatchOptions]) -> running.Call:
    from bulk_import.jobs.patching import plan_retry_patch

    params = _params("retry_patch", RetryPatchOptions, source, options)
    output = _output(params, source=None)
    api = api_options(params, naming=PYTHON)
    agent = text(params, "agent_id", PYTHON)
    report = _report_in(source)
    plan = plan_retry_patch(report=report, agent_id=agent, api=api, output=output)
    return _planned(plan, params)


def _reconcile(source: Source, **options: Unpack[ReconcileOptions]) -> running.Call:
    from bulk_import.jobs.reconcile import plan_reconcile

    params = _params("reconcile", ReconcileOptions, source, options)
    given, inputs, twilio, output = _input_config(params)
    api = api_options(params, naming=PYTHON)
    apply = flag(params, "apply", PYTHON)
    plan = plan_reconcile(
        source=given, input_options=inputs, api=api, output=output, apply=apply, twilio=twilio
    )
    return _planned(plan, params)


def _rollback(source: ReportSource, **options: Unpack[RollbackOptions]) -> running.Call:
    from bulk_import.jobs.rollback import plan_rollback

    params = _params("rollback", RollbackOptions, source, options)
    report = _report_in(source)
    output = _output(params, source=str(report) if isinstance(report, Path) else None)
    api = api_options(params, naming=PYTHON)
    apply, force = flag(params, "apply", PYTHON), flag(params, "force", PYTHON)
    plan = plan_rollback(report=report, api=api, output=output, apply=apply, force=force)
    return _planned(plan, params)


def _planned(plan: Plan, params: dict[str, object]) -> running.Call:
    """Return the call of a plan: how it shows, and the words its next steps are written with."""
    return running.Call(plan, verbose=flag(params, "verbose", PYTHON), words=_words(plan, params))


#: Options of no next step: how a call shows (the next one shows as it likes), and the key,
#: never written anywhere.
_NOT_CARRIED = frozenset({"source", "api_key", "progress", "verbose"})


def _words(plan: Plan, params: dict[str, object]) -> tuple[str, ...]:
    """Return the call as the next steps read it: the command, the source, and each option
    given as ``--name=<Python literal>`` (a flag: ``--name``); never the key."""
    source = params["source"]
    if isinstance(source, str | os.PathLike):
        shown = repr(os.fspath(source))
    else:  # rows given in memory: the name the caller gave them cannot be known
        shown = _SOURCE_NAMES.get(plan.command.input, "source")
    words = [plan.command.name, shown]
    for name, value in params.items():
        if name in _NOT_CARRIED or value is None or value is False:
            continue
        option = "--" + name.replace("_", "-")
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        words.append(option if value is True else f"{option}={value!r}")
    return tuple(words)


_SOURCE_NAMES = {FRAME: "frame", DICTS: "rows", NUMBERS: "numbers"}


def _params(
    command: str, keywords: type, source: object, options: Mapping[str, object]
) -> dict[str, object]:
    """Return the source and options by name; refuse a name the command does not take, as
    Python refuses an unexpected keyword, with the name meant when it is close."""
    known = names(keywords)
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{command}() got an unexpected keyword argument {name!r}{hint}")
    return {"source": source, **options}


def _report_in(source: ReportSource) -> Path | GivenReport:
    """Return a report source: its path, or a DataFrame of a report read as one."""
    from bulk_import.library.report import FrameReport

    if isinstance(source, str | os.PathLike):
        return Path(source)
    if _is_frame(source):
        return FrameReport(source)
    raise UsageError(
        "source must be a report: its path (str or os.PathLike) or a DataFrame (a Result's "
        f"report), not {type(source).__name__}"
    )


def _input_config(
    params: dict[str, Any],
) -> tuple[Input, InputOptions, TwilioOptions | None, OutputOptions]:
    """Return a command's input (a path, or rows given in memory) and its options."""
    source = params["source"]
    given = given_rows(source)
    if given is None:
        path = os.fspath(source)
        twilio = twilio_options(params, path, naming=PYTHON, typed=lambda name: True)
        return path, input_options(params, naming=PYTHON), twilio, _output(params, path)
    twilio = twilio_options(params, given.name, naming=PYTHON, typed=lambda name: True)
    return given, input_options(params, naming=PYTHON), twilio, _output(params, None)


def _output(params: dict[str, Any], source: str | None) -> OutputOptions:
    """Return the output options: no report path keeps the report in memory only."""
    if params.get("report") in (STDOUT, os.fspath(STDOUT)):
        raise UsageError(
            "report='-' (stdout) is for the command line: pass a path, or leave report out "
            "to keep the report in memory (Result.report)"
        )
    return output_options(params, default=None, source=source, naming=PYTHON)


def _is_frame(data: object) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(data, pandas.DataFrame)


# -- the public functions -------------------------------------------------------------------------


def _public(
    planner: Callable[P, running.Call], name: str, keywords: type, *, source: str, doc: str
) -> tuple[Callable[P, Result], Callable[P, Coroutine[Any, Any, Result]]]:
    """Return the sync function and its async twin for one command."""
    planned, planned_async = _named(planner, name), _named(planner, f"{name}_async")

    def sync(*args: P.args, **kwargs: P.kwargs) -> Result:
        return running.run_sync(planned(*args, **kwargs))

    async def twin(*args: P.args, **kwargs: P.kwargs) -> Result:
        return await running.run_async(planned_async(*args, **kwargs))

    twin_doc = (
        f"The ``async`` twin of :func:`bulk_import.{name}`: awaited on the running loop; a "
        f"cancellation stops it as Ctrl-C does, then is raised again.\n\n{doc}"
    )
    for func, called, about in ((sync, name, doc), (twin, f"{name}_async", twin_doc)):
        func.__name__ = func.__qualname__ = called
        func.__module__ = "bulk_import"
        func.__doc__ = about + _OPTIONS
        # help() and Jupyter show every option with its default, as the type checker does.
        func.__signature__ = signature(keywords, source=source)  # type: ignore[union-attr]
    return sync, twin


def _named(planner: Callable[P, running.Call], name: str) -> Callable[P, running.Call]:
    """Return the planner as a function called ``name``: Python names the function its
    arguments do not fit by its ``__qualname__`` (``validate() takes 1 positional argument``),
    which must be the one the caller called, not the private planner."""
    code = planner.__code__
    named = types.FunctionType(code, planner.__globals__, name)
    named.__qualname__ = name
    named.__kwdefaults__ = planner.__kwdefaults__
    return cast(Callable[P, running.Call], named)


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
``progress`` (a tqdm.auto bar), ``verbose`` (the summary on stderr). And each command's own:
``resume`` (run), ``apply`` (reconcile, rollback), ``force`` (rollback).

Return a :class:`~bulk_import.Result` (``.report``, ``.summary``, ``.exit_code``, ``.ok``).
Raise ``ValueError`` (:class:`~bulk_import.UsageError`, :class:`~bulk_import.InputError`)
naming a bad option or an unusable source, before anything is sent; and
:class:`~bulk_import.Interrupted` (a KeyboardInterrupt whose ``.result`` holds what was done)
when Ctrl-C or SIGTERM stopped the run.
"""

validate, validate_async = _public(
    _validate,
    "validate",
    ValidateOptions,
    source="Source",
    doc="Read and normalise every row of ``source``: no network, no API key (a ``twilio:`` "
    "source lists Twilio). Statuses ``valid``, ``invalid``, ``duplicate``.",
)
run, run_async = _public(
    _run,
    "run",
    RunOptions,
    source="Source",
    doc="Import every row of ``source`` into the account (``resume=True`` with ``report=`` "
    "keeps the rows that report has done).",
)
retry_patch, retry_patch_async = _public(
    _retry_patch,
    "retry_patch",
    RetryPatchOptions,
    source="ReportSource",
    doc="Assign the agent of every ``webhook_failed``, ``patch_failed`` or ``agent_mismatch`` "
    "row of a report (its path, or a Result's report); ``agent_id`` for the rows that name "
    "none. Without ``report=`` the source is left as it is (``report=`` its path rewrites it).",
)
reconcile, reconcile_async = _public(
    _reconcile,
    "reconcile",
    ReconcileOptions,
    source="Source",
    doc="Diff ``source`` against the account (GET, paginated); ``apply=True`` imports the "
    "missing numbers and PATCHes wrong agents. Never deletes.",
)
rollback, rollback_async = _public(
    _rollback,
    "rollback",
    RollbackOptions,
    source="ReportSource",
    doc="Undo what a run imported (``source``: its report's path, or a Result's report): a "
    "plan by default (``would_delete`` / ``kept``); ``apply=True`` unassigns and DELETEs only "
    "the numbers the run created (``force=True``: those changed since too). The source is "
    "never rewritten; ``report=`` keeps the rollback's own report.",
)
