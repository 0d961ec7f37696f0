"""A disk that will not take the writes: full, read-only, failing. The run stops cleanly.

SPEC "One command at a time, and the disk": a journal or report that cannot be written stops
the run at once (nothing more sent, exit 3, one line naming the path and the cause), every row
finished before is in the journal, the rows that could not be written are printed on stderr,
and once space is freed the same command finishes the work without sending again what was
recorded. A folder that cannot be written is found before the first request (exit 2).

The real thing first: a tmpfs too small for the journal (``mount -t tmpfs -o size=256k``; these
tests need root and skip, saying so, without it), and a read-only mount. Then each write of the
tool made to fail in-process (the journal's append, its fsync, the report's rename, its sorted
copy, the workbook, the summary JSON, the run page), every one leaving no temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    api_options,
    cli,
    cli_env,
    finish,
    numbers,
    output_options,
    print_figures,
    read_report,
    start_cli,
    statuses,
    write_input,
)

from bulk_import.config import InputOptions
from bulk_import.errors import UsageError, WriteError
from bulk_import.jobs.importing import run as run_job
from bulk_import.models import Outcome, Provider, Row, Status, Summary
from bulk_import.output import files
from bulk_import.output import report as report_module
from bulk_import.output.report import Journal, journal_path
from bulk_import.sandbox import Faults, RunningSandbox

DONE = frozenset({"imported", "already_imported"})
AGAIN = "then run the same command again: it keeps the rows in the journal and finishes the work"


# -- mounts ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``path`` for the block; skip the test when that is refused."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: run the suite as root to test a real full disk")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def remount(path: Path, options: str) -> None:
    """Change a mounted tmpfs's options (``size=16m``, ``ro``, ``rw``)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def shown_rows(err: str) -> list[list[str]]:
    """Return the rows printed after the 'could not be written' line (row,number,status,id)."""
    lines = err.splitlines()
    for i, line in enumerate(lines):
        if "rows finished but could not be written to" in line:
            assert lines[i + 1] == "row,number,status,phone_number_id"
            rows = []
            for text in lines[i + 2 :]:
                cells = text.split(",")
                if len(cells) != 4 or not cells[0].isdigit():
                    break
                rows.append(cells)
            return rows
    return []


def leftovers(folder: Path) -> list[str]:
    """Return the temporary and lock files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


# -- a real full disk -----------------------------------------------------------------------------


def test_a_disk_too_small_for_the_journal_stops_the_run_then_the_same_command_finishes(
    tmp_path: Path,
) -> None:
    """5,000 rows, a 256 KB tmpfs under --report: exit 3 naming the journal and the cause,
    nothing sent after the stop but what was in flight, every stored number either in the
    journal or printed on stderr with its id; after the disk grows, the same command finishes
    with every row once and no number the journal held POSTed again."""
    rows = 5_000
    given = numbers(rows)
    write_input(tmp_path / "in.csv", given)
    with (
        tmpfs(tmp_path / "disk", "256k") as disk,
        RunningSandbox(faults=Faults(latency_ms=1)) as api,
    ):
        report = disk / "in.report.csv"
        args = (
            *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress", "--quiet"),
            *("--concurrency", "16", "--report", str(report), "--summary-json", "s.json"),
        )
        env = cli_env(api.base_url, measured=False)
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        stored = api.state.numbers
        posts_then = api.state.post_counts
        journal = journal_path(report)
        raw = journal.read_bytes()
        journaled = read_report(journal)
        left_then = leftovers(disk)
        summary = json.loads((tmp_path / "s.json").read_text())
        remount(disk, "size=16m")
        again, _, again_err = finish(start_cli(*args, env=env, cwd=tmp_path))
        stats = api.state.stats(detail=True)
        final = read_report(report)
        left_after = leftovers(disk)
    assert code == 3, err
    stop = f"cannot write {journal}: No space left on device; free space on its disk, {AGAIN}"
    assert err.splitlines()[-1] == (
        f"bulk-import run in.csv: exit 3: stopped early: {stop} (no report written; journal "
        f"{journal} kept)"
    )
    assert (summary["exit_code"], summary["stopped"], summary["journal"]) == (3, stop, str(journal))
    assert raw.endswith(b"\r\n"), "a torn line was left in the journal"
    assert not report.exists()
    assert left_then == []
    # Nothing imported is recorded nowhere: each stored number is in the journal or on stderr.
    done = {line["number"]: line["phone_number_id"] for line in journaled if line["status"] in DONE}
    shown = {number: number_id for _, number, status, number_id in shown_rows(err)}
    assert set(stored) == set(done) | set(shown)
    assert all(stored[n]["id"] == shown[n] for n in shown)
    # Nothing sent after the stop but what was in flight (at most --concurrency).
    assert len(stored) - len(done) <= 16
    # After the disk grew: every row once, nothing the journal held sent again.
    assert again == 0, again_err
    assert [int(line["row"]) for line in final] == list(range(2, rows + 2))
    assert set(statuses(final)) <= DONE
    posts = stats["posts_by_number"]
    resent = [n for n in done if posts[n] != posts_then[n]]
    assert not resent, f"numbers the journal held were POSTed again: {resent[:5]}"
    assert stats["stored"] == rows
    assert left_after == []
    assert not journal.exists()
    print_figures(
        "disk-full-journal",
        rows=rows,
        tmpfs="256k",
        journal_rows_at_stop=len(journaled),
        journal_bytes=len(raw),
        stored_at_stop=len(stored),
        shown_on_stderr=len(shown),
        rerun_posts=sum(posts.values()) - sum(posts_then.values()),
        max_posts_per_number=max(posts.values()),
        report_rows=len(final),
        by_status=dict(statuses(final)),
    )


def test_a_disk_full_for_the_sorted_report_keeps_the_journal_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    """The journal fits but its sorted copy does not: exit 3 naming the report, the journal
    kept whole, no temporary file left (the issue's 434 KB .tmp, one more on each rerun);
    after the disk grows, the same command publishes it without one POST."""
    rows = 2_000
    given = numbers(rows)
    write_input(tmp_path / "in.csv", given)
    # 16 workers and 0-4 ms answers: rows finish out of order, so publishing needs a copy.
    # Its journal is about 190 KB: it fits in 256 KB, but not twice.
    faults = Faults(latency_ms=1, latency_jitter_ms=3)
    with tmpfs(tmp_path / "disk", "256k") as disk, RunningSandbox(faults=faults) as api:
        report = disk / "in.report.csv"
        args = (
            *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress", "--quiet"),
            *("--concurrency", "16", "--report", str(report)),
        )
        env = cli_env(api.base_url, measured=False)
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        journaled = read_report(journal_path(report))
        left_then = leftovers(disk)
        posts_then = sum(api.state.post_counts.values())
        remount(disk, "size=16m")
        again, _, again_err = finish(start_cli(*args, env=env, cwd=tmp_path))
        posts = sum(api.state.post_counts.values())
        final = read_report(report)
        left_after = leftovers(disk)
    assert code == 3, err
    assert f"stopped early: cannot write {report}: No space left on device; free space" in err
    assert len(journaled) == rows
    assert not report.exists() or final
    assert left_then == []
    assert again == 0, again_err
    assert posts == posts_then == rows
    assert statuses(final) == {"imported": rows}
    assert left_after == []
    print_figures(
        "disk-full-publish",
        rows=rows,
        tmpfs="256k",
        journal_rows_kept=len(journaled),
        rerun_posts=posts - posts_then,
        report_rows=len(final),
    )


def test_a_read_only_report_folder_is_refused_before_any_request(tmp_path: Path) -> None:
    """A report on a read-only mount: exit 2 before the first request, one line with the fix;
    the old report is untouched and nothing is left beside it. The same for the summary JSON."""
    write_input(tmp_path / "in.csv", numbers(20))
    with tmpfs(tmp_path / "disk", "64k") as disk, RunningSandbox() as api:
        report = disk / "in.report.csv"
        report.write_text("last week's report\n")
        remount(disk, "ro")
        base = ("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress")
        env = cli_env(api.base_url)
        code, _, err = finish(start_cli(*base, "--report", str(report), env=env, cwd=tmp_path))
        summary_code, _, summary_err = finish(
            start_cli(*base, "--summary-json", str(disk / "s.json"), env=env, cwd=tmp_path)
        )
        requests = api.state.stats()["requests"]
        assert report.read_text() == "last week's report\n"
        assert sorted(p.name for p in disk.iterdir()) == ["in.report.csv"]
        remount(disk, "rw")
    assert code == 2
    assert err == (
        f"bulk-import: error: cannot write the report's folder {disk}: Read-only file system; "
        "its file system is read-only: make it writable, or pass another --report\n"
    )
    assert summary_code == 2
    assert summary_err == (
        f"bulk-import: error: cannot write the summary JSON {disk / 's.json'}: Read-only file "
        "system; its file system is read-only: make it writable, or pass another path\n"
    )
    assert requests == 0
    assert not (tmp_path / "in.report.csv").exists()


def test_a_folder_this_user_cannot_write_is_refused_before_any_request(tmp_path: Path) -> None:
    """A report folder of mode 0555 (as a user other than root): exit 2, nothing sent."""
    if os.geteuid() == 0:
        pytest.skip("root writes a 0555 folder anyway: the read-only mount test covers it")
    write_input(tmp_path / "in.csv", numbers(5))
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    try:
        with RunningSandbox() as api:
            code, _, err = finish(
                start_cli(
                    *("run", "in.csv", "--provider-id", "prov_sandbox"),
                    *("--report", str(folder / "r.csv")),
                    env=cli_env(api.base_url),
                    cwd=tmp_path,
                )
            )
            requests = api.state.stats()["requests"]
    finally:
        folder.chmod(0o755)
    assert code == 2
    assert err == (
        f"bulk-import: error: cannot write the report's folder {folder}: Permission denied; "
        "let this user write to its folder, or pass another --report\n"
    )
    assert requests == 0


# -- each write made to fail, in-process ---------------------------------------------------------


class ImportRun:
    """Import one input in-process against one sandbox, into one report."""

    def __init__(self, sandbox: RunningSandbox, tmp_path: Path, rows: int) -> None:
        self.sandbox = sandbox
        self.folder = tmp_path
        self.given = numbers(rows)
        self.source = write_input(tmp_path / "in.csv", self.given)
        self.report = tmp_path / "in.report.csv"

    def __call__(self, **output: Any) -> Summary:
        """Run the import (``output``: output options); return its summary."""
        return run_job(
            source=str(self.source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(self.sandbox.base_url, concurrency=4),
            output=output_options(output.pop("report", self.report), **output),
        )

    def leftovers(self) -> list[str]:
        """Return the temporary and lock files left in the folder."""
        return leftovers(self.folder)


@pytest.fixture
def importer(tmp_path: Path) -> Iterator[ImportRun]:
    """Return an in-process importer of 300 rows against a 2 ms sandbox."""
    with RunningSandbox(faults=Faults(latency_ms=2)) as sandbox:
        yield ImportRun(sandbox, tmp_path, 300)


def failing_writes(after: int, code: int) -> Callable[[int, bytes | bytearray], None]:
    """Return a ``write_all`` that writes ``after`` times, then half a line and fails."""
    real = files.write_all
    calls = 0

    def write_all(fd: int, data: bytes | bytearray) -> None:
        nonlocal calls
        calls += 1
        if calls > after:
            os.write(fd, bytes(data[: len(data) // 2]))  # what a disk filling up lets through
            raise OSError(code, os.strerror(code))
        real(fd, data)

    return write_all


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_journal_write_that_fails_stops_and_the_same_command_finishes(
    importer: ImportRun,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
) -> None:
    """The 41st journal write fails after half a line: exit 3 naming the journal and the cause;
    the journal is cut back to its 40 whole lines; rows that finished after are printed with
    their ids; the same command then finishes, re-sending none of the 40."""
    monkeypatch.setattr(report_module, "write_all", failing_writes(40, code))
    summary = importer()
    journal = journal_path(importer.report)
    assert summary.exit_code == 3
    reason = os.strerror(code)
    assert summary.stopped.startswith(f"cannot write {journal}: {reason}; ")
    assert summary.stopped.endswith(AGAIN)
    assert summary.journal == str(journal)
    raw = journal.read_bytes()
    assert raw.endswith(b"\r\n")
    kept = read_report(journal)
    assert len(kept) == 40
    err = capsys.readouterr().err
    shown = shown_rows(err)
    stored = importer.sandbox.state.numbers
    kept_numbers = {line["number"] for line in kept}
    assert set(stored) == kept_numbers | {number for _, number, _, _ in shown}
    assert all(stored[number]["id"] == number_id for _, number, _, number_id in shown)
    assert not importer.report.exists()
    assert importer.leftovers() == []
    monkeypatch.undo()
    posts = importer.sandbox.state.post_counts
    again = importer()
    assert again.exit_code == 0
    lines = read_report(importer.report)
    assert [line["number"] for line in lines] == importer.given
    assert all(importer.sandbox.state.post_counts[n] == posts[n] for n in kept_numbers)
    assert statuses(lines)["already_imported"] == len(shown)


def test_a_failed_fsync_cuts_the_journal_back_to_what_was_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync that fails (EIO) loses what it should have made durable: the journal is cut
    back to the last good fsync, and the lines cut off become the unwritten rows."""
    monkeypatch.setattr(report_module, "SYNC_EVERY_S", 0.0)
    journal = Journal(tmp_path / "r.csv")
    journal.write(outcome(2))
    journal.write(outcome(3))
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".journal"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(WriteError, match=r"Input/output error; check the disk, then run the"):
        journal.write(outcome(4))
    journal.write(outcome(5))
    journal.keep()
    assert [line["row"] for line in read_report(journal.path)] == ["2", "3"]
    assert [cells[0] for cells in journal.unwritten] == ["4", "5"]


def outcome(row: int) -> Outcome:
    """Return an imported outcome for ``row``."""
    number = numbers(1, start=row)[0]
    return Outcome(
        Row(row, number, number, f"label {row}", Provider(id="prov_sandbox")),
        Status.IMPORTED,
        201,
        f"pn_{row}",
        1,
    )


@pytest.mark.parametrize("order", [(2, 3, 4), (4, 2, 3)], ids=["rename", "sorted-copy"])
def test_a_report_that_cannot_be_published_keeps_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: tuple[int, ...]
) -> None:
    """Publishing by rename (rows in order) or by a sorted copy fails: WriteError naming the
    report; the journal stays whole, the old report as it was, no temporary file."""
    path = tmp_path / "r.csv"
    path.write_text("the old report\n")
    journal = Journal(path)
    for row in order:
        journal.write(outcome(row))

    def refuse(*_: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError) as failed:
        journal.publish()
    assert str(failed.value) == (
        f"cannot write {path}: Read-only file system; its file system is read-only: make it "
        f"writable, {AGAIN}"
    )
    assert path.read_text() == "the old report\n"
    assert [line["row"] for line in read_report(journal.path)] == [str(r) for r in order]
    assert leftovers(tmp_path) == []


def failing_replacement(code: int) -> Callable[..., None]:
    """Return a ``replace_with`` that fails as a full (or read-only) disk would."""

    def replace_with(tmp: Any, tmp_path: Path, path: Path) -> None:
        raise OSError(code, os.strerror(code))

    return replace_with


@pytest.mark.parametrize(
    ("what", "option"),
    [("summary JSON", "summary_json"), ("run page", "html"), ("workbook", "report")],
)
def test_a_summary_page_or_workbook_that_cannot_be_written_is_exit_3_and_leaves_nothing(
    importer: ImportRun, monkeypatch: pytest.MonkeyPatch, what: str, option: str
) -> None:
    """The summary JSON, the run page or the .xlsx workbook cannot be written (EACCES): exit
    3 naming it, no temporary file left; a workbook's journal is kept and the same command
    publishes it without sending anything again."""
    target = importer.folder / {"summary_json": "s.json", "html": "run.html"}.get(option, "r.xlsx")
    monkeypatch.setattr(files, "replace_with", failing_replacement(errno.EACCES))
    summary = importer(**{option: target})
    assert summary.exit_code == 3
    assert summary.stopped.startswith(f"cannot write the {what} {target}: Permission denied; ")
    assert not target.exists()
    assert importer.leftovers() == []
    if option != "report":
        assert statuses(read_report(importer.report)) == {"imported": 300}
        return
    assert summary.journal == str(journal_path(target))
    monkeypatch.undo()
    posts = sum(importer.sandbox.state.post_counts.values())
    again = importer(report=target)
    assert again.exit_code == 0
    assert again.counts == {"imported": 300}
    assert sum(importer.sandbox.state.post_counts.values()) == posts
    assert target.exists()
    assert importer.leftovers() == []


def test_a_workbook_whose_zip_cannot_be_written_leaves_none_of_its_parts(
    importer: ImportRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XlsxWriter's parts (a temporary file each) are gone when its zip fails on a full disk;
    the run is exit 3 with the journal kept."""
    scratch = importer.folder / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(zipfile.ZipFile, "write", full)
    target = importer.folder / "r.xlsx"
    summary = importer(report=target)
    assert summary.exit_code == 3
    assert summary.stopped.startswith(f"cannot write the workbook {target}: No space left")
    assert list(scratch.iterdir()) == []
    assert importer.leftovers() == []
    assert journal_path(target).exists()


def test_a_journal_that_cannot_be_started_stops_before_the_first_row(
    importer: ImportRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No space for the journal's first bytes: exit 3 before any POST, the old report and a
    killed run's journal as they were, no temporary file."""
    importer.report.write_text("the old report\n")
    monkeypatch.setattr(report_module, "replace_with", failing_replacement(errno.ENOSPC))
    summary = importer()
    assert summary.exit_code == 3
    assert summary.error == summary.stopped
    assert summary.stopped.startswith(f"cannot write {journal_path(importer.report)}: No space")
    assert importer.sandbox.state.stats()["by_method"] == {"GET": 2}
    assert importer.report.read_text() == "the old report\n"
    assert not journal_path(importer.report).exists()
    assert importer.leftovers() == []


def test_a_report_on_stdout_that_cannot_be_written_is_exit_3(
    importer: ImportRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--report - into a closed pipe: exit 3 naming standard output; no scratch file left."""

    def broken(data: bytes) -> None:
        raise OSError(errno.EPIPE, os.strerror(errno.EPIPE))

    monkeypatch.setattr("bulk_import.jobs.records.to_stdout", broken)
    summary = importer(report=files.STDOUT)
    assert summary.exit_code == 3
    assert summary.stopped.startswith("cannot write the report to standard output: Broken pipe")
    assert not summary.journal


def test_an_output_folder_that_refuses_writes_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_writable passes a writable folder, and names one access(2) refuses, with the fix."""
    files.check_writable(tmp_path / "s.json", what="summary JSON")
    monkeypatch.setattr(os, "access", lambda *_: False)
    with pytest.raises(UsageError) as refused:
        files.check_writable(tmp_path / "s.json", what="summary JSON")
    assert str(refused.value) == (
        f"cannot write the summary JSON {tmp_path / 's.json'}: Permission denied; let this user "
        "write to its folder, or pass another path"
    )


def test_temporaries_a_killed_writer_left_beside_the_summary_and_page_are_removed(
    tmp_path: Path,
) -> None:
    """A SIGKILL while the summary JSON or the run page was being written leaves its temporary
    file: the next command writing that file removes it (one younger than STALE_AFTER_S, maybe
    another command's write this moment, is spared)."""
    source = tmp_path / "in.csv"
    source.write_text("number\n+14155552671\n")
    hour_ago = time.time() - 3600
    old = [tmp_path / ".s.json.k1ll3d.tmp", tmp_path / ".p.html.k1ll3d.tmp"]
    for path in old:
        path.write_text("half")
        os.utime(path, (hour_ago, hour_ago))
    young = tmp_path / ".s.json.wr1t1ng.tmp"
    young.write_text("half")
    done = cli(
        "validate",
        str(source),
        "--provider-id",
        "prov_sandbox",
        "--summary-json",
        str(tmp_path / "s.json"),
        "--html",
        str(tmp_path / "p.html"),
        env=cli_env(None, key=None),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert leftovers(tmp_path) == [young.name]
