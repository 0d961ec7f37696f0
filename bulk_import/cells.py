"""Say which cells a spreadsheet would run as a formula, and put on or take off the mark.

The report neutralises such a cell with a leading ``'``; anything that reads a report back (or
a sheet where a person typed the same mark) takes it off again. Both directions live here, so
that the characters are listed once.
"""

from __future__ import annotations

from typing import Final

#: A cell starting with one of these would be run as a formula by a spreadsheet.
FORMULA_START: Final = frozenset("=+-@\t\r")
MARK: Final = "'"


def neutralise(text: str) -> str:
    """Prefix a ``'`` to a cell a spreadsheet would run as a formula."""
    if text and text[0] in FORMULA_START:
        return MARK + text
    return text


def unneutralise(text: str) -> str:
    """Take off the ``'`` that :func:`neutralise` put in front of a formula-looking cell."""
    if text[:1] == MARK and text[1:2] in FORMULA_START and len(text) > 1:
        return text[1:]
    return text


def clean(text: str) -> str:
    """Strip a cell read from an input and take off the ``'`` a report put in front of it."""
    return unneutralise(text.strip()).strip()
