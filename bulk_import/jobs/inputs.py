"""Open a command's INPUT as rows, and carry over the report lines a run keeps.

Shared by the jobs that read an INPUT (``validate``, ``run``, ``reconcile``): the source is
opened (every reason to refuse it is raised here, before anything is sent or written), its rows
are normalised, and for ``run`` the lines an earlier run finished are kept, after checking that
they belong to this input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from bulk_import.cells import unneutralise
from bulk_import.config import InputOptions
from bulk_import.errors import InputError
from bulk_import.models import RESUME_KEEP, Provider, RawRow, Row
from bulk_import.normalize import check_input_options, prepare, resolve_provider, to_e164
from bulk_import.output.recovery import ReportLine
from bulk_import.sources import InputSource, header_key, open_input

#: Files this large have their numbers parsed on every core (a 1M-row CSV is about 40 MB).
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
MAX_PARSE_WORKERS = 4


def open_source(source: str, options: InputOptions, stdin: BinaryIO | None) -> InputSource:
    """Check the input options, open INPUT; raise UsageError/InputError (exit 2) if unusable."""
    check_input_options(options)
    return open_input(
        source,
        sheet=options.sheet,
        number_column=options.number_column,
        label_column=options.label_column,
        header_row=options.header_row,
        no_header=options.no_header,
        stdin=stdin,
    )


def parse_workers(source: str) -> int:
    """Return how many processes should parse numbers: all cores for a large file, else one."""
    try:
        size = None if source == "-" else os.path.getsize(source)
    except OSError:  # pragma: no cover - open_input has just read it
        size = None
    if size is None or size < PARALLEL_FROM_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_PARSE_WORKERS))


def kept_lines(lines: list[ReportLine]) -> dict[int, ReportLine]:
    """Return the lines ``--resume`` keeps (the number is in Cartesia), by row."""
    return {
        line.row: line
        for line in lines
        if line.row is not None and line.status in RESUME_KEEP and line.cells["number"]
    }


def check_same_input(
    source: InputSource, kept: dict[int, ReportLine], *, region: str, where: str
) -> None:
    """Refuse kept lines whose row holds another number in INPUT (another input's report).

    One pass over the raw rows (no phone-number parsing but where the text differs).
    """
    for raw in source:
        line = kept.get(raw.row)
        if line is None:
            continue
        typed = unneutralise(line.cells["input_number"])
        if typed == raw.number.strip():
            continue
        number, _ = to_e164(raw.number, region)
        if number != line.cells["number"]:
            shown = raw.number.strip() or "an empty cell"
            raise InputError(
                f"{where} belongs to another input: its row {raw.row} is "
                f"{line.cells['number']}, but row {raw.row} of {source.name} is {shown}; "
                "pass another --report, or run without --resume"
            )


_PROVIDER_KEYS = frozenset({"providerid", "accountsid", "region", "provider"})


def providers_named(source: InputSource, options: InputOptions) -> set[Provider]:
    """Return every provider the rows will be sent with: the options', and each row's own.

    The rows are read (as raw text, no phone-number parsing) only when the input has a
    provider column; a provider that cannot be used is left to the row (it is ``invalid``).
    """
    default = resolve_provider(RawRow(row=0, number=""), options)
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
        if row.row is None or row.row not in kept:
            yield row


def normalised(source: InputSource, options: InputOptions, *, workers: int = 1) -> Iterator[Row]:
    """Return the source's rows, normalised (input errors are raised on the first row)."""
    return prepare(source, options, workers=workers)
