"""Import phone numbers into Cartesia's voice-agent platform in bulk.

The library behind the ``bulk-import`` command: :func:`bulk_import.jobs.validate.validate`,
:func:`bulk_import.jobs.importing.run`, :func:`bulk_import.jobs.patching.retry_patch`,
:func:`bulk_import.jobs.reconcile.reconcile` and :func:`bulk_import.jobs.rollback.rollback`, each
taking the frozen options of :mod:`bulk_import.config` and returning a
:class:`bulk_import.models.Summary`.

Data flows one way: ``sources`` (files, stdin, a ``twilio:`` account listed through
``api.twilio``) -> ``normalize`` -> ``jobs`` (the engine and one handler per command) -> ``api``
(httpx, tenacity, the limiter) -> ``output`` (the report and its journal, the summary, the
progress bar) -> the exit code (``cli``).
"""

__version__ = "0.1.0"
