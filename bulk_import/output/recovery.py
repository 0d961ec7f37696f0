"""Read a report back, with the journal a killed run left beside it.

:func:`read_report` reads one report file written by this tool, tolerating a last line cut short
by a crash; ``strict=True`` accounts for every line instead (``rollback``'s REPORT, each line of
which may be a number to delete) and refuses one it cannot use. :func:`recover` reads what a
report's path holds as the next run of a command must see it: the report, with the lines of its
journal (if a run was killed) over it, row by row.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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

    @property
    def maybe_stored(self) -> bool:
        """Say whether the row's POST may have stored its number though the row is ``failed``:
        its last answer was a 5xx, or none came (a 409 after it may be that POST's own)."""
        code = self.cells["http_status"]
        return self.status is Status.FAILED and (not code.isdigit() or int(code) >= 500)

    def values(self) -> list[str]:
        """Return the cells in report column order."""
        return [self.cells[name] for name in REPORT_COLUMNS]


class GivenReport(Protocol):
    """Hold a report given in memory (a library call's DataFrame): a name, and its lines."""

    @property
    def name(self) -> str:
        """Return what messages and the summary call it."""
        ...  # pragma: no cover - a protocol

    def read(self, *, strict: bool = False) -> list[ReportLine]:
        """Return its lines as :func:`read_report` returns a file's, or raise InputError."""
        ...  # pragma: no cover - a protocol


def read_report(path: Path, *, strict: bool = False) -> list[ReportLine]:
    """Read a report written by this tool, tolerating a last line cut short by a crash.

    A row that appears more than once (a journal) keeps its last line. Lines without a known
    status or with the wrong number of cells are dropped: their rows are processed again.

    ``strict`` drops nothing: a line of the wrong width, a status that is not one of this
    tool's, a row seen on an earlier line, or a last line cut short is an :class:`InputError`
    naming the line (blank lines, which hold nothing, are skipped).
    """
    if strict:
        return strict_lines(str(path), _numbered(path, strict=True))
    return report_lines(_records(path))


def report_lines(records: Iterable[list[str]]) -> list[ReportLine]:
    """Return report lines from cells as a report holds them, in report order.

    A row that appears more than once keeps its last line; a line without a known status is
    dropped (its row is processed again).
    """
    by_key: dict[int | str, ReportLine] = {}
    for cells in records:
        line = ReportLine(dict(zip(REPORT_COLUMNS, cells, strict=True)))
        if line.status is not None:
            by_key[line.key] = line
    return sort_lines(by_key)


def strict_lines(
    name: str, numbered: Iterable[tuple[str, list[str], bool]], *, kind: str = "file"
) -> list[ReportLine]:
    """Return every line of the report ``name`` (a ``kind``), or raise InputError naming the first
    that is not whole. ``numbered`` gives each line's place (``line 7``), its cells and whether
    it ended."""
    by_key: dict[int | str, ReportLine] = {}
    seen: dict[int | str, str] = {}
    for where, cells, ended in numbered:
        if not any(cell.strip() for cell in cells):
            continue
        line = _whole_line(name, where, cells, ended=ended)
        if line.key in seen:
            number = line.cells["number"] or "no number"
            what = f"row {line.row}" if line.row is not None else f"{number} (with no row)"
            raise InputError(
                f"{name} {where}: {what} is on {seen[line.key]} already: two reports in one "
                f"{kind}, or a line copied? every line must be read once; use each run's own "
                "report"
            )
        seen[line.key] = where
        by_key[line.key] = line
    return sort_lines(by_key)


#: A whole ``finished_at`` cell, the last of a line: a line cut short lacks part of it.
_WHOLE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def _whole_line(name: str, where: str, cells: list[str], *, ended: bool) -> ReportLine:
    """Return a strict read's line, or raise InputError saying what is wrong with it."""
    fix = "fix that line (or roll back the run's own report, as it wrote it)"
    if not ended and not (len(cells) == len(REPORT_COLUMNS) and _WHOLE_TIME.fullmatch(cells[-1])):
        raise InputError(
            f"{name} {where} is cut short (no line end, no whole finished_at): a command was "
            "killed while writing it? run that command again to finish its report, or " + fix
        )
    if len(cells) != len(REPORT_COLUMNS):
        raise InputError(
            f"{name} {where} has {len(cells)} cells, not the report's {len(REPORT_COLUMNS)}; " + fix
        )
    line = ReportLine(dict(zip(REPORT_COLUMNS, cells, strict=True)))
    if line.status is None:
        raise InputError(
            f"{name} {where} has status {line.cells['status']!r}, which is not a status of "
            f"bulk-import (they are lower case: imported, already_imported, ...); {fix}"
        )
    return line


def _records(path: Path) -> Iterator[list[str]]:
    """Yield the cells of each whole line of a report (CSV or workbook), its header checked;
    a line of the wrong width is left out (its row is processed again)."""
    width = len(REPORT_COLUMNS)
    for _, cells, _ in _numbered(path, strict=False):
        if len(cells) == width:
            yield cells


def _numbered(path: Path, *, strict: bool) -> Iterator[tuple[str, list[str], bool]]:
    """Yield each line of a report after its checked header: where it is (``line 7``), its
    cells, and whether it ended (only a CSV's last line may not). Not ``strict``, a last line
    cut short is left out; ``strict``, it is yielded for the caller to judge."""
    if path.suffix.lower() == ".xlsx":
        from bulk_import.output.workbook import read_workbook  # pandas: only for a workbook

        # The sheet's blank rows are not read: its lines are counted as data lines.
        sheet = iter(read_workbook(path))
        _check_header(path, next(sheet, None))
        for n, cells in enumerate(sheet, start=1):
            yield f"data line {n}", cells, True
        return
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"report {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"cannot read report {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc.strerror}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    ended = not text or text.endswith(("\n", "\r"))
    if not ended and not strict:
        # SIGKILL between two writes can leave half a line: that row did not finish.
        text = text[: max(text.rfind("\n"), 0)]
        ended = True
    reader = csv.reader(io.StringIO(text, newline=""))
    _check_header(path, next(reader, None))
    width = len(REPORT_COLUMNS)
    start = reader.line_num + 1
    held: tuple[str, list[str]] | None = None  # a line is yielded once the next is read
    try:
        for cells in reader:
            if held is not None:
                yield *held, True
            held = (f"line {start}", cells) if strict or len(cells) == width else None
            start = reader.line_num + 1
    except csv.Error as exc:
        # Only a runaway cell stops the csv module: a quote opened on the line the record
        # began on, never closed, swallows the rest of the file (past the field limit).
        raise InputError(
            f"cannot read {path} (stopped at line {reader.line_num}: {exc}); look for a quote "
            f"that is opened and never closed, on line {start}: fix that line (or use the "
            "report as the command wrote it)"
        ) from None
    if held is not None:
        yield *held, ended  # only the last line can lack its line end


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None or tuple(header) != REPORT_COLUMNS:
        raise InputError(
            f"{path} is not a bulk-import report (its header must be: {','.join(REPORT_COLUMNS)})"
        )


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
