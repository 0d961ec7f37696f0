"""validate on large files: parallel parsing gives the same rows, Ctrl-C keeps every row."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox_fixtures import us_number

from bulk_import.config import InputOptions
from bulk_import.jobs import inputs
from bulk_import.models import RawRow
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
