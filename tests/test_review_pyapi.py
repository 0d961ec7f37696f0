"""Review of issue 24 (the Python API), tried as a data person in a notebook or a script would.

Each test names what must hold by SPEC ("From Python", "The report", "Output and exit codes")
or the README's "From Python". Those the landed code fails are marked ``xfail(strict=True)``
with the reason, so that the suite stays green and the fix turns them into passes (then drop
the mark). Real sockets on loopback: the sandbox, and mypy run as a user runs it.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import library_api, numbers

import bulk_import
from bulk_import.sandbox import Faults, RunningSandbox

PROVIDER = "prov_sandbox"
AGENT = "agent_sandbox"
REPO = Path(__file__).resolve().parent.parent


# -- options the command line refuses, taken from Python ------------------------------------------


@pytest.mark.parametrize("option", ["html", "summary_json"])
def test_an_output_naming_a_folder_is_refused_before_anything_is_sent(
    tmp_path: Path, option: str
) -> None:
    """An output path that is a folder is a ValueError naming it, and no POST is sent."""
    folder = tmp_path / "out"
    folder.mkdir()
    output: dict[str, Any] = {option: folder}
    with RunningSandbox() as sandbox:
        with pytest.raises(ValueError, match=option):
            bulk_import.run(numbers(3), provider_id=PROVIDER, **library_api(sandbox), **output)
        posts = sandbox.state.post_counts
    assert posts == {}


def test_a_report_naming_a_folder_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    """report= a folder is a ValueError naming report=, before any POST; no journal is left."""
    folder = tmp_path / "out"
    folder.mkdir()
    with RunningSandbox() as sandbox:
        try:
            with pytest.raises(ValueError, match="report"):
                bulk_import.run(
                    numbers(3), provider_id=PROVIDER, report=folder, **library_api(sandbox)
                )
        finally:
            posts = sandbox.state.post_counts
            left = sorted(path.name for path in tmp_path.iterdir())
    assert posts == {}
    assert left == ["out"]


def test_an_empty_report_path_is_a_value_error_naming_it() -> None:
    """report="" is refused as a bad option: a ValueError naming report=."""
    with pytest.raises(ValueError, match=r"report="):
        bulk_import.validate(numbers(2), provider_id=PROVIDER, report="")


def test_a_numpy_integer_is_a_whole_number() -> None:
    """concurrency=np.int64(2), as computed from a frame, is taken as 2 (the CLI takes "2")."""
    with RunningSandbox() as sandbox:
        result = bulk_import.run(
            numbers(3),
            provider_id=PROVIDER,
            concurrency=np.int64(2),  # type: ignore[arg-type]
            **library_api(sandbox),
        )
    assert result.summary["counts"] == {"imported": 3}
    assert result.summary["options"]["concurrency"] == 2


def test_a_positional_option_is_refused_by_the_functions_own_name() -> None:
    """validate(frame, "prov") is a TypeError naming validate(), as Python names a function."""
    with pytest.raises(TypeError, match=r"^validate\(\) takes 1 positional argument"):
        bulk_import.validate(numbers(1), PROVIDER)  # type: ignore[call-arg]


# -- messages name the option as a Python caller writes it ----------------------------------------


@pytest.mark.parametrize(
    ("options", "python"),
    [
        ({"number_column": "nope"}, "number_column="),
        ({"label_column": "nope"}, "label_column="),
        ({"default_label": "{nope}"}, "default_label="),
        ({"default_region": "XX"}, "default_region="),
        ({"no_header": True, "number_column": "phone"}, "number_column="),
        ({}, "number_column="),  # a frame with no number column: "pass --number-column NAME"
    ],
)
def test_a_bad_option_is_named_by_its_python_name(options: dict[str, Any], python: str) -> None:
    """Each refusal names the keyword to change (number_column=...), never a --flag."""
    frame = pd.DataFrame({"digits" if not options else "number": [14155552671.0]})
    with pytest.raises(ValueError, match=re.escape(python)) as caught:
        bulk_import.validate(frame, provider_id=PROVIDER, **options)
    message = str(caught.value)
    assert " --" not in message
    assert not message.startswith("--")


def test_a_refused_key_given_as_api_key_names_api_key() -> None:
    """A key given as api_key= and refused (401): summary["stopped"] names api_key=."""
    with RunningSandbox() as sandbox:
        result = bulk_import.run(
            numbers(2), provider_id=PROVIDER, base_url=sandbox.base_url, api_key="sk_wrong"
        )
    stopped = result.summary.get("stopped", "")
    assert result.exit_code == 3
    assert "refused the key" in stopped
    assert "api_key=" in stopped
    assert "--api-key-file" not in stopped


# -- sources: what a notebook holds, read as the same CSV would be ---------------------------------


@pytest.mark.parametrize(
    "given",
    [
        [("+14155552671", "Front desk")],
        [b"+14155552671"],
    ],
    ids=["tuples", "bytes"],
)
def test_rows_that_are_neither_dicts_nor_numbers_are_refused(given: list[object]) -> None:
    """Tuples or bytes as rows are a ValueError or TypeError naming source, not invalid rows."""
    with pytest.raises((ValueError, TypeError), match="source"):
        bulk_import.validate(given, provider_id=PROVIDER)  # type: ignore[arg-type]


def test_a_frame_indexed_by_number_is_read_or_the_message_names_the_index() -> None:
    """frame.set_index("number"): its numbers are read, or the ValueError says to reset_index."""
    frame = pd.DataFrame({"number": [14155552671.0, 14155552672.0], "label": ["a", "b"]})
    indexed = frame.set_index("number")
    result, refused = None, None
    try:
        result = bulk_import.validate(indexed, provider_id=PROVIDER)
    except ValueError as exc:
        refused = str(exc)
    if refused is not None:
        assert "index" in refused
    else:
        assert result is not None
        assert result.summary["counts"] == {"valid": 2}


def test_a_rounded_number_warning_reaches_a_quiet_caller() -> None:
    """A possibly rounded number is said to the caller without verbose=True: a Python warning,
    or in the Result's summary."""
    frame = pd.DataFrame({"number": [447911000000.0, 14155552671.0]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bulk_import.validate(frame, provider_id=PROVIDER)
    said = [str(w.message) for w in caught] + [json.dumps(result.summary)]
    assert result.summary["counts"] == {"valid": 2}
    assert any("447911000000" in text and "rounded" in text for text in said), said


# -- a report read back from its file with pandas -------------------------------------------------


def _webhook_failed_report(tmp_path: Path, sandbox: RunningSandbox, given: list[str]) -> Path:
    """Run ``given`` (labels that a spreadsheet would run as formulas) into ``sandbox``; return
    the report's path."""
    report = tmp_path / "fleet.report.csv"
    rows = [{"number": n, "label": f"={i}"} for i, n in enumerate(given)]
    bulk_import.run(
        rows, provider_id=PROVIDER, agent_id=AGENT, report=report, **library_api(sandbox)
    )
    return report


def test_retry_patch_of_a_report_read_with_pandas_patches_as_its_path_does(
    tmp_path: Path,
) -> None:
    """retry_patch(pd.read_csv(path)) patches the webhook_failed rows, as retry_patch(path) does."""
    given = numbers(4)
    with RunningSandbox(faults=Faults(webhook_fail_numbers=(given[1], given[3]))) as sandbox:
        report = _webhook_failed_report(tmp_path, sandbox, given)
        read = pd.read_csv(report)
        patched = bulk_import.retry_patch(read, **library_api(sandbox))
        stored = sandbox.state.numbers
    agents = {n: (stored[n]["agent"] or {}).get("id") for n in given}
    assert patched.summary["counts"] == {"imported": 2, "patched": 2}
    assert set(agents.values()) == {AGENT}


def test_a_report_read_as_text_keeps_its_labels_through_retry_patch(tmp_path: Path) -> None:
    """retry_patch of the report file read as text (dtype=str) gives the labels the path does:
    no ' mark in Result.report, one (not two) in the file it rewrites."""
    given = numbers(3)
    with RunningSandbox(faults=Faults(webhook_fail_numbers=(given[1],))) as sandbox:
        report = _webhook_failed_report(tmp_path, sandbox, given)
        read = pd.read_csv(report, dtype=str, keep_default_na=False)
        from_path = bulk_import.retry_patch(report, **library_api(sandbox))
        from_frame = bulk_import.retry_patch(read, report=report, **library_api(sandbox))
    assert list(from_path.report["label"]) == ["=0", "=1", "=2"]
    assert list(from_frame.report["label"]) == ["=0", "=1", "=2"]
    labels = list(pd.read_csv(report, dtype=str, keep_default_na=False)["label"])
    assert labels == ["'=0", "'=1", "'=2"]


# -- a user's script under mypy --strict ----------------------------------------------------------

#: What a data person writes: the frame's rows as dicts, given as the README's dicts source.
TYPED_SCRIPT = """\
import pandas as pd

import bulk_import

frame = pd.DataFrame({"number": ["+14155552671"], "label": ["Front desk"]})
result = bulk_import.validate(frame.to_dict("records"), provider_id="prov_1")
print(result.summary["counts"])
"""


def test_a_frames_records_type_check_as_a_dicts_source(tmp_path: Path) -> None:
    """mypy --strict on a script passing frame.to_dict("records") reports no error."""
    (tmp_path / "script.py").write_text(TYPED_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    env["MYPYPATH"] = str(REPO)
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent"),
            "script.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert "Found" in done.stdout or "Success" in done.stdout, done.stdout + done.stderr
    assert errors == []


# -- what a call raises ---------------------------------------------------------------------------


def test_interrupted_survives_a_pickle_round_trip_with_its_result() -> None:
    """pickle.loads(pickle.dumps(Interrupted(result))) keeps the message and .result."""
    result = bulk_import.validate(numbers(2), provider_id=PROVIDER)
    stop = bulk_import.Interrupted(result)
    again = pickle.loads(pickle.dumps(stop))  # noqa: S301  # our own object, as a pool does
    assert str(again) == str(stop)
    assert again.result.summary == result.summary
