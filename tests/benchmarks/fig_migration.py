"""Measure figure 11: a realistic migration, 800 +- 400 ms a number, an account limit of 20.

HEAD at a ceiling of 64 (the adaptive window) against the same engine with its window held fixed
at 8, 16, 20, 32 and 64 (``probe.py --fixed-window``: a fixed ``--concurrency`` as a user would
pick it), and today's CLI at 64 (f310f88: a fixed pool under an adaptive rate cap). Each runs on
a sandbox of its own, all at the same time: at 25 rows/s (the ideal, 20 / 0.8 s) every one of
them is waiting on the latency, not on the CPU (their CPU seconds are kept in the details), and
running them one after the other would take 15 minutes at the issue's 2,000 rows.
"""

from __future__ import annotations

import threading
from typing import Any

from benchmarks.harness import (
    HEAD,
    Bench,
    BenchError,
    CliRun,
    Figure,
    Sandbox,
    Tool,
    probed,
    run_facts,
    say,
)
from benchmarks.today import TODAY_COMMIT

LIMIT = 20
LATENCY_MS = 800.0
JITTER_MS = 400.0
FIXED = (8, 16, 20, 32, 64)
CEILING = 64


def measure(bench: Bench) -> None:
    """11. 800 +- 400 ms, limit 20, ceiling 64: minutes against the best fixed concurrency."""
    # 2,000 rows (--long) take 3.5 minutes at a fixed 8: make bench runs 500.
    count = bench.pick(500, 200, long=2_000)
    faults = {
        "concurrency_limit": LIMIT,
        "latency_ms": LATENCY_MS,
        "latency_jitter_ms": JITTER_MS,
    }
    say(f"[11] migration: {count:,} rows, {LATENCY_MS:g} +- {JITTER_MS:g} ms, limit {LIMIT}")
    source = bench.input(count)  # made before the threads, which all read it
    fixed = probed(fixed_window=True)
    variants: list[tuple[str, Tool, int]] = [("adaptive", HEAD, CEILING)]
    variants += [(f"fixed {n}", fixed, n) for n in FIXED]
    variants.append((f"today's {CEILING}", bench.today(), CEILING))
    results: dict[str, dict[str, Any]] = {}
    errors: list[str] = []

    # Today's CLI crawls under a concurrency limit (figure 9): stop it once the slowest other
    # variant (a fixed 8, 2.5 times the ideal) should be done, and count its rows until then.
    cap_s = count / (8 / (LATENCY_MS / 1000)) * 1.2 + 5

    def one(name: str, tool: Tool, concurrency: int) -> None:
        try:
            with Sandbox(bench.workdir, faults=faults) as sandbox:
                sandbox.reset()
                run: CliRun = bench.run(
                    sandbox,
                    source,
                    concurrency=concurrency,
                    tool=tool,
                    expect=(0, 1, 130),
                    interrupt_after=cap_s if tool.name == TODAY_COMMIT else None,
                )
                ideal = LIMIT / (LATENCY_MS / 1000)
                results[name] = run_facts(run, sandbox.stats(), ideal=ideal)
        except Exception as exc:  # reported below: the figure needs every variant
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=v, daemon=True) for v in variants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError("; ".join(errors))
    bench.details["11"] = {"rows": count, "faults": faults, "runs": results}
    adaptive = results["adaptive"]
    # A fixed concurrency that loses rows to 429s is no contender (it is faster for not
    # finishing them).
    complete = [f"fixed {n}" for n in FIXED if not _failed(results[f"fixed {n}"])]
    if not complete:
        raise BenchError("every fixed concurrency lost rows")
    best_name = min(complete, key=lambda k: results[k]["duration_s"])
    best = results[best_name]
    ratio = adaptive["duration_s"] / best["duration_s"]
    bench.add(
        Figure(
            "11a",
            f"migration, {count:,} rows, 800 +- 400 ms, limit {LIMIT}, ceiling {CEILING}: "
            "minutes, against the best fixed --concurrency",
            "report (no target in the issue)",
            f"{_minutes(adaptive)}, x{ratio:.2f} the best fixed that lost no row "
            f"({best_name}: {_minutes(best)}); "
            f"{adaptive['share_429']:.1%} 429s, {_failed(adaptive)} failed",
            None,
            f"faults {faults}; bulk-import run in-{count}.csv --concurrency {CEILING}",
            ratio,
        )
    )
    shown = "; ".join(
        f"{n}: {_minutes(results[f'fixed {n}'])}, {results[f'fixed {n}']['share_429']:.0%} 429s, "
        f"{_failed(results[f'fixed {n}'])} failed"
        for n in FIXED
    )
    bench.add(
        Figure(
            "11b",
            "the same with the window held fixed (HEAD's engine)",
            "report",
            shown,
            None,
            "probe.py --fixed-window -- run ... --concurrency N",
            best["duration_s"] / 60,
        )
    )
    old = results[f"today's {CEILING}"]
    if old["exit_code"] == 130:
        pace = old["imported"] / old["duration_s"]
        shown = (
            f"stopped at {old['duration_s'] / 60:.2f} min with {old['imported']} rows imported: "
            f"{count / pace / 60 if pace else float('inf'):.1f} min for all at that pace"
        )
    else:
        shown = f"{_minutes(old)}, {_failed(old)} failed"
    bench.add(
        Figure(
            "11c",
            f"the same with today's CLI (f310f88) at --concurrency {CEILING}",
            "report",
            f"{shown}; {old['share_429']:.0%} 429s",
            None,
            f"f310f88: bulk-import run in-{count}.csv --concurrency {CEILING}",
            old["duration_s"] / 60,
        )
    )


def _minutes(facts: dict[str, Any]) -> str:
    """Return a run's duration in minutes, as shown."""
    return f"{facts['duration_s'] / 60:.2f} min"


def _failed(facts: dict[str, Any]) -> int:
    """Return how many of a run's rows were not imported."""
    return int(facts["rows"]) - int(facts["imported"])
