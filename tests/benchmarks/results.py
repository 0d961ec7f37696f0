"""Say what was measured and where: the machine, the commit, the table, Markdown and JSON.

:func:`collect` runs the chosen figures one after the other, keeping each one's seconds and the
load average before and after it (other people's work on a shared machine shows there), and
returns the results ``run.py`` writes as JSON and prints as a table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import HERE, MB, Bench, BenchError, Entry, Figure, say
from benchmarks.processes import TIME_BIN


def machine() -> dict[str, Any]:
    """Describe this machine: cores, CPU model, memory, Python, the libraries that matter."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / MB:.1f} GiB"
                break
    versions: dict[str, str] = {}
    from importlib import metadata

    for package in ("bulk-import", "phonenumbers", "aiohttp", "httpx", "httpx-aiohttp"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "packages": versions,
        "usr_bin_time": TIME_BIN.exists(),
        "curl": shutil.which("curl") is not None,
    }


def code_version() -> str:
    """Return the commit measured, and whether bulk_import/ had uncommitted changes."""
    repo = HERE.parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bulk_import"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in bulk_import/" if dirty else "")


def loadavg() -> float:
    """Return the 1-minute load average (other work on this shared machine shows here)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def table(figures: Sequence[dict[str, Any]]) -> str:
    """Return the results' figures as a plain-text table."""
    head = ("#", "figure", "target", "measured", "result")
    rows = [(f["key"], f["name"], f["target"], f["shown"], f["result"]) for f in figures]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    widths[3] = min(widths[3], 90)
    lines = []
    for r in [head, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """Return the figures and the machine as BENCHMARKS.md shows them."""
    info = results["machine"]
    out = [
        f"Measured {results['date']} by `{results['command']}` "
        f"({results['mode']} run, {results['total_s']:.0f} s in all).",
        "",
        f"Code: {results.get('code', 'unknown')}"
        + (
            f" (at the end: {results['code_at_end']})"
            if results.get("code_at_end", results.get("code")) != results.get("code")
            else ""
        )
        + ".",
        "",
        f"Machine: {info['nproc']} cores, {info['cpu_model']}, {info['memory']}, "
        f"Python {info['python']}, {info['system']}; "
        + ", ".join(f"{k} {v}" for k, v in info["packages"].items())
        + ".",
        "",
        "| # | figure | target | measured | result | command |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in results["figures"]:
        cells = [f["key"], f["name"], f["target"], f["shown"], f["result"], f"`{f['command']}`"]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """Yield a temporary folder, removed at the end unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix="bulk-import-bench-"))
    try:
        yield path
    finally:
        if keep:
            say(f"inputs, reports and logs kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def collect(
    entries: Sequence[Entry], *, mode: str, command: str, keep: bool = False
) -> dict[str, Any]:
    """Measure every entry in a fresh work folder; return the results, figures and errors.

    A figure that cannot be measured (:class:`BenchError`, a process or HTTP failure) gets one
    "not measured" line, and the run goes on with the next one.
    """
    started = time.perf_counter()
    code = code_version()
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    loads: dict[str, list[float]] = {}
    with workdir(keep) as folder:
        bench = Bench(folder, mode=mode)
        for entry in entries:
            key = entry.key
            began = time.perf_counter()
            loads[key] = [loadavg()]
            try:
                entry.measure(bench)
            except (BenchError, OSError, httpx.HTTPError, KeyError, ValueError) as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
                bench.figures.append(
                    Figure(key, entry.name, "-", f"not measured: {exc}"[:200], False, "-")
                )
                say(f"  [{key}] not measured: {exc}")
            timings[key] = time.perf_counter() - began
            loads[key].append(loadavg())
            say(f"  [{key}] {timings[key]:.1f} s")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "mode": mode,
        "code": code,
        "code_at_end": code_version(),
        "total_s": time.perf_counter() - started,
        "seconds_by_figure": timings,
        "load_average_before_after": loads,
        "machine": machine(),
        "figures": [{**asdict(f), "result": f.result} for f in bench.figures],
        "details": bench.details,
        "errors": errors,
    }
