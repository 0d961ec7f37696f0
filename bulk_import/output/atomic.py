"""Write a file so that its path holds the old version or the whole new one, owner-readable only."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bulk_import.errors import UsageError


@contextlib.contextmanager
def private_replacement(path: Path, *, what: str) -> Iterator[Path]:
    """Yield a new mode-0600 temporary file beside ``path``; move it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left as it was. An
    ``OSError`` (no such folder, no space, permission) becomes one :class:`UsageError` line
    naming ``what`` (``"run page"``, ``"workbook"``) and the path.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(what, path, exc) from None
    tmp = Path(name)
    try:
        try:
            # 0600 stays with the inode, so it holds for a writer that reopens the file by name.
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        yield tmp
        with tmp.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(what, path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cannot_write(what: str, path: Path, exc: OSError) -> UsageError:
    reason = exc.strerror or str(exc)
    return UsageError(
        f"cannot write the {what} {path}: {reason}; pass a path in a folder you can write to"
    )
