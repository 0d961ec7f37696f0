"""Outputs that would overwrite one another, or INPUT, are refused before anything is read.

``output.paths.check_outputs`` compares by real path; the CLI is checked too (exit 2, one line,
the files named untouched: the summary JSON of a refused command is not written over them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, cli_env, write_report

from bulk_import.errors import UsageError
from bulk_import.output.files import STDOUT
from bulk_import.output.paths import check_outputs, output_clash


def refused(**given: object) -> str:
    """Return the line check_outputs refuses with (the test fails when it accepts)."""
    with pytest.raises(UsageError) as caught:
        check_outputs(**given)  # type: ignore[arg-type]
    return str(caught.value)


def test_each_output_is_compared_with_every_other_file(tmp_path: Path) -> None:
    """--summary-json / --html naming INPUT, REPORT, the report, its journal, its lock file, or
    each other: one line naming both and the fix."""
    report = tmp_path / "in.report.csv"
    source = str(tmp_path / "in.csv")
    given = {"report": report, "source": source}
    assert refused(**given, summary_json=report) == (
        f"--summary-json {report} is the report (--report {report}): writing it would replace "
        "that file; pass another --summary-json"
    )
    journal = tmp_path / "in.report.csv.journal"
    assert refused(**given, html=journal) == (
        f"--html {journal} is the report's journal ({journal}): writing it would replace that "
        "file; pass another --html"
    )
    lock = tmp_path / "in.report.csv.lock"
    assert refused(**given, summary_json=lock).startswith(
        f"--summary-json {lock} is the report's lock file ({lock}):"
    )
    assert refused(**given, summary_json=Path(source)).startswith(
        f"--summary-json {source} is INPUT ({source}):"
    )
    both = tmp_path / "run.out"
    assert refused(**given, summary_json=both, html=both) == (
        f"--html {both} is --summary-json {both}: writing it would replace that file; pass "
        "another --html"
    )
    patched = tmp_path / "fleet.report.csv"
    assert refused(report=tmp_path / "other.csv", report_in=patched, html=patched).startswith(
        f"--html {patched} is REPORT ({patched}):"
    )
    assert refused(report=Path(source), source=source) == (
        f"--report {source} is the input file itself; choose another report path"
    )


def test_no_output_is_the_journal_or_lock_file_of_input_or_report(tmp_path: Path) -> None:
    """--report, --summary-json or --html naming INPUT's or REPORT's journal or lock file: exit
    2, one line naming it (a report there reads as a killed run's journal of that file)."""
    report_in, source = tmp_path / "fleet.report.csv", tmp_path / "in.csv"
    journal, lock = tmp_path / "fleet.report.csv.journal", tmp_path / "fleet.report.csv.lock"
    assert refused(report=journal, report_in=report_in) == (
        f"--report {journal} is REPORT's journal ({journal}): writing it would corrupt that "
        "file's record; choose another report path"
    )
    assert refused(report=lock, report_in=report_in).startswith(
        f"--report {lock} is REPORT's lock file ({lock}):"
    )
    input_journal = tmp_path / "in.csv.journal"
    assert refused(report=input_journal, source=str(source)).startswith(
        f"--report {input_journal} is INPUT's journal ({input_journal}):"
    )
    given = {"report": tmp_path / "out.csv", "report_in": report_in, "source": str(source)}
    assert refused(**given, html=journal).startswith(f"--html {journal} is REPORT's journal")
    assert refused(**given, summary_json=tmp_path / "in.csv.lock").startswith(
        f"--summary-json {tmp_path / 'in.csv.lock'} is INPUT's lock file"
    )


def test_names_that_lead_to_one_file_are_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlink, ./ and a relative name reach the file they lead to."""
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "fleet.report.csv"
    real.write_text("")
    (tmp_path / "current.csv").symlink_to(real)
    assert refused(report=Path("current.csv"), summary_json=Path("./fleet.report.csv"))
    assert refused(report=real, html=tmp_path / "sub" / ".." / "fleet.report.csv")


def test_what_may_share_a_name_is_accepted(tmp_path: Path) -> None:
    """retry-patch rewrites REPORT as its report; stdout is no file; distinct files pass."""
    report = tmp_path / "fleet.report.csv"
    check_outputs(report=report, report_in=report, summary_json=tmp_path / "s.json")
    check_outputs(report=STDOUT, source="-", summary_json=STDOUT, html=tmp_path / "p.html")
    check_outputs(
        report=report,
        source=str(tmp_path / "fleet.csv"),
        summary_json=tmp_path / "s.json",
        html=tmp_path / "p.html",
    )
    assert output_clash(report=report, summary_json=None, html=None) == ""


def test_retry_patch_refuses_a_summary_over_its_report_and_leaves_it_whole(
    tmp_path: Path,
) -> None:
    """retry-patch REPORT --report other.csv --summary-json REPORT: exit 2, REPORT byte for byte
    (before, the summary JSON of the run replaced REPORT, the only record of its rows)."""
    report = tmp_path / "fleet.report.csv"
    write_report(report, [])
    before = report.read_bytes()
    done = cli(
        "retry-patch",
        str(report),
        "--report",
        str(tmp_path / "other.csv"),
        "--summary-json",
        str(report),
        env=cli_env("http://127.0.0.1:9"),
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"bulk-import: error: --summary-json {report} is REPORT ({report}): writing it would "
        "replace that file; pass another --summary-json\n"
    )
    assert report.read_bytes() == before
