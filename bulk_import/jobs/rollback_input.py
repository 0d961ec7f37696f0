"""Read what a rollback works on: REPORT, checked, and what its own report already holds.

Every reason to refuse REPORT is found here, before anything is sent or written (exit 2, one
line): a file that is not a report of this tool, a report with no row, a ``validate`` report
(nothing was imported), a rollback report (roll back the run's own report instead), a row that
says the run created a number but names neither its id nor its E.164 number. The rollback's own
report (``--report``) and the journal a killed rollback left beside it are read back: their
``deleted`` rows are kept as they are and never sent again; every other row is checked again.
A ``--report`` that holds another command's report, or the rollback of another REPORT, is
refused rather than replaced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bulk_import.cells import unneutralise
from bulk_import.errors import InputError, UsageError
from bulk_import.models import CREATED, Status
from bulk_import.output.files import is_stdout
from bulk_import.output.recovery import GivenReport, ReportLine, read_report, recover
from bulk_import.output.report import journal_path

Key = int | str
#: The statuses only a rollback writes.
ROLLBACK_STATUSES = frozenset(
    {Status.WOULD_DELETE, Status.DELETED, Status.KEPT, Status.DELETE_FAILED}
)
#: Every status a rollback's report may hold (a plan's failed look-up, a stop's not_attempted).
WRITTEN = ROLLBACK_STATUSES | {Status.FAILED, Status.NOT_ATTEMPTED}


@dataclass(frozen=True, slots=True)
class RollbackInput:
    """Hold REPORT's lines by key, the rollback report's lines kept, and what to say of them."""

    lines: dict[Key, ReportLine]
    #: Lines of the rollback's own report (and journal) kept as they are: numbers deleted.
    carried: list[ReportLine] = field(default_factory=list)
    #: Candidate rows naming the same number (or id) as an earlier one: its row.
    twins: dict[Key, int] = field(default_factory=dict)
    news: list[str] = field(default_factory=list)


def read_rollback_input(report: Path | GivenReport, output: Path | None) -> RollbackInput:
    """Read and check REPORT, then the rollback's own report at ``output``; refuse what cannot be
    rolled back (UsageError/InputError, exit 2).

    REPORT may be given in memory (a library call's DataFrame), and ``output`` None (a library
    call's report kept in memory): then there is no report of its own to read back.
    """
    if isinstance(report, Path):
        if output is not None and not is_stdout(output) and output.resolve() == report.resolve():
            raise UsageError(
                f"--report {output} is REPORT itself: a rollback never rewrites the report it "
                "undoes; choose another report path"
            )
        lines = read_report(report)
    else:
        lines = report.read()
    name = str(report) if isinstance(report, Path) else report.name
    _check(name, lines)
    by_key = {line.key: line for line in lines}
    counts = Counter(line.status for line in lines if line.status is not None)
    created = sum(n for status, n in counts.items() if status in CREATED)
    shown = ", ".join(f"{status} {n}" for status, n in counts.items() if status in CREATED)
    others = len(lines) - created
    news = [
        f"{name}: {created} numbers this run created ({shown or 'none'}) are checked"
        + (f"; {others} other rows are kept and never touched" if others else "")
    ]
    carried: list[ReportLine] = []
    if output is not None and not is_stdout(output):
        carried = _carried(name, by_key, output)
        if journal_path(output).exists():
            news.append(f"a killed rollback left {journal_path(output)}: its deleted rows are kept")
        if carried:
            n = len(carried)
            deleted = (
                "1 number deleted already is" if n == 1 else f"{n} numbers deleted already are"
            )
            news.append(f"{output}: {deleted} kept, not sent again")
    return RollbackInput(by_key, carried, _twins(lines), news)


def _check(report: str, lines: list[ReportLine]) -> None:
    """Refuse a REPORT there is nothing to undo in, or that does not say what to undo."""
    if not lines:
        raise InputError(f"{report} holds no row: nothing to undo")
    statuses = {line.status for line in lines}
    if Status.VALID in statuses:
        raise InputError(
            f"{report} is a validate report: validate imports nothing, so there is nothing to "
            "undo; roll back the report of bulk-import run"
        )
    if statuses & ROLLBACK_STATUSES:
        raise InputError(
            f"{report} is a rollback report: roll back the report of the run itself (bulk-import "
            "rollback RUN-REPORT, then --apply); its rollback report is read from there"
        )
    unnamed = [
        line
        for line in lines
        if line.status in CREATED
        and not unneutralise(line.cells["phone_number_id"])
        and not _is_e164(line.cells["number"])
    ]
    if unnamed:
        first = unnamed[0]
        also = f" ({len(unnamed)} rows like it)" if len(unnamed) > 1 else ""
        raise InputError(
            f"{report} row {first.cells['row'] or '?'} says {first.status} but names neither a "
            f"phone_number_id nor an E.164 number{also}: nothing says which number to undo; "
            "restore those cells from the run's report"
        )


def _is_e164(text: str) -> bool:
    return text.startswith("+") and text[1:].isdigit() and 2 < len(text) <= 16


def _carried(report: str, by_key: dict[Key, ReportLine], output: Path) -> list[ReportLine]:
    """Return the lines of the rollback's own report (journal over it) that stay as they are."""
    try:
        previous = recover(output)
    except InputError as exc:
        raise InputError(f"--report {output}: {exc}; name another --report") from None
    foreign = sorted({str(line.status) for line in previous if line.status not in WRITTEN})
    if foreign:
        raise InputError(
            f"--report {output} is a report of another command ({', '.join(foreign)}), not a "
            "rollback's: a rollback never replaces it; name another --report"
        )
    for line in previous:
        mine = by_key.get(line.key)
        if mine is None or mine.cells["number"] != line.cells["number"]:
            where = f"row {line.cells['row']}" if line.row is not None else "a row"
            theirs = "no such row" if mine is None else mine.cells["number"] or "no number"
            raise InputError(
                f"--report {output} is the rollback of another REPORT: its {where} is "
                f"{line.cells['number'] or 'no number'}, but {report} has {theirs} there; "
                "name another --report"
            )
    return [line for line in previous if line.status is Status.DELETED]


def _twins(lines: list[ReportLine]) -> dict[Key, int]:
    """Return the candidate rows that name a number (or id) an earlier candidate names."""
    first: dict[str, int] = {}
    twins: dict[Key, int] = {}
    for line in lines:
        if line.status not in CREATED or line.row is None:
            continue
        names = [
            name
            for name in ("id " + unneutralise(line.cells["phone_number_id"]), line.cells["number"])
            if name not in ("id ", "")
        ]
        earlier = next((first[name] for name in names if name in first), None)
        if earlier is not None:
            twins[line.key] = earlier
            continue
        for name in names:
            first[name] = line.row
    return twins
