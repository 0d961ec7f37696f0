"""What every command leaves on every exit: the summary JSON and the run page, and .xlsx reports.

Through the CLI (click's runner, or a subprocess for signals) against the sandbox.
"""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import openpyxl
from click.testing import CliRunner, Result
from conftest import (
    JournalWatch,
    Point,
    cli,
    cli_env,
    finish,
    numbers,
    read_report,
    signal_at,
    start_cli,
    statuses,
    write_input,
)

from bulk_import.cli import main
from bulk_import.config import OutputOptions
from bulk_import.models import REPORT_COLUMNS, Summary, utc_now
from bulk_import.output.closing import close_output
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox

RUN = ("--provider-id", "prov_sandbox", "--no-progress")


def invoke(args: list[str], base_url: str | None, key: str | None = DEFAULT_API_KEY) -> Result:
    """Run the CLI in this process; return its result."""
    env = {"CARTESIA_API_KEY": key, "CARTESIA_BASE_URL": base_url}
    return CliRunner().invoke(main, args, env={k: v for k, v in env.items() if v is not None})


def page_and_summary(folder: Path) -> tuple[str, dict[str, object]]:
    """Return the run page's HTML and the summary JSON a command left in ``folder``."""
    page = (folder / "run.html").read_text(encoding="utf-8")
    return page, json.loads((folder / "s.json").read_text())


def outputs(folder: Path) -> list[str]:
    """Return the options that write the summary and the page into ``folder``."""
    return ["--summary-json", str(folder / "s.json"), "--html", str(folder / "run.html")]


def test_a_finished_run_writes_its_page_and_says_where(tmp_path: Path) -> None:
    """Exit 0: the page is written (0600), named on screen and in the summary JSON."""
    source = write_input(tmp_path / "in.csv", numbers(5))
    report = tmp_path / "in.report.csv"
    with RunningSandbox() as sandbox:
        args = ["run", str(source), *RUN, "--report", str(report), *outputs(tmp_path)]
        result = invoke(args, sandbox.base_url)
    assert result.exit_code == 0, result.output
    page, summary = page_and_summary(tmp_path)
    assert f"run page: {tmp_path / 'run.html'}" in result.stderr
    assert summary["page"] == str(tmp_path / "run.html")
    assert (tmp_path / "run.html").stat().st_mode & 0o777 == 0o600
    assert "imported" in page
    assert summary["http"] == {"200": 2, "201": 5}  # the key's check, the providers, 5 POSTs
    latency = summary["latency_ms"]
    assert isinstance(latency, dict)
    assert set(latency) == {"p50", "p90", "p99", "max"}


def test_a_run_refused_before_it_starts_still_writes_both(tmp_path: Path) -> None:
    """Exit 2 from the CLI itself (no API key): the summary JSON and the page say why."""
    source = write_input(tmp_path / "in.csv", numbers(2))
    result = invoke(["run", str(source), *RUN, *outputs(tmp_path)], None, key=None)
    assert result.exit_code == 2
    page, summary = page_and_summary(tmp_path)
    assert summary["exit_code"] == 2
    assert str(summary["error"]).startswith("no API key: set CARTESIA_API_KEY")
    assert "no API key" in page
    assert summary["total"] == 0


def test_an_unusable_input_writes_both_and_leaves_the_report(tmp_path: Path) -> None:
    """Exit 2 from the input (a header, no rows): both written, the old report untouched."""
    source = tmp_path / "in.csv"
    source.write_text("number,label\n")
    report = tmp_path / "in.report.csv"
    report.write_text("yesterday's report\n")
    with RunningSandbox() as sandbox:
        args = ["run", str(source), *RUN, "--report", str(report), *outputs(tmp_path)]
        result = invoke(args, sandbox.base_url)
        assert sandbox.state.stats()["requests"] == 0
    assert result.exit_code == 2
    _, summary = page_and_summary(tmp_path)
    assert "has a header but no data rows" in str(summary["error"])
    assert report.read_text() == "yesterday's report\n"


def test_a_stop_before_the_first_row_writes_both(tmp_path: Path) -> None:
    """Exit 3 (a refused key, found by the first GET): both written, with the reason."""
    source = write_input(tmp_path / "in.csv", numbers(2))
    with RunningSandbox(api_key="sk_car_other") as sandbox:
        result = invoke(["run", str(source), *RUN, *outputs(tmp_path)], sandbox.base_url)
    assert result.exit_code == 3
    page, summary = page_and_summary(tmp_path)
    assert "refused the key (HTTP 401)" in str(summary["stopped"])
    assert "refused the key" in page


def test_an_interrupted_run_writes_both(tmp_path: Path) -> None:
    """Exit 130 (SIGINT mid-run): the page and the JSON hold the counts of the full report."""
    write_input(tmp_path / "in.csv", numbers(200))
    report = tmp_path / "in.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=30)) as sandbox:
        args = ("run", "in.csv", *RUN, "--concurrency", "2", *outputs(tmp_path))
        process = start_cli(*args, env=cli_env(sandbox.base_url), cwd=tmp_path)
        assert signal_at(process, JournalWatch(report), Point(rows=5), base=0, sig=signal.SIGINT)
        code, _, err = finish(process)
    assert code == 130, err
    page, summary = page_and_summary(tmp_path)
    assert summary["exit_code"] == 130
    counts = statuses(read_report(report))
    assert summary["counts"] == dict(counts)
    assert "not_attempted" in page


def test_a_page_that_cannot_be_written_stops_a_finished_run_with_exit_3(tmp_path: Path) -> None:
    """A finished run whose page cannot be written (its folder went) exits 3 saying so, in the
    quiet line and in the summary JSON; a run that had stopped otherwise keeps its exit code."""
    summary = Summary(
        command="run", input="in.csv", report="r.csv", started_at=utc_now(), exit_code=1
    )
    stream = io.StringIO()
    output = OutputOptions(
        report=tmp_path / "r.csv",
        summary_json=tmp_path / "s.json",
        html=tmp_path / "gone" / "run.html",
        quiet=True,
    )
    close_output(summary, output=output, elapsed_s=1.0, stream=stream, printed=True)
    problem = (
        f"cannot write the run page {tmp_path / 'gone' / 'run.html'}: No such file or directory; "
        "its folder does not exist, or pass another path"
    )
    assert stream.getvalue().splitlines() == [
        f"bulk-import run in.csv: exit 3: stopped early: {problem} (no report written)"
    ]
    data = json.loads((tmp_path / "s.json").read_text())
    assert (data["exit_code"], data["stopped"]) == (3, problem)
    assert "page" not in data
    interrupted = Summary(
        command="run", input="in.csv", report="r.csv", started_at=utc_now(), exit_code=130
    )
    stream = io.StringIO()
    close_output(interrupted, output=output, elapsed_s=1.0, stream=stream, printed=True)
    assert interrupted.exit_code == 130
    assert stream.getvalue().splitlines()[-1] == f"bulk-import: warning: {problem}"


def test_an_xlsx_report_is_a_workbook_that_resume_and_retry_patch_read(tmp_path: Path) -> None:
    """--report x.xlsx: a workbook of text cells; --resume keeps its rows; retry-patch patches."""
    given = numbers(6)
    source = write_input(tmp_path / "in.csv", given, agent="agent_sandbox")
    report = tmp_path / "fleet.xlsx"
    faults = Faults(webhook_fail_numbers=(given[1], given[4]))
    with RunningSandbox(faults=faults) as sandbox:
        first = invoke(["run", str(source), *RUN, "--report", str(report)], sandbox.base_url)
        assert first.exit_code == 1, first.output
        book = openpyxl.load_workbook(report)
        sheet = book["Report"]
        cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
        assert cells[1][2] == given[0]  # the number keeps its "+", as text
        assert all(isinstance(value, str) for row in cells for value in row if value is not None)
        assert "Summary" in book.sheetnames
        posts = sum(sandbox.state.post_counts.values())
        again = invoke(
            ["run", str(source), *RUN, "--report", str(report), "--resume"], sandbox.base_url
        )
        assert again.exit_code == 1
        assert sum(sandbox.state.post_counts.values()) == posts  # every row kept, none resent
        patched = invoke(["retry-patch", str(report), "--no-progress"], sandbox.base_url)
        assert patched.exit_code == 0, patched.output
        assert sandbox.state.get(given[1])["agent"]["id"] == "agent_sandbox"  # type: ignore[index]
    rows = list(openpyxl.load_workbook(report)["Report"].iter_rows(values_only=True))
    assert [row[6] for row in rows[1:]] == [
        "imported",
        "patched",
        "imported",
        "imported",
        "patched",
        "imported",
    ]
    assert not (tmp_path / "fleet.xlsx.journal").exists()


def test_report_and_summary_json_dash_write_to_stdout(tmp_path: Path) -> None:
    """--report - and --summary-json - write to stdout (as - reads stdin for INPUT), no file."""
    source = write_input(tmp_path / "in.csv", numbers(3))
    with RunningSandbox() as sandbox:
        env = cli_env(sandbox.base_url)
        done = cli("run", "in.csv", *RUN, "--report", "-", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == ",".join(REPORT_COLUMNS)
        assert [line.split(",")[6] for line in lines[1:]] == ["imported"] * 3
        assert "report: -" in done.stderr  # the person's summary stays on stderr
        done = cli("validate", "in.csv", "--summary-json", "-", "--quiet", env=env, cwd=tmp_path)
        assert done.returncode == 1  # no provider: invalid rows
        assert json.loads(done.stdout)["counts"] == {"invalid": 3}
    assert not (tmp_path / "-").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "in.validate.csv"]
    assert source.exists()


def test_two_outputs_on_stdout_are_refused() -> None:
    """--report - with --summary-json -: one line, exit 2 (they would mix on one stream)."""
    result = invoke(["validate", "x.csv", "--report", "-", "--summary-json", "-"], None)
    assert result.exit_code == 2
    assert "--report and --summary-json cannot both be '-' (stdout); name a file" in result.output
