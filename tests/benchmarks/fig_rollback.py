"""Measure figure 17: ``rollback --apply`` against the ``run`` that imported the numbers.

The sandbox answers 429 ``concurrency_limited`` at once, with no ``Retry-After``, to any request
beyond 10 in flight, and every request takes 100 ms: the ideal is 100 requests a second. The
run imports the numbers with their agent (one POST each); the rollback of its report then sends
three requests a number (the GET that checks it, the PATCH ``agent_id: null`` the API needs
before a delete, the DELETE), through the same adaptive window, both at ``--concurrency 64``.
Requests per second count the answers that were not 429s, over the command's own duration.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import AGENT, Bench, BenchError, CliRun, Figure, Sandbox, say, window_range

LIMIT = 10
LATENCY_MS = 100.0
CEILING = 64


def _facts(run: CliRun, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Return one command's requests a second over the ideal, and its 429 share."""
    requests = int(after["requests"]) - int(before["requests"])
    by_status = {
        status: n - int(before["by_status"].get(status, 0))
        for status, n in after["by_status"].items()
    }
    by_method = {
        method: n - int(before["by_method"].get(method, 0))
        for method, n in after["by_method"].items()
    }
    refused = by_status.get("429", 0)
    ideal = LIMIT / (LATENCY_MS / 1000)
    return {
        "requests": requests,
        "by_method": by_method,
        "by_status": by_status,
        "http_429": refused,
        "share_429": refused / requests if requests else 0.0,
        "duration_s": run.duration_s,
        "wall_s": run.proc.wall_s,
        "cpu_s": run.proc.cpu_s,
        "requests_s": (requests - refused) / run.duration_s,
        "ratio": (requests - refused) / run.duration_s / ideal,
        "counts": run.summary.get("counts", {}),
        "concurrency": run.summary.get("concurrency"),
    }


def measure(bench: Bench) -> None:
    """17. Limit 10, 100 ms, 2,000 numbers: the rollback's requests/s over the ideal, 429s."""
    count = bench.pick(2_000, 200)
    say(f"[17] rollback of {count:,} numbers, concurrency limit {LIMIT}, {LATENCY_MS:g} ms")
    faults = {"concurrency_limit": LIMIT, "latency_ms": LATENCY_MS}
    with Sandbox(bench.workdir, faults=faults) as sandbox:

        def both(concurrency: int) -> tuple[dict[str, Any], dict[str, Any]]:
            """Import the numbers at the ceiling; roll them back at ``concurrency``."""
            sandbox.reset()
            start = sandbox.stats()
            run = bench.run(sandbox, bench.input(count), "--agent-id", AGENT, concurrency=CEILING)
            imported = sandbox.stats()
            undo = bench.cli(
                "rollback",
                run.report,
                "--apply",
                "--base-url",
                sandbox.url,
                "--concurrency",
                str(concurrency),
            )
            done = sandbox.stats()
            if run.count("imported") != count or undo.count("deleted") != count or done["stored"]:
                raise BenchError(
                    f"expected {count} imported then deleted: run {run.summary.get('counts')}, "
                    f"rollback {undo.summary.get('counts')}, {done['stored']} left"
                )
            return _facts(undo, imported, done), _facts(run, start, imported)

        mine, theirs = both(CEILING)
        fixed = both(LIMIT)[0] if bench.mode == "long" else None
    bench.details["17"] = {"rows": count, "rollback": mine, "run": theirs, "fixed_10": fixed}
    pool = "" if fixed is None else f"; a fixed pool of {LIMIT}: {fixed['ratio']:.3f}"
    bench.add(
        Figure(
            "17",
            f"rollback --apply of {count:,}, concurrency limit {LIMIT}, 100 ms, --concurrency "
            f"{CEILING}: requests/s / ideal, 429 share",
            ">= 0.9 of 100/s, <= 5% 429s",
            f"{mine['ratio']:.3f} ({mine['requests_s']:.1f}/s, {mine['requests']:,} requests: "
            f"{_methods(mine)}), {mine['share_429']:.1%} 429s, window {window_range(mine)}; "
            f"the run that imported them: {theirs['ratio']:.3f}, {theirs['share_429']:.1%} 429s; "
            f"rollback / run {mine['requests_s'] / theirs['requests_s']:.2f}{pool}",
            mine["ratio"] >= 0.9 and mine["share_429"] <= 0.05,
            f"faults {{concurrency_limit: {LIMIT}, latency_ms: 100}}; bulk-import run "
            f"in-{count}.csv --agent-id {AGENT} --concurrency {CEILING}, then bulk-import "
            f"rollback REPORT --apply --concurrency {CEILING}",
            mine["ratio"],
        )
    )


def _methods(facts: dict[str, Any]) -> str:
    return " ".join(f"{method} {n:,}" for method, n in sorted(facts["by_method"].items()) if n)
