"""Measure figure 7, back-off under 429: a 100/s rate limit at ``--concurrency 64``."""

from __future__ import annotations

import json

from benchmarks.harness import (
    PROVIDER,
    Bench,
    Figure,
    Sandbox,
    report_counts,
    say,
)


def measure(bench: Bench) -> None:
    """7. Sandbox limited to 100 requests/s answering 429 + Retry-After; concurrency 64."""
    # The 10,000 rows take over 100 s at 100/s: --long; make bench runs 3,000.
    count = bench.pick(3_000, 1_500, long=10_000)
    limit = 100
    faults = {"rate_limit": limit, "retry_after": "seconds"}
    say(f"[7] back-off under 429: {count:,} rows, {limit}/s limit, concurrency 64")
    with Sandbox(bench.workdir, faults=faults) as sandbox:
        sandbox.reset()
        run = bench.cli(
            "run",
            bench.input(count),
            "--base-url",
            sandbox.url,
            "--provider-id",
            PROVIDER,
            "--concurrency",
            "64",
            expect=(0, 1),
        )
        stats = sandbox.stats()
    rows, statuses = report_counts(run.report)
    requests = int(stats["requests"])
    limited = int(stats["by_status"].get("429", 0))
    share = limited / requests
    throughput = count / run.proc.wall_s
    intact = rows == count and statuses.get("imported", 0) == count
    bench.details["7"] = {
        "rows": count,
        "rate_limit": limit,
        "requests": requests,
        "by_status": stats["by_status"],
        "share_429": share,
        "wall_s": run.proc.wall_s,
        "duration_s": run.duration_s,
        "throughput_rows_s": throughput,
        "report_rows": rows,
        "report_statuses": dict(statuses),
        "post_seconds": stats["post_seconds"],
    }
    label = f" ({count:,} rows)" if count == 10_000 else f" ({count:,} rows; 10,000: --long)"
    bench.add(
        Figure(
            "7a",
            f"429 share of all requests{label}",
            "<= 5%",
            f"{share * 100:.2f}% ({limited} of {requests})",
            share <= 0.05,
            f"faults {json.dumps(faults)}; bulk-import run in-{count}.csv --concurrency 64",
            share,
        )
    )
    bench.add(
        Figure(
            "7b",
            f"throughput under a {limit}/s limit{label}",
            f">= {0.85 * limit:.0f} rows/s",
            f"{throughput:.1f} rows/s ({throughput / limit:.2f} of the limit)",
            throughput >= 0.85 * limit,
            "same run",
            throughput,
        )
    )
    bench.add(
        Figure(
            "7c",
            f"nothing lost{label}",
            f"{count:,} rows, all imported",
            f"{rows:,} rows, {dict(statuses)}",
            intact,
            "same run, the report",
            float(rows),
        )
    )
