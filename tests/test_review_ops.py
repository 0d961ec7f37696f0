"""Review of issues 20 (one command per report, the disk) and 23 (providers link): probes.

Each test names what must hold by SPEC ("One command at a time, and the disk", "Crash safety",
"Providers"). Those the landed code fails are marked ``xfail(strict=True)`` with the reason, so
that the suite stays green and the fix turns them into passes (then drop the mark).
Real sockets on loopback: the sandbox's Cartesia and Twilio stand-ins, the CLI as a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from conftest import (
    BreaksAfter,
    JournalWatch,
    api_options,
    cli_env,
    finish,
    numbers,
    output_options,
    read_report,
    start_cli,
    statuses,
    wait_for,
    write_input,
)

from bulk_import.api.providers import may_be
from bulk_import.config import InputOptions, Secret, TwilioCredentials, TwilioOptions
from bulk_import.errors import BulkImportError, InternalError, UsageError
from bulk_import.jobs.linking import link_accounts
from bulk_import.jobs.reconcile import reconcile
from bulk_import.jobs.rollback import rollback
from bulk_import.models import AccountLink, Exit
from bulk_import.output.lock import Holder, ReportLock
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import ACCOUNT_SID, AUTH_TOKEN
from bulk_import.sandbox.twilio_store import TwilioOrg

KEY = "cartesia-bulk-import"
LINKS = "/agents/phone-numbers/providers"
SUBS = [f"AC{i:032x}" for i in range(1, 4)]
AGENT = "agent_sandbox"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- helpers --------------------------------------------------------------------------------------


def org_faults(subaccounts: int = 0) -> Faults:
    """Return a parent (no numbers) and ``subaccounts`` active subaccounts, none linked."""
    return Faults(
        providers=(),
        twilio_accounts=(),
        twilio_numbers=0,
        twilio_subaccounts=tuple({"numbers": 1} for _ in range(subaccounts)),
    )


def token_options(sandbox: RunningSandbox, *, subaccounts: bool) -> TwilioOptions:
    """Return the parent's auth token as Twilio options."""
    credentials = TwilioCredentials(
        Secret(ACCOUNT_SID), Secret(AUTH_TOKEN), kind="auth token", origin="tests"
    )
    return TwilioOptions(
        account_sid=ACCOUNT_SID,
        credentials=credentials,
        base_url=sandbox.base_url,
        max_attempts=3,
        timeout=5.0,
        subaccounts=subaccounts,
        concurrency=1,
    )


def link_with_keys(
    sandbox: RunningSandbox, *, subaccounts: bool = False, **api: object
) -> tuple[int, list[AccountLink]]:
    """Run ``providers link --create-keys`` in-process; return the exit code and the accounts."""
    report = link_accounts(
        twilio=token_options(sandbox, subaccounts=subaccounts),
        api=api_options(sandbox.base_url, concurrency=1, **api),
        region="us1",
        create_keys=True,
    )
    return report.exit_code, report.accounts


def org_of(sandbox: RunningSandbox) -> TwilioOrg:
    org = sandbox.state.twilio
    assert org is not None
    return org


def named(org: TwilioOrg, sid: str) -> list[str]:
    """Return the account's keys named cartesia-bulk-import."""
    return [key for key, name in org.keys_of(sid) if name == KEY]


def with_middleware(sandbox: RunningSandbox, func: Any) -> RunningSandbox:
    sandbox.app.middlewares.append(func)
    return sandbox


def provider_of(sandbox: RunningSandbox, sid: str) -> dict[str, str] | None:
    found = [p for p in sandbox.state.store.providers() if p["account_sid"] == sid]
    return found[0] if found else None


def org_env(base_url: str) -> dict[str, str]:
    """Return a CLI environment with the parent's auth token."""
    env = {k: v for k, v in cli_env(base_url, measured=False).items() if not k.startswith("TWILIO")}
    env.update(
        TWILIO_BASE_URL=base_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    return env


# -- issue 23: providers link ---------------------------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
def test_a_key_whose_answer_was_lost_is_not_left_orphaned() -> None:
    """Twilio makes the key but its answer is lost (500): the retry makes a second key, which is
    linked. The first must not stay behind: SPEC "no key is left orphaned"."""
    lost: list[str] = []

    @web.middleware
    async def lose_first_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/Keys.json") and not lost:
            await handler(request)  # the key is made in Twilio...
            lost.append(request.path)  # ...and its answer never arrives
            return web.json_response({"code": 20500, "message": "down", "status": 500}, status=500)
        return await handler(request)

    with with_middleware(RunningSandbox(faults=org_faults()), lose_first_key) as sandbox:
        code, accounts = link_with_keys(sandbox)
        keys = named(org_of(sandbox), ACCOUNT_SID)
        provider = provider_of(sandbox, ACCOUNT_SID)
    assert code == Exit.OK
    assert provider is not None
    assert len(keys) == 1, f"orphaned key(s): {keys}; {accounts}"
    assert may_be(provider["api_key_sid"], keys[0])


@pytest.mark.usefixtures("fast_retries")
def test_a_link_of_unknown_fate_never_deletes_the_key_the_provider_holds() -> None:
    """Cartesia makes the provider but answers 502, then 503 to everything (the retry and the
    look-up): whether the key is linked cannot be known, so it must be kept (deleting it breaks
    the live provider); the account may be reported failed, naming the key."""
    made: list[str] = []

    @web.middleware
    async def flaky(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == LINKS:
            if request.method == "POST" and not made:
                await handler(request)  # the provider is made with the new key
                made.append("provider")
                return web.json_response({"title": "Bad gateway"}, status=502)
            if made:
                return web.json_response({"title": "Unavailable"}, status=503)
        return await handler(request)

    with with_middleware(RunningSandbox(faults=org_faults()), flaky) as sandbox:
        link_with_keys(sandbox, max_attempts=2)
        provider = provider_of(sandbox, ACCOUNT_SID)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert provider is not None
    assert any(may_be(provider["api_key_sid"], key) for key in keys), (
        f"the provider {provider['id']} holds {provider['api_key_sid']}, deleted in Twilio"
    )


def test_sigterm_while_a_link_is_retried_never_deletes_the_key_it_linked(tmp_path: Path) -> None:
    """The CLI: Cartesia makes the provider, the answer is a 502, and the operator presses
    Ctrl-C (SIGTERM) then: exit 130, and the key the provider holds still exists in Twilio."""
    process: list[Any] = []
    made: list[str] = []

    @web.middleware
    async def terminate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path == LINKS and not made:
            await handler(request)
            made.append("provider")
            process[0].send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)  # the signal lands before the answer
            return web.json_response({"title": "Bad gateway"}, status=502)
        return await handler(request)

    with with_middleware(RunningSandbox(faults=org_faults()), terminate) as sandbox:
        args = ("providers", "link", "twilio:", "--create-keys")
        process.append(start_cli(*args, env=org_env(sandbox.base_url), cwd=tmp_path))
        code, out, err = finish(process[0])
        provider = provider_of(sandbox, ACCOUNT_SID)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.INTERRUPTED, err
    assert provider is not None
    assert any(may_be(provider["api_key_sid"], key) for key in keys), out + err


@pytest.mark.usefixtures("fast_retries")
def test_a_key_linked_meanwhile_by_another_run_is_not_deleted_as_stale() -> None:
    """While this command works on other accounts, another operator's run links SUBS[0] with
    its own cartesia-bulk-import key. This command must not delete that key (the live
    provider's) as "left by a killed run"."""
    theirs: list[str] = []

    @web.middleware
    async def other_operator(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = f"/2010-04-01/Accounts/{SUBS[0]}/Keys.json"
        if request.method == "GET" and request.path == path and not theirs:
            org = org_of(sandbox)
            key = org.create_key(SUBS[0], KEY)["sid"]
            sandbox.state.store.link(SUBS[0], "us1", key)  # linked by the other run, just now
            theirs.append(key)
        return await handler(request)

    sandbox = with_middleware(RunningSandbox(faults=org_faults(3)), other_operator)
    with sandbox:
        _, accounts = link_with_keys(sandbox, subaccounts=True)
        provider = provider_of(sandbox, SUBS[0])
        keys = named(org_of(sandbox), SUBS[0])
    assert theirs, "the other operator never ran"
    assert provider is not None
    assert may_be(provider["api_key_sid"], theirs[0])
    assert theirs[0] in keys, f"the linked key {theirs[0]} was deleted: {accounts}"


@pytest.mark.parametrize(
    "masked",
    ["*" * 30 + "abcd", "****abcd", "..." + "abcd"],
)
def test_may_be_is_conservative_for_a_mask_that_hides_its_type(masked: str) -> None:
    """'partially masked' (the OpenAPI) says nothing of the form: a mask that shows only the
    last four must still 'may be' the key that ends so (else a live key is deleted)."""
    assert may_be(masked, "SK" + "0" * 28 + "abcd")


# -- issue 20: the lock ---------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Return the pids of a process's children (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _big_input(path: Path, rows: int) -> Path:
    """Write a CSV over 4 MiB (parsed on several processes)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["number", "label"])
        for i, number in enumerate(numbers(rows)):
            writer.writerow([number, f"label {i} of the big file"])
    assert path.stat().st_size > 4 * 1024 * 1024
    return path


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="needs 2 cores")
def test_a_killed_validate_of_a_large_file_leaves_no_lock_behind(tmp_path: Path) -> None:
    """SPEC: 'The hold ends with the process, however it ends (SIGKILL included): no stale lock
    to delete by hand.' validate of a 4 MiB file parses on worker processes; SIGKILL it."""
    _big_input(tmp_path / "big.csv", 140_000)
    args = ("validate", "big.csv", "--provider-id", "prov_sandbox", "--no-progress", "--quiet")
    env = cli_env(None, key=None, measured=False)
    watch = JournalWatch(tmp_path / "big.validate.csv")
    process = start_cli(*args, env=env, cwd=tmp_path)
    orphans: list[int] = []
    try:
        wait_for(lambda: watch.poll() > 0 or process.poll() is not None, what="rows journaled")
        orphans = _children(process.pid)
        assert orphans, "no parse workers: the file is parsed in one process"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)  # not communicate(): the orphans hold its pipes open
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        time.sleep(0.5)
        started = time.monotonic()
        again = start_cli(*args, env=env, cwd=tmp_path)
        code, _, err = finish(again, timeout=120)
        refused_in = time.monotonic() - started
    finally:
        for pid in orphans:  # the test's own leftovers, by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert "is in use by another bulk-import" not in err, f"refused after {refused_in:.2f} s"
    assert code == 0, err


def test_a_report_named_through_a_symlink_is_the_same_report_to_the_lock(tmp_path: Path) -> None:
    """cron writes /srv/reports/current.csv (a symlink to tonight's file); a person runs with
    the real path: one of the two must be refused."""
    real = tmp_path / "fleet.report.csv"
    real.write_text("")
    link = tmp_path / "current.csv"
    link.symlink_to(real)
    holder = Holder(pid=os.getpid(), command="run fleet.csv", started_at="now", host="")
    first = ReportLock.take(real, holder=holder)
    second: ReportLock | None = None
    try:
        with pytest.raises(UsageError, match="in use by another bulk-import"):
            second = ReportLock.take(link, holder=holder)
    finally:
        if second is not None:
            second.release()
        first.release()


# -- issue 20: the journal the next run reads -----------------------------------------------------


def test_reconcile_apply_rerun_keeps_the_record_of_what_the_first_run_imported(
    tmp_path: Path,
) -> None:
    """reconcile --apply broken mid-run (exit 4, journal kept), run again: every number this
    tool imported must still read `imported` in the report (SPEC crash safety: 'the journal
    ... which the next run of the command reads'), so that rollback can undo them all."""
    rows = 200
    given = numbers(rows)
    source = write_input(tmp_path / "fleet.csv", given, agent=AGENT, provider="prov_sandbox")
    report = tmp_path / "fleet.reconcile.csv"

    def apply(transport: httpx.AsyncBaseTransport | None = None) -> Any:
        return reconcile(
            source=str(source),
            input_options=InputOptions(),
            api=api_options(sandbox.base_url, concurrency=8),
            output=output_options(report),
            apply=True,
            transport=transport,
        )

    with RunningSandbox(faults=Faults(latency_ms=2)) as sandbox:
        with pytest.raises(InternalError):
            apply(BreaksAfter(80))
        first_run = set(sandbox.state.numbers)
        assert 0 < len(first_run) < rows
        again = apply()
        plan = rollback(
            report=report,
            api=api_options(sandbox.base_url),
            output=output_options(tmp_path / "fleet.rollback.csv"),
        )
    lines = read_report(report)
    assert again.exit_code == 0
    by_number = {line["number"]: line["status"] for line in lines}
    lost = sorted(n for n in first_run if by_number[n] != "imported")
    assert not lost, f"{len(lost)} numbers imported by the first run now read {statuses(lines)}"
    assert plan.counts.get("would_delete") == rows


# -- issue 20: another input's report -------------------------------------------------------------


def test_the_nightly_reconcile_of_a_sheet_that_gained_a_row_is_not_refused(
    tmp_path: Path,
) -> None:
    """SPEC 'Nightly reconciliation: a cron job re-runs the same file'; only --resume refuses a
    report of another input. Ops add a number at the top of the sheet; tonight's reconcile (no
    --apply: its report records nothing but the account's state) must run."""
    given = numbers(20)
    source = write_input(tmp_path / "fleet.csv", given, agent=AGENT, provider="prov_sandbox")
    args = ("reconcile", "fleet.csv", "--agent-id", AGENT, "--no-progress", "--quiet")
    with RunningSandbox() as sandbox:
        env = cli_env(sandbox.base_url)
        first = finish(start_cli(*args, env=env, cwd=tmp_path))
        write_input(source, [*numbers(1, start=500), *given], agent=AGENT, provider="prov_sandbox")
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
    assert first[0] == 1  # every number missing: drift
    assert "belongs to another input" not in err
    assert code == 1, err


def test_rollback_of_a_report_with_a_killed_runs_journal_beside_it_misses_nothing(
    tmp_path: Path,
) -> None:
    """run (20 numbers), then run --resume of 30 killed after some rows: REPORT says 20
    imported, its journal 20 + the new ones. A rollback plan of REPORT must plan every number
    this tool imported (or refuse, saying to finish the run first), never silently 20."""
    given = numbers(30)
    source = write_input(tmp_path / "in.csv", given[:20], provider="prov_sandbox")
    report = tmp_path / "in.report.csv"
    args = ("run", "in.csv", "--no-progress", "--quiet", "--concurrency", "1")
    with RunningSandbox(faults=Faults(latency_ms=30)) as sandbox:
        env = cli_env(sandbox.base_url)
        assert finish(start_cli(*args, env=env, cwd=tmp_path))[0] == 0
        write_input(source, given, provider="prov_sandbox")
        watch = JournalWatch(report)
        process = start_cli(*args, "--resume", env=env, cwd=tmp_path)
        wait_for(lambda: watch.poll() >= 25, what="5 new rows journaled")
        process.send_signal(signal.SIGKILL)
        finish(process)
        journaled = read_report(journal_path(report))
        done = sum(1 for line in journaled if line["status"] == "imported")
        refused = ""
        try:
            plan = rollback(
                report=report,
                api=api_options(sandbox.base_url),
                output=output_options(tmp_path / "in.rollback.csv"),
            )
        except BulkImportError as exc:  # refusing, naming the journal, is fine too
            refused = str(exc)
    if refused:
        assert "journal" in refused
        return
    assert done >= 25
    assert plan.counts.get("would_delete") == done, plan.counts


def _keys_by_state(org: TwilioOrg, providers: list[dict[str, str]]) -> dict[str, int]:
    """Count the cartesia-bulk-import keys: linked (a provider may mask it) or orphan."""
    counts = {"linked": 0, "orphan": 0}
    for sid in org.statuses:
        masks = [p["api_key_sid"] for p in providers if p["account_sid"] == sid]
        for key in named(org, sid):
            counts["linked" if any(may_be(m, key) for m in masks) else "orphan"] += 1
    return counts


def test_a_closed_stdout_leaves_no_key_orphaned(tmp_path: Path) -> None:
    """`providers link twilio: --subaccounts --create-keys | head -2`: the reader goes away
    after two lines. Whatever the command then does, no key it made may be left unlinked."""
    faults = Faults(
        providers=(),
        twilio_accounts=(),
        twilio_numbers=0,
        twilio_subaccounts=tuple({} for _ in range(12)),
        latency_ms=150,
        twilio_latency_ms=5,
    )
    args = ("providers", "link", "twilio:", "--subaccounts", "--create-keys", "--concurrency", "4")
    with RunningSandbox(faults=faults) as sandbox:
        process = start_cli(*args, env=org_env(sandbox.base_url), cwd=tmp_path)
        assert process.stdout is not None
        first = [process.stdout.readline() for _ in range(2)]
        process.stdout.close()  # the reader is gone: the next line is EPIPE
        code = process.wait(timeout=60)
        err = process.stderr.read() if process.stderr is not None else ""
        keys = _keys_by_state(org_of(sandbox), sandbox.state.store.providers())
    assert all(line.startswith("twilio:") for line in first), first
    assert keys["orphan"] == 0, f"exit {code}, {keys}: {err[-600:]}"
    assert "internal error" not in err


# -- outputs that overwrite one another -----------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "target"),
    [
        ("--summary-json", "in.report.csv"),
        ("--html", "in.report.csv"),
        ("--summary-json", "in.csv"),
    ],
)
def test_an_output_naming_the_report_or_the_input_is_refused(
    tmp_path: Path, option: str, target: str
) -> None:
    """A cron line with --summary-json pointing at the report (or INPUT): the run must be
    refused (exit 2) before anything is sent, never end with the report's rows replaced."""
    given = numbers(10)
    write_input(tmp_path / "in.csv", given, provider="prov_sandbox")
    with RunningSandbox() as sandbox:
        code, _, err = finish(
            start_cli(
                *("run", "in.csv", "--no-progress", "--quiet", option, target),
                env=cli_env(sandbox.base_url),
                cwd=tmp_path,
            )
        )
        sent = sandbox.state.stats()["by_method"].get("POST", 0)
    path = tmp_path / target
    start = path.read_text()[:40] if path.exists() else ""
    assert code == 2, f"exit {code}; {target} now starts {start!r}"
    assert sent == 0, err
    if target == "in.csv":
        assert start.startswith("number,label"), start  # the input as it was
