"""Measure bulk-import's speed and scale: every figure a ratio against a baseline of the same run.

``make bench`` runs ``python tests/benchmarks/run.py``: every figure of BENCHMARKS.md from one
command, in well under 10 minutes on a 2-core machine. ``--only 1,3`` runs some figures;
``--quick`` runs every figure on fewer rows (a smoke test of the harness, not the figures);
``--long`` runs figures 5 and 7 at the issue's sizes (50,000 vs 200,000 rows; 10,000 rows under
429s), which alone take longer than the whole default run on a busy 2-core machine.

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
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sandbox_fixtures import api_headers, us_number  # noqa: E402

KEY = "sk_car_sandbox"
PROVIDER = "prov_sandbox"
AGENT = "agent_sandbox"
TIME_BIN = Path("/usr/bin/time")
BASELINES = HERE / "baselines.py"
PROCESS_TIMEOUT_S = 420.0
MB = 1024 * 1024


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


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Proc:
    """Say how one child process went: exit code, wall clock, CPU time, peak RSS, output."""

    argv: list[str]
    rc: int
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mb: float
    stdout: str
    stderr: str
    tree_mb: float = 0.0

    @property
    def peak_mb(self) -> float:
        """Return the peak memory: the largest process's RSS, or the tree's PSS sum if larger.

        ``/usr/bin/time`` and ``wait4`` give the peak RSS of the largest single process; a
        command that forks workers (``validate`` on a large file) also needs them added up.
        """
        return max(self.maxrss_mb, self.tree_mb)

    @property
    def cpu_s(self) -> float:
        """Return user + system CPU seconds."""
        return self.user_s + self.sys_s

    def tail(self) -> str:
        """Return the end of stderr (else stdout), for an error message."""
        text = (self.stderr or self.stdout).strip()
        return text[-600:]


_TIME_FIELDS = {
    "User time (seconds)": "user_s",
    "System time (seconds)": "sys_s",
    "Maximum resident set size (kbytes)": "maxrss_kb",
    "Exit status": "rc",
}


def _children(pid: int) -> list[int]:
    """Return the child process ids of ``pid`` (from /proc)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _memory_kb(pid: int) -> int:
    """Return a process's proportional set size (shared pages split), else its RSS, in kB."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1])
    return 0


class TreeSampler(threading.Thread):
    """Sample the summed PSS of a process's descendants every 0.1 s; keep the peak (kB)."""

    def __init__(self, root: int, *, include_root: bool) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.include_root = include_root
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            pids: list[int] = [self.root] if self.include_root else []
            todo = _children(self.root)
            while todo:
                pid = todo.pop()
                pids.append(pid)
                todo += _children(pid)
            self.peak_kb = max(self.peak_kb, sum(_memory_kb(pid) for pid in pids))


def measure(
    argv: Sequence[str],
    *,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = PROCESS_TIMEOUT_S,
    stdin: IO[bytes] | None = None,
) -> Proc:
    """Run ``argv`` to its end; time it from outside and take its CPU time and peak RSS."""
    fd, time_name = tempfile.mkstemp(prefix="time-", suffix=".txt", dir=workdir)
    os.close(fd)
    time_file = Path(time_name)
    wrapped = list(argv)
    if TIME_BIN.exists():
        wrapped = [str(TIME_BIN), "-v", "-o", str(time_file), *argv]
    with tempfile.TemporaryFile(dir=workdir) as out, tempfile.TemporaryFile(dir=workdir) as err:
        started = time.perf_counter()
        # A process group of its own: the watchdog (or a Ctrl-C here) ends the command and
        # every process it started, not only the /usr/bin/time wrapper.
        proc = subprocess.Popen(
            wrapped, stdin=stdin, stdout=out, stderr=err, env=env, start_new_session=True
        )

        def kill_group() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        watchdog = threading.Timer(timeout, kill_group)
        watchdog.start()
        sampler = TreeSampler(proc.pid, include_root=len(wrapped) == len(argv))
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill_group()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            raise
        finally:
            watchdog.cancel()
            sampler.done.set()
            sampler.join()
        wall = time.perf_counter() - started
        rc = proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    user, system, maxrss_kb = usage.ru_utime, usage.ru_stime, float(usage.ru_maxrss)
    if TIME_BIN.exists():
        found: dict[str, float] = {}
        for line in time_file.read_text(errors="replace").splitlines():
            name, _, value = line.strip().rpartition(": ")
            if name in _TIME_FIELDS:
                with contextlib.suppress(ValueError):
                    found[_TIME_FIELDS[name]] = float(value)
        user = found.get("user_s", user)
        system = found.get("sys_s", system)
        maxrss_kb = found.get("maxrss_kb", maxrss_kb)
        rc = int(found.get("rc", rc)) if rc >= 0 else rc
    time_file.unlink(missing_ok=True)
    if wall >= timeout:
        stderr += f"\n(killed after {timeout:.0f} s)"
    tree_mb = sampler.peak_kb / 1024
    return Proc(list(argv), rc, wall, user, system, maxrss_kb / 1024, stdout, stderr, tree_mb)


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
        proc = measure(argv, workdir=self.workdir, env=cli_env())
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
        proc = measure([sys.executable, str(BASELINES), *args], workdir=self.workdir)
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


def say(message: str) -> None:
    """Print one line of progress to stderr."""
    print(message, file=sys.stderr, flush=True)


def check_imported(run: CliRun, count: int) -> None:
    """Refuse a run whose summary is not ``count`` rows, all imported."""
    if run.rows != count or run.count("imported") != count:
        raise BenchError(f"expected {count} rows imported, got {run.summary.get('counts')}")


# -- the figures ----------------------------------------------------------------------------------


def fig_validation(bench: Bench) -> None:
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


def fig_latency(bench: Bench) -> None:
    """2. 5,000 rows against 20 ms latency: rows/s over the ideal concurrency / latency."""
    count = bench.pick(5_000, 2_000)
    latency_ms = 20.0
    source = bench.input(count)
    targets = {16: 0.92, 32: None, 64: 0.85}
    say(f"[2] latency-bound import: {count:,} rows, {latency_ms:g} ms")
    details: dict[str, Any] = {"rows": count, "latency_ms": latency_ms, "by_concurrency": {}}
    with Sandbox(bench.workdir, latency_ms=latency_ms) as sandbox:
        for concurrency, target in targets.items():
            ideal = concurrency / (latency_ms / 1000)
            sandbox.reset()
            run = bench.run(sandbox, source, concurrency=concurrency)
            check_imported(run, count)
            sandbox.reset()
            bare_proc, bare = bench.bare_post(sandbox, count, concurrency)
            steady = count / run.duration_s / ideal
            whole = count / run.proc.wall_s / ideal
            bare_ratio = count / float(bare["loop_s"]) / ideal
            # The event loop is one thread: the answers to `concurrency` requests come back
            # together and are handled one after the other, so each round trip costs the
            # latency plus concurrency x CPU per row. This predicts the ratio from the CPU.
            cpu_row = run.proc.cpu_s / count
            model = latency_ms / 1000 / (latency_ms / 1000 + concurrency * cpu_row)
            details["by_concurrency"][str(concurrency)] = {
                "ideal_rows_s": ideal,
                "cli_wall_s": run.proc.wall_s,
                "cli_duration_s": run.duration_s,
                "cli_cpu_s": run.proc.cpu_s,
                "ratio": steady,
                "ratio_whole_process": whole,
                "bare_aiohttp_loop_s": bare["loop_s"],
                "bare_aiohttp_wall_s": bare_proc.wall_s,
                "bare_aiohttp_ratio": bare_ratio,
                "cli_cpu_ms_per_row": cpu_row * 1000,
                "model_ratio": model,
            }
            bench.add(
                Figure(
                    f"2.{concurrency}",
                    f"latency-bound import, --concurrency {concurrency}: rows/s / ideal",
                    "info" if target is None else f">= {target}",
                    f"{steady:.2f} ({count / run.duration_s:.0f} of {ideal:.0f} rows/s; "
                    f"whole process {whole:.2f}; bare aiohttp loop {bare_ratio:.2f}, "
                    f"CPU {cpu_row * 1000:.2f} ms/row)",
                    None if target is None else steady >= target,
                    f"bulk-import sandbox --latency-ms 20; bulk-import run in-{count}.csv "
                    f"--concurrency {concurrency}",
                    steady,
                )
            )
    bench.details["2"] = details


def fig_ceiling(bench: Bench) -> None:
    """3. 0 latency, --concurrency 16: the whole CLI vs a bare aiohttp loop; CPU per row."""
    count = bench.pick(10_000, 3_000)
    rounds = bench.pick(2, 1)
    source = bench.input(count)
    say(f"[3] client ceiling: {count:,} rows, best of {rounds}")
    clis: list[CliRun] = []
    bares: list[tuple[Proc, dict[str, Any]]] = []
    with Sandbox(bench.workdir) as sandbox:
        for _ in range(rounds):
            sandbox.reset()
            bares.append(bench.bare_post(sandbox, count, 16))
            sandbox.reset()
            run = bench.run(sandbox, source, concurrency=16)
            check_imported(run, count)
            clis.append(run)
        # httpx's own transport is slow: 3,000 rows say the ratio well enough.
        few = min(count, 3_000)
        sandbox.reset()
        httpx_default = bench.bare_post(sandbox, few, 16, "httpx-async")
        sandbox.reset()
        httpx_aiohttp = bench.bare_post(sandbox, few, 16, "httpx-async", "--aiohttp-transport")
    cli = min(clis, key=lambda r: r.proc.wall_s)
    bare_proc, bare = min(bares, key=lambda b: b[0].wall_s)
    ratio = bare_proc.wall_s / cli.proc.wall_s
    steady = float(bare["loop_s"]) / cli.duration_s
    cpu_ms = cli.proc.cpu_s / count * 1000
    bare_cpu_ms = bare_proc.cpu_s / count * 1000
    transport_gain = float(httpx_default[1]["loop_s"]) / float(httpx_aiohttp[1]["loop_s"])
    bench.details["3"] = {
        "rows": count,
        "rounds": rounds,
        "cli_wall_s": [r.proc.wall_s for r in clis],
        "cli_duration_s": [r.duration_s for r in clis],
        "cli_cpu_s": [r.proc.cpu_s for r in clis],
        "bare_wall_s": [b[0].wall_s for b in bares],
        "bare_loop_s": [b[1]["loop_s"] for b in bares],
        "bare_cpu_s": [b[0].cpu_s for b in bares],
        "ratio_whole_process": ratio,
        "ratio_in_process": steady,
        "cli_rows_s": count / cli.proc.wall_s,
        "bare_rows_s": count / bare_proc.wall_s,
        "cli_cpu_ms_per_row": cpu_ms,
        "bare_cpu_ms_per_row": bare_cpu_ms,
        "httpx_default_loop_s": httpx_default[1]["loop_s"],
        "httpx_aiohttp_transport_loop_s": httpx_aiohttp[1]["loop_s"],
        "httpx_aiohttp_transport_gain": transport_gain,
    }
    bench.add(
        Figure(
            "3a",
            "client ceiling: CLI rows/s / bare aiohttp loop rows/s (0 ms, concurrency 16)",
            ">= 0.5",
            f"{ratio:.2f} ({count / cli.proc.wall_s:.0f} vs {count / bare_proc.wall_s:.0f} "
            f"rows/s, whole processes; in-process {steady:.2f})",
            ratio >= 0.5,
            f"bulk-import run in-{count}.csv --concurrency 16 vs baselines.py aiohttp "
            f"--count {count} --concurrency 16",
            ratio,
        )
    )
    bench.add(
        Figure(
            "3b",
            "CPU time per imported row (user+sys of the CLI process / rows)",
            "report",
            f"{cpu_ms:.3f} ms (bare aiohttp loop {bare_cpu_ms:.3f} ms, "
            f"x{cpu_ms / bare_cpu_ms:.1f})",
            None,
            "same runs",
            cpu_ms,
        )
    )
    bench.add(
        Figure(
            "3c",
            "httpx with httpx-aiohttp's transport vs httpx's default transport (bare loops)",
            "report",
            f"x{transport_gain:.2f} the rows/s",
            None,
            "baselines.py httpx-async [--aiohttp-transport] --concurrency 16",
            transport_gain,
        )
    )


def fig_alternatives(bench: Bench) -> None:
    """4. 2,000 rows at 20 ms: bulk-import vs a sequential httpx loop and xargs -P 16 curl."""
    count = bench.pick(2_000, 400)
    source = bench.input(count)
    say(f"[4] against the alternatives: {count:,} rows, 20 ms")
    details: dict[str, Any] = {"rows": count}
    with Sandbox(bench.workdir, latency_ms=20) as sandbox:
        sandbox.reset()
        run = bench.run(sandbox, source, concurrency=16)
        check_imported(run, count)
        details["cli_wall_s"] = run.proc.wall_s
        sandbox.reset()
        seq_proc, _ = bench.bare_post(sandbox, count, 1, "httpx-seq")
        details["httpx_seq_wall_s"] = seq_proc.wall_s
        speedup = seq_proc.wall_s / run.proc.wall_s
        details["speedup_vs_httpx_seq"] = speedup
        bench.add(
            Figure(
                "4a",
                "speed-up of bulk-import run (concurrency 16) over a sequential httpx loop",
                "report",
                f"x{speedup:.1f} ({run.proc.wall_s:.1f} s vs {seq_proc.wall_s:.1f} s)",
                None,
                f"bulk-import run in-{count}.csv --concurrency 16 vs baselines.py httpx-seq",
                speedup,
            )
        )
        curl = shutil.which("curl")
        xargs = shutil.which("xargs")
        if curl is None or xargs is None:
            details["curl"] = "skipped: curl or xargs not found"
            bench.add(
                Figure(
                    "4b",
                    "speed-up over xargs -P 16 curl",
                    "report",
                    "skipped: curl or xargs is not installed",
                    None,
                    "xargs -P 16 -I{} curl ...",
                )
            )
        else:
            sandbox.reset()
            curl_proc = run_curl(bench, sandbox, source, curl, xargs)
            created = curl_proc.stdout.split().count("201")
            if created != count:
                raise BenchError(f"xargs curl created {created} of {count}")
            speedup = curl_proc.wall_s / run.proc.wall_s
            details["curl_wall_s"] = curl_proc.wall_s
            details["curl_cpu_s"] = curl_proc.cpu_s
            details["speedup_vs_curl"] = speedup
            bench.add(
                Figure(
                    "4b",
                    "speed-up of bulk-import run (concurrency 16) over xargs -P 16 curl",
                    "report",
                    f"x{speedup:.1f} ({run.proc.wall_s:.1f} s vs {curl_proc.wall_s:.1f} s)",
                    None,
                    'xargs -P 16 -I{} curl -s -X POST -d \'{"number":"{}",...}\' URL < numbers.txt',
                    speedup,
                )
            )
    bench.details["4"] = details


def run_curl(bench: Bench, sandbox: Sandbox, source: Path, curl: str, xargs: str) -> Proc:
    """POST every number of ``source`` with one curl per line, 16 at a time."""
    lines = source.read_text(encoding="utf-8").split()[1:]
    numbers = bench.workdir / f"{source.stem}.txt"
    numbers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    body = '{"number":"{}","label":"{}","provider":{"id":"%s"}}' % PROVIDER  # noqa: UP031
    argv = [xargs, "-P", "16", "-I", "{}", curl, "-s", "-o", "/dev/null", "-w", "%{http_code}\\n"]
    for name, value in api_headers(KEY).items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-H", "Content-Type: application/json", "-X", "POST", "-d", body]
    argv.append(sandbox.url + "/agents/phone-numbers")
    with numbers.open("rb") as stdin:
        return measure(argv, workdir=bench.workdir, stdin=stdin)


def fig_memory(bench: Bench) -> None:
    """5. Peak RSS of ``run`` on 200,000 rows, and against 50,000 rows: flat."""
    # 4x the rows, as the 50,000 vs 200,000 (--long): 200,000 rows alone take about
    # 4 minutes of a shared 2-core machine, too much for make bench's 10 minutes.
    small = bench.pick(25_000, 10_000, long=50_000)
    big = bench.pick(100_000, 40_000, long=200_000)
    say(f"[5] flat memory: {small:,} and {big:,} rows, 0 ms")
    runs: dict[int, CliRun] = {}
    with Sandbox(bench.workdir) as sandbox:
        for count in (small, big):
            sandbox.reset()
            run = bench.run(sandbox, bench.input(count), concurrency=16)
            check_imported(run, count)
            runs[count] = run
    rss_small, rss_big = runs[small].proc.peak_mb, runs[big].proc.peak_mb
    growth = rss_big / rss_small
    per_row = (rss_big - rss_small) * MB / (big - small)
    bench.details["5"] = {
        "rows": [small, big],
        "peak_mb": [rss_small, rss_big],
        "peak_rss_largest_process_mb": [runs[n].proc.maxrss_mb for n in (small, big)],
        "peak_pss_all_processes_mb": [runs[n].proc.tree_mb for n in (small, big)],
        "wall_s": [runs[small].proc.wall_s, runs[big].proc.wall_s],
        "cpu_s": [runs[small].proc.cpu_s, runs[big].proc.cpu_s],
        "growth_ratio": growth,
        "bytes_per_extra_row": per_row,
    }
    bench.add(
        Figure(
            "5a",
            f"run peak RSS, {big:,} rows (0 ms)",
            "<= 300 MB",
            f"{rss_big:.0f} MB",
            rss_big <= 300,
            f"bulk-import run in-{big}.csv --concurrency 16",
            rss_big,
        )
    )
    bench.add(
        Figure(
            "5b",
            f"no growth: peak RSS at {big:,} rows / at {small:,} rows",
            "<= 1.10",
            f"{growth:.2f} ({rss_small:.0f} -> {rss_big:.0f} MB, {per_row:.0f} bytes/row)",
            growth <= 1.10,
            f"bulk-import run in-{small}.csv, then in-{big}.csv",
            growth,
        )
    )


def fig_rate(bench: Bench) -> None:
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


def fig_backoff(bench: Bench) -> None:
    """7. Sandbox limited to 100 requests/s answering 429 + Retry-After; concurrency 64."""
    # The 10,000 rows take over 100 s at 100/s: --long; make bench runs 3,000.
    count = bench.pick(3_000, 1_500, long=10_000)
    limit = 100
    faults = {"rate_limit": limit, "retry_after": "seconds"}
    say(f"[7] back-off under 429: {count:,} rows, {limit}/s limit, concurrency 64")
    with Sandbox(bench.workdir, faults=faults) as sandbox:
        sandbox.reset()
        run = bench.cli(
            "run",
            bench.input(count),
            "--base-url",
            sandbox.url,
            "--provider-id",
            PROVIDER,
            "--concurrency",
            "64",
            expect=(0, 1),
        )
        stats = sandbox.stats()
    rows, statuses = report_counts(run.report)
    requests = int(stats["requests"])
    limited = int(stats["by_status"].get("429", 0))
    share = limited / requests
    throughput = count / run.proc.wall_s
    intact = rows == count and statuses.get("imported", 0) == count
    bench.details["7"] = {
        "rows": count,
        "rate_limit": limit,
        "requests": requests,
        "by_status": stats["by_status"],
        "share_429": share,
        "wall_s": run.proc.wall_s,
        "duration_s": run.duration_s,
        "throughput_rows_s": throughput,
        "report_rows": rows,
        "report_statuses": dict(statuses),
        "post_seconds": stats["post_seconds"],
    }
    label = f" ({count:,} rows)" if count == 10_000 else f" ({count:,} rows; 10,000: --long)"
    bench.add(
        Figure(
            "7a",
            f"429 share of all requests{label}",
            "<= 5%",
            f"{share * 100:.2f}% ({limited} of {requests})",
            share <= 0.05,
            f"faults {json.dumps(faults)}; bulk-import run in-{count}.csv --concurrency 64",
            share,
        )
    )
    bench.add(
        Figure(
            "7b",
            f"throughput under a {limit}/s limit{label}",
            f">= {0.85 * limit:.0f} rows/s",
            f"{throughput:.1f} rows/s ({throughput / limit:.2f} of the limit)",
            throughput >= 0.85 * limit,
            "same run",
            throughput,
        )
    )
    bench.add(
        Figure(
            "7c",
            f"nothing lost{label}",
            f"{count:,} rows, all imported",
            f"{rows:,} rows, {dict(statuses)}",
            intact,
            "same run, the report",
            float(rows),
        )
    )


def fig_reconcile(bench: Bench) -> None:
    """8. ``reconcile --apply`` against 10,000 numbers with 50 drifts: exactly the calls needed."""
    held = bench.pick(10_000, 2_000)
    drifts = bench.pick(50, 10)
    half = drifts // 2
    say(f"[8] reconcile: {held:,} numbers held, {drifts} drifts")
    # The account: input numbers 0..held-half-1 (the last `half` of them with no agent), and
    # `half` numbers the input does not list. The input: numbers 0..held-1, so `half` missing.
    account = [{"number": number(i), "agent_id": AGENT} for i in range(held - 2 * half)]
    account += [{"number": number(i)} for i in range(held - 2 * half, held - half)]
    account += [{"number": number(held + i), "agent_id": AGENT} for i in range(half)]
    source = bench.input(held)
    with Sandbox(bench.workdir, faults={"existing": account}) as sandbox:
        sandbox.reset()
        run = bench.cli(
            "reconcile",
            source,
            "--apply",
            "--base-url",
            sandbox.url,
            "--provider-id",
            PROVIDER,
            "--agent-id",
            AGENT,
            "--concurrency",
            "16",
        )
        stats = sandbox.stats()
    by_method: dict[str, int] = stats["by_method"]
    pages = math.ceil(held / 100)
    fixes = by_method.get("POST", 0) + by_method.get("PATCH", 0)
    exact = (
        by_method.get("GET", 0) == pages
        and fixes == drifts
        and stats["requests"] == (pages + drifts)
    )
    counts = run.summary.get("counts", {})
    bench.details["8"] = {
        "held": held,
        "drifts": drifts,
        "by_method": by_method,
        "requests": stats["requests"],
        "expected_requests": pages + drifts,
        "wall_s": run.proc.wall_s,
        "duration_s": run.duration_s,
        "counts": counts,
    }
    bench.add(
        Figure(
            "8a",
            f"reconcile --apply, {held:,} held, {drifts} drifts: API calls",
            f"{pages} GET + {drifts} fixes",
            f"{by_method} ({stats['requests']} requests)",
            exact,
            f"bulk-import reconcile in-{held}.csv --apply --agent-id {AGENT}",
            float(stats["requests"]),
        )
    )
    bench.add(
        Figure(
            "8b",
            "reconcile --apply time",
            "report",
            f"{run.proc.wall_s:.2f} s whole process ({run.duration_s:.2f} s in-process); {counts}",
            None,
            "same run",
            run.proc.wall_s,
        )
    )


FIGURES: dict[int, tuple[str, Callable[[Bench], None]]] = {
    1: ("validation floor", fig_validation),
    2: ("latency-bound import", fig_latency),
    3: ("client ceiling", fig_ceiling),
    4: ("against the alternatives", fig_alternatives),
    5: ("flat memory", fig_memory),
    6: ("rate cap accuracy", fig_rate),
    7: ("back-off under 429", fig_backoff),
    8: ("reconcile at fleet scale", fig_reconcile),
}


# -- the machine, the table, the files ------------------------------------------------------------


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


def table(figures: list[Figure]) -> str:
    """Return the figures as a plain-text table."""
    head = ("#", "figure", "target", "measured", "result")
    rows = [(f.key, f.name, f.target, f.shown, f.result) for f in figures]
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


def parse_only(text: str | None) -> list[int]:
    """Return the figure numbers ``--only`` names (all of them by default)."""
    if not text:
        return list(FIGURES)
    chosen: list[int] = []
    for part in text.split(","):
        try:
            key = int(part.strip())
        except ValueError:
            raise SystemExit(f"--only: {part!r} is not a figure number (1-8)") from None
        if key not in FIGURES:
            raise SystemExit(f"--only: no figure {key} (1-8)")
        chosen.append(key)
    return chosen


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
        help="the issue's sizes for figures 5 and 7 (50k vs 200k rows, 10k rows): ~+5 min",
    )
    parser.add_argument("--json", type=Path, help="where to write the figures as JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    chosen = parse_only(args.only)
    partial = chosen != list(FIGURES)
    mode = "quick" if args.quick else "long" if args.long else "default"
    suffix = "" if mode == "default" else f"-{mode}"
    json_path = args.json or HERE / f"results{suffix}{'-partial' if partial else ''}.json"
    started = time.perf_counter()
    code = code_version()
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    loads: dict[str, list[float]] = {}
    with workdir(args.keep) as folder:
        bench = Bench(folder, mode=mode)
        for key in chosen:
            name, func = FIGURES[key]
            began = time.perf_counter()
            loads[str(key)] = [loadavg()]
            try:
                func(bench)
            except (BenchError, OSError, httpx.HTTPError, KeyError, ValueError) as exc:
                errors[str(key)] = f"{type(exc).__name__}: {exc}"
                bench.figures.append(
                    Figure(str(key), name, "-", f"not measured: {exc}"[:200], False, "-")
                )
                say(f"  [{key}] not measured: {exc}")
            timings[str(key)] = time.perf_counter() - began
            loads[str(key)].append(loadavg())
            say(f"  [{key}] {timings[str(key)]:.1f} s")
    total = time.perf_counter() - started
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python tests/benchmarks/run.py"
        + ("" if mode == "default" else f" --{mode}")
        + (f" --only {args.only}" if partial else ""),
        "mode": mode,
        "code": code,
        "code_at_end": code_version(),
        "total_s": total,
        "seconds_by_figure": timings,
        "load_average_before_after": loads,
        "machine": machine(),
        "figures": [{**asdict(f), "result": f.result} for f in bench.figures],
        "details": bench.details,
        "errors": errors,
    }
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(markdown(results), encoding="utf-8")
    print(table(bench.figures))
    missed = [f.key for f in bench.figures if f.passed is False]
    print(
        f"\n{len(bench.figures)} figures, {sum(f.passed is True for f in bench.figures)} PASS, "
        f"{len(missed)} MISS{' (' + ', '.join(missed) + ')' if missed else ''}; "
        f"{total:.0f} s in all ({mode}); figures in {json_path}"
    )
    if errors:
        return 2
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
