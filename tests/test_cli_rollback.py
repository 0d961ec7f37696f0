"""`bulk-import rollback REPORT` on the command line: refusals, defaults, workbooks, output.

Every refusal is exit 2 and one line, and the sandbox hears nothing: not even the check of the
key. The runs go through click's runner against a sandbox on a real loopback socket.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import api_options, output_options
from sandbox_fixtures import us_number

from bulk_import.cli import main
from bulk_import.errors import UsageError
from bulk_import.jobs.rollback import rollback
from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.workbook import write_workbook
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox


def report_row(i: int, status: str, **cells: str) -> list[str]:
    """Return the cells of one report line: row i + 2, us_number(i), this status."""
    number = us_number(i)
    line = {
        "row": str(i + 2),
        "input_number": number,
        "number": number,
        "label": f"line {i}",
        "provider": "prov_sandbox",
        "agent_id": "agent_sandbox",
        "status": status,
        "http_status": "201",
        "phone_number_id": f"pn_{i + 1:012d}",
        "attempts": "1",
        "error": "",
        "finished_at": "2026-12-01T00:00:00Z",
    }
    line.update(cells)
    return [line[column] for column in REPORT_COLUMNS]


def write_report(path: Path, rows: list[list[str]]) -> Path:
    """Write a report of these lines."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture
def account() -> Iterator[RunningSandbox]:
    """A sandbox holding the labels the rows below name: us_number(0..4), ids pn_1..pn_5."""
    existing = tuple(
        {
            "number": us_number(i),
            "label": f"line {i}",
            "agent_id": "agent_sandbox",
            "provider_id": "prov_sandbox",
        }
        for i in range(5)
    )
    with RunningSandbox(faults=Faults(existing=existing)) as sandbox:
        yield sandbox


def invoke(sandbox: RunningSandbox, cwd: Path, *args: str) -> Result:
    """Run ``bulk-import ARGS`` in ``cwd`` against the sandbox."""
    env = {"CARTESIA_BASE_URL": sandbox.base_url, "CARTESIA_API_KEY": DEFAULT_API_KEY}
    with contextlib.chdir(cwd):
        return CliRunner().invoke(main, list(args), env=env)


def refused(result: Result, expected: str) -> None:
    """Check a refusal: exit 2, and the one line on stderr."""
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"bulk-import: error: {expected}"]


def test_the_default_report_is_the_report_s_stem_dot_rollback_here(
    tmp_path: Path, account: RunningSandbox
) -> None:
    """A plan writes <REPORT stem>.rollback.csv in the current directory (mode 0600); REPORT
    elsewhere is left as it was; the summary says what --apply would do, with the command."""
    away = tmp_path / "runs"
    away.mkdir()
    report = write_report(away / "fleet.report.csv", [report_row(i, "imported") for i in range(3)])
    before = report.read_bytes()
    result = invoke(account, tmp_path, "rollback", str(report), "--no-progress")
    assert result.exit_code == 0, result.output
    written = tmp_path / "fleet.report.rollback.csv"
    assert written.stat().st_mode & 0o777 == 0o600
    assert report.read_bytes() == before
    assert f"would be deleted: `bulk-import rollback {report} --no-progress --apply`" in (
        result.stderr
    )
    assert "a plan: nothing is changed (--apply deletes)" in result.stderr
    assert account.state.stats()["by_method"] == {"GET": 4}


def test_a_workbook_report_rolls_back_into_a_workbook(
    tmp_path: Path, account: RunningSandbox
) -> None:
    """An .xlsx REPORT is read, and --report x.xlsx writes the rollback as a workbook, which a
    second run reads back: the numbers it deleted are not sent again."""
    rows = write_report(tmp_path / "rows.csv", [report_row(i, "imported") for i in range(2)])
    report = tmp_path / "fleet.report.xlsx"
    write_workbook(report, report_csv=rows, summary={"counts": {"imported": 2}})
    args = ("rollback", str(report), "--apply", "--report", "undo.xlsx", "--no-progress")
    first = invoke(account, tmp_path, *args, "--summary-json", "first.json")
    assert first.exit_code == 0, first.output
    assert (tmp_path / "undo.xlsx").exists()
    assert sorted(account.state.numbers) == [us_number(i) for i in range(2, 5)]
    requests = account.state.stats()["requests"]
    again = invoke(account, tmp_path, *args, "--summary-json", "again.json")
    assert again.exit_code == 0, again.output
    assert account.state.stats()["requests"] == requests  # nothing sent: both deleted already
    summary = json.loads((tmp_path / "again.json").read_text())
    assert (summary["counts"], summary["requests"]) == ({"deleted": 2}, 0)
    assert summary["options"]["apply"] is True


def test_quiet_plan_prints_nothing_and_the_json_counts_it(
    tmp_path: Path, account: RunningSandbox
) -> None:
    """--quiet prints nothing on exit 0; --summary-json says the command, counts and options."""
    report = write_report(
        tmp_path / "r.csv", [report_row(0, "imported"), report_row(1, "already_imported")]
    )
    result = invoke(account, tmp_path, "rollback", "r.csv", "--quiet", "--summary-json", "s.json")
    assert (result.exit_code, result.output) == (0, "")
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["command"] == "rollback"
    assert summary["input"] == "r.csv"
    assert summary["report"] == "r.rollback.csv"
    assert summary["counts"] == {"would_delete": 1, "kept": 1}
    assert (summary["options"]["apply"], summary["options"]["force"]) == (False, False)
    assert (
        "1 would_delete: would be deleted: `bulk-import rollback r.csv --summary-json s.json "
        "--quiet --apply` deletes them" in summary["next_steps"]
    )
    assert report.exists()


def validate_report(path: Path) -> Path:
    return write_report(path, [report_row(0, "valid", phone_number_id="", http_status="")])


def rollback_report(path: Path) -> Path:
    return write_report(path, [report_row(0, "would_delete"), report_row(1, "kept")])


def unnamed_report(path: Path) -> Path:
    rows = [report_row(0, "imported")]
    rows += [report_row(i, "webhook_failed", number="", phone_number_id="") for i in (1, 2)]
    return write_report(path, rows)


def header_only(path: Path) -> Path:
    return write_report(path, [])


def not_a_report(path: Path) -> Path:
    path.write_text("number,label\n+14155552671,a\n")
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            validate_report,
            "{r} is a validate report: validate imports nothing, so there is nothing to undo; "
            "roll back the report of bulk-import run",
        ),
        (
            rollback_report,
            "{r} is a rollback report: roll back the report of the run itself (bulk-import "
            "rollback RUN-REPORT, then --apply); its rollback report is read from there",
        ),
        (
            unnamed_report,
            "{r} row 3 says webhook_failed but names neither a phone_number_id nor an E.164 "
            "number (2 rows like it): nothing says which number to undo; restore those cells "
            "from the run's report",
        ),
        (header_only, "{r} holds no row: nothing to undo"),
        (
            not_a_report,
            "{r} is not a bulk-import report (its header must be: "
            + ",".join(REPORT_COLUMNS)
            + ")",
        ),
    ],
    ids=["validate", "rollback", "no-id-no-number", "no-row", "not-a-report"],
)
def test_a_report_there_is_nothing_to_undo_in_is_refused_and_nothing_sent(
    tmp_path: Path, account: RunningSandbox, make: object, expected: str
) -> None:
    """Each REPORT that cannot be rolled back: exit 2, one line naming it, no request at all,
    no rollback report, and --summary-json still written with the error."""
    assert callable(make)
    report: Path = make(tmp_path / "r.csv")
    result = invoke(account, tmp_path, "rollback", "r.csv", "--summary-json", "s.json")
    refused(result, expected.format(r="r.csv"))
    assert account.state.stats()["requests"] == 0
    assert not (tmp_path / "r.rollback.csv").exists()
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["exit_code"], summary["error"]) == (2, expected.format(r="r.csv"))
    assert report.exists()


def test_report_options_that_would_lose_a_record_are_refused(
    tmp_path: Path, account: RunningSandbox
) -> None:
    """--report naming REPORT itself, another command's report, or the rollback of another
    REPORT: exit 2, one line, nothing sent, the file left as it was."""
    report = write_report(tmp_path / "r.csv", [report_row(0, "imported")])
    refused(
        invoke(account, tmp_path, "rollback", "r.csv", "--report", "r.csv"),
        "--report r.csv is the input file itself; choose another report path",
    )
    other = write_report(tmp_path / "other.csv", [report_row(0, "imported")])
    refused(
        invoke(account, tmp_path, "rollback", "r.csv", "--report", "other.csv"),
        "--report other.csv is a report of another command (imported), not a rollback's: a "
        "rollback never replaces it; name another --report",
    )
    foreign = write_report(tmp_path / "foreign.csv", [report_row(3, "deleted", row="2")])
    kept = {path: path.read_bytes() for path in (report, other, foreign)}
    refused(
        invoke(account, tmp_path, "rollback", "r.csv", "--report", "foreign.csv"),
        f"--report foreign.csv is the rollback of another REPORT: its row 2 is {us_number(3)}, "
        f"but r.csv has {us_number(0)} there; name another --report",
    )
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    result = invoke(account, tmp_path, "rollback", "r.csv", "--report", "junk.csv")
    assert result.exit_code == 2
    assert result.stderr.startswith("bulk-import: error: --report junk.csv: junk.csv is not a ")
    assert account.state.stats()["requests"] == 0
    assert {path: path.read_bytes() for path in kept} == kept
    assert junk.read_text() == "a,b\n1,2\n"


def test_no_key_is_exit_2_before_the_report_is_read(tmp_path: Path) -> None:
    """Without an API key the rollback stops at once, exit 2, one line naming the fix."""
    write_report(tmp_path / "r.csv", [report_row(0, "imported")])
    with contextlib.chdir(tmp_path):
        result = CliRunner().invoke(main, ["rollback", "r.csv"], env={"CARTESIA_API_KEY": ""})
    refused(
        result, "no API key: set CARTESIA_API_KEY, or pass --api-key-file PATH ('-' reads stdin)"
    )


def test_the_journal_a_killed_rollback_left_is_read_and_its_deleted_rows_kept(
    tmp_path: Path, account: RunningSandbox
) -> None:
    """A journal beside the rollback report (a SIGKILL): its deleted rows are kept as they are
    and nothing is sent for them; the rows it did not finish are checked and deleted."""
    write_report(tmp_path / "r.csv", [report_row(i, "imported") for i in range(3)])
    journal = write_report(
        tmp_path / "r.rollback.csv.journal",
        [report_row(0, "deleted", http_status="204", error="")],
    )
    account.state.store.delete(account.state.store.find("pn_000000000001"))
    result = invoke(account, tmp_path, "rollback", "r.csv", "--apply", "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"a killed rollback left {journal.name}: its deleted rows are kept" in result.stderr
    assert "r.rollback.csv: 1 number deleted already is kept, not sent again" in result.stderr
    assert not journal.exists()
    with (tmp_path / "r.rollback.csv").open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert [line["status"] for line in lines] == ["deleted"] * 3
    assert lines[0]["finished_at"] == "2026-12-01T00:00:00Z"  # the journal's line, as it was
    assert account.state.stats()["by_method"] == {"GET": 3, "PATCH": 2, "DELETE": 2}
    assert sorted(account.state.numbers) == [us_number(3), us_number(4)]


def test_a_report_on_stdout_is_the_rollback_csv(tmp_path: Path, account: RunningSandbox) -> None:
    """--report - writes the rollback report to stdout (nothing to read back, nothing kept)."""
    write_report(tmp_path / "r.csv", [report_row(0, "imported"), report_row(1, "invalid")])
    result = invoke(account, tmp_path, "rollback", "r.csv", "--report", "-", "--quiet")
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(result.stdout.splitlines()))
    assert [line["status"] for line in lines] == ["would_delete", "kept"]


def test_the_library_refuses_a_report_path_that_is_report_itself(tmp_path: Path) -> None:
    """Called from Python, a rollback whose report is REPORT itself is refused (never rewritten)."""
    report = write_report(tmp_path / "r.csv", [report_row(0, "imported")])
    before = report.read_bytes()
    with RunningSandbox() as sandbox, pytest.raises(UsageError, match="is REPORT itself"):
        rollback(
            report=report,
            api=api_options(sandbox.base_url),
            output=output_options(tmp_path / "." / "r.csv"),
        )
    assert report.read_bytes() == before
