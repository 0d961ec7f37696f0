"""One command per report: two real CLI processes on one report, the second refused at once.

SPEC "One command at a time, and the disk": cron starting tonight's run while last night's still
runs, or two people, must not both write one report. The first command runs against one
sandbox, whose :class:`Gate` holds its requests after the first 40 until the second command is
done, so that the second surely meets the first mid-run however loaded the machine; the second
talks to a sandbox of its own, so that every request it might send is counted apart (it must
send none). The first then finishes as if alone: every row once, each number sent once.
``CASES`` holds one entry per command that writes a report from the API; ``rollback --apply``
is one more entry once it is merged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from conftest import (
    Instrument,
    JournalWatch,
    cli_env,
    finish,
    numbers,
    print_figures,
    read_report,
    start_cli,
    statuses,
    wait_for,
    write_input,
    write_report,
)

from bulk_import.output.lock import lock_path
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

ROWS = 200
LATENCY_MS = 2
#: Requests that change the account the gate lets through before it holds the rest.
GATE_AFTER = 40
AGENT = "agent_sandbox"
REFUSED = re.compile(
    r"bulk-import: error: (?P<report>\S+) is in use by another bulk-import \(pid (?P<pid>\d+), "
    r"`(?P<command>[^`]+)`, started (?P<started>\S+Z)\); wait for it to finish, or pass "
    r"another --report\n"
)


class Gate:
    """Hold the requests that change the account (POST, PATCH) after the first ``after``, until
    :meth:`open` is called: the command sending them stays mid-run as long as a test needs."""

    def __init__(self, after: int = GATE_AFTER) -> None:
        self.after = after
        self.passed = 0
        self._open = threading.Event()

    def install(self, sandbox: RunningSandbox) -> RunningSandbox:
        """Put the gate in front of the sandbox's handlers (before it starts)."""
        sandbox.app.middlewares.append(self._middleware)
        return sandbox

    def open(self) -> None:
        """Let every held request and every later one through."""
        self._open.set()

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method in ("POST", "PATCH"):
            self.passed += 1
            while self.passed > self.after and not self._open.is_set():
                await asyncio.sleep(0.005)
        return await handler(request)


def fleet_file(tmp_path: Path, given: list[str]) -> Faults:
    """Write ``fleet.csv`` (agent and provider per row); the account holds none of them."""
    write_input(tmp_path / "fleet.csv", given, agent=AGENT, provider="prov_sandbox")
    return Faults(latency_ms=LATENCY_MS)


def webhook_report(tmp_path: Path, given: list[str]) -> Faults:
    """Write ``fleet.report.csv``: every number imported without its agent (webhook_failed)."""
    write_report(
        tmp_path / "fleet.report.csv",
        [
            [
                *(i + 2, n, n, f"label {i}", "prov_sandbox", AGENT, "webhook_failed", 400),
                *(f"pn_{i + 1:012d}", 1, "Webhook configuration failed", "2026-12-01T00:00:00Z"),
            ]
            for i, n in enumerate(given)
        ],
    )
    existing = tuple({"number": n, "provider_id": "prov_sandbox"} for n in given)
    return Faults(latency_ms=LATENCY_MS, existing=existing)


@dataclass(frozen=True, slots=True)
class Case:
    """Say how to start one command that writes a report, and how it ends when left alone."""

    args: tuple[str, ...]
    report: str
    prepare: Callable[[Path, list[str]], Faults]
    #: The statuses of the finished report.
    ends: dict[str, int]
    #: Lines the journal starts with (retry-patch's: every line of REPORT).
    base: int = 0
    #: The request sent once per number: "POST" (an import) or "PATCH" (an agent).
    method: str = "POST"


CASES = {
    "run": Case(("run", "fleet.csv"), "fleet.report.csv", fleet_file, {"imported": ROWS}),
    "run --resume": Case(
        ("run", "fleet.csv", "--resume"), "fleet.report.csv", fleet_file, {"imported": ROWS}
    ),
    "retry-patch": Case(
        ("retry-patch", "fleet.report.csv"),
        "fleet.report.csv",
        webhook_report,
        {"patched": ROWS},
        base=ROWS,
        method="PATCH",
    ),
    "reconcile --apply": Case(
        ("reconcile", "fleet.csv", "--apply", "--report", "fleet.reconcile.csv"),
        "fleet.reconcile.csv",
        fleet_file,
        {"imported": ROWS},
    ),
}


def requests_per_number(instrument: Instrument, api: RunningSandbox, method: str) -> Counter[str]:
    """Count the imports (by number) or the PATCHes (by id) the first command sent."""
    if method == "POST":
        return api.state.post_counts
    prefix = "PATCH /agents/phone-numbers/"
    return Counter(
        {k[len(prefix) :]: n for k, n in instrument.calls.items() if k.startswith(prefix)}
    )


@pytest.mark.parametrize("name", list(CASES))
def test_a_second_command_on_the_same_report_is_refused_at_once(tmp_path: Path, name: str) -> None:
    """While a command writes a report, the same command again is refused: exit 2, one line
    naming the first (pid, command, start), no request sent, its summary JSON written; the
    first finishes alone: every row once, each number sent once, no lock file left."""
    case = CASES[name]
    given = numbers(ROWS)
    faults = case.prepare(tmp_path, given)
    report = tmp_path / case.report
    args = (*case.args, "--concurrency", "4", "--no-progress")
    instrument = Instrument()
    gate = Gate()
    with (
        gate.install(instrument.install(RunningSandbox(faults=faults))) as first_api,
        RunningSandbox() as second_api,
    ):
        watch = JournalWatch(report)
        first = start_cli(
            *args, "--summary-json", "first.json", env=cli_env(first_api.base_url), cwd=tmp_path
        )
        wait_for(
            lambda: watch.poll() >= case.base + 20 or first.poll() is not None,
            what="the first command's 20th row",
        )
        started = time.monotonic()
        second = start_cli(
            *args, "--summary-json", "second.json", env=cli_env(second_api.base_url), cwd=tmp_path
        )
        code, out, err = finish(second)
        refused_s = time.monotonic() - started
        first_was_running = first.poll() is None
        rows_then = watch.poll() - case.base
        gate.open()
        first_code, _, first_err = finish(first)
        second_requests = second_api.state.stats()["requests"]
        sent = requests_per_number(instrument, first_api, case.method)
    assert first_was_running, "the first command ended before the second started: no test"
    assert code == 2, err
    refused = REFUSED.fullmatch(err)
    assert refused is not None, err
    assert (refused["report"], int(refused["pid"])) == (case.report, first.pid)
    assert refused["command"].startswith(" ".join(case.args[:2]))
    assert "--summary-json=first.json" in refused["command"]
    assert dt.datetime.strptime(refused["started"], "%Y-%m-%dT%H:%M:%SZ")
    assert out == ""
    assert second_requests == 0
    summary = json.loads((tmp_path / "second.json").read_text())
    assert (summary["exit_code"], summary["error"]) == (
        2,
        err.strip()[len("bulk-import: error: ") :],
    )
    # The first command finished as if alone.
    assert first_code == 0, first_err
    lines = read_report(report)
    assert [int(line["row"]) for line in lines] == list(range(2, ROWS + 2))
    assert statuses(lines) == case.ends
    assert len(sent) == ROWS
    assert set(sent.values()) == {1}
    assert not lock_path(report).exists()
    assert not journal_path(report).exists()
    assert not list(tmp_path.glob(".*.tmp"))
    print_figures(
        f"lock-{name.replace(' ', '')}",
        rows=ROWS,
        first_rows_done_when_refused=rows_then,
        second_process_s=round(refused_s, 3),
        second_requests=second_requests,
        first_requests_per_number=max(sent.values()),
        report_rows=len(lines),
    )


def test_retry_patch_does_not_read_a_report_another_command_is_still_writing(
    tmp_path: Path,
) -> None:
    """retry-patch REPORT --report OTHER while a run writes REPORT: exit 2, one line naming
    the run, nothing sent, OTHER not written; once the run is done, it reads REPORT."""
    given = numbers(ROWS)
    faults = fleet_file(tmp_path, given)
    report = tmp_path / "fleet.report.csv"
    gate = Gate()
    with gate.install(RunningSandbox(faults=faults)) as first_api, RunningSandbox() as second_api:
        watch = JournalWatch(report)
        first = start_cli(
            "run", "fleet.csv", "--no-progress", env=cli_env(first_api.base_url), cwd=tmp_path
        )
        wait_for(lambda: watch.poll() >= 20 or first.poll() is not None, what="the 20th row")
        patch = ("retry-patch", "fleet.report.csv", "--report", "patched.csv", "--no-progress")
        code, _, err = finish(start_cli(*patch, env=cli_env(second_api.base_url), cwd=tmp_path))
        running = first.poll() is None
        gate.open()
        assert finish(first)[0] == 0
        requests = second_api.state.stats()["requests"]
        later, _, later_err = finish(
            start_cli(*patch, env=cli_env(second_api.base_url), cwd=tmp_path)
        )
    assert running
    assert code == 2
    assert re.fullmatch(
        r"bulk-import: error: REPORT fleet.report.csv is being written by another bulk-import "
        rf"\(pid {first.pid}, `run fleet.csv --no-progress`, started \S+Z\): it is not complete "
        r"yet; wait for that command to finish, then run this one again\n",
        err,
    ), err
    assert requests == 0
    assert later == 0, later_err
    assert statuses(read_report(tmp_path / "patched.csv")) == {"imported": ROWS}


def test_a_killed_command_leaves_no_lock_to_delete_by_hand(tmp_path: Path) -> None:
    """SIGKILL mid-run leaves the lock file (naming a dead pid) but no lock: the same command
    runs at once, finishes the work without re-sending what the journal holds, and removes it."""
    given = numbers(ROWS)
    faults = fleet_file(tmp_path, given)
    report = tmp_path / "fleet.report.csv"
    args = ("run", "fleet.csv", "--no-progress", "--concurrency", "4")
    gate = Gate()
    with gate.install(RunningSandbox(faults=faults)) as api:
        env = cli_env(api.base_url)
        watch = JournalWatch(report)
        killed = start_cli(*args, env=env, cwd=tmp_path)
        wait_for(lambda: watch.poll() >= 30 or killed.poll() is not None, what="the 30th row")
        killed.send_signal(signal.SIGKILL)
        gate.open()
        assert finish(killed)[0] == -signal.SIGKILL
        left = json.loads(lock_path(report).read_text())
        journaled = {line["number"] for line in read_report(journal_path(report))}
        posts_then = api.state.post_counts
        started = time.monotonic()
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        took_s = time.monotonic() - started
        posts = api.state.post_counts
    assert left["pid"] == killed.pid
    assert code == 0, err
    assert "in use" not in err
    lines = read_report(report)
    assert [int(line["row"]) for line in lines] == list(range(2, ROWS + 2))
    # A request in flight at the kill is sent again, and finds its number: already_imported.
    assert set(statuses(lines)) <= {"imported", "already_imported"}
    assert all(posts[n] == posts_then[n] for n in journaled), "a journaled number was re-sent"
    assert not lock_path(report).exists()
    print_figures(
        "lock-after-sigkill",
        rows=ROWS,
        journaled_at_kill=len(journaled),
        rerun_s=round(took_s, 2),
        max_posts_per_number=max(posts.values()),
    )
