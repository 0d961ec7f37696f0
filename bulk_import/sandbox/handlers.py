"""Answer Cartesia's phone-number operations through the sandbox's fault steps.

Every API request goes through these steps, in this order (the first that answers wins):

1. it is counted (``requests``, ``by_method``; a ``POST`` whose body names a number is also counted
   in ``posts_by_number`` and ``post_seconds``, whatever its answer);
2. the concurrency limit (``concurrency_limit``) answers 429 ``concurrency_limited`` at once when
   that many requests are in flight already (arrived, not yet answered: the latency wait counts);
3. the latency is waited: ``latency_ms``, give or take ``latency_jitter_ms``;
4. the rate limiter (``rate_limit``) answers 429 ``rate_limited`` when no token is free: like a
   real edge proxy, these limits answer before the key is even looked at;
5. one seeded random draw picks at most one of ``drop``, ``error_429``, ``error_500``,
   ``error_502``, ``error_503`` (their fractions add up, so they must sum to at most 1);
6. ``Authorization: Bearer <key>`` must be the accepted key (401), ``Cartesia-Version`` must
   be ``2026-03-01`` (400), and a body's Content-Type, when given, must be JSON (415);
7. the operation itself. For an import: body validation (400), unknown provider or unlinked
   Twilio account (404), unknown agent (404), number already there (409), ``not_in_account`` (400),
   webhook failure (stored with no agent, 400), else stored (201, or 500 for ``stored_then_500``).
   For a delete: unknown id (404), a number still assigned to an agent (400), else gone (204).

A 429 says when to retry according to ``retry_after``. For an injected ``error_429`` the wait is
``retry_after_s`` (1 s when not set); for the rate limiter it is the time until a token is free,
but at least that (set ``retry_after_s`` to 0 to announce the exact time); a concurrency 429 says
nothing unless ``retry_after_s`` is set, as Cartesia's own does not promise a ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web

from bulk_import.config import DEFAULT_API_VERSION
from bulk_import.sandbox.faults import E164
from bulk_import.sandbox.registry import Reject
from bulk_import.sandbox.responses import (
    ERROR_ANSWERS,
    NO_BODY,
    body_object,
    error,
    json_response,
    load_json,
    required_str,
    retry_headers,
)
from bulk_import.sandbox.state import SandboxState
from bulk_import.sandbox.store import PATH

API_VERSION: Final = DEFAULT_API_VERSION
_LIMIT = re.compile(r"[0-9]{1,4}")
_AUTH_SCHEME = b"bearer "


def key_check(api_key: str) -> Callable[[web.Request], web.Response | None]:
    """Return a check that answers 401 unless a request carries ``Bearer <api_key>``."""
    expected = _AUTH_SCHEME + api_key.encode()

    def refused(request: web.Request) -> web.Response | None:
        given = request.headers.get("Authorization")
        if given is None:
            return error(401, "Unauthorized", "missing Authorization header (Bearer API key)")
        raw = given.encode("utf-8", "surrogateescape")
        candidate = raw[:7].lower() + raw[7:]
        if not hmac.compare_digest(candidate, expected):
            return error(401, "Unauthorized", "invalid API key")
        return None

    return refused


def _media_type_refused(request: web.Request) -> web.Response | None:
    """Return 415 when a request with a body names a media type that is not JSON.

    415 Unsupported Media Type is what most APIs answer here, and it says what a client must
    change (the Content-Type, not the body). A JSON type with parameters
    (``application/json; charset=utf-8``) or a ``+json`` suffix is JSON; a body with no
    Content-Type at all is read as JSON, as the frameworks such APIs are built on do.
    """
    if request.method == "GET" or "Content-Type" not in request.headers:
        return None
    media = request.content_type  # lower case, parameters dropped
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return None
    return error(
        415,
        "Unsupported media type",
        f"Content-Type must be application/json, not {media[:60]}",
    )


class Handlers:
    """Turn HTTP requests into store operations and answers, through the fault steps."""

    def __init__(self, state: SandboxState, api_key: str) -> None:
        self.state = state
        self.store = state.store
        self.refused = key_check(api_key)

    async def answer(
        self,
        request: web.Request,
        operation: Callable[[web.Request, object], web.Response],
    ) -> web.Response:
        """Answer one API request through the fault steps (for routes served by other modules)."""
        return await self._api(request, operation)

    async def _api(
        self,
        request: web.Request,
        operation: Callable[[web.Request, object], web.Response],
    ) -> web.Response:
        """Answer one API request: count, limit, wait, limit, inject, authenticate, then operate."""
        state = self.state
        now = time.monotonic()
        method = request.method
        body: object = NO_BODY
        number: str | None = None
        if method != "GET":
            body = load_json(await request.read())
            if isinstance(body, dict):
                named = body.get("number")
                number = named if isinstance(named, str) else None
        state.arrive(method, number, now)
        if not state.admit(now):
            faults = state.faults
            wait = faults.retry_after_s  # a concurrency 429 says when only if asked to
            response = error(
                429,
                "Too many concurrent requests",
                f"You have exceeded your plan's concurrency limit of {faults.concurrency_limit}.",
                error_code="concurrency_limited",
                headers=None if wait is None else retry_headers(faults.retry_after, wait),
            )
            state.finish("429", now)
            return response
        try:
            response = await self._admitted(request, body, operation)
        finally:
            state.leave(time.monotonic())
        return response

    async def _admitted(
        self,
        request: web.Request,
        body: object,
        operation: Callable[[web.Request, object], web.Response],
    ) -> web.Response:
        """Answer a request that has its place in flight: wait, limit, inject, then operate."""
        state = self.state
        latency = state.latency()
        if latency > 0:
            await asyncio.sleep(latency)
        faults = state.faults  # read after the wait: the admin call may have changed them
        now = time.monotonic()
        wait = state.take_token(now)
        if wait > 0:
            response = error(
                429,
                "Too many requests",
                f"Rate limit of {faults.rate_limit:g} requests per second exceeded.",
                error_code="rate_limited",
                headers=retry_headers(faults.retry_after, max(wait, faults.retry_wait_s)),
            )
        else:
            fault = state.draw_fault()
            if fault == "drop":
                transport = request.transport
                if transport is not None:  # pragma: no branch - None once the client has left
                    transport.close()
                state.finish("dropped", now)
                return web.Response(status=500)  # never reaches the client
            if fault == "error_429":
                response = error(
                    429,
                    "Too many concurrent requests",
                    "You have exceeded your plan's concurrency limit.",
                    error_code="concurrency_limited",
                    headers=retry_headers(faults.retry_after, faults.retry_wait_s),
                )
            elif fault is not None:
                status, title, message = ERROR_ANSWERS[fault]
                response = error(status, title, message)
            else:
                response = self._checked(request, body, operation)
        state.finish(str(response.status), time.monotonic())
        return response

    def _checked(
        self,
        request: web.Request,
        body: object,
        operation: Callable[[web.Request, object], web.Response],
    ) -> web.Response:
        """Check the key and version, then run the operation, turning rejections into errors."""
        denied = self.refused(request)
        if denied is not None:
            return denied
        version = request.headers.get("Cartesia-Version")
        if version != API_VERSION:
            shown = "missing" if version is None else f"{version[:40]!r}"
            return error(
                400,
                "Invalid Cartesia-Version",
                f"Cartesia-Version header is {shown}; this API speaks {API_VERSION}",
            )
        refused = _media_type_refused(request)
        if refused is not None:
            return refused
        try:
            return operation(request, body)
        except Reject as reject:
            return error(reject.status, reject.title, reject.message)

    # -- operations -----------------------------------------------------------------------------

    def _import(self, _request: web.Request, raw: object) -> web.Response:
        """Import a number: validate, resolve provider and agent, apply the number's faults."""
        state = self.state
        store = self.store
        body = body_object(raw)
        number = required_str(body, "number")
        if not E164.fullmatch(number):
            raise Reject(
                400,
                "Invalid request",
                "number must be in E.164 format: + then 2 to 15 digits, like +14155551234",
            )
        label = required_str(body, "label")
        if "provider" not in body:
            raise Reject(400, "Invalid request", "provider is required")
        provider = store.provider(body["provider"])
        agent_id: str | None = None
        if "agent_id" in body:
            agent_id = body["agent_id"]
            if not isinstance(agent_id, str):
                raise Reject(400, "Invalid request", "agent_id must be a string")
            store.agent(agent_id)
        if store.contains(number):
            raise Reject(409, "Conflict", "Phone number has already been imported")
        if number in state.not_in_account:
            raise Reject(
                400,
                "Import failed",
                f"phone number not found in the provider account: {number} is not in "
                f"Twilio account {provider['account_sid']}",
            )
        if number in state.webhook_numbers or (
            agent_id is not None and state.chance(state.faults.webhook_fail_fraction)
        ):
            record = store.insert(number, label, None, provider)
            raise Reject(
                400,
                "Webhook configuration failed",
                "The phone number was imported but the webhook configuration failed, so no "
                f"agent is assigned. Assign it with PATCH {PATH}/{record.id}.",
            )
        record = store.insert(number, label, agent_id, provider)
        if state.chance(state.faults.stored_then_500):
            raise Reject(500, *ERROR_ANSWERS["error_500"][1:])
        return json_response(201, store.public(record))

    def _list(self, request: web.Request, _body: object) -> web.Response:
        """List numbers: filters, cursors and a limit of 1 to 100 (default 10)."""
        query = request.query
        raw_limit = query.get("limit")
        limit = 10
        if raw_limit is not None:
            limit = int(raw_limit) if _LIMIT.fullmatch(raw_limit) else 0
            if not 1 <= limit <= 100:
                raise Reject(400, "Invalid request", "limit must be an integer from 1 to 100")
        kind = query.get("type")  # present but empty is no type either: 400
        if kind is not None and kind not in ("twilio", "cartesia"):
            raise Reject(400, "Invalid request", "type must be twilio or cartesia")
        items, more = self.store.page(
            limit=limit,
            starting_after=query.get("starting_after") or None,
            ending_before=query.get("ending_before") or None,
            agent_id=query.get("agent_id") or None,
            provider_id=query.get("provider_id") or None,
            kind=kind,
            q=query.get("q") or None,
        )
        public = self.store.public
        return json_response(200, {"data": [public(n) for n in items], "has_more": more})

    def _get(self, request: web.Request, _body: object) -> web.Response:
        """Return one number by id."""
        store = self.store
        return json_response(200, store.public(store.find(request.match_info["id"])))

    def _patch(self, request: web.Request, raw: object) -> web.Response:
        """Update a number's label, agent (null unassigns) or provider."""
        store = self.store
        body = body_object(raw)
        label = body.get("label")
        if "label" in body and not isinstance(label, str):
            raise Reject(400, "Invalid request", "label must be a string")
        if "agent_id" in body and not isinstance(body["agent_id"], str | None):
            raise Reject(400, "Invalid request", "agent_id must be a string or null")
        record = store.find(request.match_info["id"])
        agent = (store.agent(body["agent_id"]),) if "agent_id" in body else None
        provider = store.provider(body["provider"]) if "provider" in body else None
        store.update(record, label=label, agent=agent, provider=provider)
        return json_response(200, store.public(record))

    def _delete(self, request: web.Request, _body: object) -> web.Response:
        """Delete a number by id: only once no agent is assigned, as the API requires."""
        store = self.store
        record = store.find(request.match_info["id"])
        if record.agent_id is not None:
            raise Reject(
                400,
                "Phone number is assigned",
                f"Phone number {record.id} is assigned to agent {record.agent_id}; unassign it "
                f'first with PATCH {PATH}/{record.id} and {{"agent_id": null}}.',
            )
        store.delete(record)
        return web.Response(status=204)

    # -- handlers -------------------------------------------------------------------------------

    async def post_numbers(self, request: web.Request) -> web.Response:
        """Handle ``POST /agents/phone-numbers``."""
        return await self._api(request, self._import)

    async def list_numbers(self, request: web.Request) -> web.Response:
        """Handle ``GET /agents/phone-numbers``."""
        return await self._api(request, self._list)

    async def get_number(self, request: web.Request) -> web.Response:
        """Handle ``GET /agents/phone-numbers/{id}``."""
        return await self._api(request, self._get)

    async def patch_number(self, request: web.Request) -> web.Response:
        """Handle ``PATCH /agents/phone-numbers/{id}``."""
        return await self._api(request, self._patch)

    async def delete_number(self, request: web.Request) -> web.Response:
        """Handle ``DELETE /agents/phone-numbers/{id}``."""
        return await self._api(request, self._delete)
