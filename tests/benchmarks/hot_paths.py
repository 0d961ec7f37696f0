"""Profile the hot paths of ``bulk-import validate`` and ``bulk-import run`` (0 ms) with py-spy.

Not part of ``make bench``, and nothing depends on it: install py-spy by hand first
(``.venv/bin/pip install py-spy``), then ``python tests/benchmarks/hot_paths.py [--rows N]``.
For each command it prints where the CPU goes: self time by package (bulk_import split by
module), and the functions with the most inclusive time. ``--keep DIR`` keeps the raw stacks
(py-spy's collapsed format, readable by flamegraph tools).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import CLI, PROVIDER, Sandbox, cli_env, write_csv

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """Return the py-spy executable, beside this Python or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def package_of(path: str) -> str:
    """Name the layer a source file belongs to: bulk_import.<module>, or the top package.

    py-spy names files relative to their ``sys.path`` entry (``httpx/_models.py``).
    """
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            parts = parts[parts.index(marker) + 1 :]
    if not parts:
        return path
    if parts[0] == "bulk_import":
        return "bulk_import." + Path(path).stem
    if len(parts) > 1 and not path.startswith("/"):
        return parts[0]
    return Path(path).stem


def summarise(raw: Path, top: int) -> str:
    """Return self time by package and the top inclusive functions of py-spy's raw stacks."""
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        names = []
        leaf_package = "?"
        for frame in stack.split(";"):
            found = _FRAME.match(frame)
            func, path = (found["func"], found["file"]) if found else (frame, "?")
            leaf_package = package_of(path)
            names.append(f"{func} ({Path(path).name})")
        for name in set(names):
            inclusive[name] += count
        by_package[leaf_package] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_package.most_common(top)]
    lines.append("inclusive time by function:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def record(spy: str, argv: list[str], raw: Path) -> None:
    """Run ``argv`` under py-spy, writing raw stacks to ``raw``."""
    command = [spy, "record", "--rate", "250", "--format", "raw", "--output", str(raw), "--"]
    done = subprocess.run(
        [*command, *argv], env=cli_env(), capture_output=True, text=True, check=False
    )
    if not raw.exists():
        raise SystemExit(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    """Profile validate and run; print the summaries."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows for run [20000]")
    parser.add_argument("--validate-rows", type=int, default=200_000, help="[200000]")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="keep the raw stacks in this folder")
    args = parser.parse_args(argv)
    spy = py_spy()
    if spy is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bulk-import-profile-") as name:
        folder = Path(name)
        out = args.keep or folder
        out.mkdir(parents=True, exist_ok=True)
        typed = write_csv(folder / "typed.csv", args.validate_rows, typed=True)
        raw = out / "validate.raw"
        report = ["--report", str(folder / "report.csv"), "--quiet", "--no-progress"]
        record(spy, [*CLI, "validate", str(typed), "--provider-id", PROVIDER, *report], raw)
        print(f"== bulk-import validate, {args.validate_rows:,} typed numbers\n")
        print(summarise(raw, args.top))
        source = write_csv(folder / "numbers.csv", args.rows)
        with Sandbox(folder) as sandbox:
            sandbox.reset()
            raw = out / "run.raw"
            api = ["--base-url", sandbox.url, "--provider-id", PROVIDER, "--concurrency", "16"]
            record(spy, [*CLI, "run", str(source), *api, *report], raw)
        print(f"\n== bulk-import run, {args.rows:,} rows, sandbox at 0 ms, concurrency 16\n")
        print(summarise(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
