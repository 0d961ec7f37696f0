"""The README cannot drift from the CLI: commands and options match `--help`."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from bulk_import.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def help_options(name: str) -> set[str]:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    return set(OPTION.findall(result.output.split("Options:", 1)[1])) - {"--help"}


def commands() -> dict[str, click.Command]:
    assert isinstance(main, click.Group)
    return dict(main.commands)


def test_every_command_is_documented() -> None:
    """Each subcommand appears in the README's command table."""
    for name in commands():
        assert f"`bulk-import {name}" in README, name


def test_every_option_is_documented() -> None:
    """Each option of each command's --help appears in the README."""
    for name in commands():
        for option in help_options(name):
            assert option in README, f"{name} {option} is not in README.md"


def test_every_documented_option_exists() -> None:
    """Each --option the README names is an option of some command (or of make/pip)."""
    known = set().union(*(help_options(name) for name in commands())) | {"--help", "--version"}
    mentioned = set(OPTION.findall(README))
    assert mentioned - known == set()


def test_readme_first_screen_has_the_two_commands() -> None:
    """`make demo` and `make test` are on the README's first screen."""
    first_screen = "\n".join(README.splitlines()[:15])
    assert "make demo" in first_screen
    assert "make test" in first_screen
