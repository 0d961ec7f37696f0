"""Turn a phone number's text into E.164, or say why it is not one: phonenumbers, pure.

Every reason is one of the stable strings (or stable prefixes) below, so a report can be
filtered by it. :func:`to_e164` never raises, whatever the text.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, ValidationResult

from bulk_import.errors import UsageError

__all__ = [
    "REASON_COUNTRY",
    "REASON_EMPTY",
    "REASON_EXTENSION",
    "REASON_INVALID",
    "REASON_LETTERS",
    "REASON_NOT_A_NUMBER",
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

_E164 = phonenumbers.PhoneNumberFormat.E164
_PLUS: Final = frozenset("+＋")
# Digits, spaces and the punctuation phonenumbers accepts inside a number (not its "x").
_PLAIN = re.compile(r"[\d\s+＋()（）\[\]［］.．/／~⁓∼～\-‐-―−ー－\u00ad\u200b\u2060]*")
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+", re.ASCII)

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


def _to_e164(text: str, region: str) -> tuple[str, str]:
    """Do :func:`to_e164` for stripped text and an upper-case region."""
    number, reason = _parse(text, region)
    if number is not None:
        if _is_valid(number):
            return phonenumbers.format_number(number, _E164), ""
        reason = _reason(number)
    if text[0] in _PLUS:
        return "", reason
    # No "+": a number that lost it (447911123456), or one written with the 00 prefix that
    # the default region does not use (0044... in the US) is taken as international.
    idd = text.startswith("00")
    number, other_reason = _parse("+" + (text[2:] if idd else text), region)
    if number is not None:
        if _is_valid(number):
            return phonenumbers.format_number(number, _E164), ""
        other_reason = _reason(number)
    # Say what is wrong with the number as written, unless it was plainly international.
    return "", other_reason if idd else reason


def _rejected(text: str, region: str) -> str:
    """Say why text with more than digits and phone punctuation in it is not a number."""
    if _SCIENTIFIC.fullmatch(text):
        return REASON_ROUNDED
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
    if _looks_plain(text):
        return _to_e164(text, region)
    return "", _rejected(text, region)


def _looks_plain(text: str) -> bool:
    """Say whether non-empty text holds only digits, spaces, + and phone punctuation."""
    return (
        text.isdecimal()
        or (text[0] in _PLUS and text[1:].isdecimal())
        or _PLAIN.fullmatch(text) is not None
    )


def check_region_code(code: str) -> None:
    """Refuse a ``--default-region`` that phonenumbers does not know."""
    if code.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(
            f'unknown --default-region "{code}": use a two-letter country code such as US, GB or DE'
        )
