"""Measure figure 2, the latency-bound import: rows/s at 20 ms over concurrency / latency.

At ``--concurrency 16`` (every ceiling with ``--long``), today's CLI (f310f88) on the same sandbox:
with no limit on the server the adaptive window must cost nothing (issue 10: within 5 %, where
both run twice, interleaved, and the faster run of each counts).
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    HEAD,
    Bench,
    CliRun,
    Figure,
    Sandbox,
    Tool,
    check_imported,
    say,
)


def measure(bench: Bench) -> None:
    """2. 5,000 rows against 20 ms latency: rows/s over the ideal concurrency / latency."""
    count = bench.pick(5_000, 2_000)
    latency_ms = 20.0
    source = bench.input(count)
    targets = {16: 0.92, 32: None, 64: 0.85}
    say(f"[2] latency-bound import: {count:,} rows, {latency_ms:g} ms")
    details: dict[str, Any] = {"rows": count, "latency_ms": latency_ms, "by_concurrency": {}}
    today = bench.today()
    with Sandbox(bench.workdir, latency_ms=latency_ms) as sandbox:

        def timed(tool: Tool, concurrency: int) -> CliRun:
            sandbox.reset()
            run = bench.run(sandbox, source, concurrency=concurrency, tool=tool)
            check_imported(run, count)
            return run

        for concurrency, target in targets.items():
            ideal = concurrency / (latency_ms / 1000)
            rounds = 2 if concurrency == 16 else 1
            heads: list[CliRun] = []
            olds: list[CliRun] = []
            for _ in range(rounds):
                heads.append(timed(HEAD, concurrency))
                if concurrency == 16 or bench.mode == "long":  # make bench's time: 16 only
                    olds.append(timed(today, concurrency))
            run = min(heads, key=lambda r: r.duration_s)
            old = min(olds, key=lambda r: r.duration_s) if olds else None
            old_ratio = count / old.duration_s / ideal if old else None
            sandbox.reset()
            bare_proc, bare = bench.bare_post(sandbox, count, concurrency)
            steady = count / run.duration_s / ideal
            whole = count / run.proc.wall_s / ideal
            bare_ratio = count / float(bare["loop_s"]) / ideal
            # The event loop is one thread: the answers to `concurrency` requests come back
            # together and are handled one after the other, so each round trip costs the
            # latency plus concurrency x CPU per row. This predicts the ratio from the CPU.
            cpu_row = run.proc.cpu_s / count
            model = latency_ms / 1000 / (latency_ms / 1000 + concurrency * cpu_row)
            details["by_concurrency"][str(concurrency)] = {
                "ideal_rows_s": ideal,
                "cli_wall_s": run.proc.wall_s,
                "cli_duration_s": run.duration_s,
                "cli_cpu_s": run.proc.cpu_s,
                "ratio": steady,
                "ratio_whole_process": whole,
                "bare_aiohttp_loop_s": bare["loop_s"],
                "bare_aiohttp_wall_s": bare_proc.wall_s,
                "bare_aiohttp_ratio": bare_ratio,
                "cli_cpu_ms_per_row": cpu_row * 1000,
                "model_ratio": model,
                "head_duration_s": [r.duration_s for r in heads],
                "today_duration_s": [r.duration_s for r in olds],
                "today_cpu_ms_per_row": old.proc.cpu_s / count * 1000 if old else None,
                "today_ratio": old_ratio,
            }
            bench.add(
                Figure(
                    f"2.{concurrency}",
                    f"latency-bound import, --concurrency {concurrency}: rows/s / ideal",
                    "info" if target is None else f">= {target}",
                    f"{steady:.2f} ({count / run.duration_s:.0f} of {ideal:.0f} rows/s; "
                    f"whole process {whole:.2f}; bare aiohttp loop {bare_ratio:.2f}, "
                    f"CPU {cpu_row * 1000:.2f} ms/row"
                    + (f"; today's {old_ratio:.2f})" if old_ratio is not None else ")"),
                    None if target is None else steady >= target,
                    f"bulk-import sandbox --latency-ms 20; bulk-import run in-{count}.csv "
                    f"--concurrency {concurrency}",
                    steady,
                )
            )
            if concurrency == 16 and old is not None:
                versus = old.duration_s / run.duration_s
                bench.add(
                    Figure(
                        "2.16t",
                        "no limit, 20 ms, --concurrency 16: rows/s of HEAD / of today's "
                        "(f310f88), best of 2 each",
                        ">= 0.95",
                        f"{versus:.3f} ({count / run.duration_s:.0f} vs "
                        f"{count / old.duration_s:.0f} rows/s)",
                        versus >= 0.95,
                        "the same run, and f310f88's bulk-import run on the same sandbox",
                        versus,
                    )
                )
    bench.details["2"] = details
