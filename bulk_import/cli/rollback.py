"""``bulk-import rollback REPORT``: the click command, registered on the ``main`` group.

It builds the config from the options and makes one call into :mod:`bulk_import.jobs.rollback`,
imported only when the command runs (``bulk-import --help`` imports no httpx).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bulk_import.cli.commands import Call, command, main
from bulk_import.cli.help import Command
from bulk_import.cli.options import (
    api_option,
    api_options,
    make_api_options,
    make_output_options,
    output_options,
)


def default_rollback_report(report: Path) -> Path:
    """Return the rollback's default report: ``<REPORT stem>.rollback.csv`` here."""
    return Path(f"{report.stem}.rollback.csv")


@main.command(
    cls=Command,
    examples=(
        "bulk-import rollback twilio-export.report.csv",
        "bulk-import rollback twilio-export.report.csv --apply --summary-json rollback.json",
    ),
)
@click.argument("report_in", metavar="REPORT", type=click.Path(dir_okay=False, path_type=Path))
@api_options
@api_option(
    "--apply",
    is_flag=True,
    help="Delete: unassign (PATCH agent_id null), then DELETE each number the run created "
    "[default: a plan, nothing changed].",
)
@api_option("--force", is_flag=True, help="Delete the numbers changed since the run too.")
@output_options
@command("rollback")
def rollback(**params: Any) -> Call:
    """Undo what REPORT's run imported: plan by default; --apply deletes only what it created."""
    from bulk_import.jobs.rollback import rollback as job

    report_in: Path = params["report_in"]
    output = make_output_options(
        params, default=default_rollback_report(report_in), source=str(report_in)
    )
    api = make_api_options(params)
    apply = bool(params.get("apply"))
    force = bool(params.get("force"))
    return lambda: job(report=report_in, api=api, output=output, apply=apply, force=force)
