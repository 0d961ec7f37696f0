"""What every benchmark figure is built with: inputs, the sandbox subprocess, runs, the table line.

A figure is a function ``measure(bench: Bench) -> None`` in a module of its own
(``fig_*.py``): it generates its inputs with :meth:`Bench.input`, starts each sandbox as a
``bulk-import sandbox --port 0`` subprocess (:class:`Sandbox`), runs the tool with
:meth:`Bench.cli` / :meth:`Bench.run` and its baselines with :meth:`Bench.baseline`, and records
each measured value against its target with :meth:`Bench.add` (:class:`Figure`). Processes are
measured by :mod:`benchmarks.processes`; the table, the machine facts and the JSON are
:mod:`benchmarks.results`. ``run.py`` holds the registry and the command line.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sandbox_fixtures import api_headers, us_number  # noqa: E402

from benchmarks.processes import MB, Proc, run_process  # noqa: E402

__all__ = ["MB", "Proc", "api_headers", "run_process"]

KEY = "sk_car_sandbox"
PROVIDER = "prov_sandbox"
AGENT = "agent_sandbox"
BASELINES = HERE / "baselines.py"


def _cli() -> list[str]:
    """Return the command that runs bulk-import: the venv's console script, else ``-m``."""
    script = Path(sys.executable).parent / "bulk-import"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bulk_import"]


CLI = _cli()


class BenchError(Exception):
    """Say why a figure could not be measured (the run goes on with the other figures)."""


# -- numbers and inputs ---------------------------------------------------------------------------


def number(i: int) -> str:
    """Return the i-th of 1,600,000 distinct valid US numbers (+1415..., then +1650...)."""
    if i < 800_000:
        return us_number(i)
    return f"+1650{2_000_000 + i - 800_000:07d}"


def written(i: int) -> str:
    """Return the i-th number as a person may have typed it: four ways, in turn."""
    digits = number(i)[2:]
    kind = i % 4
    if kind == 0:
        return "+1" + digits
    if kind == 1:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    if kind == 2:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return "1" + digits


def write_csv(path: Path, count: int, *, typed: bool = False, start: int = 0) -> Path:
    """Write a one-column CSV of ``count`` distinct numbers (E.164, or as typed)."""
    fmt: Callable[[int], str] = written if typed else number
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("number\n")
        chunk: list[str] = []
        for i in range(start, start + count):
            chunk.append(fmt(i))
            if len(chunk) == 10_000:
                handle.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            handle.write("\n".join(chunk) + "\n")
    return path


def report_counts(path: Path) -> tuple[int, Counter[str]]:
    """Return a report's number of rows and its rows per status."""
    counts: Counter[str] = Counter()
    rows = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for line in csv.DictReader(handle):
            rows += 1
            counts[line["status"]] += 1
    return rows, counts


# -- the environment and the sandbox --------------------------------------------------------------


def base_env() -> dict[str, str]:
    """Return this environment without any Cartesia settings of the person running it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")}


def cli_env() -> dict[str, str]:
    """Return the environment of a bulk-import client run: the sandbox key."""
    return {**base_env(), "CARTESIA_API_KEY": KEY}


class Sandbox:
    """Run ``bulk-import sandbox --port 0`` as a subprocess; reset it and read its counters."""

    def __init__(
        self,
        workdir: Path,
        *,
        latency_ms: float = 0,
        faults: dict[str, Any] | None = None,
        seed: int = 1,
    ) -> None:
        self.workdir = workdir
        self.argv = [*CLI, "sandbox", "--port", "0", "--seed", str(seed)]
        if latency_ms:
            self.argv += ["--latency-ms", f"{latency_ms:g}"]
        if faults:
            path = Path(tempfile.mkstemp(prefix="faults-", suffix=".json", dir=workdir)[1])
            path.write_text(json.dumps(faults), encoding="utf-8")
            self.argv += ["--faults", str(path)]
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._admin: httpx.Client | None = None

    def __enter__(self) -> Sandbox:
        log = (self.workdir / "sandbox.log").open("a", encoding="utf-8")
        proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=log, text=True, env=base_env()
        )
        log.close()
        self._proc = proc
        watchdog = threading.Timer(60, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
        finally:
            watchdog.cancel()
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        if found is None:
            self._stop()
            raise BenchError(f"the sandbox did not start: {first.strip() or 'no output'}")
        self.url = found.group(0)
        self._admin = httpx.Client(base_url=self.url, headers=api_headers(KEY), timeout=60)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def _call(self, method: str, path: str) -> dict[str, Any]:
        assert self._admin is not None, "the sandbox is not running"
        response = self._admin.request(method, path)
        if response.status_code >= 300:
            raise BenchError(f"sandbox {method} {path}: HTTP {response.status_code}")
        data: dict[str, Any] = response.json()
        return data

    def reset(self) -> None:
        """Go back to the sandbox's state at start, counters included."""
        self._call("POST", "/_sandbox/reset")

    def stats(self) -> dict[str, Any]:
        """Return the sandbox's counters."""
        return self._call("GET", "/_sandbox/stats")


# -- running the tool and the baselines ---------------------------------------------------------


@dataclass
class CliRun:
    """Say how one bulk-import command went: the process, and its --summary-json."""

    proc: Proc
    summary: dict[str, Any]
    report: Path

    @property
    def rows(self) -> int:
        """Return the rows in the report, per the summary."""
        return int(self.summary.get("total", 0))

    @property
    def duration_s(self) -> float:
        """Return the command's own duration (reading, sending, report; not Python's start)."""
        return float(self.summary.get("duration_s") or self.proc.wall_s)

    def count(self, status: str) -> int:
        """Return the number of rows with this status."""
        return int(self.summary.get("counts", {}).get(status, 0))


class Bench:
    """Hold what every figure needs: the work folder, the mode, and the results so far."""

    def __init__(self, workdir: Path, *, mode: str = "default") -> None:
        self.workdir = workdir
        self.mode = mode
        self.figures: list[Figure] = []
        self.details: dict[str, Any] = {}
        self._runs = 0

    def pick(self, default: int, quick: int, long: int | None = None) -> int:
        """Return the size for this mode (``long`` falls back to the default size)."""
        if self.mode == "quick":
            return quick
        if self.mode == "long" and long is not None:
            return long
        return default

    def input(self, count: int, *, typed: bool = False) -> Path:
        """Return a CSV of ``count`` numbers (made once per size and kind)."""
        path = self.workdir / f"in-{count}{'-typed' if typed else ''}.csv"
        if not path.exists():
            write_csv(path, count, typed=typed)
        return path

    def cli(
        self,
        command: str,
        source: Path,
        *args: str,
        expect: Sequence[int] = (0,),
    ) -> CliRun:
        """Run ``bulk-import COMMAND SOURCE ARGS`` quietly with a report and summary JSON."""
        self._runs += 1
        report = self.workdir / f"report-{self._runs}.csv"
        summary_path = self.workdir / f"summary-{self._runs}.json"
        argv = [
            *CLI,
            command,
            str(source),
            *args,
            "--no-progress",
            "--quiet",
            "--report",
            str(report),
            "--summary-json",
            str(summary_path),
        ]
        proc = run_process(argv, workdir=self.workdir, env=cli_env())
        if proc.rc not in expect:
            raise BenchError(f"bulk-import {command} exited {proc.rc}: {proc.tail()}")
        summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
        return CliRun(proc, summary, report)

    def run(self, sandbox: Sandbox, source: Path, *args: str, concurrency: int = 16) -> CliRun:
        """Import ``source`` into the sandbox with ``bulk-import run``."""
        return self.cli(
            "run",
            source,
            "--base-url",
            sandbox.url,
            "--provider-id",
            PROVIDER,
            "--concurrency",
            str(concurrency),
            *args,
        )

    def baseline(self, *args: str) -> tuple[Proc, dict[str, Any]]:
        """Run one mode of baselines.py; return the process and its JSON line."""
        proc = run_process([sys.executable, str(BASELINES), *args], workdir=self.workdir)
        if proc.rc != 0:
            raise BenchError(f"baseline {args[0]} exited {proc.rc}: {proc.tail()}")
        data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return proc, data

    def bare_post(
        self, sandbox: Sandbox, count: int, concurrency: int, mode: str = "aiohttp", *extra: str
    ) -> tuple[Proc, dict[str, Any]]:
        """POST ``count`` numbers with a bare loop; check that every one was created."""
        proc, data = self.baseline(
            mode,
            "--base-url",
            sandbox.url,
            "--count",
            str(count),
            "--concurrency",
            str(concurrency),
            *extra,
        )
        created = int(data["statuses"].get("201", 0))
        if created != count:
            raise BenchError(f"baseline {mode}: {created} of {count} created: {data['statuses']}")
        return proc, data

    def add(self, figure: Figure) -> None:
        """Record one figure and say it at once."""
        self.figures.append(figure)
        say(f"  {figure.key:4} {figure.name}: {figure.shown}  [{figure.result}]")


@dataclass
class Figure:
    """One line of the table: a measured value against its target (``passed`` None: no target)."""

    key: str
    name: str
    target: str
    shown: str
    passed: bool | None
    command: str
    value: float | None = None
    note: str = ""

    @property
    def result(self) -> str:
        """Return PASS, MISS, or "info" for a figure without a target."""
        if self.passed is None:
            return "info"
        return "PASS" if self.passed else "MISS"


@dataclass(frozen=True, slots=True)
class Entry:
    """Name one figure of the registry: its key for ``--only``, its name, and how to measure it."""

    key: str
    name: str
    measure: Callable[[Bench], None]


def say(message: str) -> None:
    """Print one line of progress to stderr."""
    print(message, file=sys.stderr, flush=True)


def check_imported(run: CliRun, count: int) -> None:
    """Refuse a run whose summary is not ``count`` rows, all imported."""
    if run.rows != count or run.count("imported") != count:
        raise BenchError(f"expected {count} rows imported, got {run.summary.get('counts')}")
