"""Stand in for Twilio's REST API: an organisation's accounts, numbers and keys, as Twilio answers.

Served when the faults set ``twilio_numbers`` (the parent ``ACCOUNT_SID``'s numbers) and, with
``twilio_subaccounts``, its subaccounts. Every request takes HTTP Basic auth: an account SID and
its auth token (the parent's is ``AUTH_TOKEN``), or an API key SID and its secret (the parent's
Main key ``API_KEY_SID`` / ``API_KEY_SECRET``, or a key made through ``Keys.json``). Routes:

- ``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json``: an account's numbers;
- ``GET /2010-04-01/Accounts.json``: the accounts the credentials see (the parent, then its
  subaccounts, each with its ``status``: ``active``, ``suspended`` or ``closed``);
- ``GET``/``POST /2010-04-01/Accounts/{AccountSid}/Keys.json``: list the API keys (never a
  secret), or make a Standard key (form field ``FriendlyName``; 201 with its ``secret``, once);
- ``DELETE /2010-04-01/Accounts/{AccountSid}/Keys/{KeySid}.json``: delete a key (204).

Each step answers in Twilio's own way, in this order:

1. the ``twilio_latency_ms`` wait; the request is counted as it is answered
   (``twilio_requests``, ``twilio_by_status``; not in ``requests``);
2. credentials that are missing or wrong: 401, code 20003, with ``WWW-Authenticate``;
3. an account the credentials do not reach: 404, code 20404 (not theirs), 401 code 20003 (a
   subaccount reached with the parent's API key rather than its auth token, or a Standard key
   that lists accounts or manages keys), 401 code 20005 (a suspended or closed account);
4. a ``PageSize`` outside 1 to 1000: 400, code 20007 (too large) or 20001 (not a number); a
   ``Page`` that is not a number or a ``PageToken`` that names nothing here: 400, code 20001;
5. for a numbers page, the next of the page's ``twilio_faults`` steps, if any is left;
6. the answer: a page of ``PageSize`` items (default 50) from ``Page`` times ``PageSize``, or
   after (``PA``) or before (``PB``) the item a ``PageToken`` names, with Twilio's paging fields
   (URIs relative, ``next_page_uri`` null on the last page); a key made; a key deleted.

Twilio's error body is ``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from typing import Final

from aiohttp import web

from bulk_import.sandbox.state import SandboxState
from bulk_import.sandbox.twilio_store import (
    ACCOUNT_SID,
    ACCOUNTS_PATH,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    KEYS_PATH,
    LIST_PATH,
    Principal,
    TwilioError,
    TwilioOrg,
    generated_number,
)

__all__ = [
    "ACCOUNTS_PATH",
    "ACCOUNT_SID",
    "API_KEY_SECRET",
    "API_KEY_SID",
    "AUTH_TOKEN",
    "KEYS_PATH",
    "LIST_PATH",
    "TwilioHandlers",
    "TwilioOrg",
    "generated_number",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
_ERRORS_URL = "https://www.twilio.com/docs/errors/"
_ERROR_STEPS: Final = {
    "429": (20429, "Too Many Requests"),
    "500": (20500, "Internal Server Error"),
    "502": (20502, "Bad Gateway"),
    "503": (20503, "Service Unavailable"),
}
_NOT_JSON = b"<html><body><h1>502 Bad Gateway</h1>The proxy had no answer.</body></html>"
Where = tuple[int, int, str | None, str]


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    """Return Twilio's JSON error body."""
    body = {"code": code, "message": message, "more_info": f"{_ERRORS_URL}{code}", "status": status}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return _json(status, body, headers)


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> web.Response:
    """Return a JSON answer as Twilio sends it."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _basic(header: str | None) -> tuple[str, str] | None:
    """Return the user and password of a Basic Authorization header, or None."""
    if header is None or header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _whole(raw: str | None, default: int, name: str) -> int:
    """Return a query parameter as a whole number, or raise Twilio's 400."""
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise TwilioError(400, 20001, f"Invalid {name}: {raw[:20]!r} is not a whole number")
    return int(raw)


def _where(request: web.Request) -> Where:
    """Return a list request's ``PageSize``, ``Page``, ``PageToken`` and URI, checked."""
    query = request.query
    size = _whole(query.get("PageSize"), DEFAULT_PAGE_SIZE, "PageSize")
    if size > MAX_PAGE_SIZE:
        raise TwilioError(400, 20007, "Page size too large: the maximum page size is 1000")
    if size < 1:
        raise TwilioError(400, 20001, "Invalid PageSize: it must be at least 1")
    return size, _whole(query.get("Page"), 0, "Page"), query.get("PageToken"), request.path_qs


class TwilioHandlers:
    """Answer the Twilio stand-in's routes through the steps above."""

    def __init__(self, state: SandboxState, org: TwilioOrg) -> None:
        self.state = state
        self.org = org

    async def _handle(
        self, request: web.Request, answer: Callable[[Principal], web.Response | None]
    ) -> web.Response:
        """Wait, authenticate, answer (None: drop the connection), count."""
        latency = self.state.faults.twilio_latency_ms / 1000
        if latency > 0:
            await asyncio.sleep(latency)
        try:
            given = _basic(request.headers.get("Authorization"))
            principal = self.org.authenticate(*given) if given is not None else None
            if principal is None:
                raise TwilioError(401, 20003, "Authenticate")
            response = answer(principal)
        except TwilioError as exc:
            response = _twilio_error(exc.status, exc.code, exc.message)
        if response is None:  # dropped: the connection is closed with no answer
            transport = request.transport
            if transport is not None:  # pragma: no branch - None once the client has left
                transport.close()
            self.state.count_twilio("dropped")
            return web.Response(status=500)  # never reaches the client
        self.state.count_twilio(str(response.status))
        return response

    async def list_numbers(self, request: web.Request) -> web.Response:
        """Handle ``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json``."""

        def answer(principal: Principal) -> web.Response | None:
            sid = request.match_info["sid"]
            self.org.reach(principal, sid, path=request.path)
            size, page, token, uri = _where(request)
            body = self.org.numbers_page(sid, size=size, page=page, token=token, uri=uri)
            step = self.org.next_step(page)
            if step == "drop":
                return None
            if step == "not_json":
                return web.Response(body=_NOT_JSON, status=200, content_type="text/html")
            if step == "repeat_next":
                body["next_page_uri"] = uri  # the page points at itself: a client must notice
            elif step is not None:
                code, message = _ERROR_STEPS[step]
                return _twilio_error(int(step), code, message)
            return _json(200, body)

        return await self._handle(request, answer)

    async def list_accounts(self, request: web.Request) -> web.Response:
        """Handle ``GET /2010-04-01/Accounts.json``: the accounts the credentials see."""

        def answer(principal: Principal) -> web.Response:
            size, page, token, uri = _where(request)
            return _json(
                200, self.org.accounts_page(principal, size=size, page=page, token=token, uri=uri)
            )

        return await self._handle(request, answer)

    async def list_keys(self, request: web.Request) -> web.Response:
        """Handle ``GET /2010-04-01/Accounts/{AccountSid}/Keys.json``: SIDs and names only."""

        def answer(principal: Principal) -> web.Response:
            sid = request.match_info["sid"]
            self.org.reach(principal, sid, path=request.path, manage=True)
            size, page, token, uri = _where(request)
            return _json(200, self.org.keys_page(sid, size=size, page=page, token=token, uri=uri))

        return await self._handle(request, answer)

    async def create_key(self, request: web.Request) -> web.Response:
        """Handle ``POST /2010-04-01/Accounts/{AccountSid}/Keys.json``: a Standard key, 201."""
        form = await request.post()
        name = form.get("FriendlyName", "")

        def answer(principal: Principal) -> web.Response:
            sid = request.match_info["sid"]
            self.org.reach(principal, sid, path=request.path, manage=True)
            if not isinstance(name, str):
                raise TwilioError(400, 20001, "FriendlyName must be text")
            return _json(201, self.org.create_key(sid, name))

        return await self._handle(request, answer)

    async def delete_key(self, request: web.Request) -> web.Response:
        """Handle ``DELETE /2010-04-01/Accounts/{AccountSid}/Keys/{KeySid}.json``: 204."""

        def answer(principal: Principal) -> web.Response:
            sid = request.match_info["sid"]
            self.org.reach(principal, sid, path=request.path, manage=True)
            self.org.delete_key(sid, request.match_info["key"])
            return web.Response(status=204)

        return await self._handle(request, answer)
