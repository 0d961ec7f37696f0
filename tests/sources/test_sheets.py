"""Tests for bulk_import.sources.sheets: real .xlsx/.ods/.xls workbooks, sheets, cell text."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from source_helpers import Cell, message, numbers, write_ods, write_xlsx

from bulk_import.errors import InputError
from bulk_import.sources import open_input, sheets


def test_xlsx_cells_are_read_as_text(tmp_path: Path) -> None:
    """Numeric cells become their digits; fractions, booleans and dates become text."""
    path = write_xlsx(
        tmp_path / "ops.xlsx",
        {
            "Numbers": {
                "A1": "phone",
                "B1": "label",
                "A2": 14155552671,
                "B2": 42,
                "A3": 14155552672.0,
                "B3": True,
                "A4": 1.5,
                "B4": False,
                "A5": "+447911123456",
                "B5": dt.datetime(2026, 11, 27, 5, 59, 15),
                "A6": 1e20,
                "B6": dt.date(2026, 11, 27),
                "A7": "NA",
                "B7": "null",
                "A8": "  N/A  ",
                "B8": -3.0,
            }
        },
    )
    assert [(r.row_number, r.number, r.label) for r in open_input(str(path))] == [
        (2, "14155552671", "42"),
        (3, "14155552672", "TRUE"),
        (4, "1.5", "FALSE"),
        (5, "+447911123456", "2026-11-27T05:59:15"),
        (6, "1e+20", "2026-11-27"),
        (7, "NA", "null"),
        (8, "N/A", "-3"),
    ]


def test_sheet_text_of_other_cell_types() -> None:
    """Cells calamine may return as time, duration, int or None still become text."""
    assert sheets.sheet_text(dt.time(3, 4)) == "03:04:00"
    assert sheets.sheet_text(dt.timedelta(hours=1)) == "1:00:00"
    assert sheets.sheet_text(14155552671) == "14155552671"
    assert sheets.sheet_text(None) == ""


def test_xlsx_rows_keep_their_numbers_when_the_sheet_starts_lower(tmp_path: Path) -> None:
    """A table starting at C3 has its header on row 3 and data from row 4, gaps counted."""
    path = write_xlsx(
        tmp_path / "offset.xlsx",
        {"S": {"C3": "Phone", "D3": "Name", "C4": 14155552671, "D6": "label only", "C7": "x"}},
    )
    source = open_input(str(path))
    assert source.columns == ["Phone", "Name"]
    assert [(r.row_number, r.number, r.label) for r in source] == [
        (4, "14155552671", ""),
        (6, "", "label only"),
        (7, "x", ""),
    ]


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """Write a workbook of three sheets: "Main", "2" (the third sheet) and "Extra"."""
    return write_xlsx(
        tmp_path / "book.xlsx",
        {
            "Main": {"A1": "number", "A2": "main"},
            "Extra": {"A1": "number", "A2": "extra"},
            "2": {"A1": "number", "A2": "sheet named 2"},
        },
    )


@pytest.mark.parametrize(
    ("sheet", "expected"),
    [
        (None, "main"),
        ("Extra", "extra"),
        ("extra", "extra"),
        ("1", "main"),
        ("2", "sheet named 2"),
        ("3", "sheet named 2"),
    ],
)
def test_sheet_by_name_or_number(book: Path, sheet: str | None, expected: str) -> None:
    """--sheet picks by name (any case) or by number from 1; a sheet named "2" wins over the 2nd."""
    assert [r.number for r in open_input(str(book), sheet=sheet)] == [expected]


def test_sheet_number_when_no_sheet_has_that_name(tmp_path: Path) -> None:
    """--sheet 2 picks the second sheet when no sheet is named "2"."""
    path = write_xlsx(
        tmp_path / "two.xlsx",
        {"A": {"A1": "number", "A2": "first"}, "B": {"A1": "number", "A2": "second"}},
    )
    assert [r.number for r in open_input(str(path), sheet="2")] == ["second"]


def test_ods_is_read_with_numeric_cells_and_row_numbers(tmp_path: Path) -> None:
    """A real .ods is read like an .xlsx: numbers as digits, a blank first row counted."""
    path = write_ods(
        tmp_path / "sheet.ods",
        {
            "Phones": [
                ["", ""],
                ["msisdn", "label"],
                [14155552671.0, "a"],
                ["", ""],
                ["+44 7911 123456", "NA"],
            ],
            "Other": [["x"]],
        },
    )
    source = open_input(str(path))
    assert source.columns == ["msisdn", "label"]
    assert [(r.row_number, r.number, r.label) for r in source] == [
        (3, "14155552671", "a"),
        (5, "+44 7911 123456", "NA"),
    ]
    assert message(path, sheet="Other", number_column="x") == (
        f'{path}, sheet "Other" has a header but no data rows: check that the export is '
        "complete (an input with no rows is refused, so that it never looks like an empty account)"
    )


def test_xls_extension_is_read_by_calamine(tmp_path: Path) -> None:
    """A .xls goes to the spreadsheet reader, which reads the bytes whatever the name says.

    No test writes a real BIFF .xls: nothing installed here can produce one.
    """
    path = tmp_path / "legacy.xls"
    write_xlsx(tmp_path / "real.xlsx", {"S": {"A1": "number", "A2": 14155552671}})
    path.write_bytes((tmp_path / "real.xlsx").read_bytes())
    assert numbers(open_input(str(path))) == [(2, "14155552671")]


def test_empty_spreadsheets(tmp_path: Path) -> None:
    """A 0-byte .xlsx and a workbook without any cell are empty; the sheet is named."""
    zero = tmp_path / "zero.xlsx"
    zero.write_bytes(b"")
    blank = write_xlsx(tmp_path / "blank.xlsx", {"Only": {}})
    assert message(zero) == f"{zero} is empty: it has no header row; add one naming a number column"
    assert message(blank) == (
        f'{blank}, sheet "Only" is empty: it has no header row; add one naming a number column'
    )


def test_no_number_column_in_a_sheet_of_many(tmp_path: Path) -> None:
    """In a workbook of several sheets, the message names the sheet."""
    path = write_xlsx(tmp_path / "b.xlsx", {"One": {"A1": "number"}, "Two": {"A1": "who"}})
    assert message(path, sheet="Two") == (
        f'no phone number column found in {path}, sheet "Two" (columns: who); '
        "pass --number-column NAME"
    )


def test_unknown_sheet(book: Path) -> None:
    """An unknown --sheet lists the sheets and the numbers that can be used."""
    for sheet in ("Nope", "0", "4"):
        assert message(book, sheet=sheet) == (
            f'no sheet "{sheet}" in {book} (sheets: Main, Extra, 2); '
            "pass --sheet with one of these names or a number from 1 to 3"
        )


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b"number\n1\n"])
def test_corrupt_spreadsheet(tmp_path: Path, content: bytes) -> None:
    """A damaged or mislabelled .xlsx says it cannot be read as a spreadsheet."""
    path = tmp_path / "broken.xlsx"
    path.write_bytes(content)
    text = message(path)
    assert text.startswith(f"cannot read {path} as a spreadsheet (")
    assert text.endswith(
        "); open it in a spreadsheet program and save it again, or export it as CSV"
    )
    assert "\n" not in text


def test_sheet_that_cannot_be_loaded(tmp_path: Path) -> None:
    """A workbook whose chosen sheet's XML is damaged names the sheet and the fix."""
    good = write_xlsx(tmp_path / "good.xlsx", {"S": {"A1": "number", "A2": 1}})
    path = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = b"<worksheet><sheetData><row><c r="
            dst.writestr(item, data)
    text = message(path)
    assert text.startswith(f'cannot read sheet "S" of {path} (')
    assert text.endswith(
        "); open it in a spreadsheet program and save it again, or export it as CSV"
    )


def test_workbook_without_sheets() -> None:
    """A workbook that lists no sheet at all is empty."""
    with pytest.raises(InputError, match=r"^x\.xlsx is empty: it has no sheet"):
        sheets.choose_sheet([], None, name="x.xlsx")


def support_lines(path: Path) -> Path:
    """Write a workbook as people make them: a merged title, a note, blank rows, two sheets."""
    book = openpyxl.Workbook()
    lines = book.active
    lines.title = "Lines"
    lines["A1"] = "Support lines - Q3 2026 import"
    lines.merge_cells("A1:C1")
    lines["A3"] = "Exported by ops on"
    lines["B3"] = dt.date(2026, 11, 27)
    for column, title in zip("ABC", ("Phone", "Name", "Agent ID"), strict=True):
        lines[f"{column}5"] = title
    lines.append([14155550101, "Front desk", "agent_a"])
    lines.append([])
    lines.append(["+44 7911 123456", "London", None])
    other = book.create_sheet("Archive")
    other["B2"] = "Old numbers"
    other.merge_cells("B2:D2")
    other["B4"] = "msisdn"
    other["B5"] = 14155550199
    book.save(path)
    return path


def test_header_below_a_merged_title_a_note_and_blank_rows(tmp_path: Path) -> None:
    """A real workbook's header on row 5 is found; rows keep the numbers the sheet shows."""
    path = support_lines(tmp_path / "lines.xlsx")
    source = open_input(str(path))
    assert (source.header_row, source.columns, source.count) == (
        5,
        ["Phone", "Name", "Agent ID"],
        2,
    )
    assert [(r.row_number, r.number, r.label, r.agent_id) for r in source] == [
        (6, "14155550101", "Front desk", "agent_a"),
        (8, "+44 7911 123456", "London", ""),
    ]
    archive = open_input(str(path), sheet="Archive")
    assert (archive.header_row, numbers(archive)) == (4, [(5, "14155550199")])
    assert numbers(open_input(str(path), sheet="2", header_row=4)) == [(5, "14155550199")]


def test_every_sheet_error_names_the_sheet_even_in_a_workbook_of_one(tmp_path: Path) -> None:
    """No number column, a header only, no header, no such column: each names the sheet."""
    titled = write_xlsx(tmp_path / "t.xlsx", {"Q3": {"A1": "Support lines", "A3": "Direct"}})
    assert message(titled) == (
        f'no phone number column found in {titled}, sheet "Q3" (columns: Support lines); '
        "pass --number-column NAME"
    )
    assert message(titled, number_column="Mobile") == (
        f'no column "Mobile" in {titled}, sheet "Q3" (columns: Support lines); '
        "pass --number-column with one of these"
    )
    only = write_xlsx(tmp_path / "h.xlsx", {"Fleet": {"A1": "number", "B1": "label"}})
    assert message(only) == (
        f'{only}, sheet "Fleet" has a header but no data rows: check that the export is '
        "complete (an input with no rows is refused, so that it never looks like an empty account)"
    )
    bare = write_xlsx(tmp_path / "n.xlsx", {"Numbers": {"A1": 14155550101, "A2": 14155550102}})
    assert message(bare) == (
        f'{bare}, sheet "Numbers" seems to have no header: row 1 holds a phone number '
        "(14155550101) where a header names its columns; pass --no-header, or add a header row"
    )
    assert numbers(open_input(str(bare), no_header=True)) == [
        (1, "14155550101"),
        (2, "14155550102"),
    ]
    assert message(bare, header_row=3) == (
        f'--header-row 3: {bare}, sheet "Numbers" has 2 rows; pass the row that holds the header'
    )


def test_numeric_cells_that_look_rounded_are_warned_of_not_changed(tmp_path: Path) -> None:
    """447911000000 typed as a number (4.48E+11 shown) is warned of, named by row; kept as is."""
    cells: dict[str, Cell] = {"A1": "Phone", "B1": "Name", "A2": 447911000000}
    cells |= {"A3": 447911123456, "A4": "447911000000", "A5": 14155552671, "B6": "blank"}
    path = write_xlsx(tmp_path / "ops.xlsx", {"Numbers": cells})
    with open_input(str(path)) as source:
        assert source.warnings == [
            f'warning: {path}, sheet "Numbers": the number in row 2, 447911000000, is a numeric '
            "cell ending in 6 or more zeros, as 4.48E+11 typed into a cell would be: Excel may "
            "have rounded it; check it against its source, or format the number column as text "
            "and type it again"
        ]
        assert numbers(source)[0] == (2, "447911000000")  # never guessed


def test_many_rounded_cells_are_listed_once(tmp_path: Path) -> None:
    """Seven rounded numbers: one line, the first five rows and how many more."""
    cells: dict[str, Cell] = {"A1": "number"}
    cells |= {f"A{row}": 447911000000 + row * 10**6 for row in range(2, 9)}
    path = write_xlsx(tmp_path / "many.xlsx", {"S": cells})
    with open_input(str(path)) as source:
        [line] = source.warnings
    assert (
        f'warning: {path}, sheet "S": 7 numbers are numeric cells ending in 6 or more zeros '
        in line
    )
    assert "(rows 2, 3, 4, 5, 6 and 2 more; row 2 holds 447913000000, shown as 4.48E+11" in line
    with open_input(
        str(write_xlsx(tmp_path / "two.xlsx", {"S": {"A1": "number", "A2": 1e7, "A4": 2e7}}))
    ) as source:
        assert "(rows 2 and 4; row 2 holds 10000000, shown as 1.00E+07" in source.warnings[0]
