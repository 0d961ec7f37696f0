"""Run one job's rows through the pool into the records, counting as they finish.

The inside of :class:`bulk_import.jobs.engine.Execution`: the API client, the checks before the
first row, the signals (when the caller takes them), the progress bar and the records, and
what the summary counts once the rows are done.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, TextIO

from bulk_import.api.control import StopControl
from bulk_import.errors import WriteError
from bulk_import.jobs.pool import run_pool, stop_on_signals
from bulk_import.jobs.records import Records
from bulk_import.metrics import RunMetrics
from bulk_import.models import Exit, Summary
from bulk_import.output.progress import Progress, in_flight_text
from bulk_import.output.summary import exit_code

if TYPE_CHECKING:  # httpx and the API layer cost start-up: a job that sends nothing skips them
    import httpx

    from bulk_import.api.cartesia import CartesiaApi
    from bulk_import.jobs.engine import Caller, Command, Job, Work


class Runner:
    """Run one job's rows through the pool into the records, counting as they finish."""

    def __init__(
        self,
        command: Command,
        summary: Summary,
        job: Job,
        work: Work,
        *,
        transport: httpx.AsyncBaseTransport | None,
        stream: TextIO,
        metrics: RunMetrics | None,
        control: StopControl,
        caller: Caller,
    ) -> None:
        self.command = command
        self.control = control
        self.caller = caller
        self.metrics = metrics
        self.summary = summary
        self.job = job
        self.work = work
        self.transport = transport
        self.stream = stream
        self.records: Records | None = None

    async def run(self) -> None:
        control = self.control
        options = self.command.api
        api = None
        if options is not None:
            from bulk_import.api.cartesia import CartesiaApi

            api = CartesiaApi(
                options,
                control=control,
                recorder=self.metrics,
                transport=self.transport,
                log=None if self.command.output.quiet else self._say,
            )
            if self.command.output.debug:  # credentials masked: Route never shows them
                print(
                    f"bulk-import: debug: requests to {api.base_url} go {api.http.route}",
                    file=self.stream,
                )
        whole = False
        try:
            signals = stop_on_signals(control) if self.caller.signals else contextlib.nullcontext()
            with signals:
                self.work.news.extend(await self.job.start(api))
                if control.stopping:
                    # Nothing was done: the report stays as it was, and the reason is the error.
                    self.summary.error = control.reason
                    return
                await self._rows(control, api)
            whole = True
        finally:
            summary = self.summary
            summary.requests = self.work.requests
            summary.twilio = self.work.twilio
            if api is not None:
                await api.__aexit__()
                summary.requests += api.counters.requests
                summary.concurrency = api.limiter.snapshot()
            if self.metrics is not None:
                summary.http = self.metrics.http_counts()
                summary.latency_ms = self.metrics.latency_ms()
            summary.stopped = control.reason if control.stopping else ""
            summary.exit_code = exit_code(
                summary, stop_exit=control.exit_code, judged=self.job.judged
            )
            if self.records is not None and self.records.opened:
                self.records.close(whole=whole)

    async def _rows(self, control: StopControl, api: CartesiaApi | None) -> None:
        work = self.work
        out = self.command.output
        progress = Progress(
            enabled=out.progress,
            quiet=out.quiet,
            total=work.total,
            desc=self.command.name,
            extra=(lambda: _in_flight(api)) if api is not None else None,
            stream=self.stream,
            auto=self.caller.bar == "auto",
        )
        self.records = records = Records(
            report=out.report,
            memory=self.caller.memory,
            summary=self.summary,
            control=control,
            progress=progress,
            metrics=self.metrics,
            stream=self.stream,
        )
        try:
            try:
                records.open(work.base, flush_every_s=work.flush_every_s)
            except WriteError as exc:  # found before the first row: nothing is sent
                control.stop(str(exc), exit_code=Exit.STOPPED)
                self.summary.error = str(exc)
                return
            for line in work.news:
                progress.log(line)
            await run_pool(
                work.rows,
                handle=self.job.handle,
                emit=records.emit,
                not_sent=self.job.not_sent,
                control=control,
                workers=work.workers,
                max_consecutive_failures=(
                    self.command.api.max_consecutive_failures if self.command.api else 1 << 62
                ),
                rest=work.rest,
            )
            for outcome in self.job.finish():
                records.emit(outcome.row, outcome)
        finally:
            progress.close()

    def _say(self, line: str) -> None:
        """Print a line of news before the rows (the bar, which would hold it, is not up yet)."""
        print(line, file=self.stream, flush=True)


def _in_flight(api: CartesiaApi) -> str:
    """Say what the API layer is doing: requests retrying, in flight, under which limit."""
    limiter = api.limiter
    return in_flight_text(
        retrying=api.counters.retrying,
        in_flight=limiter.in_flight,
        window=limiter.window,
        limit=limiter.limit,
        ceiling=limiter.ceiling,
    )
