"""``reconcile``: compare INPUT with what the account holds; with ``apply``, fix it. Never deletes.

One listing pass (:func:`bulk_import.api.listing.list_account`, ``ceil(N / 100)`` requests for
N numbers) keeps, per E.164 number, its id and agent. Each input row is then ``in_sync``,
``missing`` or ``agent_mismatch``; numbers of the account that INPUT does not list are ``extra``.
``apply`` imports the missing rows and PATCHes the mismatched ones through the same API layer
as ``run`` and ``retry-patch``. The first page of the listing is the run's check of the key and
base URL: a refused key or an unreachable API ends it before any row, the report untouched.
The rows a killed (or stopped) ``apply`` imported or fixed, which its journal alone records,
are kept as they are by the next run, as ``run`` keeps them: rollback can still undo them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

import httpx

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.listing import Held, ListingError, list_account
from bulk_import.api.providers import check_providers
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, TwilioOptions
from bulk_import.jobs.engine import Command, Job, Plan, Work, executed, options_in_force
from bulk_import.jobs.inputs import (
    Input,
    check_report_belongs,
    input_name,
    is_listed,
    kept_lines,
    normalised,
    open_source,
    opening_facts,
    opening_news,
    providers_named,
    skip_kept,
)
from bulk_import.models import Exit, Outcome, Provider, Row, Status
from bulk_import.output.files import is_stdout
from bulk_import.output.recovery import has_journal, recover
from bulk_import.output.report import journal_path


class ReconcileJob:
    """Judge each row against the account's listing; with ``apply``, import or PATCH it."""

    judged: frozenset[Status] | None = None

    def __init__(self, *, apply: bool, provider_id: str | None, providers: set[Provider]) -> None:
        self._apply = apply
        self._provider_id = provider_id
        self._providers = providers
        self._api: CartesiaApi | None = None
        self._held: dict[str, Held] = {}
        self._seen: set[str] = set()

    def watch(self, rows: Iterator[Row]) -> Iterator[Row]:
        """Note every number INPUT names, handled or not, so that none is also an ``extra``."""
        seen = self._seen
        for row in rows:
            if row.number:
                seen.add(row.number)
            yield row

    async def start(self, api: CartesiaApi | None) -> list[str]:
        """List the whole account once (its first page checks the key and the base URL)."""
        assert api is not None, "reconcile calls the API"
        self._api = api
        try:
            self._held = await list_account(api, provider_id=self._provider_id)
        except ListingError as exc:
            api.control.stop(str(exc), exit_code=Exit.STOPPED)
            return []
        news = [f"the account holds {len(self._held)} numbers"]
        if self._apply:  # --apply imports: the providers it imports with must be there
            news += await check_providers(api, self._providers)
        return news

    async def handle(self, row: Row) -> Outcome | None:
        """Judge one row; with ``apply``, fix what differs."""
        api = self._api
        assert api is not None
        have = self._held.get(row.number)
        if have is None:
            if not self._apply:
                return Outcome(row, Status.MISSING, error="not in the account")
            return await api.import_row(row)
        if not row.agent_id or row.agent_id == have.agent_id:
            return Outcome(row, Status.IN_SYNC, phone_number_id=have.id)
        if not self._apply:
            return Outcome(
                row,
                Status.AGENT_MISMATCH,
                phone_number_id=have.id,
                error=f"the account assigns {have.agent_id or 'no agent'}",
            )
        return await api.assign_agent(row, number_id=have.id, agent_id=row.agent_id, fix=True)

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Mark a row the stopped run did not reach ``not_attempted``."""
        return Outcome(row, Status.NOT_ATTEMPTED, error=reason)

    def finish(self) -> Iterable[Outcome]:
        """Return an ``extra`` line for each number of the account that INPUT does not list."""
        for number, have in self._held.items():
            if number not in self._seen:
                yield _extra(have)


def _extra(have: Held) -> Outcome:
    row = Row(
        row_number=None,
        input_number="",
        number=have.number,
        label=have.label,
        provider=Provider(id=have.provider_id) if have.provider_id else None,
        agent_id=have.agent_id,
    )
    return Outcome(row, Status.EXTRA, phone_number_id=have.id, error="in the account, not in INPUT")


def plan_reconcile(
    *,
    source: Input,
    input_options: InputOptions,
    api: ApiOptions,
    output: OutputOptions,
    apply: bool = False,
    stdin: BinaryIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    twilio: TwilioOptions | None = None,
) -> Plan:
    """Plan diffing ``source`` against the account (with ``apply``, fixing it), and the report.

    A ``twilio:`` INPUT (``twilio``) is listed whole first: a half-read Twilio account is
    never reconciled.
    """

    def prepare() -> tuple[Job, Work]:
        opened = open_source(source, input_options, stdin, twilio=twilio)
        report = output.report
        # Its rows name input rows too: another file's report is not replaced. (A twilio:
        # listing's rows move as numbers are bought and released; its report is the account's.)
        if not is_listed(source) and report is not None and not is_stdout(report):
            check_report_belongs(opened, report, region=input_options.default_region)
        news, requests = opening_news(opened)
        # What a killed (or stopped) --apply did is recorded only in its journal: those rows are
        # kept as they are, never judged again (their numbers would read in_sync now, and the
        # record of their creation, which rollback undoes, would be lost).
        kept = {}
        if report is not None and not is_stdout(report) and has_journal(report):
            kept = kept_lines(recover(report, journal_only=True))
            if kept:
                news.append(
                    f"a killed run left {journal_path(report)}: the {len(kept)} rows it did "
                    "are kept"
                )
        providers = providers_named(opened, input_options) if apply else set()
        job = ReconcileJob(apply=apply, provider_id=input_options.provider_id, providers=providers)
        # Watched before they are skipped: a kept row's number is INPUT's, never an extra.
        rows = job.watch(normalised(opened, input_options))
        work = Work(
            rows=skip_kept(rows, kept) if kept else rows,
            total=max(opened.count - len(kept), 0),
            base=[line.values() for line in kept.values()],
            workers=api.concurrency,
            news=news,
            requests=requests,
            twilio=opening_facts(opened),
        )
        return job, work

    command = Command(
        name="reconcile",
        input=input_name(source),
        output=output,
        api=api,
        options=options_in_force(
            input_options, api, output, apply=apply, **(twilio.shown() if twilio else {})
        ),
        agent_id=input_options.agent_id or "",
    )
    return Plan(command, prepare, transport)


reconcile = executed(plan_reconcile)
