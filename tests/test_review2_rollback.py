"""Second adversarial review of rollback (issue 22), after the first review's seven fixes.

Each test is a way rollback could still claim a delete it did not do, lose or misstate a REPORT
row, exit the wrong code, or print a next step that is wrong when followed. Real sandbox on
loopback (the CLI as a subprocess where the CLI is what a person meets); every number counted at
the sandbox. Each failed on the code as reviewed (each was marked ``xfail(strict=True)`` until
the commit of its fix).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import httpx
from conftest import cli, cli_env, library_api, read_report, write_input
from sandbox_fixtures import us_number

import bulk_import
from bulk_import.errors import BulkImportError
from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

PATH = "/agents/phone-numbers"


# -- a delete claimed that was never done ---------------------------------------------------------


def test_a_rehearsal_rollback_report_never_says_production_numbers_are_deleted(
    tmp_path: Path,
) -> None:
    """A rollback never says `deleted` for a number still in the account it talks to.

    fleet.csv rehearsed against one account (rehearsal/fleet.report.csv: imported), then run
    for real against another (prod/fleet.report.csv: webhook_failed, so no phone_number_id).
    Both rolled back from one folder: both default to ./fleet.report.rollback.csv. The second
    finds the rehearsal's `deleted` lines (same rows, same numbers; REPORT names no id, and its
    rows finished before that rollback) and carries them: "3 numbers deleted already are kept,
    not sent again", 0 requests, exit 0, and all 3 numbers are still in production.
    """
    nums = [us_number(i) for i in range(3)]
    source = write_input(
        tmp_path / "fleet.csv", nums, agent="agent_sandbox", provider="prov_sandbox"
    )
    for folder in ("rehearsal", "prod"):
        (tmp_path / folder).mkdir()
    webhook_fails = Faults(webhook_fail_numbers=tuple(nums))
    with RunningSandbox() as rehearsal, RunningSandbox(faults=webhook_fails) as prod:
        accounts = (("rehearsal", rehearsal), ("prod", prod))
        for folder, sb in accounts:
            ran = cli("run", str(source), env=cli_env(sb.base_url), cwd=tmp_path / folder)
            assert ran.returncode in (0, 1), ran.stderr
        assert set(prod.state.numbers) == set(nums)  # imported, agent not assigned
        for folder, sb in accounts:
            undone = cli(
                "rollback",
                f"{folder}/fleet.report.csv",
                "--apply",
                env=cli_env(sb.base_url),
                cwd=tmp_path,
            )
            assert undone.returncode in (0, 1, 2), undone.stderr
        left = prod.state.numbers
    lines = read_report(tmp_path / "fleet.report.rollback.csv")
    claimed = [ln["number"] for ln in lines if ln["status"] == "deleted" and ln["number"] in left]
    assert not claimed, f"said deleted, still in production: {claimed}\n{undone.stdout}"


def test_a_rollback_in_the_wrong_account_never_says_the_runs_numbers_are_deleted(
    tmp_path: Path,
) -> None:
    """A rollback never reports `deleted` for numbers it never reached: a number not found in an
    account that does not link its provider is kept (another account?), not "gone".

    The issue's own mistake, the other way round: the run imported into account A; at 2 a.m.
    the shell holds account B's key (or a stale CARTESIA_BASE_URL). Every GET by id answers 404
    and q= finds nothing, so every row is `deleted` ("gone already"), exit 0, 0 DELETEs, and
    A keeps every number. REPORT names its provider (prov_sandbox) on every row; B has none of
    it: one look at the providers (as run's pre-flight does) tells the wrong account.
    """
    nums = [us_number(i) for i in range(3)]
    source = write_input(tmp_path / "fleet.csv", nums, provider="prov_sandbox")
    with RunningSandbox() as a, RunningSandbox(faults=Faults(providers=("prov_b",))) as b:
        ran = cli("run", str(source), env=cli_env(a.base_url), cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        undone = cli(
            "rollback", "fleet.report.csv", "--apply", env=cli_env(b.base_url), cwd=tmp_path
        )
        deletes = b.state.stats(detail=True)["by_method"].get("DELETE", 0)
        left = a.state.numbers
    assert set(left) == set(nums)
    assert deletes == 0
    out = tmp_path / "fleet.report.rollback.csv"
    claimed = (
        [ln["number"] for ln in read_report(out) if ln["status"] == "deleted"]
        if out.exists()
        else []
    )
    assert not claimed, f"exit {undone.returncode}, said deleted, all in account A: {claimed}"


# -- a REPORT row lost -----------------------------------------------------------------------------


def test_a_frame_of_two_results_loses_no_row() -> None:
    """bulk_import.rollback(pd.concat([r1.report, r2.report]), apply=True) keeps every line, or
    is refused: the same lines in a file are refused, naming the line (review 1, finding 4).

    Found: FrameReport.read used report_lines (the non-strict read): the last line of each row
    number won, and a line whose status is not one of the tool's ("Imported" retyped) was
    dropped, so r1's three numbers were neither deleted nor in Result.report, and the call said
    {"deleted": 3}, exit 0. Now the frame is read by strict_lines as a file is.
    """
    import pandas as pd

    first, second = [us_number(i) for i in range(3)], [us_number(i) for i in range(10, 13)]
    with RunningSandbox() as sb:
        r1 = bulk_import.run(first, provider_id="prov_sandbox", **library_api(sb))
        r2 = bulk_import.run(second, provider_id="prov_sandbox", **library_api(sb))
        both = pd.concat([r1.report, r2.report], ignore_index=True)
        try:
            undone = bulk_import.rollback(both, apply=True, **library_api(sb))
        except (BulkImportError, ValueError):
            undone = None  # refused, one line naming the line: nothing lost
        left = sb.state.numbers
    if undone is not None:
        assert len(undone.report) == len(both), undone.report[["row", "number", "status"]]
        assert left == {}, f"{sorted(left)} left in the account"


# -- a REPORT row misstated -----------------------------------------------------------------------


def test_a_number_the_runs_own_post_stored_is_never_said_not_to_be_the_runs(
    tmp_path: Path,
) -> None:
    """A row whose number the run's own POST stored is never said, as a fact, not to be the run's.

    The API stores each number, then answers 500 (stored_then_500; --max-attempts 1, or the
    last of the retries): the rows are `failed`. Rollback's plan: kept, "not imported by the
    run (failed): nothing to delete". The operator does as a failed row asks, `run --resume`:
    409, `already_imported`, attempts 1. Rollback --apply: kept, "in the account before the
    run (already_imported): never deleted", exit 0, and the 3 numbers this tool created stay.
    (A 409 on a retry within one run is said with care: "there before the run, or the run's
    own earlier try; check it by hand". A 409 on --resume after a 5xx is the same case.)
    """
    nums = [us_number(i) for i in range(3)]
    report = tmp_path / "fleet.report.csv"
    with RunningSandbox(faults=Faults(stored_then_500=1.0)) as sb:
        first = bulk_import.run(
            nums, provider_id="prov_sandbox", report=report, max_attempts=1, **library_api(sb)
        )
        assert set(first.report["status"]) == {"failed"}
        assert set(sb.state.numbers) == set(nums)  # stored: this run's own
        plan = bulk_import.rollback(report, report=tmp_path / "plan.csv", **library_api(sb))
        sb.state.change_faults({"stored_then_500": 0})
        again = bulk_import.run(
            nums, provider_id="prov_sandbox", report=report, resume=True, **library_api(sb)
        )
        assert set(again.report["status"]) == {"already_imported"}
        undone = bulk_import.rollback(report, apply=True, **library_api(sb))
    said = list(plan.report["error"]) + list(undone.report["error"])
    unhedged = [
        error
        for error in said
        if "nothing to delete" in error or error.startswith("in the account before the run")
    ]
    assert not unhedged, unhedged


# -- a next step wrong when followed ---------------------------------------------------------------


def test_the_force_a_plan_offers_does_what_it_says(tmp_path: Path) -> None:
    """A next step the plan prints does what it says when pasted.

    A number whose label changed since the run is kept by the plan; its summary line reads
    "1 changed since the run: `bulk-import rollback fleet.report.csv --force` deletes those
    too". Pasted as printed it is a plan (no --apply): nothing is deleted.
    """
    nums = [us_number(0), us_number(1)]
    source = write_input(tmp_path / "fleet.csv", nums, agent="agent_sandbox")
    with RunningSandbox() as sb:
        env = cli_env(sb.base_url)
        ran = cli("run", str(source), "--provider-id", "prov_sandbox", env=env, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        changed = sb.state.get(nums[0])
        assert changed is not None
        with httpx.Client(base_url=sb.base_url) as http:
            http.patch(
                f"{PATH}/{changed['id']}",
                json={"label": "renamed by a person"},
                headers={"Authorization": f"Bearer {sb.api_key}", "Cartesia-Version": "2026-03-01"},
            ).raise_for_status()
        plan = cli("rollback", "fleet.report.csv", env=env, cwd=tmp_path)
        assert plan.returncode == 0, plan.stderr
        said = (plan.stdout + plan.stderr).splitlines()
        kept = next(line for line in said if line.strip().startswith("kept"))
        _, command, claim = kept.split("`", 2)
        if "delete" not in claim:
            return  # it says what pasting it does (a plan): nothing wrong is promised
        words = shlex.split(command)
        assert words[0] == "bulk-import"
        pasted = cli(*words[1:], env=env, cwd=tmp_path)
        left = sb.state.numbers
    assert nums[0] not in left, f"{kept!r} pasted deleted nothing (exit {pasted.returncode})"


# -- odd paths and odd files -----------------------------------------------------------------------


def test_the_rollback_report_is_never_reports_journal(tmp_path: Path) -> None:
    """A rollback never writes its report where REPORT's journal goes.

    `rollback fleet.report.csv --report fleet.report.csv.journal` (a plan) exits 0 and leaves
    its lines there. Every later command reads them as a killed run's journal of REPORT:
    `rollback fleet.report.csv` is refused ("a killed command left ..."), and `run fleet.csv
    --resume` takes the plan's `would_delete` lines over REPORT's `imported` ones, sends them
    again (409) and rewrites REPORT as `already_imported`: from then on rollback keeps the
    run's numbers as "in the account before the run". check_outputs compares --report with
    REPORT, not with REPORT's journal (or lock file).
    """
    nums = [us_number(0), us_number(1)]
    source = write_input(tmp_path / "fleet.csv", nums)
    report = tmp_path / "fleet.report.csv"
    with RunningSandbox() as sb:
        env = cli_env(sb.base_url)
        given = ("--provider-id", "prov_sandbox")
        assert cli("run", str(source), *given, env=env, cwd=tmp_path).returncode == 0
        odd = cli(
            "rollback", report.name, "--report", journal_path(report).name, env=env, cwd=tmp_path
        )
        resumed = cli("run", str(source), *given, "--resume", env=env, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        undone = cli("rollback", report.name, "--apply", env=env, cwd=tmp_path)
        left = sb.state.numbers
    assert odd.returncode == 2 or left == {}, (
        f"rollback --report {journal_path(report).name}: exit {odd.returncode}; then the run's "
        f"numbers are kept for good:\n{undone.stdout}"
    )


def test_a_runaway_quote_in_a_report_is_exit_2_naming_the_line(tmp_path: Path) -> None:
    """An unusable REPORT is exit 2, one line naming where: never exit 4, an internal error.

    A report of 3,000 rows edited in a text editor: a `"` typed at the start of row 7's label.
    The CSV reader then reads the rest of the file as one cell, past csv's field limit
    (131,072 characters): `_csv.Error` escapes read_report, and the CLI says "internal error:
    Error: field larger than field limit (131072)", exit 4 (SPEC: exit 2 for an unusable
    REPORT; the same quote in a short REPORT is exit 2, "line N has 4 cells"). INPUT files
    already handle this (test_a_runaway_quote_deep_in_the_file_stops_run_before_anything_is_sent).
    """
    report = tmp_path / "fleet.report.csv"
    lines = [",".join(REPORT_COLUMNS)]
    for i in range(3000):
        number = f"+1415200{i:04d}"
        label = ('"' if i == 5 else "") + f"line {i}"
        lines.append(
            f"{i + 2},{number},{number},{label},prov_sandbox,,imported,201,pn_{i:012d},1,,"
            "2026-12-01T00:00:00Z"
        )
    report.write_text("\r\n".join(lines) + "\r\n")
    with RunningSandbox() as sb:
        done = cli("rollback", report.name, "--apply", env=cli_env(sb.base_url), cwd=tmp_path)
        sent = sb.state.stats(detail=True)["by_method"]
    assert not sent.get("DELETE")
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr.strip()}"
    assert "internal error" not in done.stderr
