"""The .xlsx report: every cell a string (never a formula), private, atomic, INPUT again.

Real workbooks throughout: written by ``write_workbook``, inspected with openpyxl and as raw
XML, read back by ``read_workbook`` and by the reader as INPUT.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_import.cells import unneutralise
from bulk_import.errors import InputError, UsageError
from bulk_import.models import REPORT_COLUMNS, Outcome, Provider, Row, Status
from bulk_import.output.report import Journal
from bulk_import.output.workbook import EXCEL_CELL_CHARS, read_workbook, write_workbook
from bulk_import.sandbox import DEFAULT_API_KEY, RunningSandbox
from bulk_import.sources import open_input

WHEN = dt.datetime(2026, 11, 27, 5, 59, 15, tzinfo=dt.UTC)
# Labels a spreadsheet would take for something else than text.
TRAPS = [
    "=1+1",
    "+14155550101",
    "@x",
    "-5",
    "\tTabbed",
    "12345678901234567890",
    '=HYPERLINK("http://example.com","x")',
    "http://example.com",
    "0012",
    "1e5",
    "TRUE",
    "NA",
]
SUMMARY: dict[str, object] = {
    "command": "run",
    "input": "=contacts.csv",
    "exit_code": 1,
    "duration_s": 3.25,
    "total": 14,
    "counts": {"imported": 12, "webhook_failed": 1, "invalid": 1},
}


def outcome(n: int, label: str, status: Status = Status.IMPORTED, **fields: object) -> Outcome:
    """Return an outcome for row ``n`` with ``label``."""
    row = Row(n, f"415555{n:04d}", f"+1415555{n:04d}", label, Provider(id="prov_1"), "agent_1")
    values: dict[str, object] = {"http_status": 201, "phone_number_id": f"pn_{n}", "attempts": 1}
    values.update(fields)
    return Outcome(row, status, finished_at=WHEN, **values)  # type: ignore[arg-type]


def csv_report(path: Path, outcomes: list[Outcome]) -> Path:
    """Write the outcomes as the tool writes its CSV report."""
    writer = Journal(path)
    for item in outcomes:
        writer.write(item)
    writer.publish()
    return path


def csv_rows(path: Path) -> list[list[str]]:
    """Return a CSV report's header and rows."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture
def trap_report(tmp_path: Path) -> Path:
    """Write a CSV report whose labels are all spreadsheet traps, plus odd other cells."""
    outcomes = [outcome(i + 2, label) for i, label in enumerate(TRAPS)]
    outcomes.append(
        outcome(
            len(TRAPS) + 2,
            "plain",
            Status.FAILED,
            http_status=400,
            error="-1 is not allowed; =see docs",
            phone_number_id="",
        )
    )
    invalid = Row(len(TRAPS) + 3, "+1 (415) 555", "", "", None, "", Status.INVALID, "too short")
    outcomes.append(Outcome(invalid, Status.INVALID, error="too short", finished_at=WHEN))
    return csv_report(tmp_path / "r.report.csv", outcomes)


def test_every_report_cell_is_a_string_and_none_a_formula(
    trap_report: Path, tmp_path: Path
) -> None:
    """openpyxl sees every Report cell as a string equal to the CSV cell without its mark."""
    book_path = tmp_path / "r.xlsx"
    write_workbook(book_path, report_csv=trap_report, summary=SUMMARY)
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames == ["Report", "Summary"]
    sheet = book["Report"]
    expected = csv_rows(trap_report)
    seen = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(seen) == len(expected)
    for cells, want in zip(sheet.iter_rows(), expected, strict=True):
        for cell, text in zip(cells, want, strict=True):
            if text == "":
                assert cell.value is None
                continue
            assert cell.data_type == "s", (cell.coordinate, cell.value)
            assert cell.value == unneutralise(text), cell.coordinate
    labels = [row[3].value for row in sheet.iter_rows(min_row=2, max_row=len(TRAPS) + 1)]
    assert labels == TRAPS  # "=1+1" is text and "+1415..." keeps its "+", with no "'" mark
    with zipfile.ZipFile(book_path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml
    assert "<f " not in xml
    assert "<hyperlink" not in xml


def test_the_summary_sheet_holds_the_facts_and_counts(trap_report: Path, tmp_path: Path) -> None:
    """Sheet Summary lists the run's facts and each status's count, counts as numbers."""
    book_path = tmp_path / "r.xlsx"
    write_workbook(book_path, report_csv=trap_report, summary=SUMMARY)
    rows = [
        tuple(cell.value for cell in row) for row in openpyxl.load_workbook(book_path)["Summary"]
    ]
    assert ("command", "run") in rows
    assert ("input", "=contacts.csv") in rows  # text, not a formula
    assert ("duration_s", 3.25) in rows
    start = rows.index(("status", "rows"))
    assert rows[start + 1 :] == [("imported", 12), ("webhook_failed", 1), ("invalid", 1)]


def test_the_workbook_is_input_giving_the_csv_report_s_rows(
    trap_report: Path, tmp_path: Path
) -> None:
    """The reader gives the same rows from the workbook as from the CSV report it came from."""
    book_path = tmp_path / "r.xlsx"
    write_workbook(book_path, report_csv=trap_report, summary=SUMMARY)
    from_csv = list(open_input(str(trap_report)))
    from_book = list(open_input(str(book_path)))
    assert from_book == from_csv
    assert from_book[0].number == "+14155550002"
    assert from_book[0].label == "=1+1"
    assert from_book[1].label == "+14155550101"
    assert from_book[-1].number == "+1 (415) 555"  # the invalid row's typed number, read back


def test_read_workbook_gives_back_the_csv_report_exactly(trap_report: Path, tmp_path: Path) -> None:
    """read_workbook returns the CSV report's header and rows, each cell as the CSV has it."""
    book_path = tmp_path / "r.xlsx"
    write_workbook(book_path, report_csv=trap_report, summary=SUMMARY)
    assert read_workbook(book_path) == csv_rows(trap_report)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    label=st.text(
        # U+FFFE/U+FFFF are not characters: Excel's files cannot hold them (XlsxWriter writes
        # an escape the readers leave as it is)
        st.characters(exclude_categories=["Cs"], exclude_characters="\ufffe\uffff"),
        max_size=60,
    )
)
def test_any_label_survives_report_workbook_and_back(tmp_path: Path, label: str) -> None:
    """Any label text: CSV report -> workbook -> read_workbook gives the CSV report's cells."""
    report = csv_report(tmp_path / "p.report.csv", [outcome(2, label), outcome(3, "next")])
    book_path = tmp_path / "p.xlsx"
    write_workbook(book_path, report_csv=report, summary={})
    back = read_workbook(book_path)
    assert back == csv_rows(report)
    assert unneutralise(back[1][3]) == unneutralise(csv_rows(report)[1][3])


def test_written_private_and_replaced_whole(trap_report: Path, tmp_path: Path) -> None:
    """The workbook is mode 0600, replaces an older file whole, and leaves no temporary file."""
    book_path = tmp_path / "r.xlsx"
    book_path.write_text("old")
    book_path.chmod(0o644)
    write_workbook(book_path, report_csv=trap_report, summary=SUMMARY)
    assert stat.S_IMODE(book_path.stat().st_mode) == 0o600
    assert zipfile.is_zipfile(book_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.report.csv", "r.xlsx"]


def test_a_cell_too_long_for_excel_is_refused_and_nothing_replaced(tmp_path: Path) -> None:
    """A cell over Excel's 32,767 characters is one UsageError line; the old file stays."""
    report = csv_report(tmp_path / "long.csv", [outcome(2, "x" * (EXCEL_CELL_CHARS + 1))])
    book_path = tmp_path / "long.xlsx"
    book_path.write_text("old")
    with pytest.raises(UsageError, match=r"a label cell .* holds 32,768 characters.*\.csv report$"):
        write_workbook(book_path, report_csv=report, summary={})
    assert book_path.read_text() == "old"


def test_a_missing_or_foreign_csv_is_an_input_error(tmp_path: Path) -> None:
    """write_workbook names a CSV that is missing or not a report, in one line."""
    with pytest.raises(InputError, match=r"^report .*nothing\.csv does not exist$"):
        write_workbook(tmp_path / "x.xlsx", report_csv=tmp_path / "nothing.csv", summary={})
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="is not a bulk-import report"):
        write_workbook(tmp_path / "x.xlsx", report_csv=other, summary={})
    assert not (tmp_path / "x.xlsx").exists()


def foreign_workbook(path: Path, *, sheet: str, header: list[str]) -> Path:
    """Write a workbook that bulk-import did not write, with openpyxl."""
    book = openpyxl.Workbook()
    book.active.title = sheet
    book.active.append(header)
    book.active.append(["2"] * len(header))
    book.save(path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("number\n+14155550101\n"), r"cannot read .* as a bulk-import"),
        (lambda p: p.write_bytes(b""), r"cannot read .* as a bulk-import"),
        (
            lambda p: foreign_workbook(p, sheet="Sheet1", header=list(REPORT_COLUMNS)),
            r'cannot read .* \(.*Report.*\); pass the \.xlsx bulk-import wrote \(sheet "Report"\)',
        ),
        (
            lambda p: foreign_workbook(p, sheet="Report", header=["number", "label"]),
            r'is not a bulk-import report \(its sheet "Report" must start with the header: row,',
        ),
        (
            lambda p: foreign_workbook(p, sheet="Report", header=[*REPORT_COLUMNS, "notes"]),
            r"is not a bulk-import report",
        ),
    ],
)
def test_a_workbook_that_is_not_ours_is_one_clear_error(
    tmp_path: Path, make: object, message: str
) -> None:
    """A file that is not a workbook, or not our report, is one InputError line."""
    path = tmp_path / "x.xlsx"
    make(path)  # type: ignore[operator]
    with pytest.raises(InputError, match=message) as caught:
        read_workbook(path)
    assert "\n" not in str(caught.value)


def test_a_missing_workbook_is_named(tmp_path: Path) -> None:
    """read_workbook of a path with no file says so in the report reader's words."""
    with pytest.raises(InputError, match=r"^report .*gone\.xlsx does not exist$"):
        read_workbook(tmp_path / "gone.xlsx")


def test_a_workbook_edited_by_hand_reads_back(tmp_path: Path) -> None:
    """Blank columns and rows a person left, and a number typed as a number, still read.

    Cells come back in the CSV report's form: "-desk" gets the mark the CSV would give it.
    """
    path = tmp_path / "edited.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Report"
    sheet.append([*REPORT_COLUMNS, " "])
    sheet.append([2, "4155550002", "+14155550002", "-desk", "prov_1", "", "failed", 503, "", 6])
    sheet.append([])
    book.save(path)
    rows = read_workbook(path)
    assert rows[0] == list(REPORT_COLUMNS)
    assert rows[1:] == [
        [
            "2",
            "4155550002",
            "+14155550002",
            "'-desk",
            "prov_1",
            "",
            "failed",
            "503",
            "",
            "6",
            "",
            "",
        ]
    ]


def run_cli(source: Path, report: Path, *, base_url: str, cwd: Path) -> None:
    """Import ``source`` with ``bulk-import run`` (a subprocess) against ``base_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")}
    env |= {"CARTESIA_API_KEY": DEFAULT_API_KEY, "CARTESIA_BASE_URL": base_url}
    done = subprocess.run(
        [sys.executable, "-m", "bulk_import", "run", str(source), "--provider-id",
         "prov_sandbox", "--report", str(report), "--quiet", "--no-progress"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_workbook_report_run_again_sends_the_original_labels(tmp_path: Path) -> None:
    """run -> .xlsx report -> run it against a fresh sandbox stores the same numbers and labels.

    Issue 14's round trip for workbooks: the default label ({number}, which starts with "+")
    and labels a spreadsheet would take for formulas come back exactly, with no "'" mark.
    """
    labels = [*TRAPS[:4], "", "Front desk", "", "'quoted", "x=1"]
    numbers = [f"+1415200{i:04d}" for i in range(len(labels))]
    source = tmp_path / "first.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("number", "label"), *zip(numbers, labels, strict=True)])
    report = tmp_path / "first.report.csv"
    with RunningSandbox() as sandbox:
        run_cli(source, report, base_url=sandbox.base_url, cwd=tmp_path)
        first = {n: v["label"] for n, v in sandbox.state.numbers.items()}
    book = tmp_path / "first.report.xlsx"
    write_workbook(book, report_csv=report, summary={})
    with RunningSandbox() as fresh:
        run_cli(book, tmp_path / "again.report.csv", base_url=fresh.base_url, cwd=tmp_path)
        again = {n: (v["label"], v["provider"]["id"]) for n, v in fresh.state.numbers.items()}
    assert first == {n: label or n for n, label in zip(numbers, labels, strict=True)}
    assert again == {n: (first[n], "prov_sandbox") for n in numbers}
