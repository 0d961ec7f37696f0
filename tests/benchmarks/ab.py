"""Compare figure 2.16 between this tree and another revision: runs alternated in one script.

``python tests/benchmarks/ab.py --base REV`` imports the same input into one sandbox (20 ms
latency by default) with ``bulk-import run --concurrency 16``, alternating the package of
``REV`` (extracted with ``git archive``, put first on ``PYTHONPATH``) and this tree's, so both
meet the same machine load. Each run's rows/s is the rows over the run's own ``duration_s``
(as figure 2.16 counts it). The figures: the ratio of the medians, this tree over ``REV``; the
median of each round's own ratio (the two runs of a round meet nearly the same load); and
the CPU time per row of each. ``--this REV2`` compares two revisions (``--this REV``: an A/A
run, to see the machine's noise). No proxy variable reaches the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.harness import PROVIDER, Sandbox, cli_env, write_csv  # noqa: E402
from benchmarks.processes import run_process  # noqa: E402


def extract(revision: str, into: Path) -> Path:
    """Extract ``bulk_import/`` as of ``revision`` into ``into``; return the folder to import."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "bulk_import"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def env_for(package_root: Path) -> dict[str, str]:
    """Return a run's environment: the sandbox key, ``package_root`` first, no proxy."""
    env = {k: v for k, v in cli_env().items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(package_root)
    return env


def imported_from(package_root: Path) -> str:
    """Return where ``import bulk_import`` finds the package with ``package_root`` first."""
    return subprocess.run(
        [sys.executable, "-c", "import bulk_import; print(bulk_import.__file__)"],
        env=env_for(package_root),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def one_run(
    sandbox: Sandbox, source: Path, work: Path, package_root: Path, *, concurrency: int, n: int
) -> tuple[float, float]:
    """Import ``source`` once with the package at ``package_root``; return rows/s, CPU ms/row."""
    sandbox.reset()
    summary_path = work / f"summary-{n}.json"
    argv = [
        *(sys.executable, "-m", "bulk_import", "run", str(source)),
        *("--base-url", sandbox.url, "--provider-id", PROVIDER),
        *("--concurrency", str(concurrency), "--quiet", "--no-progress"),
        *("--report", str(work / f"report-{n}.csv"), "--summary-json", str(summary_path)),
    ]
    proc = run_process(argv, workdir=work, env=env_for(package_root))
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if proc.rc != 0 or summary["counts"].get("imported") != summary["total"]:
        raise SystemExit(f"run {n} failed (exit {proc.rc}): {proc.tail()}")
    rows = float(summary["total"])
    return rows / float(summary["duration_s"]), proc.cpu_s * 1000 / rows


def main() -> int:
    """Run the A/B rounds and print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--this", help="a revision to measure instead of this tree")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulk-import-ab-") as folder:
        work = Path(folder)
        base_root = extract(args.base, work / "base")
        this_root = extract(args.this, work / "this") if args.this else ROOT
        roots = {"base": base_root, "this": this_root}
        for name, root in roots.items():
            print(f"{name}: bulk_import from {imported_from(root)}", flush=True)
        source = write_csv(work / "in.csv", args.rows)
        rates: dict[str, list[float]] = {name: [] for name in roots}
        cpu: dict[str, list[float]] = {name: [] for name in roots}
        with Sandbox(work, latency_ms=args.latency_ms) as sandbox:
            n = 0
            for round_ in range(args.rounds):
                # Alternate which goes first: a drift in the machine's load favours neither.
                order = list(roots) if round_ % 2 == 0 else list(reversed(roots))
                for name in order:
                    n += 1
                    rate, ms = one_run(
                        sandbox, source, work, roots[name], concurrency=args.concurrency, n=n
                    )
                    rates[name].append(rate)
                    cpu[name].append(ms)
                    print(
                        f"round {round_ + 1} {name}: {rate:.0f} rows/s, {ms:.3f} ms CPU/row",
                        flush=True,
                    )
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ideal = args.concurrency / (args.latency_ms / 1000)
    for name, median in medians.items():
        print(
            f"{name}: median {median:.0f} rows/s ({median / ideal:.2f} of ideal {ideal:.0f}), "
            f"{statistics.median(cpu[name]):.3f} ms CPU/row"
        )
    paired = [this / base for this, base in zip(rates["this"], rates["base"], strict=True)]
    print(f"ratio this/base of the medians: {medians['this'] / medians['base']:.3f}")
    print(f"median of the rounds' ratios: {statistics.median(paired):.3f}")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
