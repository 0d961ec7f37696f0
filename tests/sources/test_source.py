"""Tests for bulk_import.sources.source: the rows a source yields, cleaned, as a report reads."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from source_helpers import message, write_csv

from bulk_import.models import REPORT_COLUMNS, RawRow
from bulk_import.sources import open_input


def test_report_fed_back_as_input(tmp_path: Path) -> None:
    """A report is an input: number beats input_number and neutralised cells get their ' off."""
    path = write_csv(
        tmp_path / "contacts.report.csv",
        [
            list(REPORT_COLUMNS),
            [
                "2",
                "(415) 555-2671",
                "+14155552671",
                "'=HYPERLINK(1)",
                "twilio:AC1:ie1",
                "'-agent",
                "failed",
                "500",
                "",
                "6",
                "'@boom",
                "2026-11-27T05:59:15Z",
            ],
        ],
    )
    source = open_input(str(path))
    assert list(source) == [
        RawRow(
            row_number=2,
            number="+14155552671",
            label="=HYPERLINK(1)",
            agent_id="-agent",
            provider="twilio:AC1:ie1",
        )
    ]


def test_report_row_without_a_number_falls_back_to_input_number(tmp_path: Path) -> None:
    """An invalid report row (empty number) is read with its input_number, quote taken off."""
    header = ["row", "input_number", "number", "label"]
    path = write_csv(
        tmp_path / "r.csv",
        [header, ["2", "NA", "", "a"], ["3", "'+1 415", "", "b"], ["4", "", "", "c"]],
    )
    assert [(r.row_number, r.number) for r in open_input(str(path))] == [
        (2, "NA"),
        (3, "+1 415"),
        (4, ""),
    ]
    short = tmp_path / "short.csv"
    short.write_text("number,label,input_number\n,a\n", encoding="utf-8")
    assert [(r.row_number, r.number) for r in open_input(str(short))] == [(2, "")]


def test_values_stay_text_and_are_stripped(tmp_path: Path) -> None:
    """NA, null and N/A stay text; surrounding spaces go; a leading zero and + stay."""
    path = write_csv(
        tmp_path / "in.csv",
        [["number", "label"], ["NA", " null "], ["N/A", "\tx\t"], [" 007911123456 ", "+1"]],
    )
    assert [(r.number, r.label) for r in open_input(str(path))] == [
        ("NA", "null"),
        ("N/A", "x"),
        ("007911123456", "+1"),
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("'=SUM(A1)", "=SUM(A1)"),
        ("'+14155552671", "+14155552671"),
        ("'-1", "-1"),
        ("'@who", "@who"),
        ("'\tx", "x"),
        ("'\rx", "x"),
        ("'hello", "'hello"),
        ("'", "'"),
        ("''=x", "'=x"),
        ("''hello", "'hello"),
        ("''", "'"),
        ("'''", "''"),
    ],
)
def test_formula_quote_is_taken_off(tmp_path: Path, cell: str, expected: str) -> None:
    """One ' before = + - @ tab CR or ' is removed (from every column); other quotes stay."""
    path = write_csv(tmp_path / "in.csv", [["number", "label"], [cell, cell]])
    assert [(r.number, r.label) for r in open_input(str(path))] == [(expected, expected)]


def test_blank_rows_count_but_are_not_yielded(tmp_path: Path) -> None:
    """Blank lines and rows of empty cells keep their numbers; a row with only a label is kept."""
    path = tmp_path / "in.csv"
    path.write_text(
        'number,label\n+14155552671,a\n\n,\n  ,  \n,label only\n"+1 415\n555 2672",b\n+3,c\n',
        encoding="utf-8",
    )
    assert [(r.row_number, r.number, r.label) for r in open_input(str(path))] == [
        (2, "+14155552671", "a"),
        (6, "", "label only"),
        (7, "+1 415\n555 2672", "b"),
        (8, "+3", "c"),
    ]


@pytest.mark.parametrize("content", ["number,label\n", "number,label\n\n,\n  ,  \n"])
def test_header_only_file_is_refused(tmp_path: Path, content: str) -> None:
    """A header with no data rows (blank rows do not count) is unusable input, not 0 rows."""
    path = tmp_path / "fleet.csv"
    path.write_text(content, encoding="utf-8")
    assert message(path) == (
        f"{path} has a header but no data rows: check that the export is complete "
        "(an input with no rows is refused, so that it never looks like an empty account)"
    )


CELL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20).filter(
    lambda text: not text.strip().startswith("'")  # the formula quote has its own test
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(CELL_TEXT.filter(lambda text: bool(text.strip())), CELL_TEXT),
        min_size=1,
        max_size=15,
    )
)
def test_any_text_survives_a_csv_round_trip(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    """Any text cells written to a CSV read back the same (stripped), rows numbered 2..n+1."""
    path = write_csv(tmp_path / "prop.csv", [("number", "label"), *rows])
    expected = [(row, number.strip(), label.strip()) for row, (number, label) in enumerate(rows, 2)]
    assert [(r.row_number, r.number, r.label) for r in open_input(str(path))] == expected


def test_count_is_known_when_open_input_returns(tmp_path: Path) -> None:
    """count is the data rows (blank rows not counted) of a CSV, stdin and a sheet, up front."""
    content = "title\n\nnumber,label\n+14155550101,a\n\n , \n,only a label\n+14155550102,b\n"
    path = tmp_path / "in.csv"
    path.write_text(content, encoding="utf-8")
    book = tmp_path / "in.xlsx"
    workbook = openpyxl.Workbook()
    for values in (["number"], [14155550101], [None], [" "], ["x"]):
        workbook.active.append(values)
    workbook.save(book)
    sources = [
        open_input(str(path)),
        open_input("-", stdin=io.BytesIO(content.encode())),
        open_input(str(book)),
    ]
    assert [source.count for source in sources] == [3, 3, 2]
    assert [len(list(source)) for source in sources] == [3, 3, 2]
    assert "count=3" in repr(sources[0])
