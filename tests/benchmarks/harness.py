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
import itertools
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
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sandbox_fixtures import api_headers, us_number  # noqa: E402

from benchmarks.processes import MB, PROCESS_TIMEOUT_S, Proc, run_process  # noqa: E402

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
PROBE = HERE / "probe.py"


@dataclass(frozen=True, slots=True)
class Tool:
    """Name a bulk-import to run: HEAD's console script, today's build, or HEAD under the probe."""

    name: str
    argv: tuple[str, ...]


HEAD = Tool("HEAD", tuple(CLI))


def probed(*, samples: Path | None = None, fixed_window: bool = False) -> Tool:
    """Return HEAD run through ``probe.py``: its window sampled to ``samples``, or held fixed."""
    argv = [sys.executable, str(PROBE)]
    if samples is not None:
        argv += ["--samples", str(samples)]
    if fixed_window:
        argv.append("--fixed-window")
    name = "HEAD, fixed window" if fixed_window else "HEAD"
    return Tool(name, (*argv, "--"))


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

    def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        assert self._admin is not None, "the sandbox is not running"
        response = self._admin.request(method, path, json=body)
        if response.status_code >= 300:
            raise BenchError(f"sandbox {method} {path}: HTTP {response.status_code}")
        data: dict[str, Any] = response.json()
        return data

    def reset(self) -> None:
        """Go back to the sandbox's state at start, counters included."""
        self._call("POST", "/_sandbox/reset")

    def change_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change some faults while the sandbox runs (``POST /_sandbox/faults``)."""
        return self._call("POST", "/_sandbox/faults", changes)

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
        self._runs = itertools.count(1)  # next() is atomic: figures may run commands in threads
        self._today: Tool | None = None

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
        tool: Tool = HEAD,
        interrupt_after: float | None = None,
    ) -> CliRun:
        """Run ``bulk-import COMMAND SOURCE ARGS`` quietly with a report and summary JSON.

        ``interrupt_after``: Ctrl-C it after that many seconds (add 130 to ``expect``).
        """
        run = next(self._runs)
        report = self.workdir / f"report-{run}.csv"
        summary_path = self.workdir / f"summary-{run}.json"
        argv = [
            *tool.argv,
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
        proc = run_process(
            argv, workdir=self.workdir, env=cli_env(), interrupt_after=interrupt_after
        )
        if proc.rc not in expect:
            raise BenchError(f"{tool.name} {command} exited {proc.rc}: {proc.tail()}")
        summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
        return CliRun(proc, summary, report)

    def run(
        self,
        sandbox: Sandbox,
        source: Path,
        *args: str,
        concurrency: int = 16,
        tool: Tool = HEAD,
        expect: Sequence[int] = (0,),
        interrupt_after: float | None = None,
    ) -> CliRun:
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
            tool=tool,
            expect=expect,
            interrupt_after=interrupt_after,
        )

    def today(self) -> Tool:
        """Return today's bulk-import (commit f310f88), built once into a cache folder."""
        if self._today is None:
            from benchmarks.today import build_today

            say("  (today's CLI: the build of f310f88 in the cache folder)")
            self._today = build_today()
        return self._today

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


def script(
    key: str,
    name: str,
    file: str,
    *args: str,
    quick: Sequence[str] = (),
    long: Sequence[str] = (),
    timeout: float = PROCESS_TIMEOUT_S,
) -> Entry:
    """Return the registry entry of a standalone figure script beside this file.

    The script runs as ``python FILE ARGS`` (plus ``quick`` or ``long`` in those modes) in its
    own process, with the sandbox key in its environment; it starts whatever it needs itself. If
    its last line of output is :func:`figures_line`'s JSON, those figures join the table with
    their targets; else its last line is shown as one "info" figure. Exit 2 of the script, or
    any other non-zero exit, is "not measured".
    """
    path = HERE / file

    def measure(bench: Bench) -> None:
        extra = quick if bench.mode == "quick" else long if bench.mode == "long" else ()
        say(f"[{key}] {name}: {file} {' '.join([*args, *extra])}".rstrip())
        argv = [sys.executable, str(path), *args, *extra]
        proc = run_process(argv, workdir=bench.workdir, env=cli_env(), timeout=timeout)
        if proc.rc != 0:
            raise BenchError(f"{file} exited {proc.rc}: {proc.tail()}")
        lines = proc.stdout.strip().splitlines() or [""]
        try:
            found = json.loads(lines[-1])
        except ValueError:
            found = None
        if isinstance(found, dict) and isinstance(found.get("figures"), list):
            for item in found["figures"]:
                bench.add(Figure(**{k: v for k, v in item.items() if k != "result"}))
            bench.details[key] = found.get("details", {})
            return
        bench.details[key] = {"stdout": proc.stdout[-4000:]}
        command = f"python tests/benchmarks/{file} {' '.join(args)}".rstrip()
        bench.add(Figure(key, name, "report", lines[-1][:300], None, command))

    return Entry(key, name, measure)


def figures_line(figures: Sequence[Figure], details: dict[str, Any] | None = None) -> str:
    """Return the last line a standalone script prints so that run.py takes its figures."""
    return json.dumps({"figures": [asdict(f) for f in figures], "details": details or {}})


def run_facts(run: CliRun, stats: dict[str, Any], *, ideal: float) -> dict[str, Any]:
    """Return what one import shows: rows/s over ``ideal``, the 429s, the window, per second.

    Rows/s counts the rows imported, so that a run stopped early (``interrupt_after``) says how
    fast it went until then.
    The 429 share is of every request the sandbox counted (the run's preflight GET included).
    """
    requests = int(stats["requests"])
    refused = int(stats["by_status"].get("429", 0))
    done = run.count("imported")
    return {
        "ideal_rows_s": ideal,
        "rows": run.rows,
        "imported": done,
        "statuses": run.summary.get("counts", {}),
        "exit_code": run.proc.rc,
        "duration_s": run.duration_s,
        "wall_s": run.proc.wall_s,
        "cpu_s": run.proc.cpu_s,
        "ratio": done / run.duration_s / ideal,
        "ratio_whole_process": done / run.proc.wall_s / ideal,
        "ratio_steady": steady_ratio(stats, ideal=ideal),
        "requests": requests,
        "http_429": refused,
        "share_429": refused / requests if requests else 0.0,
        "max_in_flight": stats["max_in_flight"],
        "concurrency": run.summary.get("concurrency"),
        "post_seconds": stats["post_seconds"],
        "rejected_seconds": stats["rejected_seconds"],
    }


def steady_ratio(stats: dict[str, Any], *, ideal: float) -> float:
    """Return the accepted POSTs per second of the run's full seconds (first and last left out).

    That is the run without its start (Python, the preflight, slow start) and its tail (fewer
    rows left than the window), from the sandbox's own per-second counts.
    """
    posts: list[int] = stats["post_seconds"]
    refused: list[int] = stats["rejected_seconds"]
    busy = [i for i, n in enumerate(posts) if n]
    if len(busy) < 3:
        return 0.0
    seconds = range(busy[0] + 1, busy[-1])
    accepted = [posts[i] - (refused[i] if i < len(refused) else 0) for i in seconds]
    return sum(accepted) / len(accepted) / ideal


def window_range(facts: dict[str, Any]) -> str:
    """Return the window's least-most and final value as a run's summary gave them."""
    seen = facts.get("concurrency")
    if not seen:
        return "not reported"
    return f"{seen['min']}-{seen['max']}, final {seen['final']}"


def say(message: str) -> None:
    """Print one line of progress to stderr."""
    print(message, file=sys.stderr, flush=True)


def check_imported(run: CliRun, count: int) -> None:
    """Refuse a run whose summary is not ``count`` rows, all imported."""
    if run.rows != count or run.count("imported") != count:
        raise BenchError(f"expected {count} rows imported, got {run.summary.get('counts')}")
