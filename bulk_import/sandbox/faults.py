"""Describe how the sandbox misbehaves: the faults file's keys and the checks on them."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from bulk_import.sandbox.twilio_checks import (
    ACCOUNT_SID,
    E164,
    MAX_TWILIO_NUMBERS,
    count_numbers,
    link_refusals,
    twilio_faults,
    twilio_numbers,
    twilio_subaccounts,
)

__all__ = ["ACCOUNT_SID", "E164", "Faults"]  # the formats other modules take from here

RETRY_AFTER_MODES: Final = ("seconds", "ms", "date", "none")


_FRACTIONS = (
    "error_429",
    "error_500",
    "error_502",
    "error_503",
    "drop",
    "stored_then_500",
    "webhook_fail_fraction",
)
# The faults one draw chooses among, in this order (their fractions stack up to at most 1).
TRANSPORT_FAULTS: Final = ("drop", "error_429", "error_500", "error_502", "error_503")
EXISTING_KEYS: Final = frozenset({"number", "label", "agent_id", "provider_id"})
# What the admin call may change while the sandbox runs: the limits, the waits and the dice.
LIVE_KEYS: Final = frozenset(
    {
        "latency_ms",
        "latency_jitter_ms",
        "concurrency_limit",
        "rate_limit",
        "retry_after",
        "retry_after_s",
        "twilio_latency_ms",
        *_FRACTIONS,
    }
)


@dataclass(frozen=True)
class Faults:
    """Describe how the sandbox misbehaves; every field is optional (the JSON faults file's keys).

    ``latency_ms``: added to every API request; ``latency_jitter_ms``: each request's latency is
    ``latency_ms`` plus or minus up to this much (uniform, seeded dice, never below 0), so
    ``800`` and ``400`` give 400 to 1200 ms. ``concurrency_limit``: API requests in flight at
    most (arrived and not yet answered, the latency wait included); one more is answered 429
    ``concurrency_limited`` at once, before the latency, and with no ``Retry-After`` unless
    ``retry_after_s`` is set. ``rate_limit``: API requests per second accepted (token bucket,
    burst ``max(1, rate_limit / 10)``), the rest answered 429 ``rate_limited``.
    ``retry_after``: how a 429 says when to retry: ``"seconds"`` (``Retry-After: N``, rounded
    up), ``"ms"`` (``retry-after-ms: N``), ``"date"`` (``Retry-After`` as an HTTP date) or
    ``"none"``. ``retry_after_s``: the wait an injected 429 announces, and the least a
    rate-limit 429 announces (1 when not set); a concurrency 429 announces it only when set.
    ``error_429`` / ``error_500`` / ``error_502`` / ``error_503`` / ``drop``: fractions of API
    requests answered with that status (JSON error body) or whose connection is closed with no
    answer. ``stored_then_500``: fraction of imports that store the number, then answer 500 (the
    retry sees 409). ``webhook_fail_numbers``: numbers whose import stores the number with no agent
    and answers 400 "Webhook configuration failed"; ``webhook_fail_fraction``: the same for a
    random fraction of imports that name an agent. ``not_in_account``: numbers whose import
    answers 400 "phone number not found in the provider account". ``existing``: numbers already
    there at start, ``{"number", "label"?, "agent_id"?, "provider_id"?}``. ``providers`` and
    ``agents``: the ids that exist. ``twilio_accounts``: the linked Twilio account SIDs; ``None``
    links every well-formed SID (``AC`` + 32 hex digits).

    ``twilio_numbers`` turns the Twilio stand-in on (see ``twilio``): a count N (0 to 200,000:
    ``+14153000000``, ``+14153000001``... named ``(415) 300-0000``... as Twilio names them) or a
    list of ``{"phone_number", "friendly_name"?}`` (the name defaults to the number).
    ``twilio_faults``: what the first valid requests for a page get, by page number (Twilio's
    ``Page``, 0 for the first), one step a request, then the page is served:
    ``{"1": ["429", "drop"], "2": ["503"]}`` answers the first request for ``Page=1`` 429
    (code 20429), drops the second (the connection closes with no answer), serves the third.
    Steps: ``"429"``, ``"500"``, ``"502"``, ``"503"`` (Twilio's error body), ``"drop"``,
    ``"not_json"`` (200 with an HTML body) and ``"repeat_next"`` (the page, with a
    ``next_page_uri`` that points back at itself). ``twilio_subaccounts``: the parent's
    subaccounts, in the order Twilio lists them: ``{"sid"?, "friendly_name"?, "status"?,
    "numbers"?}`` (SID ``AC`` + the position in 32 hex digits, status ``active``, ``suspended``
    or ``closed``, numbers a count or a list as ``twilio_numbers``; generated numbers go on where
    the parent's end). ``twilio_latency_ms``: delay added to every Twilio request.
    ``link_refusals``: by account SID, how many link attempts (``POST
    /agents/phone-numbers/providers``) Cartesia refuses (400) before it accepts a valid key.
    """

    latency_ms: float = 0
    latency_jitter_ms: float = 0
    concurrency_limit: int | None = None
    rate_limit: float | None = None
    retry_after: str = "seconds"
    retry_after_s: float | None = None
    error_429: float = 0
    error_500: float = 0
    error_502: float = 0
    error_503: float = 0
    drop: float = 0
    stored_then_500: float = 0
    webhook_fail_numbers: tuple[str, ...] = ()
    webhook_fail_fraction: float = 0
    not_in_account: tuple[str, ...] = ()
    existing: tuple[dict[str, str], ...] = ()
    providers: tuple[str, ...] = ("prov_sandbox",)
    agents: tuple[str, ...] = ("agent_sandbox",)
    twilio_accounts: tuple[str, ...] | None = None
    twilio_numbers: int | tuple[dict[str, str], ...] | None = None
    twilio_faults: dict[str, tuple[str, ...]] = field(default_factory=dict)
    twilio_subaccounts: tuple[dict[str, Any], ...] = ()
    twilio_latency_ms: float = 0
    link_refusals: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _number(self.latency_ms, "latency_ms", low=0)
        _number(self.latency_jitter_ms, "latency_jitter_ms", low=0)
        limit = self.concurrency_limit
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(
                f"concurrency_limit must be a whole number of at least 1 (or null for no limit), "
                f"not {limit!r}"
            )
        if self.rate_limit is not None and _number(self.rate_limit, "rate_limit", low=0) == 0:
            raise ValueError("rate_limit must be above 0 (or null for no limit)")
        if self.retry_after not in RETRY_AFTER_MODES:
            raise ValueError(
                f"retry_after must be one of {', '.join(RETRY_AFTER_MODES)}, "
                f"not {self.retry_after!r}"
            )
        if self.retry_after_s is not None:
            _number(self.retry_after_s, "retry_after_s", low=0)
        for name in _FRACTIONS:
            _number(getattr(self, name), name, low=0, high=1)
        stacked = sum(getattr(self, name) for name in TRANSPORT_FAULTS)
        if stacked > 1 + 1e-9:
            raise ValueError(f"{' + '.join(TRANSPORT_FAULTS)} must add up to at most 1")
        set_ = object.__setattr__
        set_(
            self,
            "webhook_fail_numbers",
            _numbers(self.webhook_fail_numbers, "webhook_fail_numbers"),
        )
        set_(self, "not_in_account", _numbers(self.not_in_account, "not_in_account"))
        set_(self, "providers", _ids(self.providers, "providers"))
        set_(self, "agents", _ids(self.agents, "agents"))
        if self.twilio_accounts is not None:
            sids = _ids(self.twilio_accounts, "twilio_accounts")
            for sid in sids:
                if not ACCOUNT_SID.fullmatch(sid):
                    raise ValueError(
                        f"twilio_accounts: {sid!r} is not an account SID (AC + 32 hex)"
                    )
            set_(self, "twilio_accounts", sids)
        set_(self, "existing", self._checked_existing())
        set_(self, "twilio_numbers", twilio_numbers(self.twilio_numbers))
        set_(self, "twilio_faults", twilio_faults(self.twilio_faults))
        set_(self, "twilio_subaccounts", twilio_subaccounts(self.twilio_subaccounts))
        _number(self.twilio_latency_ms, "twilio_latency_ms", low=0)
        set_(self, "link_refusals", link_refusals(self.link_refusals))
        for name in ("twilio_faults", "twilio_subaccounts"):
            if getattr(self, name) and self.twilio_numbers is None:
                raise ValueError(f"{name} needs twilio_numbers (the Twilio stand-in is off)")
        total = sum(map(count_numbers, (self.twilio_numbers, *self.twilio_subaccounts)))
        if total > MAX_TWILIO_NUMBERS:
            raise ValueError(f"the Twilio stand-in holds {MAX_TWILIO_NUMBERS:,} numbers at most")

    def _checked_existing(self) -> tuple[dict[str, str], ...]:
        """Return ``existing`` as fresh dicts of strings, or say which entry is wrong."""
        if not isinstance(self.existing, list | tuple):
            raise ValueError("existing must be a list of objects")
        out: list[dict[str, str]] = []
        seen: set[str] = set()
        for i, entry in enumerate(self.existing):
            where = f"existing[{i}]"
            if not isinstance(entry, Mapping):
                raise ValueError(f"{where} must be an object with a number")
            unknown = sorted(set(entry) - EXISTING_KEYS)
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
            item = {k: v for k, v in entry.items() if v is not None}
            for key, value in item.items():
                if not isinstance(value, str):
                    raise ValueError(f"{where}.{key} must be a string")
            number = item.get("number", "")
            if not E164.fullmatch(number):
                raise ValueError(f"{where}.number must be an E.164 number like +14155551234")
            if number in seen:
                raise ValueError(f"{where}: {number} is listed twice")
            seen.add(number)
            agent = item.get("agent_id")
            if agent is not None and agent not in self.agents:
                raise ValueError(f"{where}.agent_id {agent!r} is not one of agents")
            provider = item.get("provider_id")
            if provider is None and not self.providers:
                raise ValueError(f"{where} needs a provider_id: providers is empty")
            if provider is not None and provider not in self.providers:
                raise ValueError(f"{where}.provider_id {provider!r} is not one of providers")
            out.append(item)
        return tuple(out)

    @property
    def retry_wait_s(self) -> float:
        """Return the wait an injected 429 announces: ``retry_after_s``, 1 second when not set."""
        return 1.0 if self.retry_after_s is None else self.retry_after_s

    def to_dict(self) -> dict[str, Any]:
        """Return the faults as the JSON object a faults file would hold (lists, not tuples)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            out[item.name] = value
        return out

    def changed(self, data: object) -> Faults:
        """Return these faults with some keys changed while the sandbox runs (null clears a limit).

        Only the keys in ``LIVE_KEYS`` may change; the others shape the store at start.
        """
        changes = _known_keys(data)
        fixed = sorted(set(changes) - LIVE_KEYS)
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change while the sandbox runs (restart it with a "
                f"faults file); these can: {', '.join(sorted(LIVE_KEYS))}"
            )
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build faults from a faults file's JSON object; unknown keys are an error."""
        return cls(**_known_keys(data))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Faults:
        """Read faults from a JSON file; any problem is a ValueError naming the file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read faults file {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ValueError(f"faults file {path} is not valid JSON: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"faults file {path}: {exc}") from exc


def _known_keys(data: object) -> dict[str, Any]:
    """Return a JSON object of known faults keys as a dict, or say which keys are unknown."""
    if not isinstance(data, Mapping):
        raise ValueError("faults must be a JSON object")
    known = {f.name for f in fields(Faults)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"unknown faults key(s): {', '.join(map(str, unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )
    return dict(data)


def _number(value: object, name: str, *, low: float, high: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite number in range, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ValueError(f"{name} must be {bounds}, not {value!r}")
    return float(value)


def _ids(values: object, name: str) -> tuple[str, ...]:
    """Return a list of non-empty strings as a tuple, or raise ValueError naming the key."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValueError(f"{name} must be a list of strings")
    for value in values:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a list of non-empty strings, not {value!r}")
    return tuple(values)


def _numbers(values: object, name: str) -> tuple[str, ...]:
    """Return a list of E.164 numbers as a tuple, or raise ValueError naming the bad one."""
    out = _ids(values, name)
    for value in out:
        if not E164.fullmatch(value):
            raise ValueError(f"{name}: {value!r} is not an E.164 number like +14155551234")
    return out
