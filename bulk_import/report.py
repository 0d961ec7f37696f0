"""Write the results report: one CSV line per input row, streamed, flushed, then sorted.

The report file is its own journal. While a command runs, each finished row is appended to the
file at the report's path and flushed, so a crash (even SIGKILL) keeps every row that finished
and ``--resume`` can pick up from it. At the end the lines are put in ``row`` order into a
temporary file beside it, which then replaces the report atomically. Sorting needs only the
``(row, offset, length)`` of each line in memory, never the lines themselves.

Every file is created with mode 0600: a report lists a company's phone estate.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import mmap
import os
import tempfile
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bulk_import.cells import neutralise
from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS, Outcome, Status, iso

_NUMBER_INDEX = REPORT_COLUMNS.index("number")
_HEADER = (",".join(REPORT_COLUMNS) + "\r\n").encode()
_LAST = 1 << 62  # sort key of rows that have no input row (reconcile's `extra`)


# Rows finish in the same second by the thousand: format each second once.
_iso = functools.lru_cache(maxsize=8)(iso)


def outcome_cells(outcome: Outcome) -> list[str]:
    """Return the report's cells for one outcome, in column order, formulas neutralised."""
    row = outcome.row
    cells = [
        "" if row.row is None else str(row.row),
        neutralise(row.input_number),
        row.number,  # E.164 starts with "+", and is never a formula: kept as it is
        neutralise(row.label),
        neutralise("" if row.provider is None else str(row.provider)),
        neutralise(row.agent_id),
        outcome.status.value,
        "" if outcome.http_status is None else str(outcome.http_status),
        neutralise(outcome.phone_number_id),
        str(outcome.attempts),
        neutralise(outcome.error),
        _iso(outcome.finished_at),
    ]
    if cells[_NUMBER_INDEX] and cells[_NUMBER_INDEX][0] != "+":
        cells[_NUMBER_INDEX] = neutralise(cells[_NUMBER_INDEX])
    return cells


def _open_private(path: Path) -> tuple[IO[bytes], Path]:
    """Create a new 0600 temporary file beside ``path``; return it and its name."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb"), Path(name)


def _replace(tmp: IO[bytes], tmp_path: Path, path: Path) -> None:
    """Make ``tmp`` durable and move it over ``path`` in one step."""
    tmp.flush()
    os.fsync(tmp.fileno())
    tmp.close()
    os.replace(tmp_path, path)


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp, tmp_path = _open_private(path)
    try:
        tmp.write(text.encode())
        _replace(tmp, tmp_path, path)
    except BaseException:
        tmp.close()
        tmp_path.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` atomically, readable by the owner only."""
    write_private_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


class ReportWriter:
    """Journal outcomes into the report as they finish; sort and replace it at the end.

    ``kept`` lines (cells of rows carried over by ``--resume`` or ``retry-patch``) are written
    first. Use as a context manager, or call :meth:`close` yourself: closing always leaves a
    complete, sorted report.
    """

    def __init__(
        self, path: Path, *, kept: Iterable[list[str]] = (), flush_every_s: float = 0.0
    ) -> None:
        self.path = path
        self._flush_every_s = flush_every_s
        self._flushed_at = time.monotonic()
        self._rows = array("q")
        self._offsets = array("q")
        self._lengths = array("l")
        self._in_order = True
        self._last_key = -1
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        self._closed = False
        # The journal starts as a fresh private file holding the header and the kept rows,
        # moved over the report path in one step: the old report stays whole until then.
        tmp, tmp_path = _open_private(path)
        try:
            tmp.write(_HEADER)
            self._offset = len(_HEADER)
            self._file = tmp
            for cells in kept:
                self._append(cells)
            _replace(tmp, tmp_path, path)
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise
        self._file = path.open("ab")

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, outcome: Outcome) -> None:
        """Append one outcome to the report and flush it to the operating system.

        With ``flush_every_s`` the flush waits until that long after the last one (``validate``
        sends nothing, so a crash there loses nothing that cannot be redone in seconds).
        """
        self._append(outcome_cells(outcome))
        if self._flush_every_s:
            now = time.monotonic()
            if now - self._flushed_at < self._flush_every_s:
                return
            self._flushed_at = now
        self._file.flush()

    def _append(self, cells: list[str]) -> None:
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._csv.writerow(cells)
        data = buffer.getvalue().encode()
        key = int(cells[0]) if cells[0] else _LAST
        if key < self._last_key or (key == self._last_key and key != _LAST):
            self._in_order = False
        self._last_key = key
        self._rows.append(key)
        self._offsets.append(self._offset)
        self._lengths.append(len(data))
        self._file.write(data)
        self._offset += len(data)

    def close(self) -> None:
        """Leave the report complete and sorted by ``row``, replaced atomically."""
        if self._closed:
            return
        self._closed = True
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self._in_order:
            return
        rows = self._rows
        # Stable sort by row; of several lines for one row (a kept line and its redo) the
        # last written wins.
        order = sorted(range(len(rows)), key=rows.__getitem__)
        order = [
            i
            for n, i in enumerate(order)
            if n + 1 == len(order) or rows[order[n + 1]] != rows[i] or rows[i] == _LAST
        ]
        tmp, tmp_path = _open_private(self.path)
        try:
            with (
                self.path.open("rb") as journal,
                mmap.mmap(journal.fileno(), 0, access=mmap.ACCESS_READ) as data,
            ):
                tmp.write(_HEADER)
                for i in order:
                    start = self._offsets[i]
                    tmp.write(data[start : start + self._lengths[i]])
            _replace(tmp, tmp_path, self.path)
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise


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

    def values(self) -> list[str]:
        """Return the cells in report column order."""
        return [self.cells[name] for name in REPORT_COLUMNS]


def read_report(path: Path) -> list[ReportLine]:
    """Read a report written by this tool, tolerating a last line cut short by a crash.

    A row that appears more than once (a journal written by several runs) keeps its last line.
    Lines without a known status or with the wrong number of cells are dropped: their rows are
    processed again.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"report {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc.strerror}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    if text and not text.endswith(("\n", "\r")):
        # SIGKILL between two writes can leave half a line: that row did not finish.
        text = text[: max(text.rfind("\n"), 0)]
    return list(_parse_report(path, text))


def _parse_report(path: Path, text: str) -> Iterator[ReportLine]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != REPORT_COLUMNS:
        raise InputError(
            f"{path} is not a bulk-import report (its header must be: {','.join(REPORT_COLUMNS)})"
        )
    by_row: dict[int, ReportLine] = {}
    extras: list[ReportLine] = []
    for cells in reader:
        if len(cells) != len(REPORT_COLUMNS):
            continue
        line = ReportLine(dict(zip(REPORT_COLUMNS, cells, strict=True)))
        if line.status is None:
            continue
        if line.row is None:
            extras.append(line)
        else:
            by_row[line.row] = line
    yield from sorted(by_row.values(), key=lambda line: line.row or 0)
    yield from extras


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists, ignoring errors."""
    with contextlib.suppress(OSError):
        path.unlink()
