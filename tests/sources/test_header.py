"""Tests for bulk_import.sources.header: aliases, column overrides, the header row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from source_helpers import message, numbers, write_csv

from bulk_import.errors import UsageError
from bulk_import.models import RawRow
from bulk_import.sources import NUMBER_ALIASES, header_key, open_input
from bulk_import.sources.header import HEADER_SCAN_ROWS, column_letter


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
        "Mobile",
        "Mobile Number",
        "mobile_phone",
        "Cell",
        "Cell Phone",
        "Cell-Number",
        "Tel",
        "Tel.",
        "Telephone",
        "Telephone Number",
        "Phone #",
        "Phone#",
        "Phone No",
        "Phone No.",
        "phone.no",
        "Contact Number",
    ],
)
def test_number_aliases(tmp_path: Path, header: str) -> None:
    """Every number alias is found, whatever its case, spaces, dashes, underscores or dots."""
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
        RawRow(row_number=2, number="+14155552671", label="(415) 555-2671", account_sid=sid)
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
            row_number=2,
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


def test_blank_lines_before_the_header(tmp_path: Path) -> None:
    """When the first rows are blank, the first non-blank row is the header, numbers kept."""
    path = tmp_path / "in.csv"
    path.write_text("\n,,\nnumber\n+14155552671\n", encoding="utf-8")
    assert numbers(open_input(str(path))) == [(4, "+14155552671")]


def test_no_number_column(tmp_path: Path) -> None:
    """Without a number column, the columns found are listed with the option to pass."""
    path = write_csv(tmp_path / "contacts.csv", [["A", "", "B", "C"], ["1", "", "2", "3"]])
    assert message(path) == (
        f"no phone number column found in {path} (columns: A, B, C); pass --number-column NAME"
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


def test_a_hash_alone_is_a_row_counter_not_the_number(tmp_path: Path) -> None:
    """A column headed # counts the rows: the Phone column beside it is the number."""
    path = write_csv(tmp_path / "in.csv", [["#", "Name", "Phone"], ["1", "Desk", "+14155552671"]])
    assert [(r.number, r.label) for r in open_input(str(path))] == [("+14155552671", "Desk")]
    only = write_csv(tmp_path / "only.csv", [["#", "Name"], ["1", "Desk"]])
    assert message(only) == (
        f"no phone number column found in {only} (columns: #, Name); pass --number-column NAME"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["Mobile", "Phone"], "phone"),
        (["Mobile", "Tel"], "tel"),
        (["Cell", "Mobile"], "mobile"),
        (["Phone", "Phone #"], "hash"),
        (["Contact Number", "Cell"], "cell"),
    ],
)
def test_new_aliases_keep_the_preference_order(
    tmp_path: Path, header: list[str], expected: str
) -> None:
    """With two aliases, the one NUMBER_ALIASES lists first is the number column."""
    names = {"Mobile": "mobile", "Phone": "phone", "Tel": "tel", "Cell": "cell"}
    names |= {"Phone #": "hash", "Contact Number": "contact"}
    path = write_csv(tmp_path / "in.csv", [header, [names[cell] for cell in header]])
    assert [r.number for r in open_input(str(path))] == [expected]


# --- finding the header below a title, notes and blank rows ---------------------------------


def test_title_row_above_the_header_of_a_csv(tmp_path: Path) -> None:
    """A title and a blank row above the header are skipped; rows keep their own numbers."""
    path = tmp_path / "lines.csv"
    path.write_text(
        "Support lines - Q3 2026 import\n\nPhone,Name\n+14155550101,Desk\n\n+14155550102,Lab\n",
        encoding="utf-8",
    )
    source = open_input(str(path))
    assert (source.header_row, source.columns, source.count) == (3, ["Phone", "Name"], 2)
    assert [(r.row_number, r.number, r.label) for r in source] == [
        (4, "+14155550101", "Desk"),
        (6, "+14155550102", "Lab"),
    ]


def test_a_header_no_alias_names_is_found_by_number_column(tmp_path: Path) -> None:
    """Below a title, --number-column finds its header; without it the likeliest row is shown."""
    path = tmp_path / "lines.csv"
    path.write_text(
        "Support lines - Q3 2026 import\n\nDirect line,Who\n+14155550101,Desk\n",
        encoding="utf-8",
    )
    assert message(path) == (
        f"no phone number column found in {path} (columns in row 3: Direct line, Who); "
        "pass --number-column NAME"
    )
    source = open_input(str(path), number_column="direct_line", label_column="who")
    assert [(r.row_number, r.number, r.label) for r in source] == [(4, "+14155550101", "Desk")]
    assert message(path, number_column="Mobile") == (
        f'no column "Mobile" in {path} (columns in row 3: Direct line, Who); '
        "pass --number-column with one of these"
    )


def test_the_header_is_looked_for_in_the_first_20_rows(tmp_path: Path) -> None:
    """A header on row 21 is not found by itself; --header-row 21 finds it."""
    notes = "".join(f"note {n}\n" for n in range(1, 21))
    path = tmp_path / "in.csv"
    path.write_text(notes + "number,label\n+14155550101,a\n", encoding="utf-8")
    assert message(path) == (
        f"no phone number column found in {path} (columns: note 1); pass --number-column NAME"
    )
    assert numbers(open_input(str(path), header_row=21)) == [(22, "+14155550101")]


def test_a_header_below_phone_numbers_is_refused(tmp_path: Path) -> None:
    """A number alias under rows of phone numbers is a data cell: nothing is skipped silently."""
    path = write_csv(
        tmp_path / "in.csv",
        [["+14155550101", "Desk"], ["+14155550102", "Phone"], ["+14155550103", "Lab"]],
    )
    assert message(path) == (
        f'{path}: row 2 looks like the header ("Phone"), but row 1 above it holds a phone number '
        "(+14155550101); pass --header-row with the header's row, or --no-header if the file "
        "has none"
    )


def test_a_date_above_the_header_is_not_a_phone_number(tmp_path: Path) -> None:
    """An export date over the header (2026-11-27, 27.11.2026) does not stop the header search."""
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Exported", "2026-11-27"],
            ["On", "27.11.2026"],
            ["number", "label"],
            ["+14155550101", "a"],
        ],
    )
    assert numbers(open_input(str(path))) == [(4, "+14155550101")]


# --- --header-row ------------------------------------------------------------------------------


def test_header_row_names_the_header(tmp_path: Path) -> None:
    """--header-row 3 takes row 3 as the header, even when rows above would look like one."""
    path = write_csv(
        tmp_path / "in.csv",
        [["number"], ["+14155550100"], ["phone", "label"], ["+14155550101", "a"]],
    )
    source = open_input(str(path), header_row=3)
    assert (source.header_row, source.columns) == (3, ["phone", "label"])
    assert [(r.row_number, r.number, r.label) for r in source] == [(4, "+14155550101", "a")]


def test_header_row_errors(tmp_path: Path) -> None:
    """A --header-row past the end, on a blank row, or without a number column says so."""
    path = tmp_path / "in.csv"
    path.write_text("Title\n\nnumber\n+14155550101\n", encoding="utf-8")
    assert message(path, header_row=9) == (
        f"--header-row 9: {path} has 4 rows; pass the row that holds the header"
    )
    assert message(path, header_row=2) == (
        f"--header-row 2: row 2 of {path} is blank; pass the row that holds the header"
    )
    assert message(path, header_row=1) == (
        f"no phone number column found in {path} (columns: Title); pass --number-column NAME"
    )
    assert message(path, header_row=4) == (
        f"no phone number column found in {path} (columns in row 4: +14155550101); "
        "pass --number-column NAME"
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            {"header_row": 2, "no_header": True},
            "--header-row and --no-header exclude each other; pass one of them",
        ),
        (
            {"header_row": 0},
            "--header-row 0 is not a row: rows count from 1, as a spreadsheet shows them",
        ),
        (
            {"no_header": True, "number_column": "Phone"},
            '--number-column "Phone" cannot name a column of a file without a header '
            "(--no-header): use a column letter (A, B, ..., ZZ) or a number counting from 1",
        ),
        (
            {"no_header": True, "label_column": "AAA"},
            '--label-column "AAA" cannot name a column of a file without a header '
            "(--no-header): use a column letter (A, B, ..., ZZ) or a number counting from 1",
        ),
        (
            {"no_header": True, "number_column": "0"},
            '--number-column "0" cannot name a column of a file without a header '
            "(--no-header): use a column letter (A, B, ..., ZZ) or a number counting from 1",
        ),
    ],
)
def test_header_options_that_cannot_work(
    tmp_path: Path, options: dict[str, Any], error: str
) -> None:
    """Options that exclude each other or name no column are a usage error, before reading."""
    with pytest.raises(UsageError) as caught:
        open_input(str(tmp_path / "never-read.csv"), **options)
    assert str(caught.value) == error


# --- files without a header --------------------------------------------------------------------


def test_a_headerless_csv_is_named_as_such(tmp_path: Path) -> None:
    """Phone numbers in row 1 and no alias: the error says so and names --no-header."""
    path = write_csv(tmp_path / "in.csv", [["+14155550101", "Desk"], ["+14155550102", "Lab"]])
    assert message(path) == (
        f"{path} seems to have no header: row 1 holds a phone number (+14155550101) where a "
        "header names its columns; pass --no-header, or add a header row"
    )
    other = write_csv(tmp_path / "other.csv", [["Desk", "(415) 555-0101"]])
    assert message(other) == (
        f"{other} seems to have no header: row 1 holds a phone number ((415) 555-0101) where a "
        "header names its columns; pass --no-header --number-column B, or add a header row"
    )


def test_a_phone_number_as_number_column_is_refused(tmp_path: Path) -> None:
    """--number-column +14155550101 would drop that first number as a header: it is refused."""
    path = write_csv(tmp_path / "in.csv", [["Desk", "+14155550101"], ["Lab", "+14155550102"]])
    assert message(path, number_column="+14155550101") == (
        f'--number-column "+14155550101" looks like a phone number, not a column name: if {path} '
        "has no header, pass --no-header (and --number-column B, its column's letter)"
    )
    assert message(path, number_column="+1 415 555 0199") == (
        f'--number-column "+1 415 555 0199" looks like a phone number, not a column name: if '
        f"{path} has no header, pass --no-header (and --number-column with its column's letter)"
    )


def test_no_header_reads_every_row_as_data(tmp_path: Path) -> None:
    """--no-header: rows from 1, columns by letter, the number in A, no label unless named."""
    path = tmp_path / "in.csv"
    path.write_text("+14155550101,Desk\n\n+14155550102,Lab\n", encoding="utf-8")
    source = open_input(str(path), no_header=True)
    assert (source.header_row, source.columns, source.count) == (0, ["A", "B"], 2)
    assert list(source) == [RawRow(1, "+14155550101"), RawRow(3, "+14155550102")]
    labelled = open_input(str(path), no_header=True, label_column="b")
    assert [(r.row_number, r.number, r.label) for r in labelled] == [
        (1, "+14155550101", "Desk"),
        (3, "+14155550102", "Lab"),
    ]


@pytest.mark.parametrize(("number", "label"), [("B", "A"), ("2", "1"), ("b", "a")])
def test_no_header_columns_by_letter_or_number(tmp_path: Path, number: str, label: str) -> None:
    """Without a header, a column is named by its letter (any case) or its number from 1."""
    path = write_csv(tmp_path / "in.csv", [["Desk", "+14155550101"]])
    source = open_input(str(path), no_header=True, number_column=number, label_column=label)
    assert [(r.row_number, r.number, r.label) for r in source] == [(1, "+14155550101", "Desk")]


def test_no_header_column_past_the_rows(tmp_path: Path) -> None:
    """A headerless column beyond every row's cells is refused, listing the columns there are."""
    path = write_csv(tmp_path / "in.csv", [["+14155550101", "Desk"]])
    assert message(path, no_header=True, number_column="C") == (
        f"no column C in {path}: its first rows have 2 cells (A to B); "
        "pass --number-column with one of these"
    )
    assert message(path, no_header=True, label_column="AB") == (
        f"no column AB in {path}: its first rows have 2 cells (A to B); "
        "pass --label-column with one of these"
    )


def test_no_header_on_an_empty_file(tmp_path: Path) -> None:
    """An empty file read without a header is empty: it has no rows."""
    path = tmp_path / "in.csv"
    path.write_text("\n,\n", encoding="utf-8")
    assert message(path, no_header=True) == f"{path} is empty: it has no rows"


def test_column_letters_count_like_a_spreadsheet() -> None:
    """Column letters go A..Z, AA..AZ, BA.., ZZ, as a spreadsheet names its columns."""
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
    ]


# --- properties --------------------------------------------------------------------------------

TITLE = st.text(st.sampled_from("abcdefgh QRS-:"), min_size=1, max_size=30).filter(
    lambda text: (
        bool(text.strip())
        and header_key(text) not in {header_key(alias) for alias in NUMBER_ALIASES}
    )
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    above=st.lists(st.one_of(st.just(""), TITLE), max_size=HEADER_SCAN_ROWS - 1),
    alias=st.sampled_from(NUMBER_ALIASES),
    data=st.lists(st.integers(0, 9999), min_size=1, max_size=10),
)
def test_the_header_is_found_below_any_title_and_blank_rows(
    tmp_path: Path, above: list[str], alias: str, data: list[int]
) -> None:
    """Up to 19 title or blank rows above a header: it is found, and data rows keep numbers."""
    header_row = len(above) + 1
    rows = [[line] for line in above] + [["Notes", alias]]
    rows += [["x", f"+1415555{n:04d}"] for n in data]
    path = write_csv(tmp_path / "prop.csv", rows)
    source = open_input(str(path))
    assert (source.header_row, source.count) == (header_row, len(data))
    assert numbers(source) == [
        (row, f"+1415555{n:04d}") for row, n in enumerate(data, header_row + 1)
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, 701))
def test_a_column_letter_and_its_number_name_the_same_column(tmp_path: Path, index: int) -> None:
    """For any column A..ZZ, its letter and its number from 1 read the same cell."""
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(index + 1)) + "\n", encoding="utf-8")
    by_letter = open_input(str(path), no_header=True, number_column=column_letter(index))
    by_number = open_input(str(path), no_header=True, number_column=str(index + 1))
    assert [r.number for r in by_letter] == [r.number for r in by_number] == [f"c{index}"]
