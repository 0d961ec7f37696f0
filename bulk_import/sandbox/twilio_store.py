"""Hold the Twilio stand-in's organisation: a parent account, its subaccounts, numbers and keys.

The data half of the stand-in, with no HTTP in it: :mod:`bulk_import.sandbox.twilio` answers the
requests, :mod:`bulk_import.sandbox.state` owns one :class:`TwilioOrg` while the sandbox runs.

Who may do what, as Twilio does it (:meth:`TwilioOrg.reach`): an account's own credentials reach
its resources; the parent's auth token also reaches its subaccounts'; a parent's API key does not
(Twilio is reported to refuse a Main key there); only an auth token or a Main key lists accounts
or manages keys. ``API_KEY_SID`` is the parent's Main key; keys made through the API are
Standard keys. Every list is paged as Twilio pages (:func:`_page`).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from bulk_import.sandbox.faults import E164, Faults
from bulk_import.sandbox.registry import Reject, digest
from bulk_import.sandbox.twilio_objects import account_object, key_object, number_object

ACCOUNT_SID: Final = "AC" + "0" * 32
API_KEY_SID: Final = "SK" + "0" * 32
API_KEY_SECRET: Final = "sandbox_secret"  # noqa: S105 - the stand-in's published test secret
AUTH_TOKEN: Final = "sandbox_auth_token"  # noqa: S105 - ditto
LIST_PATH: Final = "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
ACCOUNTS_PATH: Final = "/2010-04-01/Accounts.json"
KEYS_PATH: Final = "/2010-04-01/Accounts/{sid}/Keys.json"
AUTH_TOKEN_KIND: Final = "auth token"  # noqa: S105 - a kind of credential, not one
MAIN_KEY: Final = "main key"
STANDARD_KEY: Final = "standard key"
MAX_FRIENDLY_NAME: Final = 64
_FIRST_DATE = 1_704_153_600  # 2024-01-02T00:00:00Z: generated numbers were bought one a minute

T = TypeVar("T")
Number = tuple[str, str, str, int]  # sid, number, friendly name, created (epoch seconds)


def generated_number(i: int) -> tuple[str, str]:
    """Return the i-th generated number and its friendly name, as Twilio names a bought number."""
    digits = f"{3_000_000 + i:07d}"  # +1 415 300-0000 onward: valid US numbers, 200,000 of them
    return f"+1415{digits}", f"(415) {digits[:3]}-{digits[3:]}"


class TwilioError(Exception):
    """Carry a Twilio error answer (status, code, message) out of the step that decided it."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class Key:
    """Hold one API key of an account: its SID, name, secret, and whether it is a Main key."""

    sid: str
    friendly_name: str
    secret: str
    created: int
    main: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Name who a request's credentials are: an account, by its auth token or one of its keys."""

    account: str
    kind: str


class Account:
    """Hold one account: its facts, its numbers in purchase order, and its keys."""

    __slots__ = ("created", "friendly_name", "keys", "numbers", "owner", "pos", "sid", "status")

    def __init__(self, sid: str, friendly_name: str, status: str, owner: str, token: str) -> None:
        self.sid = sid
        self.friendly_name = friendly_name
        self.status = status
        self.owner = owner
        self.created = _FIRST_DATE
        self.numbers: list[Number] = []
        self.pos: dict[str, int] = {}
        self.keys: dict[str, Key] = {}
        # The auth token is held as the first "key" of no SID: one place for every secret.
        self.keys[""] = Key("", "auth token", token, _FIRST_DATE)

    @property
    def token(self) -> str:
        """Return the account's auth token."""
        return self.keys[""].secret


class TwilioOrg:
    """Hold the parent account and its subaccounts, with their numbers, keys and fault steps."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Go back to the accounts, numbers and keys at start and every fault step unused."""
        faults = self.faults
        with self.lock:
            self._accounts: dict[str, Account] = {}
            self._held: dict[str, str] = {}  # number -> the account holding it
            self._serial = 0
            self._steps = {int(page): list(steps) for page, steps in faults.twilio_faults.items()}
            parent = Account(ACCOUNT_SID, "Sandbox parent", "active", ACCOUNT_SID, AUTH_TOKEN)
            parent.keys[API_KEY_SID] = Key(API_KEY_SID, "sandbox main key", API_KEY_SECRET, 0, True)
            offset = self._fill(parent, faults.twilio_numbers, 0)
            for sub in faults.twilio_subaccounts:
                sid = sub["sid"]
                token = "sub_auth_" + digest("token " + sid)[:24]
                account = Account(sid, sub["friendly_name"], sub["status"], ACCOUNT_SID, token)
                offset = self._fill(account, sub["numbers"], offset)

    def _fill(
        self, account: Account, spec: int | tuple[dict[str, str], ...] | None, offset: int
    ) -> int:
        """Add an account and its numbers at start; return where generated numbers go on."""
        self._accounts[account.sid] = account
        if isinstance(spec, int):
            listed = [generated_number(offset + i) for i in range(spec)]
            offset += spec
        else:
            listed = [(n["phone_number"], n["friendly_name"]) for n in spec or ()]
        for i, (number, name) in enumerate(listed):
            self._append(account, number, name, _FIRST_DATE + 60 * i)
        return offset

    def _append(self, account: Account, number: str, name: str, created: int) -> Number:
        """Add a number at the end of an account (under the lock)."""
        record = ("PN" + digest(account.sid + number), number, name, created)
        account.pos[record[0]] = len(account.numbers)
        account.numbers.append(record)
        self._held[number] = account.sid
        return record

    def __len__(self) -> int:
        return len(self._held)

    # -- credentials and reach ------------------------------------------------------------------

    def authenticate(self, user: str, password: str) -> Principal | None:
        """Return who these credentials are, or None when they are no account's."""
        if not user:
            return None
        with self.lock:
            if user.startswith("AC"):
                account = self._accounts.get(user)
                key = account.keys[""] if account is not None else None
            else:
                account, key = next(
                    ((a, a.keys[user]) for a in self._accounts.values() if user in a.keys),
                    (None, None),
                )
        if account is None or key is None:
            return None
        if not hmac.compare_digest(key.secret.encode(), password.encode()):
            return None
        kind = AUTH_TOKEN_KIND if key.sid == "" else MAIN_KEY if key.main else STANDARD_KEY
        return Principal(account.sid, kind)

    def reach(self, principal: Principal, sid: str, *, path: str, manage: bool = False) -> Account:
        """Return the account ``sid`` names if ``principal`` may use it, else raise Twilio's error.

        ``path`` is the resource asked for (the 404 names it); ``manage``: managing keys, which
        a Standard key may not do.
        """
        account = self._accounts.get(sid)
        if account is None or sid not in (principal.account, *self._children(principal)):
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if sid != principal.account and principal.kind != AUTH_TOKEN_KIND:
            raise TwilioError(401, 20003, "Authenticate: a subaccount needs its parent's token")
        if manage and principal.kind == STANDARD_KEY:
            raise TwilioError(401, 20003, "Authenticate: a Standard API key cannot do this")
        if account.status != "active":
            raise TwilioError(401, 20005, f"Account not active: {sid} is {account.status}")
        return account

    def _children(self, principal: Principal) -> list[str]:
        """Return the subaccounts of the principal's account (none for a subaccount)."""
        if principal.account != ACCOUNT_SID:
            return []
        return [sid for sid in self._accounts if sid != ACCOUNT_SID]

    # -- lists ----------------------------------------------------------------------------------

    def accounts_page(
        self, principal: Principal, *, size: int, page: int, token: str | None, uri: str
    ) -> dict[str, Any]:
        """Return one page of the accounts the principal sees: its own, then its subaccounts."""
        if principal.kind == STANDARD_KEY:
            raise TwilioError(401, 20003, "Authenticate: a Standard API key cannot list accounts")
        with self.lock:
            seen = [self._accounts[principal.account]]
            seen += [self._accounts[sid] for sid in self._children(principal)]
            return _page(
                seen,
                sid_of=lambda a: a.sid,
                render=lambda a: account_object(
                    sid=a.sid,
                    friendly_name=a.friendly_name,
                    status=a.status,
                    owner=a.owner,
                    token=a.token,
                    created=a.created,
                ),
                path=ACCOUNTS_PATH,
                key="accounts",
                where=(size, page, token, uri),
            )

    def numbers_page(
        self, sid: str, *, size: int, page: int, token: str | None, uri: str
    ) -> dict[str, Any]:
        """Return one page of an account's numbers (the caller has checked the reach)."""
        with self.lock:
            account = self._accounts[sid]
            return _page(
                account.numbers,
                sid_of=lambda record: record[0],
                render=lambda record: number_object(record, sid),
                path=LIST_PATH.format(sid=sid),
                key="incoming_phone_numbers",
                where=(size, page, token, uri),
                pos=account.pos,
            )

    def keys_page(
        self, sid: str, *, size: int, page: int, token: str | None, uri: str
    ) -> dict[str, Any]:
        """Return one page of an account's API keys, never their secrets."""
        with self.lock:
            keys = [key for key in self._accounts[sid].keys.values() if key.sid]
            return _page(
                keys,
                sid_of=lambda key: key.sid,
                render=lambda k: key_object(
                    sid=k.sid, friendly_name=k.friendly_name, created=k.created
                ),
                path=KEYS_PATH.format(sid=sid),
                key="keys",
                where=(size, page, token, uri),
            )

    # -- keys -----------------------------------------------------------------------------------

    def create_key(self, sid: str, friendly_name: str) -> dict[str, Any]:
        """Make a Standard key in the account; return it with its secret (given this once)."""
        if len(friendly_name) > MAX_FRIENDLY_NAME:
            raise TwilioError(400, 20001, "FriendlyName is longer than 64 characters")
        with self.lock:
            self._serial += 1
            key_sid = "SK" + digest(f"{sid} key {self._serial}")
            secret = secrets.token_urlsafe(24)
            key = Key(key_sid, friendly_name, secret, int(time.time()))
            self._accounts[sid].keys[key_sid] = key
        shown = key_object(sid=key_sid, friendly_name=friendly_name, created=key.created)
        return {**shown, "secret": secret}

    def delete_key(self, sid: str, key_sid: str) -> None:
        """Delete one of the account's keys, or raise Twilio's 404."""
        with self.lock:
            keys = self._accounts[sid].keys
            if not key_sid or key_sid not in keys:
                raise TwilioError(404, 20404, f"The requested resource {key_sid} was not found")
            del keys[key_sid]

    def key_valid(self, sid: str, key_sid: str, secret: str) -> bool:
        """Say whether the key is the account's, with this secret, and the account is active."""
        with self.lock:
            account = self._accounts.get(sid)
            key = account.keys.get(key_sid) if account is not None and key_sid else None
        if account is None or key is None or account.status != "active":
            return False
        return hmac.compare_digest(key.secret.encode(), secret.encode())

    def keys_of(self, sid: str) -> list[tuple[str, str]]:
        """Return an account's API keys as (SID, friendly name), as the console shows them."""
        with self.lock:
            return [(k.sid, k.friendly_name) for k in self._accounts[sid].keys.values() if k.sid]

    def all_secrets(self) -> list[str]:
        """Return every secret the organisation holds (tokens, keys): for the leak tests."""
        with self.lock:
            return [k.secret for a in self._accounts.values() for k in a.keys.values()]

    def counts(self) -> dict[str, int]:
        """Return the accounts, and the keys made through the API that still exist."""
        with self.lock:
            made = sum(
                not k.main for a in self._accounts.values() for k in a.keys.values() if k.sid
            )
            return {"twilio_accounts": len(self._accounts), "twilio_keys": made}

    @property
    def statuses(self) -> dict[str, str]:
        """Return each account's status, parent first."""
        with self.lock:
            return {sid: account.status for sid, account in self._accounts.items()}

    # -- numbers --------------------------------------------------------------------------------

    def buy(
        self, phone_number: object, friendly_name: object = None, account_sid: object = None
    ) -> dict[str, Any]:
        """Add a number as if bought in the console; return its IncomingPhoneNumber object."""
        if not isinstance(phone_number, str) or not E164.fullmatch(phone_number):
            raise Reject(400, "Invalid request", "phone_number must be E.164, like +14155551234")
        if friendly_name is not None and not isinstance(friendly_name, str):
            raise Reject(400, "Invalid request", "friendly_name must be a string")
        sid = ACCOUNT_SID if account_sid is None else account_sid
        with self.lock:
            account = self._accounts.get(sid) if isinstance(sid, str) else None
            if account is None:
                raise Reject(400, "Invalid request", f"no account {str(sid)[:40]!r} here")
            if phone_number in self._held:
                raise Reject(409, "Conflict", f"{phone_number} is in the Twilio account already")
            number = friendly_name or phone_number
            record = self._append(account, phone_number, number, int(time.time()))
        return number_object(record, account.sid)

    def next_step(self, page: int) -> str | None:
        """Take the next unused fault step of this page, or None when none is left."""
        with self.lock:
            steps = self._steps.get(page)
            return steps.pop(0) if steps else None


def _page(
    records: Sequence[T],
    *,
    sid_of: Callable[[T], str],
    render: Callable[[T], dict[str, Any]],
    path: str,
    key: str,
    where: tuple[int, int, str | None, str],
    pos: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Return one page of a list with Twilio's paging fields; refuse an unknown token.

    ``where`` is the request's ``PageSize``, ``Page``, ``PageToken`` and URI. A token is ``PA``
    (the page after) or ``PB`` (the page that ends just before) a record's SID.
    """
    size, page, token, uri = where
    start = page * size
    begin, end = start, start + size
    if token is not None:
        if pos is None:
            pos = {sid_of(record): i for i, record in enumerate(records)}
        at = pos.get(token[2:]) if token[:2] in ("PA", "PB") else None
        if at is None:
            raise TwilioError(400, 20001, f"Invalid PageToken {token[:40]!r}")
        begin, end = (at + 1, at + 1 + size) if token[1] == "A" else (max(0, at - size), at)
    items = records[begin:end]
    more = end < len(records)
    next_uri = previous_uri = None
    if more and items:
        next_uri = f"{path}?PageSize={size}&Page={page + 1}&PageToken=PA{sid_of(items[-1])}"
    if page > 0 and items:
        previous_uri = f"{path}?PageSize={size}&Page={page - 1}&PageToken=PB{sid_of(items[0])}"
    return {
        "first_page_uri": f"{path}?PageSize={size}&Page=0",
        "end": start + max(len(items) - 1, 0),
        "previous_page_uri": previous_uri,
        key: [render(record) for record in items],
        "uri": uri,
        "page_size": size,
        "start": start,
        "next_page_uri": next_uri,
        "page": page,
    }
