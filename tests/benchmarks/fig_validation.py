"""Measure figure 1, the validation floor: ``validate`` against a bare phonenumbers loop."""

from __future__ import annotations

from benchmarks.harness import (
    PROVIDER,
    Bench,
    BenchError,
    Figure,
    say,
)


def measure(bench: Bench) -> None:
    """1. ``validate`` on 1,000,000 typed numbers vs a bare phonenumbers loop over the same."""
    count = bench.pick(1_000_000, 100_000)
    source = bench.input(count, typed=True)
    say(f"[1] validation floor: {count:,} rows")
    base_proc, base = bench.baseline("phonenumbers", str(source))
    if base["valid"] != count:
        raise BenchError(f"baseline found {base['valid']} of {count} valid")
    run = bench.cli("validate", source, "--provider-id", PROVIDER)
    if run.count("valid") != count:
        raise BenchError(f"validate found {run.summary.get('counts')}")
    ratio = run.proc.wall_s / base_proc.wall_s
    loop_ratio = run.duration_s / float(base["loop_s"])
    # CPU time moves less than wall time when other people's work shares the machine.
    cpu_ratio = run.proc.cpu_s / base_proc.cpu_s
    bench.details["1"] = {
        "rows": count,
        "baseline_wall_s": base_proc.wall_s,
        "baseline_loop_s": base["loop_s"],
        "baseline_read_s": base["read_s"],
        "cli_wall_s": run.proc.wall_s,
        "cli_duration_s": run.duration_s,
        "cli_cpu_s": run.proc.cpu_s,
        "cli_peak_rss_mb": run.proc.maxrss_mb,
        "cli_peak_tree_pss_mb": run.proc.tree_mb,
        "baseline_peak_rss_mb": base_proc.maxrss_mb,
        "wall_ratio": ratio,
        "in_process_ratio": loop_ratio,
        "baseline_cpu_s": base_proc.cpu_s,
        "cpu_ratio": cpu_ratio,
    }
    rows = f"{count // 1000:,}k rows" if count < 1_000_000 else "1M rows"
    bench.add(
        Figure(
            "1a",
            f"validate vs bare phonenumbers loop, wall time ratio ({rows})",
            "<= 1.3",
            f"{ratio:.3f} ({run.proc.wall_s:.1f} s vs {base_proc.wall_s:.1f} s; "
            f"in-process {loop_ratio:.2f}; CPU time {cpu_ratio:.2f})",
            ratio <= 1.3,
            f"bulk-import validate in.csv --provider-id {PROVIDER} --quiet --no-progress "
            "vs baselines.py phonenumbers in.csv",
            ratio,
        )
    )
    bench.add(
        Figure(
            "1b",
            f"validate peak memory ({rows})",
            "<= 400 MB",
            f"{run.proc.peak_mb:.0f} MB (largest process RSS {run.proc.maxrss_mb:.0f} MB, "
            f"all processes PSS {run.proc.tree_mb:.0f} MB)",
            run.proc.peak_mb <= 400,
            "same run: /usr/bin/time -v, and /proc sampled every 0.1 s",
            run.proc.peak_mb,
        )
    )
