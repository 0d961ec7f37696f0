"""Say which cells a spreadsheet would run as a formula, and put on or take off the mark.

The report neutralises such a cell with a leading ``'``; anything that reads a report back (or
a sheet where a person typed the same mark) takes it off again. Both directions live here, so
that the characters are listed once.

A cell that itself starts with ``'`` is marked too (``'=x`` is written ``''=x``), so that
:func:`unneutralise` is the exact inverse of :func:`neutralise` for every text: it takes one
``'`` off whatever is followed by a formula character or by another ``'``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FORMULA_START", "MARK", "clean", "neutralise", "unneutralise"]

#: A cell starting with one of these would be run as a formula by a spreadsheet.
FORMULA_START: Final = frozenset("=+-@\t\r")
MARK: Final = "'"
# What follows a mark that neutralise put there: a formula character, or a cell's own mark.
_MARKED: Final = FORMULA_START | {MARK}


def neutralise(text: str) -> str:
    """Prefix a ``'`` to a cell a spreadsheet would run as a formula, or that starts with one."""
    if text[:1] in _MARKED:
        return MARK + text
    return text


def unneutralise(text: str) -> str:
    """Take off the ``'`` that :func:`neutralise` put in front of a cell."""
    if text[:1] == MARK and text[1:2] in _MARKED:
        return text[1:]
    return text


def clean(text: str) -> str:
    """Strip a cell read from an input and take off the ``'`` a report put in front of it."""
    return unneutralise(text.strip()).strip()
