"""Tests for bulk_import.normalize: rows ready to send, providers, labels and duplicates."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli, cli_env, write_input
from hypothesis import example, given
from hypothesis import strategies as st

from bulk_import.cells import clean
from bulk_import.config import InputOptions
from bulk_import.e164 import (
    REASON_COUNTRY,
    REASON_EMPTY,
    REASON_EXTENSION,
    REASON_INVALID,
    REASON_LETTERS,
    REASON_NOT_A_NUMBER,
    REASON_ROUNDED,
    REASON_SYMBOLS,
    REASON_TOO_LONG,
    REASON_TOO_SHORT,
)
from bulk_import.errors import UsageError
from bulk_import.models import REPORT_COLUMNS, Outcome, Provider, RawRow, Row, Status
from bulk_import.normalize import (
    REASON_NO_PROVIDER,
    check_input_options,
    check_label_template,
    parse_provider,
    prepare,
    render_label,
    resolve_provider,
)
from bulk_import.output.report import outcome_cells
from bulk_import.sources import open_input

REASONS = {
    REASON_COUNTRY,
    REASON_EMPTY,
    REASON_EXTENSION,
    REASON_INVALID,
    REASON_LETTERS,
    REASON_NOT_A_NUMBER,
    REASON_ROUNDED,
    REASON_SYMBOLS,
    REASON_TOO_LONG,
    REASON_TOO_SHORT,
}
SID = "AC" + "0123456789abcdef" * 2
OTHER_SID = "AC" + "fedcba9876543210" * 2
US = "+14155552671"
UK = "+447911123456"


# --- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{number}", US),
        ("Line {row}", "Line 7"),
        ("{input_number} → {number}", "(415) 555-2671 → +14155552671"),
        ("row {row:04d}", "row 0007"),
        ("{{literal}} {number}", "{literal} +14155552671"),
        ("Support", "Support"),
    ],
)
def test_label_templates(template: str, expected: str) -> None:
    """A usable template passes the check and renders its fields."""
    check_label_template(template)
    assert render_label(template, number=US, row=7, input_number="(415) 555-2671") == expected


FIELDS = "use {number}, {row}, {input_number}"


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{foo}", f'--default-label "{{foo}}" uses unknown field {{foo}}; {FIELDS}'),
        ("{}", f'--default-label "{{}}" uses unknown field {{}}; {FIELDS}'),
        ("{0}", f'--default-label "{{0}}" uses unknown field {{0}}; {FIELDS}'),
        (
            "{number.real}",
            f'--default-label "{{number.real}}" uses unknown field {{number.real}}; {FIELDS}',
        ),
        (
            "{number[0]}",
            f'--default-label "{{number[0]}}" uses unknown field {{number[0]}}; {FIELDS}',
        ),
        (
            "{number",
            '--default-label "{number" has unbalanced braces; write {{ and }} for a literal brace',
        ),
        ("}", '--default-label "}" has unbalanced braces; write {{ and }} for a literal brace'),
        (
            "{number:d}",
            "--default-label \"{number:d}\" cannot be used: Unknown format code 'd' "
            "for object of type 'str'",
        ),
    ],
)
def test_unusable_label_templates(template: str, error: str) -> None:
    """Unknown fields, attribute access, bad braces and bad formats are refused with the fix."""
    with pytest.raises(UsageError) as caught:
        check_label_template(template)
    assert str(caught.value) == error


# --- providers -------------------------------------------------------------------------------


def raw(**cells: str) -> RawRow:
    """Return a raw row 2 holding a valid US number and the given cells."""
    return RawRow(row_number=2, number=US, **cells)


@pytest.mark.parametrize(
    ("row", "options", "expected"),
    [
        (raw(provider_id="prov_row"), InputOptions(), Provider(id="prov_row")),
        (
            raw(provider_id="prov_row", account_sid=SID),
            InputOptions(provider_id="prov_cli"),
            Provider(id="prov_row"),
        ),
        (
            raw(account_sid=SID, region="ie1"),
            InputOptions(),
            Provider(account_sid=SID, region="ie1"),
        ),
        (
            raw(account_sid=SID, region=" AU1 "),
            InputOptions(),
            Provider(account_sid=SID, region="au1"),
        ),
        (raw(account_sid=SID), InputOptions(region="ie1"), Provider(account_sid=SID, region="ie1")),
        (
            raw(account_sid=SID),
            InputOptions(provider_id="prov_cli"),
            Provider(account_sid=SID, region="us1"),
        ),
        (
            raw(account_sid=SID, region="eu1"),
            InputOptions(),
            'unknown region "eu1": use us1, ie1 or au1',
        ),
        (
            raw(account_sid="AC123"),
            InputOptions(),
            'account_sid "AC123" is not a Twilio account SID '
            "(AC followed by 32 hexadecimal digits)",
        ),
        (
            raw(provider=f"twilio:{SID}:au1"),
            InputOptions(provider_id="prov_cli"),
            Provider(account_sid=SID, region="au1"),
        ),
        (raw(provider="prov_report"), InputOptions(), Provider(id="prov_report")),
        (raw(provider="twilio:AC1"), InputOptions(), Provider(id="twilio:AC1")),
        (raw(provider_id="twilio"), InputOptions(), Provider(id="twilio")),
        (raw(provider_id="twilio:x:y:z"), InputOptions(), Provider(id="twilio:x:y:z")),
        (
            raw(provider_id=f"twilio:{SID}:us1"),
            InputOptions(provider_id="prov_cli"),
            f'provider_id "twilio:{SID}:us1" reads as a Twilio account, not a provider id; '
            "put the SID in an account_sid column and the region in a region column",
        ),
        (
            raw(provider_id="twilio::"),
            InputOptions(),
            'provider_id "twilio::" reads as a Twilio account, not a provider id; '
            "put the SID in an account_sid column and the region in a region column",
        ),
        (
            raw(provider_id="prov_x "),
            InputOptions(),
            'provider_id "prov_x " has spaces around it; write it without them',
        ),
        (
            raw(provider=f"twilio:{SID}:xx1"),
            InputOptions(),
            'unknown region "xx1": use us1, ie1 or au1',
        ),
        (raw(), InputOptions(provider_id="prov_cli"), Provider(id="prov_cli")),
        (
            raw(region="ie1"),
            InputOptions(provider_id="prov_cli", twilio_account_sid=SID),
            Provider(id="prov_cli"),
        ),
        (raw(), InputOptions(twilio_account_sid=SID), Provider(account_sid=SID, region="us1")),
        (
            raw(),
            InputOptions(twilio_account_sid=SID, region="au1"),
            Provider(account_sid=SID, region="au1"),
        ),
        (
            raw(region="ie1"),
            InputOptions(twilio_account_sid=SID, region="au1"),
            Provider(account_sid=SID, region="ie1"),
        ),
        (
            raw(),
            InputOptions(twilio_account_sid=SID, region="mars"),
            'unknown region "mars": use us1, ie1 or au1',
        ),
        (raw(), InputOptions(), REASON_NO_PROVIDER),
        (raw(region="ie1", agent_id="a"), InputOptions(), REASON_NO_PROVIDER),
    ],
)
def test_resolve_provider(row: RawRow, options: InputOptions, expected: Provider | str) -> None:
    """The row's provider_id, account_sid (+region), report provider, then the options, in order."""
    assert resolve_provider(row, options) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prov_sandbox", Provider(id="prov_sandbox")),
        ("  prov_x ", Provider(id="prov_x")),
        (f"twilio:{SID}:ie1", Provider(account_sid=SID, region="ie1")),
        (f"twilio:{SID}: AU1", Provider(account_sid=SID, region="au1")),
        # Only the exact shape twilio:<sid>:<region> is a Twilio account: the rest are ids.
        ("twilio", Provider(id="twilio")),
        ("twilio:", Provider(id="twilio:")),
        ("twilio:AC1", Provider(id="twilio:AC1")),
        (f"twilio:{SID}:us1:x", Provider(id=f"twilio:{SID}:us1:x")),
        (f"Twilio:{SID}:us1", Provider(id=f"Twilio:{SID}:us1")),
        ("prov:with:colons", Provider(id="prov:with:colons")),
        ("'=prov", Provider(id="'=prov")),
        (f"twilio:{SID}:eu1", 'unknown region "eu1": use us1, ie1 or au1'),
        (
            "twilio:AC123:us1",
            'account_sid "AC123" is not a Twilio account SID '
            "(AC followed by 32 hexadecimal digits)",
        ),
        (
            "twilio::us1",
            'account_sid "" is not a Twilio account SID (AC followed by 32 hexadecimal digits)',
        ),
        ("", REASON_NO_PROVIDER),
        ("   ", REASON_NO_PROVIDER),
    ],
)
def test_parse_provider(text: str, expected: Provider | str) -> None:
    """A report's provider cell is a provider id or a checked twilio:<sid>:<region>, or why not."""
    assert parse_provider(text) == expected


def report_cell(provider: Provider) -> str:
    """Return a row's provider cell as the report writes it and the reader reads it back."""
    cells = outcome_cells(Outcome(Row(2, US, US, provider=provider), Status.FAILED))
    return clean(cells[REPORT_COLUMNS.index("provider")])


def held(text: str) -> Provider | None:
    """Return the provider the tool holds for a provider_id cell, None when it refuses it."""
    provider = resolve_provider(raw(provider_id=text), InputOptions())
    return provider if isinstance(provider, Provider) else None


# Any text, and texts that read like the Twilio scheme: twilio, twilio:, twilio:x, a:b:c, and
# SIDs and regions in any field.
PROVIDER_TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.one_of(
            st.sampled_from(["twilio", "Twilio", "", " ", SID, "AC", "us1", "=", "'"]),
            st.text(max_size=4),
        ),
        min_size=1,
        max_size=5,
    ).map(":".join),
)
TWILIO_ACCOUNTS = st.builds(
    lambda sid, region: Provider(account_sid="AC" + sid, region=region),
    st.text("0123456789abcdefABCDEF", min_size=32, max_size=32),
    st.sampled_from(["us1", "ie1", "au1"]),
)
# The ids the tool can hold are those its own entry check lets in: the Twilio shape and spaces
# around are refused up front (see test_resolve_provider and the test after this one).
PROVIDERS = st.one_of(
    PROVIDER_TEXT.map(held).filter(lambda provider: provider is not None), TWILIO_ACCOUNTS
)


@example(Provider(id="twilio"))  # issue 19: found by chance in a fresh clone's make test
@example(Provider(id="twilio:"))
@example(Provider(id="twilio:x"))
@example(Provider(id=f"twilio:{SID}:us1:x"))
@given(PROVIDERS)
def test_parse_provider_reads_back_what_a_report_writes(provider: Provider) -> None:
    """Any provider the tool can hold reads back from its report cell as that same provider."""
    assert parse_provider(report_cell(provider)) == provider


@example(text="twilio")
@example(text=f"twilio:{SID}:us1")
@given(text=PROVIDER_TEXT)
def test_a_provider_id_is_refused_up_front_or_read_back(text: str) -> None:
    """Any provider_id cell or --provider-id: refused before anything is sent, or read back."""
    try:
        check_input_options(InputOptions(provider_id=text))
    except UsageError:
        from_option: Provider | str | None = None
    else:
        from_option = resolve_provider(RawRow(2, US), InputOptions(provider_id=text))
    from_column = resolve_provider(raw(provider_id=text), InputOptions())
    for provider in (from_option, from_column):
        if isinstance(provider, Provider):
            assert parse_provider(report_cell(provider)) == provider
    assert (from_column == Provider(id=text)) == isinstance(from_option, Provider)


@pytest.mark.parametrize(
    ("option", "error"),
    [
        (
            f"twilio:{SID}:ie1",
            f'--provider-id "twilio:{SID}:ie1" reads as a Twilio account, not a provider id; '
            f"pass --twilio-account-sid {SID} --region ie1",
        ),
        (
            "twilio:AC1:eu1",
            '--provider-id "twilio:AC1:eu1" reads as a Twilio account, not a provider id; '
            "pass --twilio-account-sid AC1 --region eu1",
        ),
        (" prov_x", '--provider-id " prov_x" has spaces around it; write it without them'),
    ],
)
def test_a_provider_id_the_report_could_not_write_back_is_refused(option: str, error: str) -> None:
    """A --provider-id of the Twilio shape, or with spaces around it, is refused naming the fix."""
    with pytest.raises(UsageError) as caught:
        check_input_options(InputOptions(provider_id=option))
    assert str(caught.value) == error


def test_a_twilio_shaped_provider_id_is_exit_2_in_one_line(tmp_path: Path) -> None:
    """validate --provider-id twilio:<sid>:<region>: exit 2, one line naming the fix, no report."""
    source = write_input(tmp_path / "in.csv", [US])
    done = cli(
        "validate", str(source), "--provider-id", f"twilio:{SID}:us1",
        env=cli_env(None), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f'bulk-import: error: --provider-id "twilio:{SID}:us1" reads as a Twilio account, '
        f"not a provider id; pass --twilio-account-sid {SID} --region us1"
    ]
    assert not (tmp_path / "in.validate.csv").exists()


def test_ids_that_read_like_the_scheme_travel_through_a_real_report(tmp_path: Path) -> None:
    """twilio, twilio:, twilio:x and ids with colons: a report file read back sends the same."""
    ids = ["twilio", "twilio:", "twilio:x", "a:b:c:d", "=twilio:x", f"twilio:{SID}:us1:x"]
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["number", "provider_id"], *([f"+1415555{i:04d}", id_] for i, id_ in enumerate(ids))]
        )
    sent = list(prepare(open_input(str(source)), InputOptions()))
    assert [row.provider for row in sent] == [Provider(id=id_) for id_ in ids]
    report = tmp_path / "in.report.csv"
    with report.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(outcome_cells(Outcome(row, Status.FAILED)) for row in sent)
    again = list(prepare(open_input(str(report)), InputOptions()))
    assert [(row.provider, row.status) for row in again] == [(row.provider, None) for row in sent]


# --- prepare ---------------------------------------------------------------------------------


def rows(*numbers: str, **cells: str) -> list[RawRow]:
    """Return raw rows 2, 3, ... holding these numbers and the same other cells."""
    return [RawRow(row, number, **cells) for row, number in enumerate(numbers, 2)]


def summary(prepared: list[Row]) -> list[tuple[int | None, str, Status | None, str]]:
    """Return (row, number, status, error) of each prepared row."""
    return [(row.row_number, row.number, row.status, row.error) for row in prepared]


def test_prepare_marks_later_copies_as_duplicates() -> None:
    """The first row with a number goes on; later rows with it are duplicates of that row."""
    prepared = list(
        prepare(
            rows(US, "(415) 555-2671", "NA", UK, "+44 7911 123456", "+1 415 555 2671"),
            InputOptions(provider_id="prov_sandbox"),
        )
    )
    assert summary(prepared) == [
        (2, US, None, ""),
        (3, US, Status.DUPLICATE, "duplicate of row 2"),
        (4, "", Status.INVALID, REASON_LETTERS),
        (5, UK, None, ""),
        (6, UK, Status.DUPLICATE, "duplicate of row 5"),
        (7, US, Status.DUPLICATE, "duplicate of row 2"),
    ]


def test_only_a_valid_row_is_the_original_of_duplicates() -> None:
    """A row invalid for its provider does not make the next row with its number a duplicate."""
    raws = [
        RawRow(2, US, account_sid="nope"),
        RawRow(3, US),
        RawRow(4, US, account_sid="nope"),
        RawRow(5, US),
    ]
    prepared = list(prepare(raws, InputOptions(twilio_account_sid=SID)))
    reason = 'account_sid "nope" is not a Twilio account SID (AC followed by 32 hexadecimal digits)'
    assert summary(prepared) == [
        (2, "", Status.INVALID, reason),
        (3, US, None, ""),
        (4, US, Status.DUPLICATE, "duplicate of row 3"),
        (5, US, Status.DUPLICATE, "duplicate of row 3"),
    ]
    assert prepared[1].provider == Provider(account_sid=SID)
    assert prepared[3].provider == Provider(account_sid=SID)
    assert prepared[2].provider is None


def test_prepare_fills_label_agent_and_provider() -> None:
    """Blank labels take the template, blank agents the option; row values win."""
    raws = [
        RawRow(2, " (415) 555-2671 ", label="Front desk", agent_id="agent_row"),
        RawRow(3, UK, provider_id="prov_row"),
        RawRow(4, "4.47911E+11", label="kept", agent_id="agent_x"),
        RawRow(5, "+1 415 555 2672", account_sid=OTHER_SID, region="ie1"),
    ]
    options = InputOptions(
        default_label="Line {row}: {input_number} ({number})",
        provider_id="prov_sandbox",
        agent_id="agent_sandbox",
    )
    assert list(prepare(raws, options)) == [
        Row(
            2,
            "(415) 555-2671",
            US,
            "Front desk",
            Provider(id="prov_sandbox"),
            "agent_row",
        ),
        Row(
            3,
            UK,
            UK,
            f"Line 3: {UK} ({UK})",
            Provider(id="prov_row"),
            "agent_sandbox",
        ),
        Row(
            4,
            "4.47911E+11",
            "",
            "kept",
            Provider(id="prov_sandbox"),
            "agent_x",
            Status.INVALID,
            REASON_ROUNDED,
        ),
        Row(
            5,
            "+1 415 555 2672",
            "+14155552672",
            "Line 5: +1 415 555 2672 (+14155552672)",
            Provider(account_sid=OTHER_SID, region="ie1"),
            "agent_sandbox",
        ),
    ]


def test_prepare_default_label_is_the_number() -> None:
    """With the default template a blank label is the E.164 number, and no agent is ""."""
    (row,) = prepare([RawRow(2, "(415) 555-2671")], InputOptions(provider_id="p"))
    assert (row.label, row.agent_id) == (US, "")
    assert row.payload() == {"number": US, "label": US, "provider": {"id": "p"}}


def test_prepare_without_any_provider() -> None:
    """A valid number with no provider anywhere is invalid, saying how to give one."""
    (row,) = prepare([RawRow(2, US)], InputOptions())
    assert (row.number, row.status, row.error, row.provider) == (
        "",
        Status.INVALID,
        REASON_NO_PROVIDER,
        None,
    )


def test_prepare_blank_number() -> None:
    """A row with a label but no number is invalid as empty."""
    (row,) = prepare([RawRow(2, "  ", label="x")], InputOptions(provider_id="p"))
    assert (row.status, row.error, row.label) == (Status.INVALID, REASON_EMPTY, "x")


def test_prepare_uses_the_default_region() -> None:
    """--default-region applies to numbers without +, in any case."""
    (row,) = prepare(
        [RawRow(2, "07911 123456")], InputOptions(default_region="gb", provider_id="p")
    )
    assert (row.number, row.status) == (UK, None)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            InputOptions(default_label="{nope}"),
            '--default-label "{nope}" uses unknown field {nope}; use {number}, {row}, '
            "{input_number}",
        ),
        (
            InputOptions(default_region="ZZ"),
            'unknown --default-region "ZZ": use a two-letter country code such as US, GB or DE',
        ),
        (
            InputOptions(header_row=3, no_header=True),
            "--header-row and --no-header exclude each other; pass one of them",
        ),
        (
            InputOptions(header_row=-1),
            "--header-row -1 is not a row: rows count from 1, as a spreadsheet shows them",
        ),
        (
            InputOptions(no_header=True, number_column="Phone"),
            '--number-column "Phone" cannot name a column of a file without a header '
            "(--no-header): use a column letter (A, B, ..., ZZ) or a number counting from 1",
        ),
    ],
)
def test_check_input_options_refuses_what_cannot_work(options: InputOptions, error: str) -> None:
    """One call checks the label template, the region code and the header options."""
    with pytest.raises(UsageError) as caught:
        check_input_options(options)
    assert str(caught.value) == error


def test_check_input_options_accepts_good_options() -> None:
    """Usable options pass: the defaults, a template, a region, a header row, a column letter."""
    check_input_options(InputOptions())
    check_input_options(InputOptions(default_label="Line {row}", default_region="gb"))
    check_input_options(InputOptions(header_row=4, number_column="Phone"))
    check_input_options(InputOptions(no_header=True, number_column="c", label_column="2"))


def test_prepare_does_not_check_the_options_again() -> None:
    """prepare trusts options check_input_options passed: it does not refuse them itself."""
    (row,) = prepare(rows(US), InputOptions(default_region="ZZ", provider_id="p"))
    assert (row.number, row.status) == (US, None)


def test_a_row_the_reader_could_not_trust_is_invalid_with_its_problem() -> None:
    """RawRow.problem makes the row invalid with it as the reason; its number is not "seen"."""
    raws = [
        RawRow(2, US, label="a", problem="more cells than the header (3 cells, 2 named): ..."),
        RawRow(3, US, label="b"),
        RawRow(4, "NA", problem="a quoted cell runs over a line end ..."),
    ]
    prepared = list(prepare(raws, InputOptions(provider_id="p")))
    assert summary(prepared) == [
        (2, "", Status.INVALID, "more cells than the header (3 cells, 2 named): ..."),
        (3, US, None, ""),
        (4, "", Status.INVALID, "a quoted cell runs over a line end ..."),
    ]
    assert prepared[0].label == "a"


def test_prepare_with_a_provider_on_every_row() -> None:
    """Thousands of distinct per-row providers are each resolved right (the cache is bounded)."""
    raws = [RawRow(row, f"+1415555{row:04d}", provider_id=f"prov_{row}") for row in range(2, 5002)]
    prepared = list(prepare(raws, InputOptions()))
    assert [row.provider for row in prepared] == [Provider(id=f"prov_{r}") for r in range(2, 5002)]
    assert {row.status for row in prepared} <= {None, Status.INVALID}
    assert sum(row.status is None for row in prepared) > 4000


# --- the examples ----------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_twilio_export_example_is_all_valid() -> None:
    """examples/twilio-export.csv: about 40 valid, distinct numbers, each with its account."""
    prepared = list(prepare(open_input(str(EXAMPLES / "twilio-export.csv")), InputOptions()))
    assert len(prepared) >= 40
    assert [row for row in prepared if row.status is not None] == []
    assert len({row.number for row in prepared}) == len(prepared)
    assert {row.provider.region for row in prepared if row.provider} == {"us1"}
    assert all(row.label for row in prepared)


def test_ops_sheet_example_is_all_valid_for_the_sandbox() -> None:
    """examples/ops-sheet.xlsx: a dozen valid numbers for prov_sandbox and agent_sandbox."""
    prepared = list(prepare(open_input(str(EXAMPLES / "ops-sheet.xlsx")), InputOptions()))
    assert len(prepared) == 12
    assert {(row.status, row.agent_id) for row in prepared} == {(None, "agent_sandbox")}
    assert {row.provider for row in prepared} == {Provider(id="prov_sandbox")}
    assert "14155552671" in {row.input_number for row in prepared}  # a number cell


def test_messy_example_shows_every_reason() -> None:
    """examples/messy.csv: valid rows, a duplicate, and each reason a row can be refused for."""
    prepared = list(prepare(open_input(str(EXAMPLES / "messy.csv")), InputOptions()))
    errors = {row.error for row in prepared}
    # A reason may name particulars after its stable text: "... for its region (+1, US)".
    found = {r for r in REASONS if any(e == r or e.startswith(f"{r} (") for e in errors)}
    assert REASONS - {REASON_NOT_A_NUMBER} <= found
    assert REASON_NO_PROVIDER in errors
    assert {Status.DUPLICATE, Status.INVALID, None} == {row.status for row in prepared}
    assert any(error.startswith("unknown region") for error in errors)
    assert any(error.startswith("account_sid") for error in errors)
    assert "4.47911E+11" in {row.input_number for row in prepared}


_PARSE_AND_WAIT = """
import time
from bulk_import.config import InputOptions
from bulk_import.models import RawRow
from bulk_import.normalize import prepare
rows = (RawRow(row_number=i + 2, number=f"+1 415 {2000000 + i:07d}") for i in range(200_000))
prepared = prepare(rows, InputOptions(provider_id="prov_x"), workers=2)
next(prepared)
print("parsing", flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """Say whether a process has ended (a zombie nobody reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_parse_workers_die_with_the_process_that_forked_them() -> None:
    """A process parsing on worker processes is SIGKILLed: its workers end within seconds,
    never left blocked on their queue holding what they inherited (the report's lock, pipes)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARSE_AND_WAIT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert parent.stdout is not None
    assert parent.stdout.readline() == "parsing\n"
    workers = [
        int(pid)
        for task in Path(f"/proc/{parent.pid}/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]
    assert len(workers) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    parent.stdout.close()
    deadline = time.monotonic() + 5
    try:
        while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.02)
        alive = [pid for pid in workers if not _gone(pid)]
    finally:
        for pid in workers:  # the test's own leftovers, by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not alive, f"parse workers {alive} outlived their parent"
