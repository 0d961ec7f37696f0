"""The README cannot drift from the CLI: commands and options match `--help`."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from bulk_import.cli import main
from bulk_import.sandbox import DEFAULT_API_KEY, RunningSandbox

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def help_text(name: str) -> str:
    """Return a command's --help."""
    result = CliRunner().invoke(main, [name, "--help"], terminal_width=100)
    assert result.exit_code == 0
    return result.output


def help_options(name: str) -> set[str]:
    """Return the options a command's --help lists (its examples and footer left out)."""
    listed = help_text(name).split("\n\n", 2)[2].split("Examples:", 1)[0]
    return set(OPTION.findall(listed)) - {"--help"}


def examples(name: str) -> list[str]:
    """Return the examples a command's --help gives, one command line each."""
    section = help_text(name).split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in section.splitlines() if line.strip()]


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


def test_every_help_groups_its_options_and_ends_with_examples_and_exit_codes() -> None:
    """Each --help: options under Input / API / Output, two examples, env and exit codes."""
    groups = {
        "validate": ("Input options:", "Output options:"),
        "run": ("Input options:", "API options:", "Output options:"),
        "retry-patch": ("Input options:", "API options:", "Output options:"),
        "reconcile": ("Input options:", "API options:", "Output options:"),
        "rollback": ("API options:", "Output options:"),
        "sandbox": (),
    }
    for name, expected in groups.items():
        text = help_text(name)
        for heading in expected:
            assert heading in text, (name, heading)
        assert len(examples(name)) == 2, name
        assert all(example.startswith(f"bulk-import {name} ") for example in examples(name))
        assert "Exit codes:" in text
        assert ("  130  interrupted" in text) is (name != "sandbox"), name
    # The sandbox is a server: its codes are its own, not the import commands' table.
    footer = " ".join(help_text("sandbox").split("Exit codes:")[1].split())
    assert footer == (
        "0 stopped by Ctrl-C or SIGTERM "
        "2 bad usage, a faults file it cannot use, or the port is taken"
    )
    assert "CARTESIA_API_KEY" in help_text("run")
    assert "CARTESIA_API_KEY" in help_text("rollback")
    assert "CARTESIA_API_KEY" not in help_text("validate")


def test_the_help_examples_run_as_written(tmp_path: Path) -> None:
    """Every example of every --help but sandbox's runs as written against the sandbox, in the
    order of the commands' table: rollback's last, undoing what the examples before it did."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    with RunningSandbox() as sandbox:
        env = {"CARTESIA_BASE_URL": sandbox.base_url, "CARTESIA_API_KEY": DEFAULT_API_KEY}

        def run_examples(name: str) -> None:
            for example in examples(name):
                args = shlex.split(example)[1:]
                with contextlib.chdir(tmp_path):
                    result = CliRunner().invoke(main, args, env=env)
                assert result.exception is None or isinstance(result.exception, SystemExit)
                assert result.exit_code in (0, 1), (example, result.output)
                assert "Traceback" not in result.output

        for name in ("validate", "run", "retry-patch", "reconcile"):
            run_examples(name)
        assert sandbox.state.stats()["stored"] == 40
        run_examples("rollback")


def test_an_option_before_the_command_says_where_it_goes() -> None:
    """bulk-import --concurrency 4 run x.csv: the error shows the command line that works."""
    result = CliRunner().invoke(main, ["--concurrency", "4", "run", "x.csv"])
    assert result.exit_code == 2
    assert (
        "Error: --concurrency belongs to the command and follows it: "
        "bulk-import run x.csv --concurrency 4"
    ) in result.output


def rehearsal_block() -> str:
    """Return the README's rehearsal block: the shell code under its marker."""
    marker = README.index("<!-- rehearsal:")
    return README[marker:].split("```sh\n", 1)[1].split("```", 1)[0]


def free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_readme_rehearsal_runs_as_written(tmp_path: Path) -> None:
    """The README's rehearsal runs in a clone's folder as it is (on a free port, not 8080)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    script = rehearsal_block().replace("8080", str(free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTESIA_", "TWILIO_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    exits = [line for line in done.stderr.splitlines() if line.startswith("exit ")]
    # validate (no provider column issue: the export names its accounts), run (3 webhook
    # failures), retry-patch (all patched), reconcile (in sync)
    assert exits == ["exit 0", "exit 1", "exit 0", "exit 0"], done.stderr
    assert (tmp_path / "run.html").exists()
    assert "sandbox listening on http://127.0.0.1:" in (tmp_path / "sandbox.log").read_text()
