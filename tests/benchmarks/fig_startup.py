"""Measure figure 16, start-up that suits a dozen numbers: ``--help`` and ``validate`` of 10 rows.

Both are timed from outside, wall clock, against ``python -c "import phonenumbers"`` (the one
library validating a number needs) in the same run: the commands take turns, so that other
people's work on the machine weighs on each alike, and each ratio is of the medians.

``BULK_IMPORT_STARTUP_BEFORE=FOLDER`` (a folder holding an older ``bulk_import`` package, e.g.
``git archive COMMIT bulk_import | tar -x -C FOLDER``) times that build too, in the same turns,
through ``PYTHONPATH``: the before/after of BENCHMARKS.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import CLI, PROVIDER, Bench, BenchError, Figure, base_env, say

HELP_TARGET = 3.0
VALIDATE_TARGET = 5.0


BEFORE_ENV = "BULK_IMPORT_STARTUP_BEFORE"


def wall_s(argv: Sequence[str], *, workdir: Path, path: str = "") -> float:
    """Return how long ``argv`` took to run to its end, in seconds (it must exit 0).

    ``path``: a folder put first on ``PYTHONPATH`` (an older build of the package).
    """
    env = base_env() | ({"PYTHONPATH": path} if path else {})
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-300:]!r}")
    return elapsed


def measure(bench: Bench) -> None:
    """14. ``bulk-import --help`` and ``validate`` of 10 rows vs ``import phonenumbers``."""
    repeats = bench.pick(21, 5)
    source = bench.input(10)
    report = bench.workdir / "startup.validate.csv"
    commands = {
        "phonenumbers": [sys.executable, "-c", "import phonenumbers"],
        "python": [sys.executable, "-c", "pass"],
        "help": [*CLI, "--help"],
        "validate": [
            *CLI,
            "validate",
            str(source),
            "--provider-id",
            PROVIDER,
            "--quiet",
            "--no-progress",
            "--report",
            str(report),
        ],
    }
    before = os.environ.get(BEFORE_ENV, "")
    module = [sys.executable, "-m", "bulk_import"]
    runs: dict[str, tuple[list[str], str]] = {name: (argv, "") for name, argv in commands.items()}
    if before:
        runs["help before"] = ([*module, *commands["help"][len(CLI) :]], before)
        runs["validate before"] = ([*module, *commands["validate"][len(CLI) :]], before)
    say(f"[16] start-up: {repeats} turns of {', '.join(runs)}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for argv, path in runs.values():  # a first, unmeasured turn warms the disk cache
        wall_s(argv, workdir=bench.workdir, path=path)
    for _ in range(repeats):
        for name, (argv, path) in runs.items():
            times[name].append(wall_s(argv, workdir=bench.workdir, path=path))
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["phonenumbers"]
    ratios = {name: median[name] / base for name in times if name.startswith(("help", "validate"))}
    bench.details["14"] = {
        "repeats": repeats,
        "median_s": median,
        "min_s": {name: min(values) for name, values in times.items()},
        "ratios": ratios,
    }
    shown = (
        f"{base * 1000:.0f} ms for import phonenumbers, {median['python'] * 1000:.0f} ms for python"
    )
    for key, name, target, what in (
        ("16a", "help", HELP_TARGET, "bulk-import --help"),
        ("16b", "validate", VALIDATE_TARGET, "bulk-import validate of 10 rows"),
    ):
        bench.add(
            Figure(
                key,
                f"{what} vs python -c 'import phonenumbers', wall time ratio of medians",
                f"<= {target:g}",
                f"{ratios[name]:.2f} ({median[name] * 1000:.0f} ms; {shown})",
                ratios[name] <= target,
                f"{' '.join(commands[name][:2])} ... vs python -c 'import phonenumbers', "
                f"{repeats} turns each, in turn",
                ratios[name],
            )
        )
    if before:
        for name in ("help", "validate"):
            bench.add(
                Figure(
                    f"14{'a' if name == 'help' else 'b'}-before",
                    f"the same, built from {before} ({name})",
                    "",
                    f"{ratios[name + ' before']:.2f} ({median[name + ' before'] * 1000:.0f} ms)",
                    None,
                    f"PYTHONPATH={before} python -m bulk_import ..., in the same turns",
                    ratios[name + " before"],
                )
            )
