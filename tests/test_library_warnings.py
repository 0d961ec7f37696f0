"""What the CLI says as a ``warning:`` line reaches a Python caller as a BulkImportWarning.

A notebook shows a warning under the cell; a library prints nothing itself. The warning is
raised in the caller's thread, pointing at the caller's line, sync (inside a running loop too)
or awaited; ``verbose=True`` still prints the CLI's line.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable

import pandas as pd
import pytest

import bulk_import

PROVIDER = "prov_sandbox"
#: 447911000000 is what Excel keeps of 447911234567 typed into a numeric cell (4.48E+11).
FRAME = pd.DataFrame({"number": [447911000000.0, 14155552671.0]})


def caught(
    call: Callable[[], bulk_import.Result],
) -> tuple[bulk_import.Result, list[warnings.WarningMessage]]:
    """Return the call's Result and every warning it raised."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = call()
    return result, seen


def test_a_rounded_number_is_a_bulk_import_warning_at_the_callers_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """validate(frame) with a rounded number: one BulkImportWarning (a UserWarning), naming the
    number and its row, at this file's line; nothing printed."""
    result, seen = caught(lambda: bulk_import.validate(FRAME, provider_id=PROVIDER))
    assert result.summary["counts"] == {"valid": 2}
    assert [w.category for w in seen] == [bulk_import.BulkImportWarning]
    assert issubclass(bulk_import.BulkImportWarning, UserWarning)
    message = str(seen[0].message)
    assert message.startswith("<DataFrame>: the number in row 2, 447911000000, is a numeric cell")
    assert seen[0].filename == __file__
    assert capsys.readouterr() == ("", "")


def test_the_warning_reaches_an_awaited_call_and_a_call_inside_a_running_loop() -> None:
    """The async twin awaited, and the sync function called inside a running loop (a notebook:
    the run goes on a thread of its own), both warn once, at the caller's line."""

    async def notebook() -> list[warnings.WarningMessage]:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            await bulk_import.validate_async(FRAME, provider_id=PROVIDER)
            bulk_import.validate(FRAME, provider_id=PROVIDER)
        return seen

    seen = asyncio.run(notebook())
    assert [w.category for w in seen] == [bulk_import.BulkImportWarning] * 2
    assert [w.filename for w in seen] == [__file__] * 2
    assert str(seen[0].message) == str(seen[1].message)


def test_verbose_prints_the_clis_line_and_warns_too(capsys: pytest.CaptureFixture[str]) -> None:
    """verbose=True keeps the CLI's text on stderr (the warning: line as it was) and still
    warns; a frame with no rounded number warns of nothing."""
    _, seen = caught(lambda: bulk_import.validate(FRAME, provider_id=PROVIDER, verbose=True))
    lines = capsys.readouterr().err.splitlines()
    assert f"warning: {seen[0].message}" in lines
    assert len(seen) == 1
    clean = pd.DataFrame({"number": [14155552671.0, 14155552672.0]})
    _, none = caught(lambda: bulk_import.validate(clean, provider_id=PROVIDER))
    assert none == []
