"""Graceful stops: SIGINT and SIGTERM at seeded points, bounded by --timeout, a second signal.

Every run is the real CLI in a subprocess against a sandbox served from this process. After a
signal nothing new is sent, requests in flight finish (bounded by --timeout), the report is
complete (every row once, the unsent ``not_attempted``), exit 130; a second signal abandons the
requests in flight. Each test prints one line of figures (``pytest -s``); RELIABILITY.md has them.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    OK,
    Instrument,
    JournalWatch,
    Line,
    Point,
    cli_env,
    finish,
    numbers,
    print_figures,
    read_report,
    rows_of,
    signal_at,
    start_cli,
    write_input,
)

from bulk_import.sandbox import Faults, RunningSandbox

# -- graceful stops -------------------------------------------------------------------------------
GRACE_SEED = 424242
GRACE_ROWS = 1_000
GRACE_STOPS = 6
GRACE_CONCURRENCY = 16
GRACE_FAULTS = Faults(
    latency_ms=5,
    error_429=0.002,
    retry_after="ms",
    retry_after_s=0.05,
    error_500=0.03,
    error_503=0.02,
    drop=0.02,
    stored_then_500=0.03,
)


# -- 2. graceful stops ----------------------------------------------------------------------------


def check_stopped_report(
    lines: list[Line], *, rows: int, sig: signal.Signals, kept: dict[int, Line]
) -> Counter[str]:
    """Check the report of a run stopped by ``sig``; return its status counts."""
    assert rows_of(lines) == list(range(2, rows + 2)), "every row once, in order"
    counts = Counter(line["status"] for line in lines)
    assert set(counts) <= OK | {"failed", "not_attempted"}, counts
    for line in lines:
        if line["status"] == "not_attempted":
            assert line["error"] == f"not sent: interrupted by {sig.name}", line
            assert line["attempts"] == "0"
        elif line["status"] == "failed":
            # Only a row whose retry the stop cut short may fail: its last answer is quoted.
            assert line["error"].startswith(
                f"run stopped before a retry (interrupted by {sig.name})"
            )
    for row, line in kept.items():
        assert lines[row - 2] == line, f"row {row} done before was lost or changed"
    return counts


def test_sigint_and_sigterm_at_seeded_points_keep_every_row_once(tmp_path: Path) -> None:
    """Six seeded SIGINT/SIGTERM stops, each resumed: exit 130, a complete report, nothing lost."""
    rng = random.Random(GRACE_SEED)
    plan = [
        (rng.choice((signal.SIGINT, signal.SIGTERM)), Point(rows=rng.randint(0, 150)))
        for _ in range(GRACE_STOPS)
    ]
    given = numbers(GRACE_ROWS)
    write_input(tmp_path / "in.csv", given)
    report = tmp_path / "in.report.csv"
    run_args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--concurrency", str(GRACE_CONCURRENCY), "--max-attempts", "12", "--timeout", "5"),
    )
    done: dict[int, Line] = {}
    after_signal: list[int] = []
    stops: list[dict[str, object]] = []
    with RunningSandbox(faults=GRACE_FAULTS, seed=GRACE_SEED) as sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        for i, (sig, point) in enumerate(plan):
            watch = JournalWatch(report)
            posts_before = sandbox.state.post_counts
            args = (*run_args, "--summary-json", "s.json", *(("--resume",) if i else ()))
            process = start_cli(*args, env=env, cwd=tmp_path)
            assert signal_at(process, watch, point, base=len(done), sig=sig)
            at_signal = sandbox.state.stats()["by_method"].get("POST", 0)
            code, _, err = finish(process)
            after_signal.append(sandbox.state.stats()["by_method"].get("POST", 0) - at_signal)
            assert code == 130, err
            assert "Traceback" not in err
            assert f"stopped early: interrupted by {sig.name}" in err
            lines = read_report(report)
            counts = check_stopped_report(lines, rows=GRACE_ROWS, sig=sig, kept=done)
            summary = json.loads((tmp_path / "s.json").read_text())
            assert summary["counts"] == dict(counts)
            assert summary["exit_code"] == 130
            # Nothing done is lost: what the report says is done is in the API's store, and
            # what the store has beyond it was sent by a row the report says is not done.
            stored = set(sandbox.state.numbers)
            oks = {int(line["row"]): line for line in lines if line["status"] in OK}
            assert {line["number"] for line in oks.values()} <= stored
            posts = sandbox.state.post_counts
            not_done = {line["number"] for line in lines if line["status"] not in OK}
            assert stored - {line["number"] for line in oks.values()} <= not_done
            # A not_attempted row was not sent by this run.
            for line in lines:
                if line["status"] == "not_attempted":
                    assert posts[line["number"]] == posts_before[line["number"]]
            done.update(oks)
            stops.append({"signal": sig.name, "point": str(point), **counts})

        code, _, err = finish(start_cli(*run_args, "--resume", env=env, cwd=tmp_path))
        assert code == 0, err
        stats = sandbox.state.stats(detail=True)
        stored_numbers = sandbox.state.numbers
    lines = read_report(report)
    assert rows_of(lines) == list(range(2, GRACE_ROWS + 2))
    assert {line["status"] for line in lines} <= OK
    assert sorted(stored_numbers) == sorted(given)
    for row, line in done.items():
        assert lines[row - 2] == line
    # After a signal nothing new goes out: what the API counts after it is the requests in
    # flight or being written as the signal came (at most --concurrency, twice for the race of
    # this thread reading the count), never a flow of new rows.
    assert max(after_signal) <= 2 * GRACE_CONCURRENCY, after_signal
    print_figures(
        "graceful",
        rows=GRACE_ROWS,
        stops=stops,
        posts_after_signal=after_signal,
        by_status=stats["by_status"],
        requests=stats["requests"],
        max_posts_per_number=max(stats["posts_by_number"].values()),
        lost=0,
        doubled=0,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_requests_in_flight_at_a_stop_are_bounded_by_timeout(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Against a 2 s API with --timeout 0.5, a stop ends the run in timeout + 1.5 s, exit 130."""
    rng = random.Random(f"{GRACE_SEED}-{sig.name}")
    write_input(tmp_path / "in.csv", numbers(20))
    args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--concurrency", "4", "--timeout", "0.5", "--summary-json", "s.json"),
    )
    instrument = Instrument(post_delay_s=2.0)
    with instrument.install(RunningSandbox()) as sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        process = start_cli(*args, env=env, cwd=tmp_path)
        deadline = time.monotonic() + 20
        while instrument.count("POST") < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.5))  # anywhere in the requests' 0.5 s
        signalled = time.monotonic()
        process.send_signal(sig)
        code, _, err = finish(process)
        elapsed = time.monotonic() - signalled
    assert code == 130, err
    assert "Traceback" not in err
    assert elapsed < 0.5 + 1.5, f"exited {elapsed:.2f} s after {sig.name}"
    lines = read_report(tmp_path / "in.report.csv")
    counts = check_stopped_report(lines, rows=20, sig=sig, kept={})
    assert counts["failed"] >= 1  # the rows in flight: their request timed out, no retry
    assert counts["failed"] + counts["not_attempted"] == 20
    for line in lines:
        if line["status"] == "failed":
            assert "Timeout" in line["error"], line["error"]
    print_figures("stop-bounded-by-timeout", signal=sig.name, exit_s=round(elapsed, 2), **counts)


def test_second_signal_abandons_in_flight_then_resume_settles_them(tmp_path: Path) -> None:
    """SIGINT then SIGTERM: exit at once, rows in flight marked unknown; --resume settles them."""
    given = numbers(12)
    write_input(tmp_path / "in.csv", given)
    args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--concurrency", "4", "--timeout", "30"),
    )
    report = tmp_path / "in.report.csv"
    instrument = Instrument(post_delay_s=1.5)
    with instrument.install(RunningSandbox()) as sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        process = start_cli(*args, env=env, cwd=tmp_path)
        deadline = time.monotonic() + 20
        while instrument.count("POST") < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        assert process.poll() is None, "the first signal lets the requests in flight finish"
        second = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code, _, err = finish(process)
        elapsed = time.monotonic() - second
        assert code == 130, err
        assert "Traceback" not in err
        assert elapsed < 1.0, "the second signal must not wait for the 1.5 s answers"
        lines = read_report(report)
        assert rows_of(lines) == list(range(2, 14))
        unknown = [line for line in lines if line["status"] == "failed"]
        assert len(unknown) == 4
        for line in unknown:
            assert line["error"].startswith("interrupted while the request was in flight")
        assert Counter(line["status"] for line in lines)["not_attempted"] == 8
        # The abandoned requests still reach the API and are stored there.
        deadline = time.monotonic() + 10
        while sandbox.state.stats()["stored"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        instrument.post_delay_s = 0.0
        code, _, err = finish(start_cli(*args, "--resume", env=env, cwd=tmp_path))
        assert code == 0, err
        lines = read_report(report)
        assert rows_of(lines) == list(range(2, 14))
        statuses = {line["number"]: line["status"] for line in lines}
        for line in unknown:  # found there by the resume: 409, not a second number
            assert statuses[line["number"]] == "already_imported"
        assert sorted(sandbox.state.numbers) == sorted(given)
        assert max(sandbox.state.post_counts.values()) <= 2
    print_figures("second-signal", exit_s=round(elapsed, 2), unknown=len(unknown), rows=12)
