"""Read spreadsheets (.xlsx, .xls, .ods) with python-calamine: the sheet, its cells as text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import BinaryIO, Final

from bulk_import.errors import InputError
from bulk_import.naming import CLI, Naming
from bulk_import.sources.header import Columns
from bulk_import.sources.source import InputSource, RecordStream, build_source

__all__ = ["ROUNDED_ZEROS", "choose_sheet", "open_sheet", "rounded_cells", "sheet_text"]

# Excel keeps 15 significant digits: a bigger integral number has lost digits, so it is left
# in the float's own notation (1e+20) for the normaliser to reject as rounded.
_EXACT_INTEGER_LIMIT = 10**15
#: A numeric cell ending in this many zeros looks rounded: 447911000000, what 4.48E+11 typed
#: (or pasted) into a cell keeps. Still a valid number, so a warning, never a guess.
ROUNDED_ZEROS: Final = 6
_SHOWN = 5


def open_sheet(
    handle: BinaryIO,
    *,
    name: str,
    sheet: str | None,
    columns: Columns,
) -> InputSource:
    """Load the workbook, pick the sheet and build the source from its rows."""
    if not handle.read(1):
        raise InputError(f"{name} is empty: it has no header row; add one naming a number column")
    handle.seek(0)
    try:
        # Imported here: a CSV, --help and the other commands never load the spreadsheet reader.
        import python_calamine

        workbook = python_calamine.CalamineWorkbook.from_filelike(handle)
    except Exception as exc:  # calamine raises several kinds for a damaged file
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"cannot read {name} as a spreadsheet ({detail}); "
            "open it in a spreadsheet program and save it again, or export it as CSV"
        ) from None
    with workbook:
        names: list[str] = list(workbook.sheet_names)
        chosen = choose_sheet(names, sheet, name=name, naming=columns.naming)
        try:
            data = workbook.get_sheet_by_name(chosen)
        except Exception as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(
                f'cannot read sheet "{chosen}" of {name} ({detail}); '
                "open it in a spreadsheet program and save it again, or export it as CSV"
            ) from None

    def records() -> AbstractContextManager[RecordStream]:
        rows = ([sheet_text(cell) for cell in row] for row in data.iter_rows())
        return nullcontext(RecordStream(rows))

    # Every message names the sheet, even in a workbook of one: it is what a person looks for.
    source = build_source(records, name=f'{name}, sheet "{chosen}"', columns=columns)
    if source.number_index is not None:
        rounded = rounded_cells(data.iter_rows(), source.number_index, after=source.header_row)
        if rounded:
            source.warnings.append(rounded_warning(source.name, rounded))
    return source


def rounded_cells(
    rows: Iterable[Sequence[object]], column: int, *, after: int
) -> list[tuple[int, int]]:
    """Return (row, value) of each numeric cell of ``column`` below row ``after`` whose digits
    look rounded: a whole number of 7 digits or more ending in :data:`ROUNDED_ZEROS` zeros."""
    found = []
    for row, cells in enumerate(rows, 1):
        if row <= after or column >= len(cells):
            continue
        cell = cells[column]
        if isinstance(cell, float) and cell.is_integer() and abs(cell) < _EXACT_INTEGER_LIMIT:
            value = int(cell)
            if value and abs(value) >= 10**ROUNDED_ZEROS and not value % 10**ROUNDED_ZEROS:
                found.append((row, value))
    return found


def rounded_warning(name: str, found: list[tuple[int, int]]) -> str:
    """Say which numbers of a sheet look rounded, and what to check (one line)."""
    row, value = found[0]
    if len(found) == 1:
        return (
            f"warning: {name}: the number in row {row}, {value}, is a numeric cell ending in "
            f"{ROUNDED_ZEROS} or more zeros, as {value:.2E} typed into a cell would be: Excel may "
            "have rounded it; check it against its source, or format the number column as text "
            "and type it again"
        )
    shown = [str(number) for number, _ in found[:_SHOWN]]
    rest = len(found) - len(shown)
    if rest:
        listed = ", ".join(shown) + f" and {rest:,} more"
    else:
        listed = ", ".join(shown[:-1]) + f" and {shown[-1]}"
    return (
        f"warning: {name}: {len(found):,} numbers are numeric cells ending in {ROUNDED_ZEROS} or "
        f"more zeros (rows {listed}; row {row} holds {value}, shown as {value:.2E} in "
        "scientific notation): Excel may have rounded them; check them against their source, "
        "or format the number column as text and type them again"
    )


def choose_sheet(names: list[str], sheet: str | None, *, name: str, naming: Naming = CLI) -> str:
    """Return the sheet asked for: by name, else by number counting from 1; default the first.

    ``naming`` writes ``--sheet`` as the caller wrote it, in the message that refuses one.
    """
    if not names:
        raise InputError(f"{name} is empty: it has no sheet; add one with a header row")
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    folded = [candidate.casefold() for candidate in names]
    if sheet.casefold() in folded:
        return names[folded.index(sheet.casefold())]
    if sheet.strip().isdecimal() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    listed = ", ".join(names)
    raise InputError(
        f'no sheet "{sheet}" in {name} (sheets: {listed}); '
        f"pass {naming.option('sheet')} with one of these names or a number from 1 to {len(names)}"
    )


def sheet_text(cell: object) -> str:
    """Write a spreadsheet cell as text: a whole number as its digits, the rest as shown."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        if cell.is_integer() and abs(cell) < _EXACT_INTEGER_LIMIT:
            return str(int(cell))
        return repr(cell)
    if isinstance(cell, dt.date | dt.time):
        return cell.isoformat()
    if cell is None:
        return ""
    return str(cell)
