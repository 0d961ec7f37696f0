"""Frame one command: the report writer, the counts, the progress bar and the closing summary.

Every command (``validate``, ``run``, ``retry-patch``, ``reconcile``) emits its outcomes through a
:class:`Session`, so every one of them writes the same report, counts the same way, and ends
with the same summary and exit code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from bulk_import.config import OutputOptions
from bulk_import.models import Outcome, Status, Summary, utc_now
from bulk_import.progress import Progress
from bulk_import.report import ReportWriter
from bulk_import.summary import exit_code, render, write_summary


class Session:
    """Write outcomes to the report as they come, count them, and close with a summary."""

    def __init__(
        self,
        *,
        command: str,
        input_name: str,
        output: OutputOptions,
        kept: Iterable[list[str]] = (),
        total: int | None = None,
        retrying: Callable[[], int] | None = None,
        stderr: TextIO | None = None,
        flush_every_s: float = 0.0,
    ) -> None:
        self.output = output
        self.stderr = stderr if stderr is not None else sys.stderr
        self.summary = Summary(
            command=command, input=input_name, report=str(output.report), started_at=utc_now()
        )
        self._started = time.monotonic()
        kept_lines = list(kept)
        for cells in kept_lines:
            self.summary.add(Status(cells[6]))
        self.writer = ReportWriter(output.report, kept=kept_lines, flush_every_s=flush_every_s)
        self.progress = Progress(
            enabled=output.progress,
            quiet=output.quiet,
            total=total,
            desc=command,
            retrying=retrying,
            stream=self.stderr,
        )

    def emit(self, outcome: Outcome) -> None:
        """Record one finished row: report line, count, progress."""
        self.writer.write(outcome)
        self.summary.add(outcome.status)
        self.progress.advance(outcome)

    def forget_kept(self, status: str) -> None:
        """Uncount a kept line (of this status) that a new outcome for its row replaces."""
        self.summary.counts[status] -= 1
        if not self.summary.counts[status]:
            del self.summary.counts[status]

    def log(self, message: str) -> None:
        """Print one line of news to stderr (not when quiet)."""
        self.progress.log(message)

    def close(
        self,
        *,
        requests: int = 0,
        stop_exit: int = 0,
        stopped: str = "",
        judged: frozenset[Status] | None = None,
    ) -> Summary:
        """Finish the report, print the summary, write ``--summary-json``; return the summary."""
        self.writer.close()
        self.progress.close()
        summary = self.summary
        summary.finished_at = utc_now()
        summary.requests = requests
        summary.stopped = stopped
        summary.exit_code = exit_code(summary, stop_exit=stop_exit, judged=judged)
        elapsed = time.monotonic() - self._started
        if not self.output.quiet:
            print(render(summary, elapsed_s=elapsed), file=self.stderr, flush=True)
        if self.output.summary_json is not None:
            write_summary(self.output.summary_json, summary, elapsed_s=elapsed)
        return summary


def default_report(stem: str) -> Path:
    """Return the default report path: ``<input stem>.report.csv`` in the current directory."""
    return Path(f"{stem}.report.csv")
