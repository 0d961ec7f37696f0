"""Measure figure 12: what the per-request metrics (RunMetrics) cost a run, in one process.

``ab_metrics.py`` runs ``bulk-import run`` of 3,000 rows at 20 ms latency, ``--concurrency 16``,
in one process: once to warm up, then in pairs of alternating order, with the engine's
RunMetrics (A) and with a no-op recorder the script patches in (B). The figure is A's mean wall
time over B's, less one (issue 13: at most 3 %), with the CPU time beside it. Pairs alternate
(A B, B A, ...), so a load that drifts during the figure weighs on A and B alike.
"""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any

from benchmarks.harness import (
    HERE,
    PROVIDER,
    Bench,
    BenchError,
    Figure,
    Sandbox,
    cli_env,
    run_process,
    say,
)

AB_SCRIPT = HERE / "ab_metrics.py"
TARGET = 0.03


def measure(bench: Bench) -> None:
    """12. 3,000 rows at 20 ms, concurrency 16: RunMetrics against a no-op recorder."""
    count = bench.pick(3_000, 1_000)
    rounds = bench.pick(4, 2, long=8)
    say(f"[12] metrics overhead: {count:,} rows at 20 ms, concurrency 16, {rounds} pairs")
    out = bench.workdir / "ab-metrics.json"
    source = bench.input(count)
    with Sandbox(bench.workdir, latency_ms=20) as sandbox:
        argv = [sys.executable, str(AB_SCRIPT), "--rounds", str(rounds), "--out", str(out)]
        argv += ["--base-url", sandbox.url, "--", "run", str(source), "--provider-id", PROVIDER]
        argv += ["--concurrency", "16", "--no-progress", "--quiet"]
        proc = run_process(argv, workdir=bench.workdir, env=cli_env())
    if proc.rc != 0:
        raise BenchError(f"ab_metrics.py exited {proc.rc}: {proc.tail()}")
    runs: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))["runs"]
    for run in runs:
        if run["counts"] != {"imported": count}:
            raise BenchError(f"an A/B run did not import every row: {run['counts']}")
    walls = {v: [r["wall_s"] for r in runs if r["variant"] == v] for v in ("metrics", "none")}
    cpus = {v: [r["cpu_s"] for r in runs if r["variant"] == v] for v in ("metrics", "none")}
    mean = statistics.fmean
    wall = mean(walls["metrics"]) / mean(walls["none"]) - 1
    cpu = mean(cpus["metrics"]) / mean(cpus["none"]) - 1
    bench.details["12"] = {"rows": count, "rounds": rounds, "runs": runs, "wall": wall, "cpu": cpu}
    bench.add(
        Figure(
            "12",
            f"per-request metrics: run time with RunMetrics / with a no-op recorder, less 1 "
            f"({count:,} rows, 20 ms, concurrency 16)",
            f"<= {TARGET:.0%}",
            f"{wall:+.1%} wall (means {mean(walls['metrics']):.2f} s vs "
            f"{mean(walls['none']):.2f} s over {rounds} pairs), {cpu:+.1%} CPU "
            f"({mean(cpus['metrics']) / count * 1e6:.0f} vs "
            f"{mean(cpus['none']) / count * 1e6:.0f} us a row)",
            wall <= TARGET,
            f"python tests/benchmarks/ab_metrics.py --rounds {rounds} --out ab.json "
            f"--base-url URL -- run in-{count}.csv --concurrency 16",
            wall,
        )
    )
