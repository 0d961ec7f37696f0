"""The ``bulk-import`` command line: options in, one call into the library, exit code out.

The CLI only turns options into the frozen config of :mod:`bulk_import.config`
(:mod:`bulk_import.cli.options`), calls one function of the jobs
(:mod:`bulk_import.cli.commands`), and turns :class:`~bulk_import.errors.BulkImportError` into
one line on stderr and its exit code.
"""

from bulk_import.cli import providers as _providers  # noqa: F401 - registers the providers group
from bulk_import.cli import rollback as _rollback  # noqa: F401  # registers the command
from bulk_import.cli.commands import entry, main

__all__ = ["entry", "main"]
