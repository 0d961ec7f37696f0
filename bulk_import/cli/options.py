"""Turn the command line's options into the frozen config of :mod:`bulk_import.config`.

The option groups every command shares (click: parsing, types, ``--help``), and the builders,
which hand the parameters to the checks Python's calls use too (:mod:`bulk_import.library.options`,
every message naming the option as the command line writes it). Defaults live in the config
module, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from bulk_import import config as cfg
from bulk_import.cli.help import API, INPUT, OUTPUT, GroupedOption
from bulk_import.config import ApiOptions, InputOptions, OutputOptions
from bulk_import.library import options
from bulk_import.models import REGIONS
from bulk_import.naming import CLI

F = TypeVar("F", bound=Callable[..., Any])


def _grouped(group: str) -> Callable[..., Callable[[F], F]]:
    """Return ``click.option`` for options listed under ``group`` in ``--help``."""

    def option(*names: str, **attrs: Any) -> Callable[[F], F]:
        return click.option(*names, cls=GroupedOption, group=group, **attrs)

    return option


input_option = _grouped(INPUT)
api_option = _grouped(API)
output_option = _grouped(OUTPUT)


class ReportOption(GroupedOption):
    """``--report``, whose ``--help`` names the default of the command it belongs to."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """Return the help line with this command's own default report."""
        record = super().get_help_record(ctx)
        if record is None:  # pragma: no cover - --report is never hidden
            return None
        default = report_default_text(ctx.command.name or "")
        return record[0], f"{record[1]} [default: {default}]"


class OutputPath(click.Path):
    """A file to write: ``click.Path`` that refuses an empty value (``--report=``), which
    ``Path("")`` would read as the current folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Return the path; fail (exit 2) for an empty one."""
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path: name a file", param, ctx)
        return super().convert(value, param, ctx)


#: What ``--report``, ``--summary-json`` and ``--html`` take.
_OUTPUT_PATH: Final = OutputPath(dir_okay=False, path_type=Path)


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


quiet_option = output_option(
    "--quiet", is_flag=True, help="Print nothing on success; on failure, the one line why."
)
debug_option = output_option("--debug", is_flag=True, help="Show tracebacks of errors.")

output_options = _compose(
    click.option(
        "--report",
        cls=ReportOption,
        group=OUTPUT,
        type=_OUTPUT_PATH,
        help="Where to write the results report: .csv, or .xlsx for a workbook.",
    ),
    output_option(
        "--summary-json",
        type=_OUTPUT_PATH,
        help="Also write the summary as JSON here (for cron and dashboards).",
    ),
    output_option(
        "--html",
        type=_OUTPUT_PATH,
        help="Also write the run page here: one self-contained HTML file about the run.",
    ),
    quiet_option,
    output_option("--no-progress", is_flag=True, help="No progress bar."),
    debug_option,
)

#: The options of Twilio's own API: for a twilio: INPUT, and for providers link.
twilio_options = _compose(
    input_option(
        "--subaccounts",
        is_flag=True,
        help="twilio:AC... is a parent: read its active subaccounts too (with the parent's "
        "auth token); suspended and closed ones are skipped.",
    ),
    input_option(
        "--twilio-base-url",
        envvar="TWILIO_BASE_URL",
        help="Twilio's API for a twilio: INPUT (env TWILIO_BASE_URL) "
        f"[default: {cfg.DEFAULT_TWILIO_BASE_URL}].",
    ),
    input_option(
        "--twilio-credentials-file",
        type=click.Path(dir_okay=False),
        help="Read Twilio's KEY:SECRET (or the auth token) from this file instead of env "
        "TWILIO_API_KEY/TWILIO_API_SECRET or TWILIO_AUTH_TOKEN.",
    ),
)

input_options = _compose(
    input_option("--sheet", help="Excel/ODS sheet: a name, or N counting from 1 [default: first]."),
    input_option(
        "--number-column",
        help="Column holding the phone numbers: its header, or with --no-header a letter or "
        "a number from 1 [default: detected].",
    ),
    input_option("--label-column", help="Column holding the labels [default: detected]."),
    input_option(
        "--header-row",
        type=int,
        help="The spreadsheet row holding the header [default: found among the first rows].",
    ),
    input_option(
        "--no-header",
        is_flag=True,
        help="Every row is data; columns are named by letter or number (default: A).",
    ),
    input_option(
        "--default-label",
        help=f"Label for rows with none: a template with {{number}}, {{row}}, {{input_number}} "
        f"[default: {cfg.DEFAULT_LABEL}].",
    ),
    input_option(
        "--default-region",
        help=f"Country for numbers written without + (ISO code) [default: {cfg.DEFAULT_COUNTRY}].",
    ),
    input_option("--provider-id", help="Provider for rows that name none."),
    input_option("--twilio-account-sid", help="Twilio account SID for rows that name no provider."),
    input_option(
        "--region",
        type=click.Choice(REGIONS),
        help="Twilio region for --twilio-account-sid and account_sid rows "
        f"[default: {cfg.DEFAULT_REGION}].",
    ),
    input_option("--agent-id", help="Agent for rows that name none."),
    twilio_options,
)

api_options = _compose(
    api_option(
        "--base-url",
        envvar="CARTESIA_BASE_URL",
        help=f"API base URL (env CARTESIA_BASE_URL) [default: {cfg.DEFAULT_BASE_URL}].",
    ),
    api_option(
        "--api-key-file",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Read the API key from this file ('-': stdin) instead of env CARTESIA_API_KEY.",
    ),
    api_option(
        "--api-version", help=f"Cartesia-Version header [default: {cfg.DEFAULT_API_VERSION}]."
    ),
    api_option(
        "--concurrency",
        type=click.IntRange(1, cfg.MAX_CONCURRENCY),
        help=f"Requests in flight at most [default: {cfg.DEFAULT_CONCURRENCY}].",
    ),
    api_option(
        "--rate",
        type=click.FloatRange(min=0, min_open=True),
        help="Requests per second at most [default: no limit of its own].",
    ),
    api_option(
        "--max-attempts",
        type=click.IntRange(1, cfg.MAX_ATTEMPTS_LIMIT),
        help=f"Tries per request, retries included [default: {cfg.DEFAULT_MAX_ATTEMPTS}].",
    ),
    api_option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        help=f"Seconds to wait for one answer [default: {cfg.DEFAULT_TIMEOUT:g}].",
    ),
    api_option(
        "--max-consecutive-failures",
        type=click.IntRange(1),
        help="Stop after this many rows fail in a row "
        f"[default: {cfg.DEFAULT_MAX_CONSECUTIVE_FAILURES}].",
    ),
)


def make_input_options(params: dict[str, Any]) -> InputOptions:
    """Build :class:`InputOptions` from the CLI's parameters (the jobs check them, once)."""
    return options.input_options(params, naming=CLI)


def make_api_options(params: dict[str, Any]) -> ApiOptions:
    """Build :class:`ApiOptions` from the CLI's parameters; the key is read last."""
    # The base URL is checked once, by the API layer that will use it (api.http.check_base_url).
    return options.api_options(params, naming=CLI)


def make_output_options(
    params: dict[str, Any], *, default: Path, source: str | None
) -> OutputOptions:
    """Build :class:`OutputOptions`, refusing a report that would overwrite the input."""
    given = {**params, "progress": not params.get("no_progress")}
    return options.output_options(
        given,
        default=default,
        source=source,
        naming=CLI,
        invocation=invocation(click.get_current_context()),
    )


def invocation(ctx: click.Context) -> tuple[str, ...]:
    """Return the words of the command line that ran (only what was typed, not defaults).

    An option with a value is one word, ``--name=value``, so that the next steps can carry
    options to another command without knowing which ones are flags
    (:mod:`bulk_import.output.followup`).
    """
    words = [ctx.info_name or ""]
    for param in ctx.command.params:
        name = param.name or ""
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params.get(name)
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            if value:
                words.append(param.opts[0])
        else:
            words.append(f"{param.opts[0]}={value}")
    return tuple(words)


#: Each command's own default report suffix (SPEC "The report"), so that no command replaces
#: another's record: ``validate`` after ``run`` never erases the run's webhook failures.
REPORT_SUFFIXES: Final = {
    "run": ".report.csv",
    "validate": ".validate.csv",
    "reconcile": ".reconcile.csv",
    "rollback": ".rollback.csv",
}


def default_report(source: str, *, command: str, account_sid: str | None = None) -> Path:
    """Return ``command``'s default report in the current directory: ``<stem><suffix>``.

    ``source`` is INPUT (``rollback``: its REPORT), ``-`` giving the stem ``stdin``; a
    ``twilio:`` INPUT's stem is ``twilio-<AccountSid>`` (``account_sid``: the account it lists).
    ``retry-patch`` has none: it rewrites its REPORT.
    """
    try:
        suffix = REPORT_SUFFIXES[command]
    except KeyError:
        raise ValueError(f"{command} has no default report of its own") from None
    if account_sid is not None:
        stem = f"twilio-{account_sid}"
    else:
        stem = "stdin" if source == "-" else Path(source).stem
    return Path(f"{stem}{suffix}")


def report_default_text(command: str) -> str:
    """Say, for ``--help``, where ``command`` writes its report when ``--report`` is not given."""
    if command not in REPORT_SUFFIXES:
        return "REPORT itself"
    suffix = REPORT_SUFFIXES[command]
    stem = "<REPORT stem>" if command == "rollback" else "<input stem>"
    twilio = "" if command == "rollback" else f", twilio-<AccountSid>{suffix} for twilio:"
    return f"{stem}{suffix} here{twilio}"


def given_options(params: dict[str, Any]) -> dict[str, object]:
    """Return the options given on the command line (for a summary written before the config)."""
    return {
        key: str(value) if isinstance(value, Path) else value
        for key, value in params.items()
        if value not in (None, False)
    }
