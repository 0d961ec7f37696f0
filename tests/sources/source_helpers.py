"""Write real input files (CSV, .xlsx by openpyxl, .ods by hand) for the sources tests."""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pytest

from bulk_import.errors import InputError
from bulk_import.sources import InputSource, open_input

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
    return [(row.row_number, row.number) for row in source]


def message(path: Path | str, **options: Any) -> str:
    """Return the InputError message open_input raises for this input."""
    with pytest.raises(InputError) as caught:
        open_input(str(path), **options)
    return str(caught.value)
