"""The Python API's options: the CLI's, by their Python names, with its defaults and checks.

A bad option is a ValueError naming it as Python writes it, raised before anything is read or
sent; an unknown name is a TypeError, as Python's own; the command line keeps its messages.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import cli, cli_env, library_api, numbers, write_input

import bulk_import
from bulk_import.cli import main
from bulk_import.library.keywords import (
    ReconcileOptions,
    RetryPatchOptions,
    RollbackOptions,
    RunOptions,
    ValidateOptions,
    names,
)
from bulk_import.sandbox import Faults, RunningSandbox

#: Options only the command line has (Python prints nothing unless asked, raises its errors,
#: and takes its source as the first argument), and only Python has.
CLI_ONLY = frozenset({"input", "report_in", "quiet", "no_progress", "debug"})
PYTHON_ONLY = frozenset({"api_key", "progress", "verbose"})
#: Options that name where things are written or how they show, not how the work is done.
OUTPUT = ("report", "summary_json", "html", "quiet", "progress", "debug")


@pytest.mark.parametrize(
    ("command", "keywords"),
    [
        ("validate", ValidateOptions),
        ("run", RunOptions),
        ("retry-patch", RetryPatchOptions),
        ("reconcile", ReconcileOptions),
        ("rollback", RollbackOptions),
    ],
)
def test_each_function_takes_its_commands_options_by_their_python_names(
    command: str, keywords: type
) -> None:
    """The keywords are the command's options (--max-attempts is max_attempts), no more."""
    cli_names = {param.name for param in main.commands[command].params if param.name}
    assert names(keywords) - PYTHON_ONLY == cli_names - CLI_ONLY


def test_the_defaults_are_the_command_lines(tmp_path: Path) -> None:
    """The options in force (the summary's) are the CLI's for the same command and input."""
    write_input(tmp_path / "fleet.csv", numbers(3))
    with RunningSandbox() as sandbox:
        env = cli_env(sandbox.base_url)
        for command in ("validate", "run"):
            args = (command, "fleet.csv", "--provider-id", "prov_sandbox")
            done = cli(*args, "--summary-json", f"{command}.json", env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            by_cli = json.loads((tmp_path / f"{command}.json").read_text())["options"]
            api: dict[str, Any] = dict(library_api(sandbox)) if command == "run" else {}
            call = getattr(bulk_import, command)
            by_python = call(tmp_path / "fleet.csv", provider_id="prov_sandbox", **api).summary
            options = by_python["options"]
            for name in OUTPUT:
                by_cli.pop(name, None)
                options.pop(name, None)
            assert options == by_cli


BAD: list[tuple[dict[str, Any], str]] = [
    ({"concurrency": 0}, r"^concurrency=0: must be a whole number from 1 to 512$"),
    ({"concurrency": "8"}, r"^concurrency='8': must be a whole number from 1 to 512$"),
    ({"concurrency": True}, r"^concurrency=True: must be a whole number"),
    ({"max_attempts": 101}, r"^max_attempts=101: must be a whole number from 1 to 100$"),
    ({"max_consecutive_failures": 0}, r"^max_consecutive_failures=0: must be a whole number of"),
    ({"rate": 0}, r"^rate=0: must be a number above 0$"),
    ({"timeout": -1.5}, r"^timeout=-1.5: must be a number above 0$"),
    ({"region": "eu1"}, r"^region='eu1': use us1, ie1, au1$"),
    ({"header_row": "2"}, r"^header_row='2': must be a whole number$"),
    ({"header_row": 0}, r"^header_row=0 is not a row"),
    ({"no_header": "yes"}, r"^no_header='yes': must be True or False$"),
    ({"agent_id": 7}, r"^agent_id=7: must be text \(a str\)$"),
    ({"sheet": 2.5}, r"^sheet=2.5: must be text"),
    ({"default_region": "XX"}, r"^unknown default_region='XX'"),
    ({"base_url": "ftp://x.example"}, r"^base_url= 'ftp://x.example' is not an http\(s\) URL"),
    ({"base_url": "http://api.example.com"}, r"^refusing plain http:// to api.example.com"),
    ({"report": "-"}, r"^report='-' \(stdout\) is for the command line: pass a path"),
    ({"report": 42}, r"^report=42: must be a path"),
    ({"summary_json": " "}, r"^summary_json=' ': an empty path; name a file$"),
    ({"rate": float("nan")}, r"^rate=nan: must be a number above 0$"),
    ({"report": "no/such/folder/r.csv"}, r"^cannot write no/such/folder/r.csv: folder"),
    ({"html": "-"}, r"^html='-' is not offered"),
    ({"resume": True}, r"^resume=True needs report=PATH"),
    ({"api_key": ""}, r"^api_key= must be the API key itself"),
    ({"api_key_file": "k.txt"}, r"^pass api_key= or api_key_file=, not both$"),
    ({"twilio_credentials_file": "t.txt"}, r"^twilio_credentials_file= is for a twilio: INPUT"),
    ({"subaccounts": True}, r"^subaccounts= is for a twilio:AC\.\.\. INPUT"),
    ({"default_label": "{"}, r"^default_label='\{' has unbalanced braces"),
    ({"header_row": 2, "no_header": True}, r"^header_row= and no_header=True exclude each other"),
    (
        {"no_header": True, "label_column": "Name"},
        r"^label_column='Name' cannot name a column of a file without a header \(no_header=True\)",
    ),
    (
        {"provider_id": f"twilio:{'AC' + '0' * 32}:ie1"},
        r"^provider_id='twilio:AC0{32}:ie1' reads as a Twilio account, not a provider id; "
        r"pass twilio_account_sid='AC0{32}', region='ie1'$",
    ),
    ({"provider_id": " prov "}, r"^provider_id=' prov ' has spaces around it"),
]


def test_numpy_numbers_are_taken_as_python_numbers() -> None:
    """What a frame's arithmetic gives (np.int64, np.float32) is taken where an int or a float
    is: the options in force are plain Python numbers, as the CLI's are."""
    import numpy as np

    with RunningSandbox() as sandbox:
        result = bulk_import.run(
            pd.DataFrame({"number": numbers(2)}),
            provider_id="prov_sandbox",
            max_attempts=np.int32(3),  # type: ignore[arg-type]
            max_consecutive_failures=np.uint8(9),  # type: ignore[arg-type]
            rate=np.int64(500),  # type: ignore[arg-type]
            timeout=np.float32(7.5),  # type: ignore[arg-type]
            **library_api(sandbox),
        )
    options = result.summary["options"]
    assert result.summary["counts"] == {"imported": 2}
    taken = [options[name] for name in ("max_attempts", "max_consecutive_failures", "timeout")]
    assert taken == [3, 9, 7.5]
    assert [type(value) for value in taken] == [int, int, float]
    with pytest.raises(ValueError, match=r"^header_row=np.float64\(2.0\): must be a whole"):
        bulk_import.validate(["+14155552671"], header_row=np.float64(2))  # type: ignore[arg-type]


@pytest.mark.parametrize(("bad", "message"), BAD)
def test_a_bad_option_is_a_value_error_naming_it(bad: dict[str, Any], message: str) -> None:
    """Each bad option is refused in one line naming it, before anything is read or sent."""
    options: dict[str, Any] = {"api_key": "sk_car_x", "provider_id": "prov_sandbox", **bad}
    with pytest.raises(ValueError, match=message):
        bulk_import.run(["+14155552671"], **options)


def test_no_key_and_a_source_of_no_kind_say_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key anywhere names the three ways; a source that is none names what a source is."""
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    with pytest.raises(ValueError, match=r"^no API key: pass api_key=, or set CARTESIA_API_KEY"):
        bulk_import.run(["+14155552671"], provider_id="prov_sandbox")
    with pytest.raises(bulk_import.UsageError, match=r"^source must be a path .*not int"):
        bulk_import.validate(42)  # type: ignore[arg-type]
    with pytest.raises(bulk_import.InputError, match=r"no such file"):
        bulk_import.validate("no-such-file.csv")


def test_a_refused_key_names_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key refused (401) or unusable names its real source: the variable, or api_key_file=."""
    key_file = tmp_path / "key.txt"
    key_file.write_text("sk_wrong\n")
    monkeypatch.setenv("CARTESIA_API_KEY", "sk_wrong")
    with RunningSandbox() as sandbox:
        run: dict[str, Any] = {"provider_id": "prov_sandbox", "base_url": sandbox.base_url}
        from_env = bulk_import.run(numbers(1), **run)
        from_file = bulk_import.run(numbers(1), api_key_file=key_file, **run)
    stops = [result.summary.get("stopped", "") for result in (from_env, from_file)]
    assert stops == [
        f"the API at {run['base_url']} refused the key (HTTP 401); check CARTESIA_API_KEY",
        f"the API at {run['base_url']} refused the key (HTTP 401); check api_key_file={key_file}",
    ]
    assert "key_origin" not in from_file.summary["options"]
    with pytest.raises(ValueError, match=r"a control or non-ASCII character\); check api_key=$"):
        bulk_import.run(numbers(1), api_key="sk\tx", provider_id="prov_sandbox")


def test_an_unknown_name_is_a_type_error_with_the_name_meant() -> None:
    """A typo is refused as Python refuses any unexpected keyword, naming the option meant."""
    with pytest.raises(TypeError, match=r"run\(\) got .* 'agentid'; did you mean 'agent_id'\?$"):
        bulk_import.run(["+14155552671"], agentid="a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^validate\(\) got an unexpected keyword argument 'x'$"):
        bulk_import.validate(["+14155552671"], x=1)  # type: ignore[call-arg]


def test_a_misplaced_argument_names_the_function_called() -> None:
    """An option given by position, or no source, is Python's own TypeError naming the public
    function (the async twin by its own name), never the private planner."""
    with pytest.raises(TypeError, match=r"^validate_async\(\) takes 1 positional argument but 2"):
        asyncio.run(bulk_import.validate_async(["+14155552671"], "prov"))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^rollback\(\) missing 1 required positional argument"):
        bulk_import.rollback()  # type: ignore[call-arg]


def test_a_report_that_is_the_input_is_refused(tmp_path: Path) -> None:
    """report= naming the source file itself is refused: the input is never overwritten."""
    source = write_input(tmp_path / "fleet.csv", numbers(2))
    with pytest.raises(ValueError, match=r"^report='.*fleet.csv' is the input file itself"):
        bulk_import.validate(source, provider_id="prov_sandbox", report=str(source))


@pytest.mark.parametrize(
    ("lines", "options", "message"),
    [
        (
            ["Name,Phone", "Front desk,4155552671"],
            {"number_column": "4155552671"},
            r"^number_column='4155552671' looks like a phone number, not a column name: if "
            r".* has no header, pass no_header=True \(and number_column= with its column's",
        ),
        (
            ["Front desk,4155552671"],
            {},
            r"holds a phone number \(4155552671\) where a header names its columns; pass "
            r"no_header=True, number_column='B', or add a header row$",
        ),
        (
            ["4155552671", "number", "4155552672"],
            {},
            r"; pass header_row= with the header's row, or no_header=True if the file has none$",
        ),
        (["number", "4155552671"], {"header_row": 5}, r"^header_row=5: .* has 2 rows; pass"),
        (["4155552671"], {"no_header": True, "label_column": "C"}, r"; pass label_column= with"),
    ],
)
def test_a_files_layout_is_refused_naming_pythons_options(
    tmp_path: Path, lines: list[str], options: dict[str, Any], message: str
) -> None:
    """A file's header, read from Python, is refused naming keywords (no_header=True), no flag."""
    source = tmp_path / "fleet.csv"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message) as caught:
        bulk_import.validate(source, provider_id="prov_sandbox", **options)
    assert "--" not in str(caught.value)


def test_a_sheet_not_in_the_workbook_names_sheet() -> None:
    """sheet= naming no sheet of a workbook is refused naming sheet=, as --sheet is on the CLI."""
    workbook = Path(__file__).resolve().parent.parent / "examples" / "ops-sheet.xlsx"
    with pytest.raises(ValueError, match=r"; pass sheet= with one of these names or a number"):
        bulk_import.validate(workbook, sheet="nope", provider_id="prov_sandbox")


def test_rows_given_in_memory_refuse_a_files_options() -> None:
    """sheet= and header_row= are a file's: refused for a DataFrame, with the fix."""
    frame = pd.DataFrame({"number": numbers(1)})
    with pytest.raises(ValueError, match=r"^sheet= is for a spreadsheet file, not <DataFrame>"):
        bulk_import.validate(frame, sheet=1)
    with pytest.raises(ValueError, match=r"^header_row= is for a file"):
        bulk_import.validate(frame, header_row=1)


def test_a_twilio_source_takes_twilios_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """twilio: reads its credentials as the CLI does; none is refused naming Python's option."""
    for name in ("TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    sid = "AC" + "0" * 32
    with pytest.raises(ValueError, match=r"or pass twilio_credentials_file=PATH \(KEY:SECRET"):
        bulk_import.validate(f"twilio:{sid}")
    with RunningSandbox(faults=Faults(twilio_numbers=5)) as sandbox:
        monkeypatch.setenv("TWILIO_API_KEY", "SK" + "0" * 32)
        monkeypatch.setenv("TWILIO_API_SECRET", "sandbox_secret")
        with pytest.raises(ValueError, match=r"^twilio_base_url= 'nope' is not an http\(s\) URL"):
            bulk_import.validate(f"twilio:{sid}", twilio_base_url="nope")
        with pytest.raises(ValueError, match=r"^number_column= does not apply to a twilio: "):
            bulk_import.validate(f"twilio:{sid}", number_column="Phone")
        listed = bulk_import.validate(f"twilio:{sid}", twilio_base_url=sandbox.base_url)
    assert listed.summary["counts"] == {"valid": 5}
    assert listed.summary["input"] == f"twilio:{sid}"
    assert listed.summary.get("twilio", {}).get("numbers") == 5
    assert listed.summary["options"]["twilio_credentials"] == (
        "the API key from TWILIO_API_KEY and TWILIO_API_SECRET"
    )
