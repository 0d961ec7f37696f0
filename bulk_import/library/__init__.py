"""The Python API: ``bulk_import.validate``, ``run``, ... over the same engine as the CLI.

``calls`` (the functions, sync and async), ``options`` (keyword options -> the frozen config
of :mod:`bulk_import.config`, with the CLI's defaults and checks), ``twilio`` (a ``twilio:``
INPUT's options, shared with the CLI), ``result`` (:class:`Result`, :class:`SummaryJson`,
:class:`Interrupted`) and ``report`` (the report as a DataFrame, and a DataFrame back as a
report). Options are named as their caller writes them by :mod:`bulk_import.naming`. The
package's top level re-exports the public names lazily: ``import bulk_import`` imports none
of this.
"""
