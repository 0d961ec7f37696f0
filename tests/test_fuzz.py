"""Bad input fuzzing: whatever the file holds, ``validate`` never shows a traceback.

The property, for every input: the command exits 2 with exactly one line on stderr, or it writes
a report that accounts for every data row. Data rows are counted independently of the reader:
the bytes are decoded as SPEC.md says (BOM, else UTF-8, else CP-1252, else Latin-1) and parsed
with the ``csv`` module; a row is a data row when a cell holds more than spaces. The report must
hold that many lines, in row order, with E.164 numbers in ASCII or none, formula-looking cells
neutralised, and duplicates pointing at an earlier valid row of the same number.

Hypothesis runs in-process through click's runner (fast); a few seeded inputs also go through
the real process. Seeds are fixed: a failure is the same failure on every machine.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, currently_in_test_context, event, given, seed, settings
from hypothesis import strategies as st

from bulk_import.cli import main
from bulk_import.models import REPORT_COLUMNS

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
E164 = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("input_number", "label", "provider", "agent_id", "phone_number_id", "error")
DELIMITERS = (",", "\t", ";", "|")
NUMBER_HEADERS = ("number", "Phone Number", "phone_number", "PHONE-NUMBER", "msisdn", "e164")
OTHER_HEADERS = ("label", "Friendly Name", "agent_id", "region", "notes", "provider_id")
VALID_NUMBERS = ("+14155552671", "+447911123456", "+4930901820", "+61291920995")
QUOTINGS: tuple[Literal[0, 1, 2, 3], ...] = (csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC)
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


# -- the independent count ------------------------------------------------------------------------


def decode_like_spec(data: bytes) -> str:
    """Decode as SPEC.md says: a BOM wins, else UTF-8, else CP-1252, else Latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def sniff_like_spec(text: str, extension: str) -> str:
    """Return the delimiter the header line uses most outside quotes (tab for .tsv)."""
    if extension == ".tsv":
        return "\t"
    for line in text.splitlines():
        if line.strip():
            unquoted = re.sub(r'"[^"]*"', "", line)
            counts = [unquoted.count(d) for d in DELIMITERS]
            return DELIMITERS[counts.index(max(counts))] if max(counts) else ","
    return ","


def count_data_rows(data: bytes, delimiter: str) -> int | None:
    """Count the data rows with the csv module; ``None`` when it cannot parse the file."""
    text = decode_like_spec(data)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return None
    filled = sum(1 for record in records if any(cell.strip() for cell in record))
    return max(filled - 1, 0)  # the first filled record is the header


# -- running validate and checking what it says ---------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Say what one validate run did."""

    code: int
    stderr: str
    lines: list[dict[str, str]] | None
    summary: dict[str, Any] | None


def validate_in_process(path: Path) -> Outcome:
    """Run ``validate`` through click's runner; return its exit code, stderr and report."""
    report, summary = path.with_suffix(".report.csv"), path.with_suffix(".summary.json")
    result = CliRunner().invoke(
        main,
        [
            *("validate", str(path), "--report", str(report), "--summary-json", str(summary)),
            *("--provider-id", "prov_x", "--quiet", "--no-progress"),
        ],
        catch_exceptions=True,
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    return outcome_of(result.exit_code, result.stderr, report, summary)


def validate_subprocess(path: Path) -> Outcome:
    """Run ``validate`` as the real process."""
    report, summary = path.with_suffix(".report.csv"), path.with_suffix(".summary.json")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bulk_import", "validate", str(path), "--report", str(report)),
            *(
                "--summary-json",
                str(summary),
                "--provider-id",
                "prov_x",
                "--quiet",
                "--no-progress",
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == ""
    return outcome_of(done.returncode, done.stderr, report, summary)


def outcome_of(code: int, stderr: str, report: Path, summary: Path) -> Outcome:
    """Read back what a validate run left."""
    lines = None
    if report.exists():
        with report.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
            lines = list(reader)
    data = json.loads(summary.read_text()) if summary.exists() else None
    return Outcome(code, stderr, lines, data)


def check(outcome: Outcome, expected_rows: int | None) -> None:
    """Check the property: one line and exit 2, or a report that accounts for every row.

    A report always has a row: a file with a header and no data rows is refused (exit 2).
    """
    if currently_in_test_context():
        event(f"exit {outcome.code}")
    assert "Traceback" not in outcome.stderr
    if outcome.code == 2:
        assert outcome.stderr.startswith("bulk-import: error: "), outcome.stderr
        assert outcome.stderr.count("\n") == 1, outcome.stderr
        return
    assert outcome.code in (0, 1), (outcome.code, outcome.stderr)
    if outcome.code == 0:
        assert outcome.stderr == ""
    else:  # --quiet still says, in one line, which rows need attention
        assert outcome.stderr.startswith("bulk-import validate "), outcome.stderr
        assert ": exit 1: " in outcome.stderr
        assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert outcome.lines is not None
    assert outcome.summary is not None
    lines = outcome.lines
    assert len(lines) == expected_rows, f"report has {len(lines)} rows, the file {expected_rows}"
    assert lines, "a report with no rows: a header-only file must be refused"
    rows = [int(line["row"]) for line in lines]
    assert rows == sorted(set(rows))
    assert not rows or rows[0] >= 2
    valid: dict[int, str] = {}
    for line in lines:
        assert None not in line, "a ragged report line"
        assert None not in line.values(), "a ragged report line"
        status, number = line["status"], line["number"]
        assert status in ("valid", "invalid", "duplicate"), status
        if status == "invalid":
            assert number == ""
            assert line["error"]
        else:
            assert E164.fullmatch(number), f"not ASCII E.164: {number!r}"
        if status == "valid":
            assert number not in valid.values(), f"{number} valid twice"
            valid[int(line["row"])] = number
        if status == "duplicate":
            first = int(line["error"].removeprefix("duplicate of row "))
            assert valid.get(first) == number, line
        for column in TEXT_COLUMNS:
            assert not line[column].startswith(FORMULA_START), (column, line[column])
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["status"]] = counts.get(line["status"], 0) + 1
    assert outcome.summary["counts"] == counts
    assert outcome.summary["total"] == len(lines)
    assert outcome.code == (1 if "invalid" in counts else 0)


# -- strategies -----------------------------------------------------------------------------------


def spelled(number: str, how: int) -> str:
    """Write a valid number as people and spreadsheets do."""
    digits = number[1:]
    return [
        number,
        f"+{digits[:1]} ({digits[1:4]}) {digits[4:7]}-{digits[7:]}",
        digits,  # lost its +
        f"00{digits}",
        number.translate(ARABIC_INDIC),  # +١٤١٥٥٥٥٢٦٧١
        number.translate(FULL_WIDTH),  # ＋１４１５５５５２６７１
        "＋" + digits,
        f"'{number}",
        f" {number}\u00a0",
        f"{digits}.0",
        "4.47911E+11",
    ][how]


def cells() -> st.SearchStrategy[str]:
    """Return cells of every kind a spreadsheet export holds, and then some."""
    return st.one_of(
        st.builds(spelled, st.sampled_from(VALID_NUMBERS), st.integers(min_value=0, max_value=10)),
        st.sampled_from(
            [
                "",
                "   ",
                "NA",
                "null",
                "N/A",
                '=HYPERLINK("http://x","click")',
                "=1+1",
                "+SUM(A1:A2)",
                "-2",
                "@cmd",
                "\t=tab",
                "\r=cr",
                "a\x00b",
                "\x00",
                "+1415555\x002671",
                '"quoted"',
                "semi;colon",
                "pipe|bar",
                "new\nline",
                "x" * 5_000,
                "9" * 300,
                "+1 415 555 2671 ext. 12",
                "١٢٣",
                "＋",
            ]
        ),
        st.text(max_size=30),
    )


@st.composite
def structured_files(draw: st.DrawFn) -> tuple[bytes, str, str]:
    """Return (bytes, extension, delimiter) of a CSV with random dialect, encoding and rows."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    header = [draw(st.sampled_from(NUMBER_HEADERS))]
    header += draw(st.lists(st.sampled_from(OTHER_HEADERS), min_size=1, max_size=3))
    draw(st.randoms()).shuffle(header)
    rows = draw(st.lists(st.lists(cells(), max_size=len(header) + 2), max_size=25))
    quoting = draw(st.sampled_from(QUOTINGS))
    newline = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "mixed"]))
    if encoding == "mixed":  # UTF-8 lines and CP-1252 lines in one file
        half = len(text) // 2
        data = text[:half].encode("utf-8") + text[half:].encode("cp1252", errors="replace")
    else:
        data = text.encode(encoding, errors="replace")
    extension = ".tsv" if delimiter == "\t" and draw(st.booleans()) else ".csv"
    return data, extension, delimiter


@st.composite
def random_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """Return (bytes, extension): random bytes, often after a header that names a number."""
    prefix = draw(
        st.sampled_from(
            [
                b"",
                b"number,label\n",
                b"Phone Number;Friendly Name\r\n",
                b"msisdn\tname\n",
                codecs.BOM_UTF8 + b"number|label\n",
                codecs.BOM_UTF16_LE + "number,label\n".encode("utf-16-le"),
                b'"number","label"\r\n+14155552671,"open',
            ]
        )
    )
    body = draw(st.binary(max_size=2_000))
    return prefix + body, draw(st.sampled_from([".csv", ".txt", ".tsv"]))


# -- the properties -------------------------------------------------------------------------------


def in_temp_dir(run: Callable[[Path], None]) -> None:
    """Call ``run`` with a fresh folder (hypothesis calls a test many times in one tmp_path)."""
    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder))


@seed(20261127)
@FUZZ
@given(structured_files())
def test_any_dialect_encoding_and_ragged_rows_account_for_every_row(
    case: tuple[bytes, str, str],
) -> None:
    """Any dialect, encoding, ragged rows, NULs, formulas and odd digits: every row reported."""
    data, extension, delimiter = case

    def run(folder: Path) -> None:
        path = folder / f"in{extension}"
        path.write_bytes(data)
        expected = count_data_rows(data, delimiter)
        outcome = validate_in_process(path)
        check(outcome, expected)
        if expected == 0:  # a header with no rows is unusable input, never "0 rows, exit 0"
            assert outcome.code == 2, "a header-only file was accepted"
        elif expected is not None:
            assert outcome.code != 2, f"a usable file refused: {outcome.stderr}"

    in_temp_dir(run)


@seed(4711)
@FUZZ
@given(random_files())
def test_random_bytes_exit_2_with_one_line_or_account_for_every_row(
    case: tuple[bytes, str],
) -> None:
    """Random bytes: exit 2 with one line, or a report holding every data row once."""
    data, extension = case

    def run(folder: Path) -> None:
        path = folder / f"in{extension}"
        path.write_bytes(data)
        delimiter = sniff_like_spec(decode_like_spec(data), extension)
        check(validate_in_process(path), count_data_rows(data, delimiter))

    in_temp_dir(run)


def sheet_values() -> st.SearchStrategy[object]:
    """Return the cell values openpyxl writes: dates, bools, formulas, floats, text, blanks."""
    printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**16), max_value=10**16),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([14155552671.0, 447911123456.0, 4.47911e11, 1e20, -0.0, 0.5]),
        st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
        st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
        st.times(),
        st.sampled_from(["=1+1", '=HYPERLINK("http://x")', "=A1*2", "=NOW()"]),
        st.builds(spelled, st.sampled_from(VALID_NUMBERS), st.integers(0, 10)),
        printable,
    )


def has_content(value: object) -> bool:
    """Say whether a written cell reads back as something: formulas have no cached value."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip()) and not value.startswith("=")
    return True


@seed(1900)
@settings(FUZZ, max_examples=60)
@given(st.lists(st.lists(sheet_values(), min_size=1, max_size=4), max_size=12))
def test_xlsx_with_odd_cell_types_accounts_for_every_row(rows: list[list[object]]) -> None:
    """An xlsx with dates, bools, formulas and floats in any cell: every row reported."""

    def run(folder: Path) -> None:
        path = folder / "in.xlsx"
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(["number", "label", "agent_id", "notes"])
        for row in rows:
            sheet.append(row)
        workbook.save(path)
        expected = sum(1 for row in rows if any(has_content(value) for value in row))
        outcome = validate_in_process(path)
        check(outcome, expected)
        assert (outcome.code == 2) is (expected == 0), outcome.stderr

    in_temp_dir(run)


# -- targeted examples --------------------------------------------------------------------------


def test_unicode_digits_and_full_width_plus_become_ascii_e164(tmp_path: Path) -> None:
    """Arabic-Indic digits and a full-width ＋ are read as the number they spell, in ASCII."""
    path = tmp_path / "in.csv"
    path.write_text(
        "number,label\n+١٤١٥٥٥٥٢٦٧١,arabic\n＋４４７９１１１２３４５６,full\n١٢٣,short\n",
        encoding="utf-8",
    )
    outcome = validate_in_process(path)
    check(outcome, 3)
    assert outcome.lines is not None
    assert [(line["status"], line["number"]) for line in outcome.lines] == [
        ("valid", "+14155552671"),
        ("valid", "+447911123456"),
        ("invalid", ""),
    ]


def test_formula_cells_are_neutralised_in_the_report(tmp_path: Path) -> None:
    """Cells a spreadsheet would run get a leading ' in every text column but number."""
    path = tmp_path / "in.csv"
    path.write_text(
        'number,label,agent_id\n+14155552671,"=HYPERLINK(""http://evil"",""x"")",@agent\n'
        "-1,+SUM(A1),=cmd\n",
        encoding="utf-8",
    )
    outcome = validate_in_process(path)
    check(outcome, 2)
    assert outcome.lines is not None
    first, second = outcome.lines
    assert first["number"] == "+14155552671"
    assert first["label"] == '\'=HYPERLINK("http://evil","x")'
    assert first["agent_id"] == "'@agent"
    assert (second["input_number"], second["label"], second["agent_id"]) == (
        "'-1",
        "'+SUM(A1)",
        "'=cmd",
    )


def test_a_cell_past_the_csv_field_limit_is_one_line_exit_2(tmp_path: Path) -> None:
    """A quote never closed over 140,000 characters: exit 2, one line, and no report."""
    path = tmp_path / "in.csv"
    path.write_text('number\n+14155552671\n"' + "x" * 140_000 + "\n+14155552672\n")
    outcome = validate_in_process(path)
    assert outcome.code == 2
    check(outcome, None)
    assert outcome.lines is None, "the input is refused before a report is started"


SUBPROCESS_SEEDS = [11, 12, 13, 14]


@pytest.mark.parametrize("case_seed", SUBPROCESS_SEEDS)
def test_seeded_bad_inputs_through_the_real_process(tmp_path: Path, case_seed: int) -> None:
    """The real process on seeded junk: one line and exit 2, or every row accounted for."""
    rng = random.Random(case_seed)
    kind = case_seed % 4
    if kind == 0:  # random bytes after a good header
        data = b"number,label\n" + rng.randbytes(4_000)
    elif kind == 1:  # NUL bytes everywhere
        data = b"number,label\n" + b"\n".join(
            b"+1415555%04d\x00,\x00label" % rng.randrange(10_000) for _ in range(50)
        )
    elif kind == 2:  # UTF-16 with ragged rows
        lines = ["number;label;extra"] + [
            ";".join("+14155552671" if rng.random() < 0.3 else "x" for _ in range(rng.randrange(6)))
            for _ in range(40)
        ]
        data = "\r\n".join(lines).encode("utf-16")
    else:  # bytes with no header at all
        data = rng.randbytes(3_000)
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    delimiter = sniff_like_spec(decode_like_spec(data), ".csv")
    check(validate_subprocess(path), count_data_rows(data, delimiter))


def test_odd_xlsx_through_the_real_process(tmp_path: Path) -> None:
    """The real process on an xlsx of dates, bools, formulas and floats: every row reported."""
    path = tmp_path / "in.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Phone Number", "Friendly Name"])
    values: list[list[object]] = [
        [14155552671.0, dt.datetime(2024, 1, 2, 3, 4, 5)],
        [True, False],
        ["=1+1", '=HYPERLINK("http://x")'],
        [4.47911e11, 1.5],
        [dt.date(2024, 2, 29), dt.time(12, 30)],
        ["+44 7911 123456", None],
        [None, "label only"],
    ]
    for row in values:
        sheet.append(row)
    workbook.save(path)
    outcome = validate_subprocess(path)
    check(outcome, 6)  # the formula-only row reads back empty
    assert outcome.lines is not None
    assert outcome.lines[0]["number"] == "+14155552671"
    assert outcome.lines[0]["label"] == "2024-01-02T03:04:05"
