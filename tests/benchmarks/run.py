"""Measure bulk-import's speed and scale: every figure a ratio against a baseline of the same run.

``make bench`` runs ``python tests/benchmarks/run.py``: every figure of BENCHMARKS.md from one
command, in well under 10 minutes on a 2-core machine. ``--only 1,3`` runs some figures;
``--quick`` runs every figure on fewer rows (a smoke test of the harness, not the figures);
``--long`` runs the issues' sizes where make bench runs fewer (figure 4: 2,000 rows; 5: 50,000
vs 200,000; 7: 10,000; 9: today's CLI to the end; 10: 15-s phases; 11: 2,000 rows; 12: 8 pairs),
which take longer than the whole default run on a busy 2-core machine.

Machines are shared and noisy, so no figure is an absolute speed: each is the tool against a
baseline measured seconds apart on the same machine (a bare phonenumbers loop, a bare aiohttp
loop, the ideal concurrency/latency, the sandbox's own counters). Inputs are generated in a
temporary folder; every sandbox is a ``bulk-import sandbox --port 0`` subprocess, stopped at the
end. Processes are timed from outside (wall clock), and their CPU time and peak RSS come from
``/usr/bin/time -v`` when it exists, else from ``os.wait4`` (the child's own rusage). The load
average before and after each figure is kept: other people's work on the machine shows there.

The figures are printed as one table and written as JSON beside this file (``results.json``;
``results-quick.json``, ``results-long.json``, ``...-partial.json`` for ``--only``), and
``--markdown PATH`` writes the table as BENCHMARKS.md shows it. Exit 0 when every figure was
measured (MISS included; ``--strict`` exits 1 on a MISS), 2 when one could not be.

Adding a figure is one module and one line: write ``fig_NAME.py`` with ``measure(bench)`` (see
``harness.py``) and add its :class:`Entry` to :data:`FIGURES` below. A standalone script (one
that runs by itself, ``python tests/benchmarks/fig_twilio.py``) is one line too:
``script("13", "Twilio listing", "fig_twilio.py", quick=["--numbers", "1000"])``. It runs in its
own process; when its last line of output is ``harness.figures_line(figures)``, its figures
join the table with their targets, else that last line is shown as an "info" figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import (  # noqa: E402
    fig_alternatives,
    fig_backoff,
    fig_ceiling,
    fig_concurrency,
    fig_latency,
    fig_memory,
    fig_migration,
    fig_moving,
    fig_overhead,
    fig_providers,
    fig_rate,
    fig_reconcile,
    fig_rollback,
    fig_startup,
    fig_validation,
)
from benchmarks.harness import Entry, script  # noqa: E402
from benchmarks.results import collect, markdown, table  # noqa: E402

#: Every figure, in the order ``make bench`` measures them; the key is what ``--only`` takes.
FIGURES: tuple[Entry, ...] = (
    Entry("1", "validation floor", fig_validation.measure),
    Entry("2", "latency-bound import", fig_latency.measure),
    Entry("3", "client ceiling", fig_ceiling.measure),
    Entry("4", "against the alternatives", fig_alternatives.measure),
    Entry("5", "flat memory", fig_memory.measure),
    Entry("6", "rate cap accuracy", fig_rate.measure),
    Entry("7", "back-off under 429", fig_backoff.measure),
    Entry("8", "reconcile at fleet scale", fig_reconcile.measure),
    Entry("9", "a concurrency limit found", fig_concurrency.measure),
    Entry("10", "a concurrency limit that moves", fig_moving.measure),
    Entry("11", "a realistic migration", fig_migration.measure),
    Entry("12", "the per-request metrics' cost", fig_overhead.measure),
    script("13", "Twilio listing, 10,000 numbers", "fig_twilio.py", quick=["--numbers", "1000"]),
    Entry("14", "an organisation read and linked", fig_providers.measure),
    script(
        "15", "report-belongs check, 100,000 rows", "fig_same_input.py", quick=["--rows", "10000"]
    ),
    Entry("16", "start-up for a dozen numbers", fig_startup.measure),
    Entry("17", "rollback against the run", fig_rollback.measure),
    script(
        "18",
        "validate 1,000,000 rows from a DataFrame vs the CSV",
        "fig_frame.py",
        quick=["--rows", "100000", "--rounds", "1"],
    ),
)


def parse_only(text: str | None) -> list[Entry]:
    """Return the entries ``--only`` names (all of them by default)."""
    if not text:
        return list(FIGURES)
    by_key = {entry.key: entry for entry in FIGURES}
    known = ", ".join(by_key)
    chosen: list[Entry] = []
    for part in text.split(","):
        key = part.strip()
        if key not in by_key:
            raise SystemExit(f"--only: no figure {key!r} (the figures: {known})")
        chosen.append(by_key[key])
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Run the chosen figures, print the table, write the JSON.

    Exit 2 when a figure could not be measured; with ``--strict``, 1 when a target is missed.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", help="comma-separated figure numbers, e.g. 1,3 (default: all)")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="fewer rows: checks the harness")
    sizes.add_argument(
        "--long",
        action="store_true",
        help="the issues' sizes for figures 4, 5, 7, 9-12 (BENCHMARKS.md): ~25 min in all",
    )
    parser.add_argument("--json", type=Path, help="where to write the figures as JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    chosen = parse_only(args.only)
    partial = len(chosen) != len(FIGURES)
    mode = "quick" if args.quick else "long" if args.long else "default"
    suffix = "" if mode == "default" else f"-{mode}"
    json_path = args.json or HERE / f"results{suffix}{'-partial' if partial else ''}.json"
    command = (
        "python tests/benchmarks/run.py"
        + ("" if mode == "default" else f" --{mode}")
        + (f" --only {args.only}" if partial else "")
    )
    results = collect(chosen, mode=mode, command=command, keep=args.keep)
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(markdown(results), encoding="utf-8")
    figures = results["figures"]
    print(table(figures))
    missed = [f["key"] for f in figures if f["passed"] is False]
    passed = sum(f["passed"] is True for f in figures)
    print(
        f"\n{len(figures)} figures, {passed} PASS, "
        f"{len(missed)} MISS{' (' + ', '.join(missed) + ')' if missed else ''}; "
        f"{results['total_s']:.0f} s in all ({mode}); figures in {json_path}"
    )
    if results["errors"]:
        return 2
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
