"""Turn an input file (CSV, TSV, TXT, XLSX, XLS, ODS or stdin) into rows of text.

Every cell comes out as text (``NA`` stays ``NA``), stripped, with the spreadsheet's row
numbers: the header is row 1 and the first data row is row 2, blank rows still count but are
not yielded. Every reason to refuse the file is found by :func:`open_input`, before a row is
read, and raised as one :class:`~bulk_import.errors.InputError` line that names the file and
the fix. For that, a text file is read three times, streaming each time: its bytes (the
encoding), its records (a quote never closed, which the csv module only notices at its field
limit, maybe a million rows in), then the rows themselves when the source is iterated.

Why these libraries:

- CSV goes through the standard library's ``csv`` module over a decoded text stream, not
  pandas. It streams (memory stays flat for a million rows), never turns ``NA`` or ``null``
  into a missing value, keeps ragged rows as they are, and yields one record per spreadsheet
  row *including blank lines*, so counting records gives the row number a spreadsheet shows
  even when a quoted cell spans lines. ``pandas.read_csv`` drops blank lines by default and
  hands back a DataFrame index, so row numbers would have to be rebuilt; and it is slower
  here: on a million-row file, 0.5-0.7 µs a record for ``csv`` against 1.1-2.5 µs for
  ``read_csv(dtype=str, keep_default_na=False, chunksize=...)`` turned back into Python rows.
- Spreadsheets go through ``python_calamine`` directly, not ``pandas.read_excel``: its
  ``iter_rows`` starts at the sheet's row 1 even when the used area starts lower (checked by
  ``tests/test_reader.py``), where ``read_excel`` takes row 1 as the header even when it is
  blank; numbers come back as floats and are written back as their digits here.
- The encoding is decided from the bytes before parsing, in 1 MiB blocks: a BOM (UTF-8,
  UTF-16 LE/BE), else UTF-8 if every block decodes, else CP-1252 unless a byte it leaves
  undefined appears, else Latin-1, which decodes anything. stdin is spooled to a temporary
  file first (in memory while small) so that it can be read twice like a file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import shutil
import stat
import sys
import tempfile
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, BinaryIO, Final

import python_calamine

from bulk_import.cells import unneutralise
from bulk_import.errors import InputError
from bulk_import.models import RawRow

__all__ = [
    "ACCEPTED_EXTENSIONS",
    "LABEL_ALIASES",
    "NUMBER_ALIASES",
    "InputSource",
    "header_key",
    "open_input",
]

TEXT_EXTENSIONS: Final = (".csv", ".tsv", ".txt")
SHEET_EXTENSIONS: Final = (".xlsx", ".xls", ".ods")
ACCEPTED_EXTENSIONS: Final = TEXT_EXTENSIONS + SHEET_EXTENSIONS

# Aliases in order of preference: when a file has two of them, the first one listed wins.
NUMBER_ALIASES: Final = (
    "number",
    "phone_number",
    "phoneNumber",
    "Phone Number",
    "phonenumber",
    "phone",
    "e164",
    "msisdn",
)
LABEL_ALIASES: Final = ("label", "friendly_name", "Friendly Name", "friendlyName", "name")

DELIMITERS: Final = (",", "\t", ";", "|")  # tie-break order when the header holds several

_BLOCK = 1 << 20
_SNIFF_CHARS = 1 << 16
# Bytes that CP-1252 leaves undefined: a file holding one of them can only be Latin-1.
_CP1252_UNDEFINED: Final = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_HEADER_JUNK = re.compile(r"[\s_\-]+")
_QUOTED = re.compile(r'"[^"]*"')
# Excel keeps 15 significant digits: a bigger integral number has lost digits, so it is left
# in the float's own notation (1e+20) for the normaliser to reject as rounded.
_EXACT_INTEGER_LIMIT = 10**15

# RawRow's text fields, in its constructor's order after ``row``.
_FIELDS: Final = (
    "number",
    "label",
    "agent_id",
    "provider_id",
    "account_sid",
    "region",
    "provider",
)
_NUMBER_KEYS: Final = tuple(dict.fromkeys(_HEADER_JUNK.sub("", a).lower() for a in NUMBER_ALIASES))
_LABEL_KEYS: Final = tuple(dict.fromkeys(_HEADER_JUNK.sub("", a).lower() for a in LABEL_ALIASES))
_OTHER_KEYS: Final = {
    "agent_id": "agentid",
    "provider_id": "providerid",
    "account_sid": "accountsid",
    "region": "region",
    "provider": "provider",
}

Record = list[str]


def header_key(name: str) -> str:
    """Return the form headers are compared in: lower case, without spaces, dashes, underscores."""
    return _HEADER_JUNK.sub("", name).lower()


def _clean(value: str) -> str:
    """Strip a cell and take off the ``'`` a report put before a formula-looking cell."""
    return unneutralise(value.strip()).strip()


class InputSource:
    """Name an opened input and yield its data rows as :class:`RawRow` when iterated.

    ``columns`` are the header cells as read. Iterating again reads the input again from the
    start. :func:`open_input` has already checked everything that can be checked up front.
    """

    def __init__(
        self,
        *,
        name: str,
        stem: str,
        columns: list[str],
        header_row: int,
        indexes: Sequence[int | None],
        records: Callable[[], AbstractContextManager[Iterator[Record]]],
        closer: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.stem = stem
        self.columns = columns
        self._header_row = header_row
        self._indexes = tuple(indexes)
        self._records = records
        self._finalizer = weakref.finalize(self, closer) if closer is not None else None

    def close(self) -> None:
        """Release what the source holds (the spooled copy of stdin)."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> InputSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InputSource(name={self.name!r}, columns={self.columns!r})"

    def __iter__(self) -> Iterator[RawRow]:
        with self._records() as records:
            # Skip the header and the blank rows above it: they are numbered, not yielded.
            for _ in zip(range(self._header_row), records, strict=False):
                pass
            yield from _raw_rows(records, self._header_row + 1, self._indexes)


def _raw_rows(
    records: Iterator[Record], first_row: int, indexes: Sequence[int | None]
) -> Iterator[RawRow]:
    """Yield a RawRow per non-blank record; this loop is the reader's per-row cost.

    ``indexes`` holds a column index (or None) per RawRow text field, then the index of a
    report's ``input_number`` column, the number's fallback when the ``number`` cell is empty.
    """
    *fields, fallback = indexes
    present = tuple((field, col) for field, col in enumerate(fields) if col is not None)
    blank = [""] * len(fields)
    make = RawRow
    for row, record in enumerate(records, first_row):
        width = len(record)
        values = blank[:]
        for field, col in present:
            if col < width:
                values[field] = _clean(record[col])
        if not values[0]:
            if fallback is not None and fallback < width:
                # An invalid row of a report has no E.164 number: read what was typed instead,
                # so that running the report again gives the same reason, not "empty".
                values[0] = _clean(record[fallback])
            if not any(cell.strip() for cell in record):
                continue  # a completely blank row keeps its number but is not a data row
        yield make(row, *values)


def open_input(
    path: str,
    *,
    sheet: str | None = None,
    number_column: str | None = None,
    label_column: str | None = None,
    stdin: BinaryIO | None = None,
) -> InputSource:
    """Open an input file (or ``-`` for CSV on stdin) and check it can be read as rows.

    Raise :class:`InputError`, one line naming the file and the fix, for a missing, unreadable
    or empty file, an unknown extension or sheet, a corrupt spreadsheet, or no number column.
    """
    if path == "-":
        return _open_stdin(
            stdin if stdin is not None else sys.stdin.buffer,
            number_column=number_column,
            label_column=label_column,
        )
    file = Path(path)
    extension = file.suffix.lower()
    try:
        mode = file.stat().st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the path
        raise InputError(f"cannot read {path}: no such file; check the path") from None
    except PermissionError:
        raise InputError(_permission_denied(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"cannot read {path}: it is a directory; pass a file inside it")
    if extension not in ACCEPTED_EXTENSIONS:
        kind = f'file type "{file.suffix}"' if file.suffix else "file type (no extension)"
        raise InputError(
            f"cannot read {path}: unknown {kind}; use "
            f"{', '.join(ACCEPTED_EXTENSIONS[:-1])} or {ACCEPTED_EXTENSIONS[-1]} "
            "(or - to read CSV from stdin)"
        )
    try:
        handle = open(file, "rb")  # noqa: SIM115 - closed below, before returning
    except PermissionError:
        raise InputError(_permission_denied(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        if extension in SHEET_EXTENSIONS:
            return _open_sheet(
                handle,
                name=path,
                stem=file.stem,
                sheet=sheet,
                number_column=number_column,
                label_column=label_column,
            )
        encoding = _detect_encoding(handle)
        delimiter = "\t" if extension == ".tsv" else _sniff_delimiter(handle, encoding)

    def records() -> AbstractContextManager[Iterator[Record]]:
        return _CsvRecords(_reopen(file, path), encoding, delimiter, name=path)

    return _text_source(
        records,
        name=path,
        stem=file.stem,
        number_column=number_column,
        label_column=label_column,
    )


def _permission_denied(path: str) -> str:
    return f"cannot read {path}: permission denied; check the file's permissions"


def _reopen(file: Path, path: str) -> BinaryIO:
    """Open the file again to iterate it; it was readable when it was checked."""
    try:
        return open(file, "rb")  # the caller's context manager closes it
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _open_stdin(
    stream: BinaryIO, *, number_column: str | None, label_column: str | None
) -> InputSource:
    """Spool stdin so it can be sniffed, then read from the start like a file."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * _BLOCK)  # noqa: SIM115 - closed by the source
    try:
        shutil.copyfileobj(stream, spool, _BLOCK)
        spool.seek(0)
        encoding = _detect_encoding(spool)
        delimiter = _sniff_delimiter(spool, encoding)

        def records() -> AbstractContextManager[Iterator[Record]]:
            spool.seek(0)
            return _CsvRecords(spool, encoding, delimiter, name="-", close=False)

        return _text_source(
            records,
            name="-",
            stem="stdin",
            number_column=number_column,
            label_column=label_column,
            closer=spool.close,
        )
    except BaseException:
        spool.close()
        raise


def _text_source(
    records: Callable[[], AbstractContextManager[Iterator[Record]]],
    *,
    name: str,
    stem: str,
    number_column: str | None,
    label_column: str | None,
    closer: Callable[[], None] | None = None,
    where: str = "",
    read_all: bool = True,
) -> InputSource:
    """Find the header in the records and build the source, or say why the file is unusable.

    With ``read_all``, the rest of the records are parsed too (about half a microsecond a
    row), so that a quote opened and never closed is refused here, before any row is used.
    """
    with records() as rows:
        header_row, header = _find_header(rows)
        if read_all:
            deque(rows, maxlen=0)
    if header is None:
        raise InputError(
            f"{name}{where} is empty: it has no header row; add one naming a number column"
        )
    indexes = _map_columns(
        header, name=name + where, number_column=number_column, label_column=label_column
    )
    return InputSource(
        name=name,
        stem=stem,
        columns=header,
        header_row=header_row,
        indexes=indexes,
        records=records,
        closer=closer,
    )


def _find_header(records: Iterable[Record]) -> tuple[int, list[str] | None]:
    """Return the first non-blank row and its number (row 1 unless rows above it are blank)."""
    for number, record in enumerate(records, 1):
        cells = [_clean(cell) for cell in record]
        if any(cells):
            return number, cells
    return 0, None


def _map_columns(
    header: list[str], *, name: str, number_column: str | None, label_column: str | None
) -> list[int | None]:
    """Return, for each RawRow text field, its column's index in the header (None: absent).

    One more index follows: the report's ``input_number`` column, see :func:`_raw_rows`.
    """
    keys = [header_key(cell) for cell in header]

    def find(candidates: Iterable[str]) -> int | None:
        for key in candidates:
            if key in keys:
                return keys.index(key)
        return None

    def listed() -> str:
        return ", ".join(cell for cell in header if cell)

    def override(column: str, option: str) -> int:
        index = find([header_key(column)])
        if index is None:
            raise InputError(
                f'no column "{column}" in {name} (columns: {listed()}); '
                f"pass {option} with one of these"
            )
        return index

    if number_column:
        number = override(number_column, "--number-column")
    else:
        found = find(_NUMBER_KEYS)
        if found is None:
            raise InputError(
                f"no phone number column found in {name} (columns: {listed()}); "
                "pass --number-column NAME"
            )
        number = found
    label = override(label_column, "--label-column") if label_column else find(_LABEL_KEYS)
    others = [find([_OTHER_KEYS[field]]) for field in _FIELDS[2:]]
    # A report names the typed number input_number: it stands in for an empty number cell.
    fallback = None if number_column else find(["inputnumber"])
    return [number, label, *others, fallback]


# --- text files ----------------------------------------------------------------------------


def _detect_encoding(handle: IO[bytes]) -> str:
    """Decide the file's encoding from its bytes, a block at a time, and rewind it."""
    head = handle.read(4)
    handle.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = is_cp1252 = True
    while block := handle.read(_BLOCK):
        if is_utf8 and not (block.isascii() and not utf8.getstate()[0]):
            try:
                utf8.decode(block)
            except UnicodeDecodeError:
                is_utf8 = False
        if is_cp1252 and any(byte in block for byte in _CP1252_UNDEFINED):
            is_cp1252 = False
        if not (is_utf8 or is_cp1252):
            break
    handle.seek(0)
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if is_utf8:
        return "utf-8"
    return "cp1252" if is_cp1252 else "latin-1"


def _text_stream(handle: IO[bytes], encoding: str) -> io.TextIOWrapper:
    # A BOM is taken at its word, so a stray byte after it becomes U+FFFD rather than an
    # error; the other encodings were checked against every byte already.
    errors = "replace" if encoding in ("utf-16", "utf-8-sig") else "strict"
    return io.TextIOWrapper(handle, encoding=encoding, errors=errors, newline="")


def _sniff_delimiter(handle: IO[bytes], encoding: str) -> str:
    """Pick the delimiter the header line uses most, outside quotes; comma when it has none."""
    text = _text_stream(handle, encoding)
    try:
        sample = text.read(_SNIFF_CHARS)
    finally:
        text.detach()
        handle.seek(0)
    for line in sample.splitlines():
        if line.strip():
            unquoted = _QUOTED.sub("", line)
            counts = [unquoted.count(delimiter) for delimiter in DELIMITERS]
            if max(counts):
                return DELIMITERS[counts.index(max(counts))]
            break
    return ","


class _CsvRecords(AbstractContextManager[Iterator[Record]]):
    """Read a CSV stream as records; close it after, or only let go of stdin's spool."""

    def __init__(
        self, handle: IO[bytes], encoding: str, delimiter: str, *, name: str, close: bool = True
    ) -> None:
        self._text = _text_stream(handle, encoding)
        self._delimiter = delimiter
        self._name = name
        self._close = close

    def __enter__(self) -> Iterator[Record]:
        reader = csv.reader(self._text, delimiter=self._delimiter)
        name = self._name

        def records() -> Iterator[Record]:
            try:
                yield from reader
            except csv.Error as exc:
                # Only a runaway cell stops the csv module: a quote opened and never closed.
                raise InputError(
                    f"cannot read {name} (stopped at line {reader.line_num}: {exc}); "
                    "look for a quote that is opened and never closed"
                ) from None

        return records()

    def __exit__(self, *exc_info: object) -> None:
        if self._close:
            self._text.close()
        else:
            self._text.detach()


# --- spreadsheets --------------------------------------------------------------------------


def _open_sheet(
    handle: BinaryIO,
    *,
    name: str,
    stem: str,
    sheet: str | None,
    number_column: str | None,
    label_column: str | None,
) -> InputSource:
    """Load the workbook, pick the sheet and build the source from its rows."""
    if not handle.read(1):
        raise InputError(f"{name} is empty: it has no header row; add one naming a number column")
    handle.seek(0)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(handle)
    except Exception as exc:  # calamine raises several kinds for a damaged file
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"cannot read {name} as a spreadsheet ({detail}); "
            "open it in a spreadsheet program and save it again, or export it as CSV"
        ) from None
    with workbook:
        names: list[str] = list(workbook.sheet_names)
        chosen = _choose_sheet(names, sheet, name=name)
        try:
            data = workbook.get_sheet_by_name(chosen)
        except Exception as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(
                f'cannot read sheet "{chosen}" of {name} ({detail}); '
                "open it in a spreadsheet program and save it again, or export it as CSV"
            ) from None
    where = f', sheet "{chosen}"' if len(names) > 1 else ""

    def records() -> AbstractContextManager[Iterator[Record]]:
        rows = ([_sheet_text(cell) for cell in row] for row in data.iter_rows())
        return nullcontext(rows)

    return _text_source(
        records,
        name=name,
        stem=stem,
        number_column=number_column,
        label_column=label_column,
        where=where,
        read_all=False,  # calamine has read the whole sheet already
    )


def _choose_sheet(names: list[str], sheet: str | None, *, name: str) -> str:
    """Return the sheet asked for: by name, else by number counting from 1; default the first."""
    if not names:
        raise InputError(f"{name} is empty: it has no sheet; add one with a header row")
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    folded = [candidate.casefold() for candidate in names]
    if sheet.casefold() in folded:
        return names[folded.index(sheet.casefold())]
    if sheet.strip().isdecimal() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    listed = ", ".join(names)
    raise InputError(
        f'no sheet "{sheet}" in {name} (sheets: {listed}); '
        f"pass --sheet with one of these names or a number from 1 to {len(names)}"
    )


def _sheet_text(cell: object) -> str:
    """Write a spreadsheet cell as text: a whole number as its digits, the rest as shown."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        if cell.is_integer() and abs(cell) < _EXACT_INTEGER_LIMIT:
            return str(int(cell))
        return repr(cell)
    if isinstance(cell, dt.date | dt.time):
        return cell.isoformat()
    if cell is None:
        return ""
    return str(cell)
