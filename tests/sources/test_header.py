"""Tests for bulk_import.sources.header: aliases, column overrides, the header row."""

from __future__ import annotations

from pathlib import Path

import pytest
from source_helpers import message, numbers, write_csv

from bulk_import.models import RawRow
from bulk_import.sources import open_input


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
