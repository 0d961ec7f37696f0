"""Write the results report through a journal beside it: every row kept, whatever happens.

While a command runs, the report's path keeps the report as it was (or nothing), and each row
that finishes is appended to the journal beside it (``<report>.journal``) and flushed; the
journal starts with the lines the command keeps from before (``base``). At the end the journal's
lines are put in ``row`` order (of several lines for one row, the last written wins) into a
temporary file, which replaces the report atomically; then the journal is removed. So at any
moment, SIGKILL included, the report plus its journal hold every row, in its old state or its
new one, and :func:`recover` reads them back as the next run of the command must.

Sorting needs only the ``(row, offset, length)`` of each line in memory, never the lines.
"""

from __future__ import annotations

import csv
import functools
import io
import mmap
import os
import time
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path

from bulk_import.cells import neutralise
from bulk_import.models import REPORT_COLUMNS, Outcome, iso
from bulk_import.output.files import (
    open_private,
    remove_stale_temporaries,
    replace_with,
    sync_folder,
)

_NUMBER_INDEX = REPORT_COLUMNS.index("number")
HEADER = (",".join(REPORT_COLUMNS) + "\r\n").encode()
_LAST = 1 << 62  # sort key of rows that have no input row (reconcile's `extra`)
#: A journal is made durable (fsync) at most this often: SIGKILL loses nothing flushed; a
#: power cut loses at most this much, and those rows are sent again (409 / the same PATCH).
SYNC_EVERY_S = 1.0

# Rows finish in the same second by the thousand: format each second once.
_iso = functools.lru_cache(maxsize=8)(iso)


def journal_path(report: Path) -> Path:
    """Return the journal's path beside a report: ``<report>.journal``."""
    return report.with_name(report.name + ".journal")


def outcome_cells(outcome: Outcome) -> list[str]:
    """Return the report's cells for one outcome, in column order, formulas neutralised."""
    row = outcome.row
    cells = [
        "" if row.row_number is None else str(row.row_number),
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


class Journal:
    """Journal a command's rows beside the report as they finish; publish the report at the end.

    ``base`` lines (cells of rows carried over, by ``--resume`` or ``retry-patch``) are written
    first; a later line for the same row replaces its base line. :meth:`publish` leaves the
    report complete and sorted; :meth:`abandon` leaves the report as it was.
    """

    def __init__(
        self,
        report: Path,
        *,
        base: Iterable[list[str]] = (),
        flush_every_s: float = 0.0,
    ) -> None:
        self.report = report
        self.path = journal_path(report)
        self._flush_every_s = flush_every_s
        self._flushed_at = self._synced_at = time.monotonic()
        self._rows = array("q")
        self._offsets = array("q")
        self._lengths = array("l")
        self._in_order = True
        self._last_key = -1
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        self._closed = False
        remove_stale_temporaries(self.path)
        remove_stale_temporaries(report)
        # The journal starts as a fresh private file holding the header and the base lines,
        # moved over any journal a killed run left (whose rows the caller has read) in one step.
        tmp, tmp_path = open_private(self.path)
        try:
            tmp.write(HEADER)
            self._offset = len(HEADER)
            self._file = tmp
            for cells in base:
                self._append(cells)
            replace_with(tmp, tmp_path, self.path)
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise
        self._file = self.path.open("ab")

    def write(self, outcome: Outcome) -> None:
        """Append one outcome to the journal and flush it to the operating system.

        With ``flush_every_s`` the flush waits until that long after the last one (``validate``
        sends nothing, so a crash there loses nothing that cannot be redone in seconds).
        """
        self._append(outcome_cells(outcome))
        now = time.monotonic()
        if self._flush_every_s:
            if now - self._flushed_at < self._flush_every_s:
                return
            self._flushed_at = now
        self._file.flush()
        if now - self._synced_at >= SYNC_EVERY_S:
            self._synced_at = now
            os.fsync(self._file.fileno())

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

    def _finish_journal(self) -> bool:
        """Close the journal file once; say whether this call closed it."""
        if self._closed:
            return False
        self._closed = True
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return True

    def abandon(self) -> None:
        """Remove the journal and leave the report as it was (the command did no work)."""
        if self._finish_journal():
            self.path.unlink(missing_ok=True)

    def publish(self, *, convert: Callable[[Path], None] | None = None) -> None:
        """Leave the report complete, sorted by ``row``, replaced atomically; drop the journal.

        ``convert`` writes the report from the sorted CSV (the ``.xlsx`` workbook); without it
        the sorted CSV is the report.
        """
        if not self._finish_journal():
            return
        if self._in_order:
            # The journal is the report already: one rename makes it so (or one conversion).
            if convert is not None:
                convert(self.path)
                self.path.unlink(missing_ok=True)
            else:
                os.replace(self.path, self.report)
                sync_folder(self.report)
            return
        rows = self._rows
        # Stable sort by row; of several lines for one row (a base line and its redo) the
        # last written wins.
        order = sorted(range(len(rows)), key=rows.__getitem__)
        order = [
            i
            for n, i in enumerate(order)
            if n + 1 == len(order) or rows[order[n + 1]] != rows[i] or rows[i] == _LAST
        ]
        tmp, tmp_path = open_private(self.report)
        try:
            with (
                self.path.open("rb") as journal,
                mmap.mmap(journal.fileno(), 0, access=mmap.ACCESS_READ) as data,
            ):
                tmp.write(HEADER)
                for i in order:
                    start = self._offsets[i]
                    tmp.write(data[start : start + self._lengths[i]])
            if convert is None:
                replace_with(tmp, tmp_path, self.report)
            else:
                tmp.close()
                convert(tmp_path)
        finally:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
