"""The ``providers`` commands: list Cartesia's telephony providers; link Twilio accounts to it.

``bulk-import providers`` lists; ``bulk-import providers link twilio:[AC...]`` links (see
:mod:`bulk_import.jobs.linking`). Each builds its config and makes one call into the jobs; the
jobs and the output are imported in the command's body, so that ``--help`` stays light.
"""

from __future__ import annotations

from typing import Any

import click

from bulk_import import config as cfg
from bulk_import.cli.commands import Call, command, main
from bulk_import.cli.help import Command, CommandGroup
from bulk_import.cli.options import (
    api_options,
    debug_option,
    input_option,
    make_api_options,
    output_option,
    quiet_option,
    twilio_options,
)
from bulk_import.cli.twilio import make_twilio_options
from bulk_import.errors import UsageError
from bulk_import.models import REGIONS, Exit
from bulk_import.sources.twilio import is_twilio

_EXIT_CODES = (
    (int(Exit.OK), "listed; every account linked (a plan: nothing changed)"),
    (int(Exit.ATTENTION), "some accounts could not be linked"),
    (
        int(Exit.USAGE),
        "bad usage, no key, an auth token to link with, or Cartesia refused the key (400)",
    ),
    (int(Exit.STOPPED), "stopped early: a key refused (401/403), an API that cannot be reached"),
    (int(Exit.INTERRUPTED), "interrupted (Ctrl-C / SIGTERM): accounts in flight finished"),
)
json_option = output_option(
    "--json", "as_json", is_flag=True, help="Write JSON to stdout instead of lines."
)


@main.group(
    cls=CommandGroup,
    invoke_without_command=True,
    short_help="List the providers; providers link links Twilio accounts.",
    examples=(
        "bulk-import providers",
        "bulk-import providers --json",
    ),
    exit_codes=_EXIT_CODES,
)
@api_options
@json_option
@quiet_option
@debug_option
@click.pass_context
def providers(ctx: click.Context, /, **params: Any) -> None:
    """List the Cartesia account's telephony providers (providers link links Twilio accounts)."""
    if ctx.invoked_subcommand is not None:
        _refuse_own_options(ctx)
        return
    _list(**params)


def _refuse_own_options(ctx: click.Context) -> None:
    """Refuse an option of the group typed before its command: it would be silently lost."""
    for param in ctx.command.params:
        name = param.name or ""
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            option = param.opts[0]
            raise click.UsageError(
                f"{option} belongs after the command: bulk-import providers "
                f"{ctx.invoked_subcommand} ... {option}",
                ctx,
            )


@command("providers")
def _list(**params: Any) -> Call:
    """List the providers: a table, or ``--json`` the API's objects."""
    from bulk_import.jobs.linking import list_providers
    from bulk_import.output.providers import providers_table

    api = make_api_options(params)

    def call() -> Any:
        report = list_providers(api=api)
        if report.error:
            click.echo(f"bulk-import providers: exit {report.exit_code}: {report.error}", err=True)
        elif params.get("as_json"):
            click.echo(json_text(report.providers))
        elif report.providers:
            if not params.get("quiet"):
                click.echo(providers_table(report.providers))
        elif not params.get("quiet"):
            click.echo(
                "no provider is linked yet: bulk-import providers link twilio:AC... links one",
                err=True,
            )
        return report

    return call


def json_text(value: object) -> str:
    """Return a value as indented JSON."""
    import json

    return json.dumps(value, indent=2)


@providers.command(
    "link",
    cls=Command,
    examples=(
        "bulk-import providers link twilio:AC00000000000000000000000000000000",
        "bulk-import providers link twilio:AC00000000000000000000000000000000 --subaccounts "
        "--create-keys",
    ),
    exit_codes=_EXIT_CODES,
)
@click.argument("target", metavar="twilio:[AC...]")
@input_option(
    "--region",
    type=click.Choice(REGIONS),
    help=f"Twilio region to link the accounts in [default: {cfg.DEFAULT_REGION}].",
)
@input_option(
    "--create-keys",
    is_flag=True,
    help="Make a Standard API key (cartesia-bulk-import) in each account not linked yet and link "
    "it; without it, --subaccounts only shows the plan.",
)
@twilio_options
@api_options
@json_option
@quiet_option
@debug_option
@command("providers link")
def link(**params: Any) -> Call:
    """Link a Twilio account (with --subaccounts, its subaccounts too) to the Cartesia account."""
    from bulk_import.jobs.linking import link_accounts
    from bulk_import.output.providers import closing_line, link_line, links_json, why_line

    target = params["target"]
    if not is_twilio(target):
        raise UsageError(
            f"providers link takes twilio:AC<32 hex> (or twilio: for TWILIO_ACCOUNT_SID), "
            f"not {target!r}"
        )
    twilio = make_twilio_options(params, target)
    assert twilio is not None, "a twilio: target has its options"
    api = make_api_options(params)
    region = params.get("region") or cfg.DEFAULT_REGION
    quiet, as_json = bool(params.get("quiet")), bool(params.get("as_json"))

    def call() -> Any:
        report = link_accounts(
            twilio=twilio,
            api=api,
            region=region,
            create_keys=bool(params.get("create_keys")),
            emit=None if quiet or as_json else lambda done: click.echo(link_line(done)),
        )
        code, error = report.exit_code, report.error
        if as_json:
            click.echo(links_json(report.accounts))
        if not quiet:
            click.echo(closing_line(report.accounts, exit_code=code, error=error), err=True)
        elif code:
            click.echo(why_line(report.accounts, exit_code=code, error=error), err=True)
        return report

    return call
