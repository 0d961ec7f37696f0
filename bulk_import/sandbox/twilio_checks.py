"""Check the faults file's keys of the Twilio stand-in: its accounts, numbers, steps and links.

Split from :mod:`bulk_import.sandbox.faults`, which calls these from ``Faults.__post_init__``;
the formats both share (an E.164 number, an account SID) live here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

# ASCII digits only: the real API refuses full-width or Arabic-Indic digits, and so must we.
E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")
TWILIO_STEPS: Final = ("429", "500", "502", "503", "drop", "not_json", "repeat_next")
ACCOUNT_STATUSES: Final = ("active", "suspended", "closed")
MAX_TWILIO_NUMBERS: Final = 200_000
_SUBACCOUNT_KEYS = frozenset({"sid", "friendly_name", "status", "numbers"})
_TWILIO_NUMBER_KEYS = frozenset({"phone_number", "friendly_name"})


def twilio_numbers(spec: object) -> int | tuple[dict[str, str], ...] | None:
    """Return ``twilio_numbers`` checked: None, a count, or numbers with their friendly names."""
    if spec is None:
        return None
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 0 <= spec <= MAX_TWILIO_NUMBERS:
            raise ValueError(f"twilio_numbers must be from 0 to {MAX_TWILIO_NUMBERS:,}, not {spec}")
        return spec
    if isinstance(spec, str) or not isinstance(spec, list | tuple):
        raise ValueError(
            'twilio_numbers must be a count or a list of {"phone_number", "friendly_name"}'
        )
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, entry in enumerate(spec):
        where = f"twilio_numbers[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be an object with a phone_number")
        unknown = sorted(map(str, set(entry) - _TWILIO_NUMBER_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        number = entry.get("phone_number")
        if not isinstance(number, str) or not E164.fullmatch(number):
            raise ValueError(f"{where}.phone_number must be an E.164 number like +14155551234")
        if number in seen:
            raise ValueError(f"{where}: {number} is listed twice")
        seen.add(number)
        name = entry.get("friendly_name", number)
        if not isinstance(name, str):
            raise ValueError(f"{where}.friendly_name must be a string")
        out.append({"phone_number": number, "friendly_name": name})
    return tuple(out)


def twilio_faults(spec: object) -> dict[str, tuple[str, ...]]:
    """Return ``twilio_faults`` checked: page numbers (as text) to lists of known steps."""
    if not isinstance(spec, Mapping):
        raise ValueError('twilio_faults must be an object like {"1": ["429", "drop"]}')
    out: dict[str, tuple[str, ...]] = {}
    for page, steps in spec.items():
        text = str(page)
        if not text.isascii() or not text.isdigit():
            raise ValueError(f"twilio_faults: {page!r} is not a page number (0 is the first)")
        if isinstance(steps, str) or not isinstance(steps, list | tuple):
            raise ValueError(f"twilio_faults[{text}] must be a list of steps")
        for step in steps:
            if step not in TWILIO_STEPS:
                raise ValueError(
                    f"twilio_faults[{text}]: {step!r} is not one of {', '.join(TWILIO_STEPS)}"
                )
        out[str(int(text))] = tuple(steps)
    return out


def count_numbers(spec: object) -> int:
    """Return how many numbers a ``twilio_numbers`` value or a subaccount holds."""
    numbers = spec.get("numbers") if isinstance(spec, Mapping) else spec
    if isinstance(numbers, int):
        return numbers
    return len(numbers) if isinstance(numbers, tuple) else 0


def twilio_subaccounts(spec: object) -> tuple[dict[str, Any], ...]:
    """Return ``twilio_subaccounts`` checked, each with its SID, name, status and numbers."""
    if isinstance(spec, str) or not isinstance(spec, list | tuple):
        raise ValueError('twilio_subaccounts must be a list of {"sid"?, "status"?, "numbers"?}')
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(spec):
        where = f"twilio_subaccounts[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(map(str, set(entry) - _SUBACCOUNT_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        sid = entry.get("sid", f"AC{i + 1:032x}")
        if not isinstance(sid, str) or not ACCOUNT_SID.fullmatch(sid) or sid == "AC" + "0" * 32:
            raise ValueError(f"{where}.sid must be an account SID (AC + 32 hex), not the parent's")
        if sid in {account["sid"] for account in out}:
            raise ValueError(f"{where}: {sid} is listed twice")
        status = entry.get("status", "active")
        if status not in ACCOUNT_STATUSES:
            raise ValueError(f"{where}.status must be one of {', '.join(ACCOUNT_STATUSES)}")
        name = entry.get("friendly_name", f"Subaccount {i + 1}")
        if not isinstance(name, str):
            raise ValueError(f"{where}.friendly_name must be a string")
        try:
            numbers = twilio_numbers(entry.get("numbers") or 0)
        except ValueError as exc:
            raise ValueError(f"{where}.numbers: {exc}") from None
        out.append({"sid": sid, "friendly_name": name, "status": status, "numbers": numbers})
    return tuple(out)


def link_refusals(spec: object) -> dict[str, int]:
    """Return ``link_refusals`` checked: account SIDs to how many links Cartesia refuses."""
    if not isinstance(spec, Mapping):
        raise ValueError('link_refusals must be an object like {"AC...": 1}')
    for sid, count in spec.items():
        if not isinstance(sid, str) or not ACCOUNT_SID.fullmatch(sid):
            raise ValueError(f"link_refusals: {sid!r} is not an account SID (AC + 32 hex)")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"link_refusals[{sid}] must be a whole number of refusals")
    return dict(spec)
