"""Tests for bulk_import.e164: E.164 or a precise reason, for any text and region."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from bulk_import import e164
from bulk_import.e164 import (
    HINT_REGIONS,
    REASON_COUNTRY,
    REASON_DECIMALS,
    REASON_EMPTY,
    REASON_EXTENSION,
    REASON_INVALID,
    REASON_LETTERS,
    REASON_NOT_A_NUMBER,
    REASON_ROUNDED,
    REASON_SYMBOLS,
    REASON_TOO_LONG,
    REASON_TOO_SHORT,
    check_region_code,
    to_e164,
)
from bulk_import.errors import UsageError

REASONS = {
    REASON_COUNTRY,
    REASON_DECIMALS,
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
US = "+14155552671"
UK = "+447911123456"
GB_HINT = (
    "not a valid US number (--default-region US): write it with + and its country code "
    "(valid in GB as {}), or pass --default-region GB"
)
# The reasons that name what they were given: a stable start, then the particulars.
NOT_IN_REGION = re.compile(
    r"not a valid (?P<region>[A-Z]{2}) number \(--default-region (?P=region)\): write it with "
    r"\+ and its country code(?: \(valid in (?P<other>[A-Z]{2}) as (?P<e164>\+[0-9]+)\), or "
    r"pass --default-region (?P=other))?"
)
INVALID_FOR_REGION = re.compile(re.escape(REASON_INVALID) + r" \(\+[0-9]{1,3}, [A-Z0-9]{2,3}\)")


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
        ("020 7946 0018", "US", GB_HINT.format("+442079460018")),  # a UK number read as US
        ("+1 415 555 267", "US", REASON_TOO_SHORT),
        ("+1 415 555 26711", "US", REASON_TOO_LONG),
        ("9" * 300, "US", REASON_TOO_LONG),
        ("07911 123456", "US", GB_HINT.format(UK)),
        ("+44 7911 12345", "US", f"{REASON_INVALID} (+44, GB)"),
        ("0044 7911 12345", "US", f"{REASON_INVALID} (+44, GB)"),
        ("011 44 7911 12345", "US", f"{REASON_INVALID} (+44, GB)"),
        ("+1 415 123 4567", "US", f"{REASON_INVALID} (+1, US)"),
        ("00370000000000", "JP", REASON_TOO_LONG),  # valid to phonenumbers, but 16 digits
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
    elif (hint := NOT_IN_REGION.fullmatch(reason)) is not None:
        assert hint["region"] == region.upper()
        if hint["other"]:  # the region named is one where the number is valid, as written
            assert to_e164(text, hint["other"]) == (hint["e164"], "")
    else:
        assert reason in REASONS or INVALID_FOR_REGION.fullmatch(reason), reason


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
    assert e164._is_valid(parsed) == phonenumbers.is_valid_number(parsed)


def test_fast_validity_check_on_shared_country_codes() -> None:
    """Numbers of regions sharing a code (Canada, Jersey, Åland) are valid as phonenumbers says."""
    for text in ["+16135550123", "+447797900000", "+358181234567", "+447624123456", "+14155552671"]:
        parsed = phonenumbers.parse(text)
        assert e164._is_valid(parsed) is phonenumbers.is_valid_number(parsed) is True
    assert e164._main_region(999) is None


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


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "07911 123461",
            "not a valid US number (--default-region US): write it with + and its country code "
            "(valid in GB as +447911123461), or pass --default-region GB",
        ),
        (
            "0412 345 678",
            "not a valid US number (--default-region US): write it with + and its country code "
            "(valid in AU as +61412345678), or pass --default-region AU",
        ),
        (
            "123 4567 890",
            "not a valid US number (--default-region US): write it with + and its country code",
        ),
        (
            "14155550153.00",
            "looks like a spreadsheet's number format with decimals (like 14155550153.00): "
            "format the column as text in the spreadsheet and export it again",
        ),
        ("14155550153,00", REASON_DECIMALS),
        ("+14155550153.0", REASON_DECIMALS),
        ("1234567.000", REASON_DECIMALS),
    ],
)
def test_reasons_name_the_fix(text: str, reason: str) -> None:
    """A number from another country names the region tried, the fix and where it is valid."""
    assert to_e164(text, "US") == ("", reason)


def test_the_region_hint_goes_both_ways() -> None:
    """With --default-region GB, a US number without + names US as the region to pass."""
    assert to_e164("415 555 2671", "GB") == (
        "",
        "not a valid GB number (--default-region GB): write it with + and its country code "
        "(valid in US as +14155552671), or pass --default-region US",
    )
    assert to_e164("415 555 2671", "US") == (US, "")


@pytest.mark.parametrize("text", ["4155.00", "415.555.2671", "+1 415.555.2671", "14155550153.5"])
def test_only_a_long_number_ending_in_zero_decimals_is_a_decimal_format(text: str) -> None:
    """Dots between digit groups, short numbers and real decimals are not the format reason."""
    assert to_e164(text, "US")[1] != REASON_DECIMALS


def test_every_region_hint_reads_the_number_as_written() -> None:
    """For example numbers of every hint region, a region the reason names reads them as valid."""
    hinted = []
    for region in HINT_REGIONS:
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            assert example is not None
            written = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
            for default in ("US", "GB"):
                hint = NOT_IN_REGION.fullmatch(to_e164(written, default)[1])
                if hint is not None and hint["other"]:
                    hinted.append(region)
                    assert to_e164(written, hint["other"]) == (hint["e164"], "")
    assert len(set(hinted)) > len(HINT_REGIONS) // 2  # most regions' numbers get a hint


def test_a_number_phonenumbers_finds_valid_but_e164_cannot_hold_is_too_long() -> None:
    """30000000000000 in DE would be +4930000000000000: 16 digits, more than E.164 allows."""
    assert to_e164("30000000000000", "DE") == ("", REASON_TOO_LONG)
