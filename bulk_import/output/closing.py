"""Close a command's output: the summary on screen, ``--summary-json``, the run page.

Called once per command, on every exit (0, 1, 2, 3, 4, 130), so that cron, a dashboard and a
person see the same run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bulk_import.config import OutputOptions
from bulk_import.errors import BulkImportError, WriteError
from bulk_import.metrics import RunMetrics
from bulk_import.models import Exit, Summary
from bulk_import.output.paths import output_clash
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
    """Write the run page and ``--summary-json``, then print the summary (``--quiet``: the one
    line of a non-zero exit). Never raises.

    ``printed`` is False when the caller prints an error line itself (exit 2, a bug). A page or
    summary that cannot be written makes a finished run exit 3 with the line saying so (cron
    must not read a stale summary as tonight's); a run that ended otherwise keeps its exit code.
    """
    problems: list[str] = []
    if output_clash(
        report=Path(summary.report),
        summary_json=output.summary_json,
        html=output.html,
        inputs=[("INPUT", summary.input)],
    ):  # the command was refused for it (exit 2): the file it names is not ours to replace
        output = replace(output, summary_json=None, html=None)
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
        except BulkImportError as exc:
            problems.append(_failed(summary, str(exc)))
        else:
            summary.page = str(output.html)
    if output.summary_json is not None:
        try:
            write_summary(output.summary_json, summary, elapsed_s=elapsed_s)
        except OSError as exc:
            shown = WriteError(output.summary_json, exc, what="summary JSON")
            problems.append(_failed(summary, str(shown)))
    if not printed:
        return  # the caller's one line says why the command ended; a second would bury it
    if not output.quiet:
        print(render(summary, elapsed_s=elapsed_s), file=stream, flush=True)
    elif summary.exit_code:
        print(quiet_line(summary), file=stream, flush=True)
    for problem in problems:
        if problem:
            print(f"bulk-import: warning: {problem}", file=stream, flush=True)


def _failed(summary: Summary, problem: str) -> str:
    """Make a finished run's exit 3 for a file it could not write; return what is left to say.

    The summary's own stop line then carries the problem; a run that had stopped or failed
    already keeps its exit code, and the problem is a warning.
    """
    if summary.exit_code in (Exit.OK, Exit.ATTENTION):
        summary.exit_code = Exit.STOPPED
        summary.stopped = problem
        return ""
    return problem
