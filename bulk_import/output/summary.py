"""Close a command: the exit code, the one-screen summary, the next steps and ``--summary-json``."""

from __future__ import annotations

import shlex
from pathlib import Path

from bulk_import import __version__
from bulk_import.models import OK_STATUSES, Exit, Status, Summary, iso
from bulk_import.output.files import write_json

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


def _cmd(*words: str) -> str:
    return "`" + shlex.join(["bulk-import", *words]) + "`"


def _rerun(summary: Summary, *extra: str) -> str:
    """Return the command line that ran, with ``extra`` options added (once)."""
    words = list(summary.invocation) or [summary.command, summary.input]
    for option in extra:
        if option not in words:
            words.append(option)
    return _cmd(*words)


def _reconcile(summary: Summary, *extra: str) -> str:
    words = ["reconcile", summary.input]
    if summary.agent_id:
        words += ["--agent-id", summary.agent_id]
    return _cmd(*words, *extra)


def hint(summary: Summary, status: Status) -> str:
    """Say what to do about the rows of one status, with the exact command when one applies."""
    command = summary.command
    report = summary.report
    if command == "retry-patch" and status not in _PATCHED_BY_RETRY:
        return ""  # the rows it does not patch are the earlier command's to explain
    if command == "retry-patch" and status is Status.AGENT_MISMATCH:
        return "agent not assigned yet: run " + _cmd("retry-patch", report) + " again"
    if status is Status.WEBHOOK_FAILED:
        need_agent = summary.counts.get(status.value, 0) > summary.with_agent.get(status.value, 0)
        agent = ["--agent-id", "AGENT_ID"] if need_agent and not summary.agent_id else []
        return "imported without their agent: run " + _cmd("retry-patch", report, *agent)
    if status is Status.PATCH_FAILED:
        return "agent still not assigned: see the error column, then " + _cmd("retry-patch", report)
    if status is Status.INVALID:
        return "not sent: fix them in the input (see the error column)"
    if status is Status.FAILED:
        if command == "reconcile":
            return "see the error column; " + _rerun(summary, "--apply") + " tries them again"
        return "see the error column; " + _rerun(summary, "--resume") + " retries them"
    if status is Status.NOT_ATTEMPTED:
        if command == "run":
            return "never sent: " + _rerun(summary, "--resume") + " sends them"
        return "not reached: run " + _rerun(summary) + " again"
    if status is Status.MISSING:
        return "not in the account: " + _reconcile(summary, "--apply") + " imports them"
    if status is Status.AGENT_MISMATCH:
        return "another agent in the account: " + _reconcile(summary, "--apply") + " fixes them"
    if status is Status.ALREADY_IMPORTED and summary.with_agent.get(status.value):
        return "there already; their agent was not checked: " + _reconcile(summary) + " checks it"
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
    return f"{head}: {', '.join(attention) or 'see the report'} ({where})"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def write_summary(path: Path, summary: Summary, *, elapsed_s: float | None = None) -> None:
    """Write ``--summary-json`` (mode 0600, replaced atomically)."""
    write_json(path, as_json(summary, elapsed_s=elapsed_s))
