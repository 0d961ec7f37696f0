"""``rollback``: undo what a run imported; a plan by default, with ``apply`` the deletes.

REPORT is a report of ``run``, ``retry-patch`` or ``reconcile --apply``. Only its rows whose
status says this tool created the number (:data:`~bulk_import.models.CREATED`) are candidates;
every other row is ``kept`` and never touched: above all ``already_imported``, ``agent_fixed``
and ``agent_mismatch``, numbers that were there before the run. So is a candidate whose number
or id such a row names too, or an earlier candidate does (:mod:`.rollback_input`).

Each candidate is looked up (GET by its ``phone_number_id``, else the list with
``q=<number>``) and compared with its row. An id that holds another number, a number gone from
its id and in the account again under another, a number looked up by ``q=`` that was created
after the row finished: none is the number this row created, so each is ``kept``, even with
``force``; so is a number ``q=`` does not find (nothing says it is gone: only a 404 does).
Then the label, and an agent other than the row's (none counts as unchanged: the run may have
failed to assign it, or an earlier rollback unassigned it), are what may have changed since the
run: ``kept``, or with ``force`` deleted. The plan writes ``would_delete``, or ``kept`` with
why. With ``apply`` the same checks come first, then ``PATCH {"agent_id": null}`` when an agent
is assigned (the API refuses to delete an assigned number), then ``DELETE``: ``deleted`` (204,
or 404: gone already), or ``delete_failed`` with the API's words.

The rollback writes its own report, one line per REPORT line (REPORT's cells, the rollback's
status, http_status, attempts and error), and never rewrites REPORT. Its rows go to the journal
as they finish, so killed and run again it keeps every row its report or journal holds as
``deleted`` (nothing is sent for them again) and checks every other row again. A ``deleted``
line whose REPORT row names no id is kept only when ``q=`` does not find its number in this
account: that line may be another account's (a rehearsal's rollback report at the same path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import httpx

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.listing import find_number_id
from bulk_import.api.numbers import Reply, delete_number, fetch_number, is_number_id, unassign
from bulk_import.api.providers import Holding, read_holding
from bulk_import.cells import unneutralise
from bulk_import.config import ApiOptions, OutputOptions
from bulk_import.jobs.engine import Command, Job, Plan, Work, executed, options_in_force
from bulk_import.jobs.patching import row_from_line
from bulk_import.jobs.rollback_checks import (
    MISSED,
    Found,
    changes,
    created_since,
    found_by_id,
    not_created,
    not_linked,
    other_number,
)
from bulk_import.jobs.rollback_input import Key, line_key, read_rollback_input
from bulk_import.models import CREATED, Outcome, Row, Status
from bulk_import.output.digest import CHANGED_SINCE
from bulk_import.output.recovery import GivenReport, ReportLine

#: A second Ctrl-C abandoned the row's request: what became of it, the next run finds out.
IN_FLIGHT_UNKNOWN = (
    "interrupted while its request was in flight (a second Ctrl-C): outcome unknown; run the "
    "same rollback again: it checks the row again (a number deleted meanwhile is gone already)"
)


class RollbackJob:
    """Check each candidate; plan its delete, or unassign and DELETE it."""

    judged: frozenset[Status] | None = None

    def __init__(
        self,
        lines: dict[Key, ReportLine],
        *,
        spared: dict[Key, str],
        carried: frozenset[Key],
        apply: bool,
        force: bool,
        confirm: dict[Key, ReportLine] | None = None,
    ) -> None:
        self._lines = lines
        self._spared = spared
        self._carried = carried
        self._confirm = confirm or {}
        self._apply = apply
        self._force = force
        self._api: CartesiaApi | None = None
        #: Which providers the account links: read once, when a number is first not found.
        self._holding: Holding | None = None
        self._reading = asyncio.Lock()

    def candidate(self, key: Key) -> bool:
        """Say whether the row of this key may be deleted (created by the run, and no other
        line of REPORT names its number)."""
        return self._lines[key].status in CREATED and key not in self._spared

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
        earlier = self._confirm.get(key)
        try:
            if earlier is not None:
                return await self._reconfirm(row, self._lines[key], earlier)
            return await self._undo(row, self._lines[key])
        except asyncio.CancelledError:
            # A second Ctrl-C abandons the request in flight. Absorbed here, as the pool does for
            # every job, so that the row says what is true of a rollback: checked again next run.
            if earlier is not None:
                return None  # its deleted line stands, checked again next run
            found = Found("", None, 0)
            return self._failed(row, found, IN_FLIGHT_UNKNOWN)

    async def _undo(self, row: Row, line: ReportLine) -> Outcome:
        """Look a candidate up, then keep it, plan its delete, or delete it."""
        found = await self._find(row, line)
        if found.absent:
            holding = await self._holding_of()
            if holding.failed:
                # Only the run's account can say a number is gone: unsure which this is, the
                # row is not counted as deleted, and the next run checks it again.
                said = found.gone or found.kept
                return self._failed(row, found, f"{said}; {holding.failed}")
            if not holding.links(row.provider):
                return self._outcome(row, Status.KEPT, found, error=not_linked(row.provider))
        return await self._judge(row, found)

    async def _reconfirm(self, row: Row, line: ReportLine, earlier: ReportLine) -> Outcome | None:
        """Re-check a deleted line of a row REPORT names no id: its id came from a q= in some
        account, perhaps another one (a rehearsal's rollback report at the same default path).
        It stands (``None``: the line is kept as it was) unless this account's q= lists the
        number: then the row is checked and deleted as any candidate."""
        found = await self._find(row, line)
        if not found.number_id:  # not listed here, or the look-up failed: nothing denies it
            return None
        outcome = await self._judge(row, found)
        # Listed here: its id is not one this account deleted (a 204 DELETE is not listed
        # again), or, if the listing lags, the DELETE is a 404.
        said = (
            f"the rollback report said {unneutralise(earlier.cells['phone_number_id'])} deleted "
            f"(in another account?), but q={row.number} lists it in this one as {found.number_id}"
        )
        return replace(outcome, error=_join(outcome.error, said))

    async def _judge(self, row: Row, found: Found) -> Outcome:
        """Keep a candidate, plan its delete, or delete it, on what its look-up found."""
        if found.not_sent:
            return self._outcome(row, Status.NOT_ATTEMPTED, found, error=found.error)
        if found.error:
            return self._failed(row, found, found.error)
        if found.kept:
            return self._outcome(row, Status.KEPT, found, error=found.kept)
        if found.gone:
            if self._apply:
                return self._outcome(
                    row, Status.DELETED, found, error=f"gone already: {found.gone}"
                )
            return self._outcome(
                row, Status.KEPT, found, error=f"gone already: {found.gone}; nothing to delete"
            )
        assert found.held is not None
        other = other_number(found.held, row)
        if other:
            return self._outcome(row, Status.KEPT, found, error=other)
        note = ""
        changed_since = changes(found.held, row)
        if changed_since:
            changed = CHANGED_SINCE + "; ".join(changed_since)
            if not self._force:
                return self._outcome(
                    row, Status.KEPT, found, error=f"{changed}; --force deletes it"
                )
            note = f"{changed}; " + ("deleted by --force" if self._apply else "--force deletes it")
        if not self._apply:
            return self._outcome(row, Status.WOULD_DELETE, found, error=note)
        return await self._delete(row, found, note)

    async def _holding_of(self) -> Holding:
        """Return which providers the account links (read once, on first need).

        A number an account does not hold is gone only if it is the run's account: one that
        does not link the row's provider is more likely another (a stale key or base URL).
        """
        async with self._reading:
            if self._holding is None:
                api = self._api
                assert api is not None
                rows = (
                    row_from_line(line) for key, line in self._lines.items() if self.candidate(key)
                )
                named = {found.provider for found in rows if found.provider is not None}
                self._holding = await read_holding(api, named)
        return self._holding

    async def _find(self, row: Row, line: ReportLine) -> Found:
        """Look the row's number up: by its id when REPORT gives one, else by its number."""
        api = self._api
        assert api is not None
        number_id = unneutralise(line.cells["phone_number_id"])
        if number_id and not is_number_id(number_id):
            # Never put into a URL path what could reach another path ("/", "..", "?").
            why = f"its phone_number_id {number_id!r} is not an id the API gives; nothing sent"
            return Found("", None, 0, kept=why)
        if not number_id:
            found = await self._by_number(row, 0)
            if found.gone:  # only a 404 says a number is gone: a search may miss it
                missed = f"not found by q={row.number}: gone, or not listed yet; {MISSED}"
                return replace(found, gone="", kept=missed, absent=True)
            if found.held is not None:
                return replace(found, kept=created_since(found.held, line))
            return found
        reply = await fetch_number(api, number_id)
        if not reply.gone or not row.number:
            return found_by_id(number_id, reply)
        # The id is gone: the number may be in the account again, under an id of its own.
        by_number = await self._by_number(row, reply.attempts)
        if by_number.number_id:
            return Found(
                number_id,
                None,
                by_number.attempts,
                by_number.code,
                kept=f"{number_id} is gone (GET 404), but {row.number} is in the account "
                f"again as {by_number.number_id}, which this REPORT did not create; roll back "
                "the report that did",
            )
        if by_number.gone:
            gone = f"GET {number_id} answered 404, and {row.number} is not in the account"
            return Found(number_id, None, by_number.attempts, 404, gone=gone, absent=True)
        return by_number

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
        reason = self._spared.get(key) or not_created(self._lines[key])
        return Outcome(row, Status.KEPT, phone_number_id=self._number_id(row), error=reason)

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Keep a row the run did not create; a candidate the stopped run did not reach is
        ``not_attempted`` (run again, it is checked again)."""
        key = _key(row)
        if not self.candidate(key):
            return self._kept_untouched(row, key)
        if key in self._confirm:
            return None  # its deleted line stands, checked again next run
        return Outcome(
            row, Status.NOT_ATTEMPTED, phone_number_id=self._number_id(row), error=reason
        )

    def finish(self) -> Iterable[Outcome]:
        """Add nothing after REPORT's rows."""
        return ()


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _key(row: Row) -> Key:
    """Return the :func:`~.rollback_input.line_key` of the line a row was rebuilt from."""
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
        carried = frozenset(line_key(line) for line in found.carried)
        job = RollbackJob(
            found.lines,
            spared=found.spared,
            carried=carried,
            confirm=found.confirm,
            apply=apply,
            force=force,
        )
        todo = [row_from_line(line) for key, line in found.lines.items() if key not in carried]
        news = list(found.news)
        if force:
            news.append("--force: numbers changed since the run are deleted too")
        if not apply:
            news.append("a plan: nothing is changed (--apply deletes)")
        work = Work(
            rows=iter(todo),
            total=len(todo),
            # The deleted lines re-confirmed stay in the journal until their row's new outcome
            # replaces them: a kill meanwhile must not lose the record of a delete.
            base=[line.values() for line in (*found.carried, *found.confirm.values())],
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
