"""Measure figure 7, back-off under 429: a 100/s rate limit at ``--concurrency 64``.

The sandbox's token bucket (100/s, a burst of 10) answers 429 ``rate_limited`` with
``Retry-After`` beyond it. At 0 ms latency (figure 7 as before: 7a-7c) and at 20 ms (issue 10's
variant: 7d), HEAD runs beside today's CLI (f310f88) on the same sandbox.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    HEAD,
    PROVIDER,
    Bench,
    Figure,
    Sandbox,
    Tool,
    report_counts,
    run_facts,
    say,
)

LIMIT = 100


def measure(bench: Bench) -> None:
    """7. 3,000 rows (10,000: --long) under a 100/s rate limit at concurrency 64."""
    # The 10,000 rows take over 100 s at 100/s: --long; make bench runs 3,000.
    count = bench.pick(3_000, 1_500, long=10_000)
    say(f"[7] back-off under 429: {count:,} rows, {LIMIT}/s limit, concurrency 64")
    today = bench.today()
    details: dict[str, Any] = {"rows": count, "rate_limit": LIMIT}
    for latency_ms in (0, 20):
        faults = {"rate_limit": LIMIT, "retry_after": "seconds", "latency_ms": latency_ms}
        with Sandbox(bench.workdir, faults=faults) as sandbox:
            runs = {tool.name: _one(bench, sandbox, tool, count) for tool in (HEAD, today)}
        details[f"{latency_ms}ms"] = runs
        if latency_ms == 0:
            _figures_at_0ms(bench, runs["HEAD"], runs[today.name], count)
        else:
            _figure_at_20ms(bench, runs["HEAD"], runs[today.name], count)
    bench.details["7"] = details


def _one(bench: Bench, sandbox: Sandbox, tool: Tool, count: int) -> dict[str, Any]:
    """Run one import on the reset sandbox; return its facts and the report's statuses."""
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
        tool=tool,
    )
    facts = run_facts(run, sandbox.stats(), ideal=LIMIT)
    rows, statuses = report_counts(run.report)
    facts["report_rows"] = rows
    facts["report_statuses"] = dict(statuses)
    facts["intact"] = rows == count and statuses.get("imported", 0) == count
    # Figure 7's throughput has always been over the whole process, Python's start included.
    facts["throughput_rows_s"] = count / run.proc.wall_s
    return facts


def _figures_at_0ms(bench: Bench, head: dict[str, Any], old: dict[str, Any], count: int) -> None:
    """Add figure 7's lines as before (0 ms): 429 share, throughput, nothing lost."""
    label = f" ({count:,} rows)" if count == 10_000 else f" ({count:,} rows; 10,000: --long)"
    command = f"faults {{rate_limit: {LIMIT}, retry_after: seconds}}; bulk-import run "
    command += f"in-{count}.csv --concurrency 64"
    share = head["share_429"]
    bench.add(
        Figure(
            "7a",
            f"429 share of all requests, 0 ms{label}",
            "<= 5%",
            f"{share:.2%} ({head['http_429']} of {head['requests']}, the preflight GET "
            f"included; today's {old['share_429']:.2%})",
            share <= 0.05,
            command,
            share,
        )
    )
    throughput = head["throughput_rows_s"]
    bench.add(
        Figure(
            "7b",
            f"throughput under a {LIMIT}/s limit, 0 ms{label}",
            f">= {0.85 * LIMIT:.0f} rows/s",
            f"{throughput:.1f} rows/s ({throughput / LIMIT:.2f} of the limit; today's "
            f"{old['throughput_rows_s']:.1f})",
            throughput >= 0.85 * LIMIT,
            "same run",
            throughput,
        )
    )
    bench.add(
        Figure(
            "7c",
            f"nothing lost, 0 ms{label}",
            f"{count:,} rows, all imported",
            f"{head['report_rows']:,} rows, {head['report_statuses']} (today's "
            f"{old['report_statuses']})",
            bool(head["intact"]),
            "same run, the report",
            float(head["report_rows"]),
        )
    )


def _figure_at_20ms(bench: Bench, head: dict[str, Any], old: dict[str, Any], count: int) -> None:
    """Add issue 10's line (20 ms): rows/s over the limit, 429 share, nothing lost."""
    ratio = head["ratio"]
    share = head["share_429"]
    bench.add(
        Figure(
            "7d",
            f"rate limit {LIMIT}/s, 20 ms, {count:,} rows, --concurrency 64: rows/s / the "
            "limit, 429 share, nothing lost",
            ">= 0.95, <= 5% 429s, all imported",
            f"{ratio:.3f} (whole process {head['ratio_whole_process']:.2f}), {share:.2%} 429s, "
            f"{head['report_statuses']}; today's {old['ratio']:.3f}, {old['share_429']:.2%}, "
            f"{old['report_statuses']}",
            ratio >= 0.95 and share <= 0.05 and bool(head["intact"]),
            f"faults {{rate_limit: {LIMIT}, retry_after: seconds, latency_ms: 20}}; "
            f"bulk-import run in-{count}.csv --concurrency 64",
            ratio,
        )
    )
