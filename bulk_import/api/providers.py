"""Cartesia's providers: the list, a link, and the check before the first import.

``GET /agents/phone-numbers/providers`` lists the provider accounts linked to the Cartesia
account, whole, as one JSON array (``?account_sid=`` narrows it to one Twilio account).
``POST`` links a Twilio account in a region with an API key SID and secret, which Cartesia
checks with Twilio: 201 with the provider, 409 when that account and region are linked already,
400 when the key is refused.

:func:`check_providers` runs before the first import of ``run`` and ``reconcile --apply``: one
GET of the whole list settles every provider id and every Twilio account the rows name, so an
unknown one is exit 2, nothing sent, instead of a 404 on every row. Every unlinked account is
named, with the ``bulk-import providers link`` command that links it. :func:`read_holding` reads
the same list for ``rollback``, which must not take a number missing from an account that
does not link its provider for a number deleted.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final

from bulk_import.api.answers import Final as Answer
from bulk_import.api.answers import describe_error, parse_json
from bulk_import.api.cartesia import PROVIDERS, CartesiaApi
from bulk_import.config import Secret
from bulk_import.errors import UsageError
from bulk_import.models import Provider

#: Twilio accounts the whole list does not show that are looked up one GET each, at most: an
#: API whose list leaves some out (the sandbox, when every SID counts as linked) is asked
#: again; once one look-up agrees with the list, the list is taken at its word for the rest.
MAX_ACCOUNT_CHECKS: Final = 20
#: Answers that mean "this API has no providers list": the check is skipped, not failed.
NOT_OFFERED: Final = frozenset({404, 405, 501})
#: Characters a masked key SID shows as they are; any other hides one or more.
_SHOWN: Final = frozenset("0123456789abcdefABCDEF")
#: What every Twilio API key SID starts with (lower case, as :func:`may_be` compares).
_KEY_TYPE: Final = "sk"


def link_command(account_sid: str, region: str) -> str:
    """Return the command that links a Twilio account in a region."""
    return f"bulk-import providers link twilio:{account_sid} --region {region}"


def _listing(final: Answer) -> list[dict[str, object]] | None:
    """Return the providers an answer lists, or None when it lists none we can read."""
    response = final.response
    if response is None or response.status_code != 200:
        return None
    body = parse_json(response)
    if not isinstance(body, list):
        return None
    return [item for item in body if isinstance(item, dict)]


def _pairs(listed: list[dict[str, object]]) -> set[tuple[str, str]]:
    """Return the (account SID, region) of every Twilio provider listed."""
    return {
        (str(item.get("account_sid", "")), str(item.get("region", "")))
        for item in listed
        if item.get("type", "twilio") == "twilio"
    }


async def check_providers(api: CartesiaApi, providers: Collection[Provider]) -> list[str]:
    """Raise :class:`UsageError` naming what the account lacks; return news lines.

    A refused key stops the run as any 401/403 does. When the API offers no providers list, or
    the check cannot be made, the rows are sent and tell: a news line says so.
    """
    ids = sorted({p.id for p in providers if p.id is not None})
    accounts = sorted({(p.account_sid or "", p.region) for p in providers if p.id is None})
    if not ids and not accounts:
        return []
    final = await api.get(PROVIDERS, {})
    listed = _listing(final)
    if listed is None:
        return _skipped(api, final)
    known = {str(item.get("id", "")) for item in listed}
    unknown = [i for i in ids if i not in known]
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise UsageError(
            f"provider {', '.join(unknown)} is not in the Cartesia account (its providers: "
            f"{names}); check --provider-id or the provider_id column; nothing was sent"
        )
    linked = _pairs(listed)
    absent = [pair for pair in accounts if pair not in linked]
    sids = list(dict.fromkeys(sid for sid, _ in absent))
    confirmed = False  # a look-up agreed that an account the list lacks is not linked
    for sid in sids[:MAX_ACCOUNT_CHECKS]:
        final = await api.get(PROVIDERS, {"account_sid": sid})
        more = _listing(final)
        if more is None:
            return _skipped(api, final)
        found = _pairs(more)
        linked |= found
        confirmed |= any(pair not in found for pair in absent if pair[0] == sid)
    unlinked = [pair for pair in absent if pair not in linked]
    unchecked = set(sids[MAX_ACCOUNT_CHECKS:])
    if not confirmed:
        unlinked = [pair for pair in unlinked if pair[0] not in unchecked]
    if unlinked:
        raise UsageError(_unlinked_message(unlinked, linked))
    if unchecked and not confirmed:
        return [
            f"{len(unchecked)} Twilio accounts the providers list does not show were not looked "
            f"up one by one (at most {MAX_ACCOUNT_CHECKS}); their rows will tell"
        ]
    return []


def _unlinked_message(unlinked: list[tuple[str, str]], linked: set[tuple[str, str]]) -> str:
    """Say which accounts are not linked, one line, then the command for each on its own line."""
    if len(unlinked) == 1:
        sid, region = unlinked[0]
        regions = sorted(r for s, r in linked if s == sid)
        state = f"linked in {', '.join(regions)} only" if regions else "not linked"
        return (
            f"Twilio account {sid} ({region}) is {state} in the Cartesia account; nothing was "
            f"sent; link it: {link_command(sid, region)} (or check --twilio-account-sid, "
            "--region and the account_sid / region columns)"
        )
    commands = "\n".join("  " + link_command(sid, region) for sid, region in unlinked)
    return (
        f"{len(unlinked)} Twilio accounts the rows need are not linked in the Cartesia account "
        "(or not in the region the rows name); nothing was sent; link each (a parent and its "
        "subaccounts at once: bulk-import providers link twilio:AC... --subaccounts "
        f"--create-keys):\n{commands}"
    )


def _skipped(api: CartesiaApi, final: Answer) -> list[str]:
    """Say why the providers could not be checked (a refused key stops the run instead)."""
    response = final.response
    if response is not None:
        api.stop_if_refused(response.status_code)
        if response.status_code in NOT_OFFERED:
            return ["the API offers no providers list: providers are not checked before the rows"]
        return [f"providers not checked ({describe_error(response)}); the rows will tell"]
    return [f"providers not checked ({final.error}); the rows will tell"]


async def fetch_providers(
    api: CartesiaApi, *, account_sid: str | None = None
) -> list[dict[str, object]] | None:
    """Return the providers listed, or None when the run stops (the control says why).

    A base URL that answers but not with the list is :class:`UsageError` (exit 2).
    """
    final = await api.get(PROVIDERS, {"account_sid": account_sid} if account_sid else {})
    listed = _listing(final)
    if listed is not None:
        return listed
    response = api.judge_contact(final)
    if response is None:
        return None
    what = f"HTTP {response.status_code}" if response.status_code != 200 else "not a list"
    raise UsageError(
        f"{api.base_url} does not list providers like Cartesia's API (GET "
        f"{api.base_url}{PROVIDERS} gave {what}); check --base-url (env CARTESIA_BASE_URL)"
    )


@dataclass(frozen=True, slots=True)
class LookUp:
    """Hold what asking Cartesia for one account's providers found, or why it could not."""

    #: The providers listed; None when the list could not be read (then ``error`` says why).
    providers: list[dict[str, object]] | None
    error: str = ""


async def look_up_providers(api: CartesiaApi, *, account_sid: str) -> LookUp:
    """Ask for one account's providers again; never stop the run, whatever the answer.

    "Not listed" and "could not look" must not be confused: a key is deleted only when the
    account's providers were read and none may hold it. ``api`` may be one with a stop
    control of its own, so that a look-up is still sent once the command is stopping.
    """
    final = await api.get(PROVIDERS, {"account_sid": account_sid})
    listed = _listing(final)
    if listed is not None:
        return LookUp(listed)
    response = final.response
    if response is None:
        return LookUp(None, final.error)
    what = "not a list" if response.status_code == 200 else describe_error(response)
    return LookUp(None, what)


@dataclass(frozen=True, slots=True)
class Holding:
    """Hold which of the providers asked about the account links, or why that is not known."""

    ids: frozenset[str] = frozenset()
    pairs: frozenset[tuple[str, str]] = frozenset()
    #: Why the providers could not be read ("" when they were): then every one may be linked.
    unknown: str = ""
    #: Why reading them failed ("" when it did not, or when the API offers no list): then it is
    #: not known whether the account links the row's provider.
    failed: str = ""

    def links(self, provider: Provider | None) -> bool:
        """Say whether the account may link this provider (unknown, or none named: it may)."""
        if self.unknown or provider is None:
            return True
        if provider.id is not None:
            return provider.id in self.ids
        return (provider.account_sid or "", provider.region) in self.pairs


def _unread(api: CartesiaApi, final: Answer) -> Holding:
    """Return the holding of a providers list that was not read: not offered, or failed."""
    why = _skipped(api, final)[0]
    response = final.response
    if response is not None and response.status_code in NOT_OFFERED:
        return Holding(unknown=why)
    return Holding(
        unknown=why,
        failed="the providers could not be read to tell that this is the run's account "
        f"({describe_error(response) if response is not None else final.error}): not counted "
        "as deleted; run the same command again",
    )


async def read_holding(api: CartesiaApi, providers: Collection[Provider]) -> Holding:
    """Read which of ``providers`` the account links: the whole list, then one look-up per
    Twilio account the list does not show (at most :data:`MAX_ACCOUNT_CHECKS`; beyond, may be).

    Never fails the command: a list that cannot be read is :attr:`Holding.unknown` (a refused
    key stops the run, as everywhere).
    """
    final = await api.get(PROVIDERS, {})
    listed = _listing(final)
    if listed is None:
        return _unread(api, final)
    ids = frozenset(str(item.get("id", "")) for item in listed)
    pairs = _pairs(listed)
    absent = {(p.account_sid or "", p.region) for p in providers if p.id is None} - pairs
    sids = sorted({sid for sid, _ in absent})
    for sid in sids[:MAX_ACCOUNT_CHECKS]:
        final = await api.get(PROVIDERS, {"account_sid": sid})
        more = _listing(final)
        if more is None:
            return _unread(api, final)
        pairs |= _pairs(more)
    pairs |= {pair for pair in absent if pair[0] in sids[MAX_ACCOUNT_CHECKS:]}
    return Holding(ids, frozenset(pairs))


class LinkAnswer(enum.Enum):
    """Say how Cartesia answered a link."""

    CREATED = "created"
    EXISTS = "exists"
    REFUSED = "refused"
    FAILED = "failed"
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class Linked:
    """Hold Cartesia's answer to a link: what it was, the provider, why not, the tries."""

    answer: LinkAnswer
    provider: dict[str, object] = field(default_factory=dict)
    error: str = ""
    attempts: int = 0


async def create_provider(
    api: CartesiaApi, *, account_sid: str, region: str, key_sid: str, secret: Secret
) -> Linked:
    """Link a Twilio account in a region with an API key; the secret goes in the body only.

    A 409 is :attr:`LinkAnswer.EXISTS`; a 401/403 stops the run (and is ``REFUSED``); any
    other 4xx is ``REFUSED`` with Cartesia's words (the secret masked should it quote it); no
    answer once the retries are spent is ``FAILED``: the link may have arrived.
    """
    body = {
        "type": "twilio",
        "account_sid": account_sid,
        "api_key_sid": key_sid,
        "api_key_secret": secret.reveal(),
        "region": region,
    }
    final = await api.caller.send(lambda: api.http.request("POST", PROVIDERS, json=body))
    response = final.response
    if response is None:
        answer = LinkAnswer.NOT_SENT if final.not_sent else LinkAnswer.FAILED
        return Linked(answer, error=final.error, attempts=final.attempts)
    code = response.status_code
    if code in (200, 201):
        provider = parse_json(response)
        return Linked(LinkAnswer.CREATED, provider if isinstance(provider, dict) else {})
    if code == 409:
        return Linked(LinkAnswer.EXISTS, attempts=final.attempts)
    api.stop_if_refused(code)
    said = describe_error(response).replace(secret.reveal(), "****")
    answer = LinkAnswer.FAILED if code >= 500 else LinkAnswer.REFUSED
    return Linked(answer, error=said, attempts=final.attempts)


def may_be(masked: str, key_sid: str) -> bool:
    """Say whether a masked key SID may be this key's: conservative, unsure is "may be".

    A mask shows some of the key's characters as they are, at their place from either end, and
    hides the rest (``SK****...1234``, ``****1234``, ``SK…ABCD``); the ``SK`` of the key's type
    is read as such only when the mask shows it. What is shown must match the key; a mask that
    hides nothing must be the key. A mask this cannot read (none at all, or shorter than a key
    yet hiding nothing) may be any key: deleting the key a live provider holds breaks the
    customer's telephony, keeping a spare one costs nothing.
    """
    mask, key = masked.lower(), key_sid.lower()
    mask_type = mask.startswith(_KEY_TYPE)
    shown = mask[len(_KEY_TYPE) :] if mask_type else mask
    digits = key[len(_KEY_TYPE) :] if key.startswith(_KEY_TYPE) else key
    hidden = [i for i, char in enumerate(shown) if char not in _SHOWN]
    if not hidden:
        return shown == digits if len(shown) == len(digits) else True
    head, tail = shown[: hidden[0]], shown[hidden[-1] + 1 :]
    return digits.startswith(head) and digits.endswith(tail)
