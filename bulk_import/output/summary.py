"""Close a command: the exit code, the one-screen summary, the next steps and ``--summary-json``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bulk_import import __version__
from bulk_import.models import OK_STATUSES, Exit, Status, Summary, iso
from bulk_import.output import followup
from bulk_import.output.digest import Digest, read_digest
from bulk_import.output.files import is_stdout, write_json

_OK_VALUES = frozenset(status.value for status in OK_STATUSES)
_PATCHED_BY_RETRY = frozenset({Status.WEBHOOK_FAILED, Status.PATCH_FAILED, Status.AGENT_MISMATCH})


def exit_code(
    summary: Summary, *, stop_exit: int = 0, judged: frozenset[Status] | None = None
) -> int:
    """Return the exit code: a stop's own code, else 1 when a row needs attention, else 0.

    ``judged`` limits the rows that count to those statuses (``retry-patch`` answers for the
    rows it patches, not for the rows ``run`` left invalid).
    """
    if stop_exit:
        return stop_exit
    for status, count in summary.counts.items():
        if not count or status in _OK_VALUES:
            continue
        if judged is None or Status(status) in judged:
            return Exit.ATTENTION
    return Exit.OK


def duration_s(summary: Summary) -> float:
    """Return how long the command took, in seconds."""
    if summary.finished_at is None:
        return 0.0
    return (summary.finished_at - summary.started_at).total_seconds()


def _digest(summary: Summary) -> Digest | None:
    """Return what the finished report holds (None before it is written, or on stdout)."""
    if not summary.report_written or is_stdout(Path(summary.report)):
        return None
    return read_digest(Path(summary.report))


def _failed(summary: Summary, status: Status, again: str) -> str:
    """Say what rows that failed need: refused for good (4xx), or ``again`` tries them again."""
    found = _digest(summary)
    count = summary.counts.get(status.value, 0)
    refused = min(found.refused[status.value], count) if found is not None else 0
    fix = (
        "refused by the API (HTTP 4xx, not retried): fix what the error column names, in the "
        "input or the account; sent again unchanged they fail the same way"
    )
    if refused == count:
        return fix
    retry = f"see the error column; {again} tries them again"
    if not refused:
        return retry
    return f"{refused:,} {fix}; the other {count - refused:,}: {retry}"


def hint(summary: Summary, status: Status) -> str:
    """Say what to do about the rows of one status, with the exact command when one applies."""
    command = summary.command
    if command == "retry-patch" and status not in _PATCHED_BY_RETRY:
        return ""  # the rows it does not patch are the earlier command's to explain
    if command == "retry-patch" and status is Status.AGENT_MISMATCH:
        return "agent not assigned yet: run " + followup.retry_patch(summary) + " again"
    if command == "rollback":
        return _rollback_hint(summary, status)
    if status is Status.WEBHOOK_FAILED:
        need_agent = summary.counts.get(status.value, 0) > summary.with_agent.get(status.value, 0)
        agent = ["--agent-id=AGENT_ID"] if need_agent and not summary.agent_id else []
        return "imported without their agent: run " + followup.retry_patch(summary, *agent)
    if status is Status.PATCH_FAILED:
        again = followup.retry_patch(summary)
        return "agent still not assigned: " + _failed(summary, status, again)
    if status is Status.INVALID:
        found = _digest(summary)
        return followup.invalid_advice(found.reasons if found is not None else Counter())
    if status is Status.FAILED:
        again = "--apply" if command == "reconcile" else "--resume"
        return _failed(summary, status, followup.rerun(summary, again))
    if status is Status.NOT_ATTEMPTED:
        if command == "run":
            return "never sent: " + followup.rerun(summary, "--resume") + " sends them"
        return "not reached: run " + followup.rerun(summary) + " again"
    if status is Status.MISSING:
        return "not in the account: " + followup.reconcile(summary, "--apply") + " imports them"
    if status is Status.AGENT_MISMATCH:
        fix = followup.reconcile(summary, "--apply")
        return f"another agent in the account: {fix} fixes them"
    if status is Status.ALREADY_IMPORTED and summary.with_agent.get(status.value):
        check = followup.reconcile(summary)
        return f"there already; their agent was not checked: {check} checks it"
    return ""


def _rollback_hint(summary: Summary, status: Status) -> str:
    """Say what to do about a rollback's rows of one status."""
    found = _digest(summary)
    changed = found.changed[status.value] if found is not None else 0
    if status is Status.WOULD_DELETE:
        apply = followup.rerun(summary, "--apply")
        taken = f" ({changed} of them changed since the run: --force takes them)" if changed else ""
        return f"would be deleted{taken}: {apply} deletes them"
    if status is Status.DELETED:
        return f"{changed} of them changed since the run: deleted by --force" if changed else ""
    if status is Status.KEPT:
        why = "not deleted: the error column says why (not created by the run, or changed since)"
        elsewhere = found.elsewhere[status.value] if found is not None else 0
        if elsewhere:
            why += (
                f"; {elsewhere} not in this account, whose providers it does not link: is this "
                "the account the run imported into? check CARTESIA_API_KEY and --base-url"
            )
        if not changed or summary.options.get("force"):
            return why
        # A plan's --force alone is a plan again: the step deletes only with --apply.
        force = followup.rerun(summary, "--force", "--apply")
        return f"{why}; {changed} changed since the run: {force} deletes those too"
    if status is Status.DELETE_FAILED:
        again = followup.rerun(summary)
        return f"not deleted: see the error column, then {again} tries them again"
    if status is Status.FAILED:
        return "not checked (the look-up failed): " + followup.rerun(summary) + " checks them again"
    if status is Status.NOT_ATTEMPTED:
        return "not reached: run " + followup.rerun(summary) + " again"
    return ""


def next_steps(summary: Summary) -> list[str]:
    """Return what to do next, one sentence per status that calls for it, most rows first."""
    steps = []
    for status, count in sorted(summary.counts.items(), key=lambda item: -item[1]):
        text = hint(summary, Status(status)) if count else ""
        if text:
            steps.append(f"{count} {status}: {text}")
    return steps


def as_json(summary: Summary, *, elapsed_s: float | None = None) -> dict[str, object]:
    """Return the summary as the ``--summary-json`` object of SPEC.md (keys only ever added)."""
    finished = summary.finished_at or summary.started_at
    data: dict[str, object] = {
        "command": summary.command,
        "input": summary.input,
        "report": summary.report,
        "started_at": iso(summary.started_at),
        "finished_at": iso(finished),
        "duration_s": round(elapsed_s if elapsed_s is not None else duration_s(summary), 3),
        "total": summary.total,
        "counts": dict(sorted(summary.counts.items())),
        "requests": summary.requests,
        "exit_code": summary.exit_code,
        "exit_meaning": _meaning(summary.exit_code),
        "version": __version__,
        "options": summary.options,
    }
    if summary.calls_api:
        data["http"] = dict(sorted(summary.http.items()))
        data["latency_ms"] = summary.latency_ms
        data["concurrency"] = summary.concurrency
    if summary.stopped:
        data["stopped"] = summary.stopped
    if summary.error:
        data["error"] = summary.error
    if summary.page:
        data["page"] = summary.page
    if summary.twilio:
        data["twilio"] = summary.twilio
    if summary.journal:
        data["journal"] = summary.journal
    data["next_steps"] = next_steps(summary)
    return data


def _meaning(code: int) -> str:
    try:
        return Exit(code).meaning
    except ValueError:
        return ""


def render(summary: Summary, *, elapsed_s: float) -> str:
    """Return the one-screen summary printed at the end of a command."""
    # The rate of rows really done: not the ones a stopped run lists as never sent.
    done = summary.total - summary.counts.get(Status.NOT_ATTEMPTED.value, 0)
    sent = summary.requests and done
    rate = f", {done / elapsed_s:.0f} rows/s" if elapsed_s > 0 and sent else ""
    lines = [
        f"{summary.command}: {_n(summary.total, 'row')} in {elapsed_s:.1f} s{rate}, "
        f"{_n(summary.requests, 'request')}"
    ]
    if summary.concurrency and sent:
        c = summary.concurrency
        found = f"{c['min']}-{c['max']}" if c["min"] != c["max"] else str(c["max"])
        lines[0] += f", limit {found} of --concurrency {c['ceiling']}"
    width = max((len(status) for status in summary.counts), default=0)
    for status, count in sorted(summary.counts.items(), key=lambda item: -item[1]):
        text = hint(summary, Status(status))
        lines.append(f"  {status:<{width}}  {count:>7}" + (f"   {text}" if text else ""))
    if not summary.report:  # a library call's without report=
        lines.append("report: kept in memory (Result.report); nothing written to disk")
    elif summary.report_written:
        lines.append(f"report: {summary.report}")
    elif summary.journal:
        lines.append(
            f"report: {summary.report} not written; {summary.journal} keeps the rows that "
            "finished: the same command finishes the work"
        )
    else:
        lines.append(f"report: {summary.report} not written (nothing was done)")
    if summary.page:
        lines.append(f"run page: {summary.page}")
    skipped = summary.twilio.get("skipped")
    if isinstance(skipped, dict) and skipped:
        counts = " and ".join(f"{n} {status}" for status, n in skipped.items())
        lines.append(f"twilio: {counts} subaccounts skipped (not read)")
    if summary.stopped:
        lines.append(f"stopped early: {summary.stopped}")
    lines.append(f"exit {summary.exit_code}")
    return "\n".join(lines)


def quiet_line(summary: Summary) -> str:
    """Return the one line ``--quiet`` still prints on a non-zero exit: why, or what needs care."""
    head = f"bulk-import {summary.command} {summary.input}: exit {summary.exit_code}"
    where = f"report {summary.report}" if summary.report_written else "no report written"
    if summary.journal:
        where += f"; journal {summary.journal} kept"
    if summary.stopped:
        return f"{head}: stopped early: {summary.stopped} ({where})"
    attention = [
        f"{count} {status}"
        for status, count in sorted(summary.counts.items(), key=lambda item: -item[1])
        if count and status not in _OK_VALUES
    ]
    line = f"{head}: {', '.join(attention) or 'see the report'} ({where})"
    if summary.counts.get(Status.INVALID.value):
        # One option or column often fixes every invalid row: the mail a person reads says it.
        advice = hint(summary, Status.INVALID)
        if not advice.startswith("not sent:"):
            line += f"; {advice}"
    return line


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def write_summary(path: Path, summary: Summary, *, elapsed_s: float | None = None) -> None:
    """Write ``--summary-json`` (mode 0600, replaced atomically)."""
    write_json(path, as_json(summary, elapsed_s=elapsed_s))
