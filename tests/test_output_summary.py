"""The progress bar on a terminal, log lines, and the closing summary and exit codes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from pathlib import Path

from bulk_import.models import REPORT_COLUMNS, Outcome, Row, Status, Summary
from bulk_import.output.progress import Progress, in_flight_text
from bulk_import.output.summary import (
    as_json,
    duration_s,
    exit_code,
    next_steps,
    quiet_line,
    render,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def outcome(status: Status) -> Outcome:
    return Outcome(Row(row_number=2, input_number="1", number="+14155552671"), status)


def test_bar_counts_ok_attention_and_retrying_on_a_terminal() -> None:
    """On a terminal the bar shows ok / attention / retrying; log lines print above it."""
    stream = Terminal()
    progress = Progress(
        enabled=True,
        quiet=False,
        total=4,
        desc="run",
        extra=lambda: "retrying 2, in flight 3/8",
        stream=stream,
    )
    progress.advance(outcome(Status.IMPORTED))
    progress.advance(outcome(Status.FAILED))
    progress.log("slowing down")
    progress.advance(outcome(Status.ALREADY_IMPORTED))
    progress.close()
    progress.close()
    text = stream.getvalue()
    assert "ok 2, attention 1, retrying 2, in flight 3/8" in text
    assert "3/4" in text  # the total and how far it got
    assert "slowing down" in text
    assert (progress.ok, progress.attention) == (2, 1)


def test_rows_a_stopped_run_did_not_send_do_not_count_as_done() -> None:
    """not_attempted rows are counted apart: the bar's count and rate are rows really done."""
    stream = Terminal()
    progress = Progress(enabled=True, quiet=False, total=5, desc="run", stream=stream)
    progress.advance(outcome(Status.IMPORTED))
    for _ in range(4):
        progress.advance(outcome(Status.NOT_ATTEMPTED))
    assert progress.postfix() == "ok 1, attention 0, not sent 4"
    progress.close()
    assert "1/5" in stream.getvalue()


def test_every_frame_of_the_bar_counts_what_its_postfix_counts() -> None:
    """Each redraw's ``n/total`` equals its ``ok + attention`` (they lagged by up to 0.25 s:
    a tmux capture read "439/600 ... ok 419")."""
    stream = Terminal()
    progress = Progress(enabled=True, quiet=False, total=400, desc="run", stream=stream)
    for i in range(400):
        progress.advance(outcome(Status.FAILED if i % 50 == 0 else Status.IMPORTED))
        time.sleep(0.001)
    progress.close()
    frames = re.findall(r"(\d+)/400 \[[^]]*, ok (\d+), attention (\d+)\]", stream.getvalue())
    assert len(frames) >= 3
    assert all(int(n) == int(ok) + int(attention) for n, ok, attention in frames), frames


def test_in_flight_is_shown_against_the_window_as_it_is() -> None:
    """A part-time slot above a window of 10.4 is in flight at times: 11/10.4, not 11/10."""
    found = in_flight_text(retrying=0, in_flight=11, window=10.43, limit=10, ceiling=64)
    assert found == "in flight 11/10.4 (limit found; --concurrency 64)"
    assert in_flight_text(retrying=2, in_flight=16, window=16.0, limit=16, ceiling=16) == (
        "retrying 2, in flight 16/16"
    )


def test_no_bar_when_not_a_terminal_or_quiet() -> None:
    """No bar off a terminal, with --no-progress, or --quiet; --quiet silences log lines too."""
    plain = io.StringIO()
    progress = Progress(enabled=True, quiet=False, total=None, desc="run", stream=plain)
    progress.advance(outcome(Status.IMPORTED))
    progress.log("a line")
    progress.close()
    assert plain.getvalue() == "a line\n"
    quiet = Terminal()
    silent = Progress(enabled=True, quiet=True, total=None, desc="run", stream=quiet)
    silent.advance(outcome(Status.IMPORTED))
    silent.log("hidden")
    silent.close()
    assert quiet.getvalue() == ""
    off = Terminal()
    Progress(enabled=False, quiet=False, total=None, desc="run", stream=off).close()
    assert off.getvalue() == ""


def summary(**counts: int) -> Summary:
    start = dt.datetime(2026, 11, 27, 5, 0, 0, tzinfo=dt.UTC)
    s = Summary(command="run", input="in.csv", report="in.report.csv", started_at=start)
    s.counts = dict(counts)
    s.finished_at = start + dt.timedelta(seconds=90)
    return s


def test_exit_codes() -> None:
    """0 all ok, 1 attention, a stop's own code first; `judged` limits what counts."""
    assert exit_code(summary(imported=3, duplicate=1, extra=2)) == 0
    assert exit_code(summary(imported=3, invalid=1)) == 1
    assert exit_code(summary(imported=3, invalid=0)) == 0
    assert exit_code(summary(imported=3), stop_exit=130) == 130
    judged = frozenset({Status.WEBHOOK_FAILED, Status.PATCH_FAILED})
    assert exit_code(summary(patched=2, invalid=1), judged=judged) == 0
    assert exit_code(summary(patched=2, patch_failed=1), judged=judged) == 1


def test_render_names_counts_hints_and_stop() -> None:
    """The summary shows counts, the next step for attention rows, the report and the stop."""
    s = summary(imported=5, webhook_failed=2)
    s.requests = 9
    s.exit_code = 1
    s.stopped = "interrupted by SIGINT"
    text = render(s, elapsed_s=2.0)
    assert text.splitlines()[0] == "run: 7 rows in 2.0 s, 4 rows/s, 9 requests"
    assert "bulk-import retry-patch in.report.csv" in text
    assert "stopped early: interrupted by SIGINT" in text
    assert text.endswith("exit 1")
    data = as_json(s)
    assert data["duration_s"] == 90.0
    assert data["stopped"] == "interrupted by SIGINT"
    assert duration_s(s) == 90.0
    s.finished_at = None
    assert duration_s(s) == 0.0


def test_next_steps_name_the_exact_command() -> None:
    """Each status that needs care gets the exact command: the rerun, retry-patch, reconcile."""
    s = summary(not_attempted=4, webhook_failed=2, failed=1, imported=3)
    s.invocation = ("run", "fleet.csv", "--agent-id=agent_1", "--concurrency=16")
    s.with_agent = {"webhook_failed": 2}
    s.agent_id = "agent_1"
    assert next_steps(s) == [
        "4 not_attempted: never sent: "
        "`bulk-import run fleet.csv --agent-id agent_1 --concurrency 16 --resume` sends them",
        "2 webhook_failed: imported without their agent: run "
        "`bulk-import retry-patch in.report.csv --concurrency 16`",
        "1 failed: see the error column; `bulk-import run fleet.csv --agent-id agent_1 "
        "--concurrency 16 --resume` tries them again",
    ]


def test_next_steps_carry_the_options_each_command_takes() -> None:
    """reconcile gets the input, Twilio and API options; retry-patch the API ones; not outputs."""
    s = summary(webhook_failed=1, already_imported=2)
    s.invocation = (
        "run",
        "ops.xlsx",
        "--sheet=Numbers",
        "--provider-id=prov_1",
        "--default-label={number} desk",
        "--agent-id=agent_1",
        "--base-url=http://127.0.0.1:8080",
        "--report=ops.report.xlsx",
        "--html=ops.html",
        "--no-progress",
    )
    s.report = "ops.report.xlsx"
    s.with_agent = {"webhook_failed": 1, "already_imported": 2}
    assert next_steps(s) == [
        "2 already_imported: there already; their agent was not checked: "
        "`bulk-import reconcile ops.xlsx --sheet Numbers --provider-id prov_1 "
        "--default-label '{number} desk' --agent-id agent_1 --base-url http://127.0.0.1:8080` "
        "checks it",
        "1 webhook_failed: imported without their agent: run "
        "`bulk-import retry-patch ops.report.xlsx --base-url http://127.0.0.1:8080`",
    ]


def test_webhook_failures_without_an_agent_say_to_name_one() -> None:
    """A run without --agent-id whose rows name none: retry-patch would fail without one."""
    s = summary(webhook_failed=2)
    assert next_steps(s) == [
        "2 webhook_failed: imported without their agent: run "
        "`bulk-import retry-patch in.report.csv --agent-id AGENT_ID`"
    ]


def test_already_imported_with_an_agent_says_it_was_not_checked() -> None:
    """A 409 row that names an agent: its agent was not checked; reconcile checks it."""
    s = summary(already_imported=2)
    s.with_agent = {"already_imported": 2}
    s.agent_id = "agent_1"
    assert next_steps(s) == [
        "2 already_imported: there already; their agent was not checked: "
        "`bulk-import reconcile in.csv --agent-id agent_1` checks it"
    ]
    s.with_agent = {}
    assert next_steps(s) == []


def test_reconcile_and_validate_hints() -> None:
    """Drift names reconcile --apply; a validate or reconcile that did not finish, a rerun."""
    s = summary(missing=3, agent_mismatch=1, not_attempted=1)
    s.command = "reconcile"
    assert next_steps(s) == [
        "3 missing: not in the account: `bulk-import reconcile in.csv --apply` imports them",
        "1 agent_mismatch: another agent in the account: "
        "`bulk-import reconcile in.csv --apply` fixes them",
        "1 not_attempted: not reached: run `bulk-import reconcile in.csv` again",
    ]


def test_quiet_line_says_why_on_one_line() -> None:
    """--quiet's one line: the stop's reason, else the counts that need attention."""
    s = summary(imported=3, invalid=2, webhook_failed=1)
    s.exit_code = 1
    s.report_written = True
    assert quiet_line(s) == (
        "bulk-import run in.csv: exit 1: 2 invalid, 1 webhook_failed (report in.report.csv)"
    )
    s.stopped = "the API refused the key (HTTP 401)"
    s.exit_code = 3
    s.report_written = False
    assert quiet_line(s) == (
        "bulk-import run in.csv: exit 3: stopped early: the API refused the key (HTTP 401) "
        "(no report written)"
    )


def test_summary_json_has_the_spec_keys_and_more() -> None:
    """The JSON keeps SPEC's keys and adds version, options, exit meaning; http only for API."""
    s = summary(imported=3)
    s.options = {"concurrency": 8}
    data = as_json(s)
    for key in (
        "command",
        "input",
        "report",
        "started_at",
        "finished_at",
        "duration_s",
        "total",
        "counts",
        "requests",
        "exit_code",
        "version",
        "options",
        "exit_meaning",
    ):
        assert key in data
    assert "http" not in data
    s.calls_api = True
    s.http = {"201": 3}
    s.error = "boom"
    data = as_json(s)
    assert (data["http"], data["error"]) == ({"201": 3}, "boom")
    assert data["exit_meaning"] == "every row ok"
    s.exit_code = 99
    assert as_json(s)["exit_meaning"] == ""


def test_retry_patch_hints_only_at_the_rows_it_patches() -> None:
    """retry-patch explains the rows it patches; the others are the earlier command's."""
    s = summary(already_imported=2, invalid=1, patch_failed=1, agent_mismatch=1)
    s.command = "retry-patch"
    s.with_agent = {"already_imported": 2}
    assert next_steps(s) == [
        "1 patch_failed: agent still not assigned: see the error column; "
        "`bulk-import retry-patch in.report.csv` tries them again",
        "1 agent_mismatch: agent not assigned yet: run "
        "`bulk-import retry-patch in.report.csv` again",
    ]


def test_the_rate_counts_rows_done_not_rows_a_stop_left_unsent() -> None:
    """After Ctrl-C the rate is rows finished per second, not rows listed as not_attempted."""
    s = summary(imported=20, not_attempted=980)
    s.requests = 22
    assert render(s, elapsed_s=2.0).splitlines()[0] == (
        "run: 1000 rows in 2.0 s, 10 rows/s, 22 requests"
    )


def test_failed_rows_split_into_refused_for_good_and_worth_a_resume(tmp_path: Path) -> None:
    """Of 3 failed rows, the 2 refused by a 4xx are told to fix the input; the 1 that ran out
    of retries gets the exact --resume."""
    report = tmp_path / "in.report.csv"
    lines = [
        ["2", "a", "+14155550100", "", "p", "", "failed", "400", "", "1", "not in account", ""],
        ["3", "b", "+14155550101", "", "p", "", "failed", "404", "", "1", "no provider", ""],
        ["4", "c", "+14155550102", "", "p", "", "failed", "503", "", "6", "unavailable", ""],
    ]
    with report.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow(REPORT_COLUMNS)
        out.writerows(lines)
    s = summary(failed=3)
    s.report = str(report)
    s.report_written = True
    assert next_steps(s) == [
        "3 failed: 2 refused by the API (HTTP 4xx, not retried): fix what the error column "
        "names, in the input or the account; sent again unchanged they fail the same way; the "
        "other 1: see the error column; `bulk-import run in.csv --resume` tries them again"
    ]


def rollback_report(path: Path, lines: list[tuple[str, str]]) -> Path:
    """Write a rollback report of these (status, error) lines."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow(REPORT_COLUMNS)
        for i, (status, error) in enumerate(lines):
            number = f"+1415555{i:04d}"
            out.writerow([str(i + 2), number, number, "", "p", "", status, "", "", "1", error, ""])
    return path


def test_rollback_exit_codes_and_hints(tmp_path: Path) -> None:
    """A rollback is exit 0 with kept rows and 1 with delete_failed; its hints name the exact
    next command: --apply after a plan, --force only when rows were kept as changed since the
    run (counted), how many --force deleted, a rerun."""
    assert exit_code(summary(deleted=5, kept=3, agent_fixed=1)) == 0
    assert exit_code(summary(would_delete=5, kept=3)) == 0
    assert exit_code(summary(deleted=5, delete_failed=1)) == 1
    changed = "changed since the run: its label is now 'x', the run's ''; --force deletes it"
    before = "in the account before the run (already_imported): never deleted"
    plan = summary(would_delete=1, kept=3, failed=1)
    plan.command, plan.input = "rollback", "in.report.csv"
    plan.invocation = ("rollback", "in.report.csv", "--concurrency=4")
    plan.report = str(tmp_path / "plan.csv")
    plan.report_written = True
    lines = [("would_delete", ""), ("kept", changed), ("kept", changed), ("kept", before)]
    rollback_report(tmp_path / "plan.csv", [*lines, ("failed", "not checked: boom")])
    assert next_steps(plan) == [
        "3 kept: not deleted: the error column says why (not created by the run, or changed "
        "since); 2 changed since the run: `bulk-import rollback in.report.csv --concurrency 4 "
        "--force --apply` deletes those too",
        "1 would_delete: would be deleted: "
        "`bulk-import rollback in.report.csv --concurrency 4 --apply` deletes them",
        "1 failed: not checked (the look-up failed): "
        "`bulk-import rollback in.report.csv --concurrency 4` checks them again",
    ]
    rollback_report(tmp_path / "plan.csv", [("would_delete", ""), ("kept", before)])
    plan.counts = {"would_delete": 1, "kept": 1}
    assert next_steps(plan)[0] == (
        "1 would_delete: would be deleted: "
        "`bulk-import rollback in.report.csv --concurrency 4 --apply` deletes them"
    )
    assert next_steps(plan)[1] == (
        "1 kept: not deleted: the error column says why (not created by the run, or changed since)"
    ), "--force offered though no row changed since the run"
    forced_plan = "changed since the run: its agent is now a, the run's b; --force deletes it"
    rollback_report(tmp_path / "plan.csv", [("would_delete", forced_plan), ("kept", before)])
    assert next_steps(plan)[0] == (
        "1 would_delete: would be deleted (1 of them changed since the run: --force takes "
        "them): `bulk-import rollback in.report.csv --concurrency 4 --apply` deletes them"
    )
    forced = summary(deleted=3, kept=2, delete_failed=1, not_attempted=1)
    forced.command, forced.input = "rollback", "in.report.csv"
    forced.invocation = ("rollback", "in.report.csv", "--apply", "--force")
    forced.options = {"force": True}
    forced.report = str(tmp_path / "forced.csv")
    forced.report_written = True
    by_force = "changed since the run: its label is now 'x', the run's ''; deleted by --force"
    rollback_report(
        tmp_path / "forced.csv",
        [
            *(
                ("deleted", ""),
                ("deleted", by_force),
                ("deleted", "gone already: 404; " + by_force),
            ),
            *(("kept", before), ("kept", before), ("delete_failed", "no"), ("not_attempted", "")),
        ],
    )
    assert next_steps(forced) == [
        "3 deleted: 2 of them changed since the run: deleted by --force",
        "2 kept: not deleted: the error column says why (not created by the run, or changed since)",
        "1 delete_failed: not deleted: see the error column, then "
        "`bulk-import rollback in.report.csv --apply --force` tries them again",
        "1 not_attempted: not reached: run "
        "`bulk-import rollback in.report.csv --apply --force` again",
    ]
