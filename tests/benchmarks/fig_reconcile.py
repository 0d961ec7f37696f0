"""Measure figure 8: ``reconcile --apply`` at fleet scale sends exactly the calls needed."""

from __future__ import annotations

import math

from benchmarks.harness import (
    AGENT,
    PROVIDER,
    Bench,
    Figure,
    Sandbox,
    number,
    say,
)


def measure(bench: Bench) -> None:
    """8. ``reconcile --apply`` against 10,000 numbers with 50 drifts: exactly the calls needed."""
    held = bench.pick(10_000, 2_000)
    drifts = bench.pick(50, 10)
    half = drifts // 2
    say(f"[8] reconcile: {held:,} numbers held, {drifts} drifts")
    # The account: input numbers 0..held-half-1 (the last `half` of them with no agent), and
    # `half` numbers the input does not list. The input: numbers 0..held-1, so `half` missing.
    account = [{"number": number(i), "agent_id": AGENT} for i in range(held - 2 * half)]
    account += [{"number": number(i)} for i in range(held - 2 * half, held - half)]
    account += [{"number": number(held + i), "agent_id": AGENT} for i in range(half)]
    source = bench.input(held)
    with Sandbox(bench.workdir, faults={"existing": account}) as sandbox:
        sandbox.reset()
        run = bench.cli(
            "reconcile",
            source,
            "--apply",
            "--base-url",
            sandbox.url,
            "--provider-id",
            PROVIDER,
            "--agent-id",
            AGENT,
            "--concurrency",
            "16",
        )
        stats = sandbox.stats()
    by_method: dict[str, int] = stats["by_method"]
    pages = math.ceil(held / 100)
    fixes = by_method.get("POST", 0) + by_method.get("PATCH", 0)
    exact = (
        by_method.get("GET", 0) == pages
        and fixes == drifts
        and stats["requests"] == (pages + drifts)
    )
    counts = run.summary.get("counts", {})
    bench.details["8"] = {
        "held": held,
        "drifts": drifts,
        "by_method": by_method,
        "requests": stats["requests"],
        "expected_requests": pages + drifts,
        "wall_s": run.proc.wall_s,
        "duration_s": run.duration_s,
        "counts": counts,
    }
    bench.add(
        Figure(
            "8a",
            f"reconcile --apply, {held:,} held, {drifts} drifts: API calls",
            f"{pages} GET + {drifts} fixes",
            f"{by_method} ({stats['requests']} requests)",
            exact,
            f"bulk-import reconcile in-{held}.csv --apply --agent-id {AGENT}",
            float(stats["requests"]),
        )
    )
    bench.add(
        Figure(
            "8b",
            "reconcile --apply time",
            "report",
            f"{run.proc.wall_s:.2f} s whole process ({run.duration_s:.2f} s in-process); {counts}",
            None,
            "same run",
            run.proc.wall_s,
        )
    )
