"""Import rows into Cartesia (``run``) or only check them (``validate``).

The data flows one way: reader → normalize → (resume filter) → runner → report → summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Generator, Iterator
from typing import BinaryIO

import httpx

from bulk_import.client import CartesiaClient, describe_error, is_webhook_failure, parse_json
from bulk_import.config import ApiOptions, InputOptions, OutputOptions
from bulk_import.models import RESUME_KEEP, Outcome, Row, Status, Summary
from bulk_import.normalize import prepare
from bulk_import.report import ReportLine, read_report
from bulk_import.retry import RETRY_STATUSES
from bulk_import.runner import (
    EXIT_INTERRUPTED,
    Caller,
    Sent,
    StopControl,
    run_pool,
    stop_on_signals,
)
from bulk_import.session import Session
from bulk_import.sources import InputSource, open_input

#: validate flushes its report at most this often: it sends nothing, so nothing can be lost.
VALIDATE_FLUSH_S = 0.2
#: Files this large have their numbers parsed on every core (a 1M-row CSV is about 40 MB).
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
MAX_PARSE_WORKERS = 4


def validate(
    *,
    source: str,
    input_options: InputOptions,
    output: OutputOptions,
    stdin: BinaryIO | None = None,
) -> Summary:
    """Read and normalise every row, write the report with valid/invalid/duplicate; no network.

    Ctrl-C or SIGTERM stops it with exit 130; the rows not checked yet are ``not_attempted``.
    """
    reader = _open(source, input_options, stdin)
    rows: Generator[Row, None, None] = prepare(
        reader, input_options, workers=parse_workers(_size(source))
    )
    session = Session(
        command="validate", input_name=source, output=output, flush_every_s=VALIDATE_FLUSH_S
    )
    last = 0
    stop_exit = 0
    try:
        with interrupt_on_sigterm():
            for row in rows:
                status = Status.VALID if row.status is None else row.status
                session.emit(Outcome(row, status, error=row.error))
                last = row.row or last
    except KeyboardInterrupt:
        stop_exit = EXIT_INTERRUPTED
        rows.close()
        for raw in reader:  # the source reads again from the start: skip what was done
            if raw.row > last:
                row = Row(raw.row, raw.number.strip(), "", raw.label)
                session.emit(Outcome(row, Status.NOT_ATTEMPTED, error="validation interrupted"))
    finally:
        summary = session.close(stop_exit=stop_exit, stopped="interrupted" if stop_exit else "")
        reader.close()
    return summary


def _size(source: str) -> int | None:
    try:
        return None if source == "-" else os.path.getsize(source)
    except OSError:  # pragma: no cover - open_input has just read it
        return None


def parse_workers(size: int | None) -> int:
    """Return how many processes should parse numbers: all cores for a large file, else one."""
    if size is None or size < PARALLEL_FROM_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_PARSE_WORKERS))


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a synchronous command runs (main thread only)."""

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # pragma: no cover - not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open(source: str, options: InputOptions, stdin: BinaryIO | None) -> InputSource:
    return open_input(
        source,
        sheet=options.sheet,
        number_column=options.number_column,
        label_column=options.label_column,
        stdin=stdin,
    )


def open_rows(source: str, options: InputOptions, stdin: BinaryIO | None) -> Iterator[Row]:
    """Open the input and return its rows, normalised; input errors are raised here."""
    return prepare(_open(source, options, stdin), options)


def run(
    *,
    source: str,
    input_options: InputOptions,
    api: ApiOptions,
    output: OutputOptions,
    resume: bool = False,
    stdin: BinaryIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    """Import every row of ``source``; write the report; return the summary."""
    rows = open_rows(source, input_options, stdin)
    kept = _kept_lines(output) if resume else {}
    return asyncio.run(
        _run(rows=rows, source=source, api=api, output=output, kept=kept, transport=transport)
    )


def _kept_lines(output: OutputOptions) -> dict[int, ReportLine]:
    """Return the rows of an existing report that ``--resume`` keeps, by row number."""
    if not output.report.exists():
        return {}
    return {
        line.row: line
        for line in read_report(output.report)
        if line.row is not None and line.status in RESUME_KEEP
    }


def _skip_kept(rows: Iterator[Row], kept: dict[int, ReportLine], session: Session) -> Iterator[Row]:
    """Drop rows a resumed report already holds as done (same row, same number)."""
    for row in rows:
        line = kept.get(row.row or 0)
        if line is not None:
            if row.status is None and line.cells["number"] == row.number:
                continue
            # The input changed since: the row's new outcome replaces the kept line.
            session.forget_kept(line.cells["status"])
        yield row


async def _run(
    *,
    rows: Iterator[Row],
    source: str,
    api: ApiOptions,
    output: OutputOptions,
    kept: dict[int, ReportLine],
    transport: httpx.AsyncBaseTransport | None,
) -> Summary:
    caller = Caller.for_options(api)
    control, counters = caller.control, caller.counters
    session = Session(
        command="run",
        input_name=source,
        output=output,
        kept=(line.values() for line in kept.values()),
        retrying=lambda: counters.retrying,
    )
    if kept:
        session.log(f"resuming: {len(kept)} rows already done in {output.report} are kept")
    try:
        async with CartesiaClient(api, transport=transport) as client:

            async def handle(row: Row) -> Outcome:
                payload = row.payload()
                sent = await caller.send(lambda: client.import_number(payload))
                return import_outcome(row, sent, control)

            with stop_on_signals(control):
                await run_pool(
                    _skip_kept(rows, kept, session) if kept else rows,
                    handle=handle,
                    emit=session.emit,
                    control=control,
                    workers=api.concurrency,
                    max_consecutive_failures=api.max_consecutive_failures,
                )
    finally:
        summary = session.close(
            requests=counters.requests, stop_exit=control.exit_code, stopped=control.reason
        )
    return summary


def import_outcome(row: Row, sent: Sent, control: StopControl) -> Outcome:
    """Turn the final answer to one import into the row's outcome."""
    attempts = sent.attempts
    response = sent.response
    if response is None:
        if attempts == 0:  # the run stopped before the request went out
            return Outcome(row, Status.NOT_ATTEMPTED, error=sent.error)
        return Outcome(row, Status.FAILED, attempts=attempts, error=_gave_up(sent, control))
    code = response.status_code
    if code == 201:
        body = parse_json(response)
        found = body.get("id") if isinstance(body, dict) else None
        # Only a string is an id: a hostile or broken 201 must not put "None" or "{...}" where
        # retry-patch will look for the id to PATCH.
        number_id = found if isinstance(found, str) else ""
        return Outcome(row, Status.IMPORTED, code, number_id, attempts)
    if code == 409:
        return Outcome(row, Status.ALREADY_IMPORTED, code, attempts=attempts)
    if is_webhook_failure(response):
        return Outcome(
            row, Status.WEBHOOK_FAILED, code, attempts=attempts, error=describe_error(response)
        )
    return Outcome(
        row, Status.FAILED, code, attempts=attempts, error=failure_text(response, sent, control)
    )


def failure_text(response: httpx.Response, sent: Sent, control: StopControl) -> str:
    """Describe a final answer that is a failure; stop the run when it means the key is refused."""
    code = response.status_code
    error = describe_error(response)
    control.stop_if_refused(code)
    if code in RETRY_STATUSES:
        return _gave_up(sent, control, error)
    if 300 <= code < 400:
        where = response.headers.get("location", "?")
        return f"unexpected redirect (HTTP {code} to {where[:100]}), not followed"
    if 200 <= code < 300:
        return f"unexpected HTTP {code} (expected 201 Created); check the number in Cartesia"
    return error


def _gave_up(sent: Sent, control: StopControl, error: str = "") -> str:
    error = error or sent.error
    if control.stopping:
        return f"run stopped before a retry ({control.reason}); last: {error}"
    return f"gave up after {sent.attempts} attempts: {error}"
