"""Tests for bulk_import.cells: the report's formula mark goes on and comes off exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk_import.cells import FORMULA_START, MARK, clean, neutralise, unneutralise

# Text that starts with the characters that matter more often than plain st.text() would.
TEXT = st.one_of(
    st.text(),
    st.builds(
        "".join,
        st.lists(st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", " ", "x", "\n"])),
    ),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=x", "'=x"),
        ("'=x", "''=x"),
        ("''=x", "'''=x"),
        ("'hello", "''hello"),
        ("'", "''"),
        ("+44 7911", "'+44 7911"),
        ("hello'", "hello'"),
        ("", ""),
    ],
)
def test_neutralise_marks_formulas_and_cells_that_start_with_a_mark(
    text: str, expected: str
) -> None:
    """A cell starting with a formula character or with ' gets one more ' in front."""
    assert neutralise(text) == expected


@given(TEXT)
def test_unneutralise_is_the_exact_inverse_of_neutralise(text: str) -> None:
    """unneutralise(neutralise(t)) == t for every text, and no marked cell runs as a formula."""
    marked = neutralise(text)
    assert unneutralise(marked) == text
    assert marked[:1] not in FORMULA_START or not marked


@given(TEXT)
def test_reading_a_written_cell_takes_exactly_one_mark_off(text: str) -> None:
    """A cell as the reader gives it, written to a report and read again, comes back the same."""
    first = clean(text)
    assert clean(neutralise(first)) == first


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(" '=x ", "=x"), ("''=x", "'=x"), ("'hello", "'hello"), ("'\tx", "x"), (MARK, MARK)],
)
def test_clean_strips_and_takes_one_mark_off(cell: str, expected: str) -> None:
    """clean strips the cell, takes one report mark off, and strips what the mark protected."""
    assert clean(cell) == expected
