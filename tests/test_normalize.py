"""Tests for bulk_import.normalize: E.164 or a reason, providers, labels and duplicates."""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from bulk_import import normalize
from bulk_import.config import InputOptions
from bulk_import.errors import UsageError
from bulk_import.models import Provider, RawRow, Row, Status
from bulk_import.normalize import (
    REASON_COUNTRY,
    REASON_EMPTY,
    REASON_EXTENSION,
    REASON_INVALID,
    REASON_LETTERS,
    REASON_NO_PROVIDER,
    REASON_NOT_A_NUMBER,
    REASON_ROUNDED,
    REASON_SYMBOLS,
    REASON_TOO_LONG,
    REASON_TOO_SHORT,
    check_label_template,
    check_region_code,
    prepare,
    render_label,
    resolve_provider,
    to_e164,
)
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
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
SID = "AC" + "0123456789abcdef" * 2
OTHER_SID = "AC" + "fedcba9876543210" * 2
US = "+14155552671"
UK = "+447911123456"


# --- to_e164 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        # accepted writings
        ("+14155552671", "US", US),
        ("4155552671", "US", US),
        ("1 415 555 2671", "US", US),
        ("(415) 555-2671", "US", US),
        ("415.555.2671", "US", US),
        ("+1-415-555-2671", "US", US),
        ("  +1 (415) 555-2671  ", "US", US),
        ("\u00a0+1\u00a0415\u00a0555\u00a02671\u3000", "US", US),
        ("＋1 415 555 2671", "US", US),
        ("+１４１５５５５２６７１", "US", US),
        ("١٤١٥٥٥٥٢٦٧١", "US", US),
        ("۴۱۵۵۵۵۲۶۷۱", "US", US),
        ("011 44 7911 123456", "US", UK),
        ("0044 7911 123456", "US", UK),
        ("0044 7911 123456", "GB", UK),
        ("07911 123456", "GB", UK),
        ("07911 123456", "gb", UK),
        ("+44 (0)20 7946 0018", "US", "+442079460018"),
        ("+4407911123456", "US", UK),
        ("06 1234 5678", "IT", "+390612345678"),
        ("+16135550123", "US", "+16135550123"),
        ("+800 1234 5678", "US", "+80012345678"),
        # a UK number that lost its +
        ("447911123456", "US", UK),
        ("447911123456", "DE", "+49447911123456"),  # valid in the default region: it wins
        ("14155552671", "GB", US),
        # reasons
        ("", "US", REASON_EMPTY),
        ("   ", "US", REASON_EMPTY),
        ("NA", "US", REASON_LETTERS),
        ("null", "US", REASON_LETTERS),
        ("N/A", "US", REASON_LETTERS),
        ("1-800-FLOWERS", "US", REASON_LETTERS),
        ("Call 415-555-2671 now", "US", REASON_LETTERS),
        ("tel:+14155552671", "US", REASON_LETTERS),
        ("415-555-2671 ext 12", "US", REASON_EXTENSION),
        ("415-555-2671 x12", "US", REASON_EXTENSION),
        ("415-555-2671#12", "US", REASON_EXTENSION),
        ("+1 415 555 2671;ext=3", "US", REASON_EXTENSION),
        ("+44 7911 123456 ext. 3", "US", REASON_EXTENSION),
        ("12", "US", REASON_TOO_SHORT),
        ("5", "US", REASON_TOO_SHORT),
        ("+1", "US", REASON_TOO_SHORT),
        ("555-0195", "US", REASON_TOO_SHORT),
        ("020 7946 0018", "US", REASON_TOO_LONG),  # a UK national number read as US
        ("+1 415 555 267", "US", REASON_TOO_SHORT),
        ("+1 415 555 26711", "US", REASON_TOO_LONG),
        ("9" * 300, "US", REASON_TOO_LONG),
        ("07911 123456", "US", REASON_TOO_LONG),
        ("+44 7911 12345", "US", REASON_INVALID),
        ("0044 7911 12345", "US", REASON_INVALID),
        ("+1 415 123 4567", "US", REASON_INVALID),
        ("+999 1234567", "US", REASON_COUNTRY),
        ("+0 415 555 2671", "US", REASON_COUNTRY),
        ("4.47911E+11", "US", REASON_ROUNDED),
        ("4.47911e11", "US", REASON_ROUNDED),
        ("4,47911E+11", "US", REASON_ROUNDED),
        ("1E+10", "US", REASON_ROUNDED),
        ("1e+20", "US", REASON_ROUNDED),
        ("+", "US", REASON_NOT_A_NUMBER),
        ("()", "US", REASON_NOT_A_NUMBER),
        ("----", "US", REASON_NOT_A_NUMBER),
        ("+1 415 555 2671 / +1 415 555 2672", "US", REASON_NOT_A_NUMBER),
        ("415*555*2671", "US", REASON_SYMBOLS),
        ("4,155,552,671", "US", REASON_SYMBOLS),
        ("=4155552671", "US", REASON_SYMBOLS),
        ("4155552671\x00", "US", REASON_SYMBOLS),
        ("\x00", "US", REASON_SYMBOLS),
        ("²4155552671", "US", REASON_SYMBOLS),
        ("☎ 4155552671", "US", REASON_SYMBOLS),
        ("x" * 100_000, "US", REASON_LETTERS),
    ],
)
def test_to_e164(text: str, region: str, expected: str) -> None:
    """Each tricky writing gives its E.164 form or its precise reason."""
    if expected.startswith("+"):
        assert to_e164(text, region) == (expected, "")
    else:
        assert to_e164(text, region) == ("", expected)


def test_to_e164_defaults_to_us() -> None:
    """Without a region, a national number is read as a US number."""
    assert to_e164("(415) 555-2671") == (US, "")


@pytest.mark.parametrize(
    "kind", [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE]
)
@pytest.mark.parametrize(
    "style", [PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164]
)
def test_every_region_example_number(kind: int, style: int) -> None:
    """Every region's example numbers, written any standard way, give their E.164 form."""
    wrong = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        written = phonenumbers.format_number(example, style)
        if to_e164(written, region) != (e164, ""):
            wrong.append((region, written))
    assert wrong == []


def check_result(text: str, region: str) -> None:
    """Assert to_e164 gave a valid round-tripping E.164 number or one of the known reasons."""
    number, reason = to_e164(text, region)
    if number:
        assert reason == ""
        assert E164.fullmatch(number)
        assert phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert to_e164(number, region) == (number, "")
        assert to_e164(number, "US") == (number, "")
    else:
        assert reason in REASONS


REGIONS = st.sampled_from(["US", "GB", "DE", "IT", "IN", "BR", "AU", "CA", "JP", "FR"])


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40), region=REGIONS)
def test_any_text_gives_a_number_or_a_reason(text: str, region: str) -> None:
    """Any text at all gives a valid round-tripping E.164 number or a reason, never an error."""
    check_result(text, region)


@settings(max_examples=300, deadline=None)
@given(
    text=st.from_regex(r"(\+|00|＋)?[0-9 ().\-/]{1,18}( ?(x|ext|#) ?[0-9]{1,4})?", fullmatch=True),
    region=REGIONS,
)
def test_any_phone_like_text_gives_a_number_or_a_reason(text: str, region: str) -> None:
    """Digit strings with phone punctuation (often valid numbers) never raise either."""
    check_result(text, region)


@settings(max_examples=300, deadline=None)
@given(digits=st.from_regex(r"[0-9]{2,17}", fullmatch=True))
def test_fast_validity_check_agrees_with_phonenumbers(digits: str) -> None:
    """The main-region shortcut gives exactly phonenumbers.is_valid_number's answer."""
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return
    assert normalize._is_valid(parsed) == phonenumbers.is_valid_number(parsed)


def test_fast_validity_check_on_shared_country_codes() -> None:
    """Numbers of regions sharing a code (Canada, Jersey, Åland) are valid as phonenumbers says."""
    for text in ["+16135550123", "+447797900000", "+358181234567", "+447624123456", "+14155552671"]:
        parsed = phonenumbers.parse(text)
        assert normalize._is_valid(parsed) is phonenumbers.is_valid_number(parsed) is True
    assert normalize._main_region(999) is None


@pytest.mark.parametrize("code", ["US", "gb", "De"])
def test_known_region_codes(code: str) -> None:
    """Region codes phonenumbers knows are accepted in any case."""
    check_region_code(code)


@pytest.mark.parametrize("code", ["ZZ", "XX", "", "001", "USA"])
def test_unknown_region_codes(code: str) -> None:
    """Unknown --default-region values are refused with the fix."""
    with pytest.raises(UsageError) as caught:
        check_region_code(code)
    assert str(caught.value) == (
        f'unknown --default-region "{code}": use a two-letter country code such as US, GB or DE'
    )


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
    return RawRow(row=2, number=US, **cells)


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
        (
            raw(provider="twilio:AC1"),
            InputOptions(),
            'provider "twilio:AC1" is not a provider id or twilio:<account_sid>:<region>',
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


# --- prepare ---------------------------------------------------------------------------------


def rows(*numbers: str, **cells: str) -> list[RawRow]:
    """Return raw rows 2, 3, ... holding these numbers and the same other cells."""
    return [RawRow(row, number, **cells) for row, number in enumerate(numbers, 2)]


def summary(prepared: list[Row]) -> list[tuple[int | None, str, Status | None, str]]:
    """Return (row, number, status, error) of each prepared row."""
    return [(row.row, row.number, row.status, row.error) for row in prepared]


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


def test_prepare_checks_options_first() -> None:
    """A bad template or region is a UsageError before any row comes out."""
    with pytest.raises(UsageError, match="unknown field"):
        next(prepare(rows(US), InputOptions(default_label="{nope}", provider_id="p")))
    with pytest.raises(UsageError, match="default-region"):
        next(prepare(rows(US), InputOptions(default_region="ZZ", provider_id="p")))


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
    assert REASONS - {REASON_NOT_A_NUMBER} <= errors
    assert REASON_NO_PROVIDER in errors
    assert {Status.DUPLICATE, Status.INVALID, None} == {row.status for row in prepared}
    assert any(error.startswith("unknown region") for error in errors)
    assert any(error.startswith("account_sid") for error in errors)
    assert "4.47911E+11" in {row.input_number for row in prepared}
