"""The next steps: built from the options the run had, offered only where they help, and
right when pasted (each printed command is run here as printed, against the sandbox)."""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path

import openpyxl
from aiohttp import web
from conftest import Instrument, cli, cli_env, numbers, read_report, write_input
from sandbox_fixtures import us_number

from bulk_import.cli import main
from bulk_import.cli.help import API, OUTPUT, GroupedOption
from bulk_import.e164 import REASON_ROUNDED
from bulk_import.normalize import REASON_NO_PROVIDER
from bulk_import.output import followup
from bulk_import.sandbox import Faults, RunningSandbox


def printed_commands(text: str) -> list[list[str]]:
    """Return every backquoted `bulk-import ...` command of a summary, as its words."""
    pieces = text.split("`")[1::2]
    return [shlex.split(piece)[1:] for piece in pieces if piece.startswith("bulk-import ")]


def group_options(command: str, group: str) -> set[str]:
    """Return the options a command lists under ``group`` in its --help."""
    params = main.commands[command].params
    return {p.opts[0] for p in params if isinstance(p, GroupedOption) and p.group == group}


def test_the_option_lists_match_the_cli() -> None:
    """followup's API and own-output lists are the CLI's groups: they cannot drift apart."""
    assert group_options("run", API) - {"--apply"} == followup.API_OPTIONS
    assert group_options("reconcile", API) - {"--apply"} == followup.API_OPTIONS
    outputs = group_options("run", OUTPUT) | group_options("reconcile", API)
    assert outputs - followup.API_OPTIONS == followup.OWN_OPTIONS


def test_invalid_advice_names_the_commonest_fix_one_change_makes() -> None:
    """The commonest reason that one option or column fixes is named with its count."""
    assert followup.invalid_advice(Counter({REASON_NO_PROVIDER: 10})) == (
        "10 rows name no provider: pass --provider-id or add a provider_id column"
    )
    mixed = Counter({"too short": 5, REASON_NO_PROVIDER: 3, REASON_ROUNDED: 1})
    assert followup.invalid_advice(mixed) == (
        "3 rows name no provider: pass --provider-id or add a provider_id column; "
        "6 more: see the error column"
    )
    region = "not a valid US number (--default-region US): write it with + ..."
    assert followup.invalid_advice(Counter({region: 2})).startswith(
        "2 rows are not valid US numbers: write them with + and the country code, or pass "
        "--default-region"
    )
    assert followup.invalid_advice(Counter({"too short": 4, "contains letters": 1})) == (
        "not sent: fix them in the input (see the error column; the commonest: too short, 4 rows)"
    )
    assert (
        followup.invalid_advice(Counter())
        == "not sent: fix them in the input (see the error column)"
    )


def test_after_a_run_the_printed_reconcile_checks_what_the_run_imported(tmp_path: Path) -> None:
    """run ops.xlsx --provider-id ...: the printed reconcile, run as printed, is in sync (exit 0).

    Without the run's --provider-id and --sheet it would find every row invalid.
    """
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    sheet = book.create_sheet("Numbers")
    sheet.append(["Phone", "Name", "agent_id"])
    for i, number in enumerate(numbers(4)):
        sheet.append([number, f"desk {i}", "agent_sandbox"])
    book.save(tmp_path / "ops.xlsx")
    faults = Faults(existing=({"number": us_number(0), "agent_id": "agent_sandbox"},))
    with RunningSandbox(faults=faults) as sandbox:
        env = cli_env(sandbox.base_url)
        args = ("run", "ops.xlsx", "--sheet", "Numbers", "--provider-id", "prov_sandbox")
        done = cli(*args, "--report", "ops.report.xlsx", "--no-progress", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        [step] = printed_commands(done.stderr)
        assert step == [
            "reconcile",
            "ops.xlsx",
            "--sheet",
            "Numbers",
            "--provider-id",
            "prov_sandbox",
        ]
        checked = cli(*step, "--no-progress", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "in_sync        4" in checked.stderr
    assert (tmp_path / "ops.report.xlsx").exists()  # reconcile wrote its own report
    assert (tmp_path / "ops.reconcile.csv").exists()


def test_a_final_4xx_gets_no_resume_advice_a_retryable_failure_does(tmp_path: Path) -> None:
    """'not in the provider account' (400) needs the account fixed: no --resume is offered.

    A failure the retries ran out on is offered --resume, and following it imports the row.
    """
    given = numbers(3)
    write_input(tmp_path / "in.csv", given, provider="prov_sandbox")
    with RunningSandbox(faults=Faults(not_in_account=(given[0],))) as sandbox:
        done = cli("run", "in.csv", "--no-progress", env=cli_env(sandbox.base_url), cwd=tmp_path)
    assert done.returncode == 1
    line = next(line for line in done.stderr.splitlines() if "failed" in line)
    assert "refused by the API (HTTP 4xx, not retried)" in line
    assert "--resume" not in done.stderr
    assert printed_commands(done.stderr) == []

    # 503 to every POST: the retries run out; the printed --resume, followed, imports them.
    instrument = Instrument(post_answer=lambda: web.Response(status=503))
    with instrument.install(RunningSandbox()) as sandbox:
        env = cli_env(sandbox.base_url)
        args = ("run", "in.csv", "--max-attempts", "2", "--report", "again.csv", "--no-progress")
        done = cli(*args, env=env, cwd=tmp_path)
        assert done.returncode == 1
        [step] = printed_commands(done.stderr)
        assert step == [*args, "--resume"]
        assert "tries them again" in done.stderr
        instrument.post_answer = None
        followed = cli(*step, env=env, cwd=tmp_path)
        assert followed.returncode == 0, followed.stderr
        assert sandbox.state.stats()["stored"] == 3


def test_resume_without_a_report_says_so_and_sends_every_row(tmp_path: Path) -> None:
    """run --resume with no report yet: one notice line, then a plain run (nothing lost)."""
    write_input(tmp_path / "in.csv", numbers(2), provider="prov_sandbox")
    with RunningSandbox() as sandbox:
        env = cli_env(sandbox.base_url)
        done = cli("run", "in.csv", "--resume", "--no-progress", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines()[0] == (
            "bulk-import: notice: --resume: the report in.report.csv does not exist yet, so no "
            "row is kept: every row is sent (a number already in the account is "
            "already_imported)"
        )
        named = cli("run", "in.csv", "--resume", "--report", "other.csv", env=env, cwd=tmp_path)
        assert "--resume: --report other.csv does not exist yet" in named.stderr
        again = cli("run", "in.csv", "--resume", "--no-progress", env=env, cwd=tmp_path)
        assert "notice" not in again.stderr
        assert sandbox.state.stats()["stored"] == 2
    assert [line["status"] for line in read_report(tmp_path / "in.report.csv")] == [
        "imported",
        "imported",
    ]


def test_validate_names_the_provider_fix(tmp_path: Path) -> None:
    """validate of rows naming no provider: the summary names --provider-id, not 'fix them'."""
    write_input(tmp_path / "in.csv", numbers(10))
    done = cli("validate", "in.csv", env=cli_env(None), cwd=tmp_path)
    assert done.returncode == 1
    assert (
        "invalid       10   10 rows name no provider: pass --provider-id or add a provider_id "
        "column"
    ) in done.stderr
