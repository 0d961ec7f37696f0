"""Figure 18: validating 1,000,000 rows from a DataFrame against validating the same CSV.

``python tests/benchmarks/fig_frame.py [--rows 1000000] [--rounds 3]``

Issue 24's Python API reads a pandas DataFrame by the file rules (``sources/frame.py``: every
cell as text, through the same ``build_source`` as a file). What that costs is measured here,
in one process, on the same rows: ``bulk_import.validate(frame)`` against
``bulk_import.validate("in.csv")``, rounds interleaved, medians. Both build the same ``Result``
(the report as a DataFrame), both parse numbers on every core (a file of 4 MB or more, a frame
of 100,000 rows or more), so the ratio is the cost of the frame as a source. The CSV holds
numbers as people type them (four ways, ``harness.written``) and a label; the frame is what
``pd.read_csv`` makes of that file (text columns), not counted in its time.

- 18a: validate(DataFrame) / validate(CSV), wall time (target <= 1.25);
- 18b (info): a float64 number column (digits with a NaN among them, what pandas makes of a
  numeric column), read as digits, against the CSV of those digits;
- 18c (info): what ``pd.read_csv`` took to make the frame, against validating it.

The last line is ``harness.figures_line``'s JSON, for ``run.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pandas as pd  # noqa: E402

import bulk_import  # noqa: E402
from benchmarks.harness import number, written  # noqa: E402

TARGET = 1.25
PROVIDER = "prov_sandbox"


def write_typed(path: Path, rows: int) -> Path:
    """Write ``rows`` numbers as people type them, each with a label."""
    with path.open("w", encoding="utf-8") as f:
        f.write("number,label\n")
        f.writelines(f"{written(i)},line {i}\n" for i in range(rows))
    return path


def write_digits(path: Path, rows: int) -> Path:
    """Write ``rows`` numbers as digits (a numeric column), one cell in 1,000 left blank."""
    with path.open("w", encoding="utf-8") as f:
        f.write("number,label\n")
        f.writelines(f"{'' if i % 1000 == 999 else number(i)[1:]},line {i}\n" for i in range(rows))
    return path


def timed(source: Path | pd.DataFrame) -> tuple[float, dict[str, int]]:
    """Return the seconds ``validate`` takes on ``source``, and its counts."""
    started = time.perf_counter()
    result = bulk_import.validate(source, provider_id=PROVIDER)
    return time.perf_counter() - started, result.summary["counts"]


def main() -> int:
    """Measure the figure and print it (exit 0 once measured, the target met or not)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds: dict[str, list[float]] = {"csv": [], "frame": [], "digits_csv": [], "digits_frame": []}
    with tempfile.TemporaryDirectory(prefix="bench-frame-") as folder:
        typed = write_typed(Path(folder) / "typed.csv", args.rows)
        digits = write_digits(Path(folder) / "digits.csv", args.rows)
        started = time.perf_counter()
        frame = pd.read_csv(typed)
        read_s = time.perf_counter() - started
        floats = pd.read_csv(digits)
        assert floats["number"].dtype == "float64", "pandas read the digits as another type"
        counts: dict[str, dict[str, int]] = {}
        for _ in range(args.rounds):
            for key, source in (("csv", typed), ("frame", frame)):
                seconds, counts[key] = timed(source)
                rounds[key].append(seconds)
        for key, source in (("digits_csv", digits), ("digits_frame", floats)):
            seconds, counts[key] = timed(source)
            rounds[key].append(seconds)
    if counts["frame"] != counts["csv"] or counts["digits_frame"] != counts["digits_csv"]:
        print(f"the counts differ: {counts}", file=sys.stderr)
        return 2
    csv_s, frame_s = statistics.median(rounds["csv"]), statistics.median(rounds["frame"])
    ratio = frame_s / csv_s
    digits_ratio = rounds["digits_frame"][0] / rounds["digits_csv"][0]
    rows = f"{args.rows:,} rows"
    print(f"[18] validate from a DataFrame vs the same CSV, {rows}, median of {args.rounds}")
    print(f"  frame {frame_s:.2f} s, csv {csv_s:.2f} s: x{ratio:.2f}; counts {counts['csv']}")
    print(f"  float64 column: x{digits_ratio:.2f}; pd.read_csv made the frame in {read_s:.2f} s")
    command = f"python tests/benchmarks/fig_frame.py --rows {args.rows} --rounds {args.rounds}"
    figures = [
        {
            "key": "18a",
            "name": f"validate a DataFrame / validate the same CSV, wall time ({rows})",
            "target": f"<= {TARGET}",
            "shown": f"{ratio:.2f} ({frame_s:.1f} s vs {csv_s:.1f} s, median of {args.rounds})",
            "passed": ratio <= TARGET,
            "command": command,
            "value": ratio,
            "note": "",
        },
        {
            "key": "18b",
            "name": "the same with a float64 number column (digits, NaN among them)",
            "target": "report",
            "shown": f"{digits_ratio:.2f} ({rounds['digits_frame'][0]:.1f} s vs "
            f"{rounds['digits_csv'][0]:.1f} s)",
            "passed": None,
            "command": command,
            "value": digits_ratio,
            "note": "",
        },
        {
            "key": "18c",
            "name": "pd.read_csv making the frame, against validating it",
            "target": "report",
            "shown": f"{read_s:.1f} s ({read_s / frame_s:.0%} of validate)",
            "passed": None,
            "command": command,
            "value": read_s,
            "note": "",
        },
    ]
    details = {**rounds, "rows": args.rows, "read_csv_s": read_s}
    print(json.dumps({"figures": figures, "details": details}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
