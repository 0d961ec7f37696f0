"""Read rows given in memory as a file is read: a pandas DataFrame, dicts, or number strings.

A library call (:mod:`bulk_import.library`) may take its rows from memory instead of a file.
They are read by the file rules, through :func:`~bulk_import.sources.source.build_source`:
the same header aliases and column options, the same checks, every cell as text. A float
cell (what pandas makes of a numeric column, ``1.4155552671e10``) is written as its digits, as
a numeric Excel cell is (:func:`~bulk_import.sources.sheets.sheet_text`); NaN, None,
``pd.NA`` and ``NaT`` are blank; the text ``NA`` stays ``NA``. Rows are numbered as a
spreadsheet numbers them: the header (the column names, or the dicts' keys) is row 1 and the
first row row 2, by position (a DataFrame's index does not count, nor is it read: a refusal
for want of a column names a named index, ``set_index("number")``'s). A whole float that looks
rounded by a spreadsheet (``447911000000``) is warned of, as a sheet's numeric cell is.

- a DataFrame: its column names are the header;
- dicts: their keys, in the order first seen, are the header; a key a dict lacks is a blank;
- number strings (any other iterable: a list, a Series): one column, ``number``.

pandas is only looked up, never imported here: whoever made a DataFrame has imported it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Final

from bulk_import.errors import InputError, UsageError
from bulk_import.sources.header import Columns
from bulk_import.sources.sheets import rounded_cells, rounded_warning, sheet_text
from bulk_import.sources.source import InputSource, Record, RecordStream, build_source

__all__ = ["GivenRows", "cell_texts", "given_rows"]

#: What the summary and messages call each kind of rows given in memory.
FRAME: Final = "<DataFrame>"
DICTS: Final = "<dicts>"
NUMBERS: Final = "<numbers>"
#: The one column of rows given as number strings.
NUMBER_COLUMN: Final = "number"
SOURCE_KINDS: Final = (
    "a path (str or os.PathLike), a pandas DataFrame, or an iterable of dicts or of number strings"
)


class GivenRows:
    """Hold rows given in memory as columns of text, and open them as a file is opened.

    ``header`` names the columns; ``columns`` holds each column's cells as text, every column
    as long as the others.
    """

    def __init__(
        self,
        *,
        name: str,
        header: list[str],
        columns: list[list[str]],
        values: Sequence[Sequence[object]] = (),
        index: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.header = header
        self.columns = columns
        #: Each column's values as given (floats and all), for the rounded-number warning.
        self.values = values
        #: The names of a frame's named index, never read (a frame's rows count by position).
        self.index = tuple(index)

    def __repr__(self) -> str:
        rows = len(self.columns[0]) if self.columns else 0
        return f"GivenRows(name={self.name!r}, header={self.header!r}, rows={rows})"

    def open(self, *, sheet: str | None, columns: Columns) -> InputSource:
        """Return the rows as an opened input; raise UsageError or InputError (exit 2).

        The header is row 1, never looked for further down (a data row holding ``phone`` is
        never taken for it); ``no_header`` makes every row data (then row 1 is the first),
        the columns named by letter or number as in a file.
        """
        if sheet is not None:
            raise UsageError(f"sheet= is for a spreadsheet file, not {self.name}; drop it")
        if columns.header_row is not None:
            raise UsageError(
                f"header_row= is for a file: the header of {self.name} is its column names "
                "(or no_header=True); drop it"
            )
        if not columns.no_header:
            columns = dataclasses.replace(columns, header_row=1)
        header = None if columns.no_header else self.header

        def records() -> AbstractContextManager[RecordStream]:
            return nullcontext(RecordStream(self._records(header)))

        try:
            source = build_source(records, name=self.name, columns=columns)
        except InputError as exc:
            if not self.index:
                raise
            # set_index("number") moved the numbers out of the columns: say where they went.
            raise InputError(
                f"{exc}; its index ({', '.join(self.index)}) is not read as a column: pass "
                "frame.reset_index()"
            ) from None
        index = source.number_index
        if index is not None and index < len(self.values):
            # A float the number column holds may have been rounded by a spreadsheet before
            # pandas read it (447911000000 from 4.48E+11): said as a sheet's numeric cells are.
            above: list[list[object]] = [[None]] if header is not None else []
            rows = itertools.chain(above, ([value] for value in self.values[index]))
            rounded = rounded_cells(rows, 0, after=len(above))
            if rounded:
                source.warnings.append(rounded_warning(self.name, rounded))
        return source

    def _records(self, header: list[str] | None) -> Iterator[Record]:
        if header is not None:
            yield list(header)
        yield from map(list, zip(*self.columns, strict=True))


def given_rows(data: object) -> GivenRows | None:
    """Return rows given in memory as :class:`GivenRows`, or None for a path (str, PathLike).

    Raise :class:`UsageError` (a ValueError) for what is neither.
    """
    if isinstance(data, str | os.PathLike):
        return None
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return _frame(data)
    if isinstance(data, bytes | bytearray | Mapping) or not isinstance(data, Iterable):
        raise UsageError(f"source must be {SOURCE_KINDS}, not {type(data).__name__}")
    rows = list(data)
    mappings = sum(isinstance(row, Mapping) for row in rows)
    if mappings and mappings != len(rows):
        raise UsageError(
            "source mixes dicts and other values; pass dicts only (one per row) or number "
            "strings only"
        )
    if mappings:
        return _dicts(rows)
    _check_numbers(rows)
    return GivenRows(
        name=NUMBERS, header=[NUMBER_COLUMN], columns=[cell_texts(rows)], values=[rows]
    )


def _check_numbers(rows: list[object]) -> None:
    """Refuse an item that is not a number string, a number or a blank (None, NaN, ``pd.NA``).

    A tuple (``zip(numbers, labels)``, ``frame.itertuples()``) or bytes would otherwise be
    written as text (``"('+1…', 'a')"``) and every row found invalid.
    """
    for position, item in enumerate(rows):
        if item is None or isinstance(item, str) or _blank(item):
            continue
        if isinstance(item, numbers.Number) and not isinstance(item, bool):
            continue
        raise UsageError(
            f"source item {position} is a {type(item).__name__}, not a number string: pass "
            "number strings (or numbers) only, or dicts (one per row, e.g. "
            "[{'number': n, 'label': l} for n, l in pairs]), or a DataFrame"
        )


def _frame(frame: object) -> GivenRows:
    """Return a DataFrame's columns as text."""
    import pandas as pd  # already imported: the caller made a DataFrame

    assert isinstance(frame, pd.DataFrame)
    header = [_text(name) for name in frame.columns]
    values = [list(frame.iloc[:, i].to_numpy(dtype=object)) for i in range(frame.shape[1])]
    columns = [cell_texts(column) for column in values]
    index = [_text(name) for name in frame.index.names if name is not None]
    return GivenRows(name=FRAME, header=header, columns=columns, values=values, index=index)


def _dicts(rows: list[Mapping[object, object]]) -> GivenRows:
    """Return dicts as columns: their keys, in the order first seen, are the header."""
    keys: dict[object, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    header = [_text(key) for key in keys]
    values = [[row.get(key) for row in rows] for key in keys]
    columns = [cell_texts(column) for column in values]
    return GivenRows(name=DICTS, header=header, columns=columns, values=values)


def cell_texts(values: Iterable[object]) -> list[str]:
    """Return each value as the text a file's cell would hold (the common case: a str)."""
    return [value if type(value) is str else _text(value) for value in values]


def _text(value: object) -> str:
    """Return one value as text: blank for None and every NA, a float's digits when whole."""
    if value is None or _blank(value):
        return ""
    return sheet_text(value)


def _blank(value: object) -> bool:
    """Say whether a value is pandas' or numpy's missing value: NaN, ``pd.NA``, ``NaT``."""
    if isinstance(value, float) and math.isnan(value):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)
