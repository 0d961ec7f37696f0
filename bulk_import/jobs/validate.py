"""``validate``: read and normalise every row, no network; status valid / invalid / duplicate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.config import InputOptions, OutputOptions, TwilioOptions
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

#: validate flushes its journal at most this often: it sends nothing, so nothing can be lost.
FLUSH_EVERY_S = 0.2
INTERRUPTED = "validation interrupted"


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
