"""``run``: import every row of INPUT; keep what an earlier run finished.

Before the first row: the key and base URL are checked (one cheap GET), and the providers the
rows name (one GET of the providers list, and one per Twilio account). Rows a killed run of
the same report finished (its journal) are kept and not sent again; with ``--resume`` so are the
report's own done rows. A report or journal of another input (or of this one before it was cut
short) is refused, with or without ``--resume``: replacing it would lose that input's work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import httpx

from bulk_import.api.cartesia import CartesiaApi
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
from bulk_import.models import Outcome, Provider, Row, Status
from bulk_import.output.files import is_stdout
from bulk_import.output.recovery import ReportLine, has_journal, numbers_named, recover
from bulk_import.output.report import journal_path
from bulk_import.sources import Source


class ImportJob:
    """POST each row; a stop leaves the rows not sent ``not_attempted``."""

    judged: frozenset[Status] | None = None

    def __init__(self, providers: set[Provider], tried: dict[int, int] | None = None) -> None:
        self._api: CartesiaApi | None = None
        self._providers = providers
        #: Tries an earlier run made for rows it left ``failed`` with a 5xx or no answer: they
        #: count in the row's attempts, so that a 409 now reads as the retry it is (its own POST
        #: may have stored the number), as a 409 on a retry within one run does.
        self._tried = tried or {}

    async def start(self, api: CartesiaApi | None) -> list[str]:
        """Check the key, the base URL and the providers the rows name, before the first row."""
        assert api is not None, "run calls the API"
        self._api = api
        await api.preflight()
        if api.control.stopping:
            return []
        return await check_providers(api, self._providers)

    async def handle(self, row: Row) -> Outcome | None:
        """Import one row."""
        assert self._api is not None
        outcome = await self._api.import_row(row)
        before = self._tried.get(row.row_number or 0, 0)
        return replace(outcome, attempts=outcome.attempts + before) if before else outcome

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Mark a row the stopped run did not send ``not_attempted``."""
        return Outcome(row, Status.NOT_ATTEMPTED, error=reason)

    def finish(self) -> Iterable[Outcome]:
        """Add nothing after the input's rows."""
        return ()


def _kept_before(
    opened: Source,
    report: Path,
    *,
    resume: bool,
    listed: bool,
    region: str,
    news: list[str],
    tried: dict[int, int],
) -> dict[int, ReportLine]:
    """Return the lines of ``report`` (with ``resume``) or of its journal that are done, by row;
    refuse another input's; add what was kept to ``news``, and to ``tried`` the tries of each
    row left ``failed`` where its POST may have stored the number."""
    journal = has_journal(report)
    if resume:
        lines = recover(report)
        check_report_belongs(opened, report, region=region, named=numbers_named(lines))
        kept = kept_lines(lines)
    else:
        lines = recover(report, journal_only=True) if journal else []
        kept = kept_lines(lines)
        # A twilio: listing's rows move as numbers are bought and released: only the rows
        # a killed run finished are held to this listing.
        named = numbers_named(kept.values()) if listed else None
        if not is_stdout(report) and (named is None or named):
            check_report_belongs(opened, report, region=region, named=named)
    if kept:
        if journal:
            news.append(f"a killed run left {journal_path(report)}: the rows it finished are kept")
        news.append(f"resuming: {len(kept)} rows already done in {report} are kept")
    # A POST abandoned by a second Ctrl-C was sent, though its line counts 0 tries: at least 1.
    tried.update(
        (line.row, max(int(tries) if (tries := line.cells["attempts"]).isdigit() else 0, 1))
        for line in lines
        if line.row is not None and line.maybe_stored
    )
    return kept


def plan_run(
    *,
    source: Input,
    input_options: InputOptions,
    api: ApiOptions,
    output: OutputOptions,
    resume: bool = False,
    stdin: BinaryIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    twilio: TwilioOptions | None = None,
) -> Plan:
    """Plan importing every row of ``source``, and the report.

    A ``twilio:`` INPUT is listed whole (``twilio``) before the key is checked or a row sent.
    """

    def prepare() -> tuple[Job, Work]:
        opened = open_source(source, input_options, stdin, twilio=twilio)
        news, requests = opening_news(opened)
        report = output.report
        kept: dict[int, ReportLine] = {}
        tried: dict[int, int] = {}
        if report is not None:  # a report kept in memory has nothing from before
            kept = _kept_before(
                opened,
                report,
                resume=resume,
                listed=is_listed(source),
                region=input_options.default_region,
                news=news,
                tried=tried,
            )
        rows = normalised(opened, input_options)
        work = Work(
            rows=skip_kept(rows, kept) if kept else rows,
            total=max(opened.count - len(kept), 0),
            base=[line.values() for line in kept.values()],
            news=news,
            workers=api.concurrency,
            requests=requests,
            twilio=opening_facts(opened),
        )
        return ImportJob(providers_named(opened, input_options), tried), work

    command = Command(
        name="run",
        input=input_name(source),
        output=output,
        api=api,
        options=options_in_force(
            input_options, api, output, resume=resume, **(twilio.shown() if twilio else {})
        ),
        agent_id=input_options.agent_id or "",
    )
    return Plan(command, prepare, transport)


run = executed(plan_run)
