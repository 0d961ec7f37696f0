"""The commands: each builds its config from the options and makes one call into the jobs."""

from __future__ import annotations

import contextlib
import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import click

from bulk_import.cli.help import Command, Main
from bulk_import.cli.options import (
    REPORT_SUFFIXES,
    api_option,
    api_options,
    default_report,
    given_options,
    input_option,
    input_options,
    make_api_options,
    make_input_options,
    make_output_options,
    output_option,
    output_options,
)
from bulk_import.cli.twilio import listed_account, make_twilio_options
from bulk_import.config import InputOptions, OutputOptions, TwilioOptions
from bulk_import.errors import BulkImportError, InternalError, UsageError
from bulk_import.models import Exit, Summary, utc_now
from bulk_import.output.report import journal_path


class Finished(Protocol):
    """Say how a command ended: a :class:`Summary`, or a command's own report."""

    @property
    def exit_code(self) -> int:
        """Return the exit code."""


Call = Callable[[], Finished]


def _refused_before_start(name: str, params: dict[str, Any], exc: BulkImportError) -> None:
    """Write ``--summary-json`` and ``--html`` for a command refused before it started (exit 2)."""
    source = str(params.get("input") or params.get("report_in") or "")
    report = params.get("report") or _default(name, source)
    summary = Summary(
        command=name,
        input=source,
        report=str(report),
        started_at=utc_now(),
        finished_at=utc_now(),
        exit_code=exc.exit_code,
        error=str(exc),
        options=given_options(params),
    )
    output = OutputOptions(
        report=Path(str(report)), summary_json=params.get("summary_json"), html=params.get("html")
    )
    from bulk_import.output.closing import close_output  # not for --help: only on an error

    # Their folder may be what is wrong: the error line says so already.
    with contextlib.suppress(OSError, BulkImportError):
        close_output(summary, output=output, elapsed_s=0.0, stream=sys.stderr, printed=False)


def _default(name: str, source: str) -> Path:
    """Return the report a command writes when --report is not given ("" when unknown)."""
    if not source:
        return Path("")
    if name not in REPORT_SUFFIXES:  # retry-patch rewrites its REPORT
        return Path(source)
    return default_report(source, command=name, account_sid=listed_account(source))


def command(name: str) -> Callable[[Callable[..., Call]], Callable[..., None]]:
    """Run a command body: one-line errors with their exit code, the summary's otherwise.

    The body builds the config (errors there are the CLI's: exit 2, summary JSON written here)
    and returns the one call into the jobs (which write their own summary on every exit).
    """

    def decorate(func: Callable[..., Call]) -> Callable[..., None]:
        @functools.wraps(func)
        def wrapper(**params: Any) -> None:
            debug = bool(params.get("debug"))
            try:
                try:
                    call = func(**params)
                except BulkImportError as exc:
                    _refused_before_start(name, params, exc)
                    raise
                summary = call()
            except KeyboardInterrupt:  # before a command could install its own handling
                click.echo("bulk-import: interrupted", err=True)
                sys.exit(Exit.INTERRUPTED)
            except BulkImportError as exc:
                if debug:
                    traceback.print_exc()
                click.echo(f"bulk-import: error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except InternalError as exc:  # a bug in a command: it says what it kept
                if debug:
                    traceback.print_exc()
                click.echo(
                    f"bulk-import: internal error: {exc}; --debug shows the traceback", err=True
                )
                sys.exit(Exit.INTERNAL)
            except Exception as exc:  # a bug before the command started: nothing was sent
                if debug:
                    traceback.print_exc()
                click.echo(
                    f"bulk-import: internal error: {type(exc).__name__}: {exc} "
                    "(--debug shows the traceback)",
                    err=True,
                )
                sys.exit(Exit.INTERNAL)
            sys.exit(summary.exit_code)

        return wrapper

    return decorate


def _input_config(
    name: str, params: dict[str, Any], source: str
) -> tuple[InputOptions, TwilioOptions | None, OutputOptions]:
    """Build the options of a command that reads INPUT (a twilio: INPUT's account, too)."""
    inputs = make_input_options(params)
    twilio = make_twilio_options(params, source)
    account = twilio.account_sid if twilio else None
    default = default_report(source, command=name, account_sid=account)
    output = make_output_options(params, default=default, source=source)
    return inputs, twilio, output


@click.group(
    cls=Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="bulk-import")
def main() -> None:
    """Import phone numbers into Cartesia's voice-agent platform in bulk.

    Options follow the command: bulk-import run INPUT --concurrency 16. Rehearse against the
    local sandbox first: bulk-import sandbox --demo serves the demo's faults and writes the
    sample inputs the examples of every --help name (examples/ here); see the README.
    """


@main.command(
    cls=Command,
    examples=(
        "bulk-import validate examples/twilio-export.csv",
        "bulk-import validate examples/messy.csv --default-region GB",
    ),
)
@click.argument("input", metavar="INPUT")
@input_options
@output_options
@command("validate")
def validate(**params: Any) -> Call:
    """Read and normalise INPUT only: no API key (twilio: lists Twilio). valid/invalid/duplicate."""
    from bulk_import.jobs.validate import validate as job

    source = params["input"]
    inputs, twilio, output = _input_config("validate", params, source)
    return lambda: job(source=source, input_options=inputs, output=output, twilio=twilio)


@main.command(
    cls=Command,
    examples=(
        "bulk-import run examples/twilio-export.csv --agent-id agent_sandbox --concurrency 16",
        "bulk-import run examples/twilio-export.csv --agent-id agent_sandbox --resume",
    ),
)
@click.argument("input", metavar="INPUT")
@input_options
@api_options
@output_option("--resume", is_flag=True, help="Keep the rows the report already has as done.")
@output_options
@command("run")
def run(**params: Any) -> Call:
    """Read, normalise and import every row of INPUT; write the report."""
    from bulk_import.jobs.importing import run as job

    source = params["input"]
    if source == "-" and params.get("api_key_file") == "-":
        raise UsageError("INPUT and --api-key-file cannot both be '-' (stdin)")
    inputs, twilio, output = _input_config("run", params, source)
    api = make_api_options(params)
    resume = bool(params.get("resume"))

    def call() -> Summary:
        if resume and not output.quiet and output.report is not None:
            _say_nothing_to_resume(output.report, given=params.get("report") is not None)
        return job(
            source=source,
            input_options=inputs,
            api=api,
            output=output,
            resume=resume,
            twilio=twilio,
        )

    return call


def _say_nothing_to_resume(report: Path, *, given: bool) -> None:
    """Say on one line that ``--resume`` has no report to keep rows from, so every row goes.

    Not an error: a first run under ``--resume`` (a cron line written once) is a plain run, and
    a number already in the account answers 409 (``already_imported``), never a second import.
    """
    if report.exists() or journal_path(report).exists():
        return
    where = "--report " if given else "the report "
    click.echo(
        f"bulk-import: notice: --resume: {where}{report} does not exist yet, so no row is kept: "
        "every row is sent (a number already in the account is already_imported)",
        err=True,
    )


@main.command(
    name="retry-patch",
    cls=Command,
    examples=(
        "bulk-import retry-patch twilio-export.report.csv",
        "bulk-import retry-patch twilio-export.report.csv --agent-id agent_sandbox "
        "--report patched.report.csv",
    ),
)
@click.argument("report_in", metavar="REPORT", type=click.Path(dir_okay=False, path_type=Path))
@input_option("--agent-id", help="Agent to assign [default: each row's agent_id].")
@api_options
@output_options
@command("retry-patch")
def retry_patch(**params: Any) -> Call:
    """Assign the agent of every webhook_failed, patch_failed or agent_mismatch row of REPORT."""
    from bulk_import.jobs.patching import retry_patch as job

    report_in: Path = params["report_in"]
    output = make_output_options(params, default=report_in, source=None)
    api = make_api_options(params)
    agent_id = params.get("agent_id")
    return lambda: job(report=report_in, agent_id=agent_id, api=api, output=output)


@main.command(
    cls=Command,
    examples=(
        "bulk-import reconcile examples/twilio-export.csv --agent-id agent_sandbox",
        "bulk-import reconcile examples/twilio-export.csv --agent-id agent_sandbox --apply "
        "--summary-json nightly.json --quiet",
    ),
)
@click.argument("input", metavar="INPUT")
@input_options
@api_options
@api_option("--apply", is_flag=True, help="Import the missing numbers and PATCH wrong agents.")
@output_options
@command("reconcile")
def reconcile(**params: Any) -> Call:
    """Diff INPUT against the account (GET, paginated); --apply fixes the drift; never deletes."""
    from bulk_import.jobs.reconcile import reconcile as job

    source = params["input"]
    inputs, twilio, output = _input_config("reconcile", params, source)
    api = make_api_options(params)
    apply = bool(params.get("apply"))
    return lambda: job(
        source=source, input_options=inputs, api=api, output=output, apply=apply, twilio=twilio
    )


@main.command(
    cls=Command,
    examples=(
        "bulk-import sandbox --demo --port 8080",
        "bulk-import sandbox --port 8080 --latency-ms 50 --seed 7",
    ),
    exit_codes=(
        (0, "stopped by Ctrl-C or SIGTERM"),
        (2, "bad usage, a faults file it cannot use, or the port is taken"),
    ),
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1; 0 picks a free one.",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), help="Latency added to every request.")
@click.option("--faults", type=click.Path(dir_okay=False), help="JSON file of faults to inject.")
@click.option(
    "--demo",
    is_flag=True,
    help="Serve the demo's faults (the README's rehearsal) and write its sample inputs to "
    "examples/ here, keeping any file already there.",
)
@click.option("--seed", type=int, help="Seed of the fault dice, for repeatable runs.")
def sandbox(
    port: int, latency_ms: float | None, faults: str | None, demo: bool, seed: int | None
) -> None:
    """Run a local Cartesia-compatible API on loopback (for rehearsals, demo, tests, benchmarks)."""
    from bulk_import.sandbox import serve

    if not demo:
        sys.exit(serve(port=port, latency_ms=latency_ms, faults_path=faults, seed=seed))
    if faults is not None:
        raise click.UsageError("--demo serves the demo's faults: drop --faults, or --demo")
    from bulk_import.sandbox.demo import FAULTS, demo_file, write_samples

    # On stderr, before the URL: stdout's first line stays the URL a parent process waits for.
    for line in write_samples():
        click.echo(f"bulk-import sandbox: {line}", err=True)
    with demo_file(FAULTS) as path:
        sys.exit(serve(port=port, latency_ms=latency_ms, faults_path=str(path), seed=seed))


def entry() -> None:
    """Run the CLI as the ``bulk-import`` script: Ctrl-C anywhere is exit 130, not "Aborted!"."""
    try:
        main.main(prog_name="bulk-import", standalone_mode=False)
    except click.exceptions.Abort:  # click's word for a KeyboardInterrupt outside a command
        click.echo("bulk-import: interrupted", err=True)
        sys.exit(Exit.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
