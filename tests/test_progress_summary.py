"""The progress bar on a terminal, log lines, and the closing summary and exit codes."""

from __future__ import annotations

import datetime as dt
import io

from bulk_import.models import Outcome, Row, Status, Summary
from bulk_import.progress import Progress
from bulk_import.summary import as_json, duration_s, exit_code, render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def outcome(status: Status) -> Outcome:
    return Outcome(Row(row=2, input_number="1", number="+14155552671"), status)


def test_bar_counts_ok_attention_and_retrying_on_a_terminal() -> None:
    """On a terminal the bar shows ok / attention / retrying; log lines print above it."""
    stream = Terminal()
    progress = Progress(
        enabled=True, quiet=False, total=3, desc="run", retrying=lambda: 2, stream=stream
    )
    progress.advance(outcome(Status.IMPORTED))
    progress.advance(outcome(Status.FAILED))
    progress.log("slowing down")
    progress.advance(outcome(Status.ALREADY_IMPORTED))
    progress.close()
    progress.close()
    text = stream.getvalue()
    assert "ok 2, attention 1, retrying 2" in text
    assert "slowing down" in text
    assert (progress.ok, progress.attention) == (2, 1)


def test_no_bar_when_not_a_terminal_or_quiet() -> None:
    """No bar off a terminal, with --no-progress, or --quiet; --quiet silences log lines too."""
    plain = io.StringIO()
    progress = Progress(enabled=True, quiet=False, total=None, desc="run", stream=plain)
    progress.advance(outcome(Status.IMPORTED))
    progress.log("a line")
    progress.close()
    assert plain.getvalue() == "a line\n"
    quiet = Terminal()
    silent = Progress(enabled=True, quiet=True, total=None, desc="run", stream=quiet)
    silent.advance(outcome(Status.IMPORTED))
    silent.log("hidden")
    silent.close()
    assert quiet.getvalue() == ""
    off = Terminal()
    Progress(enabled=False, quiet=False, total=None, desc="run", stream=off).close()
    assert off.getvalue() == ""


def summary(**counts: int) -> Summary:
    start = dt.datetime(2026, 11, 27, 5, 0, 0, tzinfo=dt.UTC)
    s = Summary(command="run", input="in.csv", report="in.report.csv", started_at=start)
    s.counts = dict(counts)
    s.finished_at = start + dt.timedelta(seconds=90)
    return s


def test_exit_codes() -> None:
    """0 all ok, 1 attention, a stop's own code first; `judged` limits what counts."""
    assert exit_code(summary(imported=3, duplicate=1, extra=2)) == 0
    assert exit_code(summary(imported=3, invalid=1)) == 1
    assert exit_code(summary(imported=3, invalid=0)) == 0
    assert exit_code(summary(imported=3), stop_exit=130) == 130
    judged = frozenset({Status.WEBHOOK_FAILED, Status.PATCH_FAILED})
    assert exit_code(summary(patched=2, invalid=1), judged=judged) == 0
    assert exit_code(summary(patched=2, patch_failed=1), judged=judged) == 1


def test_render_names_counts_hints_and_stop() -> None:
    """The summary shows counts, the next step for attention rows, the report and the stop."""
    s = summary(imported=5, webhook_failed=2)
    s.requests = 9
    s.exit_code = 1
    s.stopped = "interrupted by SIGINT"
    text = render(s, elapsed_s=2.0)
    assert text.splitlines()[0] == "run: 7 rows in 2.0 s, 4 rows/s, 9 requests"
    assert "bulk-import retry-patch in.report.csv" in text
    assert "stopped early: interrupted by SIGINT" in text
    assert text.endswith("exit 1")
    data = as_json(s)
    assert data["duration_s"] == 90.0
    assert data["stopped"] == "interrupted by SIGINT"
    assert duration_s(s) == 90.0
    s.finished_at = None
    assert duration_s(s) == 0.0
