"""What a rollback takes from REPORT and from its own earlier report, against the sandbox.

A candidate row that another line of REPORT says was there before the run, or that names the
same number or id as an earlier candidate, is never touched; a ``deleted`` line of the
rollback's own report is trusted only while REPORT still names that number the same way.
Every request is counted at the sandbox, by method and by the id in its path.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Instrument, api_options, output_options, read_report
from sandbox_fixtures import us_number

from bulk_import.errors import InputError
from bulk_import.jobs.rollback import rollback
from bulk_import.models import REPORT_COLUMNS, Summary, iso, utc_now
from bulk_import.sandbox import Faults, RunningSandbox

PATH = "/agents/phone-numbers"
NOW = utc_now()


def write_lines(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write a report of these lines (missing cells blank; ``row`` from 2 unless given)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)
        for i, row in enumerate(rows):
            cells = {"row": str(i + 2), "attempts": "1", "finished_at": iso(NOW)}
            cells.update(row)
            writer.writerow([cells.get(column, "") for column in REPORT_COLUMNS])
    return path


def line(number: str, number_id: str = "", status: str = "imported", **more: str) -> dict[str, str]:
    """Return a report line for one number, labelled with itself, agent_sandbox."""
    return {
        "input_number": number,
        "number": number,
        "label": number,
        "provider": "prov_sandbox",
        "agent_id": "agent_sandbox",
        "status": status,
        "phone_number_id": number_id,
        **more,
    }


def there(number: str) -> dict[str, str]:
    """Return a number the sandbox holds at start, labelled with itself, no agent."""
    return {"number": number, "provider_id": "prov_sandbox"}


def undo(report: Path, sandbox: RunningSandbox, **options: Any) -> Summary:
    """Roll ``report`` back into ``u.csv`` beside it."""
    return rollback(
        report=report,
        api=api_options(sandbox.base_url, concurrency=2, max_attempts=2),
        output=output_options(report.with_name("u.csv")),
        **options,
    )


def test_a_number_another_line_says_was_there_before_is_never_touched(tmp_path: Path) -> None:
    """A created row is kept, with no request naming it, even with --force, when a line that
    says its number was there before (already_imported, agent_mismatch, extra) names its number
    (a + taken off by a spreadsheet is the same number) or its id; the other rows are deleted."""
    a, b, c, d, e = (us_number(i) for i in range(5))
    instrument = Instrument()
    existing = tuple(there(n) for n in (a, b, c, d, e))
    with instrument.install(RunningSandbox(faults=Faults(existing=existing))) as sandbox:
        rows = [
            line(a.lstrip("+"), "pn_000000000001"),  # row 2: a, its + lost
            line(a, status="already_imported"),  # row 3
            line(b, "pn_000000000002"),  # row 4
            line(d, "pn_000000000002", status="agent_mismatch"),  # row 5: b's id
            line(c, "pn_000000000003"),  # row 6: deleted
            line(e, status="webhook_failed"),  # row 7
            {**line(e, "pn_000000000005", status="extra"), "row": ""},
        ]
        report = write_lines(tmp_path / "r.csv", rows)
        summary = undo(report, sandbox, apply=True, force=True)
        left = sandbox.state.numbers
    lines = read_report(tmp_path / "u.csv")
    assert [ln["status"] for ln in lines] == ["kept"] * 4 + ["deleted", "kept", "kept"]
    assert lines[0]["error"] == (
        "REPORT row 3 says it was there before the run (already_imported); never deleted"
    )
    assert lines[2]["error"] == (
        "REPORT row 5 says it was there before the run (agent_mismatch); never deleted"
    )
    assert lines[5]["error"] == (
        f"REPORT the extra line of {e} says it was there before the run (extra); never deleted"
    )
    every = instrument.by_id("GET") + instrument.by_id("PATCH") + instrument.by_id("DELETE")
    assert every == Counter({"pn_000000000003": 2}), "a number there before was named"
    assert instrument.count("GET") == 2  # the check of the key, and pn_3's
    assert sorted(left) == [a, b, d, e]
    assert summary.counts == {"deleted": 1, "kept": 6}


def test_twins_name_what_they_share_and_are_deleted_once(tmp_path: Path) -> None:
    """Two created rows naming one id (an edited REPORT): the second is kept as "the same id
    as row 2"; a line with no row number naming a number an earlier one does is its twin
    too; one GET and one DELETE each."""
    a, b = us_number(0), us_number(1)
    instrument = Instrument()
    existing = (there(a), there(b))
    with instrument.install(RunningSandbox(faults=Faults(existing=existing))) as sandbox:
        rows = [
            line(a, "pn_000000000001"),
            line(b, "pn_000000000001"),
            line(b, "pn_000000000002"),
            {**line(b), "row": ""},
        ]
        undo(write_lines(tmp_path / "r.csv", rows), sandbox, apply=True)
        left = sandbox.state.numbers
    lines = read_report(tmp_path / "u.csv")
    assert [ln["status"] for ln in lines] == ["deleted", "kept", "deleted", "kept"]
    assert lines[1]["error"] == "the same id as row 2, which this rollback handles"
    assert lines[3]["error"] == "the same number as row 4, which this rollback handles"
    assert instrument.by_id("DELETE") == Counter({"pn_000000000001": 1, "pn_000000000002": 1})
    assert left == {}


def test_a_deleted_line_is_trusted_only_while_report_names_the_same_number(
    tmp_path: Path,
) -> None:
    """The rollback report says rows 2 and 3 deleted. Row 2 has no id in REPORT, and REPORT's
    line finished after the rollback's (the input run again since): checked again, and its
    number, imported again, deleted. Row 3's deleted line is later than REPORT's and names its
    id: carried as it was, and no request names that id."""
    a, b = us_number(0), us_number(1)
    hour_ago = iso(NOW - dt.timedelta(hours=1))
    later = iso(NOW + dt.timedelta(minutes=1))
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=Faults(existing=(there(a),)))) as sandbox:
        report = write_lines(
            tmp_path / "r.csv", [line(a, status="webhook_failed"), line(b, "pn_000000000777")]
        )
        done = {"status": "deleted", "http_status": "204"}
        write_lines(
            tmp_path / "u.csv",
            [
                line(a, "pn_000000000100", **done, finished_at=hour_ago),
                line(b, "pn_000000000777", **done, finished_at=later),
            ],
        )
        summary = undo(report, sandbox, apply=True)
        left = sandbox.state.numbers
    lines = read_report(tmp_path / "u.csv")
    assert [ln["status"] for ln in lines] == ["deleted", "deleted"]
    assert (lines[0]["phone_number_id"], lines[0]["http_status"]) == ("pn_000000000001", "204")
    assert lines[1]["finished_at"] == later  # carried as it was
    assert instrument.by_id("DELETE") == Counter({"pn_000000000001": 1})
    assert "pn_000000000777" not in instrument.by_id("GET")
    assert left == {}
    assert summary.counts == {"deleted": 2}


def test_a_line_with_no_row_and_a_marked_number_is_met_by_its_outcome(tmp_path: Path) -> None:
    """A line with no row number whose number cell carries the ' mark ('=1, typed by hand) is
    rolled back like any other (its id holds another number: kept), not an internal error;
    run again, its line is read back; two such lines one key names are refused, exit 2."""
    a = us_number(0)
    with RunningSandbox(faults=Faults(existing=(there(a),))) as sandbox:
        marked = {**line("'=1", "pn_000000000001"), "row": ""}
        report = write_lines(tmp_path / "r.csv", [line(a, status="failed"), marked])
        for _ in range(2):
            summary = undo(report, sandbox, apply=True)
            assert summary.exit_code == 0
            lines = read_report(tmp_path / "u.csv")
            assert [ln["status"] for ln in lines] == ["kept", "kept"]
            assert lines[1]["number"] == "'=1"
            assert lines[1]["error"].startswith(f"its id holds {a}, not =1, the number")
        both = write_lines(tmp_path / "both.csv", [marked, {**marked, "number": "=1"}])
        with pytest.raises(InputError) as refused:
            undo(both, sandbox, apply=True)
        left = sandbox.state.numbers
    assert str(refused.value) == (
        f"{both} has two lines with no row number for =1: a rollback reads every line once; "
        "give each its row number, or remove one"
    )
    assert set(left) == {a}
