"""Tests for bulk_import.sources.text: delimiters, encodings, line endings, csv records."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from source_helpers import message, numbers, write_csv, write_xlsx

from bulk_import.cells import clean
from bulk_import.errors import InputError
from bulk_import.models import RawRow
from bulk_import.sources import open_input
from bulk_import.sources import text as text_files
from bulk_import.sources.header import looks_like_phone
from bulk_import.sources.source import PROBLEM_EXTRA_CELLS, PROBLEM_SWALLOWED


def test_csv_rows_come_back_as_text_with_spreadsheet_row_numbers(tmp_path: Path) -> None:
    """A plain CSV yields every data row as text, numbered from 2, with its name and columns."""
    path = write_csv(
        tmp_path / "contacts.csv",
        [["number", "label"], ["+14155552671", "Front desk"], ["020 7946 0018", "London"]],
    )
    source = open_input(str(path))
    assert (source.name, source.columns) == (str(path), ["number", "label"])
    assert list(source) == [
        RawRow(row_number=2, number="+14155552671", label="Front desk"),
        RawRow(row_number=3, number="020 7946 0018", label="London"),
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


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_line_endings(tmp_path: Path, newline: str) -> None:
    """Windows, old Mac and Unix line endings all give the same rows and numbers."""
    path = tmp_path / "in.csv"
    path.write_bytes(newline.join(["number", "+14155552671", "", "+447911123456", ""]).encode())
    assert numbers(open_input(str(path))) == [(2, "+14155552671"), (4, "+447911123456")]


def test_ragged_rows(tmp_path: Path) -> None:
    """A short row gets "" for missing cells; a row with cells past the header has a problem."""
    path = tmp_path / "in.csv"
    path.write_text("label,agent_id,number\nonly label\na,b,+1,extra,cells\n", encoding="utf-8")
    rows = list(open_input(str(path)))
    assert [(r.row_number, r.number, r.label, r.agent_id) for r in rows] == [
        (2, "", "only label", ""),
        (3, "+1", "a", "b"),
    ]
    assert [r.problem for r in rows] == [
        "",
        'more cells than the header (5 cells, 3 named): put a cell that holds "," in double '
        "quotes, or name the extra column in the header",
    ]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b",,,\n, ,\n", b"\xef\xbb\xbf", b"\xff\xfe"])
def test_empty_text_file(tmp_path: Path, content: bytes) -> None:
    """A file with no header at all (empty, blank lines, a BOM alone) is empty."""
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert message(path) == f"{path} is empty: it has no header row; add one naming a number column"


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


# --- malformed records: never silently accepted ----------------------------------------------

FLEET = (
    "number,label\n"
    "+14155550101,Front desk\n"
    "+14155550102,Lobby\n"
    "+14155550103,Sales\n"
    '+14155550104,"Reception\n'
    "+14155550105,Support\n"
    '+14155550106,"Billing"\n'
    "+14155550107,Night line\n"
)


def test_unclosed_quote_that_swallows_the_next_row_is_a_problem(tmp_path: Path) -> None:
    """A quote opened on line 5 and closed on line 7 makes row 5 say so; rows around are fine."""
    path = tmp_path / "fleet.csv"
    path.write_text(FLEET, encoding="utf-8")
    source = open_input(str(path))
    rows = list(source)
    assert source.count == len(rows) == 5
    assert [(r.row_number, r.number, r.problem) for r in rows] == [
        (2, "+14155550101", ""),
        (3, "+14155550102", ""),
        (4, "+14155550103", ""),
        (
            5,
            "+14155550104",
            "a quoted cell runs over a line end and swallows line 6, which looks like a row of "
            "its own: close the quote opened on line 5",
        ),
        (6, "+14155550107", ""),
    ]


def test_unclosed_quote_in_the_number_cell_is_a_problem(tmp_path: Path) -> None:
    """A number cell whose quote runs to the end of the file names the line it swallowed."""
    path = tmp_path / "in.csv"
    path.write_text(
        'number,label\n+14155550101,a\n"+14155550102,b\n+14155550103,c\n', encoding="utf-8"
    )
    (first, second) = open_input(str(path))
    assert first.problem == ""
    assert (second.row_number, second.problem) == (
        3,
        "a quoted cell runs over a line end and swallows line 4, which looks like a row of its "
        "own: close the quote opened on line 3",
    )


def test_a_swallowed_line_in_a_one_column_file_is_a_problem(tmp_path: Path) -> None:
    """Without a delimiter to look for, a line that is a phone number is the swallowed row."""
    path = tmp_path / "in.csv"
    path.write_text('phone\n"+14155550101\n+14155550102"\n+14155550103\n', encoding="utf-8")
    rows = list(open_input(str(path)))
    assert [(r.row_number, bool(r.problem)) for r in rows] == [(2, True), (3, False)]
    assert rows[0].problem.startswith("a quoted cell runs over a line end and swallows line 3")


@pytest.mark.parametrize(
    "label",
    [
        "Front desk\nSecond floor",
        "Main office\nSan Francisco, CA",
        "Ask for\r\nextension 12, or 13",
        "Line one\n\nline three",
    ],
)
def test_a_multi_line_label_stays_as_it_is(tmp_path: Path, label: str) -> None:
    """A quoted cell on several lines whose lines do not read as rows is a legitimate cell."""
    path = write_csv(
        tmp_path / "in.csv",
        [["number", "label"], ["+14155550101", label], ["+14155550102", "after"]],
    )
    rows = list(open_input(str(path)))
    assert [(r.row_number, r.label, r.problem) for r in rows] == [
        (2, label, ""),
        (3, "after", ""),
    ]


@pytest.mark.parametrize(
    ("name", "content", "holds"),
    [
        ("in.csv", "number,label\n+14155550101,Smith, John\n", '","'),
        ("in.csv", "number;label\n+14155550101;a;b\n", '";"'),
        ("in.txt", "number|label\n+14155550101|a|b\n", '"|"'),
        ("in.tsv", "number\tlabel\n+14155550101\ta\tb\n", "a tab"),
    ],
)
def test_extra_cells_are_a_problem_that_names_the_delimiter(
    tmp_path: Path, name: str, content: str, holds: str
) -> None:
    """A record with a filled cell past the header says how to quote the delimiter."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    (row,) = open_input(str(path))
    assert row.problem == (
        f"more cells than the header (3 cells, 2 named): put a cell that holds {holds} in double "
        "quotes, or name the extra column in the header"
    )


def test_trailing_empty_cells_are_not_extra_cells(tmp_path: Path) -> None:
    """a,b,, and cells of spaces past the header, as spreadsheets export them, are fine."""
    path = tmp_path / "in.csv"
    path.write_text(
        "number,label,,\n+14155550101,a,,\n+14155550102,b,  ,\t\n+14155550103,c,,x\n",
        encoding="utf-8",
    )
    rows = list(open_input(str(path)))
    assert [(r.row_number, r.label, bool(r.problem)) for r in rows] == [
        (2, "a", False),
        (3, "b", False),
        (4, "c", True),
    ]
    assert rows[2].problem.startswith("more cells than the header (4 cells, 2 named)")


def test_a_sheet_row_wider_than_its_header_is_no_problem(tmp_path: Path) -> None:
    """A spreadsheet cannot split a cell: a note right of the header's columns is just a note."""
    path = write_xlsx(
        tmp_path / "in.xlsx",
        {"S": {"A1": "number", "B1": "label", "A2": 14155550101, "B2": "a", "C2": "note"}},
    )
    assert [(r.number, r.problem) for r in open_input(str(path))] == [("14155550101", "")]


ONE_LINE = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=8)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(ONE_LINE, max_size=5), min_size=1, max_size=12))
def test_a_row_has_the_extra_cells_problem_exactly_when_it_fills_a_cell_past_the_header(
    tmp_path: Path, rows: list[list[str]]
) -> None:
    """Any rows the csv module writes under a two-column header: extra cells iff filled past B."""
    assume(any(any(cell.strip() for cell in row) for row in rows))
    path = write_csv(tmp_path / "prop.csv", [["number", "label"], *rows])
    expected = {
        number: any(cell.strip() for cell in row[2:])
        for number, row in enumerate(rows, 2)
        if any(cell.strip() for cell in row)
    }
    source = open_input(str(path))
    got = {raw.row_number: raw.problem.startswith(PROBLEM_EXTRA_CELLS) for raw in source}
    assert got == expected
    assert source.count == len(expected)
    assert all(raw.problem == "" or raw.problem.startswith(PROBLEM_EXTRA_CELLS) for raw in source)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    label=st.lists(
        st.one_of(
            ONE_LINE,
            st.sampled_from(["+14155550102,Sales", "415 555 0102, x", "Main St, 12", "12,+1415"]),
        ),
        min_size=2,
        max_size=4,
    ).map("\n".join)
)
def test_a_multi_line_label_is_a_problem_only_when_a_line_reads_as_a_row(
    tmp_path: Path, label: str
) -> None:
    """A quoted label on several lines is flagged iff one of its lines is "<phone>,..."."""
    path = write_csv(tmp_path / "prop.csv", [["number", "label"], ["+14155550101", label]])
    (raw,) = open_input(str(path))
    rows_inside = any(
        "," in line and looks_like_phone(line.split(",")[0].strip().strip('"').strip())
        for line in label.split("\n")[1:]
    )
    assert raw.problem.startswith(PROBLEM_SWALLOWED) is rows_inside
    assert raw.label == clean(label)
