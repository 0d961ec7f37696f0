"""Read a ``twilio:`` INPUT: what it names, and the account's numbers as rows.

``twilio:`` names the account in ``TWILIO_ACCOUNT_SID``; ``twilio:AC<32 hex>`` names it itself.
An INPUT that starts like a scheme (``twillio:``, ``s3:``) and is no file is refused here, so
that a typo is never read as a file of that name. The numbers themselves come from the job
layer (``bulk_import.jobs.inputs``, through ``bulk_import.api.twilio``): this module knows no
HTTP. Each listed number is one row, numbered as if a header were row 1.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from bulk_import.cells import clean
from bulk_import.errors import InputError, UsageError
from bulk_import.models import RawRow

__all__ = [
    "ACCOUNT_SID",
    "SCHEME",
    "TwilioSource",
    "check_account_sid",
    "is_twilio",
    "twilio_account",
    "twilio_source",
]

SCHEME: Final = "twilio:"
#: A Twilio account SID: AC and 32 hexadecimal digits.
ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}", re.ASCII)
_API_KEY_SID: Final = re.compile(r"SK[0-9a-fA-F]{32}", re.ASCII)
# Two letters at least, so that a drive letter (C:) is never taken for a scheme.
_SCHEME_LIKE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_FORMS: Final = "twilio: (the account in TWILIO_ACCOUNT_SID) or twilio:AC<32 hex>"


def is_twilio(source: str) -> bool:
    """Say whether INPUT names a Twilio account (``twilio:...``, the scheme in any case)."""
    return source[: len(SCHEME)].lower() == SCHEME


def check_account_sid(sid: str, *, where: str) -> str:
    """Return ``sid`` if it is a Twilio account SID, else raise UsageError naming the fix."""
    if ACCOUNT_SID.fullmatch(sid):
        return sid
    if _API_KEY_SID.fullmatch(sid):
        why = "is an API key SID (SK...), not an account SID; name the account as twilio:AC..."
    else:
        why = (
            "is not a Twilio account SID (AC followed by 32 hexadecimal digits); copy the "
            "Account SID from the Twilio console"
        )
    shown = sid if len(sid) <= 40 and sid.isprintable() else repr(sid[:40])
    raise UsageError(f"{where} {shown} {why}")


def twilio_account(source: str, *, env_sid: str | None) -> str | None:
    """Return the account SID a ``twilio:`` INPUT names; None when INPUT is a file or ``-``.

    ``env_sid`` is ``TWILIO_ACCOUNT_SID``, used for a bare ``twilio:``. Raise UsageError for a
    malformed SID, a bare ``twilio:`` with no account, or an unknown scheme that is no file.
    """
    if not is_twilio(source):
        check_scheme(source)
        return None
    named = source[len(SCHEME) :].strip()
    if named:
        return check_account_sid(named, where="INPUT twilio:")
    sid = (env_sid or "").strip()
    if not sid:
        raise UsageError(
            "INPUT twilio: names no account: set TWILIO_ACCOUNT_SID, or write twilio:AC<32 hex>"
        )
    return check_account_sid(sid, where="TWILIO_ACCOUNT_SID")


def check_scheme(source: str) -> None:
    """Refuse an INPUT that reads as an unknown scheme (``twillio:``) rather than a file."""
    match = _SCHEME_LIKE.match(source)
    if match is None:
        return
    scheme = match.group(1)
    close = difflib.get_close_matches(scheme.lower(), ["twilio"], n=1, cutoff=0.6)
    if close:
        # A typo of twilio: is refused even if a file of that name exists: never a guess.
        raise UsageError(f"unknown INPUT scheme {scheme + ':'!r}: did you mean twilio:?")
    if not Path(source).exists():
        raise UsageError(
            f"unknown INPUT scheme {scheme + ':'!r}: INPUT is a file path, - (CSV on stdin), "
            f"or {_FORMS}"
        )


class TwilioSource:
    """Yield a Twilio account's listed numbers as rows, in the listing's order, from row 2.

    ``number`` and ``input_number`` are ``phone_number``, the label ``friendly_name`` (blank
    falls back like a file's blank label), and the account SID is the listing's own. With
    ``--subaccounts`` the numbers are an organisation's: ``holders`` says which account holds
    them, as runs of (account SID, count) in order, and ``skipped`` which accounts were not read
    (SID, status). ``pages`` and ``requests`` say how the listing was read (requests count
    retries).
    """

    def __init__(
        self,
        *,
        account_sid: str,
        numbers: Sequence[tuple[str, str]],
        pages: int = 0,
        requests: int = 0,
        holders: Sequence[tuple[str, int]] | None = None,
        skipped: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.name = f"{SCHEME}{account_sid}"
        self.account_sid = account_sid
        self.count = len(numbers)
        self.pages = pages
        self.requests = requests
        self.organisation = holders is not None
        self.holders = tuple(holders) if holders is not None else ((account_sid, len(numbers)),)
        self.skipped = tuple(skipped)
        self._numbers = numbers

    def __repr__(self) -> str:
        return f"TwilioSource(name={self.name!r}, count={self.count})"

    def __iter__(self) -> Iterator[RawRow]:
        numbers = iter(self._numbers)
        row = 2
        for sid, count in self.holders:
            for number, friendly_name in itertools.islice(numbers, count):
                yield RawRow(row, number.strip(), clean(friendly_name), account_sid=sid)
                row += 1

    def close(self) -> None:
        """Hold nothing to release: the listing is in memory."""

    @property
    def accounts(self) -> list[str]:
        """Return the accounts that hold numbers, in the listing's order."""
        return [sid for sid, count in self.holders if count]

    def news(self) -> str:
        """Say in one line what was listed, and how."""
        pages = "page" if self.pages == 1 else "pages"
        requests = "request" if self.requests == 1 else "requests"
        how = f"{self.pages} {pages}, {self.requests} {requests}"
        if not self.organisation:
            return f"listed {self.count:,} numbers of Twilio account {self.account_sid} ({how})"
        active = len(self.holders) - 1
        skipped = _skipped_text(self.skipped)
        return (
            f"listed {self.count:,} numbers of Twilio account {self.account_sid} and its "
            f"{active} active subaccount{'' if active == 1 else 's'} "
            f"({skipped + '; ' if skipped else ''}{how})"
        )

    def facts(self) -> dict[str, object]:
        """Return what the listing was, for the summary: accounts read and skipped, numbers."""
        statuses = Counter(status for _, status in self.skipped)
        return {
            "account": self.account_sid,
            "subaccounts": self.organisation,
            "accounts_read": len(self.holders),
            "accounts_with_numbers": len(self.accounts),
            "skipped": dict(sorted(statuses.items())),
            "numbers": self.count,
            "pages": self.pages,
            "requests": self.requests,
        }


def _skipped_text(skipped: Sequence[tuple[str, str]]) -> str:
    """Say how many accounts were skipped, by status: ``2 suspended and 1 closed skipped``."""
    statuses = Counter(status for _, status in skipped)
    if not statuses:
        return ""
    parts = [f"{count} {status}" for status, count in sorted(statuses.items())]
    return " and ".join(parts) + " skipped"


def twilio_source(
    *,
    account_sid: str,
    numbers: Sequence[tuple[str, str]],
    pages: int = 0,
    requests: int = 0,
    holders: Sequence[tuple[str, int]] | None = None,
    skipped: Sequence[tuple[str, str]] = (),
) -> TwilioSource:
    """Return the listing as a source, or raise InputError for an account with no numbers.

    An empty listing is refused as a file with a header and no rows is: it must never look
    like an account in sync.
    """
    if not numbers:
        if holders is not None:
            active = len(holders) - 1
            raise InputError(
                f"Twilio account {account_sid} and its {active} active subaccount"
                f"{'' if active == 1 else 's'} hold no phone numbers"
                + (f" ({_skipped_text(skipped)})" if skipped else "")
                + ": check the account SID"
            )
        raise InputError(
            f"Twilio account {account_sid} holds no phone numbers: check the account SID "
            "(a parent whose numbers all live in subaccounts is read with --subaccounts)"
        )
    return TwilioSource(
        account_sid=account_sid,
        numbers=numbers,
        pages=pages,
        requests=requests,
        holders=holders,
        skipped=skipped,
    )
