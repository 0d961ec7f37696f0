"""Run one child process to its end: wall clock from outside, CPU time, peak RSS, tree PSS.

CPU time and the largest process's peak RSS come from ``/usr/bin/time -v`` when it exists, else
from ``os.wait4`` (the child's own rusage). A thread samples ``/proc`` every 0.1 s for the summed
PSS of the whole process tree, because ``validate`` forks parser processes for large files. A
watchdog kills the child's whole process group after ``timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TIME_BIN = Path("/usr/bin/time")
PROCESS_TIMEOUT_S = 420.0
MB = 1024 * 1024


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


def run_process(
    argv: Sequence[str],
    *,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = PROCESS_TIMEOUT_S,
    stdin: IO[bytes] | None = None,
    interrupt_after: float | None = None,
) -> Proc:
    """Run ``argv`` to its end; time it from outside and take its CPU time and peak RSS.

    ``interrupt_after``: send SIGINT (a Ctrl-C) that many seconds after the start, if still
    running: bulk-import then stops as a person would stop it, report and summary written.
    """
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

        def interrupt_group() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGINT)

        watchdog = threading.Timer(timeout, kill_group)
        watchdog.start()
        interrupter = threading.Timer(interrupt_after or 0.0, interrupt_group)
        if interrupt_after is not None:
            interrupter.start()
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
            interrupter.cancel()
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
