"""Keep the sandbox's providers and agents: what an import or update may name, and links.

:class:`Registry` is the half of :class:`~bulk_import.sandbox.store.Store` that knows
providers (the faults' ids, the Twilio accounts counted as linked, the links made through
``POST /agents/phone-numbers/providers``) and agents; the store keeps the numbers.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from bulk_import.models import REGIONS
from bulk_import.sandbox.faults import ACCOUNT_SID, Faults


class Reject(Exception):
    """Carry an error answer (status, title, message) out of the operation that decided it."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def digest(text: str) -> str:
    """Return 32 hex digits derived from ``text``: stable fake SIDs for fake providers."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _provider_object(provider_id: str, account_sid: str, region: str) -> dict[str, str]:
    """Return a TwilioProviderResponse, with the API key SID masked as the real API does."""
    return {
        "type": "twilio",
        "id": provider_id,
        "account_sid": account_sid,
        "api_key_sid": "SK" + "*" * 28 + digest("key" + provider_id)[:4],
        "region": region,
    }


def _by_account(spec: dict[str, Any]) -> bool:
    """Say whether a provider object matches the By Twilio Account form of the API's oneOf."""
    return (
        spec.get("type") == "twilio"
        and isinstance(spec.get("account_sid"), str)
        and spec.get("region", "us1") in REGIONS
    )


class Registry:
    """Hold the providers and agents an import may name; link Twilio accounts."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.lock = threading.Lock()
        self._accounts = None if faults.twilio_accounts is None else set(faults.twilio_accounts)
        self._agents = {a: {"id": a, "name": a} for a in faults.agents}
        self.clear_providers()

    def clear_providers(self) -> None:
        """Forget every provider made by a Twilio-account import or a link."""
        with self.lock:
            self._providers: dict[str, dict[str, str]] = {
                p: _provider_object(p, "AC" + digest(p), "us1") for p in self.faults.providers
            }
            # A named provider is its account's us1 provider: an import by account finds it.
            self._twilio: dict[tuple[str, str], dict[str, str]] = {
                (p["account_sid"], "us1"): p for p in self._providers.values()
            }

    def provider(self, spec: object) -> dict[str, str]:
        """Return the provider an import or update names, or reject it (400 shape, 404 unknown)."""
        if not isinstance(spec, dict):
            raise Reject(400, "Invalid request", "provider must be an object")
        if "id" in spec:
            if _by_account(spec):
                raise Reject(
                    400,
                    "Invalid request",
                    'provider matches both {"id": ...} and {"type": "twilio", "account_sid": '
                    "...}; the API takes one of them (oneOf), not both",
                )
            provider_id = spec["id"]
            if not isinstance(provider_id, str):
                raise Reject(400, "Invalid request", "provider.id must be a string")
            found = self._providers.get(provider_id)
            if found is None:
                raise Reject(404, "Not found", f"provider not found: no provider {provider_id!r}")
            return found
        kind = spec.get("type")
        if kind is None:
            raise Reject(
                400,
                "Invalid request",
                'provider must be {"id": ...} or {"type": "twilio", "account_sid": ...}',
            )
        if kind != "twilio":
            raise Reject(400, "Unsupported provider type", 'provider.type must be "twilio"')
        sid = spec.get("account_sid")
        if not isinstance(sid, str):
            raise Reject(400, "Invalid request", "provider.account_sid is required (a string)")
        region = spec.get("region", "us1")
        if region not in REGIONS:
            raise Reject(
                400, "Invalid request", f"provider.region must be one of {', '.join(REGIONS)}"
            )
        if not self.linked(sid, region):
            raise Reject(
                404, "Not found", f"provider not found: Twilio account {sid} is not linked"
            )
        return self._twilio_provider(sid, region)

    def linked(self, sid: str, region: str | None = None) -> bool:
        """Say whether this Twilio account is linked (in ``region``, when named).

        Listed in ``twilio_accounts`` (or well-formed when none are listed): in every region;
        linked through the API (:meth:`link`): in its own region.
        """
        if region is not None and (sid, region) in self._twilio:
            return True
        if self._accounts is None:
            return ACCOUNT_SID.fullmatch(sid) is not None
        return sid in self._accounts

    def link(self, sid: str, region: str, key_sid: str) -> dict[str, str]:
        """Link a Twilio account in a region with an API key; reject it (409) if it is linked."""
        if self.linked(sid, region):
            raise Reject(
                409,
                "Conflict",
                "Provider already exists for this account and region. "
                "Use PATCH to update credentials.",
            )
        provider = _provider_object("prov_" + digest(sid + region)[:16], sid, region)
        provider["api_key_sid"] = key_sid[:2] + "*" * (len(key_sid) - 6) + key_sid[-4:]
        with self.lock:
            self._twilio[(sid, region)] = provider
            self._providers[provider["id"]] = provider
        return dict(provider)

    def _twilio_provider(self, sid: str, region: str) -> dict[str, str]:
        """Return the provider of a linked Twilio account in a region, made on first use."""
        found = self._twilio.get((sid, region))
        if found is None:
            found = _provider_object("prov_" + digest(sid + region)[:16], sid, region)
            with self.lock:
                self._twilio[(sid, region)] = found
                self._providers[found["id"]] = found
        return found

    def providers(self, *, account_sid: str | None = None) -> list[dict[str, str]]:
        """Return the providers known, as TwilioProviderResponse objects, oldest first.

        Those are the faults' ``providers``, the Twilio accounts' providers made so far, and
        those of every listed ``twilio_accounts``. With ``account_sid``, only that account's:
        a linked account is linked in every region, as an import by account finds it.
        """
        sids = [account_sid] if account_sid is not None else sorted(self._accounts or ())
        for sid in sids:
            if self.linked(sid):
                for region in REGIONS:
                    self._twilio_provider(sid, region)
        with self.lock:
            found = [dict(p) for p in self._providers.values()]
        if account_sid is None:
            return found
        return [p for p in found if p["account_sid"] == account_sid]

    def agent(self, agent_id: object) -> str | None:
        """Return a known agent id (or None for null), or reject it (400 type, 404 unknown)."""
        if agent_id is None:
            return None
        if not isinstance(agent_id, str):
            raise Reject(400, "Invalid request", "agent_id must be a string")
        if agent_id not in self._agents:
            raise Reject(404, "Not found", f"agent not found: no agent {agent_id!r}")
        return agent_id
