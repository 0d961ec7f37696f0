"""Hold the Twilio stand-in's account: its numbers in purchase order, paged as Twilio pages.

The data half of the stand-in, with no HTTP in it: :mod:`bulk_import.sandbox.twilio` answers the
requests, :mod:`bulk_import.sandbox.state` owns one :class:`TwilioAccount` while the sandbox runs.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

from bulk_import.sandbox.faults import E164, Faults
from bulk_import.sandbox.store import Reject, digest

ACCOUNT_SID: Final = "AC" + "0" * 32
API_KEY_SID: Final = "SK" + "0" * 32
API_KEY_SECRET: Final = "sandbox_secret"  # noqa: S105 - the stand-in's published test secret
AUTH_TOKEN: Final = "sandbox_auth_token"  # noqa: S105 - ditto
LIST_PATH: Final = "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
_FIRST_DATE = 1_704_153_600  # 2024-01-02T00:00:00Z: generated numbers were bought one a minute
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def generated_number(i: int) -> tuple[str, str]:
    """Return the i-th generated number and its friendly name, as Twilio names a bought number."""
    digits = f"{3_000_000 + i:07d}"  # +1 415 300-0000 onward: valid US numbers, 200,000 of them
    return f"+1415{digits}", f"(415) {digits[:3]}-{digits[3:]}"


class TwilioAccount:
    """Hold the stand-in account's numbers in purchase order and the faults steps left."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Go back to the numbers at start and every fault step unused."""
        spec = self.faults.twilio_numbers
        if isinstance(spec, int):
            listed = [generated_number(i) for i in range(spec)]
        else:
            listed = [(n["phone_number"], n["friendly_name"]) for n in spec or ()]
        with self.lock:
            self._numbers: list[tuple[str, str, str, int]] = []  # sid, number, name, created
            self._pos: dict[str, int] = {}
            self._held: set[str] = set()
            self._steps = {
                int(page): list(steps) for page, steps in self.faults.twilio_faults.items()
            }
            for i, (number, name) in enumerate(listed):
                self._append(number, name, _FIRST_DATE + 60 * i)

    def _append(self, number: str, name: str, created: int) -> tuple[str, str, str, int]:
        """Add a number at the end of the account (under the lock); ``created`` in epoch seconds."""
        record = ("PN" + digest(ACCOUNT_SID + number), number, name, created)
        self._pos[record[0]] = len(self._numbers)
        self._numbers.append(record)
        self._held.add(number)
        return record

    def __len__(self) -> int:
        return len(self._numbers)

    def buy(self, phone_number: object, friendly_name: object = None) -> dict[str, Any]:
        """Add a number as if bought in the console; return its IncomingPhoneNumber object."""
        if not isinstance(phone_number, str) or not E164.fullmatch(phone_number):
            raise Reject(400, "Invalid request", "phone_number must be E.164, like +14155551234")
        if friendly_name is not None and not isinstance(friendly_name, str):
            raise Reject(400, "Invalid request", "friendly_name must be a string")
        with self.lock:
            if phone_number in self._held:
                raise Reject(409, "Conflict", f"{phone_number} is in the Twilio account already")
            record = self._append(phone_number, friendly_name or phone_number, int(time.time()))
        return _number_object(record)

    def next_step(self, page: int) -> str | None:
        """Take the next unused fault step of this page, or None when none is left."""
        with self.lock:
            steps = self._steps.get(page)
            return steps.pop(0) if steps else None

    def page(self, *, size: int, page: int, token: str | None, uri: str) -> dict[str, Any]:
        """Return one page of the list with Twilio's paging fields; refuse an unknown token."""
        path = LIST_PATH.format(sid=ACCOUNT_SID)
        with self.lock:
            numbers = self._numbers
            start = page * size
            begin, end = start, start + size
            if token is not None:
                pos = self._pos.get(token[2:]) if token[:2] in ("PA", "PB") else None
                if pos is None:
                    raise TwilioError(400, 20001, f"Invalid PageToken {token[:40]!r}")
                # PA: the page after that number; PB: the page that ends just before it.
                begin, end = (
                    (pos + 1, pos + 1 + size) if token[1] == "A" else (max(0, pos - size), pos)
                )
            items = numbers[begin:end]
            more = end < len(numbers)
        next_uri = previous_uri = None
        if more and items:
            next_uri = f"{path}?PageSize={size}&Page={page + 1}&PageToken=PA{items[-1][0]}"
        if page > 0 and items:
            previous_uri = f"{path}?PageSize={size}&Page={page - 1}&PageToken=PB{items[0][0]}"
        return {
            "first_page_uri": f"{path}?PageSize={size}&Page=0",
            "end": start + max(len(items) - 1, 0),
            "previous_page_uri": previous_uri,
            "incoming_phone_numbers": [_number_object(record) for record in items],
            "uri": uri,
            "page_size": size,
            "start": start,
            "next_page_uri": next_uri,
            "page": page,
        }


def _rfc2822(epoch: int) -> str:
    """Return a time as Twilio writes it, ``Tue, 02 Jan 2024 00:00:00 +0000``, in any locale."""
    t = time.gmtime(epoch)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _number_object(record: tuple[str, str, str, int]) -> dict[str, Any]:
    """Return an IncomingPhoneNumber resource with Twilio's fields."""
    sid, number, name, epoch = record
    created = _rfc2822(epoch)
    uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{sid}.json"
    return {
        "account_sid": ACCOUNT_SID,
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


class TwilioError(Exception):
    """Carry a Twilio error answer (status, code, message) out of the step that decided it."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
