"""The exceptions a person meets: each is one line on stderr with its exit code, never a traceback.

::

    BulkImportError            anything the tool reports as one line
    ├── UsageError             bad options or environment (no API key, bad base URL): exit 2
    ├── InputError             the input cannot be used (missing, empty, no number column): exit 2
    └── WriteError             a file it writes cannot be written (disk full, read-only): exit 3
    InternalError              a bug ended a command; says what was kept for the next run: exit 4
    BulkImportWarning          a UserWarning: what the CLI says as a ``warning:`` line, to Python

``UsageError`` and ``InputError`` are ``ValueError`` s too: from Python (:mod:`bulk_import.library`)
a bad option or an unusable source is what ``except ValueError`` expects.

Stops during a run (401/403, an unreachable API, too many failures, Ctrl-C) are not exceptions:
they end the run with every row accounted for, and the summary carries the exit code (3 or 130);
a :class:`WriteError` during a run becomes such a stop.
A few exceptions stay inside the module that raises them and never reach a person as such
(``api.retry.RetryableAnswer``, ``api.listing.ListingError``, the sandbox's rejections).
"""

from __future__ import annotations

import errno


class BulkImportError(Exception):
    """Report a problem a person can act on, as one line."""

    exit_code = 2


class BulkImportWarning(UserWarning):
    """Warn a Python caller of what the CLI prints as a ``warning:`` line (a number a
    spreadsheet may have rounded), through :mod:`warnings`: a library prints nothing itself."""


class UsageError(BulkImportError, ValueError):
    """Reject options or environment that cannot work (exit 2, nothing sent)."""


class InputError(BulkImportError, ValueError):
    """Reject an input file that cannot be read as rows of phone numbers (exit 2, nothing sent)."""


class WriteError(BulkImportError):
    """Say that a file the command writes could not be written: which file, why, and the fix.

    Raised by the output layer (the journal, the report, the summary, the run page); the engine
    turns it into a stop (exit 3) that keeps what was written. ``then`` says what to do once
    the disk is mended (``run the same command again``); without it, the fix offers ``instead``.
    """

    exit_code = 3

    def __init__(
        self,
        path: object,
        cause: OSError,
        *,
        what: str = "",
        then: str = "",
        instead: str = "pass another path",
    ) -> None:
        self.path = str(path)
        self.reason = cause.strerror or str(cause)
        self.errno = cause.errno
        named = f"the {what} {self.path}" if what else self.path
        remedy = _REMEDIES.get(cause.errno or 0, "check the disk")
        advice = f"{remedy}, then {then}" if then else f"{remedy}, or {instead}"
        super().__init__(f"cannot write {named}: {self.reason}; {advice}")


_REMEDIES = {
    errno.ENOSPC: "free space on its disk",
    errno.EDQUOT: "free space on its disk",
    errno.EROFS: "its file system is read-only: make it writable",
    errno.EACCES: "let this user write to its folder",
    errno.EPERM: "let this user write to its folder",
    errno.ENOENT: "its folder does not exist",
    errno.EISDIR: "it names a folder",
}


class InternalError(Exception):
    """Carry a bug that ended a command, with what was kept for the next run to finish (exit 4)."""

    exit_code = 4

    def __init__(self, cause: BaseException, kept: str) -> None:
        self.cause = cause
        self.kept = kept
        super().__init__(f"{type(cause).__name__}: {cause} ({kept})")
