"""Figure 14: what checking that a report belongs to INPUT costs a run, on 100,000 rows.

``python tests/benchmarks/fig_same_input.py [--rows 100000] [--repeats 5]``

Since issue 20, ``run`` and ``reconcile`` read the report (and a killed run's journal) already at
``--report`` before every run, with or without ``--resume``, and refuse another input's
(``jobs.inputs.check_report_belongs``): without ``--resume``, a report that records numbers in the
account INPUT no longer lists. It must stay cheap for a fleet file of 100,000 rows: one pass over
INPUT's raw rows, comparing the text typed first, and a scan of the report's ``row``,
``input_number``, ``number`` and ``status`` cells only. In-process, the same files, interleaved
rounds, medians:

- ``check``: ``check_report_belongs`` on an INPUT already opened (as ``run``'s prepare has it)
  and a matching 100,000-row report;
- ``floor``: the same two reads done bare: one pass over the opened INPUT's raw rows, plus the
  ``csv`` module reading the report's lines;
- ``full read`` (info): ``recovery.recover``, what ``--resume`` read before and still reads
  (a ``ReportLine`` per line);
- ``refuse`` (info): the same check of that report against another INPUT of as many rows (other
  numbers, typed the same way), which it refuses: every number the report records is looked
  for in the whole INPUT, a row parsed only when its last digits may be one of them.

The last line is ``harness.figures_line``'s JSON, for ``run.py``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bulk_import.errors import InputError
from bulk_import.jobs.inputs import check_report_belongs
from bulk_import.models import Outcome, Provider, Row, Status
from bulk_import.output.recovery import recover
from bulk_import.output.report import Journal
from bulk_import.sources import InputSource, open_input

TARGET = 2.0


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    """Write an INPUT of ``rows`` numbers typed as people type them, and its finished report."""
    source = folder / "fleet.csv"
    report = folder / "fleet.report.csv"
    with source.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "label"])
        for i in range(rows):
            writer.writerow([f"+1 415 {2_000_000 + i:07d}", f"line {i}"])
    journal = Journal(report)
    for i in range(rows):
        typed = f"+1 415 {2_000_000 + i:07d}"
        number = f"+1415{2_000_000 + i:07d}"
        row = Row(i + 2, typed, number, f"line {i}", Provider(id="prov_sandbox"))
        journal.write(Outcome(row, Status.IMPORTED, 201, f"pn_{i:012d}", 1))
    journal.publish()
    return source, report


def write_other(folder: Path, rows: int) -> Path:
    """Write another INPUT of ``rows`` numbers: another fleet's, none of the report's."""
    other = folder / "other.csv"
    with other.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "label"])
        for i in range(rows):
            writer.writerow([f"+1 628 {(i * 7919) % 10_000_000:07d}", f"line {i}"])
    return other


def refused(opened: InputSource, report: Path) -> None:
    """Check ``report`` against another INPUT, which must be refused."""
    try:
        check_report_belongs(opened, report, region="US")
    except InputError:
        return
    raise AssertionError("another input's report was not refused")


def timed(work: Callable[[], object]) -> float:
    """Return the seconds ``work`` takes."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> int:
    """Measure the figure and print it (exit 0 once measured, the target met or not)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-same-input-") as folder:
        source, report = write_files(Path(folder), args.rows)
        opened = open_input(str(source))
        other = open_input(str(write_other(Path(folder), args.rows)))

        def floor() -> None:
            for _ in opened:
                pass
            text = report.read_bytes().decode("utf-8")
            for _ in csv.reader(io.StringIO(text, newline="")):
                pass

        rounds: dict[str, list[float]] = {"check": [], "floor": [], "full": [], "refuse": []}
        for _ in range(args.repeats):
            rounds["check"].append(timed(lambda: check_report_belongs(opened, report, region="US")))
            rounds["floor"].append(timed(floor))
            rounds["full"].append(timed(lambda: recover(report)))
            rounds["refuse"].append(timed(lambda: refused(other, report)))
    check, base, full, refuse = (
        statistics.median(rounds[k]) for k in ("check", "floor", "full", "refuse")
    )
    ratio = check / base
    print(f"[15] report-belongs check, {args.rows:,} rows, median of {args.repeats}")
    print(f"  check {check:.3f} s, floor {base:.3f} s: x{ratio:.2f}; full read {full:.3f} s")
    print(f"  another INPUT refused in {refuse:.3f} s")
    command = f"python tests/benchmarks/fig_same_input.py --rows {args.rows}"
    figures = [
        {
            "key": "15a",
            "name": f"report-belongs check before a run, {args.rows:,} rows / one bare pass over "
            "INPUT and the report",
            "target": f"<= {TARGET}",
            "shown": f"{ratio:.2f} ({check:.3f} s vs {base:.3f} s)",
            "passed": ratio <= TARGET,
            "command": command,
            "value": ratio,
            "note": "",
        },
        {
            "key": "15b",
            "name": "the same report read whole, as --resume reads it (ReportLine per line)",
            "target": "report",
            "shown": f"{full:.3f} s",
            "passed": None,
            "command": command,
            "value": full,
            "note": "",
        },
        {
            "key": "15c",
            "name": "the same report against another INPUT of as many rows: refused",
            "target": "report",
            "shown": f"{refuse:.3f} s",
            "passed": None,
            "command": command,
            "value": refuse,
            "note": "",
        },
    ]
    print(json.dumps({"figures": figures, "details": rounds}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
