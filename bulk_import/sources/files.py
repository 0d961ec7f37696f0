"""Open what the user named: a file path or ``-`` for stdin, and pick its reader by extension."""

from __future__ import annotations

import re
import shutil
import stat
import sys
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Final

from bulk_import.errors import InputError
from bulk_import.naming import CLI, Naming
from bulk_import.sources.header import Columns
from bulk_import.sources.sheets import open_sheet
from bulk_import.sources.source import InputSource, RecordStream, build_source
from bulk_import.sources.text import BLOCK, CsvRecords, detect_encoding, sniff_delimiter

__all__ = ["ACCEPTED_EXTENSIONS", "open_input"]

TEXT_EXTENSIONS: Final = (".csv", ".tsv", ".txt")
SHEET_EXTENSIONS: Final = (".xlsx", ".xls", ".ods")
ACCEPTED_EXTENSIONS: Final = TEXT_EXTENSIONS + SHEET_EXTENSIONS
# "twilio", "twilio-AC...": a twilio: INPUT typed without its colon.
_TWILIO_WITHOUT_COLON: Final = re.compile(r"twilio(?:[-_ ]?(AC[0-9a-fA-F]{32}))?", re.IGNORECASE)


def open_input(
    path: str,
    *,
    sheet: str | None = None,
    number_column: str | None = None,
    label_column: str | None = None,
    header_row: int | None = None,
    no_header: bool = False,
    stdin: BinaryIO | None = None,
    naming: Naming = CLI,
) -> InputSource:
    """Open an input file (or ``-`` for CSV on stdin) and check it can be read as rows.

    ``header_row`` is the spreadsheet row holding the header (default: found among the first
    rows, see :mod:`bulk_import.sources.header`); ``no_header`` reads every row as data, and
    then ``number_column`` / ``label_column`` are column letters or numbers counting from 1.
    Raise :class:`UsageError` for options that cannot work together, and :class:`InputError`,
    one line naming the file and the fix, for a missing, unreadable or empty file, an unknown
    extension or sheet, a corrupt spreadsheet, no header or no number column, or a header
    with no data rows. ``naming`` writes the options in messages as the caller wrote them.
    """
    columns = Columns(
        number_column=number_column,
        label_column=label_column,
        header_row=header_row,
        no_header=no_header,
        naming=naming,
    )
    columns.check()
    if path == "-":
        return _open_stdin(stdin if stdin is not None else sys.stdin.buffer, columns=columns)
    file = Path(path)
    extension = file.suffix.lower()
    try:
        mode = file.stat().st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the path
        raise InputError(_no_such_file(path)) from None
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
            return open_sheet(handle, name=path, sheet=sheet, columns=columns)
        encoding = detect_encoding(handle)
        delimiter = "\t" if extension == ".tsv" else sniff_delimiter(handle, encoding)

    def records() -> AbstractContextManager[RecordStream]:
        return CsvRecords(_reopen(file, path), encoding, delimiter, name=path)

    return build_source(records, name=path, columns=columns)


def _no_such_file(path: str) -> str:
    """Say that ``path`` does not exist; a name that meant ``twilio:`` (the colon left out)
    gets the INPUT it meant."""
    found = _TWILIO_WITHOUT_COLON.fullmatch(path.strip())
    if found is not None:
        meant = f"twilio:{found[1]}" if found[1] else "twilio:"
        return f'no such file "{path}"; did you mean {meant} (a Twilio account)?'
    return f"cannot read {path}: no such file; check the path"


def _permission_denied(path: str) -> str:
    return f"cannot read {path}: permission denied; check the file's permissions"


def _reopen(file: Path, path: str) -> BinaryIO:
    """Open the file again to iterate it; it was readable when it was checked."""
    try:
        return open(file, "rb")  # the caller's context manager closes it
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _open_stdin(stream: BinaryIO, *, columns: Columns) -> InputSource:
    """Spool stdin so it can be sniffed, then read from the start like a file."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * BLOCK)  # noqa: SIM115 - closed by the source
    try:
        shutil.copyfileobj(stream, spool, BLOCK)
        spool.seek(0)
        encoding = detect_encoding(spool)
        delimiter = sniff_delimiter(spool, encoding)

        def records() -> AbstractContextManager[RecordStream]:
            spool.seek(0)
            return CsvRecords(spool, encoding, delimiter, name="-", close=False)

        return build_source(records, name="-", columns=columns, closer=spool.close)
    except BaseException:
        spool.close()
        raise
