"""Write the report as an Excel workbook (``--report X.xlsx``), and read one back.

The run journals its report as CSV as always (crash safety lives there); at the end the
finished CSV becomes a workbook: sheet ``Report`` with the report's columns, sheet ``Summary``
with the run's facts and counts. pandas reads the CSV (``dtype=str``) and reads a workbook
back; XlsxWriter writes the cells, each Report cell with ``write_string``, so it is a string
by construction, never a formula, number or link, and the CSV's ``'`` mark is not needed and is
taken off: ``+14155550101`` keeps its ``+``, ``=1+1`` is text. (``DataFrame.to_excel`` through
the same engine was measured at 3.5 times the time for a 10,000-row report, 2.0 s against
0.58 s, most of it spent on per-cell style handling: the cells are written directly instead.)
The workbook is valid INPUT again, as SPEC asks of a report: its first sheet is ``Report``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import pandas as pd
import xlsxwriter
from xlsxwriter.exceptions import FileCreateError

from bulk_import.cells import neutralise, unneutralise
from bulk_import.errors import InputError, UsageError
from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.aggregate import read_report_frame
from bulk_import.output.files import private_replacement

REPORT_SHEET: Final = "Report"
SUMMARY_SHEET: Final = "Summary"
#: Excel holds at most this many characters in a cell; XlsxWriter would cut a longer one short.
EXCEL_CELL_CHARS: Final = 32_767
_OPTIONS: Final = {
    # Strings stay strings even through XlsxWriter's generic write(): no formula from "=...",
    # no number from "+1415...", no link from "http...".
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    # Rows go to disk as they are written, in order: 100,000 rows peaked at 138 MB of RSS with
    # it against 293 MB without, in about the same time.
    "constant_memory": True,
}
_FACTS: Final = (
    "command",
    "input",
    "report",
    "started_at",
    "finished_at",
    "duration_s",
    "total",
    "requests",
    "exit_code",
    "exit_meaning",
    "stopped",
    "error",
    "version",
)
_NUMBER: Final = REPORT_COLUMNS.index("number")
_WIDTHS: Final = (6, 16, 16, 24, 22, 16, 16, 6, 18, 8, 48, 21)


def write_workbook(path: Path, *, report_csv: Path, summary: Mapping[str, object]) -> None:
    """Write ``report_csv`` (a finished CSV report) and ``summary`` as the workbook ``path``.

    Mode 0600, replaced atomically. Raise :class:`InputError` when ``report_csv`` is not a
    report, :class:`UsageError` when a cell is too long for Excel, and :class:`WriteError` when
    ``path`` cannot be written (the CSV report is left as it is, so nothing is lost).
    """
    frame = read_report_frame(report_csv)
    for column in frame.columns:
        longest = int(frame[column].str.len().max() or 0)
        if longest > EXCEL_CELL_CHARS:
            raise UsageError(
                f"cannot write {path}: a {column} cell of {report_csv} holds {longest:,} "
                f"characters, more than Excel's {EXCEL_CELL_CHARS:,}; use a .csv report"
            )
    # XlsxWriter keeps each part in a temporary file of its own until it zips them, and leaves
    # them behind when the zip cannot be written (a full disk): they live in a folder removed here.
    with (
        tempfile.TemporaryDirectory(prefix="bulk-import-xlsx-") as parts,
        private_replacement(path, what="workbook") as tmp,
    ):
        book = xlsxwriter.Workbook(str(tmp), {**_OPTIONS, "tmpdir": parts})
        try:
            _report_sheet(book, frame)
            _summary_sheet(book, summary)
        finally:
            _close(book)


def _close(book: xlsxwriter.Workbook) -> None:
    """Write the workbook out; XlsxWriter's FileCreateError becomes the OSError it wraps, so
    that a full disk is said as one (WriteError), not taken for a bug."""
    try:
        book.close()
    except FileCreateError as exc:
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
        if cause is None:
            raise
        raise cause from None


def _report_sheet(book: xlsxwriter.Workbook, frame: pd.DataFrame) -> None:
    sheet = book.add_worksheet(REPORT_SHEET)
    bold = book.add_format({"bold": True})
    for column, (name, width) in enumerate(zip(REPORT_COLUMNS, _WIDTHS, strict=True)):
        sheet.write_string(0, column, name, bold)
        sheet.set_column(column, column, width)
    write = sheet.write_string
    # Plain lists of str: iterating the frame itself costs a pandas call a cell.
    for row, cells in enumerate(frame.to_numpy(dtype=object).tolist(), 1):
        for column, text in enumerate(cells):
            if text:  # an empty cell is left blank: it reads back as ""
                write(row, column, unneutralise(text))
    rows = len(frame)
    # Open ready to filter (SPEC: filter the failed rows, run them again), the header in view,
    # and without Excel's "number stored as text" flag on every row and number cell.
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(rows, 1), len(REPORT_COLUMNS) - 1)
    sheet.ignore_errors({"number_stored_as_text": f"A1:L{rows + 1}"})


def _summary_sheet(book: xlsxwriter.Workbook, summary: Mapping[str, object]) -> None:
    sheet = book.add_worksheet(SUMMARY_SHEET)
    bold = book.add_format({"bold": True})
    sheet.set_column(0, 1, 22)
    facts = [(name, summary.get(name)) for name in _FACTS if summary.get(name) not in (None, "")]
    sheet.write_row(0, 0, ("field", "value"), bold)
    for row, (name, value) in enumerate(facts, 1):
        sheet.write_string(row, 0, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            sheet.write_number(row, 1, value)
        else:
            sheet.write_string(row, 1, str(value))
    start = len(facts) + 2
    sheet.write_row(start, 0, ("status", "rows"), bold)
    counts = summary.get("counts")
    items = list(counts.items()) if isinstance(counts, Mapping) else []
    for row, (status, n) in enumerate(items, start + 1):
        sheet.write_string(row, 0, str(status))
        sheet.write_number(row, 1, n if isinstance(n, int | float) else 0)


def read_workbook(path: Path) -> list[list[str]]:
    """Read a workbook report back: its header and rows, every cell as the CSV report has it.

    The ``'`` mark goes back on formula-looking cells (as ``report.outcome_cells`` puts it), so
    the rows can stand where a CSV report's rows stand (``--resume``, ``retry-patch``). Raise
    :class:`InputError`, one line, for a file that is not a bulk-import workbook report.
    """
    try:
        frame = pd.read_excel(
            path,
            sheet_name=REPORT_SHEET,
            header=None,
            dtype=str,
            keep_default_na=False,
            engine="calamine",
        )
    except FileNotFoundError:
        raise InputError(f"report {path} does not exist") from None
    except Exception as exc:  # calamine and pandas raise several kinds for a damaged file
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"cannot read {path} as a bulk-import report ({detail}); "
            f'pass the .xlsx bulk-import wrote (sheet "{REPORT_SHEET}") or its CSV report'
        ) from None
    table: list[list[str]] = frame.fillna("").astype(str).values.tolist()
    width = len(REPORT_COLUMNS)
    # A sheet edited by hand may carry blank columns after the last one: they are not data.
    if (
        not table
        or tuple(table[0][:width]) != REPORT_COLUMNS
        or any(cell.strip() for cell in table[0][width:])
    ):
        raise InputError(
            f'{path} is not a bulk-import report (its sheet "{REPORT_SHEET}" must start with '
            f"the header: {','.join(REPORT_COLUMNS)})"
        )
    rows = (_marked(row[:width]) for row in table[1:] if any(cell.strip() for cell in row))
    return [list(REPORT_COLUMNS), *rows]


def _marked(row: list[str]) -> list[str]:
    cells = [neutralise(cell) for cell in row]
    if row[_NUMBER].startswith("+"):
        cells[_NUMBER] = row[_NUMBER]  # E.164 keeps its "+" unmarked, as in the CSV
    return cells
