"""Check, before the first import, that the account knows every provider the rows will name.

``GET /agents/phone-numbers/providers`` lists the provider accounts linked to the Cartesia
account (``?account_sid=`` narrows it to one Twilio account). One call settles every provider
id, and one per Twilio account settles that account and its region, so an unknown one is exit 2
naming it, nothing sent, instead of a 404 on every row. Agents have no such call: an unknown
agent still shows on the first rows, and ``--max-consecutive-failures`` stops the run.
"""

from __future__ import annotations

from collections.abc import Collection

from bulk_import.api.answers import Final, describe_error, parse_json
from bulk_import.api.cartesia import PROVIDERS, CartesiaApi
from bulk_import.errors import UsageError
from bulk_import.models import Provider

#: Twilio accounts checked one call each at most; beyond, their rows still tell.
MAX_ACCOUNT_CHECKS = 20
#: Answers that mean "this API has no providers list": the check is skipped, not failed.
NOT_OFFERED = frozenset({404, 405, 501})


def _listing(final: Final) -> list[dict[str, object]] | None:
    """Return the providers an answer lists, or None when it lists none we can read."""
    response = final.response
    if response is None or response.status_code != 200:
        return None
    body = parse_json(response)
    if not isinstance(body, list):
        return None
    return [item for item in body if isinstance(item, dict)]


async def check_providers(api: CartesiaApi, providers: Collection[Provider]) -> list[str]:
    """Raise :class:`UsageError` naming a provider the account does not know; return news lines.

    A refused key stops the run as any 401/403 does. When the API offers no providers list, or
    the check cannot be made, the rows are sent and tell: a news line says so.
    """
    ids = sorted({p.id for p in providers if p.id is not None})
    accounts = sorted({(p.account_sid or "", p.region) for p in providers if p.id is None})
    news: list[str] = []
    if ids:
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
    for sid, region in accounts[:MAX_ACCOUNT_CHECKS]:
        final = await api.get(PROVIDERS, {"account_sid": sid})
        listed = _listing(final)
        if listed is None:
            return _skipped(api, final)
        regions = {str(item.get("region", "")) for item in listed}
        if region not in regions:
            linked = f"linked in {', '.join(sorted(regions))} only" if regions else "not linked"
            raise UsageError(
                f"Twilio account {sid} ({region}) is {linked} in the Cartesia account; link it "
                "(see Cartesia's providers API), or check --twilio-account-sid, --region and "
                "the account_sid / region columns; nothing was sent"
            )
    if len(accounts) > MAX_ACCOUNT_CHECKS:
        news.append(
            f"checked the first {MAX_ACCOUNT_CHECKS} of {len(accounts)} Twilio accounts; "
            "the rows of the others tell"
        )
    return news


def _skipped(api: CartesiaApi, final: Final) -> list[str]:
    """Say why the providers could not be checked (a refused key stops the run instead)."""
    response = final.response
    if response is not None:
        api.control.stop_if_refused(response.status_code, url=api.base_url)
        if response.status_code in NOT_OFFERED:
            return ["the API offers no providers list: providers are not checked before the rows"]
        return [f"providers not checked ({describe_error(response)}); the rows will tell"]
    return [f"providers not checked ({final.error}); the rows will tell"]
