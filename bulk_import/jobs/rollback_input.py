"""Read what a rollback works on: REPORT, checked, and what its own report already holds.

Every reason to refuse REPORT is found here, before anything is sent or written (exit 2, one
line): a REPORT another command is still writing, or beside which a killed command left its
journal (half-written either way), a journal named as REPORT, a file that is not a report of
this tool, a line of it that cannot be read whole
(:func:`read_report`'s ``strict`` read: no line is dropped), a report with no row, a
``validate`` report (nothing was imported), a rollback report (roll back the run's own report
instead), a row that says the run created a number but names neither its id nor its E.164
number.

A candidate row whose id or number another line of REPORT also names is never touched: the
same as a line that says the number was there before the run (``already_imported``, ...), or
the same as an earlier candidate (its twin: one DELETE is enough).

The rollback's own report (``--report``) and the journal a killed rollback left beside it are
read back: a ``deleted`` line is kept as it is, and never sent again, while REPORT still shows
that row's number as this run's (a candidate, the same id, not finished after it). A ``deleted``
line whose REPORT row names no id is only a claim: that ``--report`` may be the rollback of
another account's run of the same input (a rehearsal), so the job looks the number up first
and keeps the line only when this account does not hold the number. Every other row is checked
again. A ``--report`` that holds another command's report, or the rollback of
another REPORT, is refused rather than replaced.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bulk_import.cells import unneutralise
from bulk_import.errors import InputError, UsageError
from bulk_import.models import CREATED, Status
from bulk_import.output.files import is_stdout
from bulk_import.output.lock import refuse_if_held
from bulk_import.output.recovery import GivenReport, ReportLine, read_report, recover
from bulk_import.output.report import journal_path

Key = int | str
#: The statuses only a rollback writes.
ROLLBACK_STATUSES = frozenset(
    {Status.WOULD_DELETE, Status.DELETED, Status.KEPT, Status.DELETE_FAILED}
)
#: Every status a rollback's report may hold (a plan's failed look-up, a stop's not_attempted).
WRITTEN = ROLLBACK_STATUSES | {Status.FAILED, Status.NOT_ATTEMPTED}
#: Rows whose number was in the account before the run: never deleted, whatever happens.
THERE_BEFORE = frozenset(
    {
        Status.ALREADY_IMPORTED,
        Status.AGENT_FIXED,
        Status.AGENT_MISMATCH,
        Status.IN_SYNC,
        Status.EXTRA,
    }
)


@dataclass(frozen=True, slots=True)
class RollbackInput:
    """Hold REPORT's lines by key, the rollback report's lines kept, and what to say of them."""

    lines: dict[Key, ReportLine]
    #: Lines of the rollback's own report (and journal) kept as they are: numbers deleted.
    carried: list[ReportLine] = field(default_factory=list)
    #: Its ``deleted`` lines whose REPORT row names no id, by key: kept only once the number is
    #: looked up (``q=``) and not in the account; else the row is checked as a candidate.
    confirm: dict[Key, ReportLine] = field(default_factory=dict)
    #: Candidate rows never touched, and why: another line of REPORT names their number or id.
    spared: dict[Key, str] = field(default_factory=dict)
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
        _check_whole(report)
        lines = read_report(report, strict=True)
    else:
        lines = report.read(strict=True)
    name = str(report) if isinstance(report, Path) else report.name
    _check(name, lines)
    by_key = _by_key(name, lines)
    spared = _spared(lines)
    counts = Counter(line.status for line in lines if line.status is not None)
    created = sum(n for status, n in counts.items() if status in CREATED)
    shown = ", ".join(f"{status} {n}" for status, n in counts.items() if status in CREATED)
    others = len(lines) - created
    news = [
        f"{name}: {created} numbers this run created ({shown or 'none'}) are checked"
        + (f"; {others} other rows are kept and never touched" if others else "")
    ]
    carried: list[ReportLine] = []
    confirm: dict[Key, ReportLine] = {}
    stale = 0
    if output is not None and not is_stdout(output):
        carried, confirm, stale = _carried(name, by_key, output, spared)
        if journal_path(output).exists():
            news.append(f"a killed rollback left {journal_path(output)}: its deleted rows are kept")
        if carried:
            n = len(carried)
            deleted = (
                "1 number deleted already is" if n == 1 else f"{n} numbers deleted already are"
            )
            news.append(f"{output}: {deleted} kept, not sent again")
        if confirm:
            n = len(confirm)
            news.append(
                f"{output}: {n} deleted rows with no id in REPORT are looked up (q=) first: "
                "kept as deleted only when the number is not in this account"
            )
        if stale:
            news.append(
                f"{output}: {stale} of its deleted rows no longer match REPORT (another id, or "
                "a row REPORT finished later): those rows are done again"
            )
    return RollbackInput(by_key, carried, confirm, spared, news)


def line_key(line: ReportLine) -> Key:
    """Return what identifies a line to the rollback: its row, else its number as the row
    rebuilt from it holds it (the ``'`` a cell may carry taken off), so that a line and the
    outcome of its row always meet."""
    row = line.row
    return row if row is not None else "extra " + unneutralise(line.cells["number"])


def _by_key(report: str, lines: list[ReportLine]) -> dict[Key, ReportLine]:
    """Return REPORT's lines by :func:`line_key`; refuse two lines with no row that one key
    names (``=1`` and ``'=1``): the rollback could not tell their outcomes apart."""
    by_key: dict[Key, ReportLine] = {}
    for line in lines:
        key = line_key(line)
        if key in by_key:
            raise InputError(
                f"{report} has two lines with no row number for {str(key)[6:] or 'no number'}: "
                "a rollback reads every line once; give each its row number, or remove one"
            )
        by_key[key] = line
    return by_key


def _check_whole(report: Path) -> None:
    """Refuse a REPORT that is not whole yet: being written, or left half-done by a kill."""
    if report.name.endswith(".journal"):
        raise InputError(
            f"{report} is a journal, not a report: run the command that left it again to finish "
            "its report, then roll back that report"
        )
    refuse_if_held(report, reading="REPORT")  # another command's, still being written
    journal = journal_path(report)
    if journal.exists():
        raise InputError(
            f"a killed command left {journal}: REPORT {report} does not hold its last rows yet; "
            "run that command again to finish its work, then roll back"
        )


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


def _carried(
    report: str, by_key: dict[Key, ReportLine], output: Path, spared: dict[Key, str]
) -> tuple[list[ReportLine], dict[Key, ReportLine], int]:
    """Return the lines of the rollback's own report (journal over it) that stay as they are,
    those to confirm first (their REPORT row names no id), and how many of its ``deleted``
    lines are stale (their rows are checked again)."""
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
        mine = by_key.get(line_key(line))
        if mine is None or mine.cells["number"] != line.cells["number"]:
            where = f"row {line.cells['row']}" if line.row is not None else "a row"
            theirs = "no such row" if mine is None else mine.cells["number"] or "no number"
            raise InputError(
                f"--report {output} is the rollback of another REPORT: its {where} is "
                f"{line.cells['number'] or 'no number'}, but {report} has {theirs} there; "
                "name another --report"
            )
    deleted = [line for line in previous if line.status is Status.DELETED]
    same = [
        line
        for line in deleted
        if (mine := by_key[line_key(line)]).status in CREATED
        and line_key(line) not in spared
        and _same_deletion(mine, line)
    ]
    # REPORT's id vouches for the line; without one, only the account can (the job asks it).
    carried = [line for line in same if _named_id(by_key[line_key(line)])]
    confirm = {line_key(line): line for line in same if not _named_id(by_key[line_key(line)])}
    return carried, confirm, len(deleted) - len(same)


def _named_id(line: ReportLine) -> str:
    return unneutralise(line.cells["phone_number_id"])


def _same_deletion(mine: ReportLine, done: ReportLine) -> bool:
    """Say whether a rollback's ``deleted`` line is about the number REPORT's line names now.

    It is not when REPORT gives another id (the same input run again since: new ids), or when
    REPORT's line finished after it (a run since, whose number has no id in REPORT). Then the
    row is checked again: a GET, and a number gone already is ``deleted`` without a DELETE;
    cheaper for a person than a refusal, and as safe.
    """
    number_id = _named_id(mine)
    if number_id and number_id != _named_id(done):
        return False
    ran, undone = (parse_time(line.cells["finished_at"]) for line in (mine, done))
    return ran is None or undone is None or ran <= undone


def parse_time(text: str) -> dt.datetime | None:
    """Return a report's or the API's UTC time (ISO-8601), or None when it is not one."""
    try:
        moment = dt.datetime.fromisoformat(unneutralise(text).strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def number_key(text: str) -> str:
    """Return a number cell as E.164 for comparing: ``14155550100`` (a spreadsheet took the
    ``+`` off) is ``+14155550100``; a cell that is not digits stays as it is."""
    bare = unneutralise(text).strip()
    digits = bare[1:] if bare.startswith("+") else bare
    return "+" + digits if digits.isdigit() else bare


def _where(line: ReportLine) -> str:
    """Name a REPORT line for a person: ``row 7``, or ``the extra line of +1...``."""
    if line.row is not None:
        return f"row {line.row}"
    return f"the {line.cells['status']} line of {line.cells['number'] or 'no number'}"


def _names(line: ReportLine) -> list[tuple[str, str]]:
    """Return what a line names a number by: ``("id", ...)`` and ``("number", ...)``."""
    number_id = unneutralise(line.cells["phone_number_id"]).strip()
    number = number_key(line.cells["number"])
    return [(kind, name) for kind, name in (("id", number_id), ("number", number)) if name]


def _spared(lines: list[ReportLine]) -> dict[Key, str]:
    """Return the candidate rows never touched, and why: a line that says their number (or
    id) was there before the run names it too, or an earlier candidate does (a twin)."""
    before: dict[tuple[str, str], ReportLine] = {}
    for line in lines:
        if line.status in THERE_BEFORE:
            for name in _names(line):
                before.setdefault(name, line)
    first: dict[tuple[str, str], ReportLine] = {}
    spared: dict[Key, str] = {}
    for line in lines:
        if line.status not in CREATED:
            continue
        names = _names(line)
        there = next((before[name] for name in names if name in before), None)
        if there is not None:
            spared[line_key(line)] = (
                f"REPORT {_where(there)} says it was there before the run ({there.status}); "
                "never deleted"
            )
            continue
        twin = next((name for name in names if name in first), None)
        if twin is not None:
            spared[line_key(line)] = (
                f"the same {twin[0]} as {_where(first[twin])}, which this rollback handles"
            )
            continue
        for name in names:
            first[name] = line
    return spared
