"""``rollback``: undo what a run imported; a plan by default, with ``apply`` the deletes.

REPORT is a report of ``run``, ``retry-patch`` or ``reconcile --apply``. Only its rows whose
status says this tool created the number (:data:`~bulk_import.models.CREATED`) are candidates;
every other row is ``kept`` and never touched: above all ``already_imported``, ``agent_fixed``
and ``agent_mismatch``, numbers that were there before the run.

Each candidate is looked up (GET by its ``phone_number_id``, else the list with
``q=<number>``) and compared with its row: the same number, the same label, and no agent other
than the row's (none counts as unchanged: the run may have failed to assign it, or an earlier
rollback unassigned it). The plan writes ``would_delete``, or ``kept`` with what changed. With
``apply`` the same checks come first, then ``PATCH {"agent_id": null}`` when an agent is
assigned (the API refuses to delete an assigned number), then ``DELETE``: ``deleted`` (204, or
404: gone already), or ``delete_failed`` with the API's words. ``force`` deletes the numbers
changed since the run too. A number gone from its id but in the account under another id was
deleted and imported again since: this REPORT did not create that one, so it is kept even with
``force``.

The rollback writes its own report, one line per REPORT line (REPORT's cells, the rollback's
status, http_status, attempts and error), and never rewrites REPORT. Its rows go to the journal
as they finish, so killed and run again it keeps every row its report or journal holds as
``deleted`` (nothing is sent for them again) and checks every other row again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.listing import Held, find_number_id
from bulk_import.api.numbers import Reply, delete_number, fetch_number, is_number_id, unassign
from bulk_import.cells import unneutralise
from bulk_import.config import ApiOptions, OutputOptions
from bulk_import.jobs.engine import Command, Job, Plan, Work, executed, options_in_force
from bulk_import.jobs.patching import row_from_line
from bulk_import.jobs.rollback_input import Key, read_rollback_input
from bulk_import.models import CREATED, Outcome, Row, Status
from bulk_import.output.recovery import GivenReport, ReportLine

#: Rows whose number was in the account before the run: never deleted, whatever happens.
THERE_BEFORE = frozenset(
    {
        Status.ALREADY_IMPORTED,
        Status.AGENT_FIXED,
        Status.AGENT_MISMATCH,
        Status.IN_SYNC,
        Status.EXTRA,
    }
)


@dataclass(frozen=True, slots=True)
class Found:
    """Hold what a candidate's look-up found: the id and what it holds, or why there is none."""

    number_id: str
    held: Held | None
    attempts: int
    code: int | None = None
    #: The number is not in the account: why ("" when it is, or the look-up failed).
    gone: str = ""
    #: Why the look-up failed ("" when it did not).
    error: str = ""
    not_sent: bool = False
    #: The number is in the account under an id REPORT does not give: why it is kept.
    elsewhere: str = ""


def _changes(held: Held, row: Row) -> list[str]:
    """Say what differs between the number the run created and what its id holds now."""
    changes = []
    if held.number != row.number:
        changes.append(f"its id now holds {held.number}")
    if held.label.strip() != row.label.strip():
        changes.append(f"its label is now {held.label!r}, the run's {row.label!r}")
    if held.agent_id and held.agent_id != row.agent_id:
        changes.append(f"its agent is now {held.agent_id}, the run's {row.agent_id or 'none'}")
    return changes


def _not_created(line: ReportLine) -> str:
    """Say why a row that is not a candidate is kept."""
    status = line.status
    tries = line.cells["attempts"]
    if status is Status.ALREADY_IMPORTED and tries.isdigit() and int(tries) > 1:
        # A retried POST that finds its own earlier success answers 409 too (SPEC): say so, so
        # that a person can check the number; rollback cannot tell, so it never deletes it.
        return (
            f"already_imported on a retry ({tries} tries): there before the run, or the run's "
            "own earlier try; never deleted: check it by hand"
        )
    if status in THERE_BEFORE:
        return f"in the account before the run ({status}): never deleted"
    return f"not imported by the run ({status}): nothing to delete"


class RollbackJob:
    """Check each candidate; plan its delete, or unassign and DELETE it."""

    judged: frozenset[Status] | None = None

    def __init__(
        self,
        lines: dict[Key, ReportLine],
        *,
        twins: dict[Key, int],
        carried: frozenset[Key],
        apply: bool,
        force: bool,
    ) -> None:
        self._lines = lines
        self._twins = twins
        self._carried = carried
        self._apply = apply
        self._force = force
        self._api: CartesiaApi | None = None

    def candidate(self, key: Key) -> bool:
        """Say whether the row of this key may be deleted (created by the run, not a twin)."""
        return self._lines[key].status in CREATED and key not in self._twins

    async def start(self, api: CartesiaApi | None) -> list[str]:
        """Check the key and the base URL before the first look-up (none: nothing to look up)."""
        assert api is not None, "rollback calls the API"
        self._api = api
        if any(self.candidate(key) for key in self._lines if key not in self._carried):
            await api.preflight()
        return []

    async def handle(self, row: Row) -> Outcome | None:
        """Keep a row the run did not create; check a candidate, then plan or delete it."""
        key = _key(row)
        if not self.candidate(key):
            return self._kept_untouched(row, key)
        found = await self._find(row, self._lines[key])
        if found.not_sent:
            return self._outcome(row, Status.NOT_ATTEMPTED, found, error=found.error)
        if found.error:
            return self._failed(row, found, found.error)
        if found.elsewhere:
            return self._outcome(row, Status.KEPT, found, error=found.elsewhere)
        if found.gone:
            if self._apply:
                return self._outcome(
                    row, Status.DELETED, found, error=f"gone already: {found.gone}"
                )
            return self._outcome(
                row, Status.KEPT, found, error=f"gone already: {found.gone}; nothing to delete"
            )
        assert found.held is not None
        note = ""
        changes = _changes(found.held, row)
        if changes:
            changed = "changed since the run: " + "; ".join(changes)
            if not self._force:
                return self._outcome(
                    row, Status.KEPT, found, error=f"{changed}; --force deletes it"
                )
            note = f"{changed}; " + ("deleted by --force" if self._apply else "--force deletes it")
        if not self._apply:
            return self._outcome(row, Status.WOULD_DELETE, found, error=note)
        return await self._delete(row, found, note)

    async def _find(self, row: Row, line: ReportLine) -> Found:
        """Look the row's number up: by its id when REPORT gives one, else by its number."""
        api = self._api
        assert api is not None
        number_id = unneutralise(line.cells["phone_number_id"])
        if number_id and not is_number_id(number_id):
            # Never put into a URL path what could reach another path ("/", "..", "?").
            why = f"its phone_number_id {number_id!r} is not an id the API gives; nothing sent"
            return Found("", None, 0, elsewhere=why)
        if number_id:
            reply = await fetch_number(api, number_id)
            if not reply.gone or not row.number:
                return _found(number_id, reply)
            # The id is gone: the number may be in the account again, under an id of its own.
            by_number = await self._by_number(row, reply.attempts)
            if by_number.number_id:
                return Found(
                    number_id,
                    None,
                    by_number.attempts,
                    by_number.code,
                    elsewhere=f"{number_id} is gone (GET 404), but {row.number} is in the account "
                    f"again as {by_number.number_id}, which this REPORT did not create; roll back "
                    "the report that did",
                )
            if by_number.gone:
                gone = f"GET {number_id} answered 404, and {row.number} is not in the account"
                return Found(number_id, None, by_number.attempts, 404, gone=gone)
            return by_number
        return await self._by_number(row, 0)

    async def _by_number(self, row: Row, attempts: int) -> Found:
        """Look a number up in the list (``q=<number>``)."""
        api = self._api
        assert api is not None
        lookup = await find_number_id(api, number=row.number)
        attempts += lookup.attempts
        if lookup.not_sent:
            return Found("", None, attempts, error=lookup.error, not_sent=True)
        if lookup.id:
            if not is_number_id(lookup.id):
                error = f"look-up failed: the API gave {lookup.id!r}, which is not an id"
                return Found("", None, attempts, 200, error=error)
            return Found(lookup.id, lookup.held, attempts, 200)
        if lookup.missing:
            return Found("", None, attempts, 200, gone=f"{row.number} is not in the account")
        return Found("", None, attempts, error=lookup.error)

    async def _delete(self, row: Row, found: Found, note: str) -> Outcome:
        """Unassign the number when an agent is assigned, then DELETE it."""
        api = self._api
        assert api is not None
        assert found.held is not None
        attempts = found.attempts
        unassigned = ""
        number_id = found.number_id
        if found.held.agent_id:
            reply = await unassign(api, number_id)
            attempts += reply.attempts
            # A 404 says the number (or, says the OpenAPI, an agent) is not found: the DELETE
            # tells which, and refuses a number still assigned.
            if not (reply.done or reply.gone):
                return self._ended(row, found, reply, attempts, note)
            if reply.done:
                unassigned = f"unassigned from {found.held.agent_id}"
        reply = await delete_number(api, number_id)
        attempts += reply.attempts
        if not reply.done:
            return self._ended(row, found, reply, attempts, _join(note, unassigned))
        return Outcome(row, Status.DELETED, reply.code, number_id, attempts, note)

    def _ended(self, row: Row, found: Found, reply: Reply, attempts: int, note: str) -> Outcome:
        """Say how an unassign or DELETE that did not do its work ends the row."""
        number_id = found.number_id
        if reply.gone:  # the DELETE's 404
            gone = "gone already: DELETE answered 404"
            return Outcome(row, Status.DELETED, reply.code, number_id, attempts, _join(gone, note))
        if reply.not_sent:
            error = _join(f"checked, not deleted: {reply.error}", note)
            return Outcome(row, Status.NOT_ATTEMPTED, None, number_id, attempts, error)
        return Outcome(
            row, Status.DELETE_FAILED, reply.code, number_id, attempts, _join(reply.error, note)
        )

    def _failed(self, row: Row, found: Found, error: str) -> Outcome:
        """Say that a candidate could not be checked: the plan's ``failed``, or not deleted."""
        if self._apply:
            return self._outcome(row, Status.DELETE_FAILED, found, error=f"not deleted: {error}")
        return self._outcome(row, Status.FAILED, found, error=f"not checked: {error}")

    def _outcome(self, row: Row, status: Status, found: Found, *, error: str) -> Outcome:
        number_id = found.number_id or self._number_id(row)
        return Outcome(row, status, found.code, number_id, found.attempts, error)

    def _number_id(self, row: Row) -> str:
        return unneutralise(self._lines[_key(row)].cells["phone_number_id"])

    def _kept_untouched(self, row: Row, key: Key) -> Outcome:
        line = self._lines[key]
        twin = self._twins.get(key)
        if twin is not None:
            reason = f"the same number as row {twin}, which this rollback handles"
        else:
            reason = _not_created(line)
        return Outcome(row, Status.KEPT, phone_number_id=self._number_id(row), error=reason)

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Keep a row the run did not create; a candidate the stopped run did not reach is
        ``not_attempted`` (run again, it is checked again)."""
        key = _key(row)
        if not self.candidate(key):
            return self._kept_untouched(row, key)
        return Outcome(
            row, Status.NOT_ATTEMPTED, phone_number_id=self._number_id(row), error=reason
        )

    def finish(self) -> Iterable[Outcome]:
        """Add nothing after REPORT's rows."""
        return ()


def _found(number_id: str, reply: Reply) -> Found:
    """Turn a GET by id into what the look-up found."""
    if reply.not_sent:
        return Found(number_id, None, reply.attempts, error=reply.error, not_sent=True)
    if reply.gone:
        gone = f"GET {number_id} answered 404"
        return Found(number_id, None, reply.attempts, reply.code, gone=gone)
    if reply.error:
        return Found(number_id, None, reply.attempts, reply.code, error=reply.error)
    return Found(number_id, reply.held, reply.attempts, reply.code)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _key(row: Row) -> Key:
    return row.row_number if row.row_number is not None else "extra " + row.number


def plan_rollback(
    *,
    report: Path | GivenReport,
    api: ApiOptions,
    output: OutputOptions,
    apply: bool = False,
    force: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Plan:
    """Plan undoing what REPORT's run imported: a plan, or with ``apply`` deleting it.

    ``force`` deletes the numbers changed since the run too. REPORT (a path, or a report given
    in memory: a library call's DataFrame) is never rewritten.
    """

    def prepare() -> tuple[Job, Work]:
        found = read_rollback_input(report, output.report)
        carried = frozenset(line.key for line in found.carried)
        job = RollbackJob(found.lines, twins=found.twins, carried=carried, apply=apply, force=force)
        todo = [row_from_line(line) for key, line in found.lines.items() if key not in carried]
        news = list(found.news)
        if force:
            news.append("--force: numbers changed since the run are deleted too")
        if not apply:
            news.append("a plan: nothing is changed (--apply deletes)")
        work = Work(
            rows=iter(todo),
            total=len(todo),
            base=[line.values() for line in found.carried],
            news=news,
            workers=api.concurrency,
        )
        return job, work

    command = Command(
        name="rollback",
        input=str(report) if isinstance(report, Path) else report.name,
        output=output,
        api=api,
        options=options_in_force(api, output, apply=apply, force=force),
    )
    return Plan(command, prepare, transport)


rollback = executed(plan_rollback)
