"""The ``bulk-import`` command line: options in, one call into the library, exit code out.

The CLI only turns options into the frozen config of :mod:`bulk_import.config`, calls one
function of the core, and turns :class:`~bulk_import.errors.BulkImportError` into one line on
stderr and exit 2. Defaults live in the config module, not here.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bulk_import import config as cfg
from bulk_import.client import check_base_url
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, Secret
from bulk_import.errors import BulkImportError, UsageError
from bulk_import.models import Summary
from bulk_import.normalize import check_label_template, check_region_code
from bulk_import.session import default_report

EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130
F = TypeVar("F", bound=Callable[..., Any])


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


output_options = _compose(
    click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Where to write the results report [default: <input stem>.report.csv].",
    ),
    click.option(
        "--summary-json",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the summary as JSON here (for cron and dashboards).",
    ),
    click.option("--quiet", is_flag=True, help="Print nothing but errors."),
    click.option("--no-progress", is_flag=True, help="No progress bar."),
    click.option("--debug", is_flag=True, help="Show tracebacks of errors."),
)

input_options = _compose(
    click.option("--sheet", help="Excel/ODS sheet: a name, or N counting from 1 [default: first]."),
    click.option("--number-column", help="Column holding the phone numbers [default: detected]."),
    click.option("--label-column", help="Column holding the labels [default: detected]."),
    click.option(
        "--default-label",
        help=f"Label for rows with none: a template with {{number}}, {{row}}, {{input_number}} "
        f"[default: {cfg.DEFAULT_LABEL}].",
    ),
    click.option(
        "--default-region",
        help=f"Country for numbers written without + (ISO code) [default: {cfg.DEFAULT_COUNTRY}].",
    ),
    click.option("--provider-id", help="Provider for rows that name none."),
    click.option("--twilio-account-sid", help="Twilio account SID for rows that name no provider."),
    click.option(
        "--region",
        type=click.Choice(["us1", "ie1", "au1"]),
        help="Twilio region for --twilio-account-sid and account_sid rows "
        f"[default: {cfg.DEFAULT_REGION}].",
    ),
    click.option("--agent-id", help="Agent for rows that name none."),
)

api_options = _compose(
    click.option(
        "--base-url",
        envvar="CARTESIA_BASE_URL",
        help=f"API base URL (env CARTESIA_BASE_URL) [default: {cfg.DEFAULT_BASE_URL}].",
    ),
    click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Read the API key from this file ('-': stdin) instead of env CARTESIA_API_KEY.",
    ),
    click.option(
        "--api-version", help=f"Cartesia-Version header [default: {cfg.DEFAULT_API_VERSION}]."
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 512),
        help=f"Requests in flight at most [default: {cfg.DEFAULT_CONCURRENCY}].",
    ),
    click.option(
        "--rate",
        type=click.FloatRange(min=0, min_open=True),
        help="Requests per second at most [default: no limit of its own].",
    ),
    click.option(
        "--max-attempts",
        type=click.IntRange(1, 100),
        help=f"Tries per request, retries included [default: {cfg.DEFAULT_MAX_ATTEMPTS}].",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        help=f"Seconds to wait for one answer [default: {cfg.DEFAULT_TIMEOUT:g}].",
    ),
    click.option(
        "--max-consecutive-failures",
        type=click.IntRange(1),
        help="Stop after this many rows fail in a row "
        f"[default: {cfg.DEFAULT_MAX_CONSECUTIVE_FAILURES}].",
    ),
)


def _drop_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def make_input_options(params: dict[str, Any]) -> InputOptions:
    """Build :class:`InputOptions` from the CLI's parameters, checking what can be checked."""
    options = InputOptions(
        **_drop_none(
            sheet=params.get("sheet"),
            number_column=params.get("number_column"),
            label_column=params.get("label_column"),
            default_label=params.get("default_label"),
            default_region=(params.get("default_region") or "").upper() or None,
            provider_id=params.get("provider_id"),
            twilio_account_sid=params.get("twilio_account_sid"),
            region=params.get("region"),
            agent_id=params.get("agent_id"),
        )
    )
    check_label_template(options.default_label)
    check_region_code(options.default_region)
    return options


def read_api_key(key_file: str | None) -> Secret:
    """Return the API key from ``--api-key-file`` or ``CARTESIA_API_KEY``; exit 2 when none."""
    if key_file is not None:
        try:
            text = sys.stdin.read() if key_file == "-" else Path(key_file).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read --api-key-file {key_file}: {exc.strerror}") from None
        key = text.strip()
        if not key:
            raise UsageError(f"--api-key-file {key_file} holds no API key")
        return Secret(key)
    key = os.environ.get("CARTESIA_API_KEY", "").strip()
    if not key:
        raise UsageError(
            "no API key: set CARTESIA_API_KEY, or pass --api-key-file PATH ('-' reads stdin)"
        )
    return Secret(key)


def make_api_options(params: dict[str, Any]) -> ApiOptions:
    """Build :class:`ApiOptions` from the CLI's parameters; the key is read last."""
    base_url = check_base_url(params.get("base_url") or cfg.DEFAULT_BASE_URL)
    return ApiOptions(
        api_key=read_api_key(params.get("api_key_file")),
        **_drop_none(
            base_url=base_url,
            api_version=params.get("api_version"),
            concurrency=params.get("concurrency"),
            rate=params.get("rate"),
            max_attempts=params.get("max_attempts"),
            timeout=params.get("timeout"),
            max_consecutive_failures=params.get("max_consecutive_failures"),
        ),
    )


def make_output_options(
    params: dict[str, Any], *, default: Path, source: str | None
) -> OutputOptions:
    """Build :class:`OutputOptions`, refusing a report that would overwrite the input."""
    report: Path = params.get("report") or default
    for path in (report, params.get("summary_json")):
        if path is not None and not path.parent.resolve().is_dir():
            raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    if source not in (None, "-") and report.resolve() == Path(str(source)).resolve():
        raise UsageError(f"--report {report} is the input file itself; choose another report path")
    return OutputOptions(
        report=report,
        summary_json=params.get("summary_json"),
        quiet=bool(params.get("quiet")),
        progress=not params.get("no_progress"),
        debug=bool(params.get("debug")),
    )


def _stem(source: str) -> str:
    return "stdin" if source == "-" else Path(source).stem


def command(func: Callable[..., Summary]) -> Callable[..., None]:
    """Run a command body: one-line errors with exit 2, the summary's exit code otherwise."""

    @functools.wraps(func)
    def wrapper(**params: Any) -> None:
        debug = bool(params.get("debug"))
        try:
            summary = func(**params)
        except KeyboardInterrupt:  # before a command could install its own handling
            click.echo("bulk-import: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BulkImportError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"bulk-import: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:  # a bug: say so in one line; --debug shows where
            if debug:
                traceback.print_exc()
            click.echo(
                f"bulk-import: internal error: {type(exc).__name__}: {exc} "
                "(the report keeps every row that finished; --debug shows the traceback)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(summary.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bulk-import")
def main() -> None:
    """Import phone numbers into Cartesia's voice-agent platform in bulk."""


@main.command()
@click.argument("input", metavar="INPUT")
@input_options
@output_options
@command
def validate(**params: Any) -> Summary:
    """Read and normalise INPUT only: no network, no API key. Status valid/invalid/duplicate."""
    from bulk_import import importer

    source = params["input"]
    return importer.validate(
        source=source,
        input_options=make_input_options(params),
        output=make_output_options(params, default=default_report(_stem(source)), source=source),
    )


@main.command()
@click.argument("input", metavar="INPUT")
@input_options
@api_options
@click.option("--resume", is_flag=True, help="Keep the rows the report already has as done.")
@output_options
@command
def run(**params: Any) -> Summary:
    """Read, normalise and import every row of INPUT; write the report."""
    from bulk_import import importer

    source = params["input"]
    if source == "-" and params.get("api_key_file") == "-":
        raise UsageError("INPUT and --api-key-file cannot both be '-' (stdin)")
    inputs = make_input_options(params)
    output = make_output_options(params, default=default_report(_stem(source)), source=source)
    return importer.run(
        source=source,
        input_options=inputs,
        api=make_api_options(params),
        output=output,
        resume=bool(params.get("resume")),
    )


@main.command(name="retry-patch")
@click.argument("report_in", metavar="REPORT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--agent-id", help="Agent to assign [default: each row's agent_id].")
@api_options
@output_options
@command
def retry_patch(**params: Any) -> Summary:
    """Assign the agent of every webhook_failed or patch_failed row of REPORT; rewrite REPORT."""
    from bulk_import import patch

    report_in: Path = params["report_in"]
    output = make_output_options(params, default=report_in, source=None)
    return patch.retry_patch(
        report=report_in,
        agent_id=params.get("agent_id"),
        api=make_api_options(params),
        output=output,
    )


@main.command()
@click.argument("input", metavar="INPUT")
@input_options
@api_options
@click.option("--apply", is_flag=True, help="Import the missing numbers and PATCH wrong agents.")
@output_options
@command
def reconcile(**params: Any) -> Summary:
    """Diff INPUT against the account (GET, paginated); --apply fixes the drift; never deletes."""
    from bulk_import import reconcile as rec

    source = params["input"]
    inputs = make_input_options(params)
    output = make_output_options(params, default=default_report(_stem(source)), source=source)
    return rec.reconcile(
        source=source,
        input_options=inputs,
        api=make_api_options(params),
        output=output,
        apply=bool(params.get("apply")),
    )


def entry() -> None:
    """Run the CLI as the ``bulk-import`` script: Ctrl-C anywhere is exit 130, not "Aborted!"."""
    try:
        main.main(prog_name="bulk-import", standalone_mode=False)
    except click.exceptions.Abort:  # click's word for a KeyboardInterrupt outside a command
        click.echo("bulk-import: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1; 0 picks a free one.",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), help="Latency added to every request.")
@click.option("--faults", type=click.Path(dir_okay=False), help="JSON file of faults to inject.")
@click.option("--seed", type=int, help="Seed of the fault dice, for repeatable runs.")
def sandbox(port: int, latency_ms: float | None, faults: str | None, seed: int | None) -> None:
    """Run a local Cartesia-compatible API on loopback (for rehearsals, demo, tests, benchmarks)."""
    from bulk_import.sandbox import serve

    sys.exit(serve(port=port, latency_ms=latency_ms, faults_path=faults, seed=seed))
