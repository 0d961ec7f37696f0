"""The values that flow through the tool: raw rows, prepared rows, outcomes and the summary.

Data flows one way: a source (``sources``) yields :class:`RawRow`, ``normalize`` turns each
into a :class:`Row` (ready to send, or already ``invalid``/``duplicate``), the runner turns rows
into :class:`Outcome`, the report writes outcomes, and a :class:`Summary` closes the run.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Exit(IntEnum):
    """The exit codes of every command: the one table, with what each means."""

    OK = 0
    ATTENTION = 1
    USAGE = 2
    STOPPED = 3
    INTERNAL = 4
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """Say in one line what this exit code means."""
        return EXIT_MEANINGS[self]


EXIT_MEANINGS = {
    Exit.OK: "every row ok",
    Exit.ATTENTION: "finished; some rows need attention",
    Exit.USAGE: "bad usage or unusable input; nothing sent",
    Exit.STOPPED: "stopped early (the key was refused, the API could not be reached, too many "
    "rows failed in a row, or a file could not be written)",
    Exit.INTERNAL: "internal error (a bug): the journal keeps every row that finished; the same "
    "command finishes the work",
    Exit.INTERRUPTED: "interrupted (Ctrl-C / SIGTERM): requests in flight finished, the rest "
    "not_attempted",
}


class Status(StrEnum):
    """What happened to one row: the report's ``status`` column."""

    IMPORTED = "imported"
    ALREADY_IMPORTED = "already_imported"
    WEBHOOK_FAILED = "webhook_failed"
    PATCHED = "patched"
    PATCH_FAILED = "patch_failed"
    AGENT_FIXED = "agent_fixed"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"
    VALID = "valid"
    IN_SYNC = "in_sync"
    MISSING = "missing"
    AGENT_MISMATCH = "agent_mismatch"
    EXTRA = "extra"
    WOULD_DELETE = "would_delete"
    DELETED = "deleted"
    KEPT = "kept"
    DELETE_FAILED = "delete_failed"

    @property
    def ok(self) -> bool:
        """Say whether this status is in the exit code's "ok" class."""
        return self in OK_STATUSES


OK_STATUSES = frozenset(
    {
        Status.IMPORTED,
        Status.ALREADY_IMPORTED,
        Status.PATCHED,
        Status.AGENT_FIXED,
        Status.DUPLICATE,
        Status.VALID,
        Status.IN_SYNC,
        Status.EXTRA,
        Status.WOULD_DELETE,
        Status.DELETED,
        Status.KEPT,
    }
)

#: Statuses ``--resume`` keeps: the number is in Cartesia (retry-patch finishes the agent).
RESUME_KEEP = frozenset(
    {
        Status.IMPORTED,
        Status.ALREADY_IMPORTED,
        Status.PATCHED,
        Status.PATCH_FAILED,
        Status.AGENT_FIXED,
        Status.WEBHOOK_FAILED,
    }
)

#: Statuses that say this tool created the number (``rollback`` may delete it): imported, with
#: its agent or without (a webhook failure), then assigned by ``retry-patch`` or not.
CREATED = frozenset({Status.IMPORTED, Status.WEBHOOK_FAILED, Status.PATCHED, Status.PATCH_FAILED})

REGIONS = ("us1", "ie1", "au1")

REPORT_COLUMNS = (
    "row",
    "input_number",
    "number",
    "label",
    "provider",
    "agent_id",
    "status",
    "http_status",
    "phone_number_id",
    "attempts",
    "error",
    "finished_at",
)


@dataclass(frozen=True, slots=True)
class RawRow:
    """Name one data row of the input as text, with its ``row_number`` (header = row 1).

    Every field is the cell's text as read ("" when the column is absent or the cell blank).
    ``provider`` is a report's ``provider`` column (``prov_...`` or ``twilio:<sid>:<region>``),
    so that a report can be fed back as input. ``problem`` is why the row cannot be trusted as
    read (more cells than the header, a quoted cell that swallowed the next line): the
    normaliser makes such a row ``invalid`` with it as the reason.
    """

    row_number: int
    number: str
    label: str = ""
    agent_id: str = ""
    provider_id: str = ""
    account_sid: str = ""
    region: str = ""
    provider: str = ""
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Provider:
    """Name the provider a number is imported from: by id, or by Twilio account and region."""

    id: str | None = None
    account_sid: str | None = None
    region: str = "us1"

    def body(self) -> dict[str, str]:
        """Return the ``provider`` object of the import request body."""
        if self.id is not None:
            return {"id": self.id}
        return {"type": "twilio", "account_sid": self.account_sid or "", "region": self.region}

    def __str__(self) -> str:
        if self.id is not None:
            return self.id
        return f"twilio:{self.account_sid}:{self.region}"


@dataclass(frozen=True, slots=True)
class Row:
    """Hold one input row after normalisation.

    ``status`` is ``None`` for a row ready to send; ``INVALID`` or ``DUPLICATE`` for a row that
    will not be sent, with the reason in ``error``. ``number`` is E.164, or "" when invalid.
    ``row_number`` (the report's ``row``) is ``None`` only for a reconcile ``extra`` row, which
    has no input row.
    """

    row_number: int | None
    input_number: str
    number: str
    label: str = ""
    provider: Provider | None = None
    agent_id: str = ""
    status: Status | None = None
    error: str = ""

    def payload(self) -> dict[str, object]:
        """Return the JSON body of ``POST /agents/phone-numbers`` for this row."""
        assert self.provider is not None, "only a sendable row has a payload"
        body: dict[str, object] = {
            "number": self.number,
            "label": self.label,
            "provider": self.provider.body(),
        }
        if self.agent_id:
            body["agent_id"] = self.agent_id
        return body


_second: list[tuple[int, dt.datetime]] = [(0, dt.datetime.fromtimestamp(0, dt.UTC))]


def utc_now() -> dt.datetime:
    """Return the current time in UTC, to the second (made once per second: rows finish by
    the thousand in one)."""
    now = int(time.time())
    second, moment = _second[0]
    if now != second:
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        _second[0] = (now, moment)
    return moment


def iso(moment: dt.datetime) -> str:
    """Format a UTC time as ISO-8601 with a ``Z``: ``2026-11-27T05:59:15Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Outcome:
    """Record what happened to one row: one line of the report."""

    row: Row
    status: Status
    http_status: int | None = None
    phone_number_id: str = ""
    attempts: int = 0
    error: str = ""
    finished_at: dt.datetime = field(default_factory=utc_now)


@dataclass(slots=True)
class Summary:
    """Count what a command did: printed at the end and written by ``--summary-json``."""

    command: str
    input: str
    report: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    exit_code: int = 0
    stopped: str = ""
    #: One line saying why the command could not run (exit 2, or a stop before the first row).
    error: str = ""
    #: The options in force, as the summary JSON shows them (never a key).
    options: dict[str, object] = field(default_factory=dict)
    #: HTTP answers by status ("no_answer" for none), for commands that call the API.
    http: dict[str, int] = field(default_factory=dict)
    #: The adaptive concurrency: ceiling, final, min, max (empty for commands with no API).
    concurrency: dict[str, int] = field(default_factory=dict)
    #: Latency of the API's answers in ms: p50, p90, p99, max (empty when nothing was sent).
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: Whether the command talks to the API (the JSON then has http, latency and concurrency).
    calls_api: bool = False
    #: The command line's words after ``bulk-import`` (for the exact next command).
    invocation: tuple[str, ...] = ()
    #: Whether the next steps are written as Python calls (a library call's summary), the
    #: invocation's words holding Python literals (``--provider-id='prov_1'``).
    python: bool = False
    #: The ``--agent-id`` given, if any.
    agent_id: str = ""
    #: Rows per status that name an agent (hints: an agent not checked, one still to assign).
    with_agent: dict[str, int] = field(default_factory=dict)
    #: Whether the report was written (a command that did nothing leaves it as it was).
    report_written: bool = False
    #: The journal kept beside the report for the next run when the report was not written
    #: (a file that could not be written, an internal error), or "".
    journal: str = ""
    #: The run page's path (``--html``), or "".
    page: str = ""
    #: What a ``twilio:`` INPUT's listing read: accounts read and skipped, numbers, requests.
    twilio: dict[str, object] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Return the number of rows in the report."""
        return sum(self.counts.values())

    def add(self, status: Status, *, has_agent: bool = False, by: int = 1) -> None:
        """Count one more row with this status (``by=-1``: one fewer)."""
        key = status.value
        self.counts[key] = self.counts.get(key, 0) + by
        if not self.counts[key]:
            del self.counts[key]
        if has_agent:
            self.with_agent[key] = self.with_agent.get(key, 0) + by
            if not self.with_agent[key]:
                del self.with_agent[key]


class LinkState(StrEnum):
    """Say where one Twilio account stands after ``providers link``."""

    LINKED = "linked"
    LINKED_NOW = "linked now"
    NOT_LINKED = "not linked"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_ATTEMPTED = "not attempted"


@dataclass(frozen=True, slots=True)
class AccountLink:
    """Say what became of one Twilio account: its state, provider and the detail worth saying.

    ``status`` is Twilio's (``active``, ``suspended``, ``closed``); never a secret anywhere.
    """

    account_sid: str
    region: str
    state: LinkState
    provider_id: str = ""
    detail: str = ""
    status: str = "active"
