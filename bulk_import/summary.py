"""Close a command: the exit code, the one-screen summary, and ``--summary-json``."""

from __future__ import annotations

from pathlib import Path

from bulk_import.models import OK_STATUSES, Status, Summary, iso
from bulk_import.report import write_json

EXIT_OK = 0
EXIT_ATTENTION = 1

_HINTS = {
    Status.WEBHOOK_FAILED: "imported without their agent: run `bulk-import retry-patch {report}`",
    Status.PATCH_FAILED: "agent still not assigned: see the error column, then retry-patch again",
    Status.INVALID: "not sent: fix them in the input (see the error column)",
    Status.FAILED: "see the error column; `--resume` retries them",
    Status.NOT_ATTEMPTED: "never sent: `--resume` sends them",
    Status.MISSING: "not in the account: `reconcile --apply` imports them",
    Status.AGENT_MISMATCH: "another agent in the account: `reconcile --apply` fixes them",
}


def exit_code(
    summary: Summary, *, stop_exit: int = 0, judged: frozenset[Status] | None = None
) -> int:
    """Return the exit code: a stop's own code, else 1 when a row needs attention, else 0.

    ``judged`` limits the rows that count to those statuses (``retry-patch`` answers for the
    rows it patches, not for the rows ``run`` left invalid).
    """
    if stop_exit:
        return stop_exit
    ok = {status.value for status in OK_STATUSES}
    for status, count in summary.counts.items():
        if not count or status in ok:
            continue
        if judged is None or Status(status) in judged:
            return EXIT_ATTENTION
    return EXIT_OK


def duration_s(summary: Summary) -> float:
    """Return how long the command took, in seconds."""
    if summary.finished_at is None:
        return 0.0
    return (summary.finished_at - summary.started_at).total_seconds()


def as_json(summary: Summary, *, elapsed_s: float | None = None) -> dict[str, object]:
    """Return the summary as the ``--summary-json`` object of SPEC.md."""
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
    }
    if summary.stopped:
        data["stopped"] = summary.stopped
    return data


def render(summary: Summary, *, elapsed_s: float) -> str:
    """Return the one-screen summary printed at the end of a command."""
    rate = f", {summary.total / elapsed_s:.0f} rows/s" if elapsed_s > 0 and summary.requests else ""
    lines = [
        f"{summary.command}: {summary.total} rows in {elapsed_s:.1f} s{rate}, "
        f"{summary.requests} requests"
    ]
    width = max((len(status) for status in summary.counts), default=0)
    for status, count in sorted(summary.counts.items(), key=lambda item: -item[1]):
        hint = _HINTS.get(Status(status), "") if status not in _ok_values() else ""
        hint = hint.format(report=summary.report)
        lines.append(f"  {status:<{width}}  {count:>7}" + (f"   {hint}" if hint else ""))
    lines.append(f"report: {summary.report}")
    if summary.stopped:
        lines.append(f"stopped early: {summary.stopped}")
    lines.append(f"exit {summary.exit_code}")
    return "\n".join(lines)


def _ok_values() -> set[str]:
    return {status.value for status in OK_STATUSES}


def write_summary(path: Path, summary: Summary, *, elapsed_s: float) -> None:
    """Write ``--summary-json`` (mode 0600, replaced atomically)."""
    write_json(path, as_json(summary, elapsed_s=elapsed_s))
