"""Talk to Twilio's REST API: one client, and its lists read whole, page after page.

:class:`TwilioClient` sends every request with HTTP Basic auth through the run's retry policy
(:class:`~bulk_import.api.caller.Caller`) under a limiter of its own: Twilio's 429 (code 20429,
"never processed"), 5xx, timeouts and connection errors are retried as Cartesia's are. No message
ever holds a credential's value, only which one it was, and a secret a server quotes back is
masked.

A list (``IncomingPhoneNumbers.json``, ``Accounts.json``, ``Keys.json``) is read by
:func:`read_list`: ``PageSize=1000``, then each page's ``next_page_uri`` (relative to the base
URL) until it is null. It is read whole or not at all: every reason it cannot be (credentials
refused or for another account, a base URL that is not Twilio's, paging that does not advance, a
page that is not JSON, retries spent) is one :class:`~bulk_import.errors.BulkImportError` line,
exit 2, and nothing is sent to Cartesia.

:func:`list_numbers` reads one account's numbers: ``GET
/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json``. The organisation's accounts and
keys are in :mod:`bulk_import.api.twilio_org`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx

from bulk_import.api.answers import Final as Answer
from bulk_import.api.answers import one_line, parse_json
from bulk_import.api.caller import Caller
from bulk_import.api.control import StopControl
from bulk_import.api.http import Http
from bulk_import.api.limiter import Limiter
from bulk_import.api.retry import RETRY_STATUSES, RetryPolicy
from bulk_import.config import TwilioOptions
from bulk_import.errors import InputError, UsageError

LIST_PATH: Final = "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
PAGE_SIZE: Final = 1000
QUOTE_LIMIT: Final = 120
NOTHING_IMPORTED: Final = "nothing was imported"


@dataclass(frozen=True, slots=True)
class TwilioListing:
    """Hold a whole listing: the numbers (``phone_number``, ``friendly_name``) in order."""

    account_sid: str
    numbers: tuple[tuple[str, str], ...]
    pages: int
    #: HTTP requests sent, retries included.
    requests: int


class TwilioClient:
    """Send one command's requests to Twilio: Basic auth, retries, at most ``concurrency`` at once.

    Its :class:`StopControl` is its own: a Ctrl-C that stops the Cartesia side does not cut a
    request here short (a key just created must still be deleted when it is not linked).
    """

    def __init__(
        self,
        options: TwilioOptions,
        *,
        concurrency: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        credentials = options.credentials
        self.options = options
        self.caller = Caller(
            policy=RetryPolicy(max_attempts=options.max_attempts),
            limiter=Limiter(ceiling=concurrency),
            control=StopControl(),
        )
        self.http = Http(
            base_url=options.base_url,
            headers={"Accept": "application/json"},
            timeout=options.timeout,
            connections=concurrency,
            auth=httpx.BasicAuth(credentials.user.reveal(), credentials.password.reveal()),
            transport=transport,
            option="--twilio-base-url (env TWILIO_BASE_URL)",
        )

    @property
    def requests(self) -> int:
        """Return the HTTP requests sent so far, retries included."""
        return self.caller.counters.requests

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def send(self, method: str, uri: str, *, data: dict[str, str] | None = None) -> Answer:
        """Send one request to ``uri`` (a path under the base URL) until its final answer."""
        url = self.http.url(uri)
        if data is None:
            return await self.caller.send(lambda: self.http.request(method, url))
        return await self.caller.send(lambda: self.http.request(method, url, data=data))

    def unanswered(self, final: Answer, what: str, page: int = 0) -> UsageError:
        """Say why a request got no answer at all: blocked for good, or retries spent."""
        control = self.caller.control
        if control.stopping:
            # A certificate, a proxy or DNS refused the connection: no retry mends it.
            return UsageError(f"cannot {what}: {control.reason}")
        where = f"page {page}, " if page else ""
        return UsageError(
            f"cannot {what} at {self.options.base_url}: {self.quiet(final.error)} "
            f"({where}{final.attempts} attempts); check --twilio-base-url (env TWILIO_BASE_URL) "
            "and the network"
        )

    def said(self, response: httpx.Response) -> str:
        """Quote Twilio's error body (``code`` and ``message``), else the body's start."""
        body = parse_json(response)
        if isinstance(body, dict) and body.get("message"):
            return f"{self.code(response)}: {self.quote(str(body['message']))}"
        text = self.quote(response.text)
        code = response.status_code
        return f"HTTP {code}: {text}" if text else f"HTTP {code}"

    @staticmethod
    def code(response: httpx.Response) -> str:
        """Name an answer by its HTTP status and Twilio's error code, when it gives one."""
        body = parse_json(response)
        code = body.get("code") if isinstance(body, dict) else None
        number = f", code {code}" if isinstance(code, int) else ""
        return f"HTTP {response.status_code}{number}"

    def quote(self, text: str) -> str:
        """Return a server's text on one line, short, with the secret masked."""
        return self.quiet(one_line(text))[:QUOTE_LIMIT]

    def quiet(self, text: str) -> str:
        """Mask the secret where a server (or an error) quotes it back."""
        secret = self.options.credentials.password.reveal()
        return text.replace(secret, "****") if secret else text


@dataclass(frozen=True, slots=True)
class ListKind:
    """Describe one of Twilio's lists: where it is, what its items hold, how to speak of it.

    ``subject`` names a page's owner in messages (``Twilio account AC...'s numbers``),
    ``listing`` the listing (``account AC...``), ``reading`` the act (``list Twilio account
    AC...``), ``noun`` its items; ``refused`` words a 401/403 (None: the default for numbers).
    """

    path: str
    key: str
    field: str
    name: str
    noun: str
    subject: str
    listing: str
    reading: str
    consequence: str = NOTHING_IMPORTED
    refused: Callable[[TwilioClient, httpx.Response], UsageError] | None = None


def numbers_kind(sid: str) -> ListKind:
    """Return the kind of one account's IncomingPhoneNumbers list."""
    return ListKind(
        path=LIST_PATH.format(sid=sid),
        key="incoming_phone_numbers",
        field="phone_number",
        name="IncomingPhoneNumbers",
        noun="numbers",
        subject=f"Twilio account {sid}'s numbers",
        listing=f"account {sid}",
        reading=f"list Twilio account {sid}",
    )


@dataclass(frozen=True, slots=True)
class ReadList:
    """Hold a list read whole: its items in order and the pages it took."""

    items: tuple[dict[str, Any], ...]
    pages: int


async def read_list(client: TwilioClient, kind: ListKind, *, sid: str) -> ReadList:
    """Read a whole list, following ``next_page_uri``; raise BulkImportError if it cannot be."""
    items: list[dict[str, Any]] = []
    listed: set[str] = set()
    seen: set[str] = set()
    uri: str | None = f"{kind.path}?PageSize={PAGE_SIZE}"
    page = 0
    while uri is not None:
        if uri in seen:
            raise InputError(_broken(kind, page, "next_page_uri repeats a page already read"))
        seen.add(uri)
        page += 1
        body = _page(client, kind, await client.send("GET", uri), page, sid=sid)
        entries: list[dict[str, Any]] = body[kind.key]
        ids = [entry[kind.field] for entry in entries]
        if ids and all(item in listed for item in ids):
            raise InputError(_broken(kind, page, f"it lists only {kind.noun} already listed"))
        items.extend(entries)
        listed.update(ids)
        uri = _next(kind, body, page)
    return ReadList(tuple(items), page)


def _page(
    client: TwilioClient, kind: ListKind, final: Answer, page: int, *, sid: str
) -> dict[str, Any]:
    """Return one page's body, or raise why the page cannot be used."""
    response = final.response
    if response is None:
        raise client.unanswered(final, kind.reading, page)
    if response.status_code != 200:
        raise _refusal(client, kind, response, final, page, sid=sid)
    body = parse_json(response)
    if body is None:
        content = response.headers.get("content-type", "no content type").split(";")[0]
        raise InputError(
            f"page {page} of {kind.subject} is not JSON "
            f"(HTTP 200, {one_line(content)[:40]}: {client.quote(response.text)}); "
            "check --twilio-base-url (env TWILIO_BASE_URL) and any proxy in between; "
            f"{kind.consequence}"
        )
    entries = body.get(kind.key) if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(_has(entry, kind.field) for entry in entries):
        raise InputError(
            f"page {page} of {kind.subject} is not Twilio's {kind.name} list (no {kind.key} "
            f"with a {kind.field} each); check --twilio-base-url (env TWILIO_BASE_URL); "
            f"{kind.consequence}"
        )
    assert isinstance(body, dict)
    return body


def _next(kind: ListKind, body: dict[str, Any], page: int) -> str | None:
    """Return the next page's URI, or None on the last page; refuse one that leads away."""
    following = body.get("next_page_uri")
    if following is None:
        return None
    # Compared without case: a SID typed in capitals names the same account.
    prefix = (kind.path + "?").lower()
    if not isinstance(following, str) or not following.lower().startswith(prefix):
        shown = one_line(repr(following))[:QUOTE_LIMIT]
        raise InputError(_broken(kind, page, f"next_page_uri {shown} is not a page of this list"))
    return following


def _broken(kind: ListKind, page: int, why: str) -> str:
    return (
        f"Twilio's listing of {kind.listing} does not advance at page {page}: {why}; "
        f"{kind.consequence}; try again later (a proxy in between may be rewriting pages)"
    )


def _refusal(
    client: TwilioClient,
    kind: ListKind,
    response: httpx.Response,
    final: Answer,
    page: int,
    *,
    sid: str,
) -> UsageError:
    """Say, in one line, why Twilio would not give the page (the credential named only)."""
    code = response.status_code
    base_url = client.options.base_url
    credential = client.options.credentials.describe()
    if code in (401, 403):
        if kind.refused is not None:
            return kind.refused(client, response)
        return UsageError(
            f"Twilio refused {credential} for account {sid} ({client.code(response)}); "
            "check the credentials, and that they belong to this account or to its parent"
        )
    if code == 404 and isinstance(parse_json(response), dict):
        return UsageError(
            f"Twilio knows no account {sid} for {credential} ({client.code(response)}): "
            "the credentials belong to another account, or the SID is mistyped; name the "
            f"account they belong to (twilio:AC...), or use {sid}'s own API key (or "
            "its parent's account SID and auth token)"
        )
    said = client.said(response)
    if code in RETRY_STATUSES:
        return UsageError(
            f"Twilio kept failing while listing {kind.listing} ({said}, page {page}, "
            f"{final.attempts} attempts); {kind.consequence}; try again later"
        )
    if 300 <= code < 400:
        return UsageError(
            f"{base_url} answered the listing with a redirect ({said}), not "
            "followed; check --twilio-base-url (env TWILIO_BASE_URL)"
        )
    return UsageError(
        f"{base_url} does not {kind.reading} ({said}); "
        "check --twilio-base-url (env TWILIO_BASE_URL) and the account SID"
    )


def list_numbers(
    options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> TwilioListing:
    """Read the account's whole listing (its own event loop); raise BulkImportError if it fails."""
    return asyncio.run(list_numbers_async(options, transport=transport))


async def list_numbers_async(
    options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> TwilioListing:
    """Read the account's whole listing, page after page; raise BulkImportError if it fails."""
    client = TwilioClient(options, transport=transport)
    try:
        sid = options.account_sid
        read = await read_list(client, numbers_kind(sid), sid=sid)
        return TwilioListing(sid, numbers_of(read), read.pages, client.requests)
    finally:
        await client.aclose()


def numbers_of(read: ReadList) -> tuple[tuple[str, str], ...]:
    """Return a numbers list's items as (``phone_number``, ``friendly_name``) pairs."""
    return tuple(
        (entry["phone_number"], text_of(entry.get("friendly_name"))) for entry in read.items
    )


def _has(entry: object, field: str) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get(field), str)


def text_of(value: object) -> str:
    """Return a field of Twilio's as text: anything else is blank."""
    return value if isinstance(value, str) else ""
