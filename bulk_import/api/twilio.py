"""List a Twilio account's phone numbers: the one Twilio endpoint the tool calls.

``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PageSize=1000``, then each
page's ``next_page_uri`` (relative to the base URL) until it is null, with HTTP Basic auth. The
pages go one after another through the run's retry policy (:class:`~bulk_import.api.caller.
Caller`) under a limiter of its own with room for one request: Twilio's 429 (code 20429, "never
processed"), 5xx, timeouts and connection errors are retried as Cartesia's are.

The listing is read whole or not at all: every reason it cannot be (credentials refused or for
another account, a base URL that is not Twilio's, paging that does not advance, a page that is
not JSON, retries spent) is one :class:`~bulk_import.errors.BulkImportError` line, exit 2, and
nothing is sent to Cartesia. No message ever holds a credential's value, only which one it was.
"""

from __future__ import annotations

import asyncio
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


@dataclass(frozen=True, slots=True)
class TwilioListing:
    """Hold a whole listing: the numbers (``phone_number``, ``friendly_name``) in order."""

    account_sid: str
    numbers: tuple[tuple[str, str], ...]
    pages: int
    #: HTTP requests sent, retries included.
    requests: int


def list_numbers(
    options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> TwilioListing:
    """Read the account's whole listing (its own event loop); raise BulkImportError if it fails."""
    return asyncio.run(list_numbers_async(options, transport=transport))


async def list_numbers_async(
    options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> TwilioListing:
    """Read the account's whole listing, page after page; raise BulkImportError if it fails."""
    lister = _Lister(options, transport=transport)
    try:
        return await lister.run()
    finally:
        await lister.http.aclose()


class _Lister:
    """Follow one account's pages, judging each answer."""

    def __init__(
        self, options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None
    ) -> None:
        credentials = options.credentials
        self.options = options
        self.sid = options.account_sid
        self.path = LIST_PATH.format(sid=self.sid)
        self.caller = Caller(
            policy=RetryPolicy(max_attempts=options.max_attempts),
            limiter=Limiter(ceiling=1),  # paging is sequential: a page names the next
            control=StopControl(),
        )
        self.http = Http(
            base_url=options.base_url,
            headers={"Accept": "application/json"},
            timeout=options.timeout,
            connections=1,
            auth=httpx.BasicAuth(credentials.user.reveal(), credentials.password.reveal()),
            transport=transport,
            option="--twilio-base-url (env TWILIO_BASE_URL)",
        )

    async def run(self) -> TwilioListing:
        numbers: list[tuple[str, str]] = []
        listed: set[str] = set()
        seen: set[str] = set()
        uri: str | None = f"{self.path}?PageSize={PAGE_SIZE}"
        page = 0
        while uri is not None:
            if uri in seen:
                raise InputError(self._broken(page, "next_page_uri repeats a page already read"))
            seen.add(uri)
            page += 1
            body = self._page(await self._get(uri), page)
            items = [
                (entry["phone_number"], _text(entry.get("friendly_name")))
                for entry in body["incoming_phone_numbers"]
            ]
            if items and all(number in listed for number, _ in items):
                raise InputError(self._broken(page, "it lists only numbers already listed"))
            numbers.extend(items)
            listed.update(number for number, _ in items)
            uri = self._next(body, page)
        return TwilioListing(self.sid, tuple(numbers), page, self.caller.counters.requests)

    async def _get(self, uri: str) -> Answer:
        url = self.http.url(uri)
        return await self.caller.send(lambda: self.http.request("GET", url))

    def _page(self, final: Answer, page: int) -> dict[str, Any]:
        """Return one page's body, or raise why the page cannot be used."""
        response = final.response
        control = self.caller.control
        if response is None and control.stopping:
            # A certificate, a proxy or DNS refused the connection: no retry mends it.
            raise UsageError(f"cannot list Twilio account {self.sid}: {control.reason}")
        if response is None:
            raise UsageError(
                f"cannot list Twilio account {self.sid} at {self.options.base_url}: "
                f"{self._quiet(final.error)} (page {page}, {final.attempts} attempts); "
                "check --twilio-base-url (env TWILIO_BASE_URL) and the network"
            )
        if response.status_code != 200:
            raise self._refusal(response, final, page)
        body = parse_json(response)
        if body is None:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise InputError(
                f"page {page} of Twilio account {self.sid}'s numbers is not JSON "
                f"(HTTP 200, {one_line(kind)[:40]}: {self._quote(response.text)}); "
                "check --twilio-base-url (env TWILIO_BASE_URL) and any proxy in between; "
                "nothing was imported"
            )
        entries = body.get("incoming_phone_numbers") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not all(map(_is_number, entries)):
            raise InputError(
                f"page {page} of Twilio account {self.sid}'s numbers is not Twilio's "
                "IncomingPhoneNumbers list (no incoming_phone_numbers with a phone_number each); "
                "check --twilio-base-url (env TWILIO_BASE_URL); nothing was imported"
            )
        assert isinstance(body, dict)
        return body

    def _next(self, body: dict[str, Any], page: int) -> str | None:
        """Return the next page's URI, or None on the last page; refuse one that leads away."""
        following = body.get("next_page_uri")
        if following is None:
            return None
        # Compared without case: a SID typed in capitals names the same account.
        prefix = (self.path + "?").lower()
        if not isinstance(following, str) or not following.lower().startswith(prefix):
            shown = self._quote(repr(following))
            raise InputError(
                self._broken(page, f"next_page_uri {shown} is not a page of this list")
            )
        return following

    def _broken(self, page: int, why: str) -> str:
        return (
            f"Twilio's listing of account {self.sid} does not advance at page {page}: {why}; "
            "nothing was imported; try again later (a proxy in between may be rewriting pages)"
        )

    def _refusal(self, response: httpx.Response, final: Answer, page: int) -> UsageError:
        """Say, in one line, why Twilio would not give the page (the credential named only)."""
        code = response.status_code
        said = self._twilio_error(response)
        credential = self.options.credentials.describe()
        if code in (401, 403):
            return UsageError(
                f"Twilio refused {credential} for account {self.sid} ({self._code(response)}); "
                "check the credentials, and that they belong to this account or to its parent"
            )
        if code == 404 and isinstance(parse_json(response), dict):
            return UsageError(
                f"Twilio knows no account {self.sid} for {credential} ({self._code(response)}): "
                "the credentials belong to another account, or the SID is mistyped; name the "
                f"account they belong to (twilio:AC...), or use {self.sid}'s own API key (or "
                "its parent's account SID and auth token)"
            )
        if code in RETRY_STATUSES:
            return UsageError(
                f"Twilio kept failing while listing account {self.sid} ({said}, page {page}, "
                f"{final.attempts} attempts); nothing was imported; try again later"
            )
        if 300 <= code < 400:
            return UsageError(
                f"{self.options.base_url} answered the listing with a redirect ({said}), not "
                "followed; check --twilio-base-url (env TWILIO_BASE_URL)"
            )
        return UsageError(
            f"{self.options.base_url} does not list Twilio account {self.sid} ({said}); "
            "check --twilio-base-url (env TWILIO_BASE_URL) and the account SID"
        )

    def _twilio_error(self, response: httpx.Response) -> str:
        """Quote Twilio's error body (``code`` and ``message``), else the body's start."""
        body = parse_json(response)
        if isinstance(body, dict) and body.get("message"):
            return f"{self._code(response)}: {self._quote(str(body['message']))}"
        text = self._quote(response.text)
        code = response.status_code
        return f"HTTP {code}: {text}" if text else f"HTTP {code}"

    @staticmethod
    def _code(response: httpx.Response) -> str:
        """Name an answer by its HTTP status and Twilio's error code, when it gives one."""
        body = parse_json(response)
        code = body.get("code") if isinstance(body, dict) else None
        number = f", code {code}" if isinstance(code, int) else ""
        return f"HTTP {response.status_code}{number}"

    def _quote(self, text: str) -> str:
        return self._quiet(one_line(text))[:QUOTE_LIMIT]

    def _quiet(self, text: str) -> str:
        """Mask the secret where a server (or an error) quotes it back."""
        secret = self.options.credentials.password.reveal()
        return text.replace(secret, "****") if secret else text


def _is_number(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("phone_number"), str)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
