"""Create the files a run leaves behind: private (mode 0600), replaced atomically, durable.

A report lists a company's phone estate; the summary and the run page describe it. Every file
is made by the owner for the owner only, whatever the umask, and replaces the old one in one
step (temporary file beside it, fsync, rename, fsync of the folder), so a reader or a crash
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bulk_import.errors import UsageError, WriteError

#: ``-`` as an output path: standard output (as ``-`` as INPUT is standard input).
STDOUT = Path("-")
#: A temporary file of the summary JSON or the run page older than this is a killed writer's
#: (writing one takes a second at most): the next write of that file deletes it.
STALE_AFTER_S = 600.0


def is_stdout(path: Path | None) -> bool:
    """Say whether an output path is ``-``: standard output."""
    return path == STDOUT


def to_stdout(data: bytes) -> None:
    """Write ``data`` to standard output and flush it."""
    stream = sys.stdout.buffer
    stream.write(data)
    stream.flush()


def open_private(path: Path) -> tuple[IO[bytes], Path]:
    """Create a new 0600 temporary file beside ``path``; return it and its name."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb"), Path(name)


def write_all(fd: int, data: bytes | bytearray) -> None:
    """Write all of ``data`` to the file descriptor ``fd`` (a short write is carried on).

    The views are released on the way out, even by an exception: the caller may then resize
    ``data`` (a journal clears its pending bytes after a failed write).
    """
    done = 0
    with memoryview(data) as whole:
        while done < len(whole):
            with whole[done:] as rest:
                done += os.write(fd, rest)


def sync_folder(path: Path) -> None:
    """Make a rename in ``path``'s folder durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def discard(tmp: IO[bytes], tmp_path: Path) -> None:
    """Close and delete a temporary file that will not be used, whatever state it is in.

    Closing flushes what the file still buffers, which fails again on a full disk: that error
    must not keep the file from being deleted.
    """
    with contextlib.suppress(OSError):
        tmp.close()
    with contextlib.suppress(OSError):
        tmp_path.unlink(missing_ok=True)


def replace_with(tmp: IO[bytes], tmp_path: Path, path: Path) -> None:
    """Make ``tmp`` durable and move it over ``path`` in one step."""
    tmp.flush()
    os.fsync(tmp.fileno())
    tmp.close()
    os.replace(tmp_path, path)
    sync_folder(path)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    remove_stale_temporaries(path, older_than_s=STALE_AFTER_S)
    tmp, tmp_path = open_private(path)
    try:
        tmp.write(data)
        replace_with(tmp, tmp_path, path)
    except BaseException:
        discard(tmp, tmp_path)
        raise


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    write_private(path, text.encode())


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` atomically, readable by the owner only (``-``: stdout)."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    if is_stdout(path):
        to_stdout(text.encode())
    else:
        write_private_text(path, text)


@contextlib.contextmanager
def private_replacement(path: Path, *, what: str) -> Iterator[Path]:
    """Yield a new 0600 temporary file's path beside ``path``; move it over ``path`` on success.

    For writers that want a path rather than a file (a workbook library, a text writer). On an
    exception the temporary file is removed and ``path`` is left as it was. An ``OSError`` (no
    such folder, no space, permission) becomes one :class:`WriteError` line naming ``what``
    (``"run page"``, ``"workbook"``), the path and the fix.
    """
    remove_stale_temporaries(path, older_than_s=STALE_AFTER_S)
    try:
        tmp, tmp_path = open_private(path)
    except OSError as exc:
        raise WriteError(path, exc, what=what) from None
    tmp.close()  # 0600 stays with the inode, for a writer that reopens the file by name
    try:
        yield tmp_path
        with tmp_path.open("rb+") as written:
            replace_with(written, tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)
        raise WriteError(path, exc, what=what) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)
        raise


def check_writable(path: Path, *, what: str) -> None:
    """Refuse (exit 2) an output path whose folder this process cannot write, before any work.

    The report's own folder is checked by taking its lock (:mod:`bulk_import.output.lock`);
    this is for the files written at the end (the summary JSON, the run page).
    """
    folder = path.parent
    if os.access(folder, os.W_OK):
        return
    read_only = False
    with contextlib.suppress(OSError):
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    code = errno.EROFS if read_only else errno.EACCES
    raise UsageError(str(WriteError(path, OSError(code, os.strerror(code)), what=what)))


def remove_stale_temporaries(path: Path, *, older_than_s: float = 0.0) -> None:
    """Delete temporary files a killed run left beside ``path`` (``.<name>.*.tmp``).

    ``older_than_s`` spares those younger than that: another command may be writing the same
    file this moment (two cron lines sharing one ``--summary-json``), which no lock covers.
    """
    oldest = time.time() - older_than_s
    with contextlib.suppress(OSError):
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                if not older_than_s or stale.stat().st_mtime < oldest:
                    stale.unlink(missing_ok=True)
