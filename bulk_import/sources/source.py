"""Hold an opened input and yield its data rows: :class:`InputSource` and the row loop.

A text file's record is checked as it is read, because the csv module accepts what a person
would not: a record with more cells than the header (a ``,`` in an unquoted cell split it,
and the extra cells would be dropped), and a quoted cell that runs over a line end and
swallows what a person sees as the next row (a quote opened and never closed). Such a row is
yielded with :attr:`RawRow.problem` saying so, and the normaliser makes it ``invalid``.

The rule for a quoted cell holding a line break: it is a legitimate multi-line cell (a label
on two lines) unless a line inside it reads as a row of the file, that is, it holds the
delimiter (in a file of more than one column) and, where the number column is, a phone
number. Trailing empty cells (``a,b,,``, which spreadsheets export) are not extra cells.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import islice
from typing import Final, Protocol

from bulk_import.cells import clean
from bulk_import.errors import InputError
from bulk_import.models import RawRow
from bulk_import.sources.header import HEADER_SCAN_ROWS, Columns, Layout, find_layout
from bulk_import.sources.header import looks_like_phone as _looks_like_phone

__all__ = [
    "PROBLEM_EXTRA_CELLS",
    "PROBLEM_SWALLOWED",
    "InputSource",
    "LineCounter",
    "Record",
    "RecordStream",
    "Records",
    "build_source",
    "raw_rows",
]

#: The stable start of the reason a row with cells past the header's last column gets.
PROBLEM_EXTRA_CELLS: Final = "more cells than the header"
#: The stable start of the reason a row whose quoted cell swallowed another line gets.
PROBLEM_SWALLOWED: Final = "a quoted cell runs over a line end"

Record = list[str]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DELIMITER_NAMES: Final = {"\t": "a tab"}


class LineCounter(Protocol):
    """Count the physical lines read so far, as ``csv.reader`` does."""

    @property
    def line_num(self) -> int:
        """Return the number of lines read from the source so far."""
        ...  # pragma: no cover - a protocol


@dataclass(frozen=True, slots=True)
class RecordStream:
    """Carry an input's records, and for a text file its line counter and its delimiter."""

    rows: Iterator[Record]
    lines: LineCounter | None = None
    delimiter: str = ","


#: Opens the input's records from the start, each time it is called.
Records = Callable[[], AbstractContextManager[RecordStream]]


class InputSource:
    """Name an opened input and yield its data rows as :class:`RawRow` when iterated.

    ``columns`` are the header's cells as read (a headerless file's column letters),
    ``header_row`` its row (0: none), ``number_index`` the number column's index, ``count``
    the number of data rows the input held when it was opened (what a progress bar needs as
    its total), and ``warnings`` what is worth saying before its rows go. Iterating again reads the
    input again from the start. :func:`~bulk_import.sources.open_input` has already checked
    everything that can be checked up front.
    """

    def __init__(
        self,
        *,
        name: str,
        layout: Layout,
        count: int,
        records: Records,
        closer: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.columns = list(layout.columns)
        self.header_row = layout.header_row
        self.number_index = layout.indexes[0]
        self.count = count
        #: Lines worth saying before the rows go (numbers a spreadsheet may have rounded).
        self.warnings: list[str] = []
        self._layout = layout
        self._records = records
        self._finalizer = weakref.finalize(self, closer) if closer is not None else None

    def close(self) -> None:
        """Release what the source holds (the spooled copy of stdin)."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> InputSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InputSource(name={self.name!r}, columns={self.columns!r}, count={self.count})"

    def __iter__(self) -> Iterator[RawRow]:
        header_row = self._layout.header_row
        with self._records() as stream:
            # Skip the header and the rows above it: they are numbered, not yielded.
            for _ in zip(range(header_row), stream.rows, strict=False):
                pass
            yield from raw_rows(stream, header_row + 1, self._layout)


def raw_rows(stream: RecordStream, first_row: int, layout: Layout) -> Iterator[RawRow]:
    """Yield a RawRow per non-blank record; this loop is the reader's per-row cost."""
    *fields, fallback = layout.indexes
    present = tuple((field, col) for field, col in enumerate(fields) if col is not None)
    blank = [""] * (len(fields) + 1)  # the text fields, then the problem
    make = RawRow
    lines = stream.lines
    # Only a text file's records can be split wrongly: a sheet's cells are its cells.
    width = layout.width if lines is not None else None
    last = lines.line_num if lines is not None else 0
    for row, record in enumerate(stream.rows, first_row):
        problem = ""
        if lines is not None:
            now = lines.line_num
            if now - last > 1:  # the record spans lines: a quoted cell holds a line break
                problem = _swallowed(record, last + 1, stream.delimiter, layout)
            last = now
        size = len(record)
        if width is not None and size > width and not problem:
            problem = _extra_cells(record, width, stream.delimiter)
        values = blank[:]
        for field, col in present:
            if col < size:
                values[field] = clean(record[col])
        if not values[0]:
            if fallback is not None and fallback < size:
                # An invalid row of a report has no E.164 number: read what was typed instead,
                # so that running the report again gives the same reason, not "empty".
                values[0] = clean(record[fallback])
            if not any(cell.strip() for cell in record):
                continue  # a completely blank row keeps its number but is not a data row
        if problem:
            values[-1] = problem
        yield make(row, *values)


def _extra_cells(record: Record, width: int, delimiter: str) -> str:
    """Say why a record with filled cells past the header's last column is not read as is."""
    filled = max((i for i, cell in enumerate(record) if cell.strip()), default=-1) + 1
    if filled <= width:
        return ""  # trailing empty cells, as spreadsheets export them
    holds = _DELIMITER_NAMES.get(delimiter, f'"{delimiter}"')
    return (
        f"{PROBLEM_EXTRA_CELLS} ({filled} cells, {width} named): put a cell that holds "
        f"{holds} in double quotes, or name the extra column in the header"
    )


def _swallowed(record: Record, first_line: int, delimiter: str, layout: Layout) -> str:
    """Say which line a quoted cell swallowed, when a line inside it reads as a row."""
    number = layout.indexes[0] or 0
    line = first_line
    for cell in record:
        parts = _LINE_BREAK.split(cell)
        for offset, text in enumerate(parts[1:], 1):
            pieces = text.split(delimiter)
            if (len(pieces) > 1 or layout.width == 1) and number < len(pieces):
                candidate = pieces[number].strip().strip('"').strip()
                if _looks_like_phone(candidate):
                    return (
                        f"{PROBLEM_SWALLOWED} and swallows line {line + offset}, which looks "
                        f"like a row of its own: close the quote opened on line {line}"
                    )
        line += len(parts) - 1
    return ""


def _count(rows: Iterable[Record]) -> int:
    """Count the records that hold more than spaces (C-level maps: a million rows in 0.1 s)."""
    return sum(map(bool, map(str.strip, map("".join, rows))))


def build_source(
    records: Records,
    *,
    name: str,
    columns: Columns,
    closer: Callable[[], None] | None = None,
) -> InputSource:
    """Find the header in the records, count the data rows, or say why the input is unusable.

    Every record is read once here (about half a microsecond a row for a text file), so that
    a quote opened and never closed, or a header with nothing under it, is refused before any
    row is used, and so that the source knows its row count.
    """
    with records() as stream:
        head = list(islice(stream.rows, max(HEADER_SCAN_ROWS, columns.header_row or 0)))
        layout = find_layout(head, name=name, columns=columns)
        if layout is None:
            what = "rows" if columns.no_header else "header row; add one naming a number column"
            raise InputError(f"{name} is empty: it has no {what}")
        count = _count(head[layout.header_row :]) + _count(stream.rows)
    if not count:
        raise InputError(
            f"{name} has a header but no data rows: check that the export is complete "
            "(an input with no rows is refused, so that it never looks like an empty account)"
        )
    return InputSource(name=name, layout=layout, count=count, records=records, closer=closer)
