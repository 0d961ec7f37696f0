"""Serve a local stand-in for Cartesia's phone-number API, with faults on demand.

The sandbox answers ``POST``/``GET /agents/phone-numbers`` and ``GET``/``PATCH
/agents/phone-numbers/{id}`` with the real paths, status codes and JSON error bodies
(``error_code``, ``title``, ``message``, ``request_id``), on 127.0.0.1 only. It is what the demo,
the tests and the benchmarks run against, and what a migration is rehearsed on.

Every API request goes through these steps, in this order (the first that answers wins):

1. it is counted (``requests``, ``by_method``; a ``POST`` whose body names a number is also counted
   in ``posts_by_number`` and ``post_seconds``, whatever its answer);
2. ``latency_ms`` is waited;
3. the rate limiter (``rate_limit``) answers 429 when no token is free: like a real edge proxy, it
   answers before the key is even looked at;
4. one seeded random draw picks at most one of ``drop``, ``error_429``, ``error_500``,
   ``error_502``, ``error_503`` (their fractions add up, so they must sum to at most 1);
5. ``Authorization: Bearer <key>`` must be the accepted key (401), and ``Cartesia-Version`` must
   be ``2026-03-01`` (400);
6. the operation itself. For an import: body validation (400), unknown provider or unlinked
   Twilio account (404), unknown agent (404), number already there (409), ``not_in_account`` (400),
   webhook failure (stored with no agent, 400), else stored (201, or 500 for ``stored_then_500``).

A 429 says when to retry according to ``retry_after``. For an injected ``error_429`` the wait is
``retry_after_s``; for the rate limiter it is the time until a token is free, but at least
``retry_after_s`` (set ``retry_after_s`` to 0 to announce the exact time).

Admin endpoints (same key, no version header, no faults, not counted as API requests):
``GET /_sandbox/stats`` (``?detail=1`` adds ``posts_by_number``), ``POST /_sandbox/numbers``
(``{number, label?, agent_id?, provider_id?}``: add a number directly) and ``POST /_sandbox/reset``
(back to the state at start: the ``existing`` numbers, zero counters, the seed's first draw).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from bulk_import.config import DEFAULT_API_VERSION
from bulk_import.models import REGIONS

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "HOST",
    "STATE_KEY",
    "Faults",
    "RunningSandbox",
    "SandboxState",
    "make_app",
    "serve",
]

API_VERSION: Final = DEFAULT_API_VERSION
DEFAULT_API_KEY: Final = "sk_car_sandbox"
HOST: Final = "127.0.0.1"
PATH: Final = "/agents/phone-numbers"
RETRY_AFTER_MODES: Final = ("seconds", "ms", "date", "none")

# ASCII digits only: the real API refuses full-width or Arabic-Indic digits, and so must we.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_LIMIT = re.compile(r"[0-9]{1,4}")
_ID_DIGITS = 12  # "pn_000000000001": ids sort in creation order as plain strings

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
_TRANSPORT_FAULTS = ("drop", "error_429", "error_500", "error_502", "error_503")
_EXISTING_KEYS = frozenset({"number", "label", "agent_id", "provider_id"})


@dataclass(frozen=True)
class Faults:
    """Describe how the sandbox misbehaves; every field is optional (the JSON faults file's keys).

    ``latency_ms``: added to every API request. ``rate_limit``: API requests per second accepted
    (token bucket, burst ``max(1, rate_limit / 10)``), the rest answered 429. ``retry_after``: how a
    429 says when to retry: ``"seconds"`` (``Retry-After: N``, rounded up), ``"ms"``
    (``retry-after-ms: N``), ``"date"`` (``Retry-After`` as an HTTP date) or ``"none"``.
    ``retry_after_s``: the wait an injected 429 announces, and the least a rate-limit 429 announces.
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
    """

    latency_ms: float = 0
    rate_limit: float | None = None
    retry_after: str = "seconds"
    retry_after_s: float = 1.0
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

    def __post_init__(self) -> None:
        _number(self.latency_ms, "latency_ms", low=0)
        if self.rate_limit is not None and _number(self.rate_limit, "rate_limit", low=0) == 0:
            raise ValueError("rate_limit must be above 0 (or null for no limit)")
        if self.retry_after not in RETRY_AFTER_MODES:
            raise ValueError(
                f"retry_after must be one of {', '.join(RETRY_AFTER_MODES)}, "
                f"not {self.retry_after!r}"
            )
        _number(self.retry_after_s, "retry_after_s", low=0)
        for name in _FRACTIONS:
            _number(getattr(self, name), name, low=0, high=1)
        stacked = sum(getattr(self, name) for name in _TRANSPORT_FAULTS)
        if stacked > 1 + 1e-9:
            raise ValueError(f"{' + '.join(_TRANSPORT_FAULTS)} must add up to at most 1")
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
                if not _ACCOUNT_SID.fullmatch(sid):
                    raise ValueError(
                        f"twilio_accounts: {sid!r} is not an account SID (AC + 32 hex)"
                    )
            set_(self, "twilio_accounts", sids)
        set_(self, "existing", self._checked_existing())

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
            unknown = sorted(set(entry) - _EXISTING_KEYS)
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
            item = {k: v for k, v in entry.items() if v is not None}
            for key, value in item.items():
                if not isinstance(value, str):
                    raise ValueError(f"{where}.{key} must be a string")
            number = item.get("number", "")
            if not _E164.fullmatch(number):
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build faults from a faults file's JSON object; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown faults key(s): {', '.join(map(str, unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**dict(data))

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
        if not _E164.fullmatch(value):
            raise ValueError(f"{name}: {value!r} is not an E.164 number like +14155551234")
    return out


class _Reject(Exception):
    """Carry an error answer (status, title, message) out of the operation that decided it."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class _Number:
    """Hold one stored phone number; slots keep 200,000 of them small."""

    __slots__ = (
        "agent_id",
        "created_at",
        "id",
        "label",
        "label_lc",
        "number",
        "provider",
        "updated_at",
    )

    def __init__(
        self, pn_id: str, number: str, label: str, agent_id: str | None, provider: dict[str, str]
    ) -> None:
        self.id = pn_id
        self.number = number
        self.agent_id = agent_id
        self.provider = provider
        self.created_at = self.updated_at = _now_iso()
        self.set_label(label)

    def set_label(self, label: str) -> None:
        """Set the label and its lower-case form (the same object when already lower case)."""
        lowered = label.lower()
        self.label = label
        self.label_lc = label if lowered == label else lowered


_iso_cache: tuple[int, str] = (0, "")


def _now_iso() -> str:
    """Return the current UTC time as ISO-8601 with ``Z``, sharing one string per second."""
    global _iso_cache  # a one-entry cache: one string per second, not one per number
    second = int(time.time())
    if _iso_cache[0] != second:
        _iso_cache = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _iso_cache[1]


def _digest(text: str) -> str:
    """Return 32 hex digits derived from ``text``: stable fake SIDs for fake providers."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _provider_object(provider_id: str, account_sid: str, region: str) -> dict[str, str]:
    """Return a TwilioProviderResponse, with the API key SID masked as the real API does."""
    return {
        "type": "twilio",
        "id": provider_id,
        "account_sid": account_sid,
        "api_key_sid": "SK" + "*" * 28 + _digest("key" + provider_id)[:4],
        "region": region,
    }


class SandboxState:
    """Hold the sandbox's store, fault dice, rate limiter and counters.

    Numbers are kept in creation order with an id-to-position map, so a page of an unfiltered
    list costs O(limit) whatever the store's size. The event loop owns the state; another thread
    may read it through :meth:`stats`, :attr:`numbers`, :attr:`post_counts` and :meth:`get`, which
    copy under a lock, and may call :meth:`add_number` and :meth:`reset`.
    """

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self.faults = faults
        self.seed = seed
        self._lock = threading.Lock()
        self.latency_s = faults.latency_ms / 1000
        self.webhook_numbers = frozenset(faults.webhook_fail_numbers)
        self.not_in_account = frozenset(faults.not_in_account)
        self._accounts = None if faults.twilio_accounts is None else set(faults.twilio_accounts)
        self._agents = {a: {"id": a, "name": a} for a in faults.agents}
        thresholds: list[tuple[str, float]] = []
        total = 0.0
        for name in _TRANSPORT_FAULTS:
            share = float(getattr(faults, name))
            if share > 0:
                total += share
                thresholds.append((name, total))
        self._thresholds = tuple(thresholds)
        rate = faults.rate_limit
        self._rate = rate
        self._burst = max(1.0, rate / 10) if rate else 1.0
        self.reset()

    def reset(self) -> None:
        """Go back to the state at start: the ``existing`` numbers, zero counters, a fresh seed."""
        with self._lock:
            self._rng = random.Random(self.seed)
            self._started = time.monotonic()
            self._tokens = self._burst
            self._refilled = self._started
            self._order: list[_Number] = []
            self._pos: dict[str, int] = {}
            self._by_number: dict[str, _Number] = {}
            self._providers: dict[str, dict[str, str]] = {
                p: _provider_object(p, "AC" + _digest(p), "us1") for p in self.faults.providers
            }
            self._twilio: dict[tuple[str, str], dict[str, str]] = {}
            self._requests = 0
            self._by_status: Counter[str] = Counter()
            self._by_method: Counter[str] = Counter()
            self._post_counts: Counter[str] = Counter()
            self._post_seconds: list[int] = []
        default_provider = self.faults.providers[0] if self.faults.providers else ""
        for entry in self.faults.existing:
            self.add_number(
                entry["number"],
                label=entry.get("label"),
                agent_id=entry.get("agent_id"),
                provider_id=entry.get("provider_id", default_provider),
            )

    # -- reading, from any thread ---------------------------------------------------------------

    def stats(self, *, detail: bool = False) -> dict[str, Any]:
        """Return the counters: requests, by_status, by_method, stored, post_seconds (+ detail)."""
        with self._lock:
            out: dict[str, Any] = {
                "requests": self._requests,
                "by_status": dict(self._by_status),
                "by_method": dict(self._by_method),
                "stored": len(self._order),
                "post_seconds": list(self._post_seconds),
                "uptime_s": round(time.monotonic() - self._started, 3),
            }
            if detail:
                out["posts_by_number"] = dict(self._post_counts)
        return out

    @property
    def numbers(self) -> dict[str, dict[str, Any]]:
        """Return every stored number as its API object, by E.164 number, in creation order."""
        with self._lock:
            return {n.number: self._snapshot(n) for n in self._order}

    @property
    def post_counts(self) -> Counter[str]:
        """Return how many POSTs named each number, whatever their answer."""
        with self._lock:
            return Counter(self._post_counts)

    def get(self, number: str) -> dict[str, Any] | None:
        """Return the stored number's API object, or None when it is not there."""
        with self._lock:
            found = self._by_number.get(number)
            return None if found is None else self._snapshot(found)

    def _snapshot(self, n: _Number) -> dict[str, Any]:
        """Return a stored number's API object that shares nothing with the store."""
        out = self.public(n)
        out["provider"] = dict(n.provider)
        if out["agent"] is not None:
            out["agent"] = dict(out["agent"])
        return out

    def public(self, n: _Number) -> dict[str, Any]:
        """Return a stored number as a PhoneNumberResponse (sharing provider and agent objects)."""
        return {
            "id": n.id,
            "number": n.number,
            "label": n.label,
            "agent": None if n.agent_id is None else self._agents[n.agent_id],
            "provider": n.provider,
            "created_at": n.created_at,
            "updated_at": n.updated_at,
        }

    # -- counting -------------------------------------------------------------------------------

    def arrive(self, method: str, number: str | None, now: float) -> None:
        """Count one API request as it arrives (a POST also by number and by second)."""
        with self._lock:
            self._requests += 1
            self._by_method[method] += 1
            if method == "POST":
                second = int(now - self._started)
                seconds = self._post_seconds
                if len(seconds) <= second:
                    seconds.extend([0] * (second + 1 - len(seconds)))
                seconds[second] += 1
                if number is not None:
                    self._post_counts[number] += 1

    def finish(self, status: str) -> None:
        """Count one API request's answer: an HTTP status, or ``dropped``."""
        with self._lock:
            self._by_status[status] += 1

    # -- faults ---------------------------------------------------------------------------------

    def take_token(self, now: float) -> float:
        """Take a rate-limit token: 0.0 when one was free, else the seconds until one is."""
        rate = self._rate
        if rate is None:
            return 0.0
        tokens = min(self._burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if tokens >= 1:
            self._tokens = tokens - 1
            return 0.0
        self._tokens = tokens
        return (1 - tokens) / rate

    def draw_fault(self) -> str | None:
        """Draw which transport fault (drop, error_NNN) this request suffers, if any."""
        if not self._thresholds:
            return None
        roll = self._rng.random()
        for name, upto in self._thresholds:
            if roll < upto:
                return name
        return None

    def chance(self, fraction: float) -> bool:
        """Draw a seeded yes with this probability (no draw at all when it is 0)."""
        return fraction > 0 and self._rng.random() < fraction

    # -- the store ------------------------------------------------------------------------------

    def provider(self, spec: object) -> dict[str, str]:
        """Return the provider an import or update names, or reject it (400 shape, 404 unknown)."""
        if not isinstance(spec, dict):
            raise _Reject(400, "Invalid request", "provider must be an object")
        if "id" in spec:
            provider_id = spec["id"]
            if not isinstance(provider_id, str):
                raise _Reject(400, "Invalid request", "provider.id must be a string")
            found = self._providers.get(provider_id)
            if found is None:
                raise _Reject(404, "Not found", f"provider not found: no provider {provider_id!r}")
            return found
        kind = spec.get("type")
        if kind is None:
            raise _Reject(
                400,
                "Invalid request",
                'provider must be {"id": ...} or {"type": "twilio", "account_sid": ...}',
            )
        if kind != "twilio":
            raise _Reject(400, "Unsupported provider type", 'provider.type must be "twilio"')
        sid = spec.get("account_sid")
        if not isinstance(sid, str):
            raise _Reject(400, "Invalid request", "provider.account_sid is required (a string)")
        region = spec.get("region", "us1")
        if region not in REGIONS:
            raise _Reject(
                400, "Invalid request", f"provider.region must be one of {', '.join(REGIONS)}"
            )
        linked = (
            _ACCOUNT_SID.fullmatch(sid) is not None
            if self._accounts is None
            else sid in self._accounts
        )
        if not linked:
            raise _Reject(
                404, "Not found", f"provider not found: Twilio account {sid} is not linked"
            )
        found = self._twilio.get((sid, region))
        if found is None:
            found = _provider_object("prov_" + _digest(sid + region)[:16], sid, region)
            with self._lock:
                self._twilio[(sid, region)] = found
                self._providers[found["id"]] = found
        return found

    def agent(self, agent_id: object) -> str | None:
        """Return a known agent id (or None for null), or reject it (400 type, 404 unknown)."""
        if agent_id is None:
            return None
        if not isinstance(agent_id, str):
            raise _Reject(400, "Invalid request", "agent_id must be a string")
        if agent_id not in self._agents:
            raise _Reject(404, "Not found", f"agent not found: no agent {agent_id!r}")
        return agent_id

    def store(
        self, number: str, label: str, agent_id: str | None, provider: dict[str, str]
    ) -> _Number:
        """Store a new number under the next id (the caller has checked it is not there)."""
        with self._lock:
            pn_id = f"pn_{len(self._order) + 1:0{_ID_DIGITS}d}"
            record = _Number(pn_id, number, label, agent_id, provider)
            self._pos[pn_id] = len(self._order)
            self._order.append(record)
            self._by_number[number] = record
        return record

    def add_number(
        self,
        number: str,
        *,
        label: str | None = None,
        agent_id: str | None = None,
        provider_id: str | None = None,
    ) -> dict[str, Any]:
        """Add a number directly (no faults): for drift in the demo and set-up in tests."""
        if not isinstance(number, str) or not _E164.fullmatch(number):
            raise _Reject(400, "Invalid request", "number must be E.164, like +14155551234")
        if label is not None and not isinstance(label, str):
            raise _Reject(400, "Invalid request", "label must be a string")
        if provider_id is None:
            if not self.faults.providers:
                raise _Reject(400, "Invalid request", "provider_id is required")
            provider_id = self.faults.providers[0]
        provider = self.provider({"id": provider_id})
        agent = self.agent(agent_id)
        if number in self._by_number:
            raise _Reject(409, "Conflict", "Phone number has already been imported")
        return self.public(self.store(number, number if label is None else label, agent, provider))

    def contains(self, number: str) -> bool:
        """Say whether this E.164 number is stored."""
        return number in self._by_number

    def find(self, pn_id: str) -> _Number:
        """Return the stored number with this id, or reject with 404."""
        pos = self._pos.get(pn_id)
        if pos is None:
            raise _Reject(404, "Not found", f"phone number not found: no phone number {pn_id!r}")
        return self._order[pos]

    def update(
        self,
        record: _Number,
        *,
        label: str | None = None,
        agent: tuple[str | None] | None = None,
        provider: dict[str, str] | None = None,
    ) -> None:
        """Change a number's label, agent or provider (``agent`` is a 1-tuple: None unassigns)."""
        with self._lock:
            if label is not None:
                record.set_label(label)
            if agent is not None:
                record.agent_id = agent[0]
            if provider is not None:
                record.provider = provider
            record.updated_at = _now_iso()

    def page(
        self,
        *,
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
        agent_id: str | None,
        provider_id: str | None,
        kind: str | None,
        q: str | None,
    ) -> tuple[list[_Number], bool]:
        """Return one page of numbers in creation order and whether more lie beyond it."""
        order = self._order
        if starting_after is not None and ending_before is not None:
            raise _Reject(400, "Invalid request", "give starting_after or ending_before, not both")
        cursor = starting_after if starting_after is not None else ending_before
        pos = 0
        if cursor is not None:
            found = self._pos.get(cursor)
            if found is None:
                name = "starting_after" if starting_after is not None else "ending_before"
                raise _Reject(400, "Invalid request", f"{name}: no phone number {cursor!r}")
            pos = found
        backwards = ending_before is not None
        if agent_id is None and provider_id is None and kind is None and not q:
            if backwards:
                start = max(0, pos - limit)
                return order[start:pos], start > 0
            start = pos + 1 if cursor is not None else 0
            return order[start : start + limit], start + limit < len(order)

        needle = (q or "").lower()
        agents_lc = {a: info["name"].lower() for a, info in self._agents.items()}

        def matches(n: _Number) -> bool:
            if agent_id is not None and n.agent_id != agent_id:
                return False
            if provider_id is not None and n.provider["id"] != provider_id:
                return False
            if kind is not None and n.provider["type"] != kind:
                return False
            return (
                not needle
                or needle in n.number
                or needle in n.label_lc
                or (n.agent_id is not None and needle in agents_lc[n.agent_id])
            )

        found_items: list[_Number] = []
        step, index = (-1, pos - 1) if backwards else (1, pos + 1 if cursor is not None else 0)
        while 0 <= index < len(order) and len(found_items) <= limit:
            if matches(order[index]):
                found_items.append(order[index])
            index += step
        more = len(found_items) > limit
        del found_items[limit:]
        if backwards:
            found_items.reverse()
        return found_items, more


STATE_KEY: Final = web.AppKey("bulk_import_sandbox_state", SandboxState)

_NO_BODY: Final = object()
_BAD_JSON: Final = object()
_AUTH_SCHEME = b"bearer "


def _json(status: int, payload: object, headers: Mapping[str, str] | None = None) -> web.Response:
    """Return a JSON response."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _error(
    status: int,
    title: str,
    message: str,
    *,
    error_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Return Cartesia's JSON error body: error_code, title, message and request_id."""
    body = {
        "error_code": error_code,
        "title": title,
        "message": message,
        "request_id": str(uuid.uuid4()),
    }
    return _json(status, body, headers)


def _retry_headers(mode: str, wait: float) -> dict[str, str]:
    """Return the header that tells when to retry, in the faults' ``retry_after`` form."""
    if mode == "seconds":
        return {"Retry-After": str(max(0, math.ceil(wait)))}
    if mode == "ms":
        return {"retry-after-ms": str(max(0, math.ceil(wait * 1000)))}
    if mode == "date":
        return {"Retry-After": email.utils.formatdate(math.ceil(time.time() + wait), usegmt=True)}
    return {}


def _load_json(raw: bytes) -> object:
    """Parse a request body, or return ``_BAD_JSON``."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _BAD_JSON


def _body_object(body: object) -> dict[str, Any]:
    """Return the body as a JSON object, or reject it with a 400 saying what is wrong."""
    if body is _BAD_JSON:
        raise _Reject(400, "Invalid request", "request body is not valid JSON")
    if not isinstance(body, dict):
        raise _Reject(400, "Invalid request", "request body must be a JSON object")
    return body


def _required_str(body: Mapping[str, Any], name: str) -> str:
    """Return a required string field, or reject naming it."""
    if name not in body:
        raise _Reject(400, "Invalid request", f"{name} is required")
    value = body[name]
    if not isinstance(value, str):
        raise _Reject(400, "Invalid request", f"{name} must be a string")
    return value


_ERROR_ANSWERS: Final = {
    "error_500": (500, "Internal server error", "An unexpected error occurred. Please retry."),
    "error_502": (502, "Bad gateway", "The upstream service did not answer. Please retry."),
    "error_503": (503, "Service unavailable", "The service is temporarily unavailable."),
}


class _Api:
    """Turn HTTP requests into store operations and answers, through the fault steps."""

    def __init__(self, state: SandboxState, api_key: str) -> None:
        self.state = state
        self.faults = state.faults
        self._key = _AUTH_SCHEME + api_key.encode()

    def _auth_error(self, request: web.Request) -> web.Response | None:
        """Return 401 unless the request carries ``Authorization: Bearer <the key>``."""
        given = request.headers.get("Authorization")
        if given is None:
            return _error(401, "Unauthorized", "missing Authorization header (Bearer API key)")
        raw = given.encode("utf-8", "surrogateescape")
        candidate = raw[:7].lower() + raw[7:]
        if not hmac.compare_digest(candidate, self._key):
            return _error(401, "Unauthorized", "invalid API key")
        return None

    async def _api(
        self,
        request: web.Request,
        operation: Callable[[web.Request, object], web.Response],
    ) -> web.Response:
        """Answer one API request: count, wait, limit, inject, authenticate, then operate."""
        state = self.state
        faults = self.faults
        now = time.monotonic()
        method = request.method
        body: object = _NO_BODY
        number: str | None = None
        if method != "GET":
            body = _load_json(await request.read())
            if isinstance(body, dict):
                named = body.get("number")
                number = named if isinstance(named, str) else None
        state.arrive(method, number, now)
        if state.latency_s > 0:
            await asyncio.sleep(state.latency_s)

        wait = state.take_token(time.monotonic())
        if wait > 0:
            response = _error(
                429,
                "Too many requests",
                f"Rate limit of {faults.rate_limit:g} requests per second exceeded.",
                error_code="rate_limited",
                headers=_retry_headers(faults.retry_after, max(wait, faults.retry_after_s)),
            )
        else:
            fault = state.draw_fault()
            if fault == "drop":
                transport = request.transport
                if transport is not None:  # pragma: no branch - None once the client has left
                    transport.close()
                state.finish("dropped")
                return web.Response(status=500)  # never reaches the client
            if fault == "error_429":
                response = _error(
                    429,
                    "Too many concurrent requests",
                    "You have exceeded your plan's concurrency limit.",
                    error_code="concurrency_limited",
                    headers=_retry_headers(faults.retry_after, faults.retry_after_s),
                )
            elif fault is not None:
                status, title, message = _ERROR_ANSWERS[fault]
                response = _error(status, title, message)
            else:
                response = self._checked(request, body, operation)
        state.finish(str(response.status))
        return response

    def _checked(
        self,
        request: web.Request,
        body: object,
        operation: Callable[[web.Request, object], web.Response],
    ) -> web.Response:
        """Check the key and version, then run the operation, turning rejections into errors."""
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        version = request.headers.get("Cartesia-Version")
        if version != API_VERSION:
            shown = "missing" if version is None else f"{version[:40]!r}"
            return _error(
                400,
                "Invalid Cartesia-Version",
                f"Cartesia-Version header is {shown}; this API speaks {API_VERSION}",
            )
        try:
            return operation(request, body)
        except _Reject as reject:
            return _error(reject.status, reject.title, reject.message)

    # -- operations -----------------------------------------------------------------------------

    def _import(self, _request: web.Request, raw: object) -> web.Response:
        """Import a number: validate, resolve provider and agent, apply the number's faults."""
        state = self.state
        body = _body_object(raw)
        number = _required_str(body, "number")
        if not _E164.fullmatch(number):
            raise _Reject(
                400,
                "Invalid request",
                "number must be in E.164 format: + then 2 to 15 digits, like +14155551234",
            )
        label = _required_str(body, "label")
        if "provider" not in body:
            raise _Reject(400, "Invalid request", "provider is required")
        provider = state.provider(body["provider"])
        agent_id: str | None = None
        if "agent_id" in body:
            agent_id = body["agent_id"]
            if not isinstance(agent_id, str):
                raise _Reject(400, "Invalid request", "agent_id must be a string")
            state.agent(agent_id)
        if state.contains(number):
            raise _Reject(409, "Conflict", "Phone number has already been imported")
        if number in state.not_in_account:
            raise _Reject(
                400,
                "Import failed",
                f"phone number not found in the provider account: {number} is not in "
                f"Twilio account {provider['account_sid']}",
            )
        if number in state.webhook_numbers or (
            agent_id is not None and state.chance(self.faults.webhook_fail_fraction)
        ):
            record = state.store(number, label, None, provider)
            raise _Reject(
                400,
                "Webhook configuration failed",
                "The phone number was imported but the webhook configuration failed, so no "
                f"agent is assigned. Assign it with PATCH {PATH}/{record.id}.",
            )
        record = state.store(number, label, agent_id, provider)
        if state.chance(self.faults.stored_then_500):
            raise _Reject(500, *_ERROR_ANSWERS["error_500"][1:])
        return _json(201, state.public(record))

    def _list(self, request: web.Request, _body: object) -> web.Response:
        """List numbers: filters, cursors and a limit of 1 to 100 (default 10)."""
        query = request.query
        raw_limit = query.get("limit")
        limit = 10
        if raw_limit is not None:
            limit = int(raw_limit) if _LIMIT.fullmatch(raw_limit) else 0
            if not 1 <= limit <= 100:
                raise _Reject(400, "Invalid request", "limit must be an integer from 1 to 100")
        kind = query.get("type") or None
        if kind is not None and kind not in ("twilio", "cartesia"):
            raise _Reject(400, "Invalid request", "type must be twilio or cartesia")
        items, more = self.state.page(
            limit=limit,
            starting_after=query.get("starting_after") or None,
            ending_before=query.get("ending_before") or None,
            agent_id=query.get("agent_id") or None,
            provider_id=query.get("provider_id") or None,
            kind=kind,
            q=query.get("q") or None,
        )
        public = self.state.public
        return _json(200, {"data": [public(n) for n in items], "has_more": more})

    def _get(self, request: web.Request, _body: object) -> web.Response:
        """Return one number by id."""
        state = self.state
        return _json(200, state.public(state.find(request.match_info["id"])))

    def _patch(self, request: web.Request, raw: object) -> web.Response:
        """Update a number's label, agent (null unassigns) or provider."""
        state = self.state
        body = _body_object(raw)
        label = body.get("label")
        if label is not None and not isinstance(label, str):
            raise _Reject(400, "Invalid request", "label must be a string")
        if "agent_id" in body and not isinstance(body["agent_id"], str | None):
            raise _Reject(400, "Invalid request", "agent_id must be a string or null")
        record = state.find(request.match_info["id"])
        agent = (state.agent(body["agent_id"]),) if "agent_id" in body else None
        provider = state.provider(body["provider"]) if "provider" in body else None
        state.update(record, label=label, agent=agent, provider=provider)
        return _json(200, state.public(record))

    # -- handlers -------------------------------------------------------------------------------

    async def post_numbers(self, request: web.Request) -> web.Response:
        """Handle ``POST /agents/phone-numbers``."""
        return await self._api(request, self._import)

    async def list_numbers(self, request: web.Request) -> web.Response:
        """Handle ``GET /agents/phone-numbers``."""
        return await self._api(request, self._list)

    async def get_number(self, request: web.Request) -> web.Response:
        """Handle ``GET /agents/phone-numbers/{id}``."""
        return await self._api(request, self._get)

    async def patch_number(self, request: web.Request) -> web.Response:
        """Handle ``PATCH /agents/phone-numbers/{id}``."""
        return await self._api(request, self._patch)

    async def admin_stats(self, request: web.Request) -> web.Response:
        """Handle ``GET /_sandbox/stats``: the counters (``?detail=1`` adds posts_by_number)."""
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        detail = request.query.get("detail", "") not in ("", "0", "false")
        return _json(200, self.state.stats(detail=detail))

    async def admin_add(self, request: web.Request) -> web.Response:
        """Handle ``POST /_sandbox/numbers``: add a number directly, without faults."""
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        try:
            body = _body_object(_load_json(await request.read()))
            unknown = sorted(set(body) - _EXISTING_KEYS)
            if unknown:
                raise _Reject(400, "Invalid request", f"unknown field(s): {', '.join(unknown)}")
            return _json(
                201,
                self.state.add_number(
                    _required_str(body, "number"),
                    label=body.get("label"),
                    agent_id=body.get("agent_id"),
                    provider_id=body.get("provider_id"),
                ),
            )
        except _Reject as reject:
            return _error(reject.status, reject.title, reject.message)

    async def admin_reset(self, request: web.Request) -> web.Response:
        """Handle ``POST /_sandbox/reset``: back to the state at start."""
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        self.state.reset()
        return _json(200, {"reset": True, "stored": self.state.stats()["stored"]})


def make_app(*, faults: Faults, api_key: str, seed: int | None = None) -> web.Application:
    """Build the sandbox's aiohttp application; its state is ``app[STATE_KEY]``."""
    state = SandboxState(faults, seed)
    api = _Api(state, api_key)
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_post(PATH, api.post_numbers)
    app.router.add_get(PATH, api.list_numbers, allow_head=False)
    app.router.add_get(PATH + "/{id}", api.get_number, allow_head=False)
    app.router.add_patch(PATH + "/{id}", api.patch_number)
    app.router.add_get("/_sandbox/stats", api.admin_stats, allow_head=False)
    app.router.add_post("/_sandbox/numbers", api.admin_add)
    app.router.add_post("/_sandbox/reset", api.admin_reset)
    return app


def _runner(app: web.Application) -> web.AppRunner:
    """Return a runner with no access log (speed) and a short grace for requests in flight."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=1.0)


class RunningSandbox:
    """Run the sandbox on loopback in a background thread with its own event loop.

    ``with RunningSandbox(faults=Faults(drop=0.1)) as sandbox: ... sandbox.base_url ...``
    """

    def __init__(
        self,
        *,
        faults: Faults = Faults(),  # frozen, so one shared default is safe
        api_key: str = DEFAULT_API_KEY,
        seed: int | None = 0,
        port: int = 0,
    ) -> None:
        self.app = make_app(faults=faults, api_key=api_key, seed=seed)
        self.state = self.app[STATE_KEY]
        self.api_key = api_key
        self.port = port
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RunningSandbox:
        """Start serving; return once the port is bound (raise OSError if it cannot be)."""
        if self._thread is not None:
            raise RuntimeError("this sandbox was already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        runner = _runner(self.app)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.TCPSite(runner, HOST, self.port).start())
                self.port = runner.addresses[0][1]
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                loop.run_until_complete(runner.cleanup())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="bulk-import-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        self._loop = loop
        self.base_url = f"http://{HOST}:{self.port}"
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (requests in flight get a short grace)."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop = None

    def __enter__(self) -> RunningSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _print(line: str) -> None:
    """Print a line to stdout at once (a parent process waits for the URL line)."""
    print(line, flush=True)


def _print_err(line: str) -> None:
    """Print a line to stderr at once."""
    print(line, file=sys.stderr, flush=True)


def serve(
    *,
    port: int = 0,
    latency_ms: float | None = None,
    faults_path: str | None = None,
    seed: int | None = None,
    echo: Callable[[str], None] = _print,
    echo_err: Callable[[str], None] = _print_err,
) -> int:
    """Serve on 127.0.0.1 until SIGINT or SIGTERM; return the exit code (0, or 2 on bad input).

    The first line is ``sandbox listening on http://127.0.0.1:PORT``; the second says which key
    is accepted, without ever printing a key taken from ``CARTESIA_API_KEY``.
    """
    try:
        faults = Faults.from_file(faults_path) if faults_path else Faults()
        if latency_ms is not None:
            faults = replace(faults, latency_ms=latency_ms)
    except ValueError as exc:
        echo_err(f"bulk-import sandbox: {exc}")
        return 2
    env_key = os.environ.get("CARTESIA_API_KEY", "").strip()
    key_line = (
        "accepting the API key from CARTESIA_API_KEY"
        if env_key
        else f"accepting the API key {DEFAULT_API_KEY} (set CARTESIA_API_KEY to choose another)"
    )
    lines = [key_line]
    if faults_path:
        lines.append(f"faults from {faults_path}")
    app = make_app(faults=faults, api_key=env_key or DEFAULT_API_KEY, seed=seed)
    return asyncio.run(_serve(app, port, lines, echo, echo_err))


async def _serve(
    app: web.Application,
    port: int,
    lines: list[str],
    echo: Callable[[str], None],
    echo_err: Callable[[str], None],
) -> int:
    """Bind, announce, and wait for SIGINT/SIGTERM; restore the signal handlers after."""
    runner = _runner(app)
    await runner.setup()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in caught}
    try:
        try:
            await web.TCPSite(runner, HOST, port).start()
        except OSError as exc:
            echo_err(f"bulk-import sandbox: cannot listen on {HOST}:{port}: {exc.strerror}")
            return 2
        # Handlers go in before the URL is printed: a parent may signal as soon as it reads it.
        for sig in caught:
            loop.add_signal_handler(sig, stop.set)
        echo(f"sandbox listening on http://{HOST}:{runner.addresses[0][1]}")
        for line in lines:
            echo(line)
        await stop.wait()
        return 0
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            if handler is not None:  # pragma: no branch - None: set from C, cannot be restored
                signal.signal(sig, handler)
        await runner.cleanup()
