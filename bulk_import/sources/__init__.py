"""Turn an input (CSV, TSV, TXT, XLSX, XLS, ODS, stdin or ``twilio:``) into rows of text.

A source yields :class:`~bulk_import.models.RawRow` (every cell as text, with the row number a
person sees) and knows nothing of phone-number rules, the API or the report. Every cell comes
out as text (``NA`` stays ``NA``), stripped, with the spreadsheet's row numbers: the header is
found among the first rows (usually row 1, so the first data row is row 2), blank rows still
count but are not yielded. Every reason to refuse the file is found by :func:`open_input`,
before a row is read, and raised as one :class:`~bulk_import.errors.InputError` line that names
the file and the fix. For that, a text file is read three times, streaming each time: its bytes
(the encoding), its records (the header, a quote never closed, which the csv module only
notices at its field limit, maybe a million rows in, and the count of data rows: about 0.1 s
for a million rows), then the rows themselves when the source is iterated. A record the csv
module accepts but a person would not (more cells than the header, a line swallowed by an open
quote) comes out with :attr:`~bulk_import.models.RawRow.problem` set, never silently.

The modules, one job each: :mod:`.files` (paths, stdin, the choice of reader), :mod:`.text`
(encoding, delimiter, csv records), :mod:`.sheets` (python-calamine), :mod:`.header` (the
aliases and the mapping of columns), :mod:`.source` (:class:`InputSource` and the row loop),
:mod:`.twilio` (what a ``twilio:`` INPUT names, and a listed account's numbers as rows; the
listing itself is read by ``bulk_import.api.twilio``). Both kinds are a :class:`Source`.

Why these libraries:

- CSV goes through the standard library's ``csv`` module over a decoded text stream, not
  pandas. It streams (memory stays flat for a million rows), never turns ``NA`` or ``null``
  into a missing value, keeps ragged rows as they are, and yields one record per spreadsheet
  row *including blank lines*, so counting records gives the row number a spreadsheet shows
  even when a quoted cell spans lines. ``pandas.read_csv`` drops blank lines by default and
  hands back a DataFrame index, so row numbers would have to be rebuilt; and it is slower
  here: on a million-row file, 0.5-0.7 µs a record for ``csv`` against 1.1-2.5 µs for
  ``read_csv(dtype=str, keep_default_na=False, chunksize=...)`` turned back into Python rows.
- Spreadsheets go through ``python_calamine`` directly, not ``pandas.read_excel``: its
  ``iter_rows`` starts at the sheet's row 1 even when the used area starts lower (checked by
  the tests), where ``read_excel`` takes row 1 as the header even when it is blank; numbers
  come back as floats and are written back as their digits here.
- The encoding is decided from the bytes before parsing, in 1 MiB blocks: a BOM (UTF-8,
  UTF-16 LE/BE), else UTF-8 if every block decodes, else CP-1252 unless a byte it leaves
  undefined appears, else Latin-1, which decodes anything. stdin is spooled to a temporary
  file first (in memory while small) so that it can be read twice like a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from bulk_import.models import RawRow
from bulk_import.sources.files import ACCEPTED_EXTENSIONS, open_input
from bulk_import.sources.header import (
    HEADER_SCAN_ROWS,
    LABEL_ALIASES,
    NUMBER_ALIASES,
    Columns,
    header_key,
)
from bulk_import.sources.source import PROBLEM_EXTRA_CELLS, PROBLEM_SWALLOWED, InputSource
from bulk_import.sources.twilio import TwilioSource


class Source(Protocol):
    """Say what the jobs use of an opened input: its name, its row count, its rows, close."""

    @property
    def name(self) -> str:
        """Return the input's name for messages (a path, ``-``, ``twilio:AC...``)."""
        ...  # pragma: no cover - a protocol

    @property
    def count(self) -> int:
        """Return the number of data rows the input held when it was opened."""
        ...  # pragma: no cover - a protocol

    def __iter__(self) -> Iterator[RawRow]:
        """Yield the data rows from the start, each time it is called."""
        ...  # pragma: no cover - a protocol

    def close(self) -> None:
        """Release what the source holds."""
        ...  # pragma: no cover - a protocol


class Given(Protocol):
    """Say what the jobs use of rows given in memory (a library call's DataFrame, dicts or
    number strings, :mod:`bulk_import.sources.frame`): a name, and how to open them as a file."""

    @property
    def name(self) -> str:
        """Return what messages and the summary call the rows (``<DataFrame>``, ...)."""
        ...  # pragma: no cover - a protocol

    def open(self, *, sheet: str | None, columns: Columns) -> InputSource:
        """Return the rows as an opened input, read by the file rules; raise InputError or
        UsageError (exit 2) as :func:`open_input` does."""
        ...  # pragma: no cover - a protocol


__all__ = [
    "ACCEPTED_EXTENSIONS",
    "HEADER_SCAN_ROWS",
    "LABEL_ALIASES",
    "NUMBER_ALIASES",
    "PROBLEM_EXTRA_CELLS",
    "PROBLEM_SWALLOWED",
    "Given",
    "InputSource",
    "Source",
    "TwilioSource",
    "header_key",
    "open_input",
]
