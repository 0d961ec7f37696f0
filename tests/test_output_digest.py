"""Reading what a report holds in one pass: statuses, final refusals, invalid reasons, kinds."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.digest import read_digest, report_kind, shown_counts
from bulk_import.output.workbook import write_workbook

LINES = [
    ["2", "1", "", "", "", "", "invalid", "", "", "0", "'=no provider", ""],
    ["3", "2", "+14155550100", "", "p", "", "failed", "400", "", "1", "not in account", ""],
    ["4", "3", "+14155550101", "", "p", "", "failed", "429", "", "6", "rate limited", ""],
    ["5", "4", "+14155550102", "", "p", "", "failed", "", "", "6", "ReadTimeout", ""],
    ["6", "5", "+14155550103", "", "p", "", "not_attempted", "", "", "0", "stopped", ""],
    ["7", "6", "+14155550104", "", "p", "", "imported", "201", "pn_1", "1", "", ""],
]


def write(path: Path, lines: list[list[str]], *, cut: str = "") -> Path:
    """Write a CSV report of ``lines``, and ``cut`` (half a line a crash left) at the end."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow(REPORT_COLUMNS)
        out.writerows(lines)
        handle.write(cut)
    return path


def test_a_report_is_read_in_one_pass_with_its_refusals_and_reasons(tmp_path: Path) -> None:
    """Statuses are counted; only a final 4xx is a refusal; reasons lose the formula mark."""
    found = read_digest(write(tmp_path / "r.csv", LINES, cut="8,7,+1415"))
    assert found is not None
    assert found.statuses == Counter(failed=3, invalid=1, not_attempted=1, imported=1)
    assert found.refused == Counter(failed=1)  # the 400; not the 429, not the timeout
    assert found.reasons == Counter({"=no provider": 1})
    assert found.unsent == Counter(stopped=1)


def test_a_workbook_report_reads_as_its_csv(tmp_path: Path) -> None:
    """An .xlsx report gives the same digest as the CSV it was written from."""
    report = write(tmp_path / "r.csv", LINES)
    write_workbook(tmp_path / "r.xlsx", report_csv=report, summary={})
    assert read_digest(tmp_path / "r.xlsx") == read_digest(report)


def test_no_report_reads_as_none(tmp_path: Path) -> None:
    """A missing file, a folder, or a file that is not a report: None, never an exception."""
    (tmp_path / "other.csv").write_text("number,label\n+14155550100,a\n")
    (tmp_path / "bad.xlsx").write_bytes(b"not a workbook")
    for name in ("missing.csv", ".", "other.csv", "bad.xlsx"):
        assert read_digest(tmp_path / name) is None, name


def test_a_changed_report_is_read_again(tmp_path: Path) -> None:
    """The digest follows the file: a rewritten report is not served from the cache."""
    report = write(tmp_path / "r.csv", LINES[:1])
    first = read_digest(report)
    assert first is not None
    assert first.statuses == Counter(invalid=1)
    write(report, LINES)
    again = read_digest(report)
    assert again is not None
    assert again.statuses.total() == 6


def test_report_kinds_and_counts_are_named() -> None:
    """Each command's statuses name its report; counts read commonest first, the rest summed."""
    assert report_kind(Counter(valid=3, invalid=1)) == "a validate report"
    assert report_kind(Counter(invalid=2, duplicate=1)) == "a report of rows never sent"
    assert report_kind(Counter(in_sync=3, extra=1)) == "a reconcile report"
    assert report_kind(Counter(deleted=3, kept=1)) == "a rollback report"
    assert report_kind(Counter(patched=3, imported=1)) == "a retry-patch report"
    assert report_kind(Counter(imported=3, webhook_failed=1)) == "a run report"
    many = Counter(a=5, b=4, c=3, d=2, e=1, f=1)
    assert shown_counts(many) == "5 a, 4 b, 3 c, 2 d, 2 more"
