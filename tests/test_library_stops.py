"""The Python API stopped: Ctrl-C (both ways a sync call hears it), a cancelled async call,
SIGKILL of a script, and a report another call holds. Every row and every POST is counted.

A script using the library runs as a subprocess against a sandbox served from this process,
so that its SIGINT is a real one: as Ctrl-C in a terminal, or the kernel's interrupt in Jupyter.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import pytest
from conftest import (
    OK,
    Instrument,
    JournalWatch,
    Point,
    cli,
    cli_env,
    finish,
    kill_points,
    library_api,
    numbers,
    print_figures,
    read_report,
    read_state,
    rows_of,
    signal_at,
)

import bulk_import
from bulk_import.jobs.pool import IN_FLIGHT_UNKNOWN
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

#: A script a person could write: run NUMBERS (one a line) into the sandbox at BASE_URL.
#: ``loop`` calls the sync function from inside asyncio.run (as a notebook does);
#: ``main`` from plain code. It prints what it got back, and whether its handlers survived.
SCRIPT = """
import asyncio, json, signal, sys
import bulk_import

way, base_url, report, given, resume = sys.argv[1:6]
numbers = open(given).read().split()

def on_term(signum, frame):
    raise SystemExit(99)

signal.signal(signal.SIGTERM, on_term)

def call():
    return bulk_import.run(
        numbers, provider_id="prov_sandbox", base_url=base_url, api_key="sk_car_sandbox",
        report=report, resume=resume == "resume", concurrency=4, timeout=5,
    )

async def notebook():
    return call()

try:
    result = asyncio.run(notebook()) if way == "loop" else call()
    outcome = "returned"
except bulk_import.Interrupted as stop:
    result, outcome = stop.result, "interrupted"
print(json.dumps({
    "outcome": outcome,
    "exit_code": result.exit_code,
    "counts": result.summary["counts"],
    "stopped": result.summary.get("stopped", ""),
    "rows": len(result.report),
    "statuses": list(result.report["status"]),
    "handlers_kept": signal.getsignal(signal.SIGTERM) is on_term
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler,
}))
"""
ROWS = 300
PROVIDER = "prov_sandbox"


def start_script(
    tmp_path: Path, way: str, base_url: str, *, resume: bool = False
) -> subprocess.Popen[str]:
    """Start the script on ``numbers.txt`` writing ``fleet.report.csv``."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    args = [way, base_url, "fleet.report.csv", "numbers.txt", "resume" if resume else "-"]
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=cli_env(None, key=None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outcome_of(process: subprocess.Popen[str]) -> dict[str, object]:
    """Wait for the script; return what it printed."""
    code, out, err = finish(process)
    assert code == 0, err
    assert "Traceback" not in err
    printed: dict[str, object] = json.loads(out)
    return printed


@pytest.mark.parametrize("way", ["main", "loop"])
def test_ctrl_c_stops_a_call_as_sigint_stops_the_cli_then_resume_finishes(
    tmp_path: Path, way: str
) -> None:
    """SIGINT mid-call: Interrupted with the Result (130), every row once in the report, the rest
    not_attempted, the caller's handlers back; resume=True then sends the rest, none twice."""
    given = numbers(ROWS)
    (tmp_path / "numbers.txt").write_text("\n".join(given))
    report = tmp_path / "fleet.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=20)) as sandbox:
        watch = JournalWatch(report)
        process = start_script(tmp_path, way, sandbox.base_url)
        assert signal_at(process, watch, Point(rows=40), base=0, sig=signal.SIGINT)
        stopped = outcome_of(process)
        lines = read_report(report)
        posts_then = Counter(sandbox.state.post_counts)
        finished = outcome_of(start_script(tmp_path, way, sandbox.base_url, resume=True))
        posts = sandbox.state.post_counts
    assert stopped["outcome"] == "interrupted"
    assert stopped["exit_code"] == 130
    assert stopped["stopped"] == "interrupted by SIGINT"
    assert stopped["handlers_kept"] is True
    assert rows_of(lines) == list(range(2, ROWS + 2))
    counts = Counter(line["status"] for line in lines)
    assert set(counts) == {"imported", "not_attempted"}, counts
    assert 40 <= counts["imported"] < ROWS
    assert stopped["statuses"] == [line["status"] for line in lines]
    # Requests in flight finished: what the report says is done is in the account, no more.
    assert set(posts_then) == {line["number"] for line in lines if line["status"] == "imported"}
    assert finished == {
        "outcome": "returned",
        "exit_code": 0,
        "counts": {"imported": ROWS},
        "stopped": "",
        "rows": ROWS,
        "statuses": ["imported"] * ROWS,
        "handlers_kept": True,
    }
    assert sorted(posts) == sorted(given)
    assert set(posts.values()) == {1}, "a number was sent twice"
    print_figures(
        f"library-ctrl-c-{way}",
        rows=ROWS,
        imported_at_stop=counts["imported"],
        not_attempted=counts["not_attempted"],
        posts=sum(posts.values()),
        max_posts_per_number=max(posts.values()),
    )


def test_sigkill_of_a_script_leaves_a_journal_the_same_call_finishes(tmp_path: Path) -> None:
    """Five SIGKILLs at seeded points, the same call again each time: every row once and
    imported, and no number the journal held as done sent again."""
    given = numbers(1_500)
    (tmp_path / "numbers.txt").write_text("\n".join(given))
    report = tmp_path / "fleet.report.csv"
    points = kill_points(random.Random(20261206), 5, max_rows=250)
    frozen: dict[str, int] = {}
    with RunningSandbox(faults=Faults(latency_ms=2, error_500=0.02, drop=0.01)) as sandbox:
        for point in points:
            watch = JournalWatch(report)
            process = start_script(tmp_path, "main", sandbox.base_url)
            killed = signal_at(process, watch, point, base=len(frozen), sig=signal.SIGKILL)
            code, _, err = finish(process)
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            lines = read_state(report)
            assert len(set(rows_of(lines))) == len(lines)
            assert {line["status"] for line in lines} <= OK
            posts = sandbox.state.post_counts
            for line in lines:
                frozen.setdefault(line["number"], posts[line["number"]])
        finished = outcome_of(start_script(tmp_path, "main", sandbox.base_url))
        posts = sandbox.state.post_counts
        stored = sandbox.state.numbers
    assert finished["exit_code"] == 0
    assert finished["rows"] == len(given)
    lines = read_report(report)
    assert not journal_path(report).exists()
    assert [line["number"] for line in lines] == given
    assert {line["status"] for line in lines} <= OK
    assert sorted(stored) == sorted(given)
    resent = {n: posts[n] - c for n, c in frozen.items() if posts[n] != c}
    assert not resent, f"done rows sent again after a kill: {resent}"
    print_figures(
        "library-sigkill",
        rows=len(given),
        kills=len(points),
        journaled_before_the_last_run=len(frozen),
        posts=sum(posts.values()),
        numbers_posted_more_than_once=sum(1 for n in posts.values() if n > 1),
        resent=0,
    )


Task = asyncio.Future[bulk_import.Result]


async def started(report: Path, rows: int, call: Awaitable[bulk_import.Result]) -> Task:
    """Start ``call`` as a task; return it once its journal holds ``rows`` rows."""
    task = asyncio.ensure_future(call)
    watch = JournalWatch(report)
    while watch.poll() < rows and not task.done():
        await asyncio.sleep(0.01)
    return task


async def test_a_cancelled_async_call_finishes_its_report_then_resume_finishes(
    tmp_path: Path,
) -> None:
    """Cancelling run_async stops it as Ctrl-C does: CancelledError once the report is written
    (the rows not sent not_attempted); resume=True then sends the rest, none twice."""
    given = numbers(200)
    report = tmp_path / "fleet.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=20)) as sandbox:
        api = library_api(sandbox)
        call = bulk_import.run_async(
            given, provider_id=PROVIDER, report=report, concurrency=4, **api
        )
        task = await started(report, 30, call)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        lines = read_report(report)
        posts_then = set(sandbox.state.post_counts)
        done = await bulk_import.run_async(
            given, provider_id=PROVIDER, report=report, resume=True, concurrency=4, **api
        )
        posts = sandbox.state.post_counts
    counts = Counter(line["status"] for line in lines)
    assert set(counts) == {"imported", "not_attempted"}, counts
    assert {line["error"] for line in lines if line["status"] == "not_attempted"} == {
        "not sent: interrupted by cancellation"
    }
    assert posts_then == {line["number"] for line in lines if line["status"] == "imported"}
    assert done.ok
    assert set(posts.values()) == {1}


async def test_a_second_cancel_abandons_the_requests_in_flight(tmp_path: Path) -> None:
    """Cancelled twice, a call whose POSTs hang does not wait for them: their rows are failed
    (outcome unknown), the rest not_attempted, the report written at once."""
    report = tmp_path / "fleet.report.csv"
    instrument = Instrument(post_delay_s=10)
    with instrument.install(RunningSandbox()) as sandbox:
        call = bulk_import.run_async(
            numbers(20), provider_id=PROVIDER, report=report, concurrency=4, **library_api(sandbox)
        )
        task = asyncio.ensure_future(call)
        while instrument.count("POST") < 4:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.1)
        assert not task.done(), "the first cancel waits for the requests in flight"
        task.cancel()
        began = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        waited = time.monotonic() - began
    lines = read_report(report)
    assert waited < 3
    assert Counter(line["status"] for line in lines) == {"failed": 4, "not_attempted": 16}
    assert {line["error"] for line in lines if line["status"] == "failed"} == {IN_FLIGHT_UNKNOWN}


async def test_a_report_is_held_for_the_whole_call(tmp_path: Path) -> None:
    """While a call writes report=, another call (or the CLI) on it is refused, exit 2 / a
    ValueError naming the holder; the first finishes alone and no lock file is left."""
    given = numbers(120)
    report = tmp_path / "fleet.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=50)) as sandbox:  # 3 s at concurrency 2
        api = library_api(sandbox)
        call = bulk_import.run_async(
            given, provider_id=PROVIDER, report=report, concurrency=2, **api
        )
        first = await started(report, 5, call)
        with pytest.raises(
            ValueError, match=r"fleet.report.csv is in use by another bulk-import"
        ) as held:
            bulk_import.run(given, provider_id=PROVIDER, report=report, **api)
        (tmp_path / "fleet.csv").write_text("number\n" + "\n".join(given) + "\n")
        refused = await asyncio.to_thread(
            cli,
            *("run", "fleet.csv", "--provider-id", "prov_sandbox", "--report", str(report)),
            env=cli_env(sandbox.base_url),
            cwd=tmp_path,
        )
        assert not first.done()
        result = await first
        posts = sandbox.state.post_counts
    assert "`run '<numbers>'`" in str(held.value)
    assert refused.returncode == 2, refused.stderr
    assert "`run '<numbers>'`" in refused.stderr
    assert result.ok
    assert set(posts.values()) == {1}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fleet.csv", "fleet.report.csv"]
