"""Find the columns a source's header names: the number, the label and the per-row fields.

Headers are compared in :func:`header_key` form, so ``Phone Number``, ``phone_number`` and
``PHONE-NUMBER`` are one name. The alias tuples are in order of preference: when a header
holds two of them, the first one listed wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from bulk_import.cells import clean
from bulk_import.errors import InputError

__all__ = [
    "FIELDS",
    "LABEL_ALIASES",
    "NUMBER_ALIASES",
    "find_header",
    "header_key",
    "map_columns",
]

# Aliases in order of preference: when a file has two of them, the first one listed wins.
NUMBER_ALIASES: Final = (
    "number",
    "phone_number",
    "phoneNumber",
    "Phone Number",
    "phonenumber",
    "phone",
    "e164",
    "msisdn",
)
LABEL_ALIASES: Final = ("label", "friendly_name", "Friendly Name", "friendlyName", "name")

#: RawRow's text fields, in its constructor's order after ``row``.
FIELDS: Final = (
    "number",
    "label",
    "agent_id",
    "provider_id",
    "account_sid",
    "region",
    "provider",
)

_HEADER_JUNK = re.compile(r"[\s_\-]+")
_NUMBER_KEYS: Final = tuple(dict.fromkeys(_HEADER_JUNK.sub("", a).lower() for a in NUMBER_ALIASES))
_LABEL_KEYS: Final = tuple(dict.fromkeys(_HEADER_JUNK.sub("", a).lower() for a in LABEL_ALIASES))
_OTHER_KEYS: Final = {
    "agent_id": "agentid",
    "provider_id": "providerid",
    "account_sid": "accountsid",
    "region": "region",
    "provider": "provider",
}


def header_key(name: str) -> str:
    """Return the form headers are compared in: lower case, without spaces, dashes, underscores."""
    return _HEADER_JUNK.sub("", name).lower()


def find_header(records: Iterable[list[str]]) -> tuple[int, list[str] | None]:
    """Return the first non-blank row and its number (row 1 unless rows above it are blank)."""
    for number, record in enumerate(records, 1):
        cells = [clean(cell) for cell in record]
        if any(cells):
            return number, cells
    return 0, None


def map_columns(
    header: list[str], *, name: str, number_column: str | None, label_column: str | None
) -> list[int | None]:
    """Return, for each RawRow text field, its column's index in the header (None: absent).

    One more index follows: the report's ``input_number`` column, the number's fallback when
    the ``number`` cell is empty (see :func:`bulk_import.sources.source.raw_rows`).
    """
    keys = [header_key(cell) for cell in header]

    def find(candidates: Iterable[str]) -> int | None:
        for key in candidates:
            if key in keys:
                return keys.index(key)
        return None

    def listed() -> str:
        return ", ".join(cell for cell in header if cell)

    def override(column: str, option: str) -> int:
        index = find([header_key(column)])
        if index is None:
            raise InputError(
                f'no column "{column}" in {name} (columns: {listed()}); '
                f"pass {option} with one of these"
            )
        return index

    if number_column:
        number = override(number_column, "--number-column")
    else:
        found = find(_NUMBER_KEYS)
        if found is None:
            raise InputError(
                f"no phone number column found in {name} (columns: {listed()}); "
                "pass --number-column NAME"
            )
        number = found
    label = override(label_column, "--label-column") if label_column else find(_LABEL_KEYS)
    others = [find([_OTHER_KEYS[field]]) for field in FIELDS[2:]]
    # A report names the typed number input_number: it stands in for an empty number cell.
    fallback = None if number_column else find(["inputnumber"])
    return [number, label, *others, fallback]
