"""What a rollback's look-up of one candidate found, and what that says about its row.

:class:`Found` holds the id and what it holds now (or why there is none); the functions here
say, in the words the rollback report's ``error`` column carries, whether what was found is the
number the row created (the same number behind the id, not imported again since), what changed
in it since the run (its label, its agent), or why a row that is no candidate is kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bulk_import.api.cartesia import PHONE_NUMBERS
from bulk_import.api.listing import Held
from bulk_import.api.numbers import Reply
from bulk_import.cells import unneutralise
from bulk_import.jobs.rollback_input import THERE_BEFORE, number_key, parse_time
from bulk_import.models import Provider, Row, Status
from bulk_import.output.digest import NOT_LINKED
from bulk_import.output.recovery import ReportLine

#: How much later than its row's ``finished_at`` a number found by ``q=`` may say it was
#: created and still be the run's: the API's clock and this machine's may differ a little.
#: Later than that, it was imported again since (by someone, or by another run).
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Why a number ``q=`` does not find is kept: a search may miss a number (only a 404 by id
#: says it is gone), and a ``deleted`` line is trusted, never checked again.
MISSED = "no id to ask the API by, so not counted as deleted; no DELETE sent"


@dataclass(frozen=True, slots=True)
class Found:
    """Hold what a candidate's look-up found: the id and what it holds, or why there is none."""

    number_id: str
    held: Held | None
    attempts: int
    code: int | None = None
    #: The id is gone (404) and so is the number: why ("" when it is not, or the look-up failed).
    gone: str = ""
    #: The look-up found no number: the id is gone (404) and ``q=`` does not list the number,
    #: or, with no id to ask by, ``q=`` does not list it.
    absent: bool = False
    #: Why the look-up failed ("" when it did not).
    error: str = ""
    not_sent: bool = False
    #: Why the row is kept whatever ``force`` says: what was found is not (or may not be) the
    #: number this row created.
    kept: str = ""


def changes(held: Held, row: Row) -> list[str]:
    """Say what changed since the run in the number it created (the same number)."""
    differences = []
    if held.label.strip() != row.label.strip():
        differences.append(f"its label is now {held.label!r}, the run's {row.label!r}")
    if held.agent_id and held.agent_id != row.agent_id:
        differences.append(f"its agent is now {held.agent_id}, the run's {row.agent_id or 'none'}")
    return differences


def other_number(held: Held, row: Row) -> str:
    """Say why the number behind the id is not the one the row created ("" when it is)."""
    if row.number and number_key(held.number) == number_key(row.number):
        return ""
    if not row.number:
        return (
            f"its id holds {held.number}, and this row names no number to check it against; "
            "never deleted, even with --force"
        )
    return (
        f"its id holds {held.number}, not {row.number}, the number this row created; never "
        "deleted, even with --force"
    )


def created_since(held: Held, line: ReportLine) -> str:
    """Say why a number found by ``q=`` was imported again since the row finished ("" if not)."""
    created, finished = parse_time(held.created_at), parse_time(line.cells["finished_at"])
    if created is None or finished is None or created <= finished + CLOCK_SKEW:
        return ""
    return (
        f"imported again since: {held.number} is in the account as {held.id}, created "
        f"{held.created_at}, after this row finished ({line.cells['finished_at']}), so not by "
        "this REPORT's run; never deleted, even with --force (check both clocks if that is wrong)"
    )


def not_linked(provider: Provider | None) -> str:
    """Say why a number not found, whose provider this account does not link, is kept."""
    return (
        f"not in this account, and its provider {provider} {NOT_LINKED}? (CARTESIA_API_KEY, "
        "--base-url); nothing deleted"
    )


def not_created(line: ReportLine) -> str:
    """Say why a row that is not a candidate is kept."""
    status = line.status
    tries = line.cells["attempts"]
    if status is Status.ALREADY_IMPORTED and tries.isdigit() and int(tries) > 1:
        # A retried POST that finds its own earlier success answers 409 too (SPEC): say so, so
        # that a person can check the number; rollback cannot tell, so it never deletes it.
        return (
            f"already_imported on a retry ({tries} tries): there before the run, or the run's "
            "own earlier try; never deleted: check it by hand"
        )
    if status in THERE_BEFORE:
        return f"in the account before the run ({status}): never deleted"
    if line.maybe_stored:
        # A 5xx, or no answer: the API may have stored the number before it failed. SPEC never
        # deletes a row the run did not say it created, so a person checks it.
        code = line.cells["http_status"]
        answer = f"HTTP {code}" if code else "no answer"
        number = unneutralise(line.cells["number"])
        return (
            f"failed, but the run's POST may have stored it ({answer}): check it by hand "
            f"(GET {PHONE_NUMBERS}?q={number}); not deleted"
        )
    return f"not imported by the run ({status}): nothing to delete"


def found_by_id(number_id: str, reply: Reply) -> Found:
    """Turn a GET by id into what the look-up found."""
    if reply.not_sent:
        return Found(number_id, None, reply.attempts, error=reply.error, not_sent=True)
    if reply.gone:
        gone = f"GET {number_id} answered 404"
        return Found(number_id, None, reply.attempts, reply.code, gone=gone, absent=True)
    if reply.error:
        return Found(number_id, None, reply.attempts, reply.code, error=reply.error)
    return Found(number_id, reply.held, reply.attempts, reply.code)
