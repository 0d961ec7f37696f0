"""The exceptions a person meets: each is one line on stderr and exit 2, never a traceback.

::

    BulkImportError            anything the tool reports as one line
    ├── UsageError             bad options or environment (no API key, bad base URL): exit 2
    └── InputError             the input cannot be used (missing, empty, no number column): exit 2

Stops during a run (401/403, an unreachable API, too many failures, Ctrl-C) are not exceptions:
they end the run with every row accounted for, and the summary carries the exit code (3 or 130).
A few exceptions stay inside the module that raises them and never reach a person as such
(``api.retry.RetryableAnswer``, ``api.listing.ListingError``, the sandbox's rejections).
"""

from __future__ import annotations


class BulkImportError(Exception):
    """Report a problem a person can act on, as one line."""

    exit_code = 2


class UsageError(BulkImportError):
    """Reject options or environment that cannot work (exit 2, nothing sent)."""


class InputError(BulkImportError):
    """Reject an input file that cannot be read as rows of phone numbers (exit 2, nothing sent)."""
