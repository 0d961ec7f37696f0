"""Measure figure 3, the client ceiling: the CLI at 0 ms against a bare aiohttp loop."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    Bench,
    CliRun,
    Figure,
    Proc,
    Sandbox,
    check_imported,
    say,
)


def measure(bench: Bench) -> None:
    """3. 0 latency, --concurrency 16: the whole CLI vs a bare aiohttp loop; CPU per row."""
    count = bench.pick(10_000, 3_000)
    rounds = bench.pick(2, 1)
    source = bench.input(count)
    say(f"[3] client ceiling: {count:,} rows, best of {rounds}")
    clis: list[CliRun] = []
    bares: list[tuple[Proc, dict[str, Any]]] = []
    with Sandbox(bench.workdir) as sandbox:
        for _ in range(rounds):
            sandbox.reset()
            bares.append(bench.bare_post(sandbox, count, 16))
            sandbox.reset()
            run = bench.run(sandbox, source, concurrency=16)
            check_imported(run, count)
            clis.append(run)
        # httpx's own transport is slow: 3,000 rows say the ratio well enough.
        few = min(count, 3_000)
        sandbox.reset()
        httpx_default = bench.bare_post(sandbox, few, 16, "httpx-async")
        sandbox.reset()
        httpx_aiohttp = bench.bare_post(sandbox, few, 16, "httpx-async", "--aiohttp-transport")
    cli = min(clis, key=lambda r: r.proc.wall_s)
    bare_proc, bare = min(bares, key=lambda b: b[0].wall_s)
    ratio = bare_proc.wall_s / cli.proc.wall_s
    steady = float(bare["loop_s"]) / cli.duration_s
    cpu_ms = cli.proc.cpu_s / count * 1000
    bare_cpu_ms = bare_proc.cpu_s / count * 1000
    transport_gain = float(httpx_default[1]["loop_s"]) / float(httpx_aiohttp[1]["loop_s"])
    bench.details["3"] = {
        "rows": count,
        "rounds": rounds,
        "cli_wall_s": [r.proc.wall_s for r in clis],
        "cli_duration_s": [r.duration_s for r in clis],
        "cli_cpu_s": [r.proc.cpu_s for r in clis],
        "bare_wall_s": [b[0].wall_s for b in bares],
        "bare_loop_s": [b[1]["loop_s"] for b in bares],
        "bare_cpu_s": [b[0].cpu_s for b in bares],
        "ratio_whole_process": ratio,
        "ratio_in_process": steady,
        "cli_rows_s": count / cli.proc.wall_s,
        "bare_rows_s": count / bare_proc.wall_s,
        "cli_cpu_ms_per_row": cpu_ms,
        "bare_cpu_ms_per_row": bare_cpu_ms,
        "httpx_default_loop_s": httpx_default[1]["loop_s"],
        "httpx_aiohttp_transport_loop_s": httpx_aiohttp[1]["loop_s"],
        "httpx_aiohttp_transport_gain": transport_gain,
    }
    bench.add(
        Figure(
            "3a",
            "client ceiling: CLI rows/s / bare aiohttp loop rows/s (0 ms, concurrency 16)",
            ">= 0.5",
            f"{ratio:.2f} ({count / cli.proc.wall_s:.0f} vs {count / bare_proc.wall_s:.0f} "
            f"rows/s, whole processes; in-process {steady:.2f})",
            ratio >= 0.5,
            f"bulk-import run in-{count}.csv --concurrency 16 vs baselines.py aiohttp "
            f"--count {count} --concurrency 16",
            ratio,
        )
    )
    bench.add(
        Figure(
            "3b",
            "CPU time per imported row (user+sys of the CLI process / rows)",
            "report",
            f"{cpu_ms:.3f} ms (bare aiohttp loop {bare_cpu_ms:.3f} ms, "
            f"x{cpu_ms / bare_cpu_ms:.1f})",
            None,
            "same runs",
            cpu_ms,
        )
    )
    bench.add(
        Figure(
            "3c",
            "httpx with httpx-aiohttp's transport vs httpx's default transport (bare loops)",
            "report",
            f"x{transport_gain:.2f} the rows/s",
            None,
            "baselines.py httpx-async [--aiohttp-transport] --concurrency 16",
            transport_gain,
        )
    )
