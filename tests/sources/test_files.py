"""Tests for bulk_import.sources.files: paths, extensions, stdin, and why a path is refused."""

from __future__ import annotations

import builtins
import io
import sys
from pathlib import Path
from typing import Any

import pytest
from source_helpers import message, numbers, write_csv, write_xlsx

from bulk_import.errors import InputError
from bulk_import.sources import open_input


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    """CONTACTS.CSV and BOOK.XLSX are read like their lower-case names."""
    csv_path = write_csv(tmp_path / "CONTACTS.CSV", [["number"], ["+14155552671"]])
    xlsx_path = write_xlsx(tmp_path / "BOOK.XLSX", {"S": {"A1": "number", "A2": 14155552671}})
    assert numbers(open_input(str(csv_path))) == [(2, "+14155552671")]
    assert numbers(open_input(str(xlsx_path))) == [(2, "14155552671")]


def test_stdin_is_read_as_csv(tmp_path: Path) -> None:
    """ "-" reads CSV from the stdin argument, named "-"."""
    data = "msisdn;label\n+14155552671;a\n\n+447911123456;b\n".encode("utf-16")
    with open_input("-", stdin=io.BytesIO(data)) as source:
        assert (source.name, source.columns) == ("-", ["msisdn", "label"])
        assert numbers(source) == [(2, "+14155552671"), (4, "+447911123456")]
        assert numbers(source) == [(2, "+14155552671"), (4, "+447911123456")]


def test_stdin_defaults_to_the_process_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a stdin argument, "-" reads sys.stdin.buffer."""

    class FakeStdin:
        buffer = io.BytesIO(b"number\n+14155552671\n")

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    source = open_input("-")
    assert numbers(source) == [(2, "+14155552671")]
    source.close()


def test_stdin_errors_are_raised_up_front() -> None:
    """An empty stdin or one without a number column is refused by open_input itself."""
    assert message("-", stdin=io.BytesIO(b"")) == (
        "- is empty: it has no header row; add one naming a number column"
    )
    assert message("-", stdin=io.BytesIO(b"a,b\n1,2\n")) == (
        "no phone number column found in - (columns: a, b); pass --number-column NAME"
    )


def test_source_can_be_iterated_twice(tmp_path: Path) -> None:
    """Iterating a file source again reads it again from the start."""
    path = write_csv(tmp_path / "in.csv", [["number"], ["1"], ["2"]])
    with open_input(str(path)) as source:
        assert numbers(source) == numbers(source) == [(2, "1"), (3, "2")]
        assert "in.csv" in repr(source)


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is named, with the fix."""
    path = tmp_path / "nope.csv"
    assert message(path) == f"cannot read {path}: no such file; check the path"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("twilio", "twilio:"),
        ("Twilio", "twilio:"),
        ("twilio-AC3f9c2e6b8d1a4f7e9b0c5d2a6e8f1b3c", "twilio:AC3f9c2e6b8d1a4f7e9b0c5d2a6e8f1b3c"),
    ],
)
def test_twilio_without_its_colon_names_the_input_it_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str, meant: str
) -> None:
    """`run twilio` (no colon, no such file): the error names twilio: as what was meant."""
    monkeypatch.chdir(tmp_path)
    assert message(typed) == f'no such file "{typed}"; did you mean {meant} (a Twilio account)?'


def test_path_with_a_nul_byte(tmp_path: Path) -> None:
    """A path no file can have is reported as missing, not as a traceback."""
    path = f"{tmp_path}/bad\x00name.csv"
    assert message(path) == f"cannot read {path}: no such file; check the path"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PermissionError(13, "Permission denied"),
            "permission denied; check the file's permissions",
        ),
        (OSError(36, "File name too long"), "File name too long"),
    ],
)
def test_path_that_cannot_be_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, expected: str
) -> None:
    """A file in a directory the process may not search is reported with the OS's reason."""
    path = tmp_path / "locked" / "in.csv"
    real_stat = Path.stat

    def deny(self: Path, **kwargs: Any) -> Any:
        if self == path:
            raise error
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", deny)
    assert message(path) == f"cannot read {path}: {expected}"


def test_directory(tmp_path: Path) -> None:
    """A directory is refused as such."""
    assert message(tmp_path) == f"cannot read {tmp_path}: it is a directory; pass a file inside it"


@pytest.mark.parametrize("name", ["contacts.pdf", "contacts"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    """An unknown or missing extension lists the accepted ones."""
    path = tmp_path / name
    path.write_text("number\n1\n", encoding="utf-8")
    kind = 'file type ".pdf"' if name.endswith(".pdf") else "file type (no extension)"
    assert message(path) == (
        f"cannot read {path}: unknown {kind}; use .csv, .tsv, .txt, .xlsx, .xls or .ods "
        "(or - to read CSV from stdin)"
    )


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the process may not read says so (simulated: the tests may run as root)."""
    path = write_csv(tmp_path / "secret.csv", [["number"], ["1"]])
    real_open = builtins.open

    def deny(file: object, *args: Any, **kwargs: Any) -> Any:
        if file == path:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", deny)
    assert message(path) == f"cannot read {path}: permission denied; check the file's permissions"


def test_other_os_error_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other failure to open, then or when iterating, is one line with the OS's words."""
    path = write_csv(tmp_path / "flaky.csv", [["number"], ["1"]])
    source = open_input(str(path))
    real_open = builtins.open

    def fail(file: object, *args: Any, **kwargs: Any) -> Any:
        if file == path:
            raise OSError(5, "Input/output error")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", fail)
    assert message(path) == f"cannot read {path}: Input/output error"
    with pytest.raises(InputError, match="Input/output error"):
        list(source)
