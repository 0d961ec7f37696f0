"""Open what the user named: a file path or ``-`` for stdin, and pick its reader by extension."""

from __future__ import annotations

import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Final

from bulk_import.errors import InputError
from bulk_import.sources.sheets import open_sheet
from bulk_import.sources.source import InputSource, Record, build_source
from bulk_import.sources.text import BLOCK, CsvRecords, detect_encoding, sniff_delimiter

__all__ = ["ACCEPTED_EXTENSIONS", "open_input"]

TEXT_EXTENSIONS: Final = (".csv", ".tsv", ".txt")
SHEET_EXTENSIONS: Final = (".xlsx", ".xls", ".ods")
ACCEPTED_EXTENSIONS: Final = TEXT_EXTENSIONS + SHEET_EXTENSIONS


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
            return open_sheet(
                handle,
                name=path,
                sheet=sheet,
                number_column=number_column,
                label_column=label_column,
            )
        encoding = detect_encoding(handle)
        delimiter = "\t" if extension == ".tsv" else sniff_delimiter(handle, encoding)

    def records() -> AbstractContextManager[Iterator[Record]]:
        return CsvRecords(_reopen(file, path), encoding, delimiter, name=path)

    return build_source(
        records,
        name=path,
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
    spool = tempfile.SpooledTemporaryFile(max_size=16 * BLOCK)  # noqa: SIM115 - closed by the source
    try:
        shutil.copyfileobj(stream, spool, BLOCK)
        spool.seek(0)
        encoding = detect_encoding(spool)
        delimiter = sniff_delimiter(spool, encoding)

        def records() -> AbstractContextManager[Iterator[Record]]:
            spool.seek(0)
            return CsvRecords(spool, encoding, delimiter, name="-", close=False)

        return build_source(
            records,
            name="-",
            number_column=number_column,
            label_column=label_column,
            closer=spool.close,
        )
    except BaseException:
        spool.close()
        raise
