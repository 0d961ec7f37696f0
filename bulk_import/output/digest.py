"""Read what a report holds, in one streaming pass: its statuses, and why rows need attention.

The closing summary names the fix from it (the commonest reason rows are ``invalid``; whether
``failed`` rows were refused for good by a 4xx, which ``--resume`` cannot mend, or ran out of
retries, which it can), ``validate`` refuses to replace another command's report with it, and
``retry-patch`` says which kind of report has nothing to patch. A CSV report is streamed with
the ``csv`` module (a million rows in about a second, in flat memory); a workbook is read by
:mod:`bulk_import.output.recovery`.
"""

from __future__ import annotations

import csv
import functools
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bulk_import.cells import unneutralise
from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS

_STATUS: Final = REPORT_COLUMNS.index("status")
_HTTP: Final = REPORT_COLUMNS.index("http_status")
_ERROR: Final = REPORT_COLUMNS.index("error")
#: Statuses whose rows carry a final answer worth telling apart from a retryable one.
_ANSWERED: Final = frozenset({"failed", "patch_failed", "agent_mismatch"})
#: A rollback's statuses whose rows may be changed since the run.
_ROLLBACK: Final = frozenset({"kept", "would_delete", "deleted"})
#: 4xx answers that are retried, not final (a timeout, a rate limit).
_RETRIED_4XX: Final = frozenset({408, 429})
#: What a rollback writes in the error of a row changed since the run (label, agent): kept, or
#: with ``--force`` deleted; the summary counts them to offer ``--force`` only when it helps.
CHANGED_SINCE: Final = "changed since the run: "
#: What a rollback writes in the error of a number not found whose provider the account does
#: not link (kept: perhaps the wrong account); the summary says it once.
NOT_LINKED: Final = "is not linked here: is this the account the run imported into"


@dataclass(frozen=True, slots=True)
class Digest:
    """Hold a report's rows per status, its final 4xx refusals and its invalid rows' reasons.

    ``refused`` counts, per status, the rows whose last answer was a 4xx that no retry mends
    (not 408 or 429); ``reasons`` counts the ``error`` of each ``invalid`` row, and ``unsent``
    that of each ``not_attempted`` row (why the run stopped: a few distinct texts);
    ``changed`` counts, per status, a rollback's rows changed since the run (:data:`CHANGED_SINCE`),
    ``elsewhere`` its rows not found whose provider the account does not link (:data:`NOT_LINKED`).
    """

    statuses: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    unsent: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    elsewhere: Counter[str] = field(default_factory=Counter)


def read_digest(path: Path) -> Digest | None:
    """Return what the report at ``path`` holds; None when there is none, or it is no report.

    Read again only when the file changed (its size or time), so that every hint of one
    summary costs one pass.
    """
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return _cached(str(path), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int) -> Digest | None:
    try:
        return digest_of(_lines(Path(path)))
    except (InputError, OSError, UnicodeError, csv.Error):
        return None


def digest_of(lines: Iterable[list[str]]) -> Digest | None:
    """Return the digest of a report's lines (its header first); None when it is no report."""
    rows = iter(lines)
    if tuple(next(rows, ())) != REPORT_COLUMNS:
        return None
    statuses: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    unsent: Counter[str] = Counter()
    changed: Counter[str] = Counter()
    elsewhere: Counter[str] = Counter()
    width = len(REPORT_COLUMNS)
    for cells in rows:
        if len(cells) != width:  # a line cut short by a crash: that row did not finish
            continue
        status = cells[_STATUS]
        statuses[status] += 1
        if status == "invalid":
            reasons[unneutralise(cells[_ERROR])] += 1
        elif status == "not_attempted":
            unsent[unneutralise(cells[_ERROR])] += 1
        elif status in _ANSWERED and _is_final(cells[_HTTP]):
            refused[status] += 1
        elif status in _ROLLBACK and CHANGED_SINCE in cells[_ERROR]:
            changed[status] += 1
        elif status in _ROLLBACK and NOT_LINKED in cells[_ERROR]:
            elsewhere[status] += 1
    return Digest(statuses, refused, reasons, unsent, changed, elsewhere)


def _is_final(http_status: str) -> bool:
    """Say whether an answer is a 4xx that no retry mends."""
    code = int(http_status) if http_status.isdigit() else 0
    return 400 <= code < 500 and code not in _RETRIED_4XX


def _lines(path: Path) -> Iterable[list[str]]:
    """Yield the report's header and lines as cells: a workbook's, or a CSV's as it streams."""
    if path.suffix.lower() == ".xlsx":
        from bulk_import.output.workbook import read_workbook  # pandas: only for a workbook

        yield from read_workbook(path)
        return
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from csv.reader(handle)


def report_kind(statuses: Counter[str]) -> str:
    """Name the command a report's statuses come from: ``a validate report``, ``a run report``."""
    seen = {status for status, count in statuses.items() if count}
    if "valid" in seen and seen <= {"valid", "invalid", "duplicate", "not_attempted"}:
        return "a validate report"
    if seen <= {"invalid", "duplicate"}:
        return "a report of rows never sent"
    if seen & {"in_sync", "missing", "extra"}:
        return "a reconcile report"
    if seen & {"would_delete", "deleted", "kept", "delete_failed"}:
        return "a rollback report"
    if seen & {"patched", "patch_failed"}:
        return "a retry-patch report"
    return "a run report"


def shown_counts(statuses: Counter[str], *, limit: int = 4) -> str:
    """Return ``36 imported, 3 webhook_failed, 1 already_imported``: the commonest first."""
    common = statuses.most_common()
    shown = [f"{count:,} {status}" for status, count in common[:limit]]
    rest = sum(count for _, count in common[limit:])
    if rest:
        shown.append(f"{rest:,} more")
    return ", ".join(shown)
