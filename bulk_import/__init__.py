"""Import phone numbers into Cartesia's voice-agent platform in bulk.

The ``bulk-import`` command line, and under it this Python API (SPEC "From Python"; the
README's "From Python" shows it in a notebook)::

    import bulk_import
    result = bulk_import.validate(frame, provider_id="prov_123")       # a DataFrame, a path, ...
    result = bulk_import.run(frame, provider_id="prov_123", agent_id="agent_123")
    result.report      # a DataFrame: one row per input row, every cell a str
    result.summary     # the summary JSON's dict; result.exit_code, result.ok

:func:`validate`, :func:`run`, :func:`retry_patch`, :func:`reconcile` and :func:`rollback`,
each with an ``async`` twin (:func:`run_async`, ...), take their source first and the CLI's
options as keyword-only arguments, and return a :class:`Result`. The names are loaded when
first used (:mod:`bulk_import.library`): ``import bulk_import`` imports neither pandas nor
httpx, so that ``bulk-import --help`` starts fast.

Data flows one way: ``sources`` (files, stdin, a ``twilio:`` account listed through
``api.twilio``, rows given in memory) -> ``normalize`` -> ``jobs`` (the engine and one handler
per command) -> ``api`` (httpx, tenacity, the limiter) -> ``output`` (the report and its
journal, the summary, the progress bar) -> the exit code (``cli``), or a ``Result``
(``library``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what the type checker sees; at run time __getattr__ loads them
    from bulk_import.errors import BulkImportError, BulkImportWarning, InputError, UsageError
    from bulk_import.library.calls import (
        reconcile,
        reconcile_async,
        retry_patch,
        retry_patch_async,
        rollback,
        rollback_async,
        run,
        run_async,
        validate,
        validate_async,
    )
    from bulk_import.library.result import Interrupted, Result, SummaryJson

#: Each public name and the module it is loaded from, when first used.
_LAZY = {
    "validate": "bulk_import.library.calls",
    "validate_async": "bulk_import.library.calls",
    "run": "bulk_import.library.calls",
    "run_async": "bulk_import.library.calls",
    "retry_patch": "bulk_import.library.calls",
    "retry_patch_async": "bulk_import.library.calls",
    "reconcile": "bulk_import.library.calls",
    "reconcile_async": "bulk_import.library.calls",
    "rollback": "bulk_import.library.calls",
    "rollback_async": "bulk_import.library.calls",
    "Result": "bulk_import.library.result",
    "SummaryJson": "bulk_import.library.result",
    "Interrupted": "bulk_import.library.result",
    "BulkImportError": "bulk_import.errors",
    "BulkImportWarning": "bulk_import.errors",
    "UsageError": "bulk_import.errors",
    "InputError": "bulk_import.errors",
}

__all__ = [
    "BulkImportError",
    "BulkImportWarning",
    "InputError",
    "Interrupted",
    "Result",
    "SummaryJson",
    "UsageError",
    "__version__",
    "reconcile",
    "reconcile_async",
    "retry_patch",
    "retry_patch_async",
    "rollback",
    "rollback_async",
    "run",
    "run_async",
    "validate",
    "validate_async",
]


def __getattr__(name: str) -> object:
    """Load a public name of the API from its module when it is first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bulk_import' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # loaded once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
