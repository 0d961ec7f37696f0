"""Time one bulk-import command in this process, with its RunMetrics and with a no-op recorder.

``python tests/benchmarks/ab_metrics.py --rounds 3 --out FILE -- run INPUT --base-url URL ...``
runs the command once to warm up, then ``--rounds`` pairs in alternating order (A B, B A, ...):
A is the engine as it is, B the engine with :class:`NoMetrics` patched in as
``bulk_import.jobs.engine.RunMetrics`` by this script (never by the product). Before each run
the sandbox at ``--base-url`` is reset, so every run imports every row. FILE gets one entry per
run: the variant, wall seconds and CPU seconds of the call, and the summary's rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bulk_import.cli import entry
from bulk_import.jobs import engine
from bulk_import.metrics import RunMetrics

KEY = "sk_car_sandbox"


class NoMetrics:
    """Stand in for RunMetrics: every recording call does nothing, every reading is empty."""

    def sent(self) -> float:
        """Return a token and record nothing."""
        return 0.0

    def answered(self, token: float, *, status: int | None, retry: bool) -> None:
        """Record nothing."""

    def limit(self, n: int) -> None:
        """Record nothing."""

    def row_finished(self, *, ok: bool) -> None:
        """Record nothing."""

    def http_counts(self) -> dict[str, int]:
        """Return no counts."""
        return {}

    def latency_ms(self) -> dict[str, float]:
        """Return no latencies."""
        return {}


def run_once(argv: list[str], *, base_url: str, work: Path, n: int) -> dict[str, Any]:
    """Reset the sandbox, run the command in this process; return its wall, CPU and rows."""
    httpx.post(
        base_url + "/_sandbox/reset", headers={"Authorization": f"Bearer {KEY}"}
    ).raise_for_status()
    summary_path = work / f"ab-summary-{n}.json"
    sys.argv = [
        "bulk-import",
        *argv,
        "--report",
        str(work / f"ab-report-{n}.csv"),
        "--summary-json",
        str(summary_path),
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        entry()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return {"wall_s": wall, "cpu_s": cpu, "rows": summary["total"], "counts": summary["counts"]}


def main() -> int:
    """Run the warm-up and the pairs; write every run's figures."""
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base-url", required=True, help="the sandbox, reset before each run")
    args = parser.parse_args(argv[:split])
    command = [*argv[split + 1 :], "--base-url", args.base_url]
    work = args.out.parent
    runs: list[dict[str, Any]] = []
    run_once(command, base_url=args.base_url, work=work, n=0)  # imports, caches: not counted
    for i in range(args.rounds):
        order = ("metrics", "none") if i % 2 == 0 else ("none", "metrics")
        for variant in order:
            # The engine makes its recorder as ``RunMetrics()``: swap the name it looks up.
            setattr(engine, "RunMetrics", RunMetrics if variant == "metrics" else NoMetrics)  # noqa: B010
            result = run_once(command, base_url=args.base_url, work=work, n=len(runs) + 1)
            runs.append({"variant": variant, **result})
    setattr(engine, "RunMetrics", RunMetrics)  # noqa: B010
    args.out.write_text(json.dumps({"runs": runs}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
