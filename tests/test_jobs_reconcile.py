"""reconcile against the sandbox over real loopback sockets: drift, --apply, stops."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import api_options, output_options, read_report, write_input, write_report
from sandbox_fixtures import us_number

from bulk_import.cli import main
from bulk_import.config import ApiOptions, InputOptions
from bulk_import.jobs.reconcile import reconcile
from bulk_import.models import Status
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

AGENTS = ("agent_sandbox", "agent_b")


def api(sandbox: RunningSandbox, **kw: object) -> ApiOptions:
    """Return API options for the sandbox."""
    return api_options(sandbox.base_url, **kw)


def fleet(path: Path, numbers: list[str], agent: str = "agent_sandbox") -> Path:
    """Write a fleet file naming each number's agent and provider."""
    return write_input(path, numbers, agent=agent, provider="prov_sandbox")


@pytest.fixture
def drifted() -> Iterator[RunningSandbox]:
    """An account of 250 numbers: 3 with another agent, 10 the input will not list."""
    existing = []
    for i in range(250):
        agent = "agent_b" if i in (5, 50, 150) else "agent_sandbox"
        existing.append({"number": us_number(i), "agent_id": agent, "provider_id": "prov_sandbox"})
    with RunningSandbox(faults=Faults(existing=tuple(existing), agents=AGENTS)) as sandbox:
        yield sandbox


def test_reconcile_reports_each_kind_of_drift(tmp_path: Path, drifted: RunningSandbox) -> None:
    """One listing pass over 3 pages finds in_sync, missing, agent_mismatch and extra rows."""
    numbers = [us_number(i) for i in range(240)] + [us_number(1000 + i) for i in range(5)]
    source = fleet(tmp_path / "fleet.csv", numbers)
    report = tmp_path / "fleet.report.csv"
    summary = reconcile(
        source=str(source),
        input_options=InputOptions(),
        api=api(drifted),
        output=output_options(report),
    )
    assert summary.exit_code == 1
    assert summary.counts == {"in_sync": 237, "agent_mismatch": 3, "missing": 5, "extra": 10}
    assert summary.requests == math.ceil(250 / 100)
    assert drifted.state.stats()["by_method"] == {"GET": 3}
    rows = read_report(report)
    assert len(rows) == 255
    assert [r["status"] for r in rows[-10:]] == ["extra"] * 10
    assert all(r["row"] == "" for r in rows[-10:])
    mismatch = next(r for r in rows if r["status"] == "agent_mismatch")
    assert "agent_b" in mismatch["error"]


def test_reconcile_apply_fixes_and_never_deletes(tmp_path: Path, drifted: RunningSandbox) -> None:
    """--apply imports the missing, fixes the mismatched (agent_fixed: they were there before,
    never patched, which rollback deletes), keeps extras; then all is in sync."""
    numbers = [us_number(i) for i in range(240)] + [us_number(1000 + i) for i in range(5)]
    source = fleet(tmp_path / "fleet.csv", numbers)
    report = tmp_path / "fleet.report.csv"
    summary = reconcile(
        source=str(source),
        input_options=InputOptions(),
        api=api(drifted),
        output=output_options(report),
        apply=True,
    )
    assert summary.exit_code == 0
    assert summary.counts == {"in_sync": 237, "agent_fixed": 3, "imported": 5, "extra": 10}
    assert summary.requests == 3 + 1 + 3 + 5  # list pages, providers, one call per fix
    assert drifted.state.stats()["stored"] == 255  # nothing deleted
    assert drifted.state.get(us_number(50))["agent"]["id"] == "agent_sandbox"  # type: ignore[index]
    final = reconcile(
        source=str(source),
        input_options=InputOptions(),
        api=api(drifted),
        output=output_options(report),
    )
    assert final.exit_code == 0
    assert final.counts == {"in_sync": 245, "extra": 10}


def test_reconcile_with_a_refused_key_leaves_a_good_report_and_says_so(tmp_path: Path) -> None:
    """A refused key: exit 3 at the first page, the last good report untouched, and --quiet
    still prints the one line cron must mail (the bug: 40 not_attempted rows, silence)."""
    source = fleet(tmp_path / "fleet.csv", [us_number(i) for i in range(4)])
    report = tmp_path / "r.csv"
    report.write_text("last night's good report\n")
    with RunningSandbox(api_key="sk_car_other") as sandbox:
        result = CliRunner().invoke(
            main,
            ["reconcile", str(source), "--report", str(report), "--quiet"],
            env={"CARTESIA_API_KEY": "sk_car_sandbox", "CARTESIA_BASE_URL": sandbox.base_url},
        )
        assert sandbox.state.stats()["requests"] == 1
    assert result.exit_code == 3
    assert report.read_text() == "last night's good report\n"
    assert result.stdout == ""
    assert result.stderr == (
        f"bulk-import reconcile {source}: exit 3: stopped early: the API at {sandbox.base_url} "
        "refused the key (HTTP 401); check CARTESIA_API_KEY or --api-key-file "
        "(no report written)\n"
    )


def test_reconcile_provider_filter(tmp_path: Path) -> None:
    """--provider-id lists only that provider's numbers."""
    existing = (
        {"number": us_number(0), "provider_id": "prov_sandbox"},
        {"number": us_number(1), "provider_id": "prov_other"},
    )
    faults = Faults(existing=existing, providers=("prov_sandbox", "prov_other"))
    source = fleet(tmp_path / "fleet.csv", [us_number(0)], agent="")
    with RunningSandbox(faults=faults) as sandbox:
        summary = reconcile(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api(sandbox),
            output=output_options(tmp_path / "r.csv"),
        )
    assert summary.counts == {"in_sync": 1}
    assert Status.EXTRA.value not in summary.counts


def test_an_apply_stopped_early_lists_every_input_row_once(tmp_path: Path) -> None:
    """An --apply that stops early (every PATCH names an unknown agent) lists each INPUT row once:
    rows it never reached are not_attempted and never extras too (the bug: a 40-row file gave
    48 rows, rows 34-41 both not_attempted and extra). Extras are only numbers INPUT lacks."""
    mine = [us_number(i) for i in range(40)]
    others = [us_number(i) for i in range(100, 103)]
    existing = tuple(
        {"number": n, "agent_id": "agent_b", "provider_id": "prov_sandbox"} for n in mine + others
    )
    source = fleet(tmp_path / "fleet.csv", mine, agent="agent_nope")
    report = tmp_path / "r.csv"
    with RunningSandbox(faults=Faults(existing=existing, agents=AGENTS)) as sandbox:
        summary = reconcile(
            source=str(source),
            input_options=InputOptions(),
            api=api(sandbox, concurrency=2, max_consecutive_failures=5),
            output=output_options(report),
            apply=True,
        )
        patches = sandbox.state.stats()["by_method"].get("PATCH", 0)
    assert summary.exit_code == 3
    rows = read_report(report)
    by_number: dict[str, list[str]] = {}
    for r in rows:
        by_number.setdefault(r["number"], []).append(r["status"])
    assert len(rows) == 43
    assert all(len(statuses) == 1 for statuses in by_number.values())
    assert sorted(n for n, s in by_number.items() if s == ["extra"]) == others
    # A fix that fails leaves the row agent_mismatch (never patch_failed: the number was there
    # before), and counts as a failure in a row.
    reached = [n for n in mine if by_number[n] == ["agent_mismatch"]]
    assert 5 <= len(reached) == patches < 40
    assert all(by_number[n] == ["not_attempted"] for n in mine if n not in reached)


def test_a_killed_applys_journal_is_kept_not_judged_again(
    tmp_path: Path, drifted: RunningSandbox
) -> None:
    """A killed --apply left a journal recording 2 imports and 1 agent fix (the account shows
    them done): the next --apply keeps those lines as they are (ids, statuses), sends nothing
    for them, and never reports their numbers as extra; the rest is judged as ever."""
    numbers = [us_number(i) for i in range(240)] + [us_number(1000 + i) for i in range(5)]
    source = fleet(tmp_path / "fleet.csv", numbers)
    report = tmp_path / "fleet.reconcile.csv"
    state = drifted.state
    done: list[list[object]] = []
    for i, n in enumerate(numbers[240:242]):  # imported by the killed run
        state.add_number(n, agent_id="agent_sandbox", provider_id="prov_sandbox")
        done.append([242 + i, n, n, n, "prov_sandbox", "agent_sandbox", "imported", 201])
    fixed = state.store.by_number(us_number(5))
    assert fixed is not None
    state.store.update(fixed, agent=("agent_sandbox",))  # fixed by the killed run
    done.append([7, us_number(5), us_number(5), "", "prov_sandbox", "agent_sandbox"])
    done[-1] += ["agent_fixed", 200]
    write_report(
        journal_path(report),
        [[*cells, f"pn_killed_{i}", 1, "", "2026-12-06T02:31:00Z"] for i, cells in enumerate(done)],
    )
    before = state.stats()["by_method"]
    summary = reconcile(
        source=str(source),
        input_options=InputOptions(),
        api=api(drifted),
        output=output_options(report),
        apply=True,
    )
    sent = state.stats()["by_method"]
    written = read_report(report)
    lines = {line["row"]: line for line in written}
    assert summary.counts == {"in_sync": 237, "imported": 5, "agent_fixed": 3, "extra": 10}
    assert [lines[str(r)]["phone_number_id"] for r in (242, 243, 7)] == [
        "pn_killed_0",
        "pn_killed_1",
        "pn_killed_2",
    ]
    assert sent.get("POST", 0) - before.get("POST", 0) == 3  # numbers[242:] only
    assert sent.get("PATCH", 0) - before.get("PATCH", 0) == 2  # rows 52 and 152 only
    assert [line["number"] for line in written if line["status"] == "extra"] == [
        us_number(i) for i in range(240, 250)
    ]
