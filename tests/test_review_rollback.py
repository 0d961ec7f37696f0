"""Adversarial review of rollback (issue 22): each test is a way rollback could delete wrongly,
lose a record, or act on a half-written REPORT. Real sandbox on loopback; every request counted.

Each test states what SPEC promises. Seven failed on the code as landed (each a finding,
marked ``xfail(strict=True)`` until its fix: see CHANGELOG); all pass now.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Instrument, api_options, output_options, read_report, write_input
from sandbox_fixtures import us_number

from bulk_import.config import InputOptions
from bulk_import.errors import BulkImportError
from bulk_import.jobs.importing import run as run_job
from bulk_import.jobs.rollback import rollback
from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.lock import Holder, ReportLock
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

PATH = "/agents/phone-numbers"


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write a report of these lines (missing cells blank; ``row`` counts from 2 unless given)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)
        for i, row in enumerate(rows):
            cells = {"row": str(i + 2), "attempts": "1", "finished_at": "2026-12-01T00:00:00Z"}
            cells.update(row)
            writer.writerow([cells.get(column, "") for column in REPORT_COLUMNS])
    return path


def line(number: str, number_id: str = "", status: str = "imported", **more: str) -> dict[str, str]:
    """Return a report line as ``run`` writes it for one number (label: the number itself)."""
    return {
        "input_number": number,
        "number": number,
        "label": number,
        "provider": "prov_sandbox",
        "agent_id": "agent_sandbox",
        "status": status,
        "http_status": "201" if status == "imported" else "409",
        "phone_number_id": number_id,
        **more,
    }


def there(number: str) -> dict[str, str]:
    """Return a number the sandbox holds at start (label: itself, agent_sandbox)."""
    return {"number": number, "provider_id": "prov_sandbox", "agent_id": "agent_sandbox"}


def undo(report: Path, sandbox: RunningSandbox, out: Path, **options: Any) -> Any:
    return rollback(
        report=report,
        api=api_options(sandbox.base_url, concurrency=2, max_attempts=2),
        output=output_options(out),
        **options,
    )


# -- (a) a DELETE for a number REPORT does not show this tool created ------------------------


def test_force_never_deletes_a_number_the_report_says_was_there_before(tmp_path: Path) -> None:
    """A REPORT sorted by one column in a spreadsheet: row 2 (imported, +1...0) now carries the
    id of +1...1, which row 3 says was there before the run (already_imported). The plan says
    "its id now holds +1...1; --force deletes it"; --force then DELETEs +1...1: a number the
    REPORT shows this tool did NOT create (SPEC: "Never a DELETE for a number the REPORT does
    not show this tool created"). An id that holds another number is not "changed since the
    run" (label, agent): the API never changes a number behind an id; it must be kept, even with
    --force, as a number gone from its id and found elsewhere is."""
    a, b = us_number(0), us_number(1)
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=Faults(existing=(there(a), there(b))))) as sb:
        id_a, id_b = sb.state.get(a)["id"], sb.state.get(b)["id"]  # type: ignore[index]
        report = write_rows(
            tmp_path / "r.csv",
            [line(a, id_b), line(b, id_a, status="already_imported")],  # the id column swapped
        )
        undo(report, sb, tmp_path / "u.csv", apply=True, force=True)
        left = sb.state.numbers
    assert instrument.by_id("DELETE")[id_b] == 0, "DELETEd a number that was there before"
    assert b in left


# -- (d) the rollback's own report, stale or of another REPORT -------------------------------


def test_a_stale_rollback_report_never_hides_numbers_imported_since(tmp_path: Path) -> None:
    """Rehearse, undo, do it for real: run fleet.csv, rollback --apply (every number deleted,
    fleet.report.rollback.csv all `deleted`), run fleet.csv again (same report path: the numbers
    are imported again under new ids), rollback --apply again with the same (default) rollback
    report. The old report has the same rows and numbers, so every row is carried as `deleted`:
    nothing is sent, exit 0, "N numbers deleted already are kept" — and every number is still in
    the account. The same happens when the rehearsal ran against the sandbox and the real run
    against production (the very mistake issue 22 is for)."""
    numbers = [us_number(i) for i in range(5)]
    source = write_input(tmp_path / "fleet.csv", numbers, provider="prov_sandbox")
    report, undone = tmp_path / "fleet.report.csv", tmp_path / "fleet.report.rollback.csv"
    instrument = Instrument()
    with instrument.install(RunningSandbox()) as sb:

        def run() -> None:
            done = run_job(
                source=str(source),
                input_options=InputOptions(),
                api=api_options(sb.base_url),
                output=output_options(report),
            )
            assert done.counts == {"imported": 5}

        run()
        first = undo(report, sb, undone, apply=True)
        assert first.counts == {"deleted": 5}
        assert sb.state.numbers == {}
        run()  # imported again: new ids, in REPORT
        new_ids = {line["phone_number_id"] for line in read_report(report)}
        second = undo(report, sb, undone, apply=True)
        left = sb.state.numbers
        lines = read_report(undone)
    print(second.counts, second.requests, [ln["phone_number_id"] for ln in lines])
    assert left == {}, f"{len(left)} numbers imported since stay, the rollback says deleted"
    assert {ln["phone_number_id"] for ln in lines} == new_ids


# -- (h) a REPORT another process is still writing, or that a killed run left a journal beside -----


def test_a_report_another_command_is_writing_is_refused(tmp_path: Path) -> None:
    """`run --resume fleet.csv` (or retry-patch) holds fleet.report.csv's lock: REPORT is
    half-written. retry-patch refuses such a REPORT (refuse_if_held); rollback reads it and
    deletes as it says."""
    a = us_number(0)
    with RunningSandbox(faults=Faults(existing=(there(a),))) as sb:
        id_a = sb.state.get(a)["id"]  # type: ignore[index]
        report = write_rows(tmp_path / "fleet.report.csv", [line(a, id_a)])
        held = ReportLock.take(report, holder=Holder(pid=1, command="bulk-import run fleet.csv"))
        try:
            with pytest.raises(BulkImportError, match="being written"):
                undo(report, sb, tmp_path / "u.csv", apply=True)
        finally:
            held.release()
        assert a in sb.state.numbers


def test_numbers_a_killed_run_recorded_only_in_its_journal_are_not_silently_left(
    tmp_path: Path,
) -> None:
    """`run --resume` killed: fleet.report.csv says row 3 `failed` (last night), its journal
    says row 3 `imported` (tonight, before the kill). SPEC: the report path with its journal
    holds every row. Rollback reads the report alone: row 3 is kept as "not imported by the
    run (failed)", and the number the killed run created stays, with exit 0. It should read the
    journal over REPORT (as retry-patch does) or refuse until the run is finished."""
    a, b = us_number(0), us_number(1)
    with RunningSandbox(faults=Faults(existing=(there(a), there(b)))) as sb:
        id_a, id_b = (sb.state.get(n)["id"] for n in (a, b))  # type: ignore[index]
        report = write_rows(
            tmp_path / "fleet.report.csv",
            [line(a, id_a), line(b, status="failed", http_status="500")],
        )
        write_rows(journal_path(report), [line(a, id_a), line(b, id_b)])
        try:
            summary = undo(report, sb, tmp_path / "u.csv", apply=True)
        except BulkImportError:
            summary = None  # refusing (exit 2, "finish the run first") is a fix too
        left = sb.state.numbers
    assert summary is None or b not in left, "the killed run's import is left, and nothing says so"


# -- (e) a row lost from the rollback's report ----------------------------------------------------


def test_every_report_line_is_in_the_rollback_report_or_refused(tmp_path: Path) -> None:
    """Two run reports concatenated (both start at row 2), and a line whose status a person
    retyped ("Imported"): read_report keeps the last line of each row number and drops lines
    with no known status, so 3 of 5 REPORT lines vanish from the rollback report; their numbers
    are neither deleted nor reported, and the rollback says exit 0. SPEC: one row per REPORT
    row, nothing lost."""
    nums = [us_number(i) for i in range(5)]
    with RunningSandbox(faults=Faults(existing=tuple(there(n) for n in nums))) as sb:
        ids = [sb.state.get(n)["id"] for n in nums]  # type: ignore[index]
        rows = [line(nums[0], ids[0]), line(nums[1], ids[1])]  # fleet-a rows 2, 3
        rows += [{**line(nums[2], ids[2]), "row": "2"}, {**line(nums[3], ids[3]), "row": "3"}]
        rows.append({**line(nums[4], ids[4]), "row": "4", "status": "Imported"})
        report = write_rows(tmp_path / "both.csv", rows)
        try:
            summary = undo(report, sb, tmp_path / "u.csv", apply=True)
        except BulkImportError:
            return  # refused, one line: nothing lost
        lines = read_report(tmp_path / "u.csv")
    assert summary.total == len(lines) == 5, (summary.counts, [ln["number"] for ln in lines])


# -- (c) the plan changes nothing, whatever REPORT holds ----------------------------------------


def test_a_plan_sends_only_gets_whatever_the_report_holds(tmp_path: Path) -> None:
    """A plan with --force over every odd row (an id holding another number, an id gone with the
    number elsewhere, an id gone for good, twins, an id that is not one, rows not created, a
    row with no row number): the sandbox hears GETs only, and holds what it held."""
    nums = [us_number(i) for i in range(8)]
    with RunningSandbox(faults=Faults(existing=tuple(there(n) for n in nums[:6]))) as sb:
        ids = [sb.state.get(n)["id"] for n in nums[:6]]  # type: ignore[index]
        rows = [
            line(nums[0], ids[1]),  # the id holds another number
            line(nums[1], ids[0], status="already_imported"),
            line(nums[2], "pn_999999999999"),  # gone from its id, in the account under ids[2]
            line(nums[6], "pn_999999999998"),  # gone for good
            line(nums[3], ids[3]),
            line(nums[3], ids[3]),  # twin
            line(nums[4], '\'=HYPERLINK("x")'),
            {**line(nums[5], ids[5]), "row": ""},  # no row number
            line(nums[7], status="webhook_failed"),  # no id, not in the account
        ]
        report = write_rows(tmp_path / "r.csv", rows)
        before = sb.state.numbers
        methods = Counter(sb.state.stats(detail=True)["by_method"])
        summary = undo(report, sb, tmp_path / "u.csv", force=True)
        sent = Counter(sb.state.stats(detail=True)["by_method"]) - methods
        assert sb.state.numbers == before
    assert set(sent) == {"GET"}, sent
    assert summary.total == len(rows)


# -- (f) an answer that is not what was asked -------------------------------------------------


def test_a_get_that_answers_another_id_is_not_trusted(tmp_path: Path) -> None:
    """GET /agents/phone-numbers/<id B> answers 200 with the object of id A (a caching proxy, an
    API bug): rollback compares only the number, so it DELETEs id B, whose number it never saw.
    A GET by id whose answer names another id must be a failed look-up."""
    from aiohttp import web

    a, b = us_number(0), us_number(1)
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=Faults(existing=(there(a), there(b))))) as sb:
        id_b = sb.state.get(b)["id"]  # type: ignore[index]
        as_a = sb.state.get(a)
        instrument.answers[f"GET {PATH}/{id_b}"] = lambda: web.json_response(as_a)
        report = write_rows(tmp_path / "r.csv", [line(a, id_b)])
        undo(report, sb, tmp_path / "u.csv", apply=True)
        left = sb.state.numbers
    assert instrument.by_id("DELETE")[id_b] == 0
    assert b in left


# -- (d) a DELETE twice ----------------------------------------------------------------------------


def test_a_created_row_without_row_number_is_a_twin_too(tmp_path: Path) -> None:
    """An edited REPORT: row 2 and a line whose row cell was blanked name the same number and
    id. _twins skips lines without a row number, so both are candidates: two GETs, and two
    DELETEs of one id (the second a 404, or both in flight)."""
    a = us_number(0)
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=Faults(existing=(there(a),)))) as sb:
        id_a = sb.state.get(a)["id"]  # type: ignore[index]
        report = write_rows(tmp_path / "r.csv", [line(a, id_a), {**line(a, id_a), "row": ""}])
        undo(report, sb, tmp_path / "u.csv", apply=True)
    assert instrument.by_id("DELETE")[id_a] == 1
