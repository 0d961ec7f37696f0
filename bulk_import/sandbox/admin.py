"""Answer the sandbox's own endpoints under ``/_sandbox/``: stats, numbers, faults, reset.

They need the same key as the API, but no version header; no fault reaches them and they are not
counted as API requests.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bulk_import.sandbox.faults import EXISTING_KEYS
from bulk_import.sandbox.handlers import key_check
from bulk_import.sandbox.registry import Reject
from bulk_import.sandbox.responses import body_object, error, json_response, load_json, required_str
from bulk_import.sandbox.state import SandboxState

_Endpoint = Callable[["Admin", web.Request], Awaitable[web.Response]]


def _guarded(endpoint: _Endpoint) -> _Endpoint:
    """Check the key before an endpoint runs, and answer its Reject as Cartesia's error body."""

    @functools.wraps(endpoint)
    async def guarded(self: Admin, request: web.Request) -> web.Response:
        denied = self.refused(request)
        if denied is not None:
            return denied
        try:
            return await endpoint(self, request)
        except Reject as reject:
            return error(reject.status, reject.title, reject.message)

    return guarded


async def _object(request: web.Request, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """Return the request's JSON object, refusing keys outside ``allowed`` when given."""
    body = body_object(load_json(await request.read()))
    unknown = sorted(set(body) - allowed) if allowed is not None else []
    if unknown:
        raise Reject(400, "Invalid request", f"unknown field(s): {', '.join(unknown)}")
    return body


class Admin:
    """Handle the admin endpoints: stats, numbers added, reset, faults changed, Twilio bought."""

    def __init__(self, state: SandboxState, api_key: str) -> None:
        self.state = state
        self.refused = key_check(api_key)

    @_guarded
    async def stats(self, request: web.Request) -> web.Response:
        """Handle ``GET /_sandbox/stats``: the counters (``?detail=1`` adds posts_by_number)."""
        detail = request.query.get("detail", "") not in ("", "0", "false")
        return json_response(200, self.state.stats(detail=detail))

    @_guarded
    async def add(self, request: web.Request) -> web.Response:
        """Handle ``POST /_sandbox/numbers``: add a number directly, without faults."""
        body = await _object(request, EXISTING_KEYS)
        added = self.state.add_number(
            required_str(body, "number"),
            label=body.get("label"),
            agent_id=body.get("agent_id"),
            provider_id=body.get("provider_id"),
        )
        return json_response(201, added)

    @_guarded
    async def reset(self, request: web.Request) -> web.Response:
        """Handle ``POST /_sandbox/reset``: back to the state at start."""
        self.state.reset()
        return json_response(200, {"reset": True, "stored": self.state.stats()["stored"]})

    @_guarded
    async def faults(self, request: web.Request) -> web.Response:
        """Handle ``POST /_sandbox/faults``: change some faults at once, answer those in force."""
        changes = await _object(request)
        try:
            faults = self.state.change_faults(changes)
        except (TypeError, ValueError) as exc:
            return error(400, "Invalid faults", str(exc))
        return json_response(200, faults.to_dict())

    @_guarded
    async def buy_twilio_number(self, request: web.Request) -> web.Response:
        """Handle ``POST /_sandbox/twilio/numbers``: a number "bought" in the Twilio stand-in.

        ``account_sid`` names a subaccount to buy it in (default: the parent).
        """
        body = await _object(request, frozenset({"phone_number", "friendly_name", "account_sid"}))
        org = self.state.twilio
        if org is None:
            raise Reject(
                400,
                "Twilio stand-in is off",
                "start the sandbox with twilio_numbers in its faults (0 for an empty account)",
            )
        number = required_str(body, "phone_number")
        bought = org.buy(number, body.get("friendly_name"), body.get("account_sid"))
        return json_response(201, bought)
