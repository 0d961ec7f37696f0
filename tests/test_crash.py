"""Crash safety, tested by crashing: SIGKILL at seeded points for every command that changes
the account, then the same command again; every row and every request counted.

Every run is the real CLI in a subprocess against a sandbox served from this process. The
promise checked (SPEC "Crash safety"): at any moment the report path plus the journal beside it
hold every row of the work, in its old state or its new one, and running the same command
again finishes the work with no row lost and nothing already done sent again.

The CLI subprocesses are not traced by coverage (``cli_env(measured=False)``): they run code the
rest of the suite covers already, and tracing would slow the heavy ones down by half. Each test
prints one line of figures (``pytest -s`` shows it); RELIABILITY.md records them.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    OK,
    Instrument,
    JournalWatch,
    Line,
    cli_env,
    finish,
    kill_points,
    mode,
    print_figures,
    read_report,
    read_state,
    rows_of,
    signal_at,
    start_cli,
    write_input,
    write_report,
)
from sandbox_fixtures import us_number

from bulk_import.api.control import StopControl
from bulk_import.errors import InputError
from bulk_import.jobs.pool import run_pool
from bulk_import.models import RESUME_KEEP, Outcome, Row, Status
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

KILLS = 10

# -- run: 5,000 rows, 10 SIGKILLs ------------------------------------------------------------------
#: 5,000 rows at --concurrency 32 against a 1 ms sandbox: about 600-900 rows/s on 2 cores, so a
#: segment lasts 0.5-1.5 s (start-up included) and the whole test about 15-25 s.
RUN_SEED = 20261127
RUN_ROWS = 5_000
RUN_FAULTS = Faults(
    latency_ms=1,
    error_429=0.003,
    retry_after="ms",
    retry_after_s=0.05,
    error_500=0.02,
    error_502=0.01,
    error_503=0.01,
    drop=0.01,
    stored_then_500=0.02,
)
RUN_ARGS = ("--concurrency", "32", "--max-attempts", "12", "--timeout", "5")

# -- retry-patch: 2,000 webhook_failed rows; reconcile --apply: 200 missing, 50 mismatched --
PATCH_SEED = 20261201
PATCH_ROWS = 2_000
RECONCILE_SEED = 20261202
RECONCILE_ROWS = 1_000
RECONCILE_MISSING = 200
RECONCILE_MISMATCHED = 50
API_ARGS = ("--no-progress", "--concurrency", "16", "--timeout", "5")


def ok_lines(lines: list[Line]) -> dict[int, Line]:
    """Return the lines whose status is ok, by row."""
    return {int(line["row"]): line for line in lines if line["status"] in OK}


def test_sigkill_at_ten_seeded_points_during_run_then_run_again(tmp_path: Path) -> None:
    """After 10 SIGKILLs and re-runs: every row once and ok, no number twice, none done re-sent.

    The odd re-runs are the same command, the even ones add --resume: both must finish what a
    killed run did without sending it again.
    """
    rng = random.Random(RUN_SEED)
    points = kill_points(rng, KILLS, max_rows=450)
    given = [us_number(i) for i in range(RUN_ROWS)]
    write_input(tmp_path / "in.csv", given)
    report = tmp_path / "in.report.csv"
    run_args = ("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress", *RUN_ARGS)
    first_ok: dict[int, Line] = {}  # row -> its ok line, as first seen after a kill
    frozen: dict[str, int] = {}  # number -> its POSTs when the state first held it as ok
    segments: list[dict[str, object]] = []
    started = time.monotonic()
    with RunningSandbox(faults=RUN_FAULTS, seed=RUN_SEED) as sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        for i, point in enumerate(points):
            base = len(first_ok)
            watch = JournalWatch(report)
            again = ("--resume",) if i % 2 else ()
            process = start_cli(*run_args, *again, env=env, cwd=tmp_path)
            killed = signal_at(process, watch, point, base=base, sig=signal.SIGKILL)
            code, _, err = finish(process)
            # A kill that lands as the run ends finds it finished: exit 0 is fine then.
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            assert "Traceback" not in err
            lines = read_state(report)
            # The state never holds a row twice, and a killed run holds only finished rows.
            assert len(set(rows_of(lines))) == len(lines)
            assert set(Counter(line["status"] for line in lines)) <= OK
            oks = ok_lines(lines)
            # Nothing done is lost: every row done before is still there, byte for byte.
            for row, line in first_ok.items():
                assert oks.get(row) == line, f"row {row} done before kill {i} is gone or changed"
            posts = sandbox.state.post_counts
            for row, line in oks.items():
                if row not in first_ok:
                    first_ok[row] = line
                    frozen[line["number"]] = posts[line["number"]]
            segments.append(
                {"point": str(point), "killed": killed, "new_ok": len(oks) - base, "ok": len(oks)}
            )

        args = (*run_args, "--summary-json", "s.json")
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        assert code == 0, err
        stats = sandbox.state.stats(detail=True)
        stored = sandbox.state.numbers

    lines = read_report(report)
    assert not journal_path(report).exists()
    # Every input row exactly once, in order, and every one ok.
    assert rows_of(lines) == list(range(2, RUN_ROWS + 2))
    assert {line["status"] for line in lines} <= OK
    assert [line["number"] for line in lines] == given
    for row, line in first_ok.items():
        assert lines[row - 2] == line, f"row {row} changed after it was done"
    # The API holds every number once, under the id the report gives.
    assert sorted(stored) == sorted(given)
    assert stats["stored"] == RUN_ROWS
    for line in lines:
        if line["status"] == "imported":
            assert line["phone_number_id"] == stored[line["number"]]["id"]
    # No row was sent again once the state held it as done.
    posts_by_number: dict[str, int] = stats["posts_by_number"]
    resent = {n: posts_by_number[n] - c for n, c in frozen.items() if posts_by_number[n] != c}
    assert not resent, f"done rows sent again after a kill: {resent}"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["total"], summary["exit_code"]) == (RUN_ROWS, 0)
    assert mode(report) == 0o600
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"
    print_figures(
        "crash-run",
        rows=RUN_ROWS,
        kills=sum(1 for s in segments if s["killed"]),
        segments=segments,
        by_status=stats["by_status"],
        requests=stats["requests"],
        max_posts_per_number=max(posts_by_number.values()),
        numbers_posted_more_than_once=sum(1 for c in posts_by_number.values() if c > 1),
        already_imported=sum(1 for line in lines if line["status"] == "already_imported"),
        lost=0,
        doubled=0,
        seconds=round(time.monotonic() - started, 1),
    )


def kept_rows(journal: Path) -> list[Line]:
    """Return the lines of a killed run's journal that the next run keeps (none: no journal)."""
    if not journal.exists():
        return []
    keep = {status.value for status in RESUME_KEEP}
    return [line for line in read_report(journal) if line["status"] in keep]


def patched_ids(instrument: Instrument) -> Counter[str]:
    """Return the PATCHes each phone number id received."""
    return instrument.by_id("PATCH")


def test_sigkill_at_ten_seeded_points_during_retry_patch_then_again(tmp_path: Path) -> None:
    """retry-patch of 2,000 webhook_failed rows killed 10 times: after each kill every row is
    in the report or its journal; at the end all are patched, and no number was PATCHed again
    once the state said patched (the bug: 1,348 rows gone after one kill)."""
    rng = random.Random(PATCH_SEED)
    points = kill_points(rng, KILLS, max_rows=300)
    given = [us_number(i) for i in range(PATCH_ROWS)]
    existing = tuple({"number": n, "provider_id": "prov_sandbox"} for n in given)
    # Half the rows carry their id (as a 201 gives it), half must be looked up (a webhook 400).
    ids = {n: f"pn_{i + 1:012d}" for i, n in enumerate(given)}
    report = tmp_path / "fleet.report.csv"
    write_report(
        report,
        [
            [
                *(i + 2, n, n, f"line {i}", "prov_sandbox", "agent_sandbox", "webhook_failed"),
                *(400, ids[n] if i % 2 else "", 1, "Webhook configuration failed"),
                "2026-12-01T00:00:00Z",
            ]
            for i, n in enumerate(given)
        ],
    )
    args = ("retry-patch", "fleet.report.csv", *API_ARGS)
    instrument = Instrument()
    sandbox = instrument.install(
        RunningSandbox(faults=Faults(latency_ms=10, existing=existing), seed=PATCH_SEED)
    )
    done_at: dict[str, int] = {}  # id -> its PATCHes when the state first said patched
    segments: list[dict[str, object]] = []
    with sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        for point in points:
            done = len(done_at)
            watch = JournalWatch(report)
            process = start_cli(*args, env=env, cwd=tmp_path)
            # The journal starts with every row's old line: count the new ones only.
            killed = signal_at(process, watch, point, base=PATCH_ROWS, sig=signal.SIGKILL)
            code, _, err = finish(process)
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            lines = read_state(report)
            # Every row is there after every kill, in its old state or its new one.
            assert rows_of(lines) == list(range(2, PATCH_ROWS + 2))
            counts = Counter(line["status"] for line in lines)
            assert set(counts) <= {"webhook_failed", "patched"}, counts
            patches = patched_ids(instrument)
            for line in lines:
                number_id = ids[line["number"]]
                if line["status"] == "patched":
                    assert line["phone_number_id"] == number_id
                    done_at.setdefault(number_id, patches[number_id])
            segments.append({"point": str(point), "killed": killed, "new": len(done_at) - done})
        code, _, err = finish(start_cli(*args, "--summary-json", "p.json", env=env, cwd=tmp_path))
        assert code == 0, err
        stored = sandbox.state.numbers
    lines = read_report(report)
    assert not journal_path(report).exists()
    assert rows_of(lines) == list(range(2, PATCH_ROWS + 2))
    assert Counter(line["status"] for line in lines) == {"patched": PATCH_ROWS}
    assert all(stored[n]["agent"]["id"] == "agent_sandbox" for n in given)
    patches = patched_ids(instrument)
    again = {i: patches[i] - c for i, c in done_at.items() if patches[i] != c}
    assert not again, f"numbers PATCHed again after the report said patched: {again}"
    # A PATCH is sent again only when it was in flight at a kill: at most --concurrency a kill.
    assert sum(patches.values()) - PATCH_ROWS <= KILLS * 16
    summary = json.loads((tmp_path / "p.json").read_text())
    assert (summary["total"], summary["counts"]) == (PATCH_ROWS, {"patched": PATCH_ROWS})
    print_figures(
        "crash-retry-patch",
        rows=PATCH_ROWS,
        kills=sum(1 for s in segments if s["killed"]),
        segments=segments,
        patches=sum(patches.values()),
        numbers_patched_twice=sum(1 for c in patches.values() if c > 1),
        lookups=instrument.count("GET") - len(segments) - 1,
        lost=0,
    )


def test_sigkill_at_ten_seeded_points_during_reconcile_apply_then_again(tmp_path: Path) -> None:
    """reconcile --apply with 200 missing and 50 mismatched, killed 10 times: every row in the
    report or its journal after each kill; every import a kill's journal recorded still reads
    imported after the last --apply; at the end all in sync, each missing number POSTed once and
    each mismatch PATCHed at most twice (once more only if in flight at a kill)."""
    rng = random.Random(RECONCILE_SEED)
    points = kill_points(rng, KILLS, max_rows=60)
    given = [us_number(i) for i in range(RECONCILE_ROWS)]
    held = given[RECONCILE_MISSING:]
    existing = tuple(
        {
            "number": n,
            "provider_id": "prov_sandbox",
            "agent_id": "agent_old" if i < RECONCILE_MISMATCHED else "agent_sandbox",
        }
        for i, n in enumerate(held)
    )
    write_input(tmp_path / "fleet.csv", given, agent="agent_sandbox", provider="prov_sandbox")
    report = tmp_path / "fleet.reconcile.csv"  # reconcile's own default report
    args = ("reconcile", "fleet.csv", *API_ARGS)
    instrument = Instrument()
    faults = Faults(latency_ms=10, existing=existing, agents=("agent_sandbox", "agent_old"))
    sandbox = instrument.install(RunningSandbox(faults=faults, seed=RECONCILE_SEED))
    segments: list[dict[str, object]] = []
    recorded: set[str] = set()
    with sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        # Last night's report: the drift, every row (the state each kill falls back on).
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        assert code == 1, err
        drift = Counter(line["status"] for line in read_report(report))
        assert drift == {
            "in_sync": RECONCILE_ROWS - RECONCILE_MISSING - RECONCILE_MISMATCHED,
            "missing": RECONCILE_MISSING,
            "agent_mismatch": RECONCILE_MISMATCHED,
        }
        for point in points:
            watch = JournalWatch(report)
            # A killed run's journal: the next run's starts with the rows it keeps.
            base = len(kept_rows(journal_path(report)))
            process = start_cli(*args, "--apply", env=env, cwd=tmp_path)
            killed = signal_at(process, watch, point, base=base, sig=signal.SIGKILL)
            code, _, err = finish(process)
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            lines = read_state(report)
            assert rows_of(lines) == list(range(2, RECONCILE_ROWS + 2)), "a row went missing"
            recorded |= {line["number"] for line in lines if line["status"] == "imported"}
            segments.append(
                {"point": str(point), "killed": killed, **Counter(line["status"] for line in lines)}
            )
        code, _, err = finish(start_cli(*args, "--apply", env=env, cwd=tmp_path))
        assert code == 0, err
        applied = {line["number"]: line["status"] for line in read_report(report)}
        # What a killed run imported stays recorded as imported (rollback's candidates).
        lost = sorted(n for n in recorded if applied[n] != "imported")
        assert not lost, f"{len(lost)} imports recorded after a kill now read otherwise"
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        assert code == 0, err  # and a plain reconcile now finds it in sync
        stored = sandbox.state.numbers
        posts = sandbox.state.post_counts
    lines = read_report(report)
    assert Counter(line["status"] for line in lines) == {"in_sync": RECONCILE_ROWS}
    assert sorted(stored) == sorted(given)  # nothing deleted, nothing doubled
    assert all(stored[n]["agent"]["id"] == "agent_sandbox" for n in given)
    assert set(posts) == set(given[:RECONCILE_MISSING])
    assert max(posts.values()) == 1, "a number imported once was sent again"
    patches = patched_ids(instrument)
    assert len(patches) == RECONCILE_MISMATCHED
    assert max(patches.values()) <= 2
    print_figures(
        "crash-reconcile-apply",
        rows=RECONCILE_ROWS,
        kills=sum(1 for s in segments if s["killed"]),
        segments=segments,
        posts=sum(posts.values()),
        patches=sum(patches.values()),
        imports_recorded_after_kills=len(recorded),
        lost=0,
    )


def test_a_runaway_quote_deep_in_the_file_stops_run_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    """A quote never closed 5,000 rows down: exit 2 with one line, no request, no report."""
    lines = [f"{us_number(i)},row {i}" for i in range(5_000)]
    lines.append('+14155550199,"never closed')
    lines += [f"{us_number(10_000 + i)},after" for i in range(9_000)]  # past the 128 KiB limit
    (tmp_path / "in.csv").write_text("number,label\n" + "\n".join(lines) + "\n")
    with RunningSandbox() as sandbox:
        code, _, err = finish(
            start_cli(
                *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
                env=cli_env(sandbox.base_url),
                cwd=tmp_path,
            )
        )
        assert sandbox.state.stats()["requests"] == 0
    assert code == 2, err
    assert err.count("\n") == 1
    assert err.startswith("bulk-import: error: cannot read in.csv (stopped at line ")
    assert err.endswith("look for a quote that is opened and never closed\n")
    assert not (tmp_path / "in.report.csv").exists()


async def test_an_input_failing_halfway_still_reports_the_rows_in_flight() -> None:
    """If rows stop coming halfway, the requests in flight finish and reach the report first."""
    emitted: list[Outcome] = []
    control = StopControl()
    started: list[int] = []

    def rows() -> Iterator[Row]:
        for i in range(10):
            yield Row(i + 2, us_number(i), us_number(i))
        raise InputError("cannot read in.csv (the disk went away)")

    async def handle(row: Row) -> Outcome:
        started.append(row.row_number or 0)
        await asyncio.sleep(0.05)
        return Outcome(row, Status.IMPORTED)

    def emit(row: Row, outcome: Outcome | None) -> None:
        assert outcome is not None
        emitted.append(outcome)

    with pytest.raises(InputError, match="the disk went away"):
        await run_pool(
            rows(),
            handle=handle,
            emit=emit,
            not_sent=lambda row, reason: Outcome(row, Status.NOT_ATTEMPTED, error=reason),
            control=control,
            workers=4,
            max_consecutive_failures=25,
        )
    # Every row handed to a worker was reported, and nothing was sent after the failure.
    assert sorted(o.row.row_number or 0 for o in emitted) == sorted(started) == list(range(2, 12))
    assert control.stopping
    assert control.exit_code == 2
    assert control.reason.startswith("stopped by an error: cannot read in.csv")
