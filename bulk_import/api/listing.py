"""Read what the account holds: the whole listing once, or one number's id.

``GET /agents/phone-numbers`` pages with ``limit`` (1 to 100) and ``starting_after`` (the last
id of the page before); an answer is ``{"data": [...], "has_more": bool}``. A whole listing of N
numbers is ``ceil(N / 100)`` requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulk_import.api.answers import Final, describe_error, parse_json
from bulk_import.api.cartesia import PHONE_NUMBERS, CartesiaApi

PAGE_LIMIT = 100
LOOKUP_PAGES = 10


@dataclass(frozen=True, slots=True)
class Held:
    """Hold what the account says about one number."""

    id: str
    number: str
    agent_id: str
    label: str
    provider_id: str
    #: When the API says the number was created (ISO-8601), "" when it does not say.
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Hold the result of looking a number's id up: the id, or why none was found."""

    id: str
    error: str
    attempts: int
    #: The run stopped before the look-up's first request went out.
    not_sent: bool = False
    #: The listing answered, and the number is not in it.
    missing: bool = False
    #: What the account holds under the id found.
    held: Held | None = None


class ListingError(Exception):
    """Say why the account could not be listed to the end."""


def number_held(item: dict[str, object]) -> Held:
    """Return what one PhoneNumberResponse says (``item`` has an ``id`` and a ``number``)."""
    agent = item.get("agent")
    provider = item.get("provider")
    return Held(
        id=str(item["id"]),
        number=str(item["number"]),
        agent_id=str(agent.get("id", "")) if isinstance(agent, dict) else "",
        label=str(item.get("label") or ""),
        provider_id=str(provider.get("id", "")) if isinstance(provider, dict) else "",
        created_at=str(item.get("created_at") or ""),
    )


def _page(final: Final) -> tuple[list[dict[str, object]], bool]:
    """Return one answer's numbers and whether more follow, or raise ListingError."""
    response = final.response
    if response is None:
        raise ListingError(f"listing the account failed: {final.error}")
    if response.status_code != 200:
        raise ListingError(f"listing the account failed: {describe_error(response)}")
    body = parse_json(response)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and item.get("id") and item.get("number") for item in data
    ):
        raise ListingError("listing the account failed: an answer without a data list of numbers")
    return data, bool(body.get("has_more"))


async def list_account(api: CartesiaApi, *, provider_id: str | None = None) -> dict[str, Held]:
    """Page through the whole account once; return what it holds by E.164 number.

    The first page is the run's first contact with the API (:meth:`CartesiaApi.judge_listing`):
    a refused key or an unreachable API stops the run and raises ListingError with its reason.
    """
    held: dict[str, Held] = {}
    cursors: set[str] = set()
    params: dict[str, str | int] = {"limit": PAGE_LIMIT}
    if provider_id:
        params["provider_id"] = provider_id
    while True:
        final = await api.get(PHONE_NUMBERS, dict(params))
        if not cursors:
            api.judge_listing(final)
            if api.control.stopping:
                raise ListingError(api.control.reason)
        data, has_more = _page(final)
        for item in data:
            found = number_held(item)
            held[found.number] = found
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


async def find_number_id(api: CartesiaApi, *, number: str) -> Lookup:
    """Look a number's id up by its E.164 text (``q=<number>``, the exact match), a few pages."""
    attempts = 0
    ended = False
    params: dict[str, str | int] = {"q": number, "limit": PAGE_LIMIT}
    for _ in range(LOOKUP_PAGES):
        final = await api.get(PHONE_NUMBERS, dict(params))
        attempts += final.attempts
        response = final.response
        if response is None or response.status_code != 200:
            if response is not None:
                api.stop_if_refused(response.status_code)
            why = final.error if response is None else describe_error(response)
            return Lookup("", f"look-up failed: {why}", attempts, not_sent=final.not_sent)
        body = parse_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return Lookup("", "look-up failed: the listing's answer has no data list", attempts)
        for item in data:
            if isinstance(item, dict) and item.get("number") == number and item.get("id"):
                return Lookup(str(item["id"]), "", attempts, held=number_held(item))
        if not body.get("has_more") or not data or not isinstance(data[-1], dict):
            ended = True
            break
        params["starting_after"] = str(data[-1].get("id", ""))
    # Only a listing read to its end says the number is missing (rollback counts it gone).
    return Lookup(
        "",
        f"{number} not found in the account (GET {PHONE_NUMBERS}?q={number})",
        attempts,
        missing=ended,
    )
