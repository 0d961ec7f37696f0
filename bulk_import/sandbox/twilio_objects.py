"""Write the Twilio stand-in's resources as Twilio does: numbers, accounts and API keys."""

from __future__ import annotations

import time
from typing import Any, Final

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_ACCOUNT_RESOURCES: Final = (
    "addresses",
    "applications",
    "calls",
    "incoming_phone_numbers",
    "keys",
    "messages",
    "recordings",
)


def _rfc2822(epoch: int) -> str:
    """Return a time as Twilio writes it, ``Tue, 02 Jan 2024 00:00:00 +0000``, in any locale."""
    t = time.gmtime(epoch)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def number_object(record: tuple[str, str, str, int], account_sid: str) -> dict[str, Any]:
    """Return an IncomingPhoneNumber resource with Twilio's fields."""
    sid, number, name, epoch = record
    created = _rfc2822(epoch)
    uri = f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json"
    return {
        "account_sid": account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": "2010-04-01",
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
        "date_created": created,
        "date_updated": created,
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": name,
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": number,
        "sid": sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "status": "in-use",
        "status_callback": "",
        "status_callback_method": "POST",
        "subresource_uris": {"assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json")},
        "trunk_sid": None,
        "uri": uri,
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": None,
    }


def account_object(
    *, sid: str, friendly_name: str, status: str, owner: str, token: str, created: int
) -> dict[str, Any]:
    """Return an Account resource with Twilio's fields (its auth token included, as Twilio's)."""
    uri = f"/2010-04-01/Accounts/{sid}.json"
    return {
        "auth_token": token,
        "date_created": _rfc2822(created),
        "date_updated": _rfc2822(created),
        "friendly_name": friendly_name,
        "owner_account_sid": owner,
        "sid": sid,
        "status": status,
        "subresource_uris": {
            name: uri.replace(".json", f"/{_camel(name)}.json") for name in _ACCOUNT_RESOURCES
        },
        "type": "Full",
        "uri": uri,
    }


def key_object(*, sid: str, friendly_name: str, created: int) -> dict[str, Any]:
    """Return a Key resource as a list or a fetch shows it: never its secret."""
    return {
        "sid": sid,
        "friendly_name": friendly_name,
        "date_created": _rfc2822(created),
        "date_updated": _rfc2822(created),
    }


def _camel(name: str) -> str:
    """Return a resource's name as its URI writes it: ``incoming_phone_numbers`` ->
    ``IncomingPhoneNumbers``."""
    return "".join(part.capitalize() for part in name.split("_"))
