"""Keep the sandbox's phone numbers, and page through them (providers and agents:
:mod:`bulk_import.sandbox.registry`, whose :class:`Registry` the store extends)."""

from __future__ import annotations

import time
from typing import Any, Final, cast

from bulk_import.sandbox.faults import E164, Faults
from bulk_import.sandbox.registry import Registry, Reject

PATH: Final = "/agents/phone-numbers"
_ID_DIGITS = 12  # "pn_000000000001": ids sort in creation order as plain strings
#: Deleted numbers leave a hole in the creation order until holes are this many and half of it.
_COMPACT_FROM = 64


class StoredNumber:
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
        self.created_at = self.updated_at = now_iso()
        self.set_label(label)

    def set_label(self, label: str) -> None:
        """Set the label and its lower-case form (the same object when already lower case)."""
        lowered = label.lower()
        self.label = label
        self.label_lc = label if lowered == label else lowered


_iso_cache: tuple[int, str] = (0, "")


def now_iso() -> str:
    """Return the current UTC time as ISO-8601 with ``Z``, sharing one string per second."""
    global _iso_cache  # a one-entry cache: one string per second, not one per number
    second = int(time.time())
    if _iso_cache[0] != second:
        _iso_cache = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _iso_cache[1]


class Store(Registry):
    """Hold the numbers in creation order, with the providers and agents they may name.

    Numbers are kept in creation order with an id-to-position map, so a page of an unfiltered
    list costs O(limit) whatever the store's size. A deleted number leaves a hole (``None``) in
    that order, so a delete costs O(1); the holes are squeezed out once they are half of it.
    Changes are made under a lock, so another thread may read a copy at any time.
    """

    def __init__(self, faults: Faults) -> None:
        super().__init__(faults)
        self.clear()

    def clear(self) -> None:
        """Forget every number and every provider made by a Twilio-account import."""
        self.clear_providers()
        with self.lock:
            self._slots: list[StoredNumber | None] = []
            self._holes = 0
            self._issued = 0  # ids are never given twice, deletes or not
            self._pos: dict[str, int] = {}
            self._by_number: dict[str, StoredNumber] = {}

    def __len__(self) -> int:
        return len(self._slots) - self._holes

    @property
    def order(self) -> list[StoredNumber]:
        """Return the stored numbers in creation order (a new list)."""
        if not self._holes:
            return list(cast(list[StoredNumber], self._slots))  # no hole: every slot a number
        return [n for n in self._slots if n is not None]

    def public(self, n: StoredNumber) -> dict[str, Any]:
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

    def snapshot(self, n: StoredNumber) -> dict[str, Any]:
        """Return a stored number's API object that shares nothing with the store."""
        out = self.public(n)
        out["provider"] = dict(n.provider)
        if out["agent"] is not None:
            out["agent"] = dict(out["agent"])
        return out

    def by_number(self, number: str) -> StoredNumber | None:
        """Return the stored number with this E.164 number, or None."""
        return self._by_number.get(number)

    # -- numbers --------------------------------------------------------------------------------

    def insert(
        self, number: str, label: str, agent_id: str | None, provider: dict[str, str]
    ) -> StoredNumber:
        """Store a new number under the next id (the caller has checked it is not there)."""
        with self.lock:
            self._issued += 1
            pn_id = f"pn_{self._issued:0{_ID_DIGITS}d}"
            record = StoredNumber(pn_id, number, label, agent_id, provider)
            self._pos[pn_id] = len(self._slots)
            self._slots.append(record)
            self._by_number[number] = record
        return record

    def add(
        self,
        number: str,
        *,
        label: str | None = None,
        agent_id: str | None = None,
        provider_id: str | None = None,
    ) -> dict[str, Any]:
        """Add a number directly (no faults): for drift in the demo and set-up in tests."""
        if not isinstance(number, str) or not E164.fullmatch(number):
            raise Reject(400, "Invalid request", "number must be E.164, like +14155551234")
        if label is not None and not isinstance(label, str):
            raise Reject(400, "Invalid request", "label must be a string")
        if provider_id is None:
            if not self.faults.providers:
                raise Reject(400, "Invalid request", "provider_id is required")
            provider_id = self.faults.providers[0]
        provider = self.provider({"id": provider_id})
        agent = self.agent(agent_id)
        if number in self._by_number:
            raise Reject(409, "Conflict", "Phone number has already been imported")
        return self.public(self.insert(number, number if label is None else label, agent, provider))

    def contains(self, number: str) -> bool:
        """Say whether this E.164 number is stored."""
        return number in self._by_number

    def find(self, pn_id: str) -> StoredNumber:
        """Return the stored number with this id, or reject with 404."""
        pos = self._pos.get(pn_id)
        if pos is None:
            raise Reject(404, "Not found", f"phone number not found: no phone number {pn_id!r}")
        found = self._slots[pos]
        assert found is not None, "a deleted number has no position"
        return found

    def delete(self, record: StoredNumber) -> None:
        """Forget a stored number: its id and its E.164 number are free again."""
        with self.lock:
            pos = self._pos.pop(record.id)
            self._slots[pos] = None
            del self._by_number[record.number]
            self._holes += 1
            if self._holes >= _COMPACT_FROM and 2 * self._holes >= len(self._slots):
                live = [n for n in self._slots if n is not None]
                self._pos = {n.id: i for i, n in enumerate(live)}
                self._slots = list[StoredNumber | None](live)
                self._holes = 0

    def update(
        self,
        record: StoredNumber,
        *,
        label: str | None = None,
        agent: tuple[str | None] | None = None,
        provider: dict[str, str] | None = None,
    ) -> None:
        """Change a number's label, agent or provider (``agent`` is a 1-tuple: None unassigns)."""
        with self.lock:
            if label is not None:
                record.set_label(label)
            if agent is not None:
                record.agent_id = agent[0]
            if provider is not None:
                record.provider = provider
            record.updated_at = now_iso()

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
    ) -> tuple[list[StoredNumber], bool]:
        """Return one page of numbers in creation order and whether more lie beyond it."""
        order = self._slots
        if starting_after is not None and ending_before is not None:
            raise Reject(400, "Invalid request", "give starting_after or ending_before, not both")
        cursor = starting_after if starting_after is not None else ending_before
        pos = 0
        if cursor is not None:
            found = self._pos.get(cursor)
            if found is None:
                name = "starting_after" if starting_after is not None else "ending_before"
                raise Reject(400, "Invalid request", f"{name}: no phone number {cursor!r}")
            pos = found
        backwards = ending_before is not None
        if agent_id is None and provider_id is None and kind is None and not q and not self._holes:
            whole = cast(list[StoredNumber], order)  # no hole: every slot holds a number
            if backwards:
                start = max(0, pos - limit)
                return whole[start:pos], start > 0
            start = pos + 1 if cursor is not None else 0
            return whole[start : start + limit], start + limit < len(whole)

        needle = (q or "").lower()
        agents_lc = {a: info["name"].lower() for a, info in self._agents.items()}

        def matches(n: StoredNumber) -> bool:
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

        found_items: list[StoredNumber] = []
        step, index = (-1, pos - 1) if backwards else (1, pos + 1 if cursor is not None else 0)
        while 0 <= index < len(order) and len(found_items) <= limit:
            n = order[index]
            if n is not None and matches(n):  # None: a deleted number's hole
                found_items.append(n)
            index += step
        more = len(found_items) > limit
        del found_items[limit:]
        if backwards:
            found_items.reverse()
        return found_items, more
