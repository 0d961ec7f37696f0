"""Import phone numbers into Cartesia's voice-agent platform in bulk.

The library behind the ``bulk-import`` command: :func:`bulk_import.importer.validate`,
:func:`bulk_import.importer.run`, :func:`bulk_import.patch.retry_patch` and
:func:`bulk_import.reconcile.reconcile`, each taking the frozen options of
:mod:`bulk_import.config` and returning a :class:`bulk_import.models.Summary`.
"""

__version__ = "0.1.0"
