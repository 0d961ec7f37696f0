"""Hold a report for one command at a time: an OS lock on ``<report>.lock`` beside it.

Two commands writing one report (cron starting tonight's run while last night's still runs; two
people) would each journal beside it and replace each other's work. So every command that
writes a report takes an exclusive ``flock`` on the lock file first, before it reads or sends
anything, and holds it to its last byte of output. A second command is refused at once, with
the line of facts (pid, command, start time, host) the holder wrote into the file.

The kernel drops a ``flock`` when its process ends, however it ends (SIGKILL included), so
there is never a stale lock to delete by hand: a file left by a killed holder is simply locked
again by the next command. The holder deletes the file when it is done, while still holding
it; whoever opened the old file meanwhile sees that it no longer has the path's inode, and
starts over on a new file.

Commands that read another command's report (``retry-patch REPORT --report OTHER``) ask
:func:`refuse_if_held` first: a report whose writer is alive is half-written.

The lock file is named after the report's real path (symlinks resolved): a report reached
through a symlink (cron's ``current.csv``) is the same report to the lock as its real name.
A ``flock`` belongs to the open file, which a forked child shares: a child that outlived this
process (a parse worker orphaned by a SIGKILL) would hold the lock for ever. So a forked child
closes its copies of the lock files at once (closing a copy does not drop the parent's lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bulk_import.errors import UsageError, WriteError
from bulk_import.output.files import write_all

#: A holder writes its line just after it takes the lock; a refused command waits this long
#: for the line (or for a reader's shared lock to go) before it names what it found.
SETTLE_S = 0.2
_STEP_S = 0.02
#: The lock files this process holds open: a forked child closes its copies (see the module).
_HELD: set[int] = set()


def _close_in_child() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def lock_path(report: Path) -> Path:
    """Return the lock file's path beside the report's real path: ``<report>.lock``."""
    real = Path(os.path.realpath(report))
    return real.with_name(real.name + ".lock")


@dataclass(frozen=True, slots=True)
class Holder:
    """Describe the process that holds a report: what it wrote into the lock file."""

    pid: int | None = None
    command: str = ""
    started_at: str = ""
    host: str = ""

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """Return the holder a lock file's text describes, or None if it describes none."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        pid = data.get("pid")
        return cls(
            pid=pid if isinstance(pid, int) else None,
            command=str(data.get("command", "")),
            started_at=str(data.get("started_at", "")),
            host=str(data.get("host", "")),
        )

    def line(self) -> str:
        """Return the holder's facts as the lock file holds them: one JSON line."""
        facts = {
            "pid": self.pid,
            "command": self.command,
            "started_at": self.started_at,
            "host": self.host,
        }
        return json.dumps(facts) + "\n"

    def describe(self) -> str:
        """Say who this is, for a person: ``pid 123, `run in.csv`, started ...``."""
        words = [f"pid {self.pid}" if self.pid is not None else "pid unknown"]
        if self.command:
            words.append(f"`{self.command}`")
        if self.started_at:
            words.append(f"started {self.started_at}")
        if self.host and self.host != socket.gethostname():
            words.append(f"on {self.host}")
        return ", ".join(words)

    def alive(self) -> bool:
        """Say whether the holder may still be running (False only when surely gone)."""
        if self.pid is None or (self.host and self.host != socket.gethostname()):
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except OSError:  # it exists, and belongs to someone else
            return True
        return True


class ReportLock:
    """Hold a report's lock file for this process: :meth:`take` it, :meth:`release` it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, report: Path, *, holder: Holder) -> ReportLock:
        """Lock ``report`` for this process and write ``holder`` into the lock file.

        Raise :class:`UsageError` (exit 2) when another command holds it, naming that command,
        or when the lock file cannot be made (a folder that cannot be written, a full or
        read-only disk): the report could not be written either, and nothing is sent yet.
        """
        path = lock_path(report)
        deadline = time.monotonic() + SETTLE_S
        while True:
            fd = _open(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = _holder_of(fd)
                os.close(fd)
                # An empty file is a holder that has not written its line yet; a holder that is
                # gone is a reader's passing check. Both settle in moments: look again.
                if (other is None or not other.alive()) and time.monotonic() < deadline:
                    time.sleep(_STEP_S)
                    continue
                raise _in_use(report, other) from None
            if _names(path, fd):
                break
            # The holder before us deleted this file after we opened it: start on the new one.
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            write_all(fd, holder.line().encode())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)
            raise _cannot_write(path, exc) from None
        _HELD.add(fd)
        return cls(path, fd)

    def release(self) -> None:
        """Delete the lock file and drop the lock (the file first: see the module's note)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        _HELD.discard(self._fd)
        os.close(self._fd)
        self._fd = None


def refuse_if_held(report: Path, *, reading: str) -> None:
    """Refuse (exit 2) to read ``report`` while another command is writing it.

    ``reading`` names what the report is to this command ("REPORT"). A lock file nobody holds
    (left by a killed command) is no obstacle.
    """
    path = lock_path(report)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file (or not ours to read): nobody we can see is writing it
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _holder_of(fd)
            who = other.describe() if other is not None else "it is starting"
            raise UsageError(
                f"{reading} {report} is being written by another bulk-import ({who}): it is "
                "not complete yet; wait for that command to finish, then run this one again"
            ) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    """Open (or create, mode 0600) the lock file; a folder that refuses it is a UsageError."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise UsageError(f"cannot lock {path}: it is a directory; move it away") from None
        raise _cannot_write(path, exc) from None
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


def _names(path: Path, fd: int) -> bool:
    """Say whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _holder_of(fd: int) -> Holder | None:
    """Return what the lock file open as ``fd`` says about its holder (None: nothing yet)."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
    except OSError:
        return None
    return Holder.parse(text)


def _in_use(report: Path, other: Holder | None) -> UsageError:
    who = other.describe() if other is not None else "it is starting"
    return UsageError(
        f"{report} is in use by another bulk-import ({who}); wait for it to finish, "
        "or pass another --report"
    )


def _cannot_write(path: Path, exc: OSError) -> UsageError:
    """Say that the report's folder refuses its lock file: the report would fare no better."""
    return UsageError(
        str(WriteError(path.parent, exc, what="report's folder", instead="pass another --report"))
    )
