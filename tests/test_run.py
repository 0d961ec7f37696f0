"""The import engine end to end: ``run`` against the sandbox over real loopback sockets.

In-process through ``importer.run`` where no signal is involved; the CLI as a subprocess for
signals, exit codes and what a person sees.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import us_number

from bulk_import import importer, retry
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, Secret
from bulk_import.models import REPORT_COLUMNS, Summary
from bulk_import.report import read_report as report_lines
from bulk_import.runner import Caller, Counters, Sent, StopControl
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox
from bulk_import.throttle import Throttle

OK = frozenset({"imported", "already_imported"})
CANARY = "sk_car_SECRET_canary_123"
CHAOS = Faults(
    error_429=0.08,
    retry_after="ms",
    retry_after_s=0.02,
    error_500=0.06,
    error_502=0.06,
    error_503=0.06,
    drop=0.06,
    stored_then_500=0.15,
)


# -- helpers ----------------------------------------------------------------------------------


def write_input(path: Path, numbers: list[str], *, extra: str = "") -> Path:
    """Write a CSV of numbers with labels (and ``extra`` raw lines at the end)."""
    lines = ["number,label"] + [f"{n},label {i}" for i, n in enumerate(numbers)]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def numbers(count: int, start: int = 0) -> list[str]:
    """Return ``count`` distinct valid numbers."""
    return [us_number(start + i) for i in range(count)]


def read_report(path: Path) -> list[dict[str, str]]:
    """Return the report's lines as dicts, checking its header."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
        return list(reader)


def assert_each_row_once(lines: list[dict[str, str]], count: int) -> None:
    """Check the report holds data rows 2..count+1, each exactly once, in order."""
    assert [int(line["row"]) for line in lines] == list(range(2, count + 2))


def statuses(lines: list[dict[str, str]]) -> Counter[str]:
    """Count the report's statuses."""
    return Counter(line["status"] for line in lines)


class Run:
    """Run imports in-process against one sandbox, with one input and one report."""

    def __init__(self, sandbox: RunningSandbox, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.source = tmp_path / "in.csv"
        self.report = tmp_path / "in.report.csv"
        self.summary_json = tmp_path / "summary.json"

    def __call__(
        self,
        *,
        key: str = DEFAULT_API_KEY,
        resume: bool = False,
        inputs: InputOptions | None = None,
        **api: Any,
    ) -> Summary:
        """Import the input; return the summary."""
        options: dict[str, Any] = {"concurrency": 4, "max_attempts": 10, "timeout": 5.0}
        options.update(api)
        return importer.run(
            source=str(self.source),
            input_options=inputs or InputOptions(provider_id="prov_sandbox"),
            api=ApiOptions(api_key=Secret(key), base_url=self.sandbox.base_url, **options),
            output=OutputOptions(
                report=self.report, summary_json=self.summary_json, quiet=True, progress=False
            ),
            resume=resume,
        )

    def lines(self) -> list[dict[str, str]]:
        """Return the report's lines."""
        return read_report(self.report)


@pytest.fixture
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale the backoff between retries down to milliseconds (its shape is test_retry's)."""
    original = retry.backoff_s
    monkeypatch.setattr(
        retry, "backoff_s", lambda attempt, **_: original(attempt, base=0.01, cap=0.5)
    )


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """Run a well-behaved sandbox."""
    with RunningSandbox() as running:
        yield running


@pytest.fixture
def run(sandbox: RunningSandbox, tmp_path: Path) -> Run:
    """Return an importer for the well-behaved sandbox."""
    return Run(sandbox, tmp_path)


# -- in-process runs --------------------------------------------------------------------------


def test_happy_path_imports_every_row_once(run: Run) -> None:
    """Every row is imported with its id, each number POSTed once, the report complete."""
    given = numbers(30)
    write_input(run.source, given)
    summary = run(inputs=InputOptions(provider_id="prov_sandbox", agent_id="agent_sandbox"))
    assert summary.exit_code == 0
    lines = run.lines()
    assert_each_row_once(lines, 30)
    stored = run.sandbox.state.numbers
    for i, line in enumerate(lines):
        number = given[i]
        assert (line["number"], line["status"], line["http_status"]) == (number, "imported", "201")
        assert line["phone_number_id"] == stored[number]["id"]
        assert line["label"] == f"label {i}"
        assert line["attempts"] == "1"
        assert line["error"] == ""
        # The sandbox validated the headers and the body: the label and agent arrived as sent.
        assert stored[number]["label"] == f"label {i}"
        assert stored[number]["agent"]["id"] == "agent_sandbox"
    assert run.sandbox.state.post_counts == Counter(dict.fromkeys(given, 1))
    stats = run.sandbox.state.stats()
    assert stats["by_status"] == {"201": 30}
    assert summary.requests == 30
    assert summary.counts == {"imported": 30}
    data = json.loads(run.summary_json.read_text())
    assert (data["command"], data["total"], data["requests"], data["exit_code"]) == (
        "run",
        30,
        30,
        0,
    )
    assert data["counts"] == {"imported": 30}
    assert run.report.stat().st_mode & 0o777 == 0o600
    assert run.summary_json.stat().st_mode & 0o777 == 0o600


def test_rerun_is_already_imported_and_exit_0(run: Run) -> None:
    """Running the same file again finds every number there: already_imported, exit 0."""
    given = numbers(12)
    write_input(run.source, given)
    assert run().exit_code == 0
    summary = run()
    assert summary.exit_code == 0
    lines = run.lines()
    assert_each_row_once(lines, 12)
    assert statuses(lines) == {"already_imported": 12}
    assert {line["http_status"] for line in lines} == {"409"}
    assert run.sandbox.state.stats()["stored"] == 12


def test_chaos_every_row_ends_ok_exactly_once(tmp_path: Path, short_backoff: None) -> None:
    """Through 429s, 5xx, drops and stored-then-500, every row ends ok once, no number twice."""
    given = numbers(60)
    with RunningSandbox(faults=CHAOS, seed=7) as sandbox:
        run = Run(sandbox, tmp_path)
        write_input(run.source, given)
        summary = run(concurrency=6, max_attempts=20)
        stats = sandbox.state.stats()
        stored = sandbox.state.numbers
        posts = sandbox.state.post_counts
    lines = run.lines()
    assert_each_row_once(lines, 60)
    bad = [line for line in lines if line["status"] not in OK]
    assert not bad, [(b["row"], posts[b["number"]], b["error"], stats["by_status"]) for b in bad]
    assert summary.exit_code == 0
    # Every number is stored once, under the id the report gives for imported rows.
    assert sorted(stored) == sorted(given)
    assert stats["stored"] == 60
    for line in lines:
        if line["status"] == "imported":
            assert line["phone_number_id"] == stored[line["number"]]["id"]
    # The faults did happen, and were retried.
    for status in ("429", "500", "502", "503", "dropped"):
        assert stats["by_status"].get(status, 0) > 0, stats["by_status"]
    assert any(int(line["attempts"]) > 1 for line in lines)
    # A POST stored, then answered 500, finds its own success on the retry.
    assert any(line["status"] == "already_imported" for line in lines)
    # Every request is counted the same by the client, the report and the server.
    assert sum(int(line["attempts"]) for line in lines) == summary.requests == stats["requests"]


def test_rate_limited_api_every_row_ends_ok(tmp_path: Path) -> None:
    """Against a rate-limited API every row ends imported, its 429s counted in its attempts."""
    given = numbers(60)
    faults = Faults(rate_limit=100, retry_after="ms", retry_after_s=0)
    with RunningSandbox(faults=faults) as sandbox:
        run = Run(sandbox, tmp_path)
        write_input(run.source, given)
        summary = run(concurrency=8, max_attempts=20)
        stats = sandbox.state.stats()
    assert summary.exit_code == 0
    lines = run.lines()
    assert_each_row_once(lines, 60)
    assert set(statuses(lines)) == {"imported"}
    assert stats["by_status"]["201"] == 60
    limited = stats["by_status"].get("429", 0)
    assert limited > 0
    assert sum(int(line["attempts"]) for line in lines) == 60 + limited == summary.requests


def test_wrong_key_stops_at_once(tmp_path: Path) -> None:
    """A 401 stops the run: at most --concurrency requests, exit 3, the rest not_attempted."""
    with RunningSandbox(api_key="sk_car_another_key") as sandbox:
        run = Run(sandbox, tmp_path)
        write_input(run.source, numbers(40))
        summary = run(concurrency=4)
        requests = sandbox.state.stats()["requests"]
    assert summary.exit_code == 3
    assert 1 <= requests <= 4
    assert summary.requests == requests
    lines = run.lines()
    assert_each_row_once(lines, 40)
    counts = statuses(lines)
    assert counts == {"failed": requests, "not_attempted": 40 - requests}
    failed = [line for line in lines if line["status"] == "failed"]
    assert {line["http_status"] for line in failed} == {"401"}
    assert all(line["error"].startswith("HTTP 401: Unauthorized") for line in failed)
    not_sent = [line for line in lines if line["status"] == "not_attempted"]
    assert all(line["error"].startswith("not sent: the API refused the key") for line in not_sent)
    assert "refused the key (HTTP 401)" in summary.stopped


def test_unknown_provider_stops_at_the_failure_limit(run: Run) -> None:
    """404 on every row stops at --max-consecutive-failures, exit 3, the rows after unsent."""
    write_input(run.source, numbers(50))
    summary = run(
        inputs=InputOptions(provider_id="prov_nobody"), concurrency=4, max_consecutive_failures=5
    )
    assert summary.exit_code == 3
    requests = run.sandbox.state.stats()["requests"]
    assert 5 <= requests <= 5 + 4 - 1
    lines = run.lines()
    assert_each_row_once(lines, 50)
    failed = [int(line["row"]) for line in lines if line["status"] == "failed"]
    not_sent = [int(line["row"]) for line in lines if line["status"] == "not_attempted"]
    assert len(failed) == requests
    assert len(failed) + len(not_sent) == 50
    assert max(failed) < min(not_sent)
    assert all("provider not found" in line["error"] for line in lines[: len(failed)])
    assert "5 rows failed in a row" in summary.stopped


def test_webhook_failures_invalid_and_duplicates(tmp_path: Path) -> None:
    """Webhook 400s are webhook_failed (exit 1); invalid and duplicate rows are never sent."""
    given = numbers(8)
    faults = Faults(webhook_fail_numbers=(given[2], given[5]))
    with RunningSandbox(faults=faults) as sandbox:
        run = Run(sandbox, tmp_path)
        # rows 10-13: invalid, duplicate of row 2, scientific notation, empty
        write_input(run.source, given, extra=f"hello,x\n{given[0]},dup\n4.15E+09,y\n,z\n")
        summary = run(inputs=InputOptions(provider_id="prov_sandbox", agent_id="agent_sandbox"))
        posts = sandbox.state.post_counts
        stored = sandbox.state.numbers
    assert summary.exit_code == 1
    lines = run.lines()
    assert_each_row_once(lines, 12)
    by_row = {int(line["row"]): line for line in lines}
    for row in (4, 7):
        assert by_row[row]["status"] == "webhook_failed"
        assert by_row[row]["http_status"] == "400"
        assert by_row[row]["error"].startswith("HTTP 400: Webhook configuration failed: ")
        assert "(request_id " in by_row[row]["error"]
        assert stored[by_row[row]["number"]]["agent"] is None
    assert [by_row[row]["status"] for row in (10, 11, 12, 13)] == [
        "invalid",
        "duplicate",
        "invalid",
        "invalid",
    ]
    assert by_row[11]["error"] == "duplicate of row 2"
    assert all(by_row[row]["attempts"] == "0" for row in (10, 11, 12, 13))
    # Only the 8 valid numbers were sent, each once: the duplicate never went out.
    assert posts == Counter(dict.fromkeys(given, 1))
    assert summary.counts == {"imported": 6, "webhook_failed": 2, "invalid": 3, "duplicate": 1}


def test_rate_cap_is_applied(run: Run) -> None:
    """--rate 50 spaces 26 requests over about half a second, not all at once."""
    write_input(run.source, numbers(26))
    started = time.monotonic()
    summary = run(concurrency=8, rate=50.0)
    elapsed = time.monotonic() - started
    assert summary.exit_code == 0
    assert run.sandbox.state.stats()["requests"] == 26
    assert 0.45 <= elapsed < 5


def test_resume_keeps_done_rows_and_redoes_the_rest(run: Run) -> None:
    """--resume keeps done rows, re-sends the others, and re-sends a row whose number changed."""
    given = numbers(10)
    write_input(run.source, given)
    assert run().exit_code == 0
    # Pretend rows 3 and 4 had failed, and row 5's number was corrected in the input since.
    lines = run.lines()
    lines[1].update(status="failed", http_status="503", phone_number_id="", error="boom")
    lines[2].update(status="not_attempted", phone_number_id="", error="not sent")
    lines[3].update(status="already_imported", http_status="409", phone_number_id="")
    with run.report.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REPORT_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(lines)
    given[3] = us_number(500)
    write_input(run.source, given)
    before = run.sandbox.state.post_counts
    summary = run(resume=True)
    assert summary.exit_code == 0
    after = run.sandbox.state.post_counts - before
    assert after == Counter({given[1]: 1, given[2]: 1, given[3]: 1})
    lines = run.lines()
    assert_each_row_once(lines, 10)
    by_row = {int(line["row"]): line for line in lines}
    assert by_row[3]["status"] == by_row[4]["status"] == "already_imported"
    assert (by_row[5]["status"], by_row[5]["number"]) == ("imported", given[3])
    assert summary.counts == {"imported": 8, "already_imported": 2}
    assert summary.total == len(lines)
    assert summary.requests == 3


def test_resume_without_a_report_imports_everything(run: Run) -> None:
    """--resume with no report yet is a plain run."""
    write_input(run.source, numbers(5))
    summary = run(resume=True)
    assert summary.exit_code == 0
    assert statuses(run.lines()) == {"imported": 5}


class GarbageHandler(socketserver.BaseRequestHandler):
    """Answer every connection with bytes that are not HTTP (a confused proxy or service)."""

    def handle(self) -> None:
        """Read the request, answer garbage, close."""
        self.request.recv(65536)
        self.request.sendall(b"NOT HTTP AT ALL\r\n\r\n")


def test_an_answer_that_is_not_http_fails_its_rows_not_the_run(tmp_path: Path) -> None:
    """A server that does not speak HTTP fails each row with a clear reason; the run finishes."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), GarbageHandler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            source = write_input(tmp_path / "in.csv", numbers(3))
            report = tmp_path / "report.csv"
            summary = importer.run(
                source=str(source),
                input_options=InputOptions(provider_id="prov_sandbox"),
                api=ApiOptions(
                    api_key=Secret(DEFAULT_API_KEY),
                    base_url=f"http://127.0.0.1:{server.server_address[1]}",
                    max_attempts=2,
                ),
                output=OutputOptions(report=report, quiet=True, progress=False),
            )
        finally:
            server.shutdown()
    assert summary.exit_code == 1
    lines = read_report(report)
    assert_each_row_once(lines, 3)
    for line in lines:
        assert line["status"] == "failed"
        assert line["attempts"] == "2"
        assert line["error"].startswith(
            "gave up after 2 attempts: RemoteProtocolError: not a valid HTTP answer: "
            "Bad status line"
        )


# -- the Caller: nothing new goes out once the run stops ---------------------------------------


async def test_stop_while_waiting_for_a_turn_sends_nothing() -> None:
    """A stop while a request waits for its turn under the rate cap leaves it unsent, at once."""
    throttle = Throttle(concurrency=2, rate=0.5)
    await throttle.acquire()  # the first turn is taken: the next one is 2 s away
    throttle.release(status=201)
    control = StopControl()
    counters = Counters()
    caller = Caller(throttle=throttle, control=control, counters=counters, max_attempts=3)
    calls: list[int] = []

    async def request() -> httpx.Response:
        calls.append(1)
        return httpx.Response(201)

    task = asyncio.ensure_future(caller.send(request))
    await asyncio.sleep(0.05)
    assert not task.done()
    control.stop("interrupted by SIGINT", exit_code=130)
    sent = await asyncio.wait_for(task, 0.5)
    assert sent == Sent(None, "not sent: interrupted by SIGINT", 0)
    assert calls == []
    assert counters.requests == 0
    # The slot it took was given back: both slots can be taken again.
    for _ in range(2):
        await asyncio.wait_for(throttle.acquire(stopping=lambda: True), 0.5)


async def test_stop_during_a_backoff_keeps_the_last_answer() -> None:
    """A stop while waiting to retry ends the retries: the last answer stands, no new request."""
    control = StopControl()
    counters = Counters()
    caller = Caller(
        throttle=Throttle(concurrency=1, rate=1000.0),
        control=control,
        counters=counters,
        max_attempts=5,
    )
    calls: list[int] = []

    async def request() -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, headers={"Retry-After": "60"})

    task = asyncio.ensure_future(caller.send(request))
    while not counters.retrying:
        await asyncio.sleep(0.01)
    control.stop("interrupted by SIGTERM", exit_code=130)
    sent = await asyncio.wait_for(task, 1)
    assert sent.response is not None
    assert (sent.response.status_code, sent.attempts) == (503, 1)
    assert calls == [1]
    assert counters.requests == 1
    assert counters.retrying == 0


# -- the CLI as a subprocess: signals, exit codes, what a person sees -------------------------


def cli_env(sandbox: RunningSandbox | None, key: str | None = DEFAULT_API_KEY) -> dict[str, str]:
    """Return the environment of a CLI run against ``sandbox``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")}
    if key is not None:
        env["CARTESIA_API_KEY"] = key
    if sandbox is not None:
        env["CARTESIA_BASE_URL"] = sandbox.base_url
    return env


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``bulk-import`` to the end; return its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "bulk_import", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``bulk-import`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "bulk_import", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(report: Path, rows: int, process: subprocess.Popen[str]) -> None:
    """Wait until the report being written holds at least ``rows`` data lines."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        if report.exists() and report.read_bytes().count(b"\n") > rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"the report never reached {rows} rows")


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a started CLI; return its exit code, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err


RUN_ARGS = ("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress", "--timeout", "5")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_exits_130_and_resume_finishes(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGINT/SIGTERM: exit 130, every row once; --resume then sends only the rows not done."""
    given = numbers(80)
    write_input(tmp_path / "in.csv", given)
    report = tmp_path / "in.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=40)) as sandbox:
        env = cli_env(sandbox)
        process = start_cli(*RUN_ARGS, "--concurrency", "2", env=env, cwd=tmp_path)
        wait_for_rows(report, 6, process)
        process.send_signal(sig)
        code, _, err = finish(process)
        assert code == 130, err
        assert "Traceback" not in err
        assert f"stopped early: interrupted by {sig.name}" in err
        lines = read_report(report)
        assert_each_row_once(lines, 80)
        counts = statuses(lines)
        assert set(counts) == {"imported", "not_attempted"}, counts
        assert 6 <= counts["imported"] < 80
        # Nothing done is lost: every number the API stored is in the report as imported.
        done = {line["number"] for line in lines if line["status"] == "imported"}
        assert set(sandbox.state.numbers) == done
        posts_before = sandbox.state.post_counts

        code, _, err = finish(start_cli(*RUN_ARGS, "--resume", env=env, cwd=tmp_path))
        assert code == 0, err
        assert "resuming: " in err
        lines = read_report(report)
        assert_each_row_once(lines, 80)
        assert statuses(lines) == {"imported": 80}
        resent = sandbox.state.post_counts - posts_before
        assert set(resent) == set(given) - done
        assert sandbox.state.post_counts == Counter(dict.fromkeys(given, 1))


def test_sigkill_mid_run_then_resume_completes(tmp_path: Path) -> None:
    """After SIGKILL the flushed rows survive, and --resume completes every row ok exactly once."""
    given = numbers(80)
    write_input(tmp_path / "in.csv", given)
    report = tmp_path / "in.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=40)) as sandbox:
        env = cli_env(sandbox)
        process = start_cli(*RUN_ARGS, "--concurrency", "3", env=env, cwd=tmp_path)
        wait_for_rows(report, 6, process)
        process.kill()
        process.communicate(timeout=10)
        # A kill between two writes may cut the last line: read it as --resume does.
        journal = report_lines(report)
        assert len(journal) >= 6
        assert {line.cells["status"] for line in journal} == {"imported"}
        done = {line.cells["number"] for line in journal}
        posts_before = sandbox.state.post_counts

        code, _, err = finish(start_cli(*RUN_ARGS, "--resume", env=env, cwd=tmp_path))
        assert code == 0, err
        lines = read_report(report)
        assert_each_row_once(lines, 80)
        assert set(statuses(lines)) <= OK
        resent = sandbox.state.post_counts - posts_before
        assert not set(resent) & done, "a row done before the kill was sent again"
        # Only the requests in flight at the kill may have reached the API twice.
        twice = [n for n, c in sandbox.state.post_counts.items() if c > 1]
        assert len(twice) <= 3
        assert sorted(sandbox.state.numbers) == sorted(given)


def test_stop_during_a_long_retry_after_sends_nothing_new(tmp_path: Path) -> None:
    """A SIGINT while every worker waits out a Retry-After ends the run at once, sending nothing."""
    write_input(tmp_path / "in.csv", numbers(10))
    faults = Faults(error_429=1.0, retry_after="seconds", retry_after_s=30)
    with RunningSandbox(faults=faults) as sandbox:
        process = start_cli(*RUN_ARGS, "--concurrency", "3", env=cli_env(sandbox), cwd=tmp_path)
        deadline = time.monotonic() + 20
        while sandbox.state.stats()["requests"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # every worker is now waiting out the 30 s pause
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process)
        elapsed = time.monotonic() - started
        assert code == 130, err
        assert elapsed < 5
        assert sandbox.state.stats()["requests"] == 3
    lines = read_report(tmp_path / "in.report.csv")
    assert_each_row_once(lines, 10)
    counts = statuses(lines)
    assert counts == {"failed": 3, "not_attempted": 7}
    for line in lines[:3]:
        assert line["error"].startswith("run stopped before a retry (interrupted by SIGINT)")


def test_second_sigint_abandons_requests_in_flight(tmp_path: Path) -> None:
    """A second SIGINT stops waiting for slow answers: those rows say the outcome is unknown."""
    write_input(tmp_path / "in.csv", numbers(10))
    with RunningSandbox(faults=Faults(latency_ms=20_000)) as sandbox:
        process = start_cli(*RUN_ARGS, "--concurrency", "2", env=cli_env(sandbox), cwd=tmp_path)
        deadline = time.monotonic() + 20
        while sandbox.state.stats()["requests"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert process.poll() is None, "the first SIGINT must let requests in flight finish"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process)
        assert time.monotonic() - started < 5
    assert code == 130, err
    assert "Traceback" not in err
    lines = read_report(tmp_path / "in.report.csv")
    assert_each_row_once(lines, 10)
    assert statuses(lines) == {"failed": 2, "not_attempted": 8}
    for line in lines[:2]:
        assert line["error"].startswith("interrupted while the request was in flight")


def test_api_key_never_shown(tmp_path: Path) -> None:
    """The key appears in no output, report or summary, even with --debug and failures."""
    given = numbers(20)
    write_input(tmp_path / "in.csv", given, extra="not a number,x\n")
    key_file = tmp_path / "key.txt"
    key_file.write_text(CANARY + "\n")
    seen: list[str] = []
    with RunningSandbox(faults=CHAOS, api_key=CANARY, seed=3) as sandbox:
        env = cli_env(sandbox, key=CANARY)
        args = (*RUN_ARGS, "--debug", "--max-attempts", "12", "--summary-json", "s1.json")
        done = cli(*args, env=env, cwd=tmp_path)
        assert done.returncode == 1, done.stderr  # the invalid row needs attention
        seen += [done.stdout, done.stderr, (tmp_path / "s1.json").read_text()]
        seen.append((tmp_path / "in.report.csv").read_text())
        assert sandbox.state.stats()["stored"] == 20
    with RunningSandbox(api_key="sk_car_not_the_canary") as sandbox:
        env = cli_env(sandbox, key=None)
        done = cli(
            *RUN_ARGS,
            *("--api-key-file", str(key_file), "--debug", "--summary-json", "s2.json"),
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 3, done.stderr
        seen += [done.stdout, done.stderr, (tmp_path / "s2.json").read_text()]
        seen.append((tmp_path / "in.report.csv").read_text())
    # An error with --debug prints its traceback: the key is not in it either.
    done = cli("run", "missing.csv", "--debug", env=cli_env(None, key=CANARY), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    seen += [done.stdout, done.stderr]
    for text in seen:
        assert CANARY not in text
        assert "SECRET_canary" not in text


def test_unreachable_api_fails_rows_without_a_traceback(tmp_path: Path) -> None:
    """Nothing listening: each row fails naming the connection error; exit 1, one clean run."""
    write_input(tmp_path / "in.csv", numbers(3))
    env = cli_env(None)
    env["CARTESIA_BASE_URL"] = "http://127.0.0.1:9"  # discard: nothing listens there
    done = cli(*RUN_ARGS, "--max-attempts", "2", env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = read_report(tmp_path / "in.report.csv")
    assert statuses(lines) == {"failed": 3}
    for line in lines:
        assert line["error"].startswith("gave up after 2 attempts: ClientConnectorError: ")
        assert "Cannot connect to host 127.0.0.1:9" in line["error"]


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (
            RUN_ARGS,
            None,
            "bulk-import: error: no API key: set CARTESIA_API_KEY, or pass --api-key-file PATH "
            "('-' reads stdin)",
        ),
        (
            (*RUN_ARGS, "--base-url", "http://api.cartesia.example"),
            DEFAULT_API_KEY,
            "bulk-import: error: refusing plain http:// to api.cartesia.example: the API key "
            "would cross the network unencrypted; use https:// (plain http is allowed for "
            "loopback hosts only)",
        ),
        (
            (*RUN_ARGS, "--report", "no/such/folder/r.csv"),
            DEFAULT_API_KEY,
            "bulk-import: error: cannot write no/such/folder/r.csv: folder no/such/folder "
            "does not exist",
        ),
        (
            ("run", "missing.csv", "--provider-id", "prov_sandbox"),
            DEFAULT_API_KEY,
            "bulk-import: error: cannot read missing.csv: no such file; check the path",
        ),
    ],
    ids=["no-key", "plain-http", "report-folder", "missing-input"],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    sandbox: RunningSandbox,
    args: tuple[str, ...],
    key: str | None,
    message: str,
) -> None:
    """Each usage error is one exact line on stderr, exit 2, nothing sent, no traceback."""
    write_input(tmp_path / "in.csv", numbers(3))
    done = cli(*args, env=cli_env(sandbox, key=key), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == message + "\n"
    assert done.stdout == ""
    assert sandbox.state.stats()["requests"] == 0
    assert not (tmp_path / "in.report.csv").exists()
