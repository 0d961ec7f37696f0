"""Write the example inputs: a Twilio console export, a hand-typed ops sheet, a messy file.

Run from anywhere: ``python examples/make_examples.py``. They are written into the package
(``bulk_import/sandbox/demo/``), which ships them: ``bulk-import sandbox --demo`` writes them
out from an installed wheel, and ``examples/`` in a clone links to them. The numbers are in
ranges set aside for fiction (US 555-01xx, Ofcom's drama ranges) and each one is valid for
``phonenumbers``; ``tests/test_normalize.py`` checks that every file still says what it is
meant to.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent.parent / "bulk_import" / "sandbox" / "demo"

# Two Twilio (sub)accounts, as a real fleet often has.
MAIN_ACCOUNT = "AC3f9c2e6b8d1a4f7e9b0c5d2a6e8f1b3c"
SUPPORT_ACCOUNT = "AC7a1d4e9b2c6f8a0d3e5b7c9f1a2d4e6b"

US_AREAS = ("415", "212", "646", "312", "617", "206", "303", "512", "702")
UK_NUMBERS = (
    ("+442079460101", "London reception"),
    ("+442079460102", "London sales"),
    ("+442079460103", "London support"),
    ("+441614960201", "Manchester office"),
    ("+441614960202", "Manchester support"),
    ("+441174960301", "Bristol office"),
    ("+441174960302", "Bristol after hours"),
    ("+442890180401", "Belfast office"),
    ("+442890180402", "Belfast support"),
    ("+441134960501", "Leeds office"),
    ("+441314960601", "Edinburgh office"),
    ("+442920180701", "Cardiff office"),
)


def twilio_export() -> None:
    """Write twilio-export.csv: 40 numbers as the Twilio console exports them, all valid."""
    rows: list[list[str]] = []
    for n in range(28):
        area = US_AREAS[n % len(US_AREAS)]
        number = f"+1{area}5550{110 + n}"
        name = f"({area}) 555-0{110 + n}" if n % 3 else f"US line {n + 1}"
        rows.append([number, name, MAIN_ACCOUNT if n % 4 else SUPPORT_ACCOUNT])
    for n, (number, name) in enumerate(UK_NUMBERS):
        rows.append([number, name, SUPPORT_ACCOUNT if n % 2 else MAIN_ACCOUNT])
    with (HERE / "twilio-export.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(
            [
                "Phone Number",
                "Friendly Name",
                "SID",
                "Account SID",
                "Capabilities",
                "Voice URL",
                "Date Created",
            ]
        )
        for n, (number, name, account) in enumerate(rows):
            sid = f"PN{n:02x}{'5e1f0c2a9b7d4e3f8a6c1b0d2e4f6a'}"
            url = "https://demo.twilio.com/welcome/voice/"
            created = f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T09:{n:02d}:00Z"
            out.writerow([number, name, sid, account, "Voice, SMS", url, created])


def ops_sheet() -> None:
    """Write ops-sheet.xlsx: a dozen numbers typed by hand, some stored as Excel numbers."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Numbers"
    rows: list[list[str | int | None]] = [
        ["Phone", "Name", "agent_id", "provider_id"],
        [14155552671, "Reception", "agent_sandbox", "prov_sandbox"],  # a number cell
        ["(415) 555-0181", "Front desk", "agent_sandbox", "prov_sandbox"],
        ["212.555.0182", "NY sales", "agent_sandbox", "prov_sandbox"],
        [16465550183, "NY support", "agent_sandbox", "prov_sandbox"],  # a number cell
        ["+1 312 555 0184", None, "agent_sandbox", "prov_sandbox"],  # label from --default-label
        [None, None, None, None],  # a blank row: skipped, still counted in row numbers
        ["+44 20 7946 0811", "London ops", "agent_sandbox", "prov_sandbox"],
        ["0044 161 496 0812", "Manchester ops", "agent_sandbox", "prov_sandbox"],
        [441174960813, "Bristol ops (lost its +)", "agent_sandbox", "prov_sandbox"],
        ["617-555-0185", "Boston", "agent_sandbox", "prov_sandbox"],
        ["1 (206) 555-0186", "Seattle", "agent_sandbox", "prov_sandbox"],
        [13035550187, "Denver", "agent_sandbox", "prov_sandbox"],  # a number cell
        ["  +1 512 555 0188  ", "Austin", "agent_sandbox", "prov_sandbox"],
    ]
    for row in rows:
        sheet.append(row)
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 26
    book.save(HERE / "ops-sheet.xlsx")


def messy() -> None:
    """Write messy.csv: every reason a row is refused, a few good rows and a duplicate."""
    sid = MAIN_ACCOUNT
    rows = [
        ["number", "label", "provider_id", "account_sid", "region"],
        ["+1 415 555 0191", "good: E.164 with spaces", "prov_sandbox", "", ""],
        ["(415) 555-0192", "good: US national", "prov_sandbox", "", ""],
        ["447911123456", "good: a UK number that lost its +", "", sid, "ie1"],
        ["+1 (415) 555-0191", "duplicate of the first row", "prov_sandbox", "", ""],
        ["", "empty number", "prov_sandbox", "", ""],
        ["NA", "letters", "prov_sandbox", "", ""],
        ["1-800-FLOWERS", "letters (vanity number)", "prov_sandbox", "", ""],
        ["415*555*0193", "characters that are not part of a number", "prov_sandbox", "", ""],
        ["415-555-0194 ext. 12", "an extension", "prov_sandbox", "", ""],
        ["555-0195", "too short", "prov_sandbox", "", ""],
        ["+1 415 555 01966", "too long", "prov_sandbox", "", ""],
        ["+1 415 123 4567", "not valid for its region", "prov_sandbox", "", ""],
        ["+999 415 555 0197", "unknown country code", "prov_sandbox", "", ""],
        ["4.47911E+11", "rounded by a spreadsheet", "prov_sandbox", "", ""],
        ["+1 415 555 0198 / +1 415 555 0199", "two numbers in one cell", "prov_sandbox", "", ""],
        ["+1 312 555 0191", "no provider at all", "", "", ""],
        ["+1 312 555 0192", "a region Cartesia does not have", "", sid, "eu1"],
        ["+1 312 555 0193", "a malformed account SID", "", "AC123", "us1"],
    ]
    with (HERE / "messy.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def main() -> None:
    """Write the three example files into the package's demo folder."""
    twilio_export()
    ops_sheet()
    messy()


if __name__ == "__main__":
    main()
