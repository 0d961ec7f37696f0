"""Stand in for Twilio's IncomingPhoneNumbers list: one account, paged as Twilio pages.

``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json`` is served when the faults
set ``twilio_numbers``, for the account ``ACCOUNT_SID`` only, with HTTP Basic auth: the API key
``API_KEY_SID`` and its secret ``API_KEY_SECRET``, or the account SID and ``AUTH_TOKEN``. Each
step answers in Twilio's own way, in this order:

1. the request is counted (``twilio_requests``, ``twilio_by_status``; not in ``requests``);
2. credentials that are missing or wrong: 401, code 20003, with ``WWW-Authenticate``;
3. another account SID in the path: 404, code 20404;
4. a ``PageSize`` outside 1 to 1000: 400, code 20007 (too large) or 20001 (not a number); a
   ``Page`` that is not a number or a ``PageToken`` that names no number here: 400, code 20001;
5. the next of the page's ``twilio_faults`` steps, if any is left (see ``Faults``);
6. the page: ``PageSize`` numbers (default 50) from ``Page`` times ``PageSize``, or after (``PA``)
   or before (``PB``) the number a ``PageToken`` names, with Twilio's paging fields. Its URIs are
   relative, as Twilio's are; ``next_page_uri`` is null on the last page.

Twilio's error body is ``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Final

from aiohttp import web

from bulk_import.sandbox.state import SandboxState
from bulk_import.sandbox.twilio_store import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    LIST_PATH,
    TwilioAccount,
    TwilioError,
    generated_number,
)

__all__ = [
    "ACCOUNT_SID",
    "API_KEY_SECRET",
    "API_KEY_SID",
    "AUTH_TOKEN",
    "LIST_PATH",
    "TwilioAccount",
    "TwilioHandlers",
    "generated_number",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
_ERRORS_URL = "https://www.twilio.com/docs/errors/"
_CREDENTIALS = ((API_KEY_SID, API_KEY_SECRET), (ACCOUNT_SID, AUTH_TOKEN))
_ERROR_STEPS: Final = {
    "429": (20429, "Too Many Requests"),
    "500": (20500, "Internal Server Error"),
    "502": (20502, "Bad Gateway"),
    "503": (20503, "Service Unavailable"),
}
_NOT_JSON = b"<html><body><h1>502 Bad Gateway</h1>The proxy had no answer.</body></html>"


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


def _authenticated(header: str | None) -> bool:
    """Say whether an Authorization header holds one of the stand-in's two credentials."""
    if header is None or header[:6].lower() != "basic ":
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given = f"{user}:{password}".encode()
    # Compare with every pair, always, so the time taken says nothing about the secret.
    matches = [hmac.compare_digest(given, f"{u}:{p}".encode()) for u, p in _CREDENTIALS]
    return any(matches)


def _whole(raw: str | None, default: int, name: str) -> int:
    """Return a query parameter as a whole number, or raise Twilio's 400."""
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise TwilioError(400, 20001, f"Invalid {name}: {raw[:20]!r} is not a whole number")
    return int(raw)


class TwilioHandlers:
    """Answer the IncomingPhoneNumbers list through the steps above."""

    def __init__(self, state: SandboxState, account: TwilioAccount) -> None:
        self.state = state
        self.account = account

    async def list_numbers(self, request: web.Request) -> web.Response:
        """Handle ``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json``."""
        try:
            response = self._answer(request)
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

    def _answer(self, request: web.Request) -> web.Response | None:
        """Return the answer to one list request (None: drop it), or raise a TwilioError."""
        if not _authenticated(request.headers.get("Authorization")):
            raise TwilioError(401, 20003, "Authenticate")
        if request.match_info["sid"] != ACCOUNT_SID:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        query = request.query
        size = _whole(query.get("PageSize"), DEFAULT_PAGE_SIZE, "PageSize")
        if size > MAX_PAGE_SIZE:
            raise TwilioError(400, 20007, "Page size too large: the maximum page size is 1000")
        if size < 1:
            raise TwilioError(400, 20001, "Invalid PageSize: it must be at least 1")
        page = _whole(query.get("Page"), 0, "Page")
        token = query.get("PageToken")
        uri = request.path_qs
        body = self.account.page(size=size, page=page, token=token, uri=uri)
        step = self.account.next_step(page)
        if step == "drop":
            return None
        if step == "not_json":
            return web.Response(body=_NOT_JSON, status=200, content_type="text/html")
        if step == "repeat_next":
            body["next_page_uri"] = uri  # the page points at itself: a client must notice
        elif step is not None:
            status = int(step)
            code, message = _ERROR_STEPS[step]
            return _twilio_error(status, code, message)
        return _json(200, body)
