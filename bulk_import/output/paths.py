"""Refuse output paths that name one file twice: an output over another, or over INPUT.

A command writes up to three files (the report, ``--summary-json``, ``--html``) and keeps two
more beside the report while it runs (its journal and its lock file). A cron line whose
``--summary-json`` names the report would replace the report's rows and ids with the summary at
the end, and exit 0; a ``--report`` naming REPORT's journal would be read by every later command
of REPORT as a killed run's journal (``run --resume`` merges it). So before anything is read or
sent, every output is compared with every other file of the command, and with the journal and
lock file of INPUT and REPORT, by its real path (symlinks and ``./`` resolved), and a clash is
exit 2 naming both. Standard output (``-``) is no file. Click-free: the CLI and Python's calls
share it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bulk_import.errors import UsageError
from bulk_import.output.files import is_stdout
from bulk_import.output.report import journal_path


def check_outputs(
    *,
    report: Path,
    summary_json: Path | None = None,
    html: Path | None = None,
    source: str | None = None,
    report_in: Path | None = None,
) -> None:
    """Raise :class:`UsageError` when an output would overwrite INPUT or another output.

    ``source`` is INPUT as typed (``-`` and ``None``: none on disk); ``report_in`` the REPORT
    that ``retry-patch`` and ``rollback`` read (``retry-patch`` rewrites it as its report: that
    pair is allowed).
    """
    on_input = source not in (None, "-") and not is_stdout(report)
    if on_input and _real(report) == _real(Path(str(source))):
        raise UsageError(f"--report {report} is the input file itself; choose another report path")
    if report.name and not is_stdout(report):
        inputs = [("INPUT", source), ("REPORT", report_in)]
        for what, other in _beside(inputs):
            if _real(report) == other:
                # A report there is a "killed run's journal" (or a lock) to every later command
                # of that file: run --resume would merge its lines into the run's report.
                raise UsageError(
                    f"--report {report} is {what}: writing it would corrupt that file's record; "
                    "choose another report path"
                )
    clash = output_clash(
        report=report,
        summary_json=summary_json,
        html=html,
        inputs=[("INPUT", source), ("REPORT", report_in)],
    )
    if clash:
        raise UsageError(clash)


def output_clash(
    *,
    report: Path,
    summary_json: Path | None,
    html: Path | None,
    inputs: Sequence[tuple[str, str | Path | None]] = (),
) -> str:
    """Say how ``--summary-json`` or ``--html`` would overwrite another file ("" if neither).

    The other files: ``inputs`` (named, as typed; ``None`` and ``-`` are none), their journals
    and lock files, the report, its journal and its lock file, and each other.
    """
    taken = [
        (f"{name} ({path})", _real(Path(path)))
        for name, path in inputs
        if path is not None and str(path) != "-"
    ]
    taken += _beside(inputs)
    if report.name and not is_stdout(report):  # no name: a command refused before it had one
        taken += _beside([("the report", report)], own=True)
    for option, path in (("--summary-json", summary_json), ("--html", html)):
        if path is None or is_stdout(path):
            continue
        real = _real(path)
        for what, other in taken:
            if real == other:
                return (
                    f"{option} {path} is {what}: writing it would replace that file; pass "
                    f"another {option}"
                )
        taken.append((f"{option} {path}", real))
    return ""


def _beside(
    files: Sequence[tuple[str, str | Path | None]], *, own: bool = False
) -> list[tuple[str, str]]:
    """Return the files each named file keeps beside it (its journal, its lock file), each
    with what it is and its real path; ``own``: the report, itself included."""
    from bulk_import.output.lock import lock_path  # socket and fcntl: not for --help

    found = []
    for name, given in files:
        path = Path(given or "")
        if not path.name or str(given) == "-":  # none, stdin, or no name: nothing beside it
            continue
        journal, lock = journal_path(path), lock_path(path)
        if own:
            found.append((f"{name} (--report {path})", _real(path)))
        found += [
            (f"{name}'s journal ({journal})", _real(journal)),
            (f"{name}'s lock file ({lock})", str(lock)),
        ]
    return found


def _real(path: Path) -> str:
    """Return the path a name leads to (symlinks and ``..`` resolved; it need not exist)."""
    return os.path.realpath(path)
