"""Measure figure 6, the rate cap: ``--rate 50`` as the sandbox sees it, second by second."""

from __future__ import annotations

from benchmarks.harness import (
    Bench,
    Figure,
    Sandbox,
    check_imported,
    say,
)


def measure(bench: Bench) -> None:
    """6. ``--rate 50`` for 20 s: the rate the sandbox sees, second by second."""
    rate = 50
    count = bench.pick(1_000, 300)
    say(f"[6] rate cap: --rate {rate}, {count:,} rows")
    with Sandbox(bench.workdir) as sandbox:
        sandbox.reset()
        run = bench.run(sandbox, bench.input(count), "--rate", str(rate), concurrency=16)
        check_imported(run, count)
        seconds: list[int] = sandbox.stats()["post_seconds"]
    busy = [i for i, n in enumerate(seconds) if n]
    first, last = busy[0], busy[-1]
    full = seconds[first + 1 : last]  # the seconds wholly inside the run
    observed = sum(full) / len(full) if full else count / run.duration_s
    peak = max(seconds)
    error = abs(observed / rate - 1)
    bench.details["6"] = {
        "rows": count,
        "rate": rate,
        "post_seconds": seconds,
        "observed_rate": observed,
        "peak_second": peak,
        "client_side_rate": count / run.duration_s,
    }
    bench.add(
        Figure(
            "6a",
            f"--rate {rate}: observed rate (sandbox's full seconds)",
            "within 5%",
            f"{observed:.2f}/s ({error * 100:.1f}% off, over {len(full)} s)",
            error <= 0.05,
            f"bulk-import run in-{count}.csv --rate {rate} --concurrency 16",
            observed,
        )
    )
    bench.add(
        Figure(
            "6b",
            f"--rate {rate}: busiest one-second window",
            f"<= {rate * 1.1:.0f}",
            f"{peak}",
            peak <= rate * 1.1,
            "same run, sandbox post_seconds",
            float(peak),
        )
    )
