"""``validate``: read and normalise every row, no network; status valid / invalid / duplicate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from bulk_import.config import InputOptions, OutputOptions, TwilioOptions
from bulk_import.errors import UsageError
from bulk_import.jobs.engine import Command, Job, Plan, Work, executed, options_in_force
from bulk_import.jobs.inputs import (
    Input,
    input_name,
    normalised,
    open_source,
    opening_facts,
    opening_news,
    parse_workers,
)
from bulk_import.models import Outcome, Row, Status
from bulk_import.output.digest import read_digest, report_kind, shown_counts
from bulk_import.output.files import is_stdout
from bulk_import.output.report import journal_path

if TYPE_CHECKING:  # validate sends nothing: the API layer is never imported for it
    from bulk_import.api.cartesia import CartesiaApi

#: validate flushes its journal at most this often: it sends nothing, so nothing can be lost.
FLUSH_EVERY_S = 0.2
INTERRUPTED = "validation interrupted"
#: The statuses of validate's own reports: the only ones it replaces.
OWN_STATUSES: Final = frozenset({Status.VALID, Status.INVALID, Status.DUPLICATE})


class ValidateJob:
    """Mark each row that would be sent ``valid``; the rest carry their own status."""

    judged: frozenset[Status] | None = None

    async def start(self, api: CartesiaApi | None) -> list[str]:
        """Check nothing: validate needs no network."""
        return []

    async def handle(self, row: Row) -> Outcome | None:
        """Return the row as ``valid``."""
        return Outcome(row, Status.VALID)

    def not_sent(self, row: Row, reason: str) -> Outcome | None:
        """Mark a row an interrupted run did not check ``not_attempted``."""
        return Outcome(row, Status.NOT_ATTEMPTED, error=INTERRUPTED)

    def finish(self) -> Iterable[Outcome]:
        """Add nothing after the input's rows."""
        return ()


def check_replaceable(report: Path) -> None:
    """Refuse a report (or a killed run's journal beside it) holding another command's rows.

    Only valid, invalid and duplicate rows are validate's, and the ``not_attempted`` rows an
    interrupted validate left: a run's, a retry-patch's or a reconcile's report is the only
    record of what was done in the account. Raise :class:`UsageError` (exit 2) naming it.
    """
    for path in (report, journal_path(report)):
        found = read_digest(path)
        if found is None:
            continue
        foreign = Counter(
            {status: n for status, n in found.statuses.items() if status not in OWN_STATUSES}
        )
        foreign["not_attempted"] -= found.unsent[INTERRUPTED]
        foreign = +foreign  # keeps the counts above zero only
        if foreign:
            kind = report_kind(found.statuses)
            raise UsageError(
                f"{path} is {kind} ({shown_counts(foreign)}): validate never replaces another "
                "command's record; pass another --report"
            )


def plan_validate(
    *,
    source: Input,
    input_options: InputOptions,
    output: OutputOptions,
    stdin: BinaryIO | None = None,
    twilio: TwilioOptions | None = None,
) -> Plan:
    """Plan reading and normalising every row: a report with valid/invalid/duplicate.

    No network, and no Cartesia key, but for a ``twilio:`` INPUT, which is listed from Twilio
    (``twilio``: the account and its credentials). Ctrl-C or SIGTERM stops it with exit 130;
    the rows not checked yet are ``not_attempted``.
    """

    def prepare() -> tuple[Job, Work]:
        if output.report is not None and not is_stdout(output.report):
            check_replaceable(output.report)
        opened = open_source(source, input_options, stdin, twilio=twilio)
        news, requests = opening_news(opened)

        def rest(after: int) -> Iterator[Row]:
            # After a stop the rest is only listed, not parsed: the source reads again.
            for raw in opened:
                if raw.row_number > after:
                    yield Row(raw.row_number, raw.number.strip(), "", raw.label)

        workers = parse_workers(source, rows=opened.count)
        rows = normalised(opened, input_options, workers=workers)
        work = Work(
            rows=rows,
            total=opened.count,
            rest=rest,
            flush_every_s=FLUSH_EVERY_S,
            news=news,
            requests=requests,
            twilio=opening_facts(opened),
        )
        return ValidateJob(), work

    command = Command(
        name="validate",
        input=input_name(source),
        output=output,
        options=options_in_force(input_options, output, **(twilio.shown() if twilio else {})),
    )
    return Plan(command, prepare)


validate = executed(plan_validate)
