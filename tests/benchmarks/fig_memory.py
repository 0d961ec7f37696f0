"""Measure figure 5, flat memory: peak RSS of ``run`` at two sizes four times apart."""

from __future__ import annotations

from benchmarks.harness import (
    MB,
    Bench,
    CliRun,
    Figure,
    Sandbox,
    check_imported,
    say,
)


def measure(bench: Bench) -> None:
    """5. Peak RSS of ``run`` on 200,000 rows, and against 50,000 rows: flat."""
    # 4x the rows, as the 50,000 vs 200,000 (--long): 200,000 rows alone take about
    # 4 minutes of a shared 2-core machine, too much for make bench's 10 minutes.
    small = bench.pick(25_000, 10_000, long=50_000)
    big = bench.pick(100_000, 40_000, long=200_000)
    say(f"[5] flat memory: {small:,} and {big:,} rows, 0 ms")
    runs: dict[int, CliRun] = {}
    with Sandbox(bench.workdir) as sandbox:
        for count in (small, big):
            sandbox.reset()
            run = bench.run(sandbox, bench.input(count), concurrency=16)
            check_imported(run, count)
            runs[count] = run
    rss_small, rss_big = runs[small].proc.peak_mb, runs[big].proc.peak_mb
    growth = rss_big / rss_small
    per_row = (rss_big - rss_small) * MB / (big - small)
    bench.details["5"] = {
        "rows": [small, big],
        "peak_mb": [rss_small, rss_big],
        "peak_rss_largest_process_mb": [runs[n].proc.maxrss_mb for n in (small, big)],
        "peak_pss_all_processes_mb": [runs[n].proc.tree_mb for n in (small, big)],
        "wall_s": [runs[small].proc.wall_s, runs[big].proc.wall_s],
        "cpu_s": [runs[small].proc.cpu_s, runs[big].proc.cpu_s],
        "growth_ratio": growth,
        "bytes_per_extra_row": per_row,
    }
    bench.add(
        Figure(
            "5a",
            f"run peak RSS, {big:,} rows (0 ms)",
            "<= 300 MB",
            f"{rss_big:.0f} MB",
            rss_big <= 300,
            f"bulk-import run in-{big}.csv --concurrency 16",
            rss_big,
        )
    )
    bench.add(
        Figure(
            "5b",
            f"no growth: peak RSS at {big:,} rows / at {small:,} rows",
            "<= 1.10",
            f"{growth:.2f} ({rss_small:.0f} -> {rss_big:.0f} MB, {per_row:.0f} bytes/row)",
            growth <= 1.10,
            f"bulk-import run in-{small}.csv, then in-{big}.csv",
            growth,
        )
    )
