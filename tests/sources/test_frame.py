"""Tests for bulk_import.sources.frame: rows given in memory, read by the rules of a file."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from source_helpers import write_csv

from bulk_import.errors import InputError, UsageError
from bulk_import.models import RawRow
from bulk_import.sources import open_input
from bulk_import.sources.frame import DICTS, FRAME, NUMBERS, GivenRows, cell_texts, given_rows
from bulk_import.sources.header import Columns


def opened(data: object, **columns: object) -> list[RawRow]:
    """Return the raw rows of ``data`` given in memory."""
    given = given_rows(data)
    assert given is not None
    return list(given.open(sheet=None, columns=Columns(**columns)))  # type: ignore[arg-type]


def test_a_float_column_is_read_as_its_digits_and_nan_is_blank() -> None:
    """pandas' float column (NaN among the numbers) gives digits; NaN, None, NA are blank."""
    frame = pd.DataFrame(
        {
            "Phone Number": [1.4155552671e10, math.nan, 14155552672.0, 1e20],
            "friendly_name": ["NA", None, pd.NA, "=SUM(A1)"],
        }
    )
    rows = opened(frame)
    # Row 3 is blank through and through: numbered, not yielded, as in a spreadsheet.
    assert [(r.row_number, r.number, r.label) for r in rows] == [
        (2, "14155552671", "NA"),
        (4, "14155552672", ""),
        (5, "1e+20", "=SUM(A1)"),  # past 15 digits it has lost some: the normaliser refuses it
    ]


def test_rows_count_by_position_not_by_index() -> None:
    """A filtered frame keeps its index; its rows are still numbered 2, 3, ... as a sheet's."""
    frame = pd.DataFrame({"number": ["+14155552671", "x", "+14155552672"]}, index=[7, 3, 9])
    assert [r.row_number for r in opened(frame[frame.number != "x"])] == [2, 3]


def test_every_kind_of_cell_becomes_text() -> None:
    """Ints, bools, dates and NaT are written as a spreadsheet's cells are."""
    frame = pd.DataFrame(
        {
            "number": pd.Series([14155552671, 14155552672, 14155552673], dtype="int64"),
            "label": [True, dt.date(2026, 1, 2), pd.NaT],
        }
    )
    assert [(r.number, r.label) for r in opened(frame)] == [
        ("14155552671", "TRUE"),
        ("14155552672", "2026-01-02"),
        ("14155552673", ""),
    ]
    assert cell_texts(["x", None, math.nan, 2.0, 2.5]) == ["x", "", "", "2", "2.5"]


def test_a_frame_reads_as_the_same_csv() -> None:
    """The aliases, the per-row columns and the ' mark come out as the file's would."""
    frame = pd.DataFrame(
        {
            "Phone #": ["(415) 555-2671", "'+14155552672"],
            "Name": ["'=x", "b"],
            "Account SID": ["AC" + "0" * 32, ""],
            "agent_id": ["", "agent_1"],
        }
    )
    rows = opened(frame)
    assert [(r.number, r.label, r.account_sid, r.agent_id) for r in rows] == [
        ("(415) 555-2671", "=x", "AC" + "0" * 32, ""),
        ("+14155552672", "b", "", "agent_1"),
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="+0123456789 ()-NAn", max_size=14),
            st.text(alphabet="ab =@'-+\t", max_size=6),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_a_frame_of_text_gives_the_rows_its_csv_gives(
    tmp_path: Path, cells: list[tuple[str, str]]
) -> None:
    """Whatever the cells, a frame of text yields exactly the raw rows of the same CSV."""
    header = ["number", "label"]
    path = write_csv(tmp_path / "same.csv", [header, *[list(pair) for pair in cells]])
    try:
        from_file = list(open_input(str(path)))
    except InputError:  # no data row at all: refused in both
        with pytest.raises(InputError, match="no data rows"):
            opened(pd.DataFrame(cells, columns=header))
        return
    assert opened(pd.DataFrame(cells, columns=header)) == from_file


def test_dicts_take_their_keys_as_the_header() -> None:
    """Each dict is a row; a key one lacks is blank; the keys' first order is the columns'."""
    dicts: list[dict[str, object]] = [{"phone": 14155552671}, {"label": "b", "phone": "+1415"}]
    given = given_rows(dicts)
    assert isinstance(given, GivenRows)
    assert (given.name, given.header) == (DICTS, ["phone", "label"])
    assert [(r.number, r.label) for r in opened(dicts)] == [("14155552671", ""), ("+1415", "b")]


def test_number_strings_are_one_column_named_number() -> None:
    """A list (or Series) of numbers is one column; a blank one keeps its row number."""
    given = given_rows(pd.Series(["+14155552671", None, 14155552672.0]))
    assert given is not None
    assert (given.name, given.header) == (NUMBERS, ["number"])
    assert [(r.row_number, r.number) for r in opened(["+14155552671", None, 14155552672.0])] == [
        (2, "+14155552671"),
        (4, "14155552672"),
    ]


def test_number_items_of_every_numeric_kind_are_read_and_others_refused() -> None:
    """numpy integers, Decimal, pd.NA (a nullable Series) are numbers or blanks; a tuple, bytes,
    a bool or a list is refused naming source and the item, not read as its repr."""
    import decimal

    import numpy as np

    given: list[object] = [np.int64(14155552671), decimal.Decimal(14155552672), pd.NA, None]
    assert [(r.row_number, r.number) for r in opened(given)] == [
        (2, "14155552671"),
        (3, "14155552672"),
    ]
    nullable = pd.Series([14155552671, None], dtype="Int64")
    assert [r.number for r in opened(nullable)] == ["14155552671"]
    for wrong, kind in (
        (("+14155552671", "a"), "tuple"),
        (b"+14155552671", "bytes"),
        (True, "bool"),
        (["+14155552671"], "list"),
    ):
        with pytest.raises(UsageError, match=rf"^source item 1 is a {kind}, not a number string"):
            given_rows(["+14155552671", wrong])


def test_a_named_index_is_not_read_and_is_named_when_columns_lack_the_number() -> None:
    """set_index("number") leaves no number column: the refusal says to reset_index; an
    unnamed index (a filtered frame's) is not mentioned, and a named one is never read."""
    frame = pd.DataFrame({"number": [14155552671.0], "label": ["a"]})
    with pytest.raises(InputError, match=r"its index \(number\) is not read .*reset_index\(\)$"):
        opened(frame.set_index("number"))
    with pytest.raises(InputError, match=r"NAME$"):
        opened(frame[["label"]])
    kept = frame.set_index("label")
    assert [(r.number, r.label) for r in opened(kept)] == [("14155552671", "")]


def test_the_column_options_apply() -> None:
    """number_column names the column; no_header makes row 1 data, columns by letter."""
    frame = pd.DataFrame({"a": ["x", "y"], "b": ["+14155552671", "+14155552672"]})
    assert [r.number for r in opened(frame, number_column="b")] == ["+14155552671", "+14155552672"]
    headerless = pd.DataFrame([["+14155552671", "one"], ["+14155552672", "two"]])
    rows = opened(headerless, no_header=True, label_column="B")
    assert [(r.row_number, r.number, r.label) for r in rows] == [
        (1, "+14155552671", "one"),
        (2, "+14155552672", "two"),
    ]


def test_the_header_is_row_one_never_a_row_below() -> None:
    """A data row holding "phone" is never taken for the header: no number column is refused."""
    frame = pd.DataFrame({"a": ["phone", "+14155552671"], "b": ["label", "x"]})
    with pytest.raises(InputError, match=r"<DataFrame>.*number"):
        opened(frame)


def test_what_cannot_be_read_is_refused_in_one_line() -> None:
    """Options a file has and a frame has not, an empty frame, and what is no source at all."""
    frame = pd.DataFrame({"number": ["+14155552671"]})
    given = given_rows(frame)
    assert given is not None
    with pytest.raises(UsageError, match=r"^sheet= is for a spreadsheet file, not <DataFrame>"):
        given.open(sheet="1", columns=Columns())
    with pytest.raises(UsageError, match=r"^header_row= is for a file"):
        given.open(sheet=None, columns=Columns(header_row=2))
    with pytest.raises(InputError, match=r"^<DataFrame> has a header but no data rows"):
        opened(frame.iloc[0:0])
    with pytest.raises(InputError, match=r"^<numbers> has a header but no data rows"):
        opened([])
    with pytest.raises(UsageError, match=r"^source mixes dicts and other values"):
        given_rows([{"number": "1"}, "2"])
    for wrong in (b"+14155552671", {"number": "1"}, 42):
        with pytest.raises(UsageError, match=r"^source must be a path .*, not "):
            given_rows(wrong)
    assert given_rows("fleet.csv") is None
    assert given_rows(Path("fleet.csv")) is None
    assert FRAME in repr(given)


def test_a_float_that_looks_rounded_is_warned_of_as_a_sheets_cell_is() -> None:
    """447911000000 in a float column is warned of (row 3), as a numeric Excel cell would be."""
    frame = pd.DataFrame({"number": [14155552671.0, 447911000000.0], "label": ["a", "b"]})
    given = given_rows(frame)
    assert given is not None
    source = given.open(sheet=None, columns=Columns())
    (warning,) = source.warnings
    assert warning.startswith("warning: <DataFrame>: the number in row 3, 447911000000, is a")
    assert (
        given.open(sheet=None, columns=Columns(no_header=True))
        .warnings[0]
        .startswith("warning: <DataFrame>: the number in row 2, 447911000000")
    )
    assert not opened_warnings(["+447911000000"])  # text is what was typed: nothing to say


def opened_warnings(data: object) -> list[str]:
    """Return the warnings opening ``data`` gives."""
    given = given_rows(data)
    assert given is not None
    return given.open(sheet=None, columns=Columns()).warnings
