"""The run page: self-contained, escaped, faithful to the report, drawn for every exit.

The report and summary under test come from a real ``bulk-import run`` (a subprocess) against
the sandbox over loopback; the metrics are fed by a fake clock, as the engine would feed them.
A test renders the page in headless Chromium when Debian's ``chromium`` is installed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_fixtures import us_number

from bulk_import.cells import neutralise, unneutralise
from bulk_import.errors import WriteError
from bulk_import.metrics import RunMetrics
from bulk_import.models import REPORT_COLUMNS, Status
from bulk_import.output.aggregate import report_facts, series
from bulk_import.output.files import private_replacement
from bulk_import.output.page import STATUS_MEANINGS, render_page, write_page
from bulk_import.output.style import STATUS_CSS
from bulk_import.output.workbook import write_workbook
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox

CHROMIUM = Path("/usr/bin/chromium")
# The tags the page is made of: a hostile text must never add one.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section",
    "h1", "h2", "p", "span", "strong", "code", "pre", "ol", "li", "div", "table", "tr", "th",
    "td", "details", "summary", "figure", "figcaption", "svg", "line", "polyline", "polygon",
    "rect",
}  # fmt: skip


class Page(HTMLParser):
    """Parse a page into its tags, attributes and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes.extend((name, value or "") for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@dataclass(frozen=True, slots=True)
class RealRun:
    """Name what a real run left behind: its report and its summary JSON."""

    report: Path
    summary: dict[str, object]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    """Run ``bulk-import run`` against the sandbox: imports, webhook failures, bad rows."""
    work = tmp_path_factory.mktemp("run")
    numbers = [us_number(i) for i in range(24)]
    source = work / "contacts.csv"
    lines = ["number,label"] + [f"{n},Line {i}" for i, n in enumerate(numbers)]
    lines += ["hello,<script>alert('label')</script>", f"{numbers[0]},again", "4.15E+09,sci"]
    source.write_text("\n".join(lines) + "\n")
    faults = Faults(webhook_fail_numbers=(numbers[2], numbers[5], numbers[9]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")}
    with RunningSandbox(faults=faults) as sandbox:
        env |= {"CARTESIA_API_KEY": DEFAULT_API_KEY, "CARTESIA_BASE_URL": sandbox.base_url}
        done = subprocess.run(
            [sys.executable, "-m", "bulk_import", "run", str(source), "--provider-id",
             "prov_sandbox", "--agent-id", "agent_sandbox", "--report", str(work / "r.csv"),
             "--summary-json", str(work / "s.json"), "--no-progress", "--quiet"],
            env=env, cwd=work, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    return RealRun(work / "r.csv", json.loads((work / "s.json").read_text()))


def busy_metrics(seconds: int = 40, *, per_second: int = 20) -> RunMetrics:
    """Return metrics of a run of ``seconds`` with a burst of 429s and a lowered limit."""
    clock = [0.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    metrics.limit(8)
    for second in range(seconds):
        storm = seconds // 4 <= second < seconds // 2
        if storm:
            metrics.limit(2)
        for i in range(per_second):
            clock[0] = second + i / per_second
            token = metrics.sent()
            clock[0] += 0.03
            metrics.answered(token, status=429 if storm and i % 3 == 0 else 201, retry=storm)
            metrics.row_finished(ok=not (storm and i % 3 == 0))
        if not storm:
            metrics.limit(8)
    return metrics


def report_counts(path: Path) -> Counter[str]:
    """Count the statuses of a CSV report with the csv module."""
    with path.open(newline="", encoding="utf-8") as f:
        return Counter(line["status"] for line in csv.DictReader(f))


def shown_counts(page: str) -> dict[str, int]:
    """Read the rows-by-status table back from the page."""
    found = re.findall(
        r'<span class="swatch [^"]*"></span>([a-z_]+)</td><td class="n" data-label="rows">'
        r"([\d,]+)</td>",
        page,
    )
    return {status: int(count.replace(",", "")) for status, count in found}


def write_report(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write a CSV report of ``rows`` (missing cells empty), cells marked as the tool marks them."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)
        for row in rows:
            cells = [row.get(name, "") for name in REPORT_COLUMNS]
            writer.writerow(
                [
                    c if n == "number" else neutralise(c)
                    for n, c in zip(REPORT_COLUMNS, cells, strict=True)
                ]
            )
    return path


# -- self-contained, faithful ------------------------------------------------------------------


def test_the_page_names_nothing_outside_itself(real_run: RealRun, tmp_path: Path) -> None:
    """No src, href or url( reaches outside the page, and there is no script or link tag."""
    path = tmp_path / "run.html"
    write_page(path, summary=real_run.summary, report=real_run.report, metrics=busy_metrics())
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    for name, value in page.attributes:
        if name in ("src", "href", "xlink:href", "action"):
            assert not re.match(r"\s*([a-z]+:|//)", value, re.IGNORECASE), (name, value)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:|//)", text, re.IGNORECASE)
    assert "@import" not in text
    assert set(page.tags) <= ALLOWED_TAGS


def test_counts_on_the_page_match_the_report(real_run: RealRun) -> None:
    """Each status's row count on the page is the report's, and the total is in the heading."""
    page = render_page(summary=real_run.summary, report=real_run.report, metrics=None)
    expected = report_counts(real_run.report)
    assert expected["webhook_failed"] == 3
    assert expected["invalid"] == 2
    assert shown_counts(page) == dict(expected)
    assert f"Rows by status ({sum(expected.values()):,})" in page


def test_written_private_and_replaced_whole(real_run: RealRun, tmp_path: Path) -> None:
    """The page is mode 0600, replaces an older page whole and leaves no temporary file."""
    path = tmp_path / "run.html"
    path.write_text("old page")
    path.chmod(0o644)
    write_page(path, summary=real_run.summary, report=real_run.report, metrics=None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html"]


@pytest.mark.parametrize("where", ["missing/run.html", "a-folder"])
def test_an_unwritable_path_is_one_line_and_leaves_nothing(tmp_path: Path, where: str) -> None:
    """A page path in no folder, or naming a folder, is one WriteError line; nothing is left."""
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(WriteError, match=r"^cannot write the run page .*, or pass another path$"):
        write_page(tmp_path / where, summary={"exit_code": 2}, report=None, metrics=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"]
    assert not list((tmp_path / "a-folder").iterdir())


def test_every_status_of_the_report_appears(tmp_path: Path) -> None:
    """A report holding every status shows each one, with its count and meaning."""
    statuses = [status for i, status in enumerate(Status) for _ in range(i + 1)]
    rows = [
        # reconcile's extra rows have no input row: they are all counted, not merged
        {"row": "" if status is Status.EXTRA else str(n), "status": status.value, "error": "x"}
        for n, status in enumerate(statuses, 2)
    ]
    report = write_report(tmp_path / "all.csv", rows)
    page = render_page(summary={"exit_code": 1}, report=report, metrics=None)
    assert shown_counts(page) == {status.value: i + 1 for i, status in enumerate(Status)}


def test_every_status_has_a_colour_and_a_meaning() -> None:
    """Each status (rollback's and agent_fixed included) has its colour and its words."""
    every = {status.value for status in Status}
    assert set(STATUS_CSS) == every
    assert set(STATUS_MEANINGS) == every


def test_the_top_errors_group_rows_and_show_examples(real_run: RealRun) -> None:
    """Rows with one cause are one group, its count is theirs, and a few rows stand for it."""
    facts = report_facts(real_run.report)
    webhook = next(g for g in facts.errors if g.message.startswith("HTTP 400: Webhook"))
    assert webhook.count == 3  # three request ids, one cause
    assert webhook.statuses == ("webhook_failed",)
    assert [e.row for e in webhook.examples] == ["4", "7", "11"]
    page = render_page(summary=real_run.summary, report=real_run.report, metrics=None)
    assert f"{webhook.count}×</span>{escape(webhook.message)}" in page
    duplicate = next(g for g in facts.errors if g.statuses == ("duplicate",))
    assert duplicate.message == "duplicate of row N"


def test_hostile_labels_errors_and_options_are_escaped(tmp_path: Path) -> None:
    """Markup in a label, an error, the input name or an option is shown as text, never run."""
    evil = "<script>alert(1)</script>"
    attribute = '"><img src=x onerror=alert(2)>'
    report = write_report(
        tmp_path / "r.csv",
        [{"row": "2", "label": "=" + evil, "status": "failed", "error": attribute}],
    )
    summary = {
        "exit_code": 1,
        "input": evil,
        "options": {"label_column": attribute, "api_key": "sk_car_LEAK"},
        "next_steps": [f"bulk-import run {evil} --resume", f"see `{attribute}`"],
        "error": evil,
    }
    page = render_page(summary=summary, report=report, metrics=busy_metrics(5))
    parsed = Page(page)
    assert set(parsed.tags) <= ALLOWED_TAGS
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert escape("=" + evil) in page  # the label, its mark taken off, as text
    assert escape(attribute) in page
    assert "sk_car_LEAK" not in page


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(label=st.text(max_size=40), error=st.text(min_size=1, max_size=40))
def test_any_label_or_error_text_stays_text(tmp_path: Path, label: str, error: str) -> None:
    """Whatever a label or an error holds, the page gains no tag or attribute, and shows it."""
    report = write_report(
        tmp_path / "r.csv", [{"row": "2", "label": label, "status": "failed", "error": error}]
    )
    page = render_page(summary={"exit_code": 1, "input": label}, report=report, metrics=None)
    parsed = Page(page)
    assert set(parsed.tags) <= ALLOWED_TAGS
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert escape(unneutralise(neutralise(label))) in page


# -- every exit ------------------------------------------------------------------------------


def test_exit_2_without_a_report_shows_the_error(tmp_path: Path) -> None:
    """Exit 2 before anything was read: the page says why, and that there are no rows."""
    summary = {
        "command": "run",
        "input": "contacts.csv",
        "exit_code": 2,
        "total": 0,
        "counts": {},
        "error": "no phone number column found in contacts.csv (columns: A); pass --number-column",
        "exit_meaning": "bad usage or unusable input: nothing was sent",
    }
    for report in (None, tmp_path / "never-written.csv"):
        page = render_page(summary=summary, report=report, metrics=RunMetrics())
        assert "exit 2 · bad usage or unusable input: nothing was sent" in page
        assert escape(str(summary["error"])) in page
        assert "No rows:" in page
        assert "No request was sent." in page


def test_a_stopped_run_says_why_and_what_to_run(tmp_path: Path) -> None:
    """Exit 130 shows the stop, the not_attempted rows and the exact command to finish."""
    rows = [{"row": str(n), "status": "imported"} for n in range(2, 12)]
    rows += [
        {"row": str(n), "status": "not_attempted", "error": "interrupted"} for n in range(12, 20)
    ]
    report = write_report(tmp_path / "r.csv", rows)
    summary = {
        "exit_code": 130,
        "stopped": "interrupted (SIGINT)",
        "next_steps": [f"bulk-import run in.csv --resume --report {report}", "or `reconcile`"],
    }
    page = render_page(summary=summary, report=report, metrics=busy_metrics(8))
    assert "exit 130 · interrupted" in page
    assert "<strong>Stopped early:</strong> interrupted (SIGINT)" in page
    assert shown_counts(page) == {"imported": 10, "not_attempted": 8}
    assert f"<pre><code>bulk-import run in.csv --resume --report {report}</code></pre>" in page
    assert "or <code>reconcile</code>" in page


def test_a_report_that_is_not_a_report_is_named_not_fatal(tmp_path: Path) -> None:
    """A report path holding something else gives a page that says so, from the summary's counts."""
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    page = render_page(
        summary={"exit_code": 0, "counts": {"imported": 4}}, report=other, metrics=None
    )
    assert shown_counts(page) == {"imported": 4}
    assert "is not a bulk-import report" in page


def test_a_report_that_cannot_be_read_is_named_not_fatal(tmp_path: Path) -> None:
    """A report path that is a folder gives a page that says it cannot be read, and why."""
    page = render_page(summary={"exit_code": 1}, report=tmp_path, metrics=None)
    assert f"No rows: cannot read report {escape(str(tmp_path))}: Is a directory." in page


def test_without_metrics_there_are_no_charts(real_run: RealRun) -> None:
    """validate calls no API: no chart, but the counts; exit 0 says there is nothing to do."""
    summary = dict(real_run.summary, exit_code=0, next_steps=[], http={}, latency_ms={})
    page = render_page(summary=summary, report=real_run.report, metrics=None)
    assert "<svg" not in page
    assert "Nothing: every row is ok." in page


def test_without_metrics_the_summary_s_http_latency_and_concurrency_are_shown(
    tmp_path: Path,
) -> None:
    """A summary's http, latency_ms and concurrency are shown when no metrics are given."""
    circular: list[object] = []
    circular.append(circular)
    report = write_report(tmp_path / "r.csv", [{"row": "2", "status": "imported"}])
    summary = {
        "exit_code": 0,
        "duration_s": 4000,
        "http": {"201": 9, "no_answer": 1},
        "latency_ms": {"p50": 20.5, "p90": 31.0, "p99": 80.25, "max": 1200.0},
        "concurrency": {"ceiling": 16, "final": 12, "min": 4, "max": 16},
        "options": {
            "quiet": True,
            "sheet": None,
            "columns": ["a", "b"],
            "rate": 2.5,
            "loop": circular,
        },
    }
    page = render_page(summary=summary, report=report, metrics=None)
    assert 'data-label="answers">9</td>' in page
    assert "no_answer" in page
    assert "80.2 ms" in page
    assert "1,200.0 ms" in page
    assert (
        'data-label="concurrency">final</td><td class="n" data-label="requests in flight">12<'
        in page
    )
    assert "1 h 06 min (4000 s)" in page
    for shown in ("yes", "not set", "[&quot;a&quot;, &quot;b&quot;]", "2.5"):
        assert f'<td class="wrap" data-label="value">{shown}</td>' in page
    assert "Top errors" not in page  # no row has an error


@pytest.mark.parametrize(
    ("seconds", "shown"), [(42.25, "42.2 s"), (125, "2 min 05 s"), (7325, "2 h 02 min")]
)
def test_durations_read_as_a_person_says_them(seconds: float, shown: str) -> None:
    """A duration is shown in seconds, minutes or hours as fits, with the exact seconds."""
    page = render_page(summary={"exit_code": 0, "duration_s": seconds}, report=None, metrics=None)
    assert f'<p class="when">{shown} · 0 rows' in page
    assert f"{shown} ({seconds:g} s)" in page


def test_an_unknown_status_in_the_summary_is_shown_without_a_class() -> None:
    """A status this version does not know (from a newer summary) is still counted."""
    page = render_page(
        summary={"exit_code": 1, "counts": {"imported": 2, "teleported": 1}},
        report=None,
        metrics=None,
    )
    assert shown_counts(page) == {"imported": 2, "teleported": 1}


def test_a_failure_while_writing_leaves_the_old_page(tmp_path: Path) -> None:
    """Whatever stops the writing (here Ctrl-C), the old page stays and no temporary file does."""
    path = tmp_path / "run.html"
    path.write_text("old page")

    def interrupted_write() -> None:
        with private_replacement(path, what="run page") as tmp:
            tmp.write_text("half a page")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert path.read_text() == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html"]


# -- charts ------------------------------------------------------------------------------------


def test_charts_show_rows_429s_retries_and_in_flight_with_the_limit(real_run: RealRun) -> None:
    """With metrics, four series and the limit are drawn, and latency and HTTP counts shown."""
    metrics = busy_metrics()
    page = render_page(summary=real_run.summary, report=real_run.report, metrics=metrics)
    for title in ("Rows finished per second", "429s and retries per second", "Requests in flight"):
        assert f"<figcaption>{title}</figcaption>" in page
    assert page.count("<polyline") == 6  # rows, attention; 429s, retries; in flight, limit
    assert "limit as each second ended" in page
    http = metrics.http_counts()
    assert f'data-label="answers">{http["429"]:,}</td>' in page
    for name, value in metrics.latency_ms().items():
        assert f'<span class="name">{name}</span>' in page
        assert f"{value:,.1f} ms" in page


def test_a_long_run_is_downsampled_to_a_bounded_number_of_points() -> None:
    """Three hours of seconds become at most 600 points a line, each the mean of its bin."""
    clock = [0.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    for second in range(3 * 3600):
        clock[0] = float(second)
        metrics.answered(metrics.sent(), status=201, retry=False)
        metrics.row_finished(ok=True)
    page = render_page(summary={"exit_code": 0}, report=None, metrics=metrics)
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"', page)
    assert lines
    assert all(len(points.split()) <= 600 for points in lines)
    assert "each point is the mean over 18 s" in page
    ticks = r'<div class="xaxis"><span>0:00</span><span>1:29:\d\d</span><span>2:59:\d\d</span>'
    assert re.search(ticks, page)
    assert len(page.encode()) < 200_000


def test_a_run_under_a_second_draws_one_bar_a_series() -> None:
    """A run that fits in its first second has one point a series: a bar, not a level line."""
    clock = [0.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    for _ in range(3):
        metrics.answered(metrics.sent(), status=201, retry=False)
        metrics.row_finished(ok=True)
    page = render_page(summary={"exit_code": 0}, report=None, metrics=metrics)
    assert '<rect class="col st-imported" x="100" y="80" width="400" height="120"' in page
    assert '<polyline class="line st-imported"' not in page
    assert '<div class="xaxis" style="justify-content:space-around"><span>0 s</span></div>' in page


def test_a_run_of_a_few_seconds_is_drawn_second_by_second() -> None:
    """A 2-second run: a bar per second and series, the limit as steps; never a slope to 0."""
    clock = [0.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    metrics.limit(8)
    for i in range(300):  # 296 rows in the first second, 4 in the last, partial one
        clock[0] = i / 296
        metrics.answered(metrics.sent(), status=201, retry=False)
        metrics.row_finished(ok=True)
    page = render_page(summary={"exit_code": 0}, report=None, metrics=metrics)
    charts = page.split("<figure")[1:]
    rows = charts[0]
    assert rows.count('<rect class="col st-imported"') == 2
    assert "<polyline" not in rows
    assert "<polygon" not in rows
    assert "<span>0 s</span><span>1 s</span>" in rows
    flight = charts[2]
    assert re.search(r'<polyline class="line s-limit" points="0,\S+ 500,\S+ 500,\S+ 1000,', flight)


def test_the_in_flight_legend_says_a_peak_above_the_limit_is_no_breach() -> None:
    """The legend names in flight as each second's most and the limit as its end value."""
    page = render_page(summary={"exit_code": 0}, report=None, metrics=busy_metrics())
    assert "in flight: each second&#x27;s most at once" in page
    assert "limit as each second ended (in flight may pass it within the second)" in page
    assert "that is no breach" in page


def test_the_answers_say_which_requests_they_were() -> None:
    """200s of a run are the checks before the first row; of a reconcile, its listing."""
    http = {"200": 2, "201": 9, "no_answer": 1}
    run = render_page(summary={"command": "run", "http": http}, report=None, metrics=None)
    assert '200<span class="muted"> · the checks before the first row (GET: the key' in run
    assert '201<span class="muted"> · imported</span>' in run
    assert "no answer (a dropped connection, a timeout): retried" in run
    listing = render_page(summary={"command": "reconcile", "http": http}, report=None, metrics=None)
    assert '200<span class="muted"> · the account&#x27;s listing, page by page' in listing


def test_an_unlisted_answer_is_named_by_its_reason_phrase() -> None:
    """A status the table does not list reads as HTTP's own phrase; a 200 of another command
    as what it was; a key that is no status as itself alone."""
    http = {"200": 1, "418": 1, "odd": 1}
    page = render_page(summary={"command": "providers", "http": http}, report=None, metrics=None)
    assert '418<span class="muted"> · I&#x27;m a Teapot</span>' in page
    assert '200<span class="muted"> · done (GET look-ups, PATCHes)</span>' in page
    assert 'odd<span class="muted"> · </span>' in page


def test_an_xlsx_report_is_read_like_its_csv(real_run: RealRun, tmp_path: Path) -> None:
    """A workbook report gives the page its counts and top errors, with no decoding error."""
    book = tmp_path / "r.xlsx"
    write_workbook(book, report_csv=real_run.report, summary=real_run.summary)
    from_csv = render_page(summary=real_run.summary, report=real_run.report, metrics=None)
    page = render_page(summary=real_run.summary, report=book, metrics=None)
    assert "cannot read" not in page
    assert f"counted from the report {book}" in page
    assert shown_counts(page) == shown_counts(from_csv) == dict(report_counts(real_run.report))
    assert "Top errors" in page
    assert (
        page.split('id="errors"')[1].split("</section>")[0]
        == (from_csv.split('id="errors"')[1].split("</section>")[0])
    )


def test_quiet_seconds_are_filled_with_what_was_in_flight() -> None:
    """Seconds with no event count 0 rows, and hold what was in flight and the limit before."""
    clock = [0.0]
    metrics = RunMetrics(clock=lambda: clock[0])
    metrics.limit(4)
    token = metrics.sent()
    clock[0] = 10.5
    metrics.answered(token, status=201, retry=False)
    data = series(metrics.per_second())
    assert data.seconds == tuple(float(s) for s in range(11))
    assert data.columns["in_flight"][1:10] == (1.0,) * 9
    assert data.columns["limit"] == (4.0,) * 11
    assert data.columns["requests"] == (1.0,) + (0.0,) * 10


def test_a_100000_row_report_gives_a_page_under_1_mb(tmp_path: Path) -> None:
    """A 100,000-row report with thousands of errors still makes a page under 1 MB."""
    report = tmp_path / "big.csv"
    statuses = ["imported"] * 90 + ["failed"] * 4 + ["invalid"] * 3 + ["webhook_failed"] * 3
    with report.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for n in range(2, 100_002):
            status = statuses[n % 100]
            error = {"failed": f"HTTP 503: busy (request_id r{n})", "invalid": "too short"}.get(
                status, "HTTP 400: Webhook configuration failed" if status != "imported" else ""
            )
            writer.writerow(
                [n, n, f"+1415{n:07d}", f"label {n}", "prov", "", status, "", "", 1, error, ""]
            )
    path = tmp_path / "big.html"
    write_page(
        path, summary={"exit_code": 1}, report=report, metrics=busy_metrics(2000, per_second=1)
    )
    page = path.read_text(encoding="utf-8")
    assert len(page.encode()) < 1_000_000
    assert shown_counts(page) == dict(report_counts(report))


# -- in a real browser -------------------------------------------------------------------------


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with the flags this machine's closed network needs."""
    profile = tmp / "profile"
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    """Return a PNG's width and height from its header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def browser_page(real_run: RealRun, tmp_path: Path) -> Iterator[Path]:
    """Write a full page (report, metrics, next steps) for the browser."""
    path = tmp_path / "run.html"
    summary = dict(real_run.summary, next_steps=[f"bulk-import retry-patch {real_run.report}"])
    write_page(path, summary=summary, report=real_run.report, metrics=busy_metrics())
    yield path
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (apt-get install chromium): page not rendered",
)
@pytest.mark.parametrize("width", [390, 1280])
def test_the_page_renders_in_chromium_without_sideways_scrolling(
    browser_page: Path, tmp_path: Path, width: int
) -> None:
    """At 390 and 1280 px the page lays out no wider than the window, and draws a screenshot."""
    # Headless Chromium lays a window out at least 500 px wide, so the page goes in a frame of
    # the width under test; a probe script beside it (the page itself has none) writes down
    # how wide the page laid itself out.
    probe = tmp_path / "probe.html"
    probe.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe id="page" style="width:{width}px;'
        f'height:900px;border:0" srcdoc="{escape(browser_page.read_text(encoding="utf-8"))}">'
        "</iframe><script>const frame = document.getElementById('page');"
        "frame.onload = () => document.body.setAttribute('data-width',"
        " frame.contentDocument.documentElement.scrollWidth);</script></body></html>",
        encoding="utf-8",
    )
    done = chromium("--window-size=1400,1000", "--virtual-time-budget=5000", "--dump-dom",
                    probe.as_uri(), tmp=tmp_path)  # fmt: skip
    found = re.search(r'data-width="(\d+)"', done.stdout)
    assert found, done.stderr[-2000:]
    assert int(found[1]) <= width
    shot = tmp_path / f"page-{width}.png"
    chromium(
        f"--window-size={width},1400", f"--screenshot={shot}", browser_page.as_uri(), tmp=tmp_path
    )
    assert png_size(shot) == (width, 1400)
    assert shot.stat().st_size > 30_000  # a blank window compresses to a few kB
