"""Read text files as csv records: the encoding, the delimiter, and the records themselves."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import IO, Final

from bulk_import.errors import InputError
from bulk_import.sources.source import RecordStream

__all__ = ["BLOCK", "DELIMITERS", "CsvRecords", "detect_encoding", "sniff_delimiter"]

DELIMITERS: Final = (",", "\t", ";", "|")  # tie-break order when the header holds several

#: Bytes read at a time when deciding the encoding.
BLOCK = 1 << 20
_SNIFF_CHARS = 1 << 16
# Bytes that CP-1252 leaves undefined: a file holding one of them can only be Latin-1.
_CP1252_UNDEFINED: Final = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_QUOTED = re.compile(r'"[^"]*"')


def detect_encoding(handle: IO[bytes]) -> str:
    """Decide the file's encoding from its bytes, a block at a time, and rewind it."""
    head = handle.read(4)
    handle.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = is_cp1252 = True
    while block := handle.read(BLOCK):
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


def sniff_delimiter(handle: IO[bytes], encoding: str) -> str:
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


class CsvRecords(AbstractContextManager[RecordStream]):
    """Read a CSV stream as records; close it after, or only let go of stdin's spool."""

    def __init__(
        self, handle: IO[bytes], encoding: str, delimiter: str, *, name: str, close: bool = True
    ) -> None:
        self._text = _text_stream(handle, encoding)
        self._delimiter = delimiter
        self._name = name
        self._close = close

    def __enter__(self) -> RecordStream:
        reader = csv.reader(self._text, delimiter=self._delimiter)
        name = self._name

        def records() -> Iterator[list[str]]:
            try:
                yield from reader
            except csv.Error as exc:
                # Only a runaway cell stops the csv module: a quote opened and never closed.
                raise InputError(
                    f"cannot read {name} (stopped at line {reader.line_num}: {exc}); "
                    "look for a quote that is opened and never closed"
                ) from None

        return RecordStream(records(), reader, self._delimiter)

    def __exit__(self, *exc_info: object) -> None:
        if self._close:
            self._text.close()
        else:
            self._text.detach()
