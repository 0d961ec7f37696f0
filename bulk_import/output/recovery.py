"""Read a report back, with the journal a killed run left beside it.

:func:`read_report` reads one report file written by this tool, tolerating a last line cut short
by a crash. :func:`recover` reads what a report's path holds as the next run of a command must
see it: the report, with the lines of its journal (if a run was killed) over it, row by row.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS, Status
from bulk_import.output.report import journal_path


@dataclass(frozen=True, slots=True)
class ReportLine:
    """Hold one line of an existing report as text, cells by column name."""

    cells: dict[str, str]

    @property
    def row(self) -> int | None:
        """Return the input row number, or ``None`` for a row with no input row."""
        text = self.cells["row"]
        return int(text) if text.isdigit() else None

    @property
    def status(self) -> Status | None:
        """Return the status, or ``None`` when the cell holds no known status."""
        try:
            return Status(self.cells["status"])
        except ValueError:
            return None

    @property
    def key(self) -> int | str:
        """Return what identifies the line's row: its row number, else (``extra``) its number."""
        row = self.row
        return row if row is not None else "extra " + self.cells["number"]

    def values(self) -> list[str]:
        """Return the cells in report column order."""
        return [self.cells[name] for name in REPORT_COLUMNS]


def read_report(path: Path) -> list[ReportLine]:
    """Read a report written by this tool, tolerating a last line cut short by a crash.

    A row that appears more than once (a journal) keeps its last line. Lines without a known
    status or with the wrong number of cells are dropped: their rows are processed again.
    """
    by_key: dict[int | str, ReportLine] = {}
    for cells in _records(path):
        line = ReportLine(dict(zip(REPORT_COLUMNS, cells, strict=True)))
        if line.status is not None:
            by_key[line.key] = line
    return sort_lines(by_key)


def _records(path: Path) -> Iterator[list[str]]:
    """Yield the cells of each whole line of a report (CSV or workbook), its header checked."""
    if path.suffix.lower() == ".xlsx":
        from bulk_import.output.workbook import read_workbook  # pandas: only for a workbook

        reader: Iterator[list[str]] = iter(read_workbook(path))
    else:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"report {path} does not exist") from None
        except IsADirectoryError:
            raise InputError(f"cannot read report {path}: it is a directory") from None
        except OSError as exc:
            raise InputError(f"cannot read report {path}: {exc.strerror}") from None
        text = raw.decode("utf-8-sig", errors="replace")
        if text and not text.endswith(("\n", "\r")):
            # SIGKILL between two writes can leave half a line: that row did not finish.
            text = text[: max(text.rfind("\n"), 0)]
        reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != REPORT_COLUMNS:
        raise InputError(
            f"{path} is not a bulk-import report (its header must be: {','.join(REPORT_COLUMNS)})"
        )
    width = len(REPORT_COLUMNS)
    for cells in reader:
        if len(cells) == width:
            yield cells


def sort_lines(by_key: dict[int | str, ReportLine]) -> list[ReportLine]:
    """Return lines in report order: by row, then the rows without one (``extra``) as they came."""
    rows = sorted((line for line in by_key.values() if line.row is not None), key=_row)
    return rows + [line for line in by_key.values() if line.row is None]


def _row(line: ReportLine) -> int:
    return line.row or 0


def recover(report: Path, *, journal_only: bool = False) -> list[ReportLine]:
    """Return what a report's path holds: the report, with a killed run's journal over it.

    ``journal_only`` reads only the journal (a run without ``--resume`` does not keep the old
    report's rows, but must finish what a killed run of it did). Missing files read as empty.
    """
    by_key: dict[int | str, ReportLine] = {}
    if not journal_only and report.exists():
        by_key.update((line.key, line) for line in read_report(report))
    journal = journal_path(report)
    if journal.exists():
        by_key.update((line.key, line) for line in read_report(journal))
    return sort_lines(by_key)


#: What identifies a numbered input row of a report: its ``input_number`` and ``number`` cells.
Named = dict[int, tuple[str, str]]
_ROW, _INPUT, _NUMBER, _STATUS = (
    REPORT_COLUMNS.index(name) for name in ("row", "input_number", "number", "status")
)


def numbers_named(lines: Iterable[ReportLine]) -> Named:
    """Return what each line that names a number says its input row held, by row."""
    return {
        line.row: (line.cells["input_number"], line.cells["number"])
        for line in lines
        if line.row is not None and line.cells["number"]
    }


def scan_numbers(path: Path, *, statuses: Collection[Status]) -> Named:
    """Return :func:`numbers_named` of the lines of ``statuses`` in one report file (or journal),
    reading only those cells: cheap for a report of 100,000 rows.

    A file there that is not a report (or cannot be read) names no rows.
    """
    named: Named = {}
    if not path.is_file():
        return named
    wanted = frozenset(status.value for status in statuses)
    records = _records(path)
    try:  # the file is read, and its header checked, at the first line
        first = next(records, None)
    except InputError:
        return named
    for cells in itertools.chain([first] if first is not None else [], records):
        if cells[_NUMBER] and cells[_ROW].isdigit() and cells[_STATUS] in wanted:
            named[int(cells[_ROW])] = (cells[_INPUT], cells[_NUMBER])
    return named


def has_journal(report: Path) -> bool:
    """Say whether a killed run left a journal beside ``report``."""
    return journal_path(report).exists()
