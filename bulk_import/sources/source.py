"""Hold an opened input and yield its data rows: :class:`InputSource` and the row loop."""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager

from bulk_import.cells import clean
from bulk_import.errors import InputError
from bulk_import.models import RawRow
from bulk_import.sources.header import find_header, map_columns

__all__ = ["InputSource", "Record", "Records", "build_source", "raw_rows"]

Record = list[str]
#: Opens the input's records from the start, each time it is called.
Records = Callable[[], AbstractContextManager[Iterator[Record]]]


class InputSource:
    """Name an opened input and yield its data rows as :class:`RawRow` when iterated.

    ``columns`` are the header cells as read. Iterating again reads the input again from the
    start. :func:`~bulk_import.sources.open_input` has already checked everything that can be
    checked up front.
    """

    def __init__(
        self,
        *,
        name: str,
        columns: list[str],
        header_row: int,
        indexes: Sequence[int | None],
        records: Records,
        closer: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.columns = columns
        self._header_row = header_row
        self._indexes = tuple(indexes)
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
        return f"InputSource(name={self.name!r}, columns={self.columns!r})"

    def __iter__(self) -> Iterator[RawRow]:
        with self._records() as records:
            # Skip the header and the blank rows above it: they are numbered, not yielded.
            for _ in zip(range(self._header_row), records, strict=False):
                pass
            yield from raw_rows(records, self._header_row + 1, self._indexes)


def raw_rows(
    records: Iterator[Record], first_row: int, indexes: Sequence[int | None]
) -> Iterator[RawRow]:
    """Yield a RawRow per non-blank record; this loop is the reader's per-row cost.

    ``indexes`` holds a column index (or None) per RawRow text field, then the index of a
    report's ``input_number`` column, the number's fallback when the ``number`` cell is empty.
    """
    *fields, fallback = indexes
    present = tuple((field, col) for field, col in enumerate(fields) if col is not None)
    blank = [""] * len(fields)
    make = RawRow
    for row, record in enumerate(records, first_row):
        width = len(record)
        values = blank[:]
        for field, col in present:
            if col < width:
                values[field] = clean(record[col])
        if not values[0]:
            if fallback is not None and fallback < width:
                # An invalid row of a report has no E.164 number: read what was typed instead,
                # so that running the report again gives the same reason, not "empty".
                values[0] = clean(record[fallback])
            if not any(cell.strip() for cell in record):
                continue  # a completely blank row keeps its number but is not a data row
        yield make(row, *values)


def build_source(
    records: Records,
    *,
    name: str,
    number_column: str | None,
    label_column: str | None,
    closer: Callable[[], None] | None = None,
    where: str = "",
    read_all: bool = True,
) -> InputSource:
    """Find the header in the records and build the source, or say why the file is unusable.

    With ``read_all``, the rest of the records are parsed too (about half a microsecond a
    row), so that a quote opened and never closed is refused here, before any row is used.
    """
    with records() as rows:
        header_row, header = find_header(rows)
        if read_all:
            deque(rows, maxlen=0)
    if header is None:
        raise InputError(
            f"{name}{where} is empty: it has no header row; add one naming a number column"
        )
    indexes = map_columns(
        header, name=name + where, number_column=number_column, label_column=label_column
    )
    return InputSource(
        name=name,
        columns=header,
        header_row=header_row,
        indexes=indexes,
        records=records,
        closer=closer,
    )
