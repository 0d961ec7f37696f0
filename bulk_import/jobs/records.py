"""Keep every finished row of a command: its journal line, its count, its step of the bar.

The engine hands each outcome to :meth:`Records.emit` as it finishes and, at the end, calls
:meth:`Records.close`, which publishes the report when the work is whole, and otherwise keeps
the journal for the next run of the command (SPEC "One command at a time, and the disk"):

- a write that fails (a full disk, a read-only remount, an I/O error) stops the run: nothing
  more is sent, requests in flight finish, and the rows that finished but are not in the journal
  are printed on stderr (row, number, status, id), so that nothing imported is recorded nowhere;
- a report that cannot be published (its rename, its sorted copy, the workbook) is a stop too:
  the journal stays beside it, and the same command publishes it;
- a command that ended in an internal error keeps the journal: never a partial report published
  as if it were complete.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from bulk_import.api.control import StopControl
from bulk_import.errors import BulkImportError, WriteError
from bulk_import.metrics import RunMetrics
from bulk_import.models import REPORT_COLUMNS, Exit, Outcome, Row, Status, Summary
from bulk_import.output.files import is_stdout, to_stdout
from bulk_import.output.progress import Progress
from bulk_import.output.report import Journal, MemoryJournal, outcome_cells
from bulk_import.output.summary import as_json

_SHOWN = ("row", "number", "status", "phone_number_id")
_SHOWN_AT = tuple(REPORT_COLUMNS.index(name) for name in _SHOWN)
_ATTEMPTS = REPORT_COLUMNS.index("attempts")


class Records:
    """Record a command's finished rows in its journal and counts; publish or keep at the end."""

    def __init__(
        self,
        *,
        report: Path | None,
        summary: Summary,
        control: StopControl,
        progress: Progress,
        metrics: RunMetrics | None,
        stream: TextIO,
        memory: bool = False,
    ) -> None:
        self.report = report
        self._memory = memory
        self.summary = summary
        self.control = control
        self.progress = progress
        self.metrics = metrics
        self.stream = stream
        self.journal: Journal | None = None
        #: The report's lines kept in memory too (``memory``, or no report path): a library call's.
        self.memory: MemoryJournal | None = None
        #: The report as CSV bytes once closed (``memory``).
        self.memory_csv: bytes | None = None
        #: Whether :meth:`open` made the journal (else nothing is written, nothing to close).
        self.opened = False
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        # Base lines' status by row, so that a new outcome for the row uncounts the old one.
        self._base: dict[int | str, tuple[Status, bool]] = {}
        # Rows that finished after the journal failed and carry what a request did.
        self._unwritten: list[list[str]] = []

    def open(self, base: Sequence[list[str]], *, flush_every_s: float) -> None:
        """Count the lines carried over and start the journal with them.

        Raise :class:`WriteError` when the journal cannot be made (nothing is sent then).
        Without a report path the lines are kept in memory only: nothing is written to disk.
        """
        for cells in base:
            status = Status(cells[6])
            self.summary.add(status, has_agent=bool(cells[5]))
            self._base[_key(cells[0], cells[2])] = (status, bool(cells[5]))
        journal_for = self.report
        if journal_for is not None:
            if is_stdout(journal_for):  # the journal of a report on stdout: a private folder
                self._scratch = tempfile.TemporaryDirectory(prefix="bulk-import-")
                journal_for = Path(self._scratch.name) / "stdout.report.csv"
            self.journal = Journal(journal_for, base=base, flush_every_s=flush_every_s)
        if self._memory or journal_for is None:
            self.memory = MemoryJournal(base=base)
        self.opened = True

    def emit(self, row: Row, outcome: Outcome | None) -> None:
        """Record one finished row: journal line, counts, progress.

        A journal that cannot be written stops the run (exit 3); rows that finish after that
        are kept in memory, to be shown at the end.
        """
        if outcome is None:
            return
        journal = self.journal
        if journal is not None and journal.failure is None:
            try:
                journal.write(outcome)
            except WriteError as exc:
                self.control.stop(str(exc), exit_code=Exit.STOPPED)
        elif journal is not None:
            cells = outcome_cells(outcome)
            if _carries_news(cells):
                self._unwritten.append(cells)
        if self.memory is not None:
            self.memory.write(outcome)
        if self._base:
            done = outcome.row
            old = self._base.pop(
                _key("" if done.row_number is None else str(done.row_number), done.number), None
            )
            if old is not None:
                self.summary.add(old[0], has_agent=old[1], by=-1)
        self.summary.add(outcome.status, has_agent=bool(outcome.row.agent_id))
        self.progress.advance(outcome)
        if self.metrics is not None:
            self.metrics.row_finished(ok=outcome.status.ok)

    def close(self, *, whole: bool) -> None:
        """Publish the report if the work is ``whole`` and every row was written; else keep the
        journal. Say on stderr which finished rows are in no file."""
        if self.memory is not None:
            self.memory_csv = self.memory.publish()
        journal = self.journal
        if journal is None:
            return
        summary = self.summary
        # A report on stdout has no journal to keep: what finished is all there is to give.
        try:
            if journal.failure is None and (whole or self._scratch is not None):
                try:
                    self._publish(journal)
                except BulkImportError as exc:  # the rename, the sorted copy, the workbook
                    summary.exit_code = Exit.STOPPED
                    summary.stopped = str(exc)
                else:
                    summary.report_written = True
            else:
                journal.keep()
        finally:  # a bug while publishing leaves the journal too: say so
            if self._scratch is not None:
                self._scratch.cleanup()
            elif not summary.report_written:
                summary.journal = str(journal.path)
        failure = journal.failure
        if failure is not None and str(failure) not in summary.stopped:
            # The run had stopped for another reason (Ctrl-C) before the disk failed too.
            shown = str(failure)
            summary.stopped = f"{summary.stopped}; then {shown}" if summary.stopped else shown
        self._show_unwritten(journal)

    def _publish(self, journal: Journal) -> None:
        """Replace the report with the journal's rows: a CSV, or an ``.xlsx`` workbook."""
        report = self.report
        assert report is not None, "a journal is kept for a report path"
        convert: Callable[[Path], None] | None = None
        if is_stdout(report):

            def convert(sorted_csv: Path) -> None:
                try:
                    to_stdout(sorted_csv.read_bytes())
                except OSError as exc:
                    raise WriteError("standard output", exc, what="report to") from None

        elif report.suffix.lower() == ".xlsx":
            # pandas and XlsxWriter are imported only for a workbook (half a second at start-up).
            from bulk_import.output.workbook import write_workbook

            facts = as_json(self.summary)

            def convert(sorted_csv: Path) -> None:
                write_workbook(report, report_csv=sorted_csv, summary=facts)

        journal.publish(convert=convert)

    def _show_unwritten(self, journal: Journal) -> None:
        """Print the finished rows that are in no file, so that no import is recorded nowhere."""
        shown = [cells for cells in journal.unwritten if _carries_news(cells)]
        shown += self._unwritten
        if not shown:
            return
        where = "the report" if self._scratch is not None else str(journal.path)
        text = io.StringIO()
        lines = csv.writer(text, lineterminator="\n")
        lines.writerow(_SHOWN)
        lines.writerows([cells[i] for i in _SHOWN_AT] for cells in shown)
        print(
            f"bulk-import: {len(shown)} rows finished but could not be written to {where}; "
            "here they are (a later run finds these numbers there already):\n"
            + text.getvalue().rstrip("\n"),
            file=self.stream,
            flush=True,
        )


def _carries_news(cells: list[str]) -> bool:
    """Say whether a row's line records what a request did (not a row never sent, nor a line
    the next run makes again for free: ``invalid``, reconcile's ``in_sync`` and ``extra``)."""
    return cells[_ATTEMPTS] not in ("", "0")


def _key(row: str, number: str) -> int | str:
    """Return what identifies a report line: its row, else (``extra``) its number."""
    return int(row) if row.isdigit() else "extra " + number
