"""The README cannot drift from the CLI: commands and options match `--help`."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
from click.testing import CliRunner
from conftest import read_report, rehearsal_block, run_rehearsal

from bulk_import.cli import main
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox
from bulk_import.sandbox.twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def help_text(name: str) -> str:
    """Return a command's --help (``providers link``: a command of a group)."""
    result = CliRunner().invoke(main, [*name.split(), "--help"], terminal_width=100)
    assert result.exit_code == 0
    return result.output


def help_options(name: str) -> set[str]:
    """Return the options a command's --help lists (its examples and footer left out)."""
    listed = help_text(name).split("\n\n", 2)[2].split("Examples:", 1)[0]
    return set(OPTION.findall(listed)) - {"--help"}


def examples(name: str) -> list[str]:
    """Return the examples a command's --help gives, one command line each (notes left out)."""
    section = help_text(name).split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in section.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def commands() -> dict[str, click.Command]:
    """Return every command by the words that run it, a group's own commands included."""
    assert isinstance(main, click.Group)
    found: dict[str, click.Command] = {}
    for name, command in main.commands.items():
        found[name] = command
        if isinstance(command, click.Group):
            found.update({f"{name} {sub}": c for sub, c in command.commands.items()})
    return found


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
        "providers": ("API options:", "Output options:", "Commands:"),
        "providers link": ("Input options:", "API options:", "Output options:"),
    }
    for name, expected in groups.items():
        text = help_text(name)
        for heading in expected:
            assert heading in text, (name, heading)
        assert len(examples(name)) == 2, name
        assert all(
            example == f"bulk-import {name}" or example.startswith(f"bulk-import {name} ")
            for example in examples(name)
        )
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
    for name in ("run", "validate", "reconcile"):  # the commands that take a twilio: INPUT
        footer = help_text(name).split("Environment:")[1]
        for variable in ("TWILIO_ACCOUNT_SID", "TWILIO_API_KEY", "TWILIO_AUTH_TOKEN"):
            assert variable in footer, (name, variable)
    assert "TWILIO_" not in help_text("retry-patch")


def test_the_providers_examples_run_as_written(tmp_path: Path) -> None:
    """Every example of providers and providers link runs as written against the stand-ins."""
    faults = Faults(twilio_numbers=3, twilio_accounts=(), providers=())
    with RunningSandbox(faults=faults) as sandbox:
        env = {
            "CARTESIA_BASE_URL": sandbox.base_url,
            "CARTESIA_API_KEY": DEFAULT_API_KEY,
            "TWILIO_BASE_URL": sandbox.base_url,
            "TWILIO_API_KEY": API_KEY_SID,
            "TWILIO_API_SECRET": API_KEY_SECRET,
        }
        for name in ("providers link", "providers"):
            for example in examples(name):
                with contextlib.chdir(tmp_path):
                    result = CliRunner().invoke(main, shlex.split(example)[1:], env=env)
                assert result.exit_code == 0, (example, result.output)
        linked = sandbox.state.store.providers()
    assert [p["account_sid"] for p in linked] == [ACCOUNT_SID]


def test_an_option_before_the_command_says_where_it_goes() -> None:
    """bulk-import --concurrency 4 run x.csv: the error shows the command line that works."""
    result = CliRunner().invoke(main, ["--concurrency", "4", "run", "x.csv"])
    assert result.exit_code == 2
    assert (
        "Error: --concurrency belongs to the command and follows it: "
        "bulk-import run x.csv --concurrency 4"
    ) in result.output


def test_the_readme_rehearsal_runs_as_written(tmp_path: Path) -> None:
    """The README's rehearsal runs in a clone's folder as it is (on a free port, not 8080)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTESIA_", "TWILIO_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = run_rehearsal(tmp_path, env)
    assert "holds the demo's twilio-export.csv, messy.csv" in done.stderr  # a clone's own


def rehearsal_commands() -> list[list[str]]:
    """Return the bulk-import commands of the rehearsal block after the sandbox, as words."""
    lines = [line.split("#", 1)[0].strip() for line in rehearsal_block().splitlines()]
    return [
        shlex.split(line)[1:]
        for line in lines
        if line.startswith("bulk-import ") and not line.startswith("bulk-import sandbox")
    ]


# -- every documented command, in order, and every next step it prints, followed -------------

#: Statuses a report keeps as the record of a number this tool put in the account, or found.
RECORDED = frozenset({"imported", "already_imported", "webhook_failed", "patched", "patch_failed"})


class Replay:
    """Run documented commands in one folder against one sandbox, checking the records after each.

    After every command, every report in the folder must still hold each number it recorded as
    in the account: no command erased another's record. Every next step a command prints is
    run as printed, and must do what it says.
    """

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.recorded: dict[str, set[str]] = {}
        self.followed: list[str] = []

    def run(self, args: list[str], *, follow: bool = True) -> tuple[int, str]:
        """Run ``bulk-import ARGS``; check the records; follow its next steps; return it."""
        with contextlib.chdir(self.folder):
            result = CliRunner().invoke(main, args, env=self.env)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert result.exit_code in (0, 1), (args, result.output)
        assert "Traceback" not in result.output
        self.check_records(args)
        if follow:
            for step in printed_steps(result.stderr):
                self.follow(step)
        return result.exit_code, result.stderr

    def check_records(self, args: list[str]) -> None:
        """Check that each report still records every number it recorded before."""
        for path in sorted(self.folder.glob("*.csv")):
            lines = read_report(path)
            now = {line["number"] for line in lines if line["status"] in RECORDED}
            before = self.recorded.get(path.name, set())
            assert before <= now, f"{shlex.join(args)} erased {path.name}'s {before - now}"
            self.recorded[path.name] = now

    def follow(self, step: tuple[str, list[str]]) -> None:
        """Run one printed next step as printed, and check it did what it said."""
        said, words = step
        self.followed.append(shlex.join(words))
        code, _ = self.run(words, follow=False)
        own = {"retry-patch": words[1], "rollback": f"{Path(words[1]).stem}.rollback.csv"}
        report = self.folder / own.get(words[0], f"{Path(words[1]).stem}.reconcile.csv")
        counts = Counter(line["status"] for line in read_report(report))
        if words[0] == "rollback":  # a plan's --apply, or --force for the numbers kept
            assert code == 0
            assert counts["would_delete"] + counts["delete_failed"] == 0
        elif said.startswith("imported without their agent"):  # retry-patch
            assert code == 0
            assert counts["webhook_failed"] == 0
        elif said.endswith("checks it"):  # reconcile after a 409
            assert counts["invalid"] == 0
            assert counts["in_sync"] + counts["agent_mismatch"] > 0
        elif "--apply" in words:  # imports the missing, fixes the agents
            assert code == 0
        else:
            raise AssertionError(f"a next step this test does not know: {said}")


def printed_steps(stderr: str) -> list[tuple[str, list[str]]]:
    """Return each next step a summary printed: what it says, and its command's words."""
    steps = []
    for line in stderr.splitlines():
        pieces = line.split("`")
        for i in range(1, len(pieces), 2):
            if pieces[i].startswith("bulk-import "):
                said = " ".join(pieces[i - 1].split()[2:]) + " " + pieces[i + 1].strip()
                steps.append((said.strip(), shlex.split(pieces[i])[1:]))
    return steps


@contextlib.contextmanager
def demo_sandbox(folder: Path) -> Iterator[str]:
    """Run ``bulk-import sandbox --demo`` in ``folder``, as a user does; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bulk_import", "sandbox", "--demo", "--port", "0", "--seed", "7"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("sandbox listening on "), first
        yield first.split()[-1]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_the_readme_and_every_help_example_keep_every_record(tmp_path: Path) -> None:
    """The README's migration, then each --help example in order: no report is lost, and every
    next step printed, run as printed, does what it says."""
    with demo_sandbox(tmp_path) as url:
        env = {"CARTESIA_BASE_URL": url, "CARTESIA_API_KEY": DEFAULT_API_KEY}
        replay = Replay(tmp_path, env)
        for args in rehearsal_commands():
            replay.run(args)
        for name in ("validate", "run", "retry-patch", "reconcile", "rollback"):
            for example in examples(name):
                replay.run(shlex.split(example)[1:])
        stats = httpx.get(
            f"{url}/_sandbox/stats",
            params={"detail": 1},
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
        ).json()
    imported = set(stats["posts_by_number"])
    assert len(imported) == 40
    run_record = {
        line["number"]
        for line in read_report(tmp_path / "twilio-export.report.csv")
        if line["status"] in RECORDED
    }
    assert imported <= run_record
    # the run's webhook failures were followed by retry-patch; the later run's 409s by reconcile
    assert any(step.startswith("retry-patch twilio-export.report.csv") for step in replay.followed)
    assert any(step.startswith("reconcile examples/twilio-export.csv") for step in replay.followed)
    for suffix in (".validate.csv", ".report.csv", ".reconcile.csv"):
        assert (tmp_path / f"twilio-export{suffix}").exists()
    assert (tmp_path / "messy.validate.csv").exists()


def test_make_demo_waits_for_the_sandbox_without_an_error(tmp_path: Path) -> None:
    """demo.sh's wait for the sandbox's URL says nothing while the log does not exist yet.

    The sandbox is replaced by a job that opens the log only after half a second, as a slow
    start-up of the real one does on a fresh clone.
    """
    script = (ROOT / "examples" / "demo.sh").read_text().splitlines()
    first = next(i for i, line in enumerate(script) if '"$work/sandbox.log"' in line)
    last = next(i for i, line in enumerate(script) if line.startswith('[ -n "${url:-}" ]'))
    slow = '(sleep 0.5; exec > "$work/sandbox.log"; echo "sandbox listening on http://x:1") &'
    block = [
        slow if line.startswith("bulk-import sandbox") else line
        for line in script[first : last + 1]
    ]
    done = subprocess.run(
        ["bash", "-c", "\n".join([f"work={tmp_path}", *block, 'echo "url=$url"'])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "url=http://x:1\n"
    assert done.stderr == ""
