"""The Python API against the sandbox: DataFrames in, DataFrames out, sync and async.

Every call talks to a real sandbox over loopback; the CLI it is compared with runs as a
subprocess on the same rows written as a CSV.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

import pandas as pd
import pytest
from conftest import cli, cli_env, library_api, numbers, read_report

import bulk_import
from bulk_import.cells import unneutralise
from bulk_import.models import REPORT_COLUMNS
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox

PROVIDER = "prov_sandbox"
AGENT = "agent_sandbox"
#: Rows as a person keeps them: (the number typed as a number or None, the label or None).
ROWS: list[tuple[int | None, str | None]] = [
    (14155552671, "NA"),
    (None, "no number here"),
    (14155552672, "=SUM(A1:A9)"),
    (14155552673, None),
    (14155552671, "the first row again"),
    (4155552674, "+ a plus"),
    (123, "@bad"),
    (14155552675, "-minus"),
]


def frame_of(rows: list[tuple[int | None, str | None]]) -> pd.DataFrame:
    """Return the rows as pandas holds them: numbers a float column (NaN where none)."""
    return pd.DataFrame(
        {
            "Phone Number": [math.nan if n is None else float(n) for n, _ in rows],
            "Friendly Name": [label for _, label in rows],
        }
    )


def csv_of(path: Path, rows: list[tuple[int | None, str | None]]) -> Path:
    """Write the same rows as a person's CSV: digits, blank cells, labels as typed."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Phone Number", "Friendly Name"])
        writer.writerows(["" if n is None else str(n), label or ""] for n, label in rows)
    return path


def unmarked(lines: list[dict[str, str]]) -> list[dict[str, str]]:
    """Return report lines with the ' marks off, as Result.report holds them."""
    return [{k: unneutralise(v) for k, v in line.items()} for line in lines]


def records(
    report: pd.DataFrame, *, drop: tuple[str, ...] = ("finished_at",)
) -> list[dict[str, str]]:
    """Return a report frame's rows as dicts, without the columns that vary from run to run."""
    rows = report.to_dict("records")
    return [{str(k): str(v) for k, v in row.items() if k not in drop} for row in rows]


def without(lines: list[dict[str, str]], *names: str) -> list[dict[str, str]]:
    """Return the lines without ``names`` (and finished_at)."""
    gone = {"finished_at", *names}
    return [{k: v for k, v in line.items() if k not in gone} for line in lines]


def test_a_dataframe_validates_and_runs_as_its_csv_does(tmp_path: Path) -> None:
    """Float numbers, NaN, text NA, = labels: .report equals the CLI's report of the CSV."""
    frame = frame_of(ROWS)
    source = csv_of(tmp_path / "fleet.csv", ROWS)

    checked = bulk_import.validate(frame, provider_id=PROVIDER)
    code = cli(
        "validate",
        "fleet.csv",
        "--provider-id",
        PROVIDER,
        "--report",
        "v.csv",
        env=cli_env(None),
        cwd=tmp_path,
    ).returncode
    assert (checked.exit_code, code) == (1, 1)
    assert records(checked.report) == without(unmarked(read_report(tmp_path / "v.csv")))
    assert list(checked.report["status"]) == [
        "valid",
        "invalid",
        "valid",
        "valid",
        "duplicate",
        "valid",
        "invalid",
        "valid",
    ]

    options = ("--provider-id", PROVIDER, "--agent-id", AGENT, "--concurrency", "1")
    with RunningSandbox() as sandbox:
        done = bulk_import.run(
            frame,
            provider_id=PROVIDER,
            agent_id=AGENT,
            concurrency=1,
            base_url=sandbox.base_url,
            api_key=DEFAULT_API_KEY,
        )
        assert sandbox.state.post_counts == dict.fromkeys(numbers_of(done.report), 1)
    with RunningSandbox() as sandbox:
        result = cli(
            "run",
            str(source),
            *options,
            "--report",
            "r.csv",
            env=cli_env(sandbox.base_url),
            cwd=tmp_path,
        )
    assert (done.exit_code, result.returncode) == (1, 1), result.stderr
    assert records(done.report) == without(unmarked(read_report(tmp_path / "r.csv")))
    assert done.summary["counts"] == {"duplicate": 1, "imported": 5, "invalid": 2}
    assert done.report.loc[0, "input_number"] == "14155552671"  # a float read as its digits
    assert done.report.loc[0, "label"] == "NA"  # text, not missing
    assert done.report.loc[2, "label"] == "=SUM(A1:A9)"  # no ' mark
    assert source.read_text().count("'") == 0


def numbers_of(report: pd.DataFrame) -> list[str]:
    """Return the numbers a run's report says it imported."""
    return list(report.loc[report["status"] == "imported", "number"])


def test_the_report_is_text_only_and_has_the_report_columns() -> None:
    """Every cell a str, blank "", never NaN, the SPEC's columns in order, one row per row."""
    result = bulk_import.validate(frame_of(ROWS), provider_id=PROVIDER)
    report = result.report
    assert tuple(report.columns) == REPORT_COLUMNS
    assert len(report) == len(ROWS) == result.summary["total"]
    cells = [cell for row in report.itertuples(index=False) for cell in row]
    assert all(isinstance(cell, str) for cell in cells)
    assert not report.isna().to_numpy().any()
    assert list(report["row"]) == [str(n) for n in range(2, len(ROWS) + 2)]
    assert not any(cell.startswith("'") for cell in cells)


def test_report_path_keeps_what_the_cli_writes_and_the_summary_is_the_json(
    tmp_path: Path,
) -> None:
    """report= writes the CLI's CSV (marks, no journal left), summary_json= the same summary."""
    given = numbers(6)
    with RunningSandbox() as sandbox:
        result = bulk_import.run(
            [*given, "+1 nope"],
            provider_id=PROVIDER,
            base_url=sandbox.base_url,
            api_key=DEFAULT_API_KEY,
            report=tmp_path / "out.csv",
            summary_json=str(tmp_path / "out.json"),
            html=tmp_path / "out.html",
        )
    lines = read_report(tmp_path / "out.csv")
    assert records(result.report, drop=()) == unmarked(lines)
    assert not (tmp_path / "out.csv.journal").exists()
    assert not (tmp_path / "out.csv.lock").exists()  # released: deleted, then unlocked
    written = json.loads((tmp_path / "out.json").read_text())
    assert written == dict(result.summary)
    assert result.summary["report"] == str(tmp_path / "out.csv")
    assert result.summary["page"] == str(tmp_path / "out.html")
    assert (tmp_path / "out.html").stat().st_size > 0


def test_without_report_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No report=: no file, no journal, no lock, in the working folder or anywhere it names."""
    monkeypatch.chdir(tmp_path)
    with RunningSandbox() as sandbox:
        result = bulk_import.run(
            numbers(5), provider_id=PROVIDER, base_url=sandbox.base_url, api_key=DEFAULT_API_KEY
        )
    assert result.ok
    assert result.summary["counts"] == {"imported": 5}
    assert result.summary["report"] == ""
    assert "journal" not in result.summary
    assert list(tmp_path.iterdir()) == []


def test_each_function_works_inside_a_running_loop_and_its_twin_is_awaited(
    tmp_path: Path,
) -> None:
    """asyncio.run of a coroutine calling the sync function, then awaiting its async twin."""
    given = numbers(8)
    faults = Faults(webhook_fail_numbers=(given[1], given[4]))
    with RunningSandbox(faults=faults) as sandbox:
        api = library_api(sandbox)

        async def notebook() -> list[bulk_import.Result]:
            asyncio.get_running_loop()  # as in Jupyter: a loop runs here
            checked = bulk_import.validate(given[:4], provider_id=PROVIDER)
            checked_too = await bulk_import.validate_async(given[4:], provider_id=PROVIDER)
            done = bulk_import.run(given[:4], provider_id=PROVIDER, agent_id=AGENT, **api)
            done_too = await bulk_import.run_async(
                given[4:], provider_id=PROVIDER, agent_id=AGENT, **api
            )
            patched = bulk_import.retry_patch(done.report, **api)
            patched_too = await bulk_import.retry_patch_async(done_too.report, **api)
            drift = bulk_import.reconcile(given, provider_id=PROVIDER, agent_id=AGENT, **api)
            fixed = await bulk_import.reconcile_async(
                given, provider_id=PROVIDER, agent_id=AGENT, apply=True, **api
            )
            return [checked, checked_too, done, done_too, patched, patched_too, drift, fixed]

        results = asyncio.run(notebook())
    counts = [r.summary["counts"] for r in results]
    assert counts == [
        {"valid": 4},
        {"valid": 4},
        {"imported": 3, "webhook_failed": 1},
        {"imported": 3, "webhook_failed": 1},
        {"imported": 3, "patched": 1},
        {"imported": 3, "patched": 1},
        {"in_sync": 8},
        {"in_sync": 8},
    ]
    assert [r.exit_code for r in results] == [0, 0, 1, 1, 0, 0, 0, 0]
    assert [r.summary["command"] for r in results[4:6]] == ["retry-patch", "retry-patch"]
    assert results[4].summary["input"] == "<DataFrame>"


def test_rollback_undoes_a_results_run_and_its_twin_applies(tmp_path: Path) -> None:
    """rollback of a Result's report plans, its twin (awaited) deletes only what the run made:
    a number there before the run is kept."""
    given = numbers(5)
    with RunningSandbox(faults=Faults(existing=({"number": given[0]},))) as sandbox:
        api = library_api(sandbox)
        done = bulk_import.run(given, provider_id=PROVIDER, agent_id=AGENT, **api)

        async def notebook() -> tuple[bulk_import.Result, bulk_import.Result]:
            plan = bulk_import.rollback(done.report, **api)
            undone = await bulk_import.rollback_async(
                done.report, apply=True, report=tmp_path / "undo.csv", **api
            )
            return plan, undone

        plan, undone = asyncio.run(notebook())
        stored = sandbox.state.numbers
    assert done.summary["counts"] == {"already_imported": 1, "imported": 4}
    assert plan.summary["counts"] == {"kept": 1, "would_delete": 4}
    assert undone.summary["counts"] == {"deleted": 4, "kept": 1}
    assert (plan.exit_code, undone.exit_code) == (0, 0)
    assert sorted(stored) == [given[0]]
    assert [line["status"] for line in read_report(tmp_path / "undo.csv")] == list(
        undone.report["status"]
    )
    assert undone.summary["input"] == "<DataFrame>"


def test_the_next_steps_are_python_calls_that_work_as_pasted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call's summary names the next call in Python, with its options (never the key);
    evaluated as written (the source as ``frame``, the Result as ``result``), it does the work."""
    frame = pd.DataFrame({"number": numbers(3)})
    with RunningSandbox(faults=Faults(webhook_fail_numbers=(numbers(3)[1],))) as sandbox:
        monkeypatch.setenv("CARTESIA_API_KEY", sandbox.api_key)
        result = bulk_import.run(
            frame, provider_id=PROVIDER, agent_id=AGENT, base_url=sandbox.base_url, concurrency=2
        )
        (step,) = result.summary["next_steps"]
        call = step.split("`")[1]
        assert call == (
            f"bulk_import.retry_patch(result.report, base_url={sandbox.base_url!r}, concurrency=2)"
        )
        patched = eval(call, {"bulk_import": bulk_import, "result": result, "frame": frame})  # noqa: S307
        assert patched.summary["counts"] == {"imported": 2, "patched": 1}
        checked = bulk_import.reconcile(
            frame, provider_id=PROVIDER, agent_id="agent_other", base_url=sandbox.base_url
        )
        (step,) = checked.summary["next_steps"]
    assert step.startswith(
        "3 agent_mismatch: another agent in the account: `bulk_import.reconcile("
    )
    assert "frame, provider_id='prov_sandbox', agent_id='agent_other'" in step
    assert step.endswith(", apply=True)` fixes them")
    assert sandbox.api_key not in json.dumps(checked.summary)


def test_retry_patch_rewrites_a_report_file_only_when_asked(tmp_path: Path) -> None:
    """From a path: without report= the file stays as it was; report= the path rewrites it."""
    given = numbers(4)
    report = tmp_path / "fleet.report.csv"
    with RunningSandbox(faults=Faults(webhook_fail_numbers=(given[0],))) as sandbox:
        api = library_api(sandbox)
        bulk_import.run(given, provider_id=PROVIDER, agent_id=AGENT, report=report, **api)
        before = report.read_bytes()
        looked = bulk_import.retry_patch(report, **api)
        assert report.read_bytes() == before
        assert looked.summary["counts"] == {"imported": 3, "patched": 1}
        bulk_import.retry_patch(str(report), report=report, **api)
    assert [line["status"] for line in read_report(report)] == ["patched"] + ["imported"] * 3
    with pytest.raises(ValueError, match=r"^<DataFrame> is not a bulk-import report: it has no"):
        bulk_import.retry_patch(pd.DataFrame({"row": ["2"]}), api_key="k")
    with pytest.raises(ValueError, match=r"^source must be a report: .* not list"):
        bulk_import.retry_patch([1, 2], api_key="k")  # type: ignore[arg-type]


def test_the_key_given_never_shows(tmp_path: Path) -> None:
    """api_key= is in no Result, repr, summary, file, page or message, refused or not."""
    key = "sk_car_do_not_show_me_4242"
    with RunningSandbox(api_key=key) as sandbox:
        result = bulk_import.run(
            numbers(3),
            provider_id=PROVIDER,
            base_url=sandbox.base_url,
            api_key=key,
            report=tmp_path / "r.csv",
            summary_json=tmp_path / "s.json",
            html=tmp_path / "r.html",
            verbose=True,
        )
        refused = bulk_import.run(
            numbers(3), provider_id=PROVIDER, base_url=sandbox.base_url, api_key=key[::-1]
        )
    assert result.ok
    assert refused.exit_code == 3
    shown = [
        repr(result),
        json.dumps(result.summary),
        result.report.to_csv(),
        repr(refused),
        json.dumps(refused.summary),
        *(path.read_text() for path in tmp_path.iterdir()),
    ]
    for bad in ({"concurrency": 0}, {"base_url": "ftp://x"}, {"api_key_file": "k"}):
        with pytest.raises(ValueError, match=r"concurrency|base_url|api_key") as caught:
            bulk_import.run(numbers(1), api_key=key, **bad)
        shown.append(str(caught.value))
    assert not [text for text in shown if key in text or key[::-1] in text]
    assert "refused the key" in refused.summary.get("stopped", "")


def test_the_key_comes_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """No api_key=: CARTESIA_API_KEY, and CARTESIA_BASE_URL, as on the command line."""
    with RunningSandbox() as sandbox:
        monkeypatch.setenv("CARTESIA_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("CARTESIA_BASE_URL", sandbox.base_url)
        result = bulk_import.run(numbers(2), provider_id=PROVIDER)
    assert result.ok
    assert result.summary["options"]["base_url"] == sandbox.base_url


def test_nothing_is_printed_unless_asked(capfd: pytest.CaptureFixture[str]) -> None:
    """Quiet by default; verbose=True prints the summary on stderr; progress=True a tqdm bar."""
    frame = frame_of(ROWS)
    bulk_import.validate(frame, provider_id=PROVIDER)
    assert capfd.readouterr() == ("", "")
    bulk_import.validate(frame, provider_id=PROVIDER, verbose=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "validate: 8 rows in" in err
    assert "exit 1" in err
    assert "report: kept in memory" in err
    bulk_import.validate(frame, provider_id=PROVIDER, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "validate: 100%" in err
    assert "8/8" in err
    assert "exit 1" not in err


def test_the_summary_has_the_typed_keys() -> None:
    """SummaryJson names every key the summary has (and the API's keys for the API commands)."""
    hints = get_type_hints(bulk_import.SummaryJson)
    required = bulk_import.SummaryJson.__required_keys__
    with RunningSandbox() as sandbox:
        results = [
            bulk_import.validate(numbers(2), provider_id=PROVIDER),
            bulk_import.run(
                numbers(2), provider_id=PROVIDER, base_url=sandbox.base_url, api_key=DEFAULT_API_KEY
            ),
        ]
    for result in results:
        assert required <= set(result.summary) <= set(hints)
    assert {"http", "latency_ms", "concurrency"} <= set(results[1].summary)
    assert set(results[1].summary["concurrency"]) == {"ceiling", "final", "min", "max"}


def test_import_bulk_import_loads_neither_pandas_nor_the_network() -> None:
    """import bulk_import is light (the CLI's start-up); the API's names load on first use."""
    code = (
        "import sys, bulk_import\n"
        "heavy = ('pandas', 'httpx', 'aiohttp', 'click', 'bulk_import.library')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "bulk_import.run; bulk_import.Result\n"
        "print('bulk_import.library.calls' in sys.modules, 'pandas' in sys.modules)\n"
        "print(sorted(set(bulk_import.__all__) - set(dir(bulk_import))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.splitlines() == ["[]", "True False", "[]"]
    with pytest.raises(AttributeError, match="no attribute 'runn'"):
        bulk_import.runn  # noqa: B018


def test_the_package_is_typed_and_the_functions_show_their_options() -> None:
    """py.typed ships as package data; help() shows each option and the Result returned."""
    package = Path(bulk_import.__file__).parent
    assert (package / "py.typed").is_file()
    pyproject = (package.parent / "pyproject.toml").read_text()
    assert 'bulk_import = ["py.typed"]' in pyproject
    for name in ("validate", "run", "retry_patch", "reconcile"):
        sync, twin = getattr(bulk_import, name), getattr(bulk_import, f"{name}_async")
        assert inspect.signature(sync) == inspect.signature(twin)
        assert inspect.signature(sync).return_annotation == "Result"
        assert inspect.iscoroutinefunction(twin)
        assert not inspect.iscoroutinefunction(sync)
        params = inspect.signature(sync).parameters
        assert all(p.kind is p.KEYWORD_ONLY for p in list(params.values())[1:])
        assert (sync.__name__, twin.__name__) == (name, f"{name}_async")
        assert "api_key" in (sync.__doc__ or "")
        assert "Interrupted" in (twin.__doc__ or "")
