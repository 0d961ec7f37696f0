"""rollback against the sandbox over real loopback sockets: the plan, --apply, --force.

The numbers a run did not create are never touched: each test counts every request the
sandbox received, by method and by the id in its path.
"""

from __future__ import annotations

import csv
import datetime as dt
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from conftest import (
    Instrument,
    answer,
    api_options,
    cli_env,
    error_body,
    finish,
    output_options,
    read_report,
    start_cli,
    write_input,
)
from sandbox_fixtures import us_number

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.config import InputOptions
from bulk_import.jobs.importing import run as run_job
from bulk_import.jobs.patching import retry_patch, row_from_line
from bulk_import.jobs.reconcile import reconcile
from bulk_import.jobs.rollback import RollbackJob, rollback
from bulk_import.models import REPORT_COLUMNS, Summary, iso, utc_now
from bulk_import.output.followup import rerun
from bulk_import.output.recovery import ReportLine
from bulk_import.output.summary import next_steps
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.responses import error

PATH = "/agents/phone-numbers"
AGENTS = ("agent_sandbox", "agent_b")
#: The run's rows: 280 numbers (the first 40 there before), 15 invalid, 5 duplicates.
VALID = 280
BEFORE = 40
WEBHOOK = [us_number(i) for i in range(100, 120)]  # 20 webhook failures
NOT_PATCHED = WEBHOOK[:8]  # retry-patch fails on these: patch_failed


class Scene:
    """A run of 300 rows against one sandbox, its retry-patch, and rollbacks of its report."""

    def __init__(self, sandbox: RunningSandbox, instrument: Instrument, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.instrument = instrument
        self.tmp_path = tmp_path
        self.report = tmp_path / "fleet.report.csv"
        self.undo = tmp_path / "fleet.rollback.csv"

    def rollback(self, **options: Any) -> Summary:
        """Roll the run's report back into ``fleet.rollback.csv``."""
        concurrency = options.pop("concurrency", 8)
        return rollback(
            report=self.report,
            api=api_options(self.sandbox.base_url, concurrency=concurrency),
            output=output_options(self.undo),
            **options,
        )

    def lines(self) -> list[dict[str, str]]:
        """Return the rollback report's lines."""
        return read_report(self.undo)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    """Run 300 rows (40 there before, 20 webhook failures, invalid rows, duplicates), then
    retry-patch them: 12 patched, 8 patch_failed (their PATCH answered 400)."""
    numbers = [us_number(i) for i in range(VALID)]
    existing = tuple(
        {
            "number": n,
            "provider_id": "prov_sandbox",
            "agent_id": "agent_b" if i % 2 else "agent_sandbox",
        }
        for i, n in enumerate(numbers[:BEFORE])
    )
    extra = "".join(f"555-01{i:02d}x,bad {i}\n" for i in range(15))
    extra += "".join(f"{numbers[i * 50]},again {i}\n" for i in range(5))
    source = write_input(tmp_path / "fleet.csv", numbers, extra=extra)
    faults = Faults(existing=existing, agents=AGENTS, webhook_fail_numbers=tuple(WEBHOOK))
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        scene = Scene(sandbox, instrument, tmp_path)
        prepare(scene, source)
        yield scene


def prepare(scene: Scene, source: Path) -> None:
    """Run the input, then retry-patch the report with 8 PATCHes refused."""
    sandbox, instrument = scene.sandbox, scene.instrument
    first = run_job(
        source=str(source),
        input_options=InputOptions(provider_id="prov_sandbox", agent_id="agent_sandbox"),
        api=api_options(sandbox.base_url, concurrency=8),
        output=output_options(scene.report),
    )
    assert first.counts == {
        "imported": VALID - BEFORE - len(WEBHOOK),
        "already_imported": BEFORE,
        "webhook_failed": len(WEBHOOK),
        "invalid": 15,
        "duplicate": 5,
    }

    def refused() -> web.Response:
        return error(400, "Update failed", "webhook configuration failed")

    for number in NOT_PATCHED:
        instrument.answers[f"PATCH {PATH}/{sandbox.state.get(number)['id']}"] = refused  # type: ignore[index]
    patched = retry_patch(
        report=scene.report,
        agent_id=None,
        api=api_options(sandbox.base_url),
        output=output_options(scene.report),
    )
    instrument.answers.clear()
    assert patched.counts["patched"] == 12
    assert patched.counts["patch_failed"] == 8
    instrument.calls.clear()


def test_plan_changes_nothing_and_lists_exactly_the_created_numbers(scene: Scene) -> None:
    """The plan sends only GETs, changes nothing, and says would_delete for exactly the numbers
    the run created (imported, webhook_failed, patched, patch_failed); every other row is kept
    with why; REPORT is left byte for byte; one line per REPORT row, its cells kept."""
    state = scene.sandbox.state
    report_before = scene.report.read_bytes()
    held_before = state.numbers
    methods_before = Counter(state.stats()["by_method"])
    summary = scene.rollback()
    assert summary.exit_code == 0
    assert state.numbers == held_before
    assert scene.report.read_bytes() == report_before
    run_lines = read_report(scene.report)
    created = {line["number"] for line in run_lines if line["status"] in CREATED_NAMES}
    assert len(created) == VALID - BEFORE
    # One GET per created number (by the id the report gives) and the check before the first.
    assert Counter(state.stats()["by_method"]) - methods_before == {"GET": len(created) + 1}
    assert sum(scene.instrument.by_id("GET").values()) == len(created)
    lines = scene.lines()
    assert [line["row"] for line in lines] == [line["row"] for line in run_lines]
    for mine, theirs in zip(lines, run_lines, strict=True):
        for column in ("input_number", "number", "label", "provider", "agent_id"):
            assert mine[column] == theirs[column]
    would = {line["number"] for line in lines if line["status"] == "would_delete"}
    assert would == created
    assert summary.counts == {"would_delete": len(created), "kept": len(lines) - len(created)}
    reasons = Counter(line["error"] for line in lines if line["status"] == "kept")
    assert reasons == {
        "in the account before the run (already_imported): never deleted": BEFORE,
        "not imported by the run (invalid): nothing to delete": 15,
        "not imported by the run (duplicate): nothing to delete": 5,
    }
    for line in lines:
        if line["status"] == "would_delete":
            assert line["phone_number_id"] == state.get(line["number"])["id"]  # type: ignore[index]
            assert (line["http_status"], line["attempts"], line["error"]) == ("200", "1", "")


def test_apply_deletes_exactly_the_created_numbers_and_keeps_the_changed(scene: Scene) -> None:
    """--apply unassigns (only where an agent is assigned) and DELETEs exactly the numbers the
    run created and nobody changed since; a number changed since (label, agent) is kept, one
    whose agent was taken off is not a change; numbers there before are never PATCHed or
    DELETEd; --force then deletes the changed ones too, and nothing else."""
    state = scene.sandbox.state
    store = state.store
    run_lines = read_report(scene.report)
    created = [line["number"] for line in run_lines if line["status"] in CREATED_NAMES]
    relabelled, reassigned, unassigned = created[0], created[1], created[2]
    store.update(store.find(state.get(relabelled)["id"]), label="front desk")  # type: ignore[index]
    store.update(store.find(state.get(reassigned)["id"]), agent=("agent_b",))  # type: ignore[index]
    store.update(store.find(state.get(unassigned)["id"]), agent=(None,))  # type: ignore[index]
    before_ids = {n: state.get(n)["id"] for n in (us_number(i) for i in range(BEFORE))}  # type: ignore[index]
    held_before = {n: state.get(n) for n in before_ids}
    assigned = {n for n in created if state.get(n)["agent"] is not None}  # type: ignore[index]
    ids = {n: state.get(n)["id"] for n in created}  # type: ignore[index]

    summary = scene.rollback(apply=True)
    assert summary.exit_code == 0
    lines = first_lines(scene.lines())
    changed = {relabelled, reassigned}
    deleted = set(created) - changed
    assert {n for n, line in lines.items() if line["status"] == "deleted"} == deleted
    assert "its label is now 'front desk'" in lines[relabelled]["error"]
    assert "its agent is now agent_b, the run's agent_sandbox" in lines[reassigned]["error"]
    assert lines[reassigned]["error"].endswith("--force deletes it")
    assert lines[unassigned]["status"] == "deleted"
    assert set(state.numbers) == set(before_ids) | changed
    deletes = scene.instrument.by_id("DELETE")
    assert deletes == Counter({ids[n]: 1 for n in deleted})
    patches = scene.instrument.by_id("PATCH")
    assert patches == Counter({ids[n]: 1 for n in deleted & assigned})
    for n, line in lines.items():
        if n in deleted:
            expected = 3 if n in assigned else 2  # GET, (PATCH agent_id null,) DELETE
            assert (line["http_status"], line["attempts"]) == ("204", str(expected)), line
    assert summary.counts["deleted"] == len(deleted)
    kept_hint = next(step for step in next_steps(summary) if " kept: " in step)
    assert kept_hint.endswith(
        f"; 2 changed since the run: {rerun(summary, '--force', '--apply')} deletes those too"
    )

    forced = scene.rollback(apply=True, force=True)
    assert forced.exit_code == 0
    assert set(state.numbers) == set(before_ids)
    assert {n: state.get(n) for n in before_ids} == held_before  # untouched, agents included
    lines = first_lines(scene.lines())
    assert lines[reassigned]["status"] == lines[relabelled]["status"] == "deleted"
    assert lines[reassigned]["error"].endswith("deleted by --force")
    assert forced.counts["deleted"] == len(created)
    steps = next_steps(forced)
    assert f"{len(created)} deleted: 2 of them changed since the run: deleted by --force" in steps
    assert not any("--force`" in step for step in steps), "--force offered again"
    # The second run sent nothing for the rows the first deleted: 2 GETs, 2 PATCHes (both
    # still had an agent), 2 DELETEs, and the check before them.
    assert forced.requests == 1 + 2 + 2 + 2
    every = scene.instrument.by_id("GET") + scene.instrument.by_id("PATCH")
    every += scene.instrument.by_id("DELETE")
    assert not set(every) & set(before_ids.values()), "a number there before was touched"


CREATED_NAMES = frozenset({"imported", "webhook_failed", "patched", "patch_failed"})


def first_lines(lines: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Return each number's first line (a duplicate row's line comes after its first)."""
    found: dict[str, dict[str, str]] = {}
    for line in lines:
        found.setdefault(line["number"], line)
    return found


def write_report(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write a report of these lines (missing cells blank; finished now, unless given)."""
    now = iso(utc_now())  # a number found by q= created long after its row is not the run's
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)
        for i, row in enumerate(rows):
            cells = {"row": str(i + 2), "attempts": "1", "finished_at": now}
            cells.update(row)
            writer.writerow([cells.get(column, "") for column in REPORT_COLUMNS])
    return path


def created_row(number: str, number_id: str = "", status: str = "imported") -> dict[str, str]:
    """Return a report row of a number the run created."""
    return {
        "input_number": number,
        "number": number,
        "label": number,
        "provider": "prov_sandbox",
        "agent_id": "agent_sandbox",
        "status": status,
        "http_status": "201",
        "phone_number_id": number_id,
    }


Answer = Callable[[], web.Response]


def undo(
    tmp_path: Path,
    rows: list[dict[str, str]],
    *,
    existing: tuple[dict[str, str], ...] = (),
    answers: dict[str, Answer] | None = None,
    faults: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[Summary, list[dict[str, str]], Instrument, dict[str, Any]]:
    """Roll back a report of these rows against a sandbox holding ``existing`` (with more
    ``faults``); return the summary, the rollback report's lines, the requests seen and the
    numbers left."""
    report = write_report(tmp_path / "r.report.csv", rows)
    instrument = Instrument(answers=answers)
    api = {"concurrency": 2, "max_attempts": 2}
    api.update(options.pop("api", {}))
    account = Faults(existing=existing, **(faults or {}))
    with instrument.install(RunningSandbox(faults=account)) as sandbox:
        summary = rollback(
            report=report,
            api=api_options(sandbox.base_url, **api),
            output=output_options(tmp_path / "r.rollback.csv"),
            **options,
        )
        left = sandbox.state.numbers
    undone = tmp_path / "r.rollback.csv"
    return summary, read_report(undone) if undone.exists() else [], instrument, left


def there(number: str, agent: str | None = "agent_sandbox") -> dict[str, str]:
    """Return a number held by the sandbox at start, labelled with itself."""
    held = {"number": number, "provider_id": "prov_sandbox"}
    if agent is not None:
        held["agent_id"] = agent
    return held


def test_a_number_gone_from_its_id_is_gone_already_or_elsewhere(tmp_path: Path) -> None:
    """GET by id answers 404: when the number is not in the account the plan keeps it (gone
    already) and --apply says deleted, with no DELETE; when it is there under another id it was
    imported again since, and is kept, even with --force."""
    rows = [
        created_row(us_number(0), "pn_000000000777"),
        created_row(us_number(1), "pn_000000000778"),
    ]
    existing = (there(us_number(1)),)
    for apply in (False, True):
        summary, lines, instrument, left = undo(
            tmp_path, rows, existing=existing, apply=apply, force=True
        )
        assert instrument.count("DELETE") == instrument.count("PATCH") == 0
        assert set(left) == {us_number(1)}
        gone, elsewhere = lines
        assert gone["status"] == ("deleted" if apply else "kept")
        assert gone["error"].startswith(
            f"gone already: GET pn_000000000777 answered 404, and {us_number(0)} is not in the "
            "account"
        )
        assert (gone["http_status"], gone["attempts"]) == ("404", "2")
        assert elsewhere["status"] == "kept"
        assert elsewhere["error"] == (
            f"pn_000000000778 is gone (GET 404), but {us_number(1)} is in the account again as "
            "pn_000000000001, which this REPORT did not create; roll back the report that did"
        )
        assert summary.exit_code == 0


def test_rows_without_an_id_are_looked_up_by_number(tmp_path: Path) -> None:
    """A webhook_failed row has no id: its number is looked up (q=), and the id found is the
    one deleted and written; a number the look-up does not find is kept (only a 404 says a
    number is gone: a search may miss it), and nothing is deleted for it."""
    rows = [
        created_row(us_number(0), status="webhook_failed"),
        created_row(us_number(1), status="webhook_failed"),
    ]
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=(there(us_number(0), agent=None),), apply=True
    )
    assert left == {}
    assert [line["status"] for line in lines] == ["deleted", "kept"]
    assert lines[0]["phone_number_id"] == "pn_000000000001"
    assert (lines[0]["http_status"], lines[0]["attempts"], lines[0]["error"]) == ("204", "2", "")
    assert lines[1]["error"] == (
        f"not found by q={us_number(1)}: gone, or not listed yet; no id to ask the API by, so "
        "not counted as deleted; no DELETE sent"
    )
    assert (lines[1]["http_status"], lines[1]["attempts"]) == ("200", "1")
    assert instrument.count("PATCH") == 0  # no agent assigned: nothing to unassign
    assert instrument.by_id("DELETE") == Counter({"pn_000000000001": 1})
    assert summary.exit_code == 0


def earlier_rollback(path: Path, rows: list[dict[str, str]], ids: list[str]) -> list[str]:
    """Write a rollback report that says each row's number deleted under ``ids`` (a minute
    after its row finished); return its lines as written."""
    later = iso(utc_now() + dt.timedelta(minutes=1))
    lines = []
    for i, (row, number_id) in enumerate(zip(rows, ids, strict=True)):
        cells = {**row, "row": str(i + 2), "status": "deleted", "http_status": "204"}
        cells.update(phone_number_id=number_id, attempts="2", finished_at=later)
        lines.append(",".join(cells.get(column, "") for column in REPORT_COLUMNS))
    path.write_text(",".join(REPORT_COLUMNS) + "\r\n" + "".join(ln + "\r\n" for ln in lines))
    return lines


def test_a_deleted_line_of_a_row_with_no_id_stands_only_if_this_account_lacks_the_number(
    tmp_path: Path, fast_retries: None
) -> None:
    """An earlier `deleted` line whose REPORT row names no id is kept, as written, unless q=
    finds the number in this account: then it is checked and deleted here (the line may be
    another account's rollback); a look-up that fails leaves the line as it was, to be
    checked again by the next run (the record of a delete is never lost to an outage)."""
    rows = [created_row(us_number(i), status="webhook_failed") for i in range(2)]
    for row in rows:
        row["agent_id"] = ""
    ids = ["pn_000000000001", "pn_000000000002"]
    said = earlier_rollback(tmp_path / "r.rollback.csv", rows, ids)
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=(there(us_number(1), agent=None),), apply=True
    )
    gone, here = lines
    kept = ("status", "http_status", "phone_number_id", "attempts", "error", "finished_at")
    assert [gone[k] for k in kept] == said[0].split(",")[6:], "written again as it was"
    assert here["status"] == "deleted"
    assert here["error"] == (
        f"the rollback report said pn_000000000002 deleted (in another account?), but "
        f"q={us_number(1)} lists it in this one as pn_000000000001"
    )
    assert instrument.by_id("DELETE") == Counter({"pn_000000000001": 1})
    # The key's check and one q= for each row: a confirmed line needs no providers read.
    assert instrument.count("GET") == 1 + 2
    assert left == {}
    assert summary.exit_code == 0

    answered: list[int] = []

    def down() -> web.Response:  # the key's check passes; every q= after it is refused
        answered.append(1)
        if len(answered) == 1:
            return web.json_response({"data": [], "has_more": False})
        return error(503, "Service unavailable", "try later")

    said = earlier_rollback(tmp_path / "r.rollback.csv", rows[:1], ids[:1])
    summary, lines, instrument, left = undo(
        tmp_path,
        rows[:1],
        existing=(there(us_number(0), agent=None),),
        answers={f"GET {PATH}": down},
        apply=True,
    )
    (unknown,) = lines
    assert [unknown[k] for k in kept] == said[0].split(",")[6:], "left as it was"
    assert len(answered) > 2  # the key's check, then q= tried and refused: looked up, not skipped
    assert instrument.count("DELETE") == 0
    assert set(left) == {us_number(0)}


LINKED = "AC" + "1" * 32
UNLINKED = "AC" + "2" * 32


def test_a_number_not_found_whose_provider_the_account_does_not_link_is_never_deleted(
    tmp_path: Path,
) -> None:
    """GET 404 and q= misses in an account that does not link the row's provider (by id, or
    Twilio account and region): kept, "is this the account the run imported into?", never
    `deleted`, and the summary says it once; a number found, or whose provider is linked, is
    handled as before (an unlinked provider's number found is deleted, one gone is deleted)."""
    rows = [
        created_row(us_number(0), "pn_000000000771"),  # prov_sandbox: not in this account
        {**created_row(us_number(1), "pn_000000000772"), "provider": f"twilio:{UNLINKED}:us1"},
        {**created_row(us_number(2), "pn_000000000773"), "provider": f"twilio:{LINKED}:us1"},
        {**created_row(us_number(3)), "provider": "prov_b"},  # no id, q= misses: linked
        created_row(us_number(4), "pn_000000000001"),  # found: its provider is the number's
    ]
    faults = {"providers": ("prov_b",), "twilio_accounts": (LINKED,)}
    existing = ({"number": us_number(4), "label": us_number(4), "provider_id": "prov_b"},)
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=existing, faults=faults, apply=True
    )
    statuses = [line["status"] for line in lines]
    assert statuses == ["kept", "kept", "deleted", "kept", "deleted"]
    for line, provider in zip(lines[:2], ("prov_sandbox", f"twilio:{UNLINKED}:us1"), strict=True):
        assert line["error"] == (
            f"not in this account, and its provider {provider} is not linked here: is this the "
            "account the run imported into? (CARTESIA_API_KEY, --base-url); nothing deleted"
        )
    assert lines[2]["error"].startswith("gone already: GET pn_000000000773 answered 404")
    assert lines[3]["error"].startswith(f"not found by q={us_number(3)}: gone, or not listed")
    assert instrument.by_id("DELETE") == Counter({"pn_000000000001": 1})
    assert left == {}
    assert instrument.count("GET", f"{PATH}/providers") == 2  # the list, then one account
    hints = next_steps(summary)
    assert hints[0] == (
        "3 kept: not deleted: the error column says why (not created by the run, or changed "
        "since); 2 not in this account, whose providers it does not link: is this the account "
        "the run imported into? check CARTESIA_API_KEY and --base-url"
    )
    assert summary.exit_code == 0


def test_an_account_with_no_providers_list_says_gone_as_the_api_does(tmp_path: Path) -> None:
    """When the providers list cannot be read (404 here), a number GET 404s and q= misses is
    `deleted` (gone already), as SPEC says, and nothing else is sent."""
    answers = {f"GET {PATH}/providers": lambda: error(404, "Not found", "no such route")}
    rows = [created_row(us_number(0), "pn_000000000771")]
    summary, lines, instrument, _ = undo(tmp_path, rows, answers=answers, apply=True)
    (line,) = lines
    assert line["status"] == "deleted"
    assert line["error"].startswith("gone already: GET pn_000000000771 answered 404")
    assert instrument.count("DELETE") == 0
    assert summary.exit_code == 0


@pytest.mark.parametrize("apply", [True, False])
def test_a_number_not_found_while_the_providers_cannot_be_read_is_never_deleted(
    tmp_path: Path, fast_retries: None, apply: bool
) -> None:
    """When the providers list fails (503, retried), a number GET 404s and q= misses is not
    counted as deleted (it may be another account's miss): delete_failed (a plan: failed),
    saying why and to run again, exit 1; nothing is deleted."""
    answers = {f"GET {PATH}/providers": lambda: error(503, "Service unavailable", "try later")}
    rows = [created_row(us_number(0), "pn_000000000771")]
    summary, lines, instrument, _ = undo(tmp_path, rows, answers=answers, apply=apply)
    (line,) = lines
    assert line["status"] == ("delete_failed" if apply else "failed")
    assert line["error"].startswith(
        ("not deleted: " if apply else "not checked: ") + "GET pn_000000000771 answered 404, and "
    )
    assert (
        "; the providers could not be read to tell that this is the run's account (HTTP 503"
        in (line["error"])
    )
    assert line["error"].endswith("): not counted as deleted; run the same command again")
    assert instrument.count("GET", f"{PATH}/providers") == 2  # the list, tried twice
    assert instrument.count("DELETE") == 0
    assert summary.exit_code == 1


def test_a_refused_delete_or_unassign_is_delete_failed_with_the_api_s_words(
    tmp_path: Path,
) -> None:
    """A DELETE the API refuses, or an unassign it refuses, is delete_failed quoting the API,
    exit 1; a DELETE answered 404 is deleted (gone already); the rest are deleted."""
    numbers = [us_number(i) for i in range(4)]
    existing = tuple(there(n) for n in numbers)
    rows = [created_row(n, f"pn_{i + 1:012d}") for i, n in enumerate(numbers)]

    def cleanup() -> web.Response:
        return error(400, "Delete failed", "provider cleanup failed")

    def patch_refused() -> web.Response:
        return error(400, "Update failed", "provider error")

    def gone() -> web.Response:
        return error(404, "Not found", "phone number not found")

    answers = {
        f"DELETE {PATH}/pn_000000000001": cleanup,
        f"PATCH {PATH}/pn_000000000002": patch_refused,
        f"DELETE {PATH}/pn_000000000003": gone,
    }
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=existing, answers=answers, apply=True
    )
    assert summary.exit_code == 1
    assert [line["status"] for line in lines] == [
        "delete_failed",
        "delete_failed",
        "deleted",
        "deleted",
    ]
    assert lines[0]["http_status"] == "400"
    assert lines[0]["error"].startswith(
        "DELETE failed: HTTP 400: Delete failed: provider cleanup failed (request_id "
    )
    assert lines[0]["error"].endswith("; unassigned from agent_sandbox")
    assert lines[1]["error"].startswith(
        "unassign (PATCH agent_id null) failed: HTTP 400: Update failed: provider error"
    )
    assert (lines[2]["http_status"], lines[2]["error"]) == (
        "404",
        "gone already: DELETE answered 404; unassigned from agent_sandbox",
    )
    assert instrument.by_id("DELETE")["pn_000000000002"] == 0  # never DELETEd while assigned
    assert set(left) == {numbers[0], numbers[1], numbers[2]}
    assert left[numbers[0]]["agent"] is None  # unassigned before its DELETE failed
    assert left[numbers[1]]["agent"]["id"] == "agent_sandbox"
    assert summary.counts == {"delete_failed": 2, "deleted": 2}


def test_a_look_up_that_fails_is_failed_in_a_plan_and_delete_failed_with_apply(
    tmp_path: Path, fast_retries: None
) -> None:
    """A GET that keeps failing (503, retries spent): the plan's row is failed (exit 1), an
    --apply's delete_failed; nothing is deleted."""
    rows = [created_row(us_number(0), "pn_000000000001")]

    def down() -> web.Response:
        return error(503, "Service unavailable", "try later")

    answers = {f"GET {PATH}/pn_000000000001": down}
    for apply, status in ((False, "failed"), (True, "delete_failed")):
        summary, lines, instrument, left = undo(
            tmp_path, rows, existing=(there(us_number(0)),), answers=answers, apply=apply
        )
        assert summary.exit_code == 1
        (line,) = lines
        assert (line["status"], line["http_status"], line["attempts"]) == (status, "503", "2")
        assert "gave up after 2 attempts: HTTP 503: Service unavailable: try later" in line["error"]
        assert set(left) == {us_number(0)}
        assert instrument.count("DELETE") == 0


def test_too_many_failed_deletes_in_a_row_stop_the_rollback(tmp_path: Path) -> None:
    """Every DELETE refused: --max-consecutive-failures stops it, exit 3; the rows not reached
    are not_attempted, and every row is in the report once."""
    numbers = [us_number(i) for i in range(30)]
    existing = tuple(there(n, agent=None) for n in numbers)
    rows = [created_row(n, f"pn_{i + 1:012d}") for i, n in enumerate(numbers)]

    def refused() -> web.Response:
        return error(400, "Delete failed", "provider cleanup failed")

    answers = {f"DELETE {PATH}/pn_{i + 1:012d}": refused for i in range(30)}
    summary, lines, instrument, left = undo(
        tmp_path,
        rows,
        existing=existing,
        answers=answers,
        apply=True,
        api={"concurrency": 1, "max_consecutive_failures": 5},
    )
    assert summary.exit_code == 3
    assert "5 rows failed in a row" in summary.stopped
    assert Counter(line["status"] for line in lines) == {"delete_failed": 5, "not_attempted": 25}
    assert [int(line["row"]) for line in lines] == list(range(2, 32))
    assert instrument.count("DELETE") == 5
    assert len(left) == 30


def test_rows_the_run_did_not_create_are_never_touched(tmp_path: Path) -> None:
    """agent_fixed, agent_mismatch, in_sync, extra, already_imported, failed rows are kept with
    why, and the API hears nothing of them: a REPORT of only such rows sends no request at all.
    A row failed by a 5xx or no answer may be in the account all the same: said, with how to
    check it, never "nothing to delete"."""
    statuses = ["agent_fixed", "agent_mismatch", "in_sync", "already_imported", "failed"]
    rows = [
        {**created_row(us_number(i), f"pn_{i + 1:012d}"), "status": status}
        for i, status in enumerate(statuses)
    ]
    rows[-1]["http_status"] = "400"
    # A 409 on a retry may be the run's own earlier try (SPEC): still never deleted, but said.
    retried = {"status": "already_imported", "attempts": "3", "http_status": "409"}
    rows.append({**created_row(us_number(5), "pn_000000000006"), **retried})
    for i, code in ((6, "500"), (7, "")):
        unsure = {"status": "failed", "http_status": code}
        rows.append({**created_row(us_number(i)), **unsure})
    rows.append({**created_row(us_number(9), "pn_000000000010"), "status": "extra", "row": ""})
    existing = tuple(there(us_number(i)) for i in (*range(8), 9))
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=existing, apply=True, force=True
    )
    assert sum(instrument.calls.values()) == 0
    assert summary.requests == 0
    assert len(left) == 9
    assert [line["status"] for line in lines] == ["kept"] * 9
    assert [line["error"] for line in lines] == [
        "in the account before the run (agent_fixed): never deleted",
        "in the account before the run (agent_mismatch): never deleted",
        "in the account before the run (in_sync): never deleted",
        "in the account before the run (already_imported): never deleted",
        "not imported by the run (failed): nothing to delete",
        "already_imported on a retry (3 tries): there before the run, or the run's own earlier "
        "try; never deleted: check it by hand",
        "failed, but the run's POST may have stored it (HTTP 500): check it by hand (GET "
        f"/agents/phone-numbers?q={us_number(6)}); not deleted",
        "failed, but the run's POST may have stored it (no answer): check it by hand (GET "
        f"/agents/phone-numbers?q={us_number(7)}); not deleted",
        "in the account before the run (extra): never deleted",
    ]
    assert lines[-1]["row"] == ""
    assert summary.exit_code == 0


def test_a_reconcile_apply_report_deletes_only_what_reconcile_imported(tmp_path: Path) -> None:
    """reconcile --apply imports the missing and fixes a wrong agent (agent_fixed); its report
    rolled back deletes only the numbers it imported, never the fixed or in-sync ones."""
    numbers = [us_number(i) for i in range(10)]
    existing = tuple(
        there(n, agent="agent_b" if i == 0 else "agent_sandbox") for i, n in enumerate(numbers[:6])
    )
    source = write_input(
        tmp_path / "fleet.csv", numbers, agent="agent_sandbox", provider="prov_sandbox"
    )
    report = tmp_path / "fleet.report.csv"
    faults = Faults(existing=existing, agents=AGENTS)
    with RunningSandbox(faults=faults) as sandbox:
        api = api_options(sandbox.base_url)
        fixed = reconcile(
            source=str(source),
            input_options=InputOptions(),
            api=api,
            output=output_options(report),
            apply=True,
        )
        assert fixed.counts == {"agent_fixed": 1, "in_sync": 5, "imported": 4}
        summary = rollback(
            report=report, api=api, output=output_options(tmp_path / "undo.csv"), apply=True
        )
        left = sandbox.state.numbers
    assert summary.counts == {"deleted": 4, "kept": 6}
    assert sorted(left) == numbers[:6]
    assert left[numbers[0]]["agent"]["id"] == "agent_sandbox"  # the fix stays


def test_the_same_number_twice_is_handled_once(tmp_path: Path) -> None:
    """Two created rows naming one number (an edited report): the first is deleted, the
    second kept as its twin, and only one DELETE is sent."""
    rows = [created_row(us_number(0), "pn_000000000001"), created_row(us_number(0))]
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=(there(us_number(0)),), apply=True
    )
    assert [line["status"] for line in lines] == ["deleted", "kept"]
    assert lines[1]["error"] == "the same number as row 2, which this rollback handles"
    assert instrument.count("DELETE") == 1
    assert left == {}
    assert summary.counts == {"deleted": 1, "kept": 1}


def test_an_id_that_is_not_an_api_id_never_reaches_a_url(tmp_path: Path) -> None:
    """A phone_number_id that could reach another path (../providers/...) is kept; no request
    names it, and nothing is deleted."""
    rows = [created_row(us_number(0), "../providers/prov_sandbox")]
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=(there(us_number(0)),), apply=True, force=True
    )
    (line,) = lines
    assert line["status"] == "kept"
    assert line["error"] == (
        "its phone_number_id '../providers/prov_sandbox' is not an id the API gives; nothing sent"
    )
    assert sum(instrument.calls.values()) == 1  # the check of the key before the first row
    assert len(left) == 1
    assert summary.counts == {"kept": 1}


def test_a_refused_key_mid_run_stops_it_and_every_row_is_reported(tmp_path: Path) -> None:
    """A 401 on one GET stops the rollback (exit 3): nothing is sent after it, the rows not
    reached are not_attempted (kept, when the run did not create them), every row once."""
    numbers = [us_number(i) for i in range(8)]
    rows = [created_row(n, f"pn_{i + 1:012d}") for i, n in enumerate(numbers[:6])]
    rows += [{**created_row(n), "status": "already_imported"} for n in numbers[6:]]

    def refused() -> web.Response:
        return error(401, "Unauthorized", "invalid API key")

    summary, lines, instrument, left = undo(
        tmp_path,
        rows,
        existing=tuple(there(n, agent=None) for n in numbers),
        answers={f"GET {PATH}/pn_000000000003": refused},
        apply=True,
        api={"concurrency": 1},
    )
    assert summary.exit_code == 3
    assert "refused the key (HTTP 401)" in summary.stopped
    assert [line["status"] for line in lines] == [
        *("deleted", "deleted", "delete_failed"),
        *("not_attempted",) * 3,
        *("kept", "kept"),
    ]
    assert lines[3]["error"].startswith("not sent: the API at ")
    assert lines[3]["phone_number_id"] == "pn_000000000004"
    assert instrument.count("DELETE") == 2
    assert len(left) == 6


async def test_the_job_s_look_ups_when_the_api_misbehaves(fast_retries: None) -> None:
    """One job over a MockTransport: an id holding another number is kept; a look-up
    by number that fails, or that gives an id that is not one, is not checked (failed); a
    look-up after a 404 that fails too is failed; a stop before a row is not_attempted."""
    other = {"id": "pn_1", "number": us_number(9), "label": us_number(0), "agent": None}
    listing = {
        us_number(1): answer(500, error_body("Internal", "boom")),
        us_number(2): answer(200, {"data": [{"id": "pn/2", "number": us_number(2)}]}),
        us_number(3): answer(503, error_body("Unavailable", "later")),
    }

    def api_answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/agents/phone-numbers/pn_1":
            return answer(200, other)
        if path == "/agents/phone-numbers/pn_3":
            return answer(404, error_body("Not found", "no such id"))
        if "q" not in request.url.params:  # the check of the key before the first row
            return answer(200, {"data": [], "has_more": False})
        return listing[request.url.params["q"]]

    cells = [
        created_row(us_number(0), "pn_1"),
        created_row(us_number(1)),
        created_row(us_number(2)),
        created_row(us_number(3), "pn_3"),
    ]
    lines = {}
    for i, row in enumerate(cells):
        full = dict.fromkeys(REPORT_COLUMNS, "")
        full.update({"row": str(i + 2), "attempts": "1"}, **row)
        line = ReportLine(full)
        lines[line.key] = line
    job = RollbackJob(lines, spared={}, carried=frozenset(), apply=False, force=False)
    control = StopControl()
    options = api_options("https://api.test", max_attempts=2)
    transport = httpx.MockTransport(api_answer)
    async with CartesiaApi(options, control=control, transport=transport) as cartesia:
        assert await job.start(cartesia) == []
        outcomes = [await job.handle(row_from_line(line)) for line in lines.values()]
        control.stop("interrupted by SIGINT", exit_code=130)
        stopped = await job.handle(row_from_line(lines[2]))
    got = [(o.status.value, o.error) for o in outcomes if o is not None]
    assert got[0] == (
        "kept",
        f"its id holds {us_number(9)}, not {us_number(0)}, the number this row created; never "
        "deleted, even with --force",
    )
    assert got[1][0] == "failed"
    assert got[1][1].startswith("not checked: look-up failed: HTTP 500: Internal: boom")
    assert got[2] == (
        "failed",
        "not checked: look-up failed: the API gave 'pn/2', which is not an id",
    )
    assert got[3][0] == "failed"
    assert got[3][1].startswith("not checked: look-up failed: ")
    assert stopped is not None
    assert (stopped.status.value, stopped.error) == (
        "not_attempted",
        "not sent: interrupted by SIGINT",
    )
    assert stopped.phone_number_id == "pn_1"


def test_an_id_is_deleted_only_while_it_holds_the_number_its_row_created(
    tmp_path: Path,
) -> None:
    """Even with --force, an id that holds another number is kept (ids out of line with rows,
    a column sorted in a spreadsheet), and so is an id whose row names no number to check it
    against; a number a spreadsheet took the + off is still the same number, and deleted."""
    a, b, c = (us_number(i) for i in range(3))
    rows = [
        created_row(a.lstrip("+"), "pn_000000000001"),  # +1... read back as 1... from an .xlsx
        created_row(b, "pn_000000000003"),  # the id of c
        {**created_row(""), "phone_number_id": "pn_000000000002"},
    ]
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=(there(a), there(b), there(c)), apply=True, force=True
    )
    assert [line["status"] for line in lines] == ["deleted", "kept", "kept"]
    assert lines[0]["number"] == a.lstrip("+")  # REPORT's cells, as they were
    assert lines[1]["error"] == (
        f"its id holds {c}, not {b}, the number this row created; never deleted, even with --force"
    )
    assert lines[2]["error"] == (
        f"its id holds {b}, and this row names no number to check it against; never deleted, "
        "even with --force"
    )
    assert instrument.by_id("DELETE") == Counter({"pn_000000000001": 1})
    assert sorted(left) == [b, c]
    assert summary.exit_code == 0


def test_a_number_found_by_q_created_after_its_row_finished_is_not_the_run_s(
    tmp_path: Path,
) -> None:
    """A row with no id whose number the listing holds under an id created well after the row
    finished (deleted and imported again since): kept, even with --force, no DELETE; the same
    row finished just now is the run's, and deleted."""
    a, b = us_number(0), us_number(1)
    old = {"finished_at": "2026-12-01T00:00:00Z"}
    rows = [{**created_row(a, status="webhook_failed"), **old}, created_row(b, status="patched")]
    summary, lines, instrument, left = undo(
        tmp_path, rows, existing=(there(a), there(b)), apply=True, force=True
    )
    assert summary.exit_code == 0
    assert [line["status"] for line in lines] == ["kept", "deleted"]
    created = left[a]["created_at"]
    assert lines[0]["error"] == (
        f"imported again since: {a} is in the account as pn_000000000001, created {created}, "
        "after this row finished (2026-12-01T00:00:00Z), so not by this REPORT's run; never "
        "deleted, even with --force (check both clocks if that is wrong)"
    )
    assert lines[0]["phone_number_id"] == "pn_000000000001"
    assert instrument.by_id("DELETE") == Counter({"pn_000000000002": 1})
    assert instrument.by_id("PATCH") == Counter({"pn_000000000002": 1})
    assert set(left) == {a}


def test_a_second_ctrl_c_leaves_rows_a_rerun_checks_again(tmp_path: Path) -> None:
    """A second SIGINT abandons the DELETEs in flight: exit 130, their rows say the outcome is
    unknown and that the same rollback checks them again (no word of a 409); run again, it
    finds those gone already (404), sends no DELETE twice, and every row is deleted."""
    numbers = [us_number(i) for i in range(4)]
    write_report(
        tmp_path / "r.csv", [created_row(n, f"pn_{i + 1:012d}") for i, n in enumerate(numbers)]
    )
    slow = {f"DELETE {PATH}/pn_{i:012d}": 3.0 for i in (1, 2)}
    instrument = Instrument(delays=slow)
    args = ("rollback", "r.csv", "--apply", "--no-progress", "--concurrency", "2")
    existing = tuple(there(n, agent=None) for n in numbers)
    with instrument.install(RunningSandbox(faults=Faults(existing=existing))) as sandbox:
        env = cli_env(sandbox.base_url)
        process = start_cli(*args, "--timeout", "30", env=env, cwd=tmp_path)
        deadline = time.monotonic() + 20
        while instrument.count("DELETE") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert process.poll() is None, "the first SIGINT must let requests in flight finish"
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process)
        assert code == 130, err
        assert "Traceback" not in err
        lines = read_report(tmp_path / "r.rollback.csv")
        assert [line["status"] for line in lines] == ["delete_failed"] * 2 + ["not_attempted"] * 2
        for line in lines[:2]:
            assert line["error"] == (
                "not deleted: interrupted while its request was in flight (a second Ctrl-C): "
                "outcome unknown; run the same rollback again: it checks the row again (a "
                "number deleted meanwhile is gone already)"
            )
        deadline = time.monotonic() + 10  # the abandoned DELETEs still reach the sandbox
        while sandbox.state.stats()["stored"] > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        assert code == 0, err
        left = sandbox.state.numbers
    lines = read_report(tmp_path / "r.rollback.csv")
    assert [line["status"] for line in lines] == ["deleted"] * 4
    assert lines[0]["error"].startswith("gone already: GET pn_000000000001 answered 404")
    assert left == {}
    assert instrument.by_id("DELETE") == Counter({f"pn_{i:012d}": 1 for i in range(1, 5)})
