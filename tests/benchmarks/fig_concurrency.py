"""Measure figure 9: a concurrency limit of 10 at 100 ms, found from ceilings 64, 16 and 8.

The sandbox answers 429 ``concurrency_limited`` at once, with no ``Retry-After``, to any request
beyond 10 in flight (ideal: 100 rows/s). Each ceiling runs HEAD (the adaptive window) and today's
CLI (f310f88: a fixed pool under an adaptive rate cap), seconds apart on one sandbox. A fixed pool
of exactly 10 (HEAD at ``--concurrency 10``, which never meets the limit) shows how close to the
ideal this machine, its sandbox and its sockets let any client come.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    HEAD,
    Bench,
    Figure,
    Sandbox,
    Tool,
    check_imported,
    run_facts,
    say,
    window_range,
)

LIMIT = 10
LATENCY_MS = 100.0
CEILINGS = (64, 16, 8)


def measure(bench: Bench) -> None:
    """9. Limit 10, 100 ms, 1,500 rows: rows/s over the ideal and the 429 share, by ceiling."""
    count = bench.pick(1_500, 400)
    # Today's CLI at a ceiling of 64 takes ~120 s for 1,500 rows (the figure): make bench
    # stops it after 15 s (Ctrl-C) and counts the rows it imported until then; --long waits.
    cap_s = None if bench.mode == "long" else float(bench.pick(15, 10))
    latency_s = LATENCY_MS / 1000
    faults = {"concurrency_limit": LIMIT, "latency_ms": LATENCY_MS}
    say(f"[9] concurrency limit {LIMIT}, {LATENCY_MS:g} ms: {count:,} rows, ceilings {CEILINGS}")
    today = bench.today()
    details: dict[str, Any] = {"rows": count, "limit": LIMIT, "latency_ms": LATENCY_MS}
    with Sandbox(bench.workdir, faults=faults) as sandbox:

        def one(tool: Tool, ceiling: int, cap: float | None = None) -> dict[str, Any]:
            sandbox.reset()
            run = bench.run(
                sandbox,
                bench.input(count),
                concurrency=ceiling,
                tool=tool,
                expect=(0, 130),
                interrupt_after=cap,
            )
            if run.proc.rc == 0:
                check_imported(run, count)
            return run_facts(run, sandbox.stats(), ideal=min(ceiling, LIMIT) / latency_s)

        fixed = one(HEAD, LIMIT)
        details["fixed_pool_of_10"] = fixed
        for ceiling in CEILINGS:
            head = one(HEAD, ceiling)
            # Below the limit today's CLI is a fixed pool that never meets a 429: --long only.
            old = None
            if ceiling >= LIMIT or bench.mode == "long":
                old = one(today, ceiling, cap_s if ceiling > 16 else None)
            details[str(ceiling)] = {"HEAD": head, today.name: old}
            bench.add(_figure(ceiling, head, old, fixed, count=count, cap_s=cap_s))
    bench.details["9"] = details


def _figure(
    ceiling: int,
    head: dict[str, Any],
    old: dict[str, Any] | None,
    fixed: dict[str, Any],
    *,
    count: int,
    cap_s: float | None,
) -> Figure:
    """Return one ceiling's line: HEAD against its target, today's and the fixed pool beside."""
    if ceiling < LIMIT:
        target = f">= 0.95 of {ceiling}/latency"
        passed = head["ratio"] >= 0.95
    else:
        target = ">= 0.92 of ideal, <= 5% 429s"
        passed = head["ratio"] >= 0.92 and head["share_429"] <= 0.05
    if old is None:
        today = "today's: --long"
    else:
        stopped = ""
        if old["exit_code"]:
            stopped = f" (Ctrl-C at {cap_s:g} s, {old['imported']} rows)"
        today = f"today's{stopped}: {old['ratio']:.3f}, {old['share_429']:.1%}"
    return Figure(
        f"9.{ceiling}",
        f"concurrency limit {LIMIT}, 100 ms, --concurrency {ceiling}: rows/s / ideal, 429 share",
        target,
        f"{head['ratio']:.3f} (steady {head['ratio_steady']:.2f}), {head['share_429']:.1%} 429s, "
        f"window {window_range(head)}; {today}; a fixed pool of {LIMIT}: {fixed['ratio']:.3f} "
        f"(steady {fixed['ratio_steady']:.2f})",
        passed,
        f"faults {{concurrency_limit: {LIMIT}, latency_ms: 100}}; "
        f"bulk-import run in-{count}.csv --concurrency {ceiling}",
        head["ratio"],
    )
