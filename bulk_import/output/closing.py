"""Close a command's output: the summary on screen, ``--summary-json``, the run page.

Called once per command, on every exit (0, 1, 2, 3, 4, 130), so that cron, a dashboard and a
person see the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from bulk_import.config import OutputOptions
from bulk_import.errors import BulkImportError
from bulk_import.metrics import RunMetrics
from bulk_import.models import Summary
from bulk_import.output.summary import as_json, quiet_line, render, write_summary


def close_output(
    summary: Summary,
    *,
    output: OutputOptions,
    elapsed_s: float,
    stream: TextIO,
    printed: bool,
    metrics: RunMetrics | None = None,
) -> None:
    """Print the summary (``--quiet``: the one line of a non-zero exit), write JSON and page.

    ``printed`` is False when the caller prints an error line itself (exit 2, a bug).
    """
    if output.html is not None:
        # pandas is imported only when a page is asked for: it costs half a second at start-up.
        from bulk_import.output.page import write_page

        report = Path(summary.report) if summary.report_written else None
        try:
            write_page(
                output.html,
                summary=as_json(summary, elapsed_s=elapsed_s),
                report=report,
                metrics=metrics,
            )
        except BulkImportError as exc:  # the run's own outcome stands; say what was missed
            print(f"bulk-import: warning: {exc}", file=stream, flush=True)
        else:
            summary.page = str(output.html)
    if printed:
        if not output.quiet:
            print(render(summary, elapsed_s=elapsed_s), file=stream, flush=True)
        elif summary.exit_code:
            print(quiet_line(summary), file=stream, flush=True)
    if output.summary_json is not None:
        write_summary(output.summary_json, summary, elapsed_s=elapsed_s)
