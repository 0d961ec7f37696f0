"""The report and its journal: every row once, sorted, atomic, private, neutralised, recoverable."""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk_import.cells import neutralise, unneutralise
from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS, Outcome, Provider, Row, Status
from bulk_import.output.files import write_json
from bulk_import.output.recovery import has_journal, read_report, recover
from bulk_import.output.report import Journal, journal_path, outcome_cells
from bulk_import.output.workbook import write_workbook

WHEN = dt.datetime(2026, 11, 27, 5, 59, 15, tzinfo=dt.UTC)


def outcome(n: int, status: Status = Status.IMPORTED, **row: object) -> Outcome:
    fields: dict[str, object] = {
        "row_number": n,
        "input_number": f"415555{n:04d}",
        "number": f"+1415555{n:04d}",
        "label": f"line {n}",
        "provider": Provider(id="prov_1"),
        "agent_id": "agent_1",
    }
    fields.update(row)
    return Outcome(Row(**fields), status, 201, f"pn_{n}", 1, "", WHEN)  # type: ignore[arg-type]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_columns_and_cells_in_spec_order(tmp_path: Path) -> None:
    """The header is SPEC's column list and each cell renders as SPEC says."""
    path = tmp_path / "r.csv"
    writer = Journal(path)
    writer.write(outcome(2, provider=Provider(account_sid="AC1", region="ie1")))
    writer.publish()
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(REPORT_COLUMNS)
    assert lines[1] == (
        "2,4155550002,+14155550002,line 2,twilio:AC1:ie1,agent_1,imported,201,pn_2,1,,"
        "2026-11-27T05:59:15Z"
    )


def test_rows_sorted_by_row_at_close_and_extras_last(tmp_path: Path) -> None:
    """Rows finishing out of order are sorted by row at close; rows without a row go last."""
    path = tmp_path / "r.csv"
    writer = Journal(path)
    for n in (5, 2, 9, 3):
        writer.write(outcome(n))
    writer.write(outcome(0, Status.EXTRA, row_number=None))
    writer.write(outcome(4))
    writer.publish()
    assert [r["row"] for r in read_rows(path)] == ["2", "3", "4", "5", "9", ""]


def test_journal_is_readable_before_publishing_and_the_report_untouched(tmp_path: Path) -> None:
    """Each row is in the journal at once (flushed), as a crash would leave it; the report
    keeps its old text until the end, then is replaced whole and the journal goes."""
    path = tmp_path / "r.csv"
    path.write_text("the old report\n")
    writer = Journal(path)
    writer.write(outcome(7))
    writer.write(outcome(3))
    assert [line.row for line in read_report(journal_path(path))] == [3, 7]
    assert path.read_text() == "the old report\n"
    assert has_journal(path)
    writer.publish()
    writer.publish()  # publishing twice is harmless
    assert [r["row"] for r in read_rows(path)] == ["3", "7"]
    assert not has_journal(path)


def test_rows_in_order_are_published_by_one_rename(tmp_path: Path) -> None:
    """A journal already in row order becomes the report as it is (no copy)."""
    path = tmp_path / "r.csv"
    writer = Journal(path)
    for n in (2, 3, 4):
        writer.write(outcome(n))
    inode = journal_path(path).stat().st_ino
    writer.publish()
    assert path.stat().st_ino == inode
    assert [r["row"] for r in read_rows(path)] == ["2", "3", "4"]


def test_abandon_leaves_the_report_as_it_was(tmp_path: Path) -> None:
    """A command that did no work drops its journal; the report stays byte for byte."""
    path = tmp_path / "r.csv"
    path.write_text("the old report\n")
    writer = Journal(path, base=[outcome_cells(outcome(2))])
    writer.abandon()
    writer.abandon()
    assert path.read_text() == "the old report\n"
    assert not has_journal(path)


def test_recover_reads_the_report_with_a_killed_runs_journal_over_it(tmp_path: Path) -> None:
    """After a kill, the report holds the old state and the journal the new: recover merges."""
    path = tmp_path / "r.csv"
    first = Journal(path)
    for n in (2, 3, 4):
        first.write(outcome(n, Status.WEBHOOK_FAILED))
    first.write(outcome(0, Status.EXTRA, row_number=None, number="+14155559999"))
    first.publish()
    killed = Journal(path, base=[line.values() for line in read_report(path)])
    killed.write(outcome(3, Status.PATCHED))
    # (no publish: the process died here)
    state = recover(path)
    assert [(line.row, line.cells["status"]) for line in state] == [
        (2, "webhook_failed"),
        (3, "patched"),
        (4, "webhook_failed"),
        (None, "extra"),
    ]
    assert [line.row for line in recover(path, journal_only=True)] == [2, 3, 4, None]
    assert recover(tmp_path / "nothing.csv") == []


def test_a_new_journal_replaces_a_stale_one_and_stale_temporaries(tmp_path: Path) -> None:
    """Opening a journal starts it fresh (its base lines) and sweeps a killed run's temp files."""
    path = tmp_path / "r.csv"
    journal_path(path).write_text("stale\n")
    (tmp_path / ".r.csv.abc.tmp").write_text("half a report")
    writer = Journal(path, base=[outcome_cells(outcome(5))])
    assert [line.row for line in read_report(journal_path(path))] == [5]
    assert not (tmp_path / ".r.csv.abc.tmp").exists()
    writer.publish()
    assert [r["row"] for r in read_rows(path)] == ["5"]


def test_report_is_private(tmp_path: Path) -> None:
    """Report and JSON are created with mode 0600 even if an old file was world-readable."""
    path = tmp_path / "r.csv"
    path.write_text("old")
    path.chmod(0o644)
    writer = Journal(path)
    writer.write(outcome(3))
    writer.write(outcome(2))
    assert stat.S_IMODE(journal_path(path).stat().st_mode) == 0o600
    writer.publish()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    summary = tmp_path / "s.json"
    write_json(summary, {"a": 1})
    assert stat.S_IMODE(summary.stat().st_mode) == 0o600
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_base_rows_and_last_line_wins(tmp_path: Path) -> None:
    """Base lines come first; a row written again later replaces its base line."""
    path = tmp_path / "r.csv"
    base = [outcome_cells(outcome(2)), outcome_cells(outcome(4, Status.FAILED))]
    writer = Journal(path, base=base)
    writer.write(outcome(3))
    writer.write(outcome(4, Status.ALREADY_IMPORTED))
    writer.publish()
    rows = read_rows(path)
    assert [(r["row"], r["status"]) for r in rows] == [
        ("2", "imported"),
        ("3", "imported"),
        ("4", "already_imported"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_neutralise(text: str, expected: str) -> None:
    """Formula-looking cells get a leading quote, and unneutralise takes it off again."""
    assert neutralise(text) == expected
    assert unneutralise(neutralise(text)) == text


def test_number_keeps_its_plus_other_columns_neutralised(tmp_path: Path) -> None:
    """The number column keeps "+"; label, agent and error cells are neutralised."""
    cells = outcome_cells(outcome(2, label="=cmd()", agent_id="@a", input_number="+1 415"))
    assert cells[2] == "+14155550002"
    assert cells[1] == "'+1 415"
    assert cells[3] == "'=cmd()"
    assert cells[5] == "'@a"
    weird = outcome_cells(outcome(2, number="=x"))
    assert weird[2] == "'=x"


def test_read_report_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    """A line cut short by SIGKILL is dropped; unknown statuses and short lines too."""
    path = tmp_path / "r.csv"
    writer = Journal(path)
    writer.write(outcome(2))
    writer.write(outcome(3))
    writer.publish()
    text = path.read_text()
    text += (
        "4,1,+1,l,p,a,bogus,,,,,\r\n5,1,+1\r\n6,4155550006,+14155550006,line 6,prov_1,agent_1,impo"
    )
    path.write_text(text)
    assert [line.row for line in read_report(path)] == [2, 3]


def test_a_strict_read_refuses_every_line_it_would_drop(tmp_path: Path) -> None:
    """read_report(strict=True) names the line of each thing the tolerant read drops (a line
    of the wrong width, an unknown status, a row seen twice, a last line cut short), and
    skips only blank lines; the tolerant read of the same files is as it was."""
    path = tmp_path / "r.csv"
    writer = Journal(path)
    writer.write(outcome(2))
    writer.write(outcome(3))
    writer.publish()
    whole = path.read_text()
    cases = {
        "4,1,+1,l,p,a,bogus,,,,,\r\n": "line 4 has status 'bogus', which is not a status",
        "5,1,+1\r\n": "line 4 has 3 cells, not the report's 12",
        whole.splitlines()[1] + "\r\n": "line 4: row 2 is on line 2 already",
        "6,4155550006,+14155550006,line 6,prov_1,agent_1,impo": "line 4 is cut short",
        "6,1,+1,l,p,a,imported,201,pn_6,1,,2026-11-27T05:59": "line 4 is cut short",
    }
    for extra, expected in cases.items():
        path.write_text(whole + extra)
        with pytest.raises(InputError) as refused:
            read_report(path, strict=True)
        assert str(refused.value).startswith(f"{path} {expected}"), refused.value
        assert [line.row for line in read_report(path)] == [2, 3]
    # A last line whole but for its line end (an editor's save), and blank lines: all read.
    last = "6,1,+1,l,p,a,imported,201,pn_6,1,,2026-11-27T05:59:15Z"
    path.write_text(whole + "\r\n,,,,,,,,,,,\r\n" + last)
    assert [line.row for line in read_report(path, strict=True)] == [2, 3, 6]
    for extra, expected in (
        ("7,1,+7,l,p,a,extra,,,0,,x", "row 7 is on line 4 already"),
        (",1,+8,l,p,a,extra,,,0,,x", r"\+8 \(with no row\) is on line 4 already"),
    ):
        path.write_text(whole + f"{extra}\r\n{extra}\r\n")
        with pytest.raises(InputError, match=f"line 5: {expected}"):
            read_report(path, strict=True)


def test_a_runaway_quote_is_an_input_error_naming_the_line_it_opened_on(tmp_path: Path) -> None:
    """A `"` never closed on line 4, the rest of the file past csv's field limit: strict or not,
    one InputError naming line 4 (never csv.Error, an internal error)."""
    lines = [",".join(REPORT_COLUMNS)]
    for i in range(3000):
        label = ('"' if i == 2 else "") + f"line {i}"
        lines.append(f"{i + 2},+1415{i:07d},+1415{i:07d},{label},p,,imported,201,,1,,")
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    for strict in (True, False):
        with pytest.raises(InputError) as caught:
            read_report(path, strict=strict)
        said = str(caught.value)
        assert said.startswith(f"cannot read {path} (stopped at line ")
        assert "field larger than field limit" in said
        assert "look for a quote that is opened and never closed, on line 4: fix that line" in said


def test_a_strict_read_of_a_workbook_counts_its_data_lines(tmp_path: Path) -> None:
    """A workbook REPORT with a row twice is refused naming its data lines."""
    rows = tmp_path / "rows.csv"
    writer = Journal(rows)
    writer.write(outcome(2))
    writer.write(outcome(3))
    writer.publish()
    rows.write_text(rows.read_text() + rows.read_text().splitlines()[1] + "\r\n")
    book = tmp_path / "r.xlsx"
    write_workbook(book, report_csv=rows, summary={"counts": {}})
    with pytest.raises(InputError, match=r"r\.xlsx data line 3: row 2 is on data line 1 already"):
        read_report(book, strict=True)
    assert [line.row for line in read_report(book)] == [2, 3]


def test_read_report_errors(tmp_path: Path) -> None:
    """A missing file or a file that is not a report is one clear InputError."""
    with pytest.raises(InputError, match="does not exist"):
        read_report(tmp_path / "nope.csv")
    other = tmp_path / "other.csv"
    other.write_text("number,label\n+1,x\n")
    with pytest.raises(InputError, match="is not a bulk-import report"):
        read_report(other)
    with pytest.raises(InputError, match="cannot read report"):
        read_report(tmp_path)


@settings(max_examples=30, deadline=None)
@given(st.permutations(list(range(2, 40))), st.text(max_size=20))
def test_every_row_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], label: str
) -> None:
    """Whatever order rows finish in and whatever their text, each appears once, sorted."""
    path = tmp_path_factory.mktemp("rep") / "r.csv"
    writer = Journal(path)
    for n in order:
        writer.write(outcome(n, label=label))
    writer.publish()
    lines = read_report(path)
    assert [line.row for line in lines] == sorted(order)
    if not label.startswith("'"):
        assert {unneutralise(line.cells["label"]) for line in lines} == {label}
