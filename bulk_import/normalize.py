"""Turn raw rows into rows ready to send: E.164 numbers, providers, labels, duplicates.

Pure functions, no I/O. Numbers are parsed by :mod:`bulk_import.e164` (phonenumbers, with the
reasons a number is refused for); :func:`to_e164` and :func:`check_region_code` are re-exported
here. Every reason a row cannot be sent is a stable string (or stable start), so a report can
be filtered by it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import string
import sys
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Final

from bulk_import.config import InputOptions
from bulk_import.e164 import check_region_code, to_e164
from bulk_import.errors import UsageError
from bulk_import.models import REGIONS, Provider, RawRow, Row, Status
from bulk_import.naming import CLI, Naming
from bulk_import.sources.header import Columns

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "LABEL_FIELDS",
    "REASON_NO_PROVIDER",
    "check_input_options",
    "check_label_template",
    "check_region_code",
    "e164_chunk",
    "parse_provider",
    "prepare",
    "render_label",
    "resolve_provider",
    "to_e164",
]

REASON_NO_PROVIDER: Final = (
    "no provider: add a provider_id or account_sid column, "
    "or pass --provider-id / --twilio-account-sid"
)
LABEL_FIELDS: Final = ("number", "row", "input_number")
#: Rows per chunk sent to a worker process, and chunks in flight per worker.
CHUNK_ROWS: Final = 4096
WINDOW_PER_WORKER: Final = 3
_TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}", re.ASCII)


def check_input_options(options: InputOptions) -> None:
    """Refuse input options that cannot work, before anything is read: once, for every command.

    The label template, the ``--default-region`` code, a ``--provider-id`` the report could
    not write back (:func:`_provider_id_problem`), and the header options (``--header-row``
    with ``--no-header``, a row below 1, a headerless column that is not a letter or number).
    Raise :class:`UsageError` naming the fix, each option named as ``options.naming`` writes it.
    :func:`prepare` trusts options checked here.
    """
    naming = options.naming
    check_label_template(options.default_label, naming=naming)
    check_region_code(options.default_region, naming=naming)
    if options.provider_id and (
        problem := _provider_id_problem(options.provider_id, naming=naming)
    ):
        raise UsageError(problem)
    Columns(
        number_column=options.number_column,
        label_column=options.label_column,
        header_row=options.header_row,
        no_header=options.no_header,
        naming=naming,
    ).check()


def check_label_template(template: str, *, naming: Naming = CLI) -> None:
    """Refuse a ``--default-label`` with unknown fields or unbalanced braces."""
    allowed = ", ".join(f"{{{field}}}" for field in LABEL_FIELDS)
    option = naming.quoted("default_label", template)
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template)]
    except ValueError:
        raise UsageError(
            f"{option} has unbalanced braces; write {{{{ and }}}} for a literal brace"
        ) from None
    for field in fields:
        if field is not None and field not in LABEL_FIELDS:
            raise UsageError(f"{option} uses unknown field {{{field}}}; use {allowed}")
    try:
        render_label(template, number="+14155552671", row=2, input_number="(415) 555-2671")
    except (ValueError, KeyError, IndexError) as exc:
        raise UsageError(f"{option} cannot be used: {exc}") from None


def render_label(template: str, *, number: str, row: int, input_number: str) -> str:
    """Fill a label template's ``{number}``, ``{row}`` and ``{input_number}``."""
    return template.format(number=number, row=row, input_number=input_number)


def _twilio(account_sid: str, region: str) -> Provider | str:
    """Return the Twilio provider for an account and region, or why it cannot be used."""
    code = region.strip().lower()
    if code not in REGIONS:
        return f'unknown region "{region}": use {", ".join(REGIONS[:-1])} or {REGIONS[-1]}'
    if not _TWILIO_SID.fullmatch(account_sid):
        return (
            f'account_sid "{account_sid}" is not a Twilio account SID '
            "(AC followed by 32 hexadecimal digits)"
        )
    return Provider(account_sid=account_sid, region=code)


def _twilio_fields(text: str) -> tuple[str, str] | None:
    """Return the SID and region of a cell shaped ``twilio:<account_sid>:<region>``, else None.

    The shape is exactly three fields split by ``:``, the first ``twilio``; the SID and region
    are not checked here. A SID and a region never hold a ``:``, so this is the narrowest shape
    that still catches every mistyped Twilio account (``twilio:ACbad:us1``, ``twilio::us1``):
    every other text, ``twilio`` and ``twilio:x`` included, can be a provider id as written.
    """
    scheme, *fields = text.split(":")
    if scheme != "twilio" or len(fields) != 2:
        return None
    return fields[0], fields[1]


def parse_provider(text: str) -> Provider | str:
    """Read a provider as a report writes it, or return why it cannot be used.

    The grammar, the inverse of ``str(Provider)``: a cell of the shape
    ``twilio:<account_sid>:<region>`` (:func:`_twilio_fields`) is a Twilio account, its SID and
    region checked as a row's are; any other cell is a provider id as written, colons and all.
    The cell is stripped, as the reader strips every cell. A provider id of the Twilio shape, or
    with spaces around it, could not be told apart, so it never enters the tool
    (:func:`_provider_id_problem`). Every reader of a report's ``provider`` cell (a report fed
    back as input, ``retry-patch``) goes through here, so they cannot disagree.
    """
    value = text.strip()
    if not value:
        return REASON_NO_PROVIDER
    twilio = _twilio_fields(value)
    if twilio is None:
        return Provider(id=value)
    account_sid, region = twilio
    return _twilio(account_sid, region)


def _provider_id_problem(provider_id: str, *, naming: Naming | None = None) -> str | None:
    """Return why a provider id cannot be held, or None: one the report could not write back.

    ``naming`` writes the option it came from (``--provider-id``, ``provider_id=``) and picks
    the fix; None: a row's ``provider_id`` column.
    """
    if naming is None:
        where = f'provider_id "{provider_id}"'
    else:
        where = naming.quoted("provider_id", provider_id)
    twilio = _twilio_fields(provider_id)
    if twilio is not None:
        account_sid, region = twilio
        fix = "put the SID in an account_sid column and the region in a region column"
        if naming is not None:
            sid = naming.given("twilio_account_sid", account_sid)
            fix = f"pass {naming.join(sid, naming.given('region', region))}"
        return f"{where} reads as a Twilio account, not a provider id; {fix}"
    if provider_id != provider_id.strip():
        return f"{where} has spaces around it; write it without them"
    return None


def resolve_provider(raw: RawRow, options: InputOptions) -> Provider | str:
    """Return the row's provider, or the reason it has none that can be used.

    In order: the row's ``provider_id``, its ``account_sid`` (with its ``region``, else
    ``--region``), a report's ``provider`` cell, ``--provider-id``, ``--twilio-account-sid``.
    """
    if raw.provider_id:
        return _provider_id_problem(raw.provider_id) or Provider(id=raw.provider_id)
    region = raw.region or options.region
    if raw.account_sid:
        return _twilio(raw.account_sid, region)
    if raw.provider:
        return parse_provider(raw.provider)
    if options.provider_id:
        return Provider(id=options.provider_id)
    if options.twilio_account_sid:
        return _twilio(options.twilio_account_sid, region)
    return REASON_NO_PROVIDER


def e164_chunk(texts: list[str], region: str) -> list[tuple[str, str]]:
    """Return :func:`to_e164` of each text: one worker process's share of a large file."""
    return [to_e164(text, region) for text in texts]


#: Linux's prctl option that sends the child a signal when its parent dies.
_PR_SET_PDEATHSIG: Final = 1


def _start_worker(parent: int) -> None:
    """Set up a parse worker: it ignores Ctrl-C and dies with the process that forked it."""
    # Ctrl-C is the parent's to handle: a worker must not print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent SIGKILLed would leave its workers blocked on their queue for ever, holding
    # what they inherited (the report's pipes; its lock, see output.lock). Best effort: Linux.
    if sys.platform.startswith("linux"):
        import ctypes  # here: only a worker needs it

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl: nothing will signal us
        os._exit(1)


def _numbers(
    rows: Iterable[RawRow], region: str, workers: int
) -> Iterator[tuple[RawRow, tuple[str, str]]]:
    """Pair each raw row with its ``to_e164`` result, in order, on ``workers`` processes.

    phonenumbers is three quarters of the cost of a row; with more than one worker the rows
    go in chunks to a process pool (a bounded window of chunks, so memory stays flat) while
    this process reads, checks duplicates and writes the report.
    """
    # fork starts a worker in milliseconds and never re-imports the caller's main module; it
    # is safe only while this process has a single thread, so otherwise parse here.
    if workers <= 1 or threading.active_count() > 1:
        for raw in rows:
            yield raw, to_e164(raw.number, region)
        return
    # Imported here: only a large file is parsed on several processes (start-up, for the rest).
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
    ) as pool:
        window: deque[tuple[list[RawRow], Future[list[tuple[str, str]]]]] = deque()
        iterator = iter(rows)
        while True:
            chunk = list(itertools.islice(iterator, CHUNK_ROWS))
            if chunk:
                texts = [raw.number for raw in chunk]
                window.append((chunk, pool.submit(e164_chunk, texts, region)))
            if window and (not chunk or len(window) >= WINDOW_PER_WORKER * workers):
                done, future = window.popleft()
                yield from zip(done, future.result(), strict=True)
            if not chunk and not window:
                return


def prepare(
    rows: Iterable[RawRow], options: InputOptions, *, workers: int = 1
) -> Generator[Row, None, None]:
    """Yield one :class:`Row` per raw row, in order: ready to send, ``invalid`` or ``duplicate``.

    A number already seen on an earlier valid row is a duplicate of that row; a row the reader
    could not trust (:attr:`RawRow.problem`) is invalid with that reason. ``options`` must have
    passed :func:`check_input_options`: it is not checked again here. ``workers`` > 1 parses
    numbers on that many processes (for large files).
    """
    region = options.default_region.upper()
    template = options.default_label
    label_is_number = template == "{number}"
    default_agent = options.agent_id or ""
    no_row_provider = RawRow(row_number=0, number="")
    default_provider = resolve_provider(no_row_provider, options)
    providers: dict[tuple[str, str, str, str], Provider | str] = {}
    # E.164 digits as an int key: half the memory of the string, for a million rows.
    seen: dict[int, int] = {}
    invalid, duplicate = Status.INVALID, Status.DUPLICATE

    for raw, (number, reason) in _numbers(rows, region, workers):
        text = raw.number.strip()

        if raw.provider_id or raw.account_sid or raw.provider or raw.region:
            key = (raw.provider_id, raw.account_sid, raw.region, raw.provider)
            try:
                provider = providers[key]
            except KeyError:
                if len(providers) > 4096:  # a bound, for a file with a provider per row
                    providers.clear()
                provider = providers[key] = resolve_provider(raw, options)
        else:
            provider = default_provider
        agent = raw.agent_id or default_agent
        sendable = provider if isinstance(provider, Provider) else None

        if reason or raw.problem:
            # The reader's problem comes first: the cells it read may not be the row's cells.
            why = raw.problem or reason
            yield Row(raw.row_number, text, "", raw.label, sendable, agent, invalid, why)
            continue
        label = raw.label
        if not label:
            label = (
                number
                if label_is_number
                else render_label(template, number=number, row=raw.row_number, input_number=text)
            )
        digits = int(number[1:])
        first = seen.get(digits)
        if first is not None:
            error = f"duplicate of row {first}"
            yield Row(raw.row_number, text, number, label, sendable, agent, duplicate, error)
        elif sendable is None:
            yield Row(raw.row_number, text, "", label, None, agent, invalid, str(provider))
        else:
            seen[digits] = raw.row_number
            yield Row(raw.row_number, text, number, label, sendable, agent)
