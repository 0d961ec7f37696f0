"""Measure the run page's costs: metrics per call, the page and the workbook for 100,000 rows.

Not part of ``make bench`` (run.py's figures time whole commands, and the engine does not call
these yet): ``python tests/benchmarks/page_figures.py [--rows N]``. Every figure is printed with
a baseline measured in the same run, as BENCHMARKS.md does:

1. ``RunMetrics``: a sent + answered + row_finished round (what a row costs), against three
   calls of an empty method; and as a share of a run at 0.4 ms CPU a row (issue 13: <= 3 %).
2. ``write_page`` for an N-row report and a run of N requests, in a fresh process (pandas'
   import included) and warm, against ``pandas.read_csv`` of the same report; and its size.
3. ``write_workbook`` and ``read_workbook`` for the same report, against ``csv.reader``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import pandas as pd

from bulk_import.metrics import RunMetrics
from bulk_import.models import Outcome, Provider, Row, Status
from bulk_import.output.page import write_page
from bulk_import.output.report import Journal
from bulk_import.output.workbook import read_workbook, write_workbook

ROW_CPU_S = 0.4e-3  # a run's CPU per row, the reference figure
SUMMARY: dict[str, object] = {"command": "run", "input": "big.csv", "exit_code": 1}


class Empty:
    """Stand in for RunMetrics with methods that do nothing: the cost of the calls alone."""

    def sent(self) -> float:
        return 0.0

    def answered(self, token: float, *, status: int | None, retry: bool) -> None:
        return None

    def row_finished(self, *, ok: bool) -> None:
        return None


def per_round(target: RunMetrics | Empty) -> float:
    """Return the best seconds of one sent + answered + row_finished round."""

    def one() -> None:
        token = target.sent()
        target.answered(token, status=201, retry=False)
        target.row_finished(ok=True)

    return min(timeit.repeat(one, number=100_000, repeat=7)) / 100_000


def write_report(path: Path, rows: int) -> None:
    """Write an N-row report as the tool does: mostly imported, some failures of a few kinds."""
    rng = random.Random(5)
    when = dt.datetime(2026, 11, 27, 5, 59, 15, tzinfo=dt.UTC)
    writer = Journal(path)
    for n in range(2, rows + 2):
        number = f"+1415{2_000_000 + n:07d}"
        row = Row(n, number[1:], number, f"Line {n}", Provider(id="prov_1"), "agent_1")
        draw = rng.random()
        if draw < 0.94:
            outcome = Outcome(row, Status.IMPORTED, 201, f"pn_{n}", 1, "", when)
        elif draw < 0.97:
            error = f"HTTP 400: Webhook configuration failed (request_id r{n})"
            outcome = Outcome(row, Status.WEBHOOK_FAILED, 400, f"pn_{n}", 1, error, when)
        else:
            outcome = Outcome(row, Status.FAILED, 503, "", 6, "HTTP 503: busy", when)
        writer.write(outcome)
    writer.publish()


def run_metrics(rows: int, *, per_second: int = 400) -> RunMetrics:
    """Return the metrics of a run of ``rows`` requests at ``per_second``, 8 in flight."""
    clock = [0.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    metrics.limit(8)
    for i in range(rows):
        clock[0] = i / per_second
        token = metrics.sent()
        clock[0] += 0.02
        metrics.answered(token, status=201, retry=False)
        metrics.row_finished(ok=True)
    return metrics


def best_of(repeat: int, action: object) -> float:
    """Return the least seconds ``action()`` took in ``repeat`` tries."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Print the three figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows

    metrics_s = per_round(RunMetrics())
    empty_s = per_round(Empty())
    print(
        f"1. metrics: {metrics_s * 1e9:.0f} ns a row (3 calls), {metrics_s / 3 * 1e9:.0f} ns a "
        f"call; empty calls {empty_s * 1e9:.0f} ns (x{metrics_s / empty_s:.1f}); "
        f"{metrics_s / ROW_CPU_S:.3%} of 0.4 ms a row"
    )

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        report = work / "big.report.csv"
        write_report(report, rows)
        metrics = run_metrics(rows)
        page = work / "run.html"
        read_s = best_of(3, lambda: pd.read_csv(report, dtype=str, keep_default_na=False))
        warm_s = best_of(
            3, lambda: write_page(page, summary=SUMMARY, report=report, metrics=metrics)
        )
        cold = (
            "import time, sys; t = time.perf_counter(); "
            "from pathlib import Path; from bulk_import.output.page import write_page; "
            f"write_page(Path({str(page)!r}), summary={{}}, report=Path({str(report)!r}), "
            "metrics=None); print(time.perf_counter() - t)"
        )
        cold_s = min(
            float(subprocess.run([sys.executable, "-c", cold], capture_output=True, text=True,
                                 check=True).stdout)
            for _ in range(3)
        )  # fmt: skip
        write_page(page, summary=SUMMARY, report=report, metrics=metrics)
        print(
            f"2. page for {rows:,} rows: {warm_s:.2f} s warm (x{warm_s / read_s:.1f} a bare "
            f"read_csv, {read_s:.2f} s), {cold_s:.2f} s in a fresh process with pandas' import; "
            f"{page.stat().st_size / 1e3:.0f} kB"
        )

        book = work / "big.xlsx"
        write_s = best_of(2, lambda: write_workbook(book, report_csv=report, summary=SUMMARY))
        back_s = best_of(2, lambda: read_workbook(book))

        def bare_csv() -> None:
            with report.open(newline="") as f:
                for _ in csv.reader(f):
                    pass

        csv_s = best_of(3, bare_csv)
        print(
            f"3. workbook for {rows:,} rows: written in {write_s:.2f} s, read back in "
            f"{back_s:.2f} s (x{write_s / csv_s:.0f} and x{back_s / csv_s:.0f} a bare csv.reader "
            f"pass, {csv_s:.3f} s); {book.stat().st_size / 1e6:.1f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
