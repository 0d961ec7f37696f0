"""An internal error (exit 4) keeps the work resumable: never a partial report published as whole.

A bug mid-run (here: a transport that raises ``RuntimeError`` after N requests, as the clock
stepped back raised ``OverflowError`` in the limiter) must leave the report as it was, keep the
journal of the rows that finished, remove every temporary file, and say to run the same command
again; which then finishes the work, sending nothing the journal holds. In-process against the
sandbox over real sockets, for ``run``, ``retry-patch`` and ``reconcile --apply``; then the
one line the CLI prints.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import (
    BreaksAfter,
    Instrument,
    api_options,
    numbers,
    output_options,
    print_figures,
    read_report,
    statuses,
    write_input,
    write_report,
)

from bulk_import.cli import main
from bulk_import.config import InputOptions
from bulk_import.errors import InternalError
from bulk_import.jobs import importing
from bulk_import.jobs.importing import run as run_job
from bulk_import.jobs.patching import retry_patch
from bulk_import.jobs.reconcile import reconcile
from bulk_import.models import Outcome, Row
from bulk_import.output.report import Journal, journal_path
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox

AGENT = "agent_sandbox"


def kept_message(journal: Path) -> str:
    """Return what the InternalError says was kept."""
    return (
        f"RuntimeError: the clock went backwards (the journal {journal} keeps the rows that "
        "finished: run the same command again to finish the work)"
    )


def leftovers(folder: Path) -> list[str]:
    """Return the temporary and lock files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


def test_run_internal_error_keeps_the_journal_and_the_old_report_then_finishes(
    tmp_path: Path,
) -> None:
    """A bug after 300 requests of a 1,000-row run: InternalError, the earlier report byte for
    byte, the journal of the rows that finished; the same command finishes the work without
    POSTing again any number the journal holds."""
    rows = 1_000
    given = numbers(rows)
    source = write_input(tmp_path / "in.csv", given)
    report = tmp_path / "in.report.csv"
    summary_json = tmp_path / "s.json"

    def run(transport: httpx.AsyncBaseTransport | None = None) -> Any:
        return run_job(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(sandbox.base_url, concurrency=8),
            output=output_options(report, summary_json=summary_json),
            transport=transport,
        )

    with RunningSandbox(faults=Faults(latency_ms=2)) as sandbox:
        write_input(tmp_path / "in.csv", given[:100])
        assert run().exit_code == 0  # last week's report: the first 100 rows
        before = report.read_bytes()
        write_input(tmp_path / "in.csv", given)
        with pytest.raises(InternalError) as failed:
            run(BreaksAfter(300))
        untouched = report.read_bytes() == before
        kept = read_report(journal_path(report))
        posts_then = sandbox.state.post_counts
        summary = json.loads(summary_json.read_text())
        again = run()
        posts = sandbox.state.post_counts
        lines = read_report(report)
    journal = journal_path(report)
    assert str(failed.value) == kept_message(journal)
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert untouched, "a partial report was published"
    assert (summary["exit_code"], summary["journal"]) == (4, str(journal))
    assert summary["error"] == "internal error: RuntimeError: the clock went backwards"
    done = {line["number"] for line in kept if line["status"] in ("imported", "already_imported")}
    assert len(done) >= 200
    assert again.exit_code == 0
    assert [line["number"] for line in lines] == given
    assert all(posts[n] == posts_then[n] for n in done), "a number the journal held was re-sent"
    assert not journal.exists()
    assert leftovers(tmp_path) == []
    print_figures(
        "internal-error-run",
        rows=rows,
        requests_before_the_bug=300,
        journal_done_rows=len(done),
        rerun_posts=sum(posts.values()) - sum(posts_then.values()),
        max_posts_per_number=max(posts.values()),
        report_rows=len(lines),
        by_status=dict(statuses(lines)),
    )


def test_retry_patch_internal_error_keeps_report_and_journal_then_finishes(tmp_path: Path) -> None:
    """retry-patch's REPORT is the only record of its rows: a bug after 150 PATCHes leaves it
    byte for byte, with the journal of the patched rows; the same command patches the rest and
    PATCHes no id the journal holds as patched."""
    rows = 400
    given = numbers(rows)
    report = tmp_path / "fleet.report.csv"
    write_report(
        report,
        [
            [
                *(i + 2, n, n, f"label {i}", "prov_sandbox", AGENT, "webhook_failed", 400),
                *(f"pn_{i + 1:012d}", 1, "Webhook configuration failed", "2026-12-01T00:00:00Z"),
            ]
            for i, n in enumerate(given)
        ],
    )
    before = report.read_bytes()
    existing = tuple({"number": n, "provider_id": "prov_sandbox"} for n in given)
    instrument = Instrument()
    sandbox = instrument.install(RunningSandbox(faults=Faults(latency_ms=2, existing=existing)))

    def patch(transport: httpx.AsyncBaseTransport | None = None) -> Any:
        return retry_patch(
            report=report,
            agent_id=None,
            api=api_options(sandbox.base_url, concurrency=8),
            output=output_options(report),
            transport=transport,
        )

    with sandbox:
        with pytest.raises(InternalError) as failed:
            patch(BreaksAfter(150))
        untouched = report.read_bytes() == before
        patched = {
            line["phone_number_id"]
            for line in read_report(journal_path(report))
            if line["status"] == "patched"
        }
        calls_then = Counter(instrument.calls)
        again = patch()
        calls = Counter(instrument.calls)
    assert str(failed.value) == kept_message(journal_path(report))
    assert untouched
    assert len(patched) >= 100
    assert again.exit_code == 0
    assert statuses(read_report(report)) == {"patched": rows}
    repatched = [i for i in patched if calls[f"PATCH /agents/phone-numbers/{i}"] > 1]
    assert not repatched, f"ids the journal held as patched were PATCHed again: {repatched[:5]}"
    assert leftovers(tmp_path) == []
    print_figures(
        "internal-error-retry-patch",
        rows=rows,
        journal_patched=len(patched),
        rerun_patches=sum(n for k, n in (calls - calls_then).items() if k.startswith("PATCH")),
    )


def test_reconcile_apply_internal_error_then_again_imports_each_number_once(
    tmp_path: Path,
) -> None:
    """reconcile --apply broken after 120 requests keeps its journal, no report published;
    run again, it lists the account and imports the rest: every missing number POSTed once."""
    rows = 300
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
        with pytest.raises(InternalError) as failed:
            apply(BreaksAfter(120))
        published = report.exists()
        kept = journal_path(report).exists()
        again = apply()
        posts = sandbox.state.post_counts
    assert str(failed.value) == kept_message(journal_path(report))
    assert not published
    assert kept
    assert again.exit_code == 0
    assert set(statuses(read_report(report))) <= {"imported", "in_sync"}
    assert set(posts) == set(given)
    assert max(posts.values()) == 1
    assert leftovers(tmp_path) == []


def test_the_cli_says_in_one_line_what_was_kept_and_to_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 4 is one line naming the bug, the journal kept and the same command to run; a bug
    before anything was written says the report is as it was."""
    source = write_input(tmp_path / "in.csv", numbers(40))
    report = tmp_path / "in.report.csv"
    real = importing.ImportJob.handle
    handled = 0

    async def handle(self: importing.ImportJob, row: Row) -> Outcome | None:
        nonlocal handled
        handled += 1
        if handled > 10:
            raise RuntimeError("kaboom")
        return await real(self, row)

    monkeypatch.setattr(importing.ImportJob, "handle", handle)
    args = ["run", str(source), "--provider-id", "prov_sandbox", "--report", str(report)]
    with RunningSandbox() as sandbox:
        env = {"CARTESIA_API_KEY": DEFAULT_API_KEY, "CARTESIA_BASE_URL": sandbox.base_url}
        result = CliRunner().invoke(main, [*args, "--no-progress", "--quiet"], env=env)
        monkeypatch.setattr(importing, "has_journal", _raise)
        early = CliRunner().invoke(main, [*args, "--quiet"], env=env)
    assert result.exit_code == 4
    assert result.output == (
        f"bulk-import: internal error: RuntimeError: kaboom (the journal {journal_path(report)} "
        "keeps the rows that finished: run the same command again to finish the work); --debug "
        "shows the traceback\n"
    )
    assert not report.exists()
    assert early.exit_code == 4
    assert early.output == (
        "bulk-import: internal error: RuntimeError: early (nothing was written: the report is as "
        "it was); --debug shows the traceback\n"
    )


def _raise(*_: object) -> bool:
    raise RuntimeError("early")


def test_a_bug_while_publishing_keeps_the_journal_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the last step (publishing the report) leaves the journal, and the line names it."""
    source = write_input(tmp_path / "in.csv", numbers(10))
    report = tmp_path / "in.report.csv"

    def bug(*_: object) -> None:
        raise RuntimeError("the clock went backwards")

    monkeypatch.setattr(Journal, "_replace_report", bug)
    with RunningSandbox() as sandbox, pytest.raises(InternalError) as failed:
        run_job(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(report),
        )
    assert str(failed.value) == kept_message(journal_path(report))
    assert len(read_report(journal_path(report))) == 10
    assert not report.exists()
    assert leftovers(tmp_path) == []
