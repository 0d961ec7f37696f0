"""Find the header among a source's first rows and map its columns to the fields of a row.

The header is the first of the first :data:`HEADER_SCAN_ROWS` rows that holds a number alias
(or the ``--number-column`` name): a title above it (often merged across a sheet's columns),
notes and blank rows are skipped, and rows keep the spreadsheet's own numbers. ``--header-row
N`` names the row instead; ``--no-header`` reads every row as data, its columns named by letter
(``A``..``ZZ``) or by number counting from 1, the number in column ``A`` unless
``--number-column`` says otherwise, and no label column unless ``--label-column`` names one.

Headers are compared in :func:`header_key` form: case, spaces, dashes, underscores and dots do
not count (``Phone Number``, ``phone_number``, ``PHONE-NUMBER`` and ``Phone No.`` are
``phone no`` spelt four ways). ``#`` does count: ``Phone #`` is an alias, but a column headed
``#`` alone is a sheet's row counter, never the number column. The alias tuples are in order of
preference: when a header holds two of them, the first one listed wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from bulk_import.cells import clean
from bulk_import.errors import InputError, UsageError
from bulk_import.naming import CLI, Naming

__all__ = [
    "FIELDS",
    "HEADER_SCAN_ROWS",
    "LABEL_ALIASES",
    "NUMBER_ALIASES",
    "Columns",
    "Layout",
    "column_letter",
    "find_layout",
    "header_key",
    "looks_like_phone",
]

#: How many rows from the top may stand above the header (a title, notes, blank rows).
HEADER_SCAN_ROWS: Final = 20

# Aliases in order of preference: when a file has two of them, the first one listed wins.
NUMBER_ALIASES: Final = (
    "number",
    "phone_number",
    "phoneNumber",
    "Phone Number",
    "phonenumber",
    "Phone #",
    "Phone No",
    "phone",
    "e164",
    "msisdn",
    "Telephone Number",
    "Telephone",
    "Tel",
    "Mobile Number",
    "Mobile Phone",
    "Mobile",
    "Cell Number",
    "Cell Phone",
    "Cell",
    "Contact Number",
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

_HEADER_JUNK = re.compile(r"[\s_\-.]+")
_OTHER_KEYS: Final = {
    "agent_id": "agentid",
    "provider_id": "providerid",
    "account_sid": "accountsid",
    "region": "region",
    "provider": "provider",
}
_LETTERS = re.compile(r"[A-Za-z]{1,2}")
# A phone number as a cell holds it: digits with phone punctuation, 7 to 15 digits; a date
# (2026-11-27, 27.11.2026) has as many digits and is not one.
_PHONE_CHARS = re.compile(r"[+＋]?[\d\s().\-]+")
_DATE = re.compile(r"\d{1,4}[.\-/]\d{1,2}[.\-/]\d{1,4}")


def header_key(name: str) -> str:
    """Return the form headers are compared in: lower case, no spaces, dashes, underscores, dots."""
    return _HEADER_JUNK.sub("", name).lower()


_NUMBER_KEYS: Final = tuple(dict.fromkeys(header_key(alias) for alias in NUMBER_ALIASES))
_LABEL_KEYS: Final = tuple(dict.fromkeys(header_key(alias) for alias in LABEL_ALIASES))


def looks_like_phone(text: str) -> bool:
    """Say whether a cell reads as a phone number rather than a header: digits, 7 to 15."""
    if not _PHONE_CHARS.fullmatch(text) or _DATE.fullmatch(text):
        return False
    return 7 <= sum(char.isdigit() for char in text) <= 15


def column_letter(index: int) -> str:
    """Return a column's spreadsheet letter: 0 is ``A``, 25 ``Z``, 26 ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(spec: str, option: str, naming: Naming) -> int:
    """Return the index a headerless column is named by: a letter ``A``..``ZZ`` or ``1``, ``2``.

    ``option`` is the option that names it (``number_column``), for the message.
    """
    text = spec.strip()
    if text.isdecimal() and int(text) >= 1:
        return int(text) - 1
    if _LETTERS.fullmatch(text):
        index = 0
        for char in text.upper():
            index = index * 26 + ord(char) - ord("A") + 1
        return index - 1
    raise UsageError(
        f"{naming.quoted(option, spec)} cannot name a column of a file without a header "
        f"({naming.flag('no_header')}): use a column letter (A, B, ..., ZZ) or a number "
        "counting from 1"
    )


@dataclass(frozen=True, slots=True)
class Columns:
    """Say how to find the header and the columns: the options that shape a source.

    ``naming`` writes the options in messages as their caller wrote them (``--number-column``
    on the command line, ``number_column=`` from Python).
    """

    number_column: str | None = None
    label_column: str | None = None
    header_row: int | None = None
    no_header: bool = False
    naming: Naming = CLI

    def check(self) -> None:
        """Refuse options that cannot work together, before any file is read."""
        naming = self.naming
        if self.header_row is not None and self.no_header:
            raise UsageError(
                f"{naming.option('header_row')} and {naming.flag('no_header')} exclude each "
                "other; pass one of them"
            )
        if self.header_row is not None and self.header_row < 1:
            raise UsageError(
                f"{naming.given('header_row', self.header_row)} is not a row: rows count from 1, "
                "as a spreadsheet shows them"
            )
        if self.no_header:
            if self.number_column:
                column_index(self.number_column, "number_column", naming)
            if self.label_column:
                column_index(self.label_column, "label_column", naming)


@dataclass(frozen=True, slots=True)
class Layout:
    """Name where the data is: the header's row (0: none), its cells, and each field's column.

    ``indexes`` holds a column index (or None) per RawRow text field, then the index of a
    report's ``input_number`` column, the number's fallback when the ``number`` cell is empty.
    ``width`` is how many columns the header names (its last named column), or None when a
    row may have any number of cells.
    """

    header_row: int
    columns: tuple[str, ...]
    indexes: tuple[int | None, ...]
    width: int | None


def find_layout(head: Sequence[list[str]], *, name: str, columns: Columns) -> Layout | None:
    """Find the header among the first records and map its columns; None when all are blank.

    ``head`` is the input's first records, at least :data:`HEADER_SCAN_ROWS` of them (or up to
    ``--header-row``) when the input has them. Raise :class:`InputError`, naming the fix, when
    no row can be the header.
    """
    rows = [[clean(cell) for cell in record] for record in head]
    filled = [(number, cells) for number, cells in enumerate(rows, 1) if any(cells)]
    if not filled:
        return None
    if columns.no_header:
        return _headerless(filled, name=name, columns=columns)
    if columns.header_row is not None:
        return _given_row(rows, name=name, columns=columns)
    wanted = set(_NUMBER_KEYS)
    naming = columns.naming
    if columns.number_column:
        _refuse_number_as_name(columns.number_column, filled, name=name, naming=naming)
        wanted = {header_key(columns.number_column)}
    for position, (number, cells) in enumerate(filled):
        match = next((cell for cell in cells if header_key(cell) in wanted), None)
        if match is not None:
            _refuse_data_above(number, match, filled[:position], name=name, naming=naming)
            return _layout(number, cells, name=name, columns=columns)
    first_row, first = filled[0]
    phone = next((i for i, cell in enumerate(first) if looks_like_phone(cell)), None)
    if phone is not None:
        fix = [naming.flag("no_header")]
        if phone:
            fix.append(naming.given("number_column", column_letter(phone)))
        raise InputError(
            f"{name} seems to have no header: row {first_row} holds a phone number "
            f"({first[phone]}) where a header names its columns; pass {naming.join(*fix)}, "
            "or add a header row"
        )
    # Nothing matched: show the likeliest header, the widest row (a title has one cell).
    number, cells = max(filled, key=lambda item: sum(1 for cell in item[1] if cell))
    return _layout(number, cells, name=name, columns=columns)


def _given_row(rows: list[list[str]], *, name: str, columns: Columns) -> Layout:
    """Take the header from the row ``--header-row`` names."""
    number = columns.header_row or 0
    option = columns.naming.given("header_row", number)
    if number > len(rows):
        raise InputError(
            f"{option}: {name} has {len(rows)} rows; pass the row that holds the header"
        )
    cells = rows[number - 1]
    if not any(cells):
        raise InputError(
            f"{option}: row {number} of {name} is blank; pass the row that holds the header"
        )
    return _layout(number, cells, name=name, columns=columns)


def _refuse_number_as_name(
    column: str, filled: list[tuple[int, list[str]]], *, name: str, naming: Naming
) -> None:
    """Refuse a --number-column that is a phone number: the file has no header to name."""
    if not looks_like_phone(column):
        return
    _, first = filled[0]
    pick = f"{naming.option('number_column')} with its column's letter"
    if column.strip() in first:
        letter = column_letter(first.index(column.strip()))
        pick = f"{naming.given('number_column', letter)}, its column's letter"
    raise InputError(
        f"{naming.quoted('number_column', column)} looks like a phone number, not a column "
        f"name: if {name} has no header, pass {naming.flag('no_header')} (and {pick})"
    )


def _refuse_data_above(
    number: int, match: str, above_rows: list[tuple[int, list[str]]], *, name: str, naming: Naming
) -> None:
    """Refuse a header below rows of phone numbers: it is a data cell, or rows would be lost."""
    for above, row in above_rows:
        phone = next((cell for cell in row if looks_like_phone(cell)), None)
        if phone is not None:
            raise InputError(
                f'{name}: row {number} looks like the header ("{match}"), but row {above} '
                f"above it holds a phone number ({phone}); pass {naming.option('header_row')} "
                f"with the header's row, or {naming.flag('no_header')} if the file has none"
            )


def _headerless(filled: list[tuple[int, list[str]]], *, name: str, columns: Columns) -> Layout:
    """Lay out a file without a header: columns by letter, the number in A unless named."""
    width = max(len(cells) for _, cells in filled)
    naming = columns.naming
    number = column_index(columns.number_column or "A", "number_column", naming)
    label = None
    if columns.label_column:
        label = column_index(columns.label_column, "label_column", naming)
    for index, option in ((number, "number_column"), (label, "label_column")):
        if index is not None and index >= width:
            raise InputError(
                f"no column {column_letter(index)} in {name}: its first rows have {width} cells "
                f"(A to {column_letter(width - 1)}); pass {naming.option(option)} with one of "
                "these"
            )
    indexes = (number, label) + (None,) * (len(FIELDS) - 1)
    return Layout(0, tuple(column_letter(i) for i in range(width)), indexes, None)


def _layout(number: int, header: list[str], *, name: str, columns: Columns) -> Layout:
    """Map the header row's cells to the fields, or say which column is missing."""
    keys = [header_key(cell) for cell in header]

    def find(candidates: Iterable[str]) -> int | None:
        for key in candidates:
            if key in keys:
                return keys.index(key)
        return None

    where = "columns" if number == 1 else f"columns in row {number}"
    listed = f"{where}: {', '.join(cell for cell in header if cell)}"

    naming = columns.naming

    def override(column: str, option: str) -> int:
        index = find([header_key(column)])
        if index is None:
            raise InputError(
                f'no column "{column}" in {name} ({listed}); pass {naming.option(option)} with '
                "one of these"
            )
        return index

    if columns.number_column:
        found: int | None = override(columns.number_column, "number_column")
    else:
        found = find(_NUMBER_KEYS)
    if found is None:
        raise InputError(
            f"no phone number column found in {name} ({listed}); pass "
            f"{naming.placeholder('number_column', 'NAME')}"
        )
    label = (
        override(columns.label_column, "label_column")
        if columns.label_column
        else find(_LABEL_KEYS)
    )
    others = [find([_OTHER_KEYS[field]]) for field in FIELDS[2:]]
    # A report names the typed number input_number: it stands in for an empty number cell.
    fallback = None if columns.number_column else find(["inputnumber"])
    width = max(i for i, cell in enumerate(header) if cell) + 1
    return Layout(number, tuple(header), (found, label, *others, fallback), width)
