"""The report as a DataFrame given back to ``retry_patch`` and ``rollback``: a Result's, or
the report file read back with pandas (its ``'`` marks kept, its numbers read as floats).

Every call talks to a real sandbox over loopback; the reports are real files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import library_api, numbers, read_report

import bulk_import
from bulk_import.sandbox import Faults, RunningSandbox

PROVIDER = "prov_sandbox"
AGENT = "agent_sandbox"


def test_rollback_of_a_report_read_with_pandas_plans_as_its_path_does(tmp_path: Path) -> None:
    """rollback(pd.read_csv(path)), its number column read as floats, plans what
    rollback(path) plans: every imported number would be deleted, none is lost to a lost +."""
    given = numbers(4)
    report = tmp_path / "run.report.csv"
    with RunningSandbox(faults=Faults(existing=({"number": given[0]},))) as sandbox:
        api = library_api(sandbox)
        bulk_import.run(given, provider_id=PROVIDER, agent_id=AGENT, report=report, **api)
        read = pd.read_csv(report)
        from_path = bulk_import.rollback(report, **api)
        from_frame = bulk_import.rollback(read, **api)
    assert read["number"].dtype.kind in "fi"  # what pandas makes of +14155550001
    assert from_path.summary["counts"] == {"kept": 1, "would_delete": 3}
    assert from_frame.summary["counts"] == from_path.summary["counts"]
    assert list(from_frame.report["number"]) == given
    assert list(from_frame.report["status"]) == list(from_path.report["status"])


def test_a_results_own_quote_survives_retry_patch(tmp_path: Path) -> None:
    """A Result's label that itself starts with ' (typed ''=x: one mark taken off on input)
    is not taken for a file's mark: retry_patch of the Result (filtered too) keeps it, and the
    report it writes holds it marked once more, as a run's report does."""
    given = numbers(2)
    rows = [{"number": n, "label": f"''={i}"} for i, n in enumerate(given)]
    with RunningSandbox(faults=Faults(webhook_fail_numbers=(given[1],))) as sandbox:
        api = library_api(sandbox)
        done = bulk_import.run(rows, provider_id=PROVIDER, agent_id=AGENT, **api)
        failed = done.report[done.report["status"] == "webhook_failed"]
        patched = bulk_import.retry_patch(failed, report=tmp_path / "patched.csv", **api)
    assert list(done.report["label"]) == ["'=0", "'=1"]
    assert list(patched.report["label"]) == ["'=1"]
    assert patched.summary["counts"] == {"patched": 1}
    assert [line["label"] for line in read_report(tmp_path / "patched.csv")] == ["''=1"]


def test_rollback_of_a_frame_accounts_for_every_line_as_of_a_file() -> None:
    """rollback() reads a frame as strictly as a REPORT file: two Results concatenated (row 2
    twice) or a status retyped are refused, naming the frame's index, and nothing is sent; the
    same frame is still read leniently by retry_patch, as a file is."""
    first, second = numbers(3), numbers(3, start=10)
    with RunningSandbox() as sandbox:
        api = library_api(sandbox)
        one = bulk_import.run(first, provider_id=PROVIDER, **api)
        two = bulk_import.run(second, provider_id=PROVIDER, **api)
        both = pd.concat([one.report, two.report], ignore_index=True)
        retyped = one.report.assign(status=["imported", "Imported", "imported"])
        sent = sandbox.state.stats()["requests"]
        refusals = []
        for frame in (both, retyped):
            try:
                bulk_import.rollback(frame, apply=True, **api)
            except ValueError as refused:
                refusals.append(str(refused))
        after = sandbox.state.stats()["requests"]
        kept = set(sandbox.state.numbers)
    assert refusals == [
        "<DataFrame> index 3: row 2 is on index 0 already: two reports in one frame, or a "
        "line copied? every line must be read once; use each run's own report",
        "<DataFrame> index 1 has status 'Imported', which is not a status of bulk-import "
        "(they are lower case: imported, already_imported, ...); fix that line (or roll back "
        "the run's own report, as it wrote it)",
    ]
    assert after == sent
    assert kept == set(first) | set(second)
