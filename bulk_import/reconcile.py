"""Compare INPUT with what the account holds; with ``apply``, fix the drift. Never deletes.

One listing pass pages through ``GET /agents/phone-numbers`` (``limit=100``, ``starting_after``)
and keeps, per E.164 number, its id and agent: ``ceil(N / 100)`` requests for N numbers. Each
input row is then ``in_sync``, ``missing`` or ``agent_mismatch``; numbers of the account that
INPUT does not list are ``extra``. ``apply`` imports the missing rows and PATCHes the mismatched
ones through the same pool, retry policy and report as ``run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from bulk_import.client import CartesiaClient, describe_error, parse_json
from bulk_import.config import ApiOptions, InputOptions, OutputOptions
from bulk_import.importer import import_outcome, open_rows
from bulk_import.models import Outcome, Provider, Row, Status, Summary
from bulk_import.patch import patch_agent
from bulk_import.runner import (
    EXIT_STOPPED,
    Caller,
    run_pool,
    stop_on_signals,
)
from bulk_import.session import Session

PAGE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Held:
    """Hold what the account says about one number."""

    id: str
    number: str
    agent_id: str
    label: str
    provider_id: str


class ListingError(Exception):
    """Say why the account could not be listed to the end."""


async def list_account(
    *, client: CartesiaClient, caller: Caller, provider_id: str | None = None
) -> dict[str, Held]:
    """Page through the whole account once; return what it holds by E.164 number."""
    held: dict[str, Held] = {}
    cursors: set[str] = set()
    params: dict[str, str | int] = {"limit": PAGE_LIMIT}
    if provider_id:
        params["provider_id"] = provider_id
    while True:
        page = dict(params)
        sent = await caller.send(lambda page=page: client.list_numbers(page))  # type: ignore[misc]
        response = sent.response
        if response is None:
            raise ListingError(f"listing the account failed: {sent.error}")
        if response.status_code != 200:
            raise ListingError(f"listing the account failed: {describe_error(response)}")
        data, has_more = _page(response)
        for item in data:
            agent = item.get("agent")
            provider = item.get("provider")
            held[str(item["number"])] = Held(
                id=str(item["id"]),
                number=str(item["number"]),
                agent_id=str(agent.get("id", "")) if isinstance(agent, dict) else "",
                label=str(item.get("label") or ""),
                provider_id=str(provider.get("id", "")) if isinstance(provider, dict) else "",
            )
        if not has_more or not data:
            return held
        cursor = str(data[-1]["id"])
        if cursor in cursors:
            # A broken API that says has_more with a page seen before would be listed for ever.
            raise ListingError(
                f"listing the account failed: the API's paging does not advance "
                f"(has_more, but the page after {cursor} was seen already)"
            )
        cursors.add(cursor)
        params["starting_after"] = cursor


def _page(response: httpx.Response) -> tuple[list[dict[str, object]], bool]:
    body = parse_json(response)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and item.get("id") and item.get("number") for item in data
    ):
        raise ListingError("listing the account failed: an answer without a data list of numbers")
    return data, bool(body.get("has_more"))


def reconcile(
    *,
    source: str,
    input_options: InputOptions,
    api: ApiOptions,
    output: OutputOptions,
    apply: bool = False,
    stdin: BinaryIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    """Diff ``source`` against the account; with ``apply``, fix it; write the report."""
    rows = open_rows(source, input_options, stdin)
    return asyncio.run(
        _reconcile(
            rows=rows,
            source=source,
            provider_id=input_options.provider_id,
            api=api,
            output=output,
            apply=apply,
            transport=transport,
        )
    )


async def _reconcile(
    *,
    rows: Iterator[Row],
    source: str,
    provider_id: str | None,
    api: ApiOptions,
    output: OutputOptions,
    apply: bool,
    transport: httpx.AsyncBaseTransport | None,
) -> Summary:
    caller = Caller.for_options(api)
    control, counters = caller.control, caller.counters
    session = Session(
        command="reconcile",
        input_name=source,
        output=output,
        retrying=lambda: counters.retrying,
    )
    seen: set[str] = set()
    try:
        async with CartesiaClient(api, transport=transport) as client:
            try:
                held = await list_account(client=client, caller=caller, provider_id=provider_id)
            except ListingError as exc:
                held = {}
                control.stop(str(exc), exit_code=EXIT_STOPPED)
            else:
                session.log(f"the account holds {len(held)} numbers")

            async def handle(row: Row) -> Outcome:
                seen.add(row.number)
                have = held.get(row.number)
                if have is None:
                    if not apply:
                        return Outcome(row, Status.MISSING, error="not in the account")
                    payload = row.payload()
                    sent = await caller.send(lambda: client.import_number(payload))
                    return import_outcome(row, sent, control)
                if not row.agent_id or row.agent_id == have.agent_id:
                    return Outcome(row, Status.IN_SYNC, phone_number_id=have.id)
                if not apply:
                    return Outcome(
                        row,
                        Status.AGENT_MISMATCH,
                        phone_number_id=have.id,
                        error=f"the account assigns {have.agent_id or 'no agent'}",
                    )
                return await patch_agent(
                    row=row,
                    number_id=have.id,
                    agent_id=row.agent_id,
                    client=client,
                    caller=caller,
                    control=control,
                )

            with stop_on_signals(control):
                await run_pool(
                    rows,
                    handle=handle,
                    emit=session.emit,
                    control=control,
                    workers=api.concurrency,
                    max_consecutive_failures=api.max_consecutive_failures,
                )
        for number, have in held.items():
            if number not in seen:
                session.emit(_extra(have))
    finally:
        summary = session.close(
            requests=counters.requests, stop_exit=control.exit_code, stopped=control.reason
        )
    return summary


def _extra(have: Held) -> Outcome:
    row = Row(
        row=None,
        input_number="",
        number=have.number,
        label=have.label,
        provider=Provider(id=have.provider_id) if have.provider_id else None,
        agent_id=have.agent_id,
    )
    return Outcome(row, Status.EXTRA, phone_number_id=have.id, error="in the account, not in INPUT")
