"""Read a Twilio organisation, and make or delete an account's API keys.

- :func:`list_accounts`: ``GET /2010-04-01/Accounts.json`` with the parent's credentials (its
  auth token or a Main key): the parent and its subaccounts, in Twilio's order, each with its
  ``status`` (``active``, ``suspended``, ``closed``). The parent comes first when Twilio does
  not list it.
- :func:`list_organisation`: the numbers of the parent and of every active subaccount, each
  account's pages one after another, the accounts side by side (``--concurrency`` at most):
  whole or not at all, as one account's listing is.
- :func:`list_keys`, :func:`create_key`, :func:`delete_key`: an account's API keys
  (``/2010-04-01/Accounts/{Sid}/Keys.json``). A key's secret is given once, when it is made; it
  is held in a :class:`~bulk_import.config.Secret` and never quoted. A key call that fails
  raises :class:`KeyCallError`, which the link job turns into the account's line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Final

import httpx

from bulk_import.api.answers import Final as Answer
from bulk_import.api.answers import parse_json
from bulk_import.api.twilio import (
    ListKind,
    ReadList,
    TwilioClient,
    TwilioListing,
    numbers_kind,
    numbers_of,
    read_list,
    text_of,
)
from bulk_import.config import Secret, TwilioOptions
from bulk_import.errors import BulkImportError, UsageError

ACCOUNTS_PATH: Final = "/2010-04-01/Accounts.json"
KEYS_PATH: Final = "/2010-04-01/Accounts/{sid}/Keys.json"
KEY_PATH: Final = "/2010-04-01/Accounts/{sid}/Keys/{key}.json"
#: The friendly name of every key the tool makes: what a person looks for in the console.
KEY_NAME: Final = "cartesia-bulk-import"
ACTIVE: Final = "active"
NOTHING_SENT: Final = "nothing was sent to Cartesia"
_PARENT_AUTH: Final = (
    "the parent's auth token (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or "
    "--twilio-credentials-file holding ACCOUNT_SID:AUTH_TOKEN)"
)


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """Name one account of an organisation: its SID, status, friendly name and owner."""

    sid: str
    status: str
    friendly_name: str = ""
    owner: str = ""


@dataclass(frozen=True, slots=True)
class OrgListing:
    """Hold an organisation's numbers: one listing per active account, in Twilio's order."""

    parent: str
    listings: tuple[TwilioListing, ...]
    #: Accounts not read: suspended or closed.
    skipped: tuple[TwilioAccount, ...]
    pages: int
    requests: int


@dataclass(frozen=True, slots=True)
class NewKey:
    """Hold a key just made: its SID, its secret (given once by Twilio), the tries it took."""

    sid: str
    secret: Secret
    #: More than one: a try before may have made a key whose answer was lost.
    attempts: int = 1


class _Refused(UsageError):
    """Carry Twilio's refusal of the credentials out of a keys listing."""


class KeyCallError(Exception):
    """Say why a key call failed, in one line; ``refused``: the credentials were refused;
    ``uncertain``: a key may have been made all the same (a try's answer was lost)."""

    def __init__(self, message: str, *, refused: bool = False, uncertain: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused
        self.uncertain = uncertain


def accounts_kind(parent: str) -> ListKind:
    """Return the kind of Accounts.json read with the parent's credentials."""

    def refused(client: TwilioClient, response: httpx.Response) -> UsageError:
        return UsageError(
            f"Twilio refused {client.options.credentials.describe()} to list the subaccounts of "
            f"{parent} ({client.code(response)}): --subaccounts needs {_PARENT_AUTH} or a Main "
            "API key; a Standard key cannot list accounts"
        )

    return ListKind(
        path=ACCOUNTS_PATH,
        key="accounts",
        field="sid",
        name="Accounts",
        noun="accounts",
        subject=f"the accounts Twilio lists for {parent}",
        listing=f"the accounts of {parent}",
        reading=f"list the subaccounts of Twilio account {parent}",
        consequence=NOTHING_SENT,
        refused=refused,
    )


def subaccount_kind(sid: str, parent: str) -> ListKind:
    """Return the kind of a subaccount's numbers, read with its parent's credentials."""

    def refused(client: TwilioClient, response: httpx.Response) -> UsageError:
        return UsageError(
            f"Twilio refused {client.options.credentials.describe()} for subaccount {sid} of "
            f"{parent} ({client.code(response)}): Twilio lets {_PARENT_AUTH} read its "
            "subaccounts, not the parent's API keys; nothing was imported"
        )

    return replace(numbers_kind(sid), refused=refused)


async def list_accounts(client: TwilioClient, parent: str) -> tuple[list[TwilioAccount], int]:
    """Return the parent and its subaccounts in Twilio's order, and the pages read."""
    read = await read_list(client, accounts_kind(parent), sid=parent)
    accounts = []
    for entry in read.items:
        sid = entry["sid"]
        owner = text_of(entry.get("owner_account_sid"))
        if sid != parent and owner != parent:
            continue  # not of this organisation: never read, never linked
        status = text_of(entry.get("status")) or ACTIVE
        accounts.append(TwilioAccount(sid, status, text_of(entry.get("friendly_name")), owner))
    if parent not in {account.sid for account in accounts}:
        accounts.insert(0, TwilioAccount(parent, ACTIVE, "", parent))
    return accounts, read.pages


def list_organisation(
    options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> OrgListing:
    """Read the organisation's numbers (its own event loop); raise BulkImportError if it fails."""
    return asyncio.run(list_organisation_async(options, transport=transport))


async def list_organisation_async(
    options: TwilioOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> OrgListing:
    """Read the accounts, then the numbers of each active one; raise the first failure."""
    parent = options.account_sid
    client = TwilioClient(options, concurrency=options.concurrency, transport=transport)
    try:
        accounts, pages = await list_accounts(client, parent)
        active = [account for account in accounts if account.status == ACTIVE]
        kinds = [
            numbers_kind(a.sid) if a.sid == parent else subaccount_kind(a.sid, parent)
            for a in active
        ]
        reads = await _each(client, kinds, [a.sid for a in active], options.concurrency)
    finally:
        await client.aclose()
    listings = tuple(
        TwilioListing(account.sid, numbers_of(read), read.pages, 0)
        for account, read in zip(active, reads, strict=True)
    )
    skipped = tuple(account for account in accounts if account.status != ACTIVE)
    pages += sum(read.pages for read in reads)
    return OrgListing(parent, listings, skipped, pages, client.requests)


async def _each(
    client: TwilioClient, kinds: list[ListKind], sids: list[str], workers: int
) -> list[ReadList]:
    """Read each list with at most ``workers`` at once; raise the failure of the first account.

    Once one fails no new list is started: the listing is whole or not at all.
    """
    results: list[ReadList | BulkImportError | None] = [None] * len(kinds)
    failed = False
    upcoming = iter(range(len(kinds)))

    async def worker() -> None:
        nonlocal failed
        for i in upcoming:
            if failed:
                return
            try:
                results[i] = await read_list(client, kinds[i], sid=sids[i])
            except BulkImportError as exc:
                results[i] = exc
                failed = True

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(kinds))))))
    reads = []
    for result in results:
        if not isinstance(result, ReadList):
            assert result is not None, "every list is read unless one failed"
            raise result
        reads.append(result)
    return reads


async def list_keys(client: TwilioClient, sid: str) -> list[tuple[str, str]]:
    """Return an account's API keys as (SID, friendly name); raise KeyCallError if it cannot."""

    def refused(client: TwilioClient, response: httpx.Response) -> UsageError:
        return _Refused(_refusal(client, response, f"Twilio did not list the API keys of {sid}"))

    kind = ListKind(
        path=KEYS_PATH.format(sid=sid),
        key="keys",
        field="sid",
        name="Keys",
        noun="keys",
        subject=f"Twilio account {sid}'s API keys",
        listing=f"the API keys of {sid}",
        reading=f"list the API keys of Twilio account {sid}",
        consequence="its keys were left as they are",
        refused=refused,
    )
    try:
        read = await read_list(client, kind, sid=sid)
    except BulkImportError as exc:
        raise KeyCallError(str(exc), refused=isinstance(exc, _Refused)) from None
    return [(entry["sid"], text_of(entry.get("friendly_name"))) for entry in read.items]


async def create_key(client: TwilioClient, sid: str, name: str = KEY_NAME) -> NewKey:
    """Make a Standard API key in the account; raise KeyCallError if Twilio does not.

    The POST is retried as any request is, though it is not idempotent: a try whose answer was
    lost (no answer, a 5xx) may have made a key. The key returned says how many tries it took,
    and an error whether a try may have made one, so that the caller looks for such a key.
    """
    final = await client.send("POST", KEYS_PATH.format(sid=sid), data={"FriendlyName": name})
    last = final.response
    lost = last is None or last.status_code >= 500
    uncertain = final.attempts > 1 or (final.attempts == 1 and lost)
    if last is None:
        what = f"make an API key in Twilio account {sid}"
        raise KeyCallError(str(client.unanswered(final, what)), uncertain=uncertain)
    body = parse_json(last) if last.status_code in (200, 201) else None
    key = body.get("sid") if isinstance(body, dict) else None
    secret = body.get("secret") if isinstance(body, dict) else None
    if not (isinstance(key, str) and key.startswith("SK") and isinstance(secret, str) and secret):
        raise KeyCallError(
            _refusal(client, last, f"Twilio did not make an API key in {sid}"),
            refused=last.status_code in (401, 403),
            uncertain=uncertain,
        )
    return NewKey(key, Secret(secret), final.attempts)


async def delete_key(client: TwilioClient, sid: str, key: str) -> None:
    """Delete an API key of the account (gone already is fine); raise KeyCallError if not."""
    final = await client.send("DELETE", KEY_PATH.format(sid=sid, key=key))
    response = _answered(client, final, f"delete API key {key} of Twilio account {sid}")
    if response.status_code in (200, 204, 404):
        return
    raise KeyCallError(_refusal(client, response, f"Twilio did not delete API key {key}"))


def _answered(client: TwilioClient, final: Answer, what: str) -> httpx.Response:
    """Return the answer, or raise KeyCallError saying why none came."""
    if final.response is None:
        raise KeyCallError(str(client.unanswered(final, what)))
    return final.response


def _refusal(client: TwilioClient, response: httpx.Response, head: str) -> str:
    """Say why Twilio answered a key call otherwise than asked, naming the credential only."""
    said = client.said(response)
    if response.status_code in (401, 403):
        return (
            f"{head}: it refused {client.options.credentials.describe()} ({said}); making and "
            f"deleting keys needs {_PARENT_AUTH} (a Standard key cannot, and the parent's API "
            "keys do not reach its subaccounts)"
        )
    return f"{head} ({said})"
