"""validate: parallel parsing gives the same rows, Ctrl-C keeps every row, no record is erased."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli, cli_env, read_report, write_input
from sandbox_fixtures import us_number

from bulk_import.config import InputOptions
from bulk_import.jobs import inputs
from bulk_import.models import REPORT_COLUMNS, RawRow
from bulk_import.normalize import e164_chunk, prepare
from bulk_import.output.report import journal_path


def raw_rows(n: int) -> list[RawRow]:
    rows = []
    for i in range(n):
        number = us_number(i % (n - 50)) if i % 7 else f"bad{i}"  # invalid and duplicate rows too
        rows.append(RawRow(row_number=i + 2, number=number, provider_id="p"))
    return rows


def test_parallel_parsing_gives_the_same_rows() -> None:
    """prepare on 2 worker processes yields exactly what it yields on one, in order."""
    rows = raw_rows(20_000)
    one = list(prepare(rows, InputOptions(), workers=1))
    two = list(prepare(rows, InputOptions(), workers=2))
    assert two == one
    assert {r.status for r in one} >= {None}
    assert e164_chunk(["+14155552671", "x"], "US")[0] == ("+14155552671", "")


def test_parse_workers_only_for_large_files(tmp_path: Path) -> None:
    """Small files and stdin parse in-process; large files use the cores."""
    small = tmp_path / "small.csv"
    small.write_text("number\n+14155552671\n")
    assert inputs.parse_workers("-") == 1
    assert inputs.parse_workers(str(small)) == 1
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(inputs.PARALLEL_FROM_BYTES)
    assert 1 <= inputs.parse_workers(str(big)) <= inputs.MAX_PARSE_WORKERS


def test_ctrl_c_during_validate_keeps_every_row(tmp_path: Path) -> None:
    """SIGINT mid-validate: exit 130, every row once, the unchecked ones not_attempted."""
    source = tmp_path / "big.csv"
    n = 150_000
    with source.open("w") as f:
        f.write("number,provider_id\n")
        for i in range(n):
            f.write(f"{us_number(i)},p\n")
    report = tmp_path / "r.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulk_import", "validate", str(source), "--report", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        journal = journal_path(report)
        if journal.exists() and journal.stat().st_size > 200_000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    with report.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["row"]) for r in rows] == list(range(2, n + 2))
    statuses = {r["status"] for r in rows}
    assert statuses == {"valid", "not_attempted"}
    assert "stopped early: interrupted" in stderr
    assert os.stat(report).st_mode & 0o777 == 0o600


# -- validate never replaces another command's record ---------------------------------------


def run_report(tmp_path: Path, name: str, statuses: list[str], error: str = "") -> Path:
    """Write a report whose rows have these statuses (one row each, from row 2) and error."""
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow(REPORT_COLUMNS)
        for i, status in enumerate(statuses):
            number = us_number(i)
            out.writerow([i + 2, number, number, "", "p", "", status, "", "", 1, error, ""])
    return path


def test_validate_refuses_to_replace_a_run_report(tmp_path: Path) -> None:
    """A run's report (webhook_failed rows: their only record) is left byte for byte, exit 2."""
    write_input(tmp_path / "in.csv", [us_number(0), us_number(1)], provider="p")
    report = run_report(tmp_path, "in.report.csv", ["imported", "webhook_failed"])
    before = report.read_bytes()
    done = cli("validate", "in.csv", "--report", "in.report.csv", env=cli_env(None), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "bulk-import: error: in.report.csv is a run report (1 imported, 1 webhook_failed): "
        "validate never replaces another command's record; pass another --report\n"
    )
    assert report.read_bytes() == before
    assert not journal_path(report).exists()


def test_validate_refuses_a_journal_a_killed_run_left(tmp_path: Path) -> None:
    """A killed run's journal beside the report path holds its rows: validate leaves it too."""
    write_input(tmp_path / "in.csv", [us_number(0)], provider="p")
    journal = run_report(tmp_path, "in.validate.csv.journal", ["imported"])
    before = journal.read_bytes()
    done = cli("validate", "in.csv", env=cli_env(None), cwd=tmp_path)
    assert done.returncode == 2
    assert "in.validate.csv.journal is a run report (1 imported)" in done.stderr
    assert journal.read_bytes() == before
    assert not (tmp_path / "in.validate.csv").exists()


def test_validate_replaces_its_own_report_even_an_interrupted_one(tmp_path: Path) -> None:
    """valid, invalid, duplicate and validate's own not_attempted rows are validate's to redo."""
    write_input(tmp_path / "in.csv", [us_number(0), us_number(1)], provider="p")
    statuses = ["valid", "not_attempted"]
    report = run_report(tmp_path, "in.validate.csv", statuses, error="validation interrupted")
    done = cli("validate", "in.csv", env=cli_env(None), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [line["status"] for line in read_report(report)] == ["valid", "valid"]


def test_validate_refuses_a_run_s_not_attempted_rows(tmp_path: Path) -> None:
    """A run stopped early left not_attempted rows of its own: not validate's to replace."""
    write_input(tmp_path / "in.csv", [us_number(0)], provider="p")
    report = run_report(tmp_path, "mine.csv", ["not_attempted"])
    done = cli("validate", "in.csv", "--report", "mine.csv", env=cli_env(None), cwd=tmp_path)
    assert done.returncode == 2
    assert "(1 not_attempted)" in done.stderr
    assert "not_attempted" in report.read_text()


def test_validate_to_stdout_checks_no_file(tmp_path: Path) -> None:
    """--report - writes to stdout: no file named '-' is read or refused."""
    write_input(tmp_path / "in.csv", [us_number(0)], provider="p")
    done = cli("validate", "in.csv", "--report", "-", env=cli_env(None), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split(",")[6] == "valid"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]
