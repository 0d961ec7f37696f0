"""Reliability: crash consistency under SIGKILL, graceful stops, and chaos soaks.

Every run here is the real CLI in a subprocess against a sandbox served from this process, so
what is tested is what an operator gets: signals, exit codes, the report on disk, and the API's
own store. Seeds make the kill points and the fault dice repeatable; the exact row a kill lands
on still depends on timing, so every invariant is checked whatever that row is.

The CLI subprocesses are not traced by coverage (``cli_env(measured=False)``): they run code the
rest of the suite covers already, tracing would slow the heavy ones down by half, and writing
its data at exit would blur the timing ones. Each test prints one line of figures
(``pytest -s`` shows it); RELIABILITY.md records them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_fixtures import us_number

from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS, Outcome, Row, Status
from bulk_import.runner import StopControl, run_pool
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox

OK = frozenset({"imported", "already_imported"})
Line = dict[str, str]

# -- the crash-consistency run: 5,000 rows, 10 SIGKILLs -----------------------------------------
#: 5,000 rows at --concurrency 32 against a 1 ms sandbox: about 600-900 rows/s on 2 cores, so a
#: segment lasts 0.5-1.5 s (start-up included) and the whole test about 15-25 s.
CRASH_SEED = 20261127
CRASH_ROWS = 5_000
CRASH_KILLS = 10
CRASH_FAULTS = Faults(
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
CRASH_ARGS = ("--concurrency", "32", "--max-attempts", "12", "--timeout", "5")

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

# -- chaos: every fault at once, and 429 storms from a rate limit ---------------------------------
CHAOS_SEED = 777
WEBHOOK_EVERY = 97  # every 97th row's number fails its webhook (stored, no agent)
NOT_IN_ACCOUNT_EVERY = 101  # every 101st row's number is not in the Twilio account (400)


def chaos_numbers(numbers: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the numbers whose webhook fails and the numbers not in the account (disjoint)."""
    missing = tuple(n for i, n in enumerate(numbers) if i % NOT_IN_ACCOUNT_EVERY == 7)
    excluded = set(missing)
    webhook = tuple(
        n for i, n in enumerate(numbers) if i % WEBHOOK_EVERY == 50 and n not in excluded
    )
    return webhook, missing


def chaos_faults(rows: int, *, rate_limit: float) -> Faults:
    """Return every fault at once: latency, a rate limit, 429/5xx/drops, stored-then-500, 400s."""
    webhook, missing = chaos_numbers([us_number(i) for i in range(rows)])
    return Faults(
        latency_ms=2,
        rate_limit=rate_limit,
        retry_after="ms",
        retry_after_s=0,
        error_429=0.0005,
        error_500=0.02,
        error_502=0.01,
        error_503=0.01,
        drop=0.01,
        stored_then_500=0.02,
        webhook_fail_numbers=webhook,
        webhook_fail_fraction=0.005,
        not_in_account=missing,
    )


# -- helpers --------------------------------------------------------------------------------------


def write_numbers(path: Path, count: int) -> list[str]:
    """Write a CSV of ``count`` distinct valid numbers with labels; return the numbers."""
    given = [us_number(i) for i in range(count)]
    body = "".join(f"{number},row {i}\n" for i, number in enumerate(given))
    path.write_text("number,label\n" + body, encoding="utf-8")
    return given


def cli_env(base_url: str, *, key: str = DEFAULT_API_KEY, measured: bool = False) -> dict[str, str]:
    """Return a CLI environment for ``base_url``; unmeasured runs leave coverage out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARTESIA_") and (measured or not k.startswith("COVERAGE_"))
    }
    env["CARTESIA_API_KEY"] = key
    env["CARTESIA_BASE_URL"] = base_url
    return env


def start_cli(args: tuple[str, ...], *, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m bulk_import ARGS`` in the background, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "bulk_import", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for a started CLI; return its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def parse_report(path: Path) -> list[Line]:
    """Read a report or a journal cut by SIGKILL: a last line without its newline is dropped."""
    text = path.read_bytes().decode("utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
    lines = list(reader)
    for line in lines:
        assert None not in line, f"ragged report line {line}"
        assert None not in line.values(), f"ragged report line {line}"
    return lines


def rows_of(lines: list[Line]) -> list[int]:
    """Return the ``row`` of every line, in file order."""
    return [int(line["row"]) for line in lines]


def ok_lines(lines: list[Line]) -> dict[int, Line]:
    """Return the lines whose status is ok, by row."""
    return {int(line["row"]): line for line in lines if line["status"] in OK}


class Journal:
    """Count the data lines of a report while a run writes it, reading only what is new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode = self._stat_inode()
        self._offset = 0
        self.lines = -1  # the header is not a data line
        self.replaced = False

    def _stat_inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def poll(self) -> int:
        """Return the data lines of the journal this run started (-1: not started yet)."""
        inode = self._stat_inode()
        if inode is None or (not self.replaced and inode == self._inode):
            return -1
        if inode != self._inode:  # the run moved its fresh journal over the old report
            self._inode, self._offset, self.lines, self.replaced = inode, 0, -1, True
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        self.lines += chunk.count(b"\n")
        return self.lines


@dataclass(frozen=True, slots=True)
class Point:
    """Say when to signal a run: after ``rows`` new report lines, or ``seconds`` after start."""

    rows: int | None = None
    seconds: float | None = None

    def __str__(self) -> str:
        return f"after {self.rows} rows" if self.rows is not None else f"at {self.seconds:.2f} s"


def kill_points(rng: random.Random, count: int, *, max_rows: int) -> list[Point]:
    """Return ``count`` seeded points: two during start-up, the rest after 0..max_rows rows."""
    points = [Point(seconds=round(rng.uniform(0.05, 0.6), 2)) for _ in range(2)]
    points += [Point(rows=rng.randint(0, max_rows)) for _ in range(count - 2)]
    rng.shuffle(points)
    return points


def signal_at(
    process: subprocess.Popen[str], journal: Journal, point: Point, *, kept: int, sig: int
) -> bool:
    """Send ``sig`` at ``point`` (kept lines not counted); say whether the run was still going."""
    started = time.monotonic()
    deadline = started + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if point.seconds is not None:
            if time.monotonic() - started >= point.seconds:
                break
        elif point.rows is not None and journal.poll() >= kept + point.rows:
            break
        time.sleep(0.005)
    else:
        raise AssertionError(f"the run never reached its signal point {point}")
    process.send_signal(sig)
    return True


def leftover_temp_files(folder: Path) -> list[Path]:
    """Return the temporary files of the report that a killed run left behind."""
    return sorted(folder.glob(".*.tmp"))


def mode(path: Path) -> int:
    """Return a file's permission bits."""
    return path.stat().st_mode & 0o777


def print_figures(name: str, **figures: object) -> None:
    """Print one line of figures for RELIABILITY.md (shown by ``pytest -s``)."""
    print(f"\nFIGURES {name} " + json.dumps(figures, sort_keys=True, default=str))


# -- 1. crash consistency -------------------------------------------------------------------------


def test_sigkill_at_ten_seeded_points_then_resume_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    """After 10 SIGKILLs and resumes: every row once and ok, no number twice, none done re-sent."""
    rng = random.Random(CRASH_SEED)
    points = kill_points(rng, CRASH_KILLS, max_rows=450)
    given = write_numbers(tmp_path / "in.csv", CRASH_ROWS)
    report = tmp_path / "in.report.csv"
    run_args = ("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress", *CRASH_ARGS)
    first_ok: dict[int, Line] = {}  # row -> its ok line, as first seen in a report
    frozen: dict[str, int] = {}  # number -> its POSTs when a report first held it as ok
    segments: list[dict[str, object]] = []
    started = time.monotonic()
    with RunningSandbox(faults=CRASH_FAULTS, seed=CRASH_SEED) as sandbox:
        env = cli_env(sandbox.base_url)
        for i, point in enumerate(points):
            kept = len(first_ok)
            journal = Journal(report)
            process = start_cli(run_args + (("--resume",) if i else ()), env=env, cwd=tmp_path)
            killed = signal_at(process, journal, point, kept=kept, sig=signal.SIGKILL)
            code, _, err = finish(process)
            # A kill that lands as the run ends finds it finished: exit 0 is fine then.
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            assert "Traceback" not in err
            lines = parse_report(report) if report.exists() else []
            # A journal never holds a row twice, and a killed run holds only finished rows.
            assert len(set(rows_of(lines))) == len(lines)
            assert {line["status"] for line in lines} <= OK, Counter(
                line["status"] for line in lines
            )
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
                {"point": str(point), "killed": killed, "new_ok": len(oks) - kept, "ok": len(oks)}
            )

        code, _, err = finish(
            start_cli((*run_args, "--resume", "--summary-json", "s.json"), env=env, cwd=tmp_path)
        )
        assert code == 0, err
        stats = sandbox.state.stats(detail=True)
        stored = sandbox.state.numbers

    lines = parse_report(report)
    # Every input row exactly once, in order, and every one ok.
    assert rows_of(lines) == list(range(2, CRASH_ROWS + 2))
    assert {line["status"] for line in lines} <= OK
    assert [line["number"] for line in lines] == given
    for row, line in first_ok.items():
        assert lines[row - 2] == line, f"row {row} changed after it was done"
    # The API holds every number once, under the id the report gives.
    assert sorted(stored) == sorted(given)
    assert stats["stored"] == CRASH_ROWS
    for line in lines:
        if line["status"] == "imported":
            assert line["phone_number_id"] == stored[line["number"]]["id"]
    # No row was sent again once a report held it as done.
    posts_by_number: dict[str, int] = stats["posts_by_number"]
    resent = {n: posts_by_number[n] - c for n, c in frozen.items() if posts_by_number[n] != c}
    assert not resent, f"done rows sent again after a kill: {resent}"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["total"] == CRASH_ROWS
    assert summary["exit_code"] == 0
    # A kill during the final sort may leave a temporary file: it is private all the same.
    leftovers = leftover_temp_files(tmp_path)
    assert all(mode(path) == 0o600 for path in leftovers)
    assert mode(report) == 0o600
    print_figures(
        "crash",
        rows=CRASH_ROWS,
        kills=sum(1 for s in segments if s["killed"]),
        segments=segments,
        by_status=stats["by_status"],
        requests=stats["requests"],
        max_posts_per_number=max(posts_by_number.values()),
        numbers_posted_more_than_once=sum(1 for c in posts_by_number.values() if c > 1),
        already_imported=sum(1 for line in lines if line["status"] == "already_imported"),
        leftover_temp_files=len(leftovers),
        lost=0,
        doubled=0,
        seconds=round(time.monotonic() - started, 1),
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
                ("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
                env=cli_env(sandbox.base_url, measured=True),
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
        started.append(row.row or 0)
        await asyncio.sleep(0.05)
        return Outcome(row, Status.IMPORTED)

    with pytest.raises(InputError, match="the disk went away"):
        await run_pool(
            rows(),
            handle=handle,
            emit=emitted.append,
            control=control,
            workers=4,
            max_consecutive_failures=25,
        )
    # Every row handed to a worker was reported, and nothing was sent after the failure.
    assert sorted(o.row.row or 0 for o in emitted) == sorted(started) == list(range(2, 12))
    assert control.stopping
    assert control.exit_code == 2
    assert control.reason.startswith("stopped by an error: cannot read in.csv")


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
    given = write_numbers(tmp_path / "in.csv", GRACE_ROWS)
    report = tmp_path / "in.report.csv"
    run_args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--concurrency", str(GRACE_CONCURRENCY), "--max-attempts", "12", "--timeout", "5"),
    )
    done: dict[int, Line] = {}
    after_signal: list[int] = []
    stops: list[dict[str, object]] = []
    with RunningSandbox(faults=GRACE_FAULTS, seed=GRACE_SEED) as sandbox:
        env = cli_env(sandbox.base_url)
        for i, (sig, point) in enumerate(plan):
            journal = Journal(report)
            posts_before = sandbox.state.post_counts
            args = (*run_args, "--summary-json", "s.json", *(("--resume",) if i else ()))
            process = start_cli(args, env=env, cwd=tmp_path)
            assert signal_at(process, journal, point, kept=len(done), sig=sig)
            at_signal = sandbox.state.stats()["by_method"].get("POST", 0)
            code, _, err = finish(process)
            after_signal.append(sandbox.state.stats()["by_method"].get("POST", 0) - at_signal)
            assert code == 130, err
            assert "Traceback" not in err
            assert f"stopped early: interrupted by {sig.name}" in err
            lines = parse_report(report)
            counts = check_stopped_report(lines, rows=GRACE_ROWS, sig=sig, kept=done)
            summary = json.loads((tmp_path / "s.json").read_text())
            assert summary["counts"] == dict(counts)
            assert summary["exit_code"] == 130
            # Nothing done is lost: what the report says is done is in the API's store, and
            # what the store has beyond it was sent by a row the report says is not done.
            stored = set(sandbox.state.numbers)
            oks = ok_lines(lines)
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

        code, _, err = finish(start_cli((*run_args, "--resume"), env=env, cwd=tmp_path))
        assert code == 0, err
        stats = sandbox.state.stats(detail=True)
        stored_numbers = sandbox.state.numbers
    lines = parse_report(report)
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
    write_numbers(tmp_path / "in.csv", 20)
    args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--concurrency", "4", "--timeout", "0.5", "--summary-json", "s.json"),
    )
    with RunningSandbox(faults=Faults(latency_ms=2_000)) as sandbox:
        process = start_cli(args, env=cli_env(sandbox.base_url), cwd=tmp_path)
        deadline = time.monotonic() + 20
        while sandbox.state.stats()["requests"] < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.5))  # anywhere in the requests' 0.5 s
        signalled = time.monotonic()
        process.send_signal(sig)
        code, _, err = finish(process)
        elapsed = time.monotonic() - signalled
    assert code == 130, err
    assert "Traceback" not in err
    assert elapsed < 0.5 + 1.5, f"exited {elapsed:.2f} s after {sig.name}"
    lines = parse_report(tmp_path / "in.report.csv")
    counts = check_stopped_report(lines, rows=20, sig=sig, kept={})
    assert counts["failed"] >= 1  # the rows in flight: their request timed out, no retry
    assert counts["failed"] + counts["not_attempted"] == 20
    for line in lines:
        if line["status"] == "failed":
            assert "Timeout" in line["error"], line["error"]
    print_figures("stop-bounded-by-timeout", signal=sig.name, exit_s=round(elapsed, 2), **counts)


def test_second_signal_abandons_in_flight_then_resume_settles_them(tmp_path: Path) -> None:
    """SIGINT then SIGTERM: exit at once, rows in flight marked unknown; --resume settles them."""
    given = write_numbers(tmp_path / "in.csv", 12)
    args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--concurrency", "4", "--timeout", "30"),
    )
    report = tmp_path / "in.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=1_500)) as sandbox:
        env = cli_env(sandbox.base_url)
        process = start_cli(args, env=env, cwd=tmp_path)
        deadline = time.monotonic() + 20
        while sandbox.state.stats()["requests"] < 4 and time.monotonic() < deadline:
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
        lines = parse_report(report)
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
        sandbox.state.latency_s = 0.0
        code, _, err = finish(start_cli((*args, "--resume"), env=env, cwd=tmp_path))
        assert code == 0, err
        lines = parse_report(report)
        assert rows_of(lines) == list(range(2, 14))
        statuses = {line["number"]: line["status"] for line in lines}
        for line in unknown:  # found there by the resume: 409, not a second number
            assert statuses[line["number"]] == "already_imported"
        assert sorted(sandbox.state.numbers) == sorted(given)
        assert max(sandbox.state.post_counts.values()) <= 2
    print_figures("second-signal", exit_s=round(elapsed, 2), unknown=len(unknown), rows=12)


# -- 3. soak under chaos --------------------------------------------------------------------------


def chaos_run(tmp_path: Path, *, rows: int, rate_limit: float, seed: int) -> dict[str, object]:
    """Import ``rows`` through every fault at once, then retry-patch; check nothing is lost."""
    given = write_numbers(tmp_path / "in.csv", rows)
    webhook, missing = (set(numbers) for numbers in chaos_numbers(given))
    args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--agent-id", "agent_sandbox"),
        *("--no-progress", "--concurrency", "32", "--max-attempts", "15", "--timeout", "10"),
        *("--summary-json", "run.json"),
    )
    report = tmp_path / "in.report.csv"
    started = time.monotonic()
    with RunningSandbox(faults=chaos_faults(rows, rate_limit=rate_limit), seed=seed) as sandbox:
        env = cli_env(sandbox.base_url)
        code, _, err = finish(start_cli(args, env=env, cwd=tmp_path), timeout=1500)
        assert "Traceback" not in err
        assert code == 1, err  # webhook failures and numbers not in the account need attention
        lines = parse_report(report)
        run_stats = sandbox.state.stats(detail=True)
        run_seconds = time.monotonic() - started
        assert rows_of(lines) == list(range(2, rows + 2))
        assert [line["number"] for line in lines] == given
        by_number = {line["number"]: line for line in lines}
        for number in missing:
            line = by_number[number]
            assert line["status"] == "failed"
            assert line["http_status"] == "400"
            assert "not found in the provider account" in line["error"]
        for number in webhook:
            assert by_number[number]["status"] == "webhook_failed"
        other = Counter(line["status"] for n, line in by_number.items() if n not in missing)
        assert set(other) <= OK | {"webhook_failed"}, other
        # Every number but the ones not in the account is stored, once.
        stored = sandbox.state.numbers
        assert sorted(stored) == sorted(set(given) - missing)
        assert run_stats["stored"] == rows - len(missing)
        run_counts = Counter(line["status"] for line in lines)
        summary = json.loads((tmp_path / "run.json").read_text())
        assert summary["counts"] == dict(run_counts)
        assert summary["total"] == rows

        # retry-patch assigns the agent of every webhook failure, through the same chaos.
        patch_args = ("retry-patch", "in.report.csv", "--no-progress", "--max-attempts", "15")
        code, _, err = finish(start_cli(patch_args, env=env, cwd=tmp_path), timeout=600)
        assert "Traceback" not in err
        assert code == 0, err  # retry-patch answers for the rows it patches, all patched
        lines = parse_report(report)
        assert rows_of(lines) == list(range(2, rows + 2))
        after = Counter(line["status"] for line in lines)
        assert after["webhook_failed"] == 0, after
        assert after["patch_failed"] == 0, after
        assert after["patched"] == run_counts["webhook_failed"]
        stored = sandbox.state.numbers
        assert all(
            stored[n]["agent"] == {"id": "agent_sandbox", "name": "agent_sandbox"} for n in stored
        )
        stats = sandbox.state.stats(detail=True)
    return {
        "rows": rows,
        "rate_limit": rate_limit,
        "run_seconds": round(run_seconds, 1),
        "run_counts": dict(run_counts),
        "after_retry_patch": dict(after),
        "run_by_status": run_stats["by_status"],
        "by_status": stats["by_status"],
        "requests": stats["requests"],
        "max_posts_per_number": max(stats["posts_by_number"].values()),
        "lost": 0,
        "doubled": 0,
    }


def test_chaos_2000_rows_every_fault_at_once(tmp_path: Path) -> None:
    """2,000 rows through every fault and a rate limit: every row once, nothing lost or doubled."""
    print_figures("chaos-2000", **chaos_run(tmp_path, rows=2_000, rate_limit=400, seed=CHAOS_SEED))


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_soak_20000_rows_every_fault_and_429_storms(tmp_path: Path) -> None:
    """20,000 rows through every fault and 429 storms: completes, every row once, nothing lost."""
    print_figures("soak-20000", **chaos_run(tmp_path, rows=20_000, rate_limit=150, seed=CHAOS_SEED))
