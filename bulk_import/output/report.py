"""Write the results report through a journal beside it: every row kept, whatever happens.

While a command runs, the report's path keeps the report as it was (or nothing), and each row
that finishes is appended to the journal beside it (``<report>.journal``) and flushed; the
journal starts with the lines the command keeps from before (``base``). At the end the journal's
lines are put in ``row`` order (of several lines for one row, the last written wins) into a
temporary file, which replaces the report atomically; then the journal is removed. So at any
moment, SIGKILL included, the report plus its journal hold every row, in its old state or its
new one, and :func:`recover` reads them back as the next run of the command must.

Sorting needs only the ``(row, offset, length)`` of each line in memory, never the lines.

A write that fails (a full disk, a read-only remount, an I/O error) raises :class:`WriteError`
once; the journal is cut back to its last complete line (truncating needs no space), so it
never keeps half a line, and every row that is not in it from then on is kept in
:attr:`Journal.unwritten` for the caller to show. Nothing is published after such a failure:
the journal stays for the next run of the command, which finishes the work.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import mmap
import os
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from bulk_import.cells import neutralise
from bulk_import.errors import WriteError
from bulk_import.models import REPORT_COLUMNS, Outcome, iso
from bulk_import.output.files import (
    discard,
    open_private,
    remove_stale_temporaries,
    replace_with,
    sync_folder,
    write_all,
)

_NUMBER_INDEX = REPORT_COLUMNS.index("number")
HEADER = (",".join(REPORT_COLUMNS) + "\r\n").encode()
_LAST = 1 << 62  # sort key of rows that have no input row (reconcile's `extra`)
#: A journal is made durable (fsync) at most this often: SIGKILL loses nothing flushed; a
#: power cut loses at most this much, and those rows are sent again (409 / the same PATCH).
SYNC_EVERY_S = 1.0
#: Rows a journal that flushes on a timer (``validate``) holds before it writes them anyway.
PENDING_BYTES = 1 << 20
#: What to do once a journal or report that could not be written can be: the journal keeps
#: every row written, so the same command finishes the work.
AGAIN = "run the same command again: it keeps the rows in the journal and finishes the work"

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


def marked(cells: Sequence[str]) -> list[str]:
    """Return a report line's cells given without their ``'`` marks (a library call's DataFrame)
    with the marks :func:`outcome_cells` puts on: every column but an E.164 ``number``."""
    line = [neutralise(cell) for cell in cells]
    number = cells[_NUMBER_INDEX]
    if number[:1] == "+":
        line[_NUMBER_INDEX] = number
    return line


class Journal:
    """Journal a command's rows beside the report as they finish; publish the report at the end.

    ``base`` lines (cells of rows carried over, by ``--resume`` or ``retry-patch``) are written
    first; a later line for the same row replaces its base line. :meth:`publish` leaves the
    report complete and sorted; :meth:`keep` leaves the journal for the next run;
    :meth:`abandon` leaves the report as it was.
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
        #: Cells of the rows that finished but are not in the journal (after a failed write).
        self.unwritten: list[list[str]] = []
        #: The failed write, once one failed: nothing is written after it.
        self.failure: WriteError | None = None
        self._flush_every_s = flush_every_s
        self._flushed_at = self._synced_at = time.monotonic()
        self._index = _Index()
        self._pending = bytearray()  # lines appended but not written yet
        self._closed = False
        remove_stale_temporaries(self.path)
        remove_stale_temporaries(report)
        # The journal starts as a fresh private file holding the header and the base lines,
        # moved over any journal a killed run left (whose rows the caller has read) in one step.
        try:
            tmp, tmp_path = open_private(self.path)
        except OSError as exc:
            raise WriteError(self.path, exc, then=AGAIN) from None
        try:
            tmp.write(HEADER)
            for cells in base:
                self._append(cells)
                if len(self._pending) >= PENDING_BYTES:
                    tmp.write(self._pending)
                    self._pending.clear()
            tmp.write(self._pending)
            self._pending.clear()
            replace_with(tmp, tmp_path, self.path)
            # Read too: after a failed fsync, the lines it lost are read back to be shown.
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            discard(tmp, tmp_path)
            raise WriteError(self.path, exc, then=AGAIN) from None
        except BaseException:
            discard(tmp, tmp_path)
            raise
        # What is in the file (written) and what is surely on the disk (synced): offsets and
        # the number of lines each covers, to cut back to when a later write fails.
        self._written = self._synced = self._index.mark()

    def write(self, outcome: Outcome) -> None:
        """Append one outcome to the journal and flush it to the operating system.

        With ``flush_every_s`` the flush waits until that long after the last one (``validate``
        sends nothing, so a crash there loses nothing that cannot be redone in seconds). Raise
        :class:`WriteError` if it cannot be written; after that, outcomes go to
        :attr:`unwritten`.
        """
        cells = outcome_cells(outcome)
        if self.failure is not None or self._closed:
            self.unwritten.append(cells)
            return
        self._append(cells)
        now = time.monotonic()
        if (
            self._flush_every_s
            and now - self._flushed_at < self._flush_every_s
            and len(self._pending) < PENDING_BYTES
        ):
            return
        self._flushed_at = now
        self._flush()
        if now - self._synced_at >= SYNC_EVERY_S:
            self._synced_at = now
            self._sync()

    def _append(self, cells: list[str]) -> None:
        self._pending += self._index.add(cells)

    def _flush(self) -> None:
        """Write the pending lines; on failure cut back to the last line written whole."""
        if not self._pending:
            return
        try:
            write_all(self._fd, self._pending)
        except OSError as exc:
            self._fail(exc, back_to=self._written)
        self._pending.clear()
        self._written = self._index.mark()

    def _sync(self) -> None:
        """Make the journal durable; on failure cut back to what was durable before."""
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._fail(exc, back_to=self._synced)
        self._synced = self._written

    def _fail(self, exc: OSError, *, back_to: tuple[int, int]) -> None:
        """Cut the journal back to ``back_to``; keep the lines cut off as unwritten; raise."""
        offset, count = back_to
        written = self._written[0]
        lost = b""
        with contextlib.suppress(OSError):  # lines the disk refused to keep, read back
            lost = os.pread(self._fd, written - offset, offset) if written > offset else b""
        with contextlib.suppress(OSError):  # needs no space; if it fails, a reader drops
            os.ftruncate(self._fd, offset)  # the torn last line anyway
        self.unwritten = _parse_lines(lost + bytes(self._pending)) + self.unwritten
        self._pending.clear()
        self._index.cut(offset, count)
        self._written = self._synced = back_to
        self.failure = WriteError(self.path, exc, then=AGAIN)
        raise self.failure

    def _finish_journal(self) -> bool:
        """Write what is pending, make it durable and close the file once; say whether this
        call closed it. Raise :class:`WriteError` if the last lines cannot be written."""
        if self._closed:
            return False
        self._closed = True
        try:
            if self.failure is None:
                self._flush()
                self._sync()
        finally:
            os.close(self._fd)
        return True

    def keep(self) -> None:
        """Close the journal and leave it for the next run of the command (the work is not done).

        Never raises: a last write that fails leaves its rows in :attr:`unwritten`.
        """
        with contextlib.suppress(WriteError):
            self._finish_journal()

    def abandon(self) -> None:
        """Remove the journal and leave the report as it was (the command did no work)."""
        with contextlib.suppress(WriteError):
            self._finish_journal()
        self.path.unlink(missing_ok=True)

    def publish(self, *, convert: Callable[[Path], None] | None = None) -> None:
        """Leave the report complete, sorted by ``row``, replaced atomically; drop the journal.

        ``convert`` writes the report from the sorted CSV (the ``.xlsx`` workbook); without it
        the sorted CSV is the report. Raise :class:`WriteError` if the journal or the report
        cannot be written: the journal then stays, and the report is as it was.
        """
        if not self._finish_journal():
            return
        if self.failure is not None:
            raise self.failure
        try:
            self._replace_report(convert)
        except OSError as exc:
            raise WriteError(self.report, exc, then=AGAIN) from None
        self.path.unlink(missing_ok=True)

    def _replace_report(self, convert: Callable[[Path], None] | None) -> None:
        if self._index.in_order:
            # The journal is the report already: one rename makes it so (or one conversion).
            if convert is not None:
                convert(self.path)
            else:
                os.replace(self.path, self.report)
                sync_folder(self.report)
            return
        tmp, tmp_path = open_private(self.report)
        try:
            with (
                self.path.open("rb") as journal,
                mmap.mmap(journal.fileno(), 0, access=mmap.ACCESS_READ) as data,
            ):
                tmp.write(HEADER)
                for line in self._index.sorted_lines(data):
                    tmp.write(line)
            if convert is None:
                replace_with(tmp, tmp_path, self.report)
            else:
                tmp.close()
                convert(tmp_path)
        finally:
            discard(tmp, tmp_path)


class MemoryJournal:
    """Keep a command's rows in memory as a journal keeps them on disk; :meth:`publish` sorts.

    For a library call: its ``Result.report`` (with ``report=`` a path, the same lines go to the
    file's journal too). Without a file nothing survives a crash: there is nothing to resume.
    """

    def __init__(self, *, base: Iterable[list[str]] = ()) -> None:
        self._index = _Index()
        self._data = bytearray(HEADER)
        for cells in base:
            self._data += self._index.add(cells)

    def write(self, outcome: Outcome) -> None:
        """Keep one outcome's line."""
        self._data += self._index.add(outcome_cells(outcome))

    def publish(self) -> bytes:
        """Return the report's bytes as a file's would be: header, then the lines by ``row``."""
        if self._index.in_order:
            return bytes(self._data)
        return HEADER + b"".join(self._index.sorted_lines(self._data))


class _Index:
    """Say where each line of a journal is, so that the lines can be sorted without being read.

    Only the ``(row, offset, length)`` of each line is kept, in arrays; the lines themselves
    are encoded here (:meth:`add`) and kept by the caller.
    """

    def __init__(self) -> None:
        self._rows = array("q")
        self._offsets = array("q")
        self._lengths = array("l")
        self._offset = len(HEADER)
        self._last_key = -1
        #: Whether the lines came in ``row`` order, each row once (the journal is the report).
        self.in_order = True
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def add(self, cells: list[str]) -> bytes:
        """Return one report line's bytes, noting where it goes after the lines before it."""
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._csv.writerow(cells)
        data = buffer.getvalue().encode()
        key = int(cells[0]) if cells[0] else _LAST
        if key < self._last_key or (key == self._last_key and key != _LAST):
            self.in_order = False
        self._last_key = key
        self._rows.append(key)
        self._offsets.append(self._offset)
        self._lengths.append(len(data))
        self._offset += len(data)
        return data

    def mark(self) -> tuple[int, int]:
        """Return the offset after the last line and the number of lines, to cut back to."""
        return self._offset, len(self._rows)

    def cut(self, offset: int, count: int) -> None:
        """Forget the lines after a :meth:`mark` (a write that failed)."""
        del self._rows[count:], self._offsets[count:], self._lengths[count:]
        self._offset = offset

    def sorted_lines(self, data: bytes | bytearray | mmap.mmap) -> Iterator[bytes | bytearray]:
        """Yield the lines of ``data`` (the header's offset first) in ``row`` order.

        A stable sort by row; of several lines for one row (a base line and its redo) the last
        written wins; the lines with no row (reconcile's ``extra``) follow, as they came.
        """
        rows = self._rows
        order = sorted(range(len(rows)), key=rows.__getitem__)
        for n, i in enumerate(order):
            if n + 1 == len(order) or rows[order[n + 1]] != rows[i] or rows[i] == _LAST:
                start = self._offsets[i]
                yield data[start : start + self._lengths[i]]


def _parse_lines(data: bytes) -> list[list[str]]:
    """Return the report lines in ``data`` (whole lines only) as cells."""
    text = data.decode("utf-8", errors="replace")
    return [
        cells
        for cells in csv.reader(io.StringIO(text, newline=""))
        if len(cells) == len(REPORT_COLUMNS)
    ]
