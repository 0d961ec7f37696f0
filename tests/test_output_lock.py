"""The report's lock file: who holds it, refusals, stale files, readers, the delete race."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import print_figures

from bulk_import.errors import UsageError
from bulk_import.output import lock
from bulk_import.output.lock import Holder, ReportLock, lock_path, refuse_if_held

ME = Holder(pid=os.getpid(), command="run in.csv", started_at="2026-12-06T02:31:00Z")


def dead_pid() -> int:
    """Return the pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_holder_writes_its_line_and_deletes_the_file_when_done(tmp_path: Path) -> None:
    """The lock file is 0600 and holds one JSON line about the holder; release deletes it."""
    report = tmp_path / "in.report.csv"
    held = ReportLock.take(report, holder=ME)
    path = lock_path(report)
    assert path == tmp_path / "in.report.csv.lock"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.count("\n") == 1
    assert json.loads(text) == {
        "pid": os.getpid(),
        "command": "run in.csv",
        "started_at": "2026-12-06T02:31:00Z",
        "host": "",
    }
    held.release()
    held.release()  # twice is harmless
    assert not path.exists()


def test_a_second_taker_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    """While one holds the report, another take is refused with the holder's pid, command and
    start, in milliseconds; after the release the report can be taken again."""
    report = tmp_path / "in.report.csv"
    held = ReportLock.take(report, holder=ME)
    started = time.monotonic()
    with pytest.raises(UsageError) as refused:
        ReportLock.take(report, holder=Holder(pid=1, command="run other.csv"))
    refused_ms = (time.monotonic() - started) * 1000
    assert str(refused.value) == (
        f"{report} is in use by another bulk-import (pid {os.getpid()}, `run in.csv`, started "
        "2026-12-06T02:31:00Z); wait for it to finish, or pass another --report"
    )
    assert refused_ms < 100
    held.release()
    again = ReportLock.take(report, holder=ME)
    again.release()
    print_figures("lock-refusal-in-process", refused_ms=round(refused_ms, 2))


def test_a_file_left_by_a_killed_holder_is_taken_at_once(tmp_path: Path) -> None:
    """A lock file nobody holds (its holder was killed) is no obstacle: it is taken over."""
    report = tmp_path / "in.report.csv"
    stale = Holder(pid=dead_pid(), command="run in.csv", started_at="2026-12-05T02:31:00Z")
    lock_path(report).write_text(stale.line())
    refuse_if_held(report, reading="REPORT")  # a reader sees nobody writing it
    held = ReportLock.take(report, holder=ME)
    assert json.loads(lock_path(report).read_text())["pid"] == os.getpid()
    held.release()


def test_a_readers_passing_check_does_not_refuse_a_writer(tmp_path: Path) -> None:
    """A reader's shared lock lasts moments: a writer that meets it (no live holder named)
    waits for it to go instead of refusing."""
    report = tmp_path / "in.report.csv"
    path = lock_path(report)
    path.write_text("")
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    threading.Timer(0.05, os.close, args=(fd,)).start()
    started = time.monotonic()
    held = ReportLock.take(report, holder=ME)
    waited = time.monotonic() - started
    held.release()
    assert 0.03 < waited < lock.SETTLE_S


def test_a_holder_that_never_says_who_it_is_is_still_refused(tmp_path: Path) -> None:
    """A lock held by a process that wrote no line (it is starting) refuses after the wait."""
    report = tmp_path / "in.report.csv"
    fd = os.open(lock_path(report), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(UsageError, match=r"in use by another bulk-import \(it is starting\)"):
            ReportLock.take(report, holder=ME)
        with pytest.raises(UsageError, match=r"being written by another bulk-import \(it is "):
            refuse_if_held(report, reading="REPORT")
    finally:
        os.close(fd)


def test_a_reader_is_refused_while_a_writer_holds_the_report(tmp_path: Path) -> None:
    """retry-patch's REPORT (or rollback's) is not read while its writer is alive."""
    report = tmp_path / "in.report.csv"
    refuse_if_held(report, reading="REPORT")  # no lock file at all
    held = ReportLock.take(report, holder=ME)
    with pytest.raises(UsageError) as refused:
        refuse_if_held(report, reading="REPORT")
    held.release()
    assert str(refused.value) == (
        f"REPORT {report} is being written by another bulk-import (pid {os.getpid()}, "
        "`run in.csv`, started 2026-12-06T02:31:00Z): it is not complete yet; wait for that "
        "command to finish, then run this one again"
    )
    refuse_if_held(report, reading="REPORT")


def test_a_file_deleted_by_its_holder_after_it_was_opened_is_not_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A taker that locked a file its holder had just deleted starts over on the new file."""
    report = tmp_path / "in.report.csv"
    real = lock._names
    calls: list[int] = []

    def names(path: Path, fd: int) -> bool:
        calls.append(fd)
        return len(calls) > 1 and real(path, fd)  # the first file opened was deleted since

    monkeypatch.setattr(lock, "_names", names)
    held = ReportLock.take(report, holder=ME)
    assert len(calls) == 2
    assert lock_path(report).exists()
    held.release()
    other = ReportLock.take(report, holder=ME)  # the real check: the path names the file
    other.release()


def test_describe_names_another_host_and_parses_only_json() -> None:
    """A holder on another host says so; a line that is not JSON describes nobody."""
    far = Holder(pid=7, command="run a.csv", started_at="2026-12-06T02:31:00Z", host="far-away")
    assert far.describe() == "pid 7, `run a.csv`, started 2026-12-06T02:31:00Z, on far-away"
    assert far.alive()  # another host's pid cannot be checked from here
    assert Holder(pid=None).describe() == "pid unknown"
    assert Holder.parse("not json") is None
    assert Holder.parse("[1, 2]") is None
    assert Holder.parse('{"pid": "12"}') == Holder()
    assert not Holder(pid=dead_pid()).alive()


def test_a_lock_path_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    """A folder where the lock file goes is refused with the fix."""
    report = tmp_path / "in.report.csv"
    lock_path(report).mkdir()
    with pytest.raises(UsageError, match=r"it is a directory; move it away$"):
        ReportLock.take(report, holder=ME)


def test_a_disk_with_no_room_for_the_holders_line_is_refused_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No space for the lock file's line: exit 2 in one line with the fix, no lock file left."""

    def full(fd: int, data: bytes | bytearray) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lock, "write_all", full)
    report = tmp_path / "in.report.csv"
    with pytest.raises(UsageError) as refused:
        ReportLock.take(report, holder=ME)
    assert str(refused.value) == (
        f"cannot write the report's folder {tmp_path}: No space left on device; free space on "
        "its disk, or pass another --report"
    )
    assert not lock_path(report).exists()


_HOLD_AND_FORK = """
import os, sys, time
from pathlib import Path
from bulk_import.output.lock import Holder, ReportLock
ReportLock.take(Path(sys.argv[1]), holder=Holder(pid=os.getpid(), command="validate big.csv"))
child = os.fork()
if child == 0:  # a parse worker: outlives its parent
    time.sleep(30)
    os._exit(0)
print(child, flush=True)
os._exit(0)  # the holder dies without releasing, as a SIGKILL leaves it
"""


def test_a_child_forked_by_the_holder_does_not_keep_the_report_locked(tmp_path: Path) -> None:
    """The holder forks a child and dies: the child, still alive, does not hold the lock (it
    closed its copy at the fork), so the next command takes the report at once."""
    report = tmp_path / "big.validate.csv"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_FORK, str(report)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    orphan = int(holder.stdout.readline())  # not communicate(): the child holds the pipe
    holder.stdout.close()
    assert holder.wait(timeout=30) == 0
    try:
        os.kill(orphan, 0)  # the child is still alive
        held = ReportLock.take(report, holder=ME)
        held.release()
    finally:
        os.kill(orphan, 9)


def test_a_report_through_a_symlink_has_the_lock_file_of_its_real_path(tmp_path: Path) -> None:
    """cron's current.csv -> fleet.report.csv: both names share fleet.report.csv.lock."""
    real = tmp_path / "fleet.report.csv"
    link = tmp_path / "current.csv"
    link.symlink_to(real)  # before the report exists too
    assert lock_path(link) == lock_path(real) == tmp_path / "fleet.report.csv.lock"
