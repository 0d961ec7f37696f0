"""Open a command's INPUT as rows, and carry over the report lines a run keeps.

Shared by the jobs that read an INPUT (``validate``, ``run``, ``reconcile``): the source is
opened (every reason to refuse it is raised here, before anything is sent or written), its rows
are normalised, and for ``run`` the lines an earlier run finished are kept. A report (or a
killed run's journal) that holds another input's rows is refused before it can be replaced. A
``twilio:`` INPUT is listed whole here, through :mod:`bulk_import.api.twilio`, before any row
goes anywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from bulk_import.cells import unneutralise
from bulk_import.config import InputOptions, TwilioOptions
from bulk_import.errors import InputError, UsageError
from bulk_import.models import RESUME_KEEP, Provider, RawRow, Row
from bulk_import.normalize import check_input_options, prepare, resolve_provider, to_e164
from bulk_import.output.recovery import Named, ReportLine, scan_numbers
from bulk_import.output.report import journal_path
from bulk_import.sources import Given, InputSource, Source, header_key, open_input
from bulk_import.sources.header import Columns
from bulk_import.sources.twilio import TwilioSource, check_scheme, is_twilio, twilio_source

#: Files this large have their numbers parsed on every core (a 1M-row CSV is about 40 MB).
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
#: Rows given in memory this many have theirs parsed on every core (about 4 MB of CSV).
PARALLEL_FROM_ROWS = 100_000
MAX_PARSE_WORKERS = 4


#: Input options that name a file's layout or provider, which a twilio: INPUT has its own of.
_NOT_FOR_TWILIO = (
    "sheet",
    "number_column",
    "label_column",
    "header_row",
    "no_header",
    "provider_id",
    "twilio_account_sid",
)


#: What a command reads: INPUT as the command line names it (a path, ``-``, ``twilio:...``),
#: or rows given in memory (a library call's DataFrame, dicts or numbers).
Input = str | Given


def input_name(source: Input) -> str:
    """Return what the summary and messages call the input."""
    return source if isinstance(source, str) else source.name


def is_listed(source: Input) -> bool:
    """Say whether the input is a ``twilio:`` account's listing."""
    return isinstance(source, str) and is_twilio(source)


def open_source(
    source: Input,
    options: InputOptions,
    stdin: BinaryIO | None,
    *,
    twilio: TwilioOptions | None = None,
) -> Source:
    """Check the input options, open INPUT; raise UsageError/InputError (exit 2) if unusable.

    A ``twilio:`` INPUT needs ``twilio`` (the account, where, the credentials): the account's
    whole listing is read now, so that a listing that fails ends the command before any row.
    Rows given in memory are read by the same rules as a file.
    """
    check_input_options(options)
    if not isinstance(source, str):
        columns = Columns(
            number_column=options.number_column,
            label_column=options.label_column,
            header_row=options.header_row,
            no_header=options.no_header,
            naming=options.naming,
        )
        return source.open(sheet=options.sheet, columns=columns)
    if is_twilio(source):
        return _open_twilio(options, twilio)
    check_scheme(source)
    return open_input(
        source,
        sheet=options.sheet,
        number_column=options.number_column,
        label_column=options.label_column,
        header_row=options.header_row,
        no_header=options.no_header,
        stdin=stdin,
        naming=options.naming,
    )


def _open_twilio(options: InputOptions, twilio: TwilioOptions | None) -> Source:
    """List the account and return its numbers as a source; refuse options that do not apply."""
    if twilio is None:
        raise UsageError(
            "a twilio: INPUT needs Twilio credentials: set TWILIO_API_KEY and TWILIO_API_SECRET, "
            "or TWILIO_AUTH_TOKEN, or pass --twilio-credentials-file PATH"
        )
    for field in _NOT_FOR_TWILIO:
        if getattr(options, field) not in (None, False):
            option = options.naming.option(field)
            raise UsageError(
                f"{option} does not apply to a twilio: INPUT (each number is a row of its own, "
                f"imported as twilio:<account_sid>:<region>); drop {option}"
            )
    if twilio.subaccounts:
        from bulk_import.api.twilio_org import list_organisation  # httpx: only for twilio:

        org = list_organisation(twilio)
        return twilio_source(
            account_sid=org.parent,
            numbers=[number for listing in org.listings for number in listing.numbers],
            pages=org.pages,
            requests=org.requests,
            holders=[(listing.account_sid, len(listing.numbers)) for listing in org.listings],
            skipped=[(account.sid, account.status) for account in org.skipped],
        )
    from bulk_import.api.twilio import list_numbers  # httpx: only for a twilio: INPUT

    listing = list_numbers(twilio)
    return twilio_source(
        account_sid=listing.account_sid,
        numbers=listing.numbers,
        pages=listing.pages,
        requests=listing.requests,
    )


def opening_news(source: Source) -> tuple[list[str], int]:
    """Return what opening INPUT is worth saying, and the HTTP requests it sent (twilio:).

    A file's warnings too: numbers a spreadsheet may have rounded, said before the rows go.
    """
    if isinstance(source, TwilioSource):
        return [source.news()], source.requests
    if isinstance(source, InputSource):
        return list(source.warnings), 0
    return [], 0


def opening_facts(source: Source) -> dict[str, object]:
    """Return what a ``twilio:`` listing read, for the summary's ``twilio`` (else nothing)."""
    return source.facts() if isinstance(source, TwilioSource) else {}


def parse_workers(source: Input, *, rows: int = 0) -> int:
    """Return how many processes should parse numbers: all cores for a large input, else one.

    A file is large by its size; rows given in memory by their number (``rows``).
    """
    if not isinstance(source, str):
        large = rows >= PARALLEL_FROM_ROWS
    else:
        try:
            size = None if source == "-" or is_twilio(source) else os.path.getsize(source)
        except OSError:  # pragma: no cover - open_input has just read it
            size = None
        large = size is not None and size >= PARALLEL_FROM_BYTES
    if not large:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_PARSE_WORKERS))


def kept_lines(lines: list[ReportLine]) -> dict[int, ReportLine]:
    """Return the lines ``--resume`` keeps (the number is in Cartesia), by row."""
    return {
        line.row: line
        for line in lines
        if line.row is not None and line.status in RESUME_KEEP and line.cells["number"]
    }


def check_same_input(source: Source, named: Named, *, region: str, where: str, fix: str) -> None:
    """Refuse report lines whose row holds another number in INPUT, or that INPUT lacks.

    ``named`` is what each report line says its row held (:func:`numbers_named`); ``where``
    names the report (or journal) in the message and ``fix`` says what to do instead. One pass
    over the raw rows, no phone-number parsing but where the text differs.
    """
    last = 0
    seen = 0
    for raw in source:
        last = max(last, raw.row_number)
        cells = named.get(raw.row_number)
        if cells is None:
            continue
        seen += 1
        typed, number = cells
        if unneutralise(typed) == raw.number.strip():
            continue
        if to_e164(raw.number, region)[0] != number:
            shown = raw.number.strip() or "an empty cell"
            raise InputError(
                f"{where} belongs to another input: its row {raw.row_number} is {number}, but "
                f"row {raw.row_number} of {source.name} is {shown}; {fix}"
            )
    if seen == len(named):
        return
    beyond = max(named)
    if beyond > last:
        raise InputError(
            f"{source.name} has {source.count} rows (the last is row {last}) but {where} holds "
            f"row {beyond}: the input changed since {where} was written (cut short?); restore "
            f"it, or {fix}"
        )
    gone = min(set(named).difference(raw.row_number for raw in source))
    raise InputError(
        f"{where} belongs to another input: its row {gone} is {named[gone][1]}, but {source.name} "
        f"has no row {gone} (a blank line?); {fix}"
    )


def check_numbers_listed(
    source: Source, recorded: Named, *, region: str, where: str, fix: str
) -> None:
    """Refuse report lines whose numbers INPUT no longer lists at all, wherever its rows are.

    ``recorded`` is what each line that records a number in the account says its row held
    (:func:`numbers_named`). Rows may have moved (a row added at the top of the sheet, one
    removed): only a number gone from INPUT is lost with the report. One pass over the raw
    rows, stopped once every number is found; a row's text is parsed only when it is not the
    text a line says was typed.
    """
    missing = {number for _, number in recorded.values()}
    by_text = {unneutralise(typed): number for typed, number in recorded.values()}
    tails = {number[-_TAIL:] for number in missing}
    for raw in source:
        if not missing:
            return
        text = raw.number.strip()
        number = by_text.get(text)
        if number is None and _may_end_in(text, tails):
            number = to_e164(text, region)[0]
        missing.discard(number or "")
    if not missing:
        return
    gone = sorted((row, number) for row, (_, number) in recorded.items() if number in missing)
    row, number = gone[0]
    more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
    raise InputError(
        f"{where} records numbers in the Cartesia account that {source.name} no longer lists "
        f"({number} of its row {row}{more}): replacing it would lose their record (the ids "
        f"rollback undoes); {fix}"
    )


#: The last digits of a number a row's text is matched on before it is parsed; a text of
#: fewer digits than this plus one (a national prefix) is always parsed.
_TAIL = 6
#: What a number's text holds when its last digits are the E.164 number's last digits: ASCII
#: digits and the punctuation people type (any other text is parsed, to be sure).
_TYPED = re.compile(r"[0-9 +().\-/]*", re.ASCII)
_NOT_DIGITS = re.compile(r"[^0-9]", re.ASCII)


def _may_end_in(text: str, tails: set[str]) -> bool:
    """Say whether a number's text may be the E.164 number of one of ``tails`` (last digits).

    A national prefix or carrier code is added or dropped at the front of a number, never at
    its end: a text of plain digits ends in the digits its E.164 number ends in. So a text whose
    last digits are in no tail is no such number, and need not be parsed (the refusal of a
    whole other input costs a pass, not a parse of every row).
    """
    if _TYPED.fullmatch(text) is None:
        return True
    digits = _NOT_DIGITS.sub("", text)
    return len(digits) <= _TAIL or digits[-_TAIL:] in tails


def check_report_belongs(
    source: Source, report: Path, *, region: str, named: Named | None = None
) -> None:
    """Refuse (exit 2) a report, or a killed run's journal beside it, of another input.

    ``named``: the lines a ``--resume`` keeps by row, each held to INPUT's row of that number.
    Without it, the lines of a killed run's journal that the run keeps are held to their rows
    the same way, and the report (replaced, not kept) only to what it records: the numbers it
    says are in the account must still be in INPUT, at any row (a sheet that gained a row at
    the top is the same input; a report without such numbers, as a plain ``reconcile``'s,
    records nothing to lose). The fix named is another ``--report``, or moving the old files
    away: they hold that input's work.
    """
    files = [str(path) for path in (report, journal_path(report)) if path.exists()]
    fix = f"pass another --report, or move {' and '.join(files)} away"
    if named is not None:
        where = files[0] if files else str(report)
        if named:
            check_same_input(source, named, region=region, where=where, fix=fix)
        return
    journal = journal_path(report)
    kept = scan_numbers(journal, statuses=RESUME_KEEP)
    if kept:
        check_same_input(source, kept, region=region, where=str(journal), fix=fix)
    recorded = scan_numbers(report, statuses=RESUME_KEEP)
    if recorded:
        check_numbers_listed(source, recorded, region=region, where=str(report), fix=fix)


_PROVIDER_KEYS = frozenset({"providerid", "accountsid", "region", "provider"})


def providers_named(source: Source, options: InputOptions) -> set[Provider]:
    """Return every provider the rows will be sent with: the options', and each row's own.

    The rows are read (as raw text, no phone-number parsing) only when the input has a
    provider column; a provider that cannot be used is left to the row (it is ``invalid``).
    """
    if isinstance(source, TwilioSource):  # every row is its account's, in --region
        return {Provider(account_sid=sid, region=options.region) for sid in source.accounts}
    default = resolve_provider(RawRow(row_number=0, number=""), options)
    named = {default} if isinstance(default, Provider) else set()
    columns = {header_key(cell) for cell in getattr(source, "columns", ())}
    if columns & _PROVIDER_KEYS:
        seen: set[tuple[str, str, str, str]] = set()
        for raw in source:
            key = (raw.provider_id, raw.account_sid, raw.region, raw.provider)
            if key in seen:
                continue
            seen.add(key)
            provider = resolve_provider(raw, options)
            if isinstance(provider, Provider):
                named.add(provider)
    return named


def skip_kept(rows: Iterator[Row], kept: dict[int, ReportLine]) -> Iterator[Row]:
    """Drop the rows whose lines are kept: they are done."""
    for row in rows:
        if row.row_number is None or row.row_number not in kept:
            yield row


def normalised(source: Source, options: InputOptions, *, workers: int = 1) -> Iterator[Row]:
    """Return the source's rows, normalised (input errors are raised on the first row)."""
    return prepare(source, options, workers=workers)
