"""Refuse output paths that name one file twice: an output over another, or over INPUT.

A command writes up to three files (the report, ``--summary-json``, ``--html``) and keeps two
more beside the report while it runs (its journal and its lock file). A cron line whose
``--summary-json`` names the report would replace the report's rows and ids with the summary at
the end, and exit 0. So before anything is read or sent, every output is compared with every
other file of the command by its real path (symlinks and ``./`` resolved), and a clash is exit 2
naming both. Standard output (``-``) is no file. Click-free: the CLI and Python's calls share it.
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

    The other files: ``inputs`` (named, as typed; ``None`` and ``-`` are none), the report, its
    journal and its lock file, and each other.
    """
    from bulk_import.output.lock import lock_path  # socket and fcntl: not for --help

    taken = [
        (f"{name} ({path})", _real(Path(path)))
        for name, path in inputs
        if path is not None and str(path) != "-"
    ]
    if report.name and not is_stdout(report):  # no name: a command refused before it had one
        journal = journal_path(report)
        taken += [
            (f"the report (--report {report})", _real(report)),
            (f"the report's journal ({journal})", _real(journal)),
            (f"the report's lock file ({lock_path(report)})", str(lock_path(report))),
        ]
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


def _real(path: Path) -> str:
    """Return the path a name leads to (symlinks and ``..`` resolved; it need not exist)."""
    return os.path.realpath(path)
