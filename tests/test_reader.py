"""Tests for bulk_import.sources: real files of every format and encoding, read back as rows."""

from __future__ import annotations

import builtins
import csv
import datetime as dt
import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS, RawRow
from bulk_import.sources import InputSource, open_input, sheets
from bulk_import.sources import text as text_files

Cell = str | int | float | bool | dt.date | None


def write_csv(path: Path, rows: Sequence[Sequence[str]], *, delimiter: str = ",") -> Path:
    """Write rows with the csv module, UTF-8."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, sheets: dict[str, dict[str, Cell]]) -> Path:
    """Write a real .xlsx with openpyxl: each sheet maps cell references ("A1") to values."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, cells in sheets.items():
        sheet = book.create_sheet(title)
        for ref, value in cells.items():
            sheet[ref] = value
    book.save(path)
    return path


def write_ods(path: Path, sheets: dict[str, list[list[str | float]]]) -> Path:
    """Write a real, minimal OpenDocument spreadsheet by hand (a zip of XML), numbers as floats."""

    def cell(value: str | float) -> str:
        if isinstance(value, float):
            return (
                f'<table:table-cell office:value-type="float" office:value="{value!r}">'
                f"<text:p>{value!r}</text:p></table:table-cell>"
            )
        if not value:
            return "<table:table-cell/>"
        return (
            '<table:table-cell office:value-type="string">'
            f"<text:p>{escape(value)}</text:p></table:table-cell>"
        )

    tables = "".join(
        f'<table:table table:name="{escape(name)}">'
        + "".join(
            "<table:table-row>" + "".join(cell(value) for value in row) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet"
        )
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def numbers(source: InputSource) -> list[tuple[int, str]]:
    """Return (row, number) of every row the source yields."""
    return [(row.row, row.number) for row in source]


def message(path: Path | str, **options: Any) -> str:
    """Return the InputError message open_input raises for this input."""
    with pytest.raises(InputError) as caught:
        open_input(str(path), **options)
    return str(caught.value)


# --- formats ---------------------------------------------------------------------------------


def test_csv_rows_come_back_as_text_with_spreadsheet_row_numbers(tmp_path: Path) -> None:
    """A plain CSV yields every data row as text, numbered from 2, with name, stem and columns."""
    path = write_csv(
        tmp_path / "contacts.csv",
        [["number", "label"], ["+14155552671", "Front desk"], ["020 7946 0018", "London"]],
    )
    source = open_input(str(path))
    assert (source.name, source.stem, source.columns) == (
        str(path),
        "contacts",
        ["number", "label"],
    )
    assert list(source) == [
        RawRow(row=2, number="+14155552671", label="Front desk"),
        RawRow(row=3, number="020 7946 0018", label="London"),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("extension", [".csv", ".txt"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str, extension: str) -> None:
    """Comma, semicolon, tab and pipe are each recognised from the header line."""
    path = write_csv(
        tmp_path / f"in{extension}",
        [["Phone Number", "Friendly Name"], ["+1 415 555 2671", "A, B; C"]],
        delimiter=delimiter,
    )
    assert [(r.number, r.label) for r in open_input(str(path))] == [("+1 415 555 2671", "A, B; C")]


def test_tsv_is_always_tab_separated(tmp_path: Path) -> None:
    """A .tsv is split on tabs even when its header holds more commas than tabs."""
    path = tmp_path / "in.tsv"
    path.write_text("number\tlabel, with, commas\n+14155552671\tx,y\n", encoding="utf-8")
    source = open_input(str(path))
    assert source.columns == ["number", "label, with, commas"]
    assert [(r.number, r.label) for r in source] == [("+14155552671", "")]


def test_delimiters_inside_quotes_do_not_decide(tmp_path: Path) -> None:
    """Semicolons inside a quoted header cell do not outvote the comma between cells."""
    path = tmp_path / "in.csv"
    path.write_text('"a;b;c",number\nx,+14155552671\n', encoding="utf-8")
    assert numbers(open_input(str(path))) == [(2, "+14155552671")]


def test_single_column_file_without_delimiter(tmp_path: Path) -> None:
    """A file with one column and no delimiter at all is read as comma-separated."""
    path = tmp_path / "in.txt"
    path.write_text("phone\n+1 415 555 2671\n(415) 555-2672\n", encoding="utf-8")
    assert numbers(open_input(str(path))) == [(2, "+1 415 555 2671"), (3, "(415) 555-2672")]


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    """CONTACTS.CSV and BOOK.XLSX are read like their lower-case names."""
    csv_path = write_csv(tmp_path / "CONTACTS.CSV", [["number"], ["+14155552671"]])
    xlsx_path = write_xlsx(tmp_path / "BOOK.XLSX", {"S": {"A1": "number", "A2": 14155552671}})
    assert numbers(open_input(str(csv_path))) == [(2, "+14155552671")]
    assert numbers(open_input(str(xlsx_path))) == [(2, "14155552671")]
    assert open_input(str(csv_path)).stem == "CONTACTS"


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
    assert [(r.row, r.number, r.label) for r in open_input(str(path))] == [
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
    assert [(r.row, r.number, r.label) for r in source] == [
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
    assert [(r.row, r.number, r.label) for r in source] == [
        (3, "14155552671", "a"),
        (5, "+44 7911 123456", "NA"),
    ]
    assert [r.number for r in open_input(str(path), sheet="Other", number_column="x")] == []


def test_xls_extension_is_read_by_calamine(tmp_path: Path) -> None:
    """A .xls goes to the spreadsheet reader, which reads the bytes whatever the name says.

    No test writes a real BIFF .xls: nothing installed here can produce one.
    """
    path = tmp_path / "legacy.xls"
    write_xlsx(tmp_path / "real.xlsx", {"S": {"A1": "number", "A2": 14155552671}})
    path.write_bytes((tmp_path / "real.xlsx").read_bytes())
    assert numbers(open_input(str(path))) == [(2, "14155552671")]


def test_stdin_is_read_as_csv(tmp_path: Path) -> None:
    """ "-" reads CSV from the stdin argument, named "-" with the stem "stdin"."""
    data = "msisdn;label\n+14155552671;a\n\n+447911123456;b\n".encode("utf-16")
    with open_input("-", stdin=io.BytesIO(data)) as source:
        assert (source.name, source.stem, source.columns) == ("-", "stdin", ["msisdn", "label"])
        assert numbers(source) == [(2, "+14155552671"), (4, "+447911123456")]
        assert numbers(source) == [(2, "+14155552671"), (4, "+447911123456")]


def test_stdin_defaults_to_the_process_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a stdin argument, "-" reads sys.stdin.buffer."""

    class FakeStdin:
        buffer = io.BytesIO(b"number\n+14155552671\n")

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    source = open_input("-")
    assert numbers(source) == [(2, "+14155552671")]
    source.close()


def test_stdin_errors_are_raised_up_front() -> None:
    """An empty stdin or one without a number column is refused by open_input itself."""
    assert message("-", stdin=io.BytesIO(b"")) == (
        "- is empty: it has no header row; add one naming a number column"
    )
    assert message("-", stdin=io.BytesIO(b"a,b\n1,2\n")) == (
        "no phone number column found in - (columns: a, b); pass --number-column NAME"
    )


def test_source_can_be_iterated_twice(tmp_path: Path) -> None:
    """Iterating a file source again reads it again from the start."""
    path = write_csv(tmp_path / "in.csv", [["number"], ["1"], ["2"]])
    with open_input(str(path)) as source:
        assert numbers(source) == numbers(source) == [(2, "1"), (3, "2")]
        assert "in.csv" in repr(source)


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", "José Ñúñez 東京"),
        ("utf-8-sig", "José Ñúñez 東京"),
        ("utf-16-le", "José Ñúñez 東京"),
        ("utf-16-be", "José Ñúñez 東京"),
        ("cp1252", "Café “Zürich” €"),
        ("latin-1", "Café\x81"),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, text: str) -> None:
    """UTF-8 with and without BOM, UTF-16 LE/BE with BOM, CP-1252 and Latin-1 all decode."""
    content = f"Phone Number,Friendly Name\n+14155552671,{text}\n"
    data = content.encode(encoding)
    if encoding.startswith("utf-16"):
        data = ("\ufeff" + content).encode(encoding)
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    source = open_input(str(path))
    assert source.columns == ["Phone Number", "Friendly Name"]
    assert [(r.number, r.label) for r in source] == [("+14155552671", text)]


def test_utf8_sequence_split_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-byte character cut by a block boundary still counts as UTF-8."""
    monkeypatch.setattr(text_files, "BLOCK", 16)
    path = tmp_path / "in.csv"
    path.write_bytes("number,label\n1,é\n2,bb\n".encode())  # é is bytes 15 and 16
    assert [r.label for r in open_input(str(path))] == ["é", "bb"]


def test_half_a_utf8_sequence_before_an_ascii_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A UTF-8 lead byte ending a block, followed by an ASCII block, is not UTF-8."""
    monkeypatch.setattr(text_files, "BLOCK", 16)
    path = tmp_path / "in.csv"
    path.write_bytes(b"number,label\n1,\xc3bc\n")  # \xc3 is byte 15, "bc" starts block 2
    assert [r.label for r in open_input(str(path))] == ["Ãbc"]


def test_utf8_cut_short_at_the_end_is_cp1252(tmp_path: Path) -> None:
    """A file ending in half a UTF-8 character is not UTF-8: it falls back to CP-1252."""
    path = tmp_path / "in.csv"
    path.write_bytes(b"number,label\n1,a\xc3")
    assert [r.label for r in open_input(str(path))] == ["aÃ"]


def test_cp1252_byte_late_in_a_large_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One CP-1252 byte after many ASCII blocks makes the whole file CP-1252."""
    monkeypatch.setattr(text_files, "BLOCK", 64)
    lines = [f"+1415555{n:04d},plain" for n in range(200)]
    path = tmp_path / "in.csv"
    path.write_bytes(("number,label\n" + "\n".join(lines) + "\n").encode() + b"1,caf\xe9\n")
    rows = list(open_input(str(path)))
    assert len(rows) == 201
    assert rows[-1].label == "café"


def test_bom_with_bad_bytes_after_it_does_not_stop_the_read(tmp_path: Path) -> None:
    """A UTF-8 BOM is believed: a stray byte later becomes U+FFFD instead of an error."""
    path = tmp_path / "in.csv"
    path.write_bytes(b"\xef\xbb\xbfnumber,label\n1,a\xffb\n")
    assert [r.label for r in open_input(str(path))] == ["a\ufffdb"]


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "number",
        "phone",
        "phone_number",
        "phonenumber",
        "e164",
        "msisdn",
        "Phone Number",
        "phoneNumber",
        "PHONE-NUMBER",
        "  Phone_Number ",
        "E164",
    ],
)
def test_number_aliases(tmp_path: Path, header: str) -> None:
    """Every number alias is found, whatever its case, spaces, dashes or underscores."""
    path = write_csv(tmp_path / "in.csv", [["other", header], ["x", "+14155552671"]])
    assert numbers(open_input(str(path))) == [(2, "+14155552671")]


@pytest.mark.parametrize(
    "header", ["label", "friendly_name", "Friendly Name", "friendlyName", "name", "NAME"]
)
def test_label_aliases(tmp_path: Path, header: str) -> None:
    """Every label alias is found, whatever its case, spaces or underscores."""
    path = write_csv(tmp_path / "in.csv", [["number", header], ["+14155552671", "Desk"]])
    assert [r.label for r in open_input(str(path))] == ["Desk"]


def test_twilio_console_export_columns(tmp_path: Path) -> None:
    """A Twilio console export maps Phone Number, Friendly Name and Account SID."""
    sid = "AC" + "0123456789abcdef" * 2
    path = write_csv(
        tmp_path / "twilio.csv",
        [
            ["SID", "Phone Number", "Friendly Name", "Account SID", "Voice URL"],
            ["PN" + "f" * 32, "+14155552671", "(415) 555-2671", sid, "https://x.test"],
        ],
    )
    assert list(open_input(str(path))) == [
        RawRow(row=2, number="+14155552671", label="(415) 555-2671", account_sid=sid)
    ]


def test_per_row_columns(tmp_path: Path) -> None:
    """agent_id, provider_id, account_sid, region and provider columns are read per row."""
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Agent ID", "provider-id", "ACCOUNT_SID", "Region", "provider", "number"],
            ["agent_1", "prov_1", "AC1", "ie1", "twilio:AC2:au1", "+14155552671"],
        ],
    )
    assert list(open_input(str(path))) == [
        RawRow(
            row=2,
            number="+14155552671",
            agent_id="agent_1",
            provider_id="prov_1",
            account_sid="AC1",
            region="ie1",
            provider="twilio:AC2:au1",
        )
    ]


def test_header_cells_are_cleaned(tmp_path: Path) -> None:
    """Header cells are stripped and lose a formula quote, as data cells do."""
    path = write_csv(tmp_path / "in.csv", [["  number ", "'=total"], ["1", "2"]])
    assert open_input(str(path)).columns == ["number", "=total"]


def test_first_alias_listed_wins(tmp_path: Path) -> None:
    """With both "phone" and "number" columns, "number" is the number; "label" beats "name"."""
    path = write_csv(
        tmp_path / "in.csv",
        [["phone", "name", "number", "label"], ["111", "n", "222", "l"]],
    )
    assert [(r.number, r.label) for r in open_input(str(path))] == [("222", "l")]


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
    assert source.stem == "contacts.report"
    assert list(source) == [
        RawRow(
            row=2,
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
    assert [(r.row, r.number) for r in open_input(str(path))] == [(2, "NA"), (3, "+1 415"), (4, "")]
    short = tmp_path / "short.csv"
    short.write_text("number,label,input_number\n,a\n", encoding="utf-8")
    assert [(r.row, r.number) for r in open_input(str(short))] == [(2, "")]


def test_input_number_alone_is_not_a_number_column(tmp_path: Path) -> None:
    """input_number is not a number alias, but --number-column can name it."""
    path = write_csv(tmp_path / "r.csv", [["input_number", "label"], ["+14155552671", "a"]])
    assert message(path) == (
        f"no phone number column found in {path} (columns: input_number, label); "
        "pass --number-column NAME"
    )
    assert numbers(open_input(str(path), number_column="input_number")) == [(2, "+14155552671")]


def test_column_overrides_match_insensitively(tmp_path: Path) -> None:
    """--number-column and --label-column pick columns, ignoring case, spaces and underscores."""
    path = write_csv(
        tmp_path / "in.csv",
        [["Mobile Phone", "Who", "number", "label"], ["+14155552671", "Ann", "x", "y"]],
    )
    source = open_input(str(path), number_column="mobile_phone", label_column="WHO")
    assert [(r.number, r.label) for r in source] == [("+14155552671", "Ann")]


# --- values and rows -------------------------------------------------------------------------


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
        ("''=x", "''=x"),
    ],
)
def test_formula_quote_is_taken_off(tmp_path: Path, cell: str, expected: str) -> None:
    """A ' before = + - @ tab or CR is removed (from every column); other quotes stay."""
    path = write_csv(tmp_path / "in.csv", [["number", "label"], [cell, cell]])
    assert [(r.number, r.label) for r in open_input(str(path))] == [(expected, expected)]


def test_blank_rows_count_but_are_not_yielded(tmp_path: Path) -> None:
    """Blank lines and rows of empty cells keep their numbers; a row with only a label is kept."""
    path = tmp_path / "in.csv"
    path.write_text(
        'number,label\n+14155552671,a\n\n,\n  ,  \n,label only\n"+1 415\n555 2672",b\n+3,c\n',
        encoding="utf-8",
    )
    assert [(r.row, r.number, r.label) for r in open_input(str(path))] == [
        (2, "+14155552671", "a"),
        (6, "", "label only"),
        (7, "+1 415\n555 2672", "b"),
        (8, "+3", "c"),
    ]


def test_blank_lines_before_the_header(tmp_path: Path) -> None:
    """When the first rows are blank, the first non-blank row is the header, numbers kept."""
    path = tmp_path / "in.csv"
    path.write_text("\n,,\nnumber\n+14155552671\n", encoding="utf-8")
    assert numbers(open_input(str(path))) == [(4, "+14155552671")]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_line_endings(tmp_path: Path, newline: str) -> None:
    """Windows, old Mac and Unix line endings all give the same rows and numbers."""
    path = tmp_path / "in.csv"
    path.write_bytes(newline.join(["number", "+14155552671", "", "+447911123456", ""]).encode())
    assert numbers(open_input(str(path))) == [(2, "+14155552671"), (4, "+447911123456")]


def test_ragged_rows(tmp_path: Path) -> None:
    """A short row gets "" for missing cells; cells past the header are ignored."""
    path = tmp_path / "in.csv"
    path.write_text("label,agent_id,number\nonly label\na,b,+1,extra,cells\n", encoding="utf-8")
    assert [(r.row, r.number, r.label, r.agent_id) for r in open_input(str(path))] == [
        (2, "", "only label", ""),
        (3, "+1", "a", "b"),
    ]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    """A header with no data rows is not an error: it yields nothing."""
    path = write_csv(tmp_path / "in.csv", [["number", "label"]])
    assert list(open_input(str(path))) == []


CELL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20).filter(
    lambda text: not text.strip().startswith("'")  # the formula quote has its own test
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(CELL_TEXT.filter(lambda text: bool(text.strip())), CELL_TEXT), max_size=15
    )
)
def test_any_text_survives_a_csv_round_trip(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    """Any text cells written to a CSV read back the same (stripped), rows numbered 2..n+1."""
    path = write_csv(tmp_path / "prop.csv", [("number", "label"), *rows])
    expected = [(row, number.strip(), label.strip()) for row, (number, label) in enumerate(rows, 2)]
    assert [(r.row, r.number, r.label) for r in open_input(str(path))] == expected


# --- errors ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is named, with the fix."""
    path = tmp_path / "nope.csv"
    assert message(path) == f"cannot read {path}: no such file; check the path"


def test_path_with_a_nul_byte(tmp_path: Path) -> None:
    """A path no file can have is reported as missing, not as a traceback."""
    path = f"{tmp_path}/bad\x00name.csv"
    assert message(path) == f"cannot read {path}: no such file; check the path"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PermissionError(13, "Permission denied"),
            "permission denied; check the file's permissions",
        ),
        (OSError(36, "File name too long"), "File name too long"),
    ],
)
def test_path_that_cannot_be_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, expected: str
) -> None:
    """A file in a directory the process may not search is reported with the OS's reason."""
    path = tmp_path / "locked" / "in.csv"
    real_stat = Path.stat

    def deny(self: Path, **kwargs: Any) -> Any:
        if self == path:
            raise error
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", deny)
    assert message(path) == f"cannot read {path}: {expected}"


def test_directory(tmp_path: Path) -> None:
    """A directory is refused as such."""
    assert message(tmp_path) == f"cannot read {tmp_path}: it is a directory; pass a file inside it"


@pytest.mark.parametrize("name", ["contacts.pdf", "contacts"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    """An unknown or missing extension lists the accepted ones."""
    path = tmp_path / name
    path.write_text("number\n1\n", encoding="utf-8")
    kind = 'file type ".pdf"' if name.endswith(".pdf") else "file type (no extension)"
    assert message(path) == (
        f"cannot read {path}: unknown {kind}; use .csv, .tsv, .txt, .xlsx, .xls or .ods "
        "(or - to read CSV from stdin)"
    )


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the process may not read says so (simulated: the tests may run as root)."""
    path = write_csv(tmp_path / "secret.csv", [["number"], ["1"]])
    real_open = builtins.open

    def deny(file: object, *args: Any, **kwargs: Any) -> Any:
        if file == path:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", deny)
    assert message(path) == f"cannot read {path}: permission denied; check the file's permissions"


def test_other_os_error_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other failure to open, then or when iterating, is one line with the OS's words."""
    path = write_csv(tmp_path / "flaky.csv", [["number"], ["1"]])
    source = open_input(str(path))
    real_open = builtins.open

    def fail(file: object, *args: Any, **kwargs: Any) -> Any:
        if file == path:
            raise OSError(5, "Input/output error")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", fail)
    assert message(path) == f"cannot read {path}: Input/output error"
    with pytest.raises(InputError, match="Input/output error"):
        list(source)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b",,,\n, ,\n", b"\xef\xbb\xbf", b"\xff\xfe"])
def test_empty_text_file(tmp_path: Path, content: bytes) -> None:
    """A file with no header at all (empty, blank lines, a BOM alone) is empty."""
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert message(path) == f"{path} is empty: it has no header row; add one naming a number column"


def test_empty_spreadsheets(tmp_path: Path) -> None:
    """A 0-byte .xlsx and a workbook without any cell are empty."""
    zero = tmp_path / "zero.xlsx"
    zero.write_bytes(b"")
    blank = write_xlsx(tmp_path / "blank.xlsx", {"Only": {}})
    assert message(zero) == f"{zero} is empty: it has no header row; add one naming a number column"
    assert message(blank) == (
        f"{blank} is empty: it has no header row; add one naming a number column"
    )


def test_no_number_column(tmp_path: Path) -> None:
    """Without a number column, the columns found are listed with the option to pass."""
    path = write_csv(tmp_path / "contacts.csv", [["A", "", "B", "C"], ["1", "", "2", "3"]])
    assert message(path) == (
        f"no phone number column found in {path} (columns: A, B, C); pass --number-column NAME"
    )


def test_no_number_column_in_a_sheet_of_many(tmp_path: Path) -> None:
    """In a workbook of several sheets, the message names the sheet."""
    path = write_xlsx(tmp_path / "b.xlsx", {"One": {"A1": "number"}, "Two": {"A1": "who"}})
    assert message(path, sheet="Two") == (
        f'no phone number column found in {path}, sheet "Two" (columns: who); '
        "pass --number-column NAME"
    )


def test_column_override_not_found(tmp_path: Path) -> None:
    """--number-column or --label-column naming no column lists the columns."""
    path = write_csv(tmp_path / "c.csv", [["number", "label"], ["1", "x"]])
    assert message(path, number_column="Mobile") == (
        f'no column "Mobile" in {path} (columns: number, label); '
        "pass --number-column with one of these"
    )
    assert message(path, label_column="Who") == (
        f'no column "Who" in {path} (columns: number, label); pass --label-column with one of these'
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


def test_unclosed_quote_is_refused_up_front(tmp_path: Path) -> None:
    """A quote never closed swallows the file: open_input refuses it in one line."""
    path = tmp_path / "in.csv"
    path.write_text('number,label\n+14155552671,"oops\n' + "x" * 140_000 + "\n", encoding="utf-8")
    assert message(path) == (
        f"cannot read {path} (stopped at line 3: field larger than field limit (131072)); "
        "look for a quote that is opened and never closed"
    )


def test_file_broken_after_it_was_opened(tmp_path: Path) -> None:
    """A file that gains a runaway quote after open_input stops its rows with the same line."""
    path = write_csv(tmp_path / "in.csv", [["number"], ["+14155552671"]])
    source = open_input(str(path))
    path.write_text('number\n+14155552671\n"' + "x" * 140_000 + "\n", encoding="utf-8")
    rows = iter(source)
    assert next(rows).number == "+14155552671"
    with pytest.raises(InputError, match=r"never closed$"):
        next(rows)
