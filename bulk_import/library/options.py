"""Turn keyword options into the frozen config of :mod:`bulk_import.config`, checked.

``params`` maps each option's Python name (``max_attempts``) to its value, None when not
given: then the default of :mod:`bulk_import.config` applies, as on the command line. What
click's types check on the command line (types, ranges, choices) is checked here for Python,
and what holds of the options together (a report that is the input itself, two outputs on
stdout, a folder that does not exist) for both. Every refusal is a
:class:`~bulk_import.errors.UsageError` (a ``ValueError``) raised before anything is read or
sent, naming the option as its caller writes it (:class:`~bulk_import.naming.Naming`),
never quoting a key.
"""

from __future__ import annotations

import numbers
import operator
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulk_import import config as cfg
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, Secret
from bulk_import.errors import UsageError
from bulk_import.models import REGIONS
from bulk_import.naming import Naming
from bulk_import.output.files import STDOUT
from bulk_import.output.paths import check_outputs

Params = Mapping[str, object]


def input_options(params: Params, *, naming: Naming) -> InputOptions:
    """Build :class:`InputOptions` (the jobs check the label, region and columns, once)."""
    region = text(params, "default_region", naming)
    chosen = text(params, "region", naming)
    if chosen is not None and chosen not in REGIONS:
        raise UsageError(f"{naming.given('region', chosen)}: use {', '.join(REGIONS)}")
    given_row = params.get("header_row")
    header_row = None if given_row is None else _integer(given_row)
    if given_row is not None and header_row is None:
        # Its range (rows count from 1) is checked with the columns, for both callers.
        raise UsageError(f"{naming.given('header_row', given_row)}: must be a whole number")
    return InputOptions(
        naming=naming,
        **_given(
            sheet=_sheet(params, naming),
            number_column=text(params, "number_column", naming),
            label_column=text(params, "label_column", naming),
            header_row=header_row,
            no_header=flag(params, "no_header", naming),
            default_label=text(params, "default_label", naming),
            default_region=region.upper() if region else None,
            provider_id=text(params, "provider_id", naming),
            twilio_account_sid=text(params, "twilio_account_sid", naming),
            region=chosen,
            agent_id=text(params, "agent_id", naming),
        ),
    )


def api_options(
    params: Params, *, naming: Naming, env: Mapping[str, str] | None = None
) -> ApiOptions:
    """Build :class:`ApiOptions`; the base URL from ``CARTESIA_BASE_URL`` when not given, the
    key read last (it is the one thing read from outside)."""
    env = os.environ if env is None else env
    base_url = text(params, "base_url", naming) or env.get("CARTESIA_BASE_URL")
    if base_url is not None and not naming.cli:
        # The command line's is checked by the API layer that uses it, with its own name.
        from bulk_import.api.http import check_base_url  # httpx: only when the API is called

        base_url = check_base_url(base_url, option=naming.option("base_url"))
    concurrency = params.get("concurrency")
    attempts = params.get("max_attempts")
    failures = params.get("max_consecutive_failures")
    key, origin = read_api_key(params, naming=naming, env=env)
    return ApiOptions(
        api_key=key,
        key_origin=origin,
        **_given(
            base_url=base_url,
            api_version=text(params, "api_version", naming),
            concurrency=None
            if concurrency is None
            else _whole(params, "concurrency", naming, low=1, high=cfg.MAX_CONCURRENCY),
            rate=_positive(params, "rate", naming),
            max_attempts=None
            if attempts is None
            else _whole(params, "max_attempts", naming, low=1, high=cfg.MAX_ATTEMPTS_LIMIT),
            timeout=_positive(params, "timeout", naming),
            max_consecutive_failures=None
            if failures is None
            else _whole(params, "max_consecutive_failures", naming, low=1, high=None),
        ),
    )


def read_api_key(params: Params, *, naming: Naming, env: Mapping[str, str]) -> tuple[Secret, str]:
    """Return the key given (Python's ``api_key=``), else read from ``api_key_file`` (``-``:
    stdin), else ``CARTESIA_API_KEY``; raise UsageError (exit 2) when there is none.

    With the key, return where it came from, for the messages that refuse it (the command
    line's are :data:`~bulk_import.config.CLI_KEY_ORIGIN`, whichever it was). The key is never
    quoted, whatever is wrong with it.
    """
    key = params.get("api_key")
    key_file = params.get("api_key_file")
    if key is not None:
        if key_file is not None:
            raise UsageError("pass api_key= or api_key_file=, not both")
        if not isinstance(key, str) or not key.strip():
            raise UsageError("api_key= must be the API key itself, a str that is not empty")
        return Secret(key.strip()), "api_key="
    if key_file is not None:
        where = naming.placeholder("api_key_file", str(key_file))
        try:
            content = sys.stdin.read() if key_file == "-" else Path(str(key_file)).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {where}: {exc.strerror}") from None
        key = content.strip()
        if not key:
            raise UsageError(f"{where} holds no API key")
        return Secret(key), cfg.CLI_KEY_ORIGIN if naming.cli else where
    key = env.get("CARTESIA_API_KEY", "").strip()
    if not key:
        fix = naming.placeholder("api_key_file", "PATH")
        given = "" if naming.cli else "pass api_key=, or "
        raise UsageError(
            f"no API key: {given}set CARTESIA_API_KEY, or pass {fix} ('-' reads stdin)"
        )
    return Secret(key), cfg.CLI_KEY_ORIGIN if naming.cli else "CARTESIA_API_KEY"


def output_options(
    params: Params,
    *,
    default: Path | None,
    source: str | None,
    naming: Naming,
    invocation: tuple[str, ...] = (),
) -> OutputOptions:
    """Build :class:`OutputOptions`, refusing a report that would overwrite the input.

    ``default`` is the report when none is given (None: kept in memory only, a library call's);
    ``source`` the input file, which a report must never replace (None: there is none).
    """
    report = _path(params, "report", naming) or default
    summary_json = _path(params, "summary_json", naming)
    html = _path(params, "html", naming)
    given = {"report": report, "summary_json": summary_json, "html": html}
    on_stdout = [naming.option(name).rstrip("=") for name, path in given.items() if path == STDOUT]
    if len(on_stdout) > 1:
        raise UsageError(f"{' and '.join(on_stdout)} cannot both be '-' (stdout); name a file")
    if html == STDOUT:
        raise UsageError(f"{naming.given('html', '-')} is not offered: name the run page's file")
    if report == STDOUT and params.get("resume"):
        raise UsageError(
            f"{naming.option('resume').rstrip('=')} needs the report's file; "
            f"{naming.given('report', '-')} writes it to stdout"
        )
    for name, path in given.items():
        if path is None or path == STDOUT:
            continue
        if path.is_dir():  # the CLI's click refuses it too; from Python it would fail at the end
            raise UsageError(
                f"{naming.given(name, str(path))} is a folder: name a file (in it, or beside it)"
            )
        if not path.parent.resolve().is_dir():
            raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    source_file = None if source in (None, "-") else Path(str(source))
    if report is not None and source_file is not None and report.resolve() == source_file.resolve():
        raise UsageError(
            f"{naming.given('report', str(report))} is the input file itself; "
            "choose another report path"
        )
    report_in = params.get("report_in")  # retry-patch's and rollback's REPORT, from the CLI
    check_outputs(
        report=Path("") if report is None else report,  # no name: kept in memory, no file
        summary_json=summary_json,
        html=html,
        source=source,
        report_in=report_in if isinstance(report_in, Path) else None,
    )
    return OutputOptions(
        report=report,
        summary_json=summary_json,
        html=html,
        quiet=flag(params, "quiet", naming),
        progress=flag(params, "progress", naming),
        debug=flag(params, "debug", naming),
        invocation=invocation,
    )


def _given(**values: object) -> dict[str, Any]:
    """Return the values given: the config's defaults stand for the rest."""
    return {key: value for key, value in values.items() if value is not None}


def text(params: Params, name: str, naming: Naming) -> str | None:
    """Return a text option, or None when not given."""
    value = params.get(name)
    if value is None or isinstance(value, str):
        return value
    raise UsageError(f"{naming.given(name, value)}: must be text (a str)")


def flag(params: Params, name: str, naming: Naming) -> bool:
    """Return a flag (False when not given)."""
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise UsageError(f"{naming.given(name, value)}: must be True or False")


def _sheet(params: Params, naming: Naming) -> str | None:
    """Return the sheet: a name, or a number counting from 1 (an int from Python)."""
    value = params.get("sheet")
    number = None if value is None or isinstance(value, str) else _integer(value)
    if number is not None:
        return str(number)
    return text(params, "sheet", naming)


def _integer(value: object) -> int | None:
    """Return a whole number given as anything ``operator.index`` takes (a numpy integer, as a
    frame's arithmetic gives), or None; a bool is not one."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]  # what is not one raises
    except TypeError:
        return None


def _whole(params: Params, name: str, naming: Naming, *, low: int, high: int | None) -> int:
    value = params.get(name)
    number = _integer(value)
    if number is not None and low <= number <= (high or number):
        return number
    span = f"from {low} to {high}" if high is not None else f"of {low} or more"
    raise UsageError(f"{naming.given(name, value)}: must be a whole number {span}")


def _positive(params: Params, name: str, naming: Naming) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    # numbers.Real: a numpy number too; NaN is not above 0.
    number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else 0
    if number > 0:
        return number
    raise UsageError(f"{naming.given(name, value)}: must be a number above 0")


def _path(params: Params, name: str, naming: Naming) -> Path | None:
    value = params.get(name)
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, str | os.PathLike):
        if not os.fspath(value).strip():  # Path("") is the current folder: never meant
            fix = ", or leave report out to keep the report in memory" if name == "report" else ""
            raise UsageError(f"{naming.given(name, value)}: an empty path; name a file{fix}")
        return Path(value)
    raise UsageError(f"{naming.given(name, value)}: must be a path (a str or os.PathLike)")
