"""Shape ``--help``: options grouped, two examples, the environment and the exit codes.

A command's options are listed under the group each was declared in (Input, API, Output), then
its examples (each one runs against ``bulk-import sandbox`` as written: the docs test runs them),
then a footer with the environment variables it reads and the exit codes. An option typed before
the subcommand (``bulk-import --concurrency 4 run x.csv``) gets a hint saying where it goes.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import click

from bulk_import.models import Exit

INPUT = "Input"
API = "API"
OUTPUT = "Output"
GROUP_ORDER = (INPUT, API, OUTPUT)

#: Said under the examples that name examples/ files: where they come from in a wheel too.
EXAMPLES_NOTE = (
    "# examples/: bulk-import sandbox --demo writes it here and serves the API these run against"
)

#: What each environment variable does, and the commands that read it.
_API_COMMANDS = ("run", "retry-patch", "reconcile", "rollback", "providers", "link")
_INPUT_COMMANDS = ("run", "validate", "reconcile")
#: ``providers link`` reads Twilio's credentials too: the key it links, or the parent's token.
_TWILIO_COMMANDS = (*_INPUT_COMMANDS, "link")
ENVIRONMENT = (
    ("CARTESIA_API_KEY", "the API key (or --api-key-file)", _API_COMMANDS),
    ("CARTESIA_BASE_URL", "the API's base URL (--base-url)", _API_COMMANDS),
    ("TWILIO_ACCOUNT_SID", "the account twilio: (bare) lists", _TWILIO_COMMANDS),
    (
        "TWILIO_API_KEY",
        "with TWILIO_API_SECRET: a Twilio API key (or --twilio-credentials-file): what a "
        "twilio: INPUT is listed with, and what providers link links",
        _TWILIO_COMMANDS,
    ),
    ("TWILIO_API_SECRET", "the secret of TWILIO_API_KEY", _TWILIO_COMMANDS),
    (
        "TWILIO_AUTH_TOKEN",
        "else, the auth token of TWILIO_ACCOUNT_SID (a parent's: to list subaccounts, make keys)",
        _TWILIO_COMMANDS,
    ),
    ("TWILIO_BASE_URL", "Twilio's API (--twilio-base-url)", _TWILIO_COMMANDS),
)


class GroupedOption(click.Option):
    """Name the help group an option is listed under."""

    def __init__(self, *args: Any, group: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group


class Command(click.Command):
    """List options by group, then examples, the environment and the exit codes."""

    def __init__(
        self,
        *args: Any,
        examples: Sequence[str] = (),
        exit_codes: Sequence[tuple[int, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.examples = tuple(examples)
        #: The codes the footer lists: the import commands' table unless the command has its own.
        self.exit_codes = (
            tuple(exit_codes)
            if exit_codes is not None
            else tuple((int(code), code.meaning) for code in Exit)
        )

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the options under their groups' headings, the ungrouped last."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or isinstance(param, click.Argument):
                continue
            group = param.group if isinstance(param, GroupedOption) else ""
            groups.setdefault(group, []).append(record)
        for group in (*GROUP_ORDER, ""):
            records = groups.get(group)
            if records:
                with formatter.section(f"{group} options" if group else "Options"):
                    formatter.write_dl(records)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the examples, the environment variables and the exit codes."""
        if self.examples:
            with formatter.section("Examples"):
                for example in self.examples:  # never wrapped: they are copied and pasted
                    formatter.write(" " * formatter.current_indent + example + "\n")
                if any("examples/" in example for example in self.examples):
                    formatter.write(" " * formatter.current_indent + EXAMPLES_NOTE + "\n")
        name = self.name or ""
        variables = [(var, what) for var, what, commands in ENVIRONMENT if name in commands]
        if variables:
            with formatter.section("Environment"):
                formatter.write_dl(variables)
        with formatter.section("Exit codes"):
            formatter.write_dl([(str(code), meaning) for code, meaning in self.exit_codes])


class CommandGroup(Command, click.Group):
    """A command with commands of its own: grouped options, then its commands, then the footer."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the options under their groups' headings, then the commands."""
        Command.format_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)


class Main(click.Group):
    """The ``bulk-import`` group: say where an option goes when it comes before the command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse the group's own options; an option of a command here gets a hint."""
        given = list(args)  # the parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            owners = [
                name
                for name, sub in self.commands.items()
                if any(exc.option_name in p.opts for p in sub.params)
            ]
            if not owners:
                raise
            at = next((i for i, arg in enumerate(given) if arg in self.commands), None)
            if at is None:
                suggestion = f"bulk-import {owners[0]} ... {exc.option_name}"
            else:
                suggestion = shlex.join(["bulk-import", *given[at:], *given[:at]])
            raise click.UsageError(
                f"{exc.option_name} belongs to the command and follows it: {suggestion}", ctx
            ) from None
