"""The input's new rules seen through ``validate``: the report a person reads."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from bulk_import.config import InputOptions, OutputOptions
from bulk_import.errors import InputError
from bulk_import.jobs.validate import validate as validate_job


def validate(path: Path, options: InputOptions | None = None) -> list[dict[str, str]]:
    """Run validate on a file; return the report's lines."""
    report = path.with_suffix(".report.csv")
    validate_job(
        source=str(path),
        input_options=options or InputOptions(provider_id="prov_x"),
        output=OutputOptions(report=report, quiet=True, progress=False),
    )
    with report.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_malformed_records_are_invalid_rows_with_the_reason(tmp_path: Path) -> None:
    """A swallowed row and extra cells are invalid rows that say why; no row goes missing."""
    path = tmp_path / "fleet.csv"
    path.write_text(
        "number,label\n"
        "+14155550101,Front desk\n"
        '+14155550102,"Reception\n'
        "+14155550103,Support\n"
        '+14155550104,"Billing"\n'
        "+14155550105,Smith, John\n"
        '+14155550106,"Two\nlines"\n',
        encoding="utf-8",
    )
    lines = validate(path)
    assert [(line["row"], line["status"], line["error"]) for line in lines] == [
        ("2", "valid", ""),
        (
            "3",
            "invalid",
            "a quoted cell runs over a line end and swallows line 4, which looks like a row of "
            "its own: close the quote opened on line 3",
        ),
        (
            "4",
            "invalid",
            'more cells than the header (3 cells, 2 named): put a cell that holds "," in double '
            "quotes, or name the extra column in the header",
        ),
        ("5", "valid", ""),
    ]
    assert lines[1]["input_number"] == "'+14155550102"  # the report's formula mark
    assert lines[3]["label"] == "Two\nlines"


def test_a_title_row_sheet_validates_with_its_own_row_numbers(tmp_path: Path) -> None:
    """A sheet whose header is on row 3 under a merged title reports rows 4 and 5."""
    path = tmp_path / "lines.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "Support lines - Q3 2026 import"
    sheet.merge_cells("A1:B1")
    sheet.append([])
    sheet.append(["Phone", "Name"])
    sheet.append([14155550101, "Desk"])
    sheet.append(["0412 345 678", "Sydney"])
    book.save(path)
    lines = validate(path)
    assert [(line["row"], line["number"], line["status"]) for line in lines] == [
        ("4", "+14155550101", "valid"),
        ("5", "", "invalid"),
    ]


def test_a_header_only_file_is_refused_and_no_report_is_written(tmp_path: Path) -> None:
    """validate of a header without rows is exit 2 (InputError) and leaves no report behind."""
    path = tmp_path / "fleet.csv"
    path.write_text("number,label\n", encoding="utf-8")
    with pytest.raises(InputError, match="has a header but no data rows") as caught:
        validate(path)
    assert caught.value.exit_code == 2
    assert not path.with_suffix(".report.csv").exists()


def test_a_rounded_looking_number_is_warned_of_before_the_rows(tmp_path: Path) -> None:
    """validate ops.xlsx: the warning is the first line on stderr; the row stays valid."""
    book = openpyxl.Workbook()
    book.active.append(["Phone", "Name"])
    book.active.append([447911000000, "London, rounded?"])
    book.active.append([14155552671, "Reception"])
    book.save(tmp_path / "ops.xlsx")
    done = subprocess.run(
        [sys.executable, "-m", "bulk_import", "validate", "ops.xlsx", "--provider-id", "p"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith('warning: ops.xlsx, sheet "Sheet": the number in row 2, 447911000000')
    with (tmp_path / "ops.validate.csv").open(newline="", encoding="utf-8") as handle:
        assert [line["status"] for line in csv.DictReader(handle)] == ["valid", "valid"]
