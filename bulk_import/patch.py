"""Finish webhook failures: ``retry-patch`` assigns each row's agent with PATCH.

A ``webhook_failed`` row is a number that is in Cartesia without its agent. Its id comes from
the report, else from ``GET /agents/phone-numbers?q=<number>`` (the exact E.164 match among the
results); then ``PATCH /agents/phone-numbers/{id}`` sends ``{"agent_id": ...}``. Rows become
``patched`` or ``patch_failed``; every other row of the report is kept as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import httpx

from bulk_import.cells import unneutralise
from bulk_import.client import CartesiaClient, describe_error, parse_json
from bulk_import.config import ApiOptions, OutputOptions
from bulk_import.models import Outcome, Provider, Row, Status, Summary
from bulk_import.report import ReportLine, read_report
from bulk_import.runner import (
    Caller,
    StopControl,
    run_pool,
    stop_on_signals,
)
from bulk_import.session import Session

TO_PATCH = frozenset({Status.WEBHOOK_FAILED, Status.PATCH_FAILED})
LOOKUP_PAGES = 10


def row_from_line(line: ReportLine) -> Row:
    """Rebuild the row a report line describes."""
    cells = {name: unneutralise(value) for name, value in line.cells.items()}
    provider_text = cells["provider"]
    provider: Provider | None = None
    if provider_text.startswith("twilio:") and provider_text.count(":") == 2:
        _, sid, region = provider_text.split(":")
        provider = Provider(account_sid=sid, region=region)
    elif provider_text:
        provider = Provider(id=provider_text)
    return Row(
        row=line.row,
        input_number=cells["input_number"],
        number=cells["number"],
        label=cells["label"],
        provider=provider,
        agent_id=cells["agent_id"],
    )


async def find_number_id(
    *, client: CartesiaClient, caller: Caller, number: str
) -> tuple[str, str, int]:
    """Look a number's id up by its E.164 text; return ``(id, error, requests made)``."""
    attempts = 0
    params: dict[str, str | int] = {"q": number, "limit": 100}
    for _ in range(LOOKUP_PAGES):
        page_params = dict(params)
        sent = await caller.send(lambda p=page_params: client.list_numbers(p))  # type: ignore[misc]
        attempts += sent.attempts
        response = sent.response
        if response is None or response.status_code != 200:
            if response is not None:
                caller.control.stop_if_refused(response.status_code)
            why = sent.error if response is None else describe_error(response)
            return "", f"look-up failed: {why}", attempts
        body = parse_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return "", "look-up failed: the listing's answer has no data list", attempts
        for item in data:
            if isinstance(item, dict) and item.get("number") == number and item.get("id"):
                return str(item["id"]), "", attempts
        if not body.get("has_more") or not data or not isinstance(data[-1], dict):
            break
        params["starting_after"] = str(data[-1].get("id", ""))
    return "", f"{number} not found in the account (GET /agents/phone-numbers?q={number})", attempts


async def patch_agent(
    *,
    row: Row,
    number_id: str,
    agent_id: str,
    client: CartesiaClient,
    caller: Caller,
    control: StopControl,
    attempts: int = 0,
) -> Outcome:
    """Assign ``agent_id`` to one number, looking its id up first when it is not known."""
    if not agent_id:
        return Outcome(
            row,
            Status.PATCH_FAILED,
            attempts=attempts,
            error="no agent to assign: the row names none; pass --agent-id",
        )
    if not number_id:
        number_id, error, used = await find_number_id(
            client=client, caller=caller, number=row.number
        )
        attempts += used
        if not number_id:
            return Outcome(row, Status.PATCH_FAILED, attempts=attempts, error=error)
    body: dict[str, object] = {"agent_id": agent_id}
    sent = await caller.send(lambda: client.update_number(number_id, body))
    attempts += sent.attempts
    response = sent.response
    if response is None:
        return Outcome(
            row, Status.PATCH_FAILED, None, number_id, attempts, f"PATCH failed: {sent.error}"
        )
    code = response.status_code
    if code == 200:
        return Outcome(replace(row, agent_id=agent_id), Status.PATCHED, code, number_id, attempts)
    control.stop_if_refused(code)
    return Outcome(row, Status.PATCH_FAILED, code, number_id, attempts, describe_error(response))


def retry_patch(
    *,
    report: Path,
    agent_id: str | None,
    api: ApiOptions,
    output: OutputOptions,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    """Patch every webhook_failed/patch_failed row of ``report``; write the report again."""
    lines = read_report(report)
    return asyncio.run(
        _retry_patch(
            lines=lines,
            report=report,
            agent_id=agent_id,
            api=api,
            output=output,
            transport=transport,
        )
    )


async def _retry_patch(
    *,
    lines: list[ReportLine],
    report: Path,
    agent_id: str | None,
    api: ApiOptions,
    output: OutputOptions,
    transport: httpx.AsyncBaseTransport | None,
) -> Summary:
    todo = [line for line in lines if line.status in TO_PATCH]
    kept = [line.values() for line in lines if line.status not in TO_PATCH]
    caller = Caller.for_options(api)
    control, counters = caller.control, caller.counters
    session = Session(
        command="retry-patch",
        input_name=str(report),
        output=output,
        kept=kept,
        retrying=lambda: counters.retrying,
    )
    by_row = {line.row: line for line in todo}
    try:
        async with CartesiaClient(api, transport=transport) as client:

            async def handle(row: Row) -> Outcome:
                line = by_row[row.row]
                return await patch_agent(
                    row=row,
                    number_id=line.cells["phone_number_id"],
                    agent_id=agent_id or row.agent_id,
                    client=client,
                    caller=caller,
                    control=control,
                    attempts=int(line.cells["attempts"] or 0),
                )

            with stop_on_signals(control):
                await run_pool(
                    iter([row_from_line(line) for line in todo]),
                    handle=handle,
                    emit=session.emit,
                    control=control,
                    workers=api.concurrency,
                    max_consecutive_failures=api.max_consecutive_failures,
                    not_sent=lambda row, reason: _unchanged(by_row[row.row], row, reason),
                )
    finally:
        summary = session.close(
            requests=counters.requests,
            stop_exit=control.exit_code,
            stopped=control.reason,
            judged=TO_PATCH,
        )
    return summary


def _unchanged(line: ReportLine, row: Row, reason: str) -> Outcome:
    """Keep a row the stopped run did not reach as it was, so that a later run finds it."""
    status = line.status or Status.WEBHOOK_FAILED
    http = line.cells["http_status"]
    return Outcome(
        row,
        status,
        int(http) if http.isdigit() else None,
        line.cells["phone_number_id"],
        int(line.cells["attempts"] or 0),
        f"{unneutralise(line.cells['error'])} ({reason})".strip(),
    )
