"""Answer Cartesia's providers routes: list the linked Twilio accounts, link one with a key.

Both go through the API's fault steps (:meth:`~bulk_import.sandbox.handlers.Handlers.answer`):
counted, limited, delayed, faulted, authenticated, like every API request.

- ``GET /agents/phone-numbers/providers`` (``type``, ``account_sid``): a JSON array of
  ``TwilioProviderResponse``. When every well-formed SID counts as linked (``twilio_accounts``
  null), the Twilio stand-in's own accounts are listed too, as a real account that linked them
  would list them.
- ``POST /agents/phone-numbers/providers``: ``{"type": "twilio", "account_sid",
  "api_key_sid", "api_key_secret", "region"?}``, as strict as the OpenAPI (400 for a field
  missing, of the wrong type or unknown), then 409 when the account is linked in that region
  already, then 400 "Invalid credentials" for one of the account's ``link_refusals``, or a key
  that the Twilio stand-in does not hold in that account with that secret (an inactive account
  included); else 201 with the provider, its key SID masked. With the stand-in off, any
  well-formed key is taken: there is no Twilio to ask.
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from bulk_import.models import REGIONS
from bulk_import.sandbox.faults import ACCOUNT_SID
from bulk_import.sandbox.handlers import Handlers
from bulk_import.sandbox.registry import Reject
from bulk_import.sandbox.responses import body_object, json_response, required_str
from bulk_import.sandbox.state import SandboxState

KEY_SID: Final = re.compile(r"SK[0-9a-fA-F]{32}")
_FIELDS: Final = frozenset({"type", "account_sid", "api_key_sid", "api_key_secret", "region"})
_INVALID = "Invalid credentials"


class ProviderHandlers:
    """Handle the providers list and the link of a Twilio account."""

    def __init__(self, handlers: Handlers, state: SandboxState) -> None:
        self.handlers = handlers
        self.state = state
        self.store = state.store

    async def list_providers(self, request: web.Request) -> web.Response:
        """Handle ``GET /agents/phone-numbers/providers``."""
        return await self.handlers.answer(request, self._list)

    async def create_provider(self, request: web.Request) -> web.Response:
        """Handle ``POST /agents/phone-numbers/providers``."""
        return await self.handlers.answer(request, self._create)

    def _list(self, request: web.Request, _body: object) -> web.Response:
        """List the providers, by ``type`` (twilio) and ``account_sid``: a JSON array."""
        query = request.query
        kind = query.get("type")
        if kind is not None and kind != "twilio":
            raise Reject(400, "Invalid request", "type must be twilio")
        twilio = self.state.twilio
        if twilio is not None and self.state.faults.twilio_accounts is None:
            for sid in twilio.statuses:  # linked as every SID is: listed as a real account would
                self.store.providers(account_sid=sid)
        return json_response(200, self.store.providers(account_sid=query.get("account_sid")))

    def _create(self, _request: web.Request, raw: object) -> web.Response:
        """Link a Twilio account in a region with an API key the stand-in can check."""
        body = body_object(raw)
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise Reject(400, "Invalid request", f"unknown field(s): {', '.join(unknown)}")
        kind = required_str(body, "type")
        if kind != "twilio":
            raise Reject(400, "Unsupported provider type", 'type must be "twilio"')
        sid = required_str(body, "account_sid")
        if not ACCOUNT_SID.fullmatch(sid):
            raise Reject(400, "Invalid request", "account_sid must be AC followed by 32 hex digits")
        key_sid = required_str(body, "api_key_sid")
        if not KEY_SID.fullmatch(key_sid):
            raise Reject(400, "Invalid request", "api_key_sid must be SK followed by 32 hex digits")
        secret = required_str(body, "api_key_secret")
        if not secret:
            raise Reject(400, "Invalid request", "api_key_secret must not be empty")
        region = body.get("region", "us1")
        if region not in REGIONS:
            raise Reject(400, "Invalid request", f"region must be one of {', '.join(REGIONS)}")
        if self.store.linked(sid, region):
            self.store.link(sid, region, key_sid)  # raises the API's 409
        if self.state.refuse_link(sid):
            raise Reject(400, _INVALID, f"Twilio rejected the API key for account {sid}")
        twilio = self.state.twilio
        if twilio is not None and not twilio.key_valid(sid, key_sid, secret):
            raise Reject(
                400,
                _INVALID,
                f"Twilio did not accept API key {key_sid} for account {sid}: the key is not "
                "one of the account's, its secret is wrong, or the account is not active",
            )
        return json_response(201, self.store.link(sid, region, key_sid))
