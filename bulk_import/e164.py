"""Turn a phone number's text into E.164, or say why it is not one: phonenumbers, pure.

Every reason is one of the stable strings (or stable prefixes) below, so a report can be
filtered by it. :func:`to_e164` never raises, whatever the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, ValidationResult

from bulk_import.errors import UsageError
from bulk_import.naming import CLI, Naming

__all__ = [
    "REASON_COUNTRY",
    "REASON_DECIMALS",
    "REASON_EMPTY",
    "REASON_EXTENSION",
    "REASON_INVALID",
    "REASON_LETTERS",
    "REASON_NOT_A_NUMBER",
    "REASON_NOT_IN_REGION",
    "REASON_ROUNDED",
    "REASON_SYMBOLS",
    "REASON_TOO_LONG",
    "REASON_TOO_SHORT",
    "check_region_code",
    "to_e164",
]

REASON_EMPTY: Final = "empty: no phone number in the cell"
REASON_LETTERS: Final = "contains letters"
REASON_SYMBOLS: Final = "contains characters that are not part of a phone number"
REASON_EXTENSION: Final = "has an extension: import the number without it"
REASON_TOO_SHORT: Final = "too short"
REASON_TOO_LONG: Final = "too long"
REASON_INVALID: Final = "not a valid number for its region"
REASON_COUNTRY: Final = "unknown country code"
REASON_NOT_A_NUMBER: Final = "does not look like a phone number"
REASON_ROUNDED: Final = (
    "rounded by a spreadsheet (scientific notation like 4.47911E+11 has lost digits)"
)
REASON_DECIMALS: Final = (
    "looks like a spreadsheet's number format with decimals (like 14155550153.00): "
    "format the column as text in the spreadsheet and export it again"
)
#: A number without + that is not valid where --default-region says: the reason starts with
#: this (filled with the region), then names the fix, and a region where it is valid if any.
REASON_NOT_IN_REGION: Final = "not a valid {region} number (--default-region {region})"

_E164 = phonenumbers.PhoneNumberFormat.E164
_PLUS: Final = frozenset("+＋")
# Digits, spaces and the punctuation phonenumbers accepts inside a number (not its "x").
_PLAIN = re.compile(r"[\d\s+＋()（）\[\]［］.．/／~⁓∼～\-‐-―−ー－\u00ad\u200b\u2060]*")
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+", re.ASCII)
# 14155550153.00: a number column a spreadsheet formatted with decimals before saving it.
_DECIMALS = re.compile(r"[+＋]?[0-9]{7,}[.,]0+", re.ASCII)
#: E.164 allows 15 digits after the +: phonenumbers calls some longer numbers valid.
_E164_DIGITS = 15
#: Where a number that is not valid in the default region is looked for, in this order: the
#: countries most numbers come from. Each costs a few microseconds (its lengths and pattern
#: are checked before phonenumbers parses), so an invalid row costs about 0.1 ms more.
HINT_REGIONS: Final = (
    "US", "GB", "AU", "IE", "NZ", "IN", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE",
    "NO", "DK", "FI", "PL", "PT", "BR", "MX", "JP", "SG", "HK", "ZA", "IL", "AE", "PH",
)  # fmt: skip

_POSSIBLE_REASONS: Final = {
    ValidationResult.TOO_SHORT: REASON_TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: REASON_TOO_SHORT,  # 555-0123: no area code
    ValidationResult.TOO_LONG: REASON_TOO_LONG,
    ValidationResult.INVALID_COUNTRY_CODE: REASON_COUNTRY,
}
_PARSE_REASONS: Final = {
    NumberParseException.INVALID_COUNTRY_CODE: REASON_COUNTRY,
    NumberParseException.TOO_SHORT_AFTER_IDD: REASON_TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: REASON_TOO_SHORT,
    NumberParseException.TOO_LONG: REASON_TOO_LONG,
}
# Country code -> the region whose validity alone settles is_valid_number, or None.
_MAIN_REGION: dict[int, str | None] = {}


def _main_region(country_code: int) -> str | None:
    """Return the region that ``is_valid_number`` tries first for this code, if it settles it.

    ``is_valid_number`` first finds the number's region, by testing each region of the code in
    turn, then validates for it: twice the work for the main region (``US`` for +1, ``GB`` for
    +44). A number valid for the code's first region with no leading-digits rule is exactly a
    number ``is_valid_number`` finds valid there, so one test settles the common case.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if not regions:
        return None
    first: str = regions[0]
    if len(regions) > 1:
        metadata = PhoneMetadata.metadata_for_region(first, None)
        if metadata is None or metadata.leading_digits is not None:
            return None
    return first


def _is_valid(number: PhoneNumber) -> bool:
    """Return ``phonenumbers.is_valid_number(number)``, testing the main region first."""
    code = number.country_code or 0
    try:
        main = _MAIN_REGION[code]
    except KeyError:
        main = _MAIN_REGION[code] = _main_region(code)
    if main is not None and phonenumbers.is_valid_number_for_region(number, main):
        return True
    return bool(phonenumbers.is_valid_number(number))


def _parse(text: str, region: str) -> tuple[PhoneNumber | None, str]:
    """Parse with phonenumbers: (number, "") or (None, reason)."""
    try:
        return phonenumbers.parse(text, region), ""
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type)
        if reason is None:  # NOT_A_NUMBER: no digits, one digit, or two numbers in one cell
            digits = sum(char.isdecimal() for char in text)
            reason = REASON_TOO_SHORT if 0 < digits < 3 else REASON_NOT_A_NUMBER
        return None, reason


def _reason(number: PhoneNumber) -> str:
    """Say why a parsed number is not valid: its length, its country code, or its pattern."""
    possible = phonenumbers.is_possible_number_with_reason(number)
    return _POSSIBLE_REASONS.get(possible, REASON_INVALID)


def _explained(reason: str, number: PhoneNumber | None) -> str:
    """Name the country code's region in "not a valid number for its region"."""
    if reason != REASON_INVALID or number is None:
        return reason
    code = number.country_code or 0
    return f"{REASON_INVALID} (+{code}, {phonenumbers.region_code_for_country_code(code)})"


def _formatted(number: PhoneNumber) -> tuple[str, str]:
    """Return a valid number's E.164 text, unless it has more digits than E.164 allows."""
    text: str = phonenumbers.format_number(number, _E164)
    if len(text) > _E164_DIGITS + 1:
        return "", REASON_TOO_LONG
    return text, ""


def _to_e164(text: str, region: str) -> tuple[str, str]:
    """Do :func:`to_e164` for stripped text and an upper-case region."""
    number, reason = _parse(text, region)
    if number is not None:
        if _is_valid(number):
            return _formatted(number)
        reason = _reason(number)
    if text[0] in _PLUS:
        return "", _explained(reason, number)
    # No "+": a number that lost it (447911123456), or one written with the 00 prefix that
    # the default region does not use (0044... in the US) is taken as international.
    idd = text.startswith("00")
    other, other_reason = _parse("+" + (text[2:] if idd else text), region)
    if other is not None:
        if _is_valid(other):
            return _formatted(other)
        other_reason = _reason(other)
    # Say what is wrong with the number as written, unless it was plainly international.
    if idd:
        return "", _explained(other_reason, other)
    if number is not None and number.country_code == _country_code(region):
        # "too long" misleads for 07911 123461 read in the US: name the region and the fix,
        # and "too short" for 030 123456 (Berlin) when it is valid in another region.
        found = _valid_elsewhere(text, region)
        if found is not None or reason != REASON_TOO_SHORT:
            return "", _not_in_region(region, found)
    return "", _explained(reason, number)


def _country_code(region: str) -> int:
    return int(phonenumbers.country_code_for_region(region))


def _not_in_region(region: str, found: tuple[str, str] | None) -> str:
    """Say that a national number is not valid in the default region, and where it is."""
    reason = REASON_NOT_IN_REGION.format(region=region)
    if found is None:
        return f"{reason}: write it with + and its country code"
    other, e164 = found
    return (
        f"{reason}: write it with + and its country code (valid in {other} as {e164}), "
        f"or pass --default-region {other}"
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    """Hold what a quick first test of a national number needs for one region."""

    code: int
    prefix: str
    lengths: frozenset[int]
    pattern: re.Pattern[str]


_SHAPES: dict[str, _Shape] = {}


def _shape(region: str) -> _Shape:
    try:
        return _SHAPES[region]
    except KeyError:
        metadata = PhoneMetadata.metadata_for_region(region)
        assert metadata is not None, f"phonenumbers has metadata for {region}"
        general = metadata.general_desc
        assert general is not None, f"phonenumbers has metadata for {region}"
        shape = _SHAPES[region] = _Shape(
            code=_country_code(region),
            prefix=str(metadata.national_prefix or ""),
            lengths=frozenset(general.possible_length),
            pattern=re.compile(str(general.national_number_pattern)),
        )
        return shape


def _valid_elsewhere(text: str, region: str) -> tuple[str, str] | None:
    """Return the first of :data:`HINT_REGIONS` where the national number is valid, if any.

    Each region is tried cheaply first (its national prefix taken off, its lengths and general
    pattern, then validity without parsing); only a region that passes is asked of
    ``phonenumbers.parse``, so the hint is exactly what ``--default-region`` would give.
    """
    digits = phonenumbers.normalize_digits_only(text)
    for candidate in HINT_REGIONS:
        if candidate == region:
            continue
        shape = _shape(candidate)
        national = digits
        if shape.prefix and digits.startswith(shape.prefix):
            national = digits[len(shape.prefix) :]
        elif shape.prefix == "0":
            continue  # a national number there is written with its trunk 0 (020, 07911, 0412)
        if len(national) not in shape.lengths or not shape.pattern.fullmatch(national):
            continue
        zeros = len(national) - len(national.lstrip("0"))
        guess = PhoneNumber(
            country_code=shape.code,
            national_number=int(national),
            italian_leading_zero=zeros > 0 or None,
            number_of_leading_zeros=zeros if zeros > 1 else None,
        )
        if not _is_valid(guess):
            continue
        number, _ = _parse(text, candidate)
        e164 = _formatted(number)[0] if number is not None and _is_valid(number) else ""
        # The quick guess is all but always right; a parse that disagrees (another national
        # prefix rule) or a number longer than E.164 allows goes on to the next region.
        if e164:  # pragma: no branch
            return candidate, e164
    return None


def _rejected(text: str, region: str) -> str:
    """Say why text with more than digits and phone punctuation in it is not a number."""
    if _SCIENTIFIC.fullmatch(text):
        return REASON_ROUNDED
    if _DECIMALS.fullmatch(text):
        return REASON_DECIMALS
    try:
        # phonenumbers knows every way of writing an extension (x12, ext. 12, #12, ;ext=12).
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        pass
    else:
        if number.extension:
            return REASON_EXTENSION
    if any(char.isalpha() for char in text):
        return REASON_LETTERS
    return REASON_SYMBOLS


def to_e164(text: str, default_region: str = "US") -> tuple[str, str]:
    """Return ``(e164, "")`` for a valid phone number, else ``("", reason)``; never raise.

    Numbers without ``+`` are read in ``default_region``; one that is not valid there but is
    valid with ``+`` in front (``447911123456``) is taken as international.
    """
    text = text.strip()
    if not text:
        return "", REASON_EMPTY
    region = default_region.upper()
    if text.isdecimal() or (text[0] in _PLUS and text[1:].isdecimal()):
        return _to_e164(text, region)  # the common case: no punctuation to look at
    if _PLAIN.fullmatch(text) is not None:
        if _DECIMALS.fullmatch(text):
            return "", REASON_DECIMALS
        return _to_e164(text, region)
    return "", _rejected(text, region)


def check_region_code(code: str, *, naming: Naming = CLI) -> None:
    """Refuse a ``--default-region`` that phonenumbers does not know."""
    if code.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(
            f"unknown {naming.quoted('default_region', code)}: use a two-letter country code "
            "such as US, GB or DE"
        )
