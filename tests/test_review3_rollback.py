"""Third review of rollback (issue 22): the second review's fixes and the journal fix (79d572c).

Each test is a way the re-confirm of a ``deleted`` line whose REPORT row names no id (``confirm``),
or the providers read that tells the wrong account, could lose the record of a delete, claim a
delete, or mislabel a row. Real sandbox on loopback, the CLI as a subprocess; every number counted
at the sandbox. Each failed on the code as reviewed (each was marked ``xfail(strict=True)``
until the commit of its fix).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from conftest import cli, cli_env, finish, read_report, start_cli, wait_for, write_input
from sandbox_fixtures import us_number

from bulk_import.sandbox import Faults, RunningSandbox

ROLLBACK = "fleet.report.rollback.csv"


def _deleted_with_no_id(tmp_path: Path, sb: RunningSandbox, count: int = 3) -> list[str]:
    """Run fleet.csv into ``sb`` with every webhook failing (no id in REPORT), then roll it back
    with --apply: every number deleted through a q= look-up; return the numbers."""
    nums = [us_number(i) for i in range(count)]
    source = write_input(
        tmp_path / "fleet.csv", nums, agent="agent_sandbox", provider="prov_sandbox"
    )
    env = cli_env(sb.base_url)
    ran = cli("run", str(source), env=env, cwd=tmp_path)
    assert ran.returncode == 1, ran.stderr  # webhook_failed: stored, no id in REPORT
    assert {ln["status"] for ln in read_report(tmp_path / "fleet.report.csv")} == {"webhook_failed"}
    done = cli("rollback", "fleet.report.csv", "--apply", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sb.state.numbers == {}
    assert {ln["status"] for ln in read_report(tmp_path / ROLLBACK)} == {"deleted"}
    return nums


def _deletes(sb: RunningSandbox) -> int:
    return int(sb.state.stats(detail=True)["by_method"].get("DELETE", 0))


def _gets(sb: RunningSandbox) -> int:
    return int(sb.state.stats(detail=True)["by_method"].get("GET", 0))


def _rerun_slowly(tmp_path: Path, sb: RunningSandbox, *args: str) -> subprocess.Popen[str]:
    """Start `rollback fleet.report.csv --apply ARGS` one request at a time, each answered a
    second late; return once its first q= look-up (after the pre-flight GET) has arrived."""
    sb.state.change_faults({"latency_ms": 1000})
    before = _gets(sb)
    process = start_cli(
        "rollback",
        "fleet.report.csv",
        "--apply",
        "--concurrency",
        "1",
        *args,
        env=cli_env(sb.base_url),
        cwd=tmp_path,
    )
    wait_for(lambda: _gets(sb) >= before + 2, what="the first q= re-confirm look-up")
    return process


def test_a_rerun_interrupted_during_the_re_confirm_keeps_the_record_of_the_deletes(
    tmp_path: Path,
) -> None:
    """A rerun stopped by one Ctrl-C during its q= re-confirm leaves every `deleted` line
    `deleted`, and so does the run after it."""
    nums = [us_number(i) for i in range(3)]
    with RunningSandbox(faults=Faults(webhook_fail_numbers=tuple(nums))) as sb:
        _deleted_with_no_id(tmp_path, sb)
        process = _rerun_slowly(tmp_path, sb)
        process.send_signal(signal.SIGINT)
        code, _, _ = finish(process)
        assert code == 130
        after_stop = [(ln["status"], ln["error"]) for ln in read_report(tmp_path / ROLLBACK)]
        sb.state.change_faults({"latency_ms": 0})
        again = cli(
            "rollback", "fleet.report.csv", "--apply", env=cli_env(sb.base_url), cwd=tmp_path
        )
        deletes = _deletes(sb)
    final = [(ln["status"], ln["error"]) for ln in read_report(tmp_path / ROLLBACK)]
    assert deletes == 3
    assert [s for s, _ in final] == ["deleted"] * 3, (
        f"after Ctrl-C: {after_stop}\nafter the rerun (exit {again.returncode}): {final}"
    )


def test_a_failed_re_confirm_look_up_keeps_the_record_of_the_delete(tmp_path: Path) -> None:
    """A rerun whose q= look-ups fail (503) does not lose the `deleted` lines it re-checks."""
    nums = [us_number(i) for i in range(3)]
    with RunningSandbox(faults=Faults(webhook_fail_numbers=tuple(nums))) as sb:
        _deleted_with_no_id(tmp_path, sb)
        process = _rerun_slowly(tmp_path, sb, "--max-attempts", "1")
        sb.state.change_faults({"error_503": 1.0})  # the pre-flight is answered; no look-up yet
        code, _, _ = finish(process)
        after_503 = [(ln["status"], ln["error"]) for ln in read_report(tmp_path / ROLLBACK)]
        sb.state.change_faults({"error_503": 0, "latency_ms": 0})
        again = cli(
            "rollback", "fleet.report.csv", "--apply", env=cli_env(sb.base_url), cwd=tmp_path
        )
        deletes = _deletes(sb)
    final = [(ln["status"], ln["error"]) for ln in read_report(tmp_path / ROLLBACK)]
    assert deletes == 3
    assert [s for s, _ in final] == ["deleted"] * 3, (
        f"503 rerun (exit {code}): {after_503}\nthen (exit {again.returncode}): {final}"
    )


def test_a_rerun_against_the_wrong_account_keeps_the_record_of_the_deletes(
    tmp_path: Path,
) -> None:
    """A rerun with another account's key changes no `deleted` line: the right key then finds
    them all still deleted."""
    nums = [us_number(i) for i in range(3)]
    with (
        RunningSandbox(faults=Faults(webhook_fail_numbers=tuple(nums))) as a,
        RunningSandbox(faults=Faults(providers=("prov_b",))) as b,
    ):
        _deleted_with_no_id(tmp_path, a)
        wrong = cli(
            "rollback", "fleet.report.csv", "--apply", env=cli_env(b.base_url), cwd=tmp_path
        )
        after_wrong = [(ln["status"], ln["error"]) for ln in read_report(tmp_path / ROLLBACK)]
        right = cli(
            "rollback", "fleet.report.csv", "--apply", env=cli_env(a.base_url), cwd=tmp_path
        )
        deletes = _deletes(a) + _deletes(b)
    final = [(ln["status"], ln["error"]) for ln in read_report(tmp_path / ROLLBACK)]
    assert deletes == 3
    assert [s for s, _ in final] == ["deleted"] * 3, (
        f"wrong account (exit {wrong.returncode}): {after_wrong}\n"
        f"right account again (exit {right.returncode}): {final}"
    )


def test_a_failed_providers_read_never_says_the_wrong_accounts_misses_are_deleted(
    tmp_path: Path,
) -> None:
    """In an account that does not link the run's provider, a rollback whose providers read
    fails (503) says no number `deleted`: all are still in the run's account."""
    nums = [us_number(i) for i in range(3)]
    source = write_input(tmp_path / "fleet.csv", nums, provider="prov_sandbox")
    with RunningSandbox() as a, RunningSandbox(faults=Faults(providers=("prov_b",))) as b:
        ran = cli("run", str(source), env=cli_env(a.base_url), cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        b.state.change_faults({"latency_ms": 1000})
        before = _gets(b)
        process = start_cli(
            "rollback",
            "fleet.report.csv",
            "--apply",
            "--concurrency",
            "1",
            "--max-attempts",
            "1",
            env=cli_env(b.base_url),
            cwd=tmp_path,
        )
        # The pre-flight, row 2's GET by id (404) and its q= (a miss), then the providers read:
        # it alone is answered 503 (each answer is drawn a second after its request arrives).
        wait_for(lambda: _gets(b) >= before + 4, what="the providers read")
        b.state.change_faults({"error_503": 1.0})
        wait_for(lambda: _gets(b) >= before + 5, what="row 3's GET by id")
        b.state.change_faults({"error_503": 0})
        code, out, err = finish(process)
        deletes = _deletes(b)
        left = a.state.numbers
    assert set(left) == set(nums)
    assert deletes == 0
    claimed = [ln["number"] for ln in read_report(tmp_path / ROLLBACK) if ln["status"] == "deleted"]
    assert not claimed, f"exit {code}: said deleted, all still in account A: {claimed}\n{out}{err}"


def _posts(sb: RunningSandbox) -> int:
    return int(sb.state.stats(detail=True)["by_method"].get("POST", 0))


def test_a_post_abandoned_by_a_second_ctrl_c_is_never_said_to_be_there_before_the_run(
    tmp_path: Path,
) -> None:
    """A number whose POST a second Ctrl-C abandoned (the API stored it) is never said, after
    `run --resume` answers 409, to have been in the account before the run."""
    number = us_number(0)
    source = write_input(tmp_path / "fleet.csv", [number], provider="prov_sandbox")
    with RunningSandbox(faults=Faults(latency_ms=1500)) as sb:
        env = cli_env(sb.base_url)
        process = start_cli("run", str(source), "--concurrency", "1", env=env, cwd=tmp_path)
        wait_for(lambda: _posts(sb) >= 1, what="the import's POST")
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        code, _, _ = finish(process)
        assert code == 130
        first = read_report(tmp_path / "fleet.report.csv")
        wait_for(lambda: number in sb.state.numbers, what="the abandoned POST stored")
        sb.state.change_faults({"latency_ms": 0})
        resumed = cli("run", str(source), "--resume", env=env, cwd=tmp_path)
        second = read_report(tmp_path / "fleet.report.csv")
        plan = cli("rollback", "fleet.report.csv", env=env, cwd=tmp_path)
    lines = read_report(tmp_path / ROLLBACK)
    said = [(ln["status"], ln["attempts"], ln["error"]) for ln in first + second + lines]
    assert resumed.returncode == 0, said
    assert plan.returncode == 0, said
    assert not lines[0]["error"].startswith("in the account before the run"), said
