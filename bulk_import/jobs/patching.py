"""``retry-patch``: assign the agent of every webhook_failed, patch_failed or agent_mismatch row.

A ``webhook_failed`` row is a number that is in Cartesia without its agent; an
``agent_mismatch`` row (from ``reconcile``) one with another agent. Its id comes from the
report, else from ``GET /agents/phone-numbers?q=<number>``; then ``PATCH
/agents/phone-numbers/{id}`` sends ``{"agent_id": ...}``. Rows become ``patched`` or
``patch_failed`` (an ``agent_mismatch`` row: ``agent_fixed``, or ``agent_mismatch`` with the
error, as the number was there before the run); every other row of the report keeps its line,
and so does a row the run did not reach. The REPORT is the only record of these rows, so it is
never rewritten until the end: while the run goes, finished rows go to the journal beside it
(SPEC "Crash safety").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import httpx

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.listing import find_number_id
from bulk_import.cells import unneutralise
from bulk_import.config import ApiOptions, OutputOptions
from bulk_import.jobs.engine import Command, Job, Plan, Work, executed, options_in_force
from bulk_import.models import Outcome, Provider, Row, Status
from bulk_import.normalize import parse_provider
from bulk_import.output.digest import report_kind, shown_counts
from bulk_import.output.files import is_stdout
from bulk_import.output.lock import refuse_if_held
from bulk_import.output.recovery import GivenReport, ReportLine, read_report, sort_lines
from bulk_import.output.report import journal_path

TO_PATCH = frozenset({Status.WEBHOOK_FAILED, Status.PATCH_FAILED, Status.AGENT_MISMATCH})
NO_AGENT = "no agent to assign: the row names none; pass --agent-id"


def row_from_line(line: ReportLine) -> Row:
    """Rebuild the row a report line describes."""
    cells = {name: unneutralise(value) for name, value in line.cells.items()}
    text = cells["provider"]
    parsed = parse_provider(text) if text else None
    # PATCH sends no provider: a cell that does not parse is written back as it was.
    provider = parsed if isinstance(parsed, Provider) else Provider(id=text) if text else None
    return Row(
        row_number=line.row,
        input_number=cells["input_number"],
        number=cells["number"],
        label=cells["label"],
        provider=provider,
        agent_id=cells["agent_id"],
    )


class PatchJob:
    """PATCH each row's agent; rows not reached keep their lines."""

    judged: frozenset[Status] | None = TO_PATCH

    def __init__(self, lines: dict[int, ReportLine], agent_id: str | None) -> None:
        self._lines = lines
        self._agent_id = agent_id
        self._api: CartesiaApi | None = None

    async def start(self, api: CartesiaApi | None) -> list[str]:
        """Check the key and the base URL before the first PATCH (none: nothing to do)."""
        assert api is not None, "retry-patch calls the API"
        self._api = api
        if self._lines:
            await api.preflight()
        return []

    async def handle(self, row: Row) -> Outcome | None:
        """Assign the row's agent, looking its id up first when the report has none."""
        api = self._api
        assert api is not None
        assert row.row_number is not None
        line = self._lines[row.row_number]
        attempts = int(line.cells["attempts"] or 0)
        # A number that was in the account before (agent_mismatch) is agent_fixed once patched,
        # and stays agent_mismatch when the fix fails: never "patched", which rollback deletes.
        fix = line.status is Status.AGENT_MISMATCH
        failed = Status.AGENT_MISMATCH if fix else Status.PATCH_FAILED
        agent_id = self._agent_id or row.agent_id
        if not agent_id:
            return Outcome(row, failed, attempts=attempts, error=NO_AGENT)
        number_id = unneutralise(line.cells["phone_number_id"])
        if not number_id:
            found = await find_number_id(api, number=row.number)
            if found.not_sent:
                return None
            attempts += found.attempts
            if not found.id:
                return Outcome(row, failed, attempts=attempts, error=found.error)
            number_id = found.id
        outcome = await api.assign_agent(
            row, number_id=number_id, agent_id=agent_id, attempts=attempts, fix=fix
        )
        return None if outcome.status is Status.NOT_ATTEMPTED else outcome

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Keep a row the stopped run did not reach as it was, so that a later run finds it."""
        return None

    def finish(self) -> Iterable[Outcome]:
        """Add nothing after the report's rows."""
        return ()


def read_work(report: Path, output: Path) -> list[ReportLine]:
    """Return REPORT's lines, with the journal a killed run left beside ``output`` over them."""
    by_key = {line.key: line for line in read_report(report)}
    journal = journal_path(output)
    if journal.exists():
        by_key.update((line.key, line) for line in read_report(journal))
    return sort_lines(by_key)


def nothing_to_patch(report: str, lines: list[ReportLine]) -> str:
    """Say which kind of report has no row to patch, and why that is so."""
    statuses = Counter(line.cells["status"] for line in lines)
    kind = report_kind(statuses)
    why = {
        "a validate report": ": nothing was imported from it",
        "a report of rows never sent": ": none of its rows was sent",
        "a rollback report": ": rollback assigns no agent",
    }.get(kind, ": no row is webhook_failed, patch_failed or agent_mismatch")
    if kind == "a reconcile report":
        missing = ": no agent to fix (reconcile --apply imports the missing rows)"
        why = missing if statuses["missing"] else ", in sync"
    return f"nothing to patch: {report} is {kind} ({shown_counts(statuses)}){why}"


def plan_retry_patch(
    *,
    report: Path | GivenReport,
    agent_id: str | None,
    api: ApiOptions,
    output: OutputOptions,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Plan:
    """Plan patching every webhook_failed/patch_failed/agent_mismatch row of ``report``.

    ``report`` is REPORT's path, or a report given in memory (a library call's DataFrame).
    """

    name = str(report) if isinstance(report, Path) else report.name

    def prepare() -> tuple[Job, Work]:
        out = output.report
        if not isinstance(report, Path):
            lines = report.read()
        else:
            if out is None or is_stdout(out) or report.resolve() != out.resolve():
                refuse_if_held(report, reading="REPORT")  # another command's, maybe half-written
            lines = read_report(report) if out is None else read_work(report, out)
        todo = {line.row: line for line in lines if line.status in TO_PATCH and line.row}
        news = []
        if out is not None and journal_path(out).exists():
            news.append(f"a killed run left {journal_path(out)}: its rows are kept")
        if not todo:
            news.append(nothing_to_patch(name, lines))
        work = Work(
            rows=iter([row_from_line(line) for line in todo.values()]),
            total=len(todo),
            base=[line.values() for line in lines],
            news=news,
            workers=api.concurrency,
        )
        return PatchJob(todo, agent_id), work

    command = Command(
        name="retry-patch",
        input=name,
        output=output,
        api=api,
        options=options_in_force(api, output, agent_id=agent_id),
        agent_id=agent_id or "",
    )
    return Plan(command, prepare, transport)


retry_patch = executed(plan_retry_patch)
