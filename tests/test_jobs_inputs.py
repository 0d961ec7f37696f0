"""A report never silently replaces another input's work, with or without ``--resume``.

``run`` and ``reconcile`` refuse the lines they keep by row (``--resume``'s, a killed run's
journal's) when INPUT's row of that number holds another number, or INPUT lacks the row: a
truncated input after a kill. A report that is only replaced (no ``--resume``) is refused when
it records numbers in the account that INPUT no longer lists at all, at any row: the same
``--report`` for another file. Rows that moved (a row added at the top of the sheet) are the
same input. The refusal is exit 2 with one line and the fix, before anything is sent; the old
files stay byte for byte.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import phonenumbers
import pytest
from conftest import (
    JournalWatch,
    api_options,
    cli_env,
    finish,
    numbers,
    output_options,
    print_figures,
    read_report,
    start_cli,
    statuses,
    wait_for,
    write_input,
)

from bulk_import.config import InputOptions
from bulk_import.errors import InputError
from bulk_import.jobs.importing import run as run_job
from bulk_import.jobs.inputs import check_numbers_listed, check_same_input
from bulk_import.jobs.reconcile import reconcile
from bulk_import.normalize import to_e164
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sources import open_input

FIX = "pass another --report, or move {} away"


def test_a_truncated_input_after_a_kill_is_refused_then_the_whole_one_finishes(
    tmp_path: Path,
) -> None:
    """1,500 rows killed after 300 journaled, the input cut to 200, the same command: exit 2
    naming the row past the end, nothing sent, the journal untouched (the bug: exit 0 and a
    report of the 200 rows plus the journal's rows past them); the whole input again finishes,
    re-sending nothing the journal held."""
    rows = 1_500
    given = numbers(rows)
    source = write_input(tmp_path / "in.csv", given)
    report = tmp_path / "in.report.csv"
    journal = journal_path(report)
    args = ("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress", "--concurrency", "8")
    with RunningSandbox(faults=Faults(latency_ms=2)) as api:
        env = cli_env(api.base_url)
        watch = JournalWatch(report)
        killed = start_cli(*args, env=env, cwd=tmp_path)
        wait_for(lambda: watch.poll() >= 300 or killed.poll() is not None, what="300 rows")
        killed.send_signal(signal.SIGKILL)
        assert finish(killed)[0] == -signal.SIGKILL
        held = journal.read_bytes()
        last = max(int(line["row"]) for line in read_report(journal))
        write_input(source, given[:200])
        requests = api.state.stats()["requests"]
        started = time.monotonic()
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        refused_s = time.monotonic() - started
        sent = api.state.stats()["requests"] - requests
        untouched = journal.read_bytes() == held and not report.exists()
        done = {line["number"] for line in read_report(journal) if line["status"] == "imported"}
        posts_then = api.state.post_counts
        write_input(source, given)
        again, _, again_err = finish(start_cli(*args, env=env, cwd=tmp_path))
        posts = api.state.post_counts
    assert code == 2
    assert err == (
        f"bulk-import: error: in.csv has 200 rows (the last is row 201) but {journal.name} holds "
        f"row {last}: the input changed since {journal.name} was written (cut short?); restore "
        f"it, or {FIX.format(journal.name)}\n"
    )
    assert sent == 0
    assert untouched
    assert again == 0, again_err
    lines = read_report(report)
    assert [line["number"] for line in lines] == given
    assert set(statuses(lines)) <= {"imported", "already_imported"}
    assert all(posts[n] == posts_then[n] for n in done), "a journaled number was re-sent"
    print_figures(
        "truncated-input-after-kill",
        rows=rows,
        journal_rows=len(done),
        last_journal_row=last,
        refused_s=round(refused_s, 2),
        requests_when_refused=sent,
        report_rows=len(lines),
        max_posts_per_number=max(posts.values()),
    )


def test_the_same_report_for_another_input_is_refused_without_resume(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """run b.csv --report r.csv where r.csv is a.csv's: exit 2 with the fix, r.csv byte for byte,
    nothing sent (the bug: a.csv's report and its ids were replaced without a word)."""
    a = write_input(tmp_path / "a.csv", numbers(20))
    b = write_input(tmp_path / "b.csv", numbers(20, start=100))
    report = tmp_path / "r.csv"

    def run(source: Path) -> object:
        return run_job(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(report),
        )

    run(a)
    before = report.read_bytes()
    requests = sandbox.state.stats()["requests"]
    with pytest.raises(InputError) as refused:
        run(b)
    assert str(refused.value) == (
        f"{report} records numbers in the Cartesia account that {b} no longer lists "
        f"({numbers(1)[0]} of its row 2 and 19 more): replacing it would lose their record (the "
        f"ids rollback undoes); {FIX.format(report)}"
    )
    assert report.read_bytes() == before
    assert sandbox.state.stats()["requests"] == requests
    run(a)  # the same input again is its own report: replaced, as a re-run must
    assert statuses(read_report(report)) == {"already_imported": 20}


def test_a_sheet_whose_rows_moved_is_the_same_input_for_a_run_without_resume(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """A row added at the top and a typo'd number fixed: run without --resume replaces the
    report (its numbers are all still listed); a number removed from the sheet is refused,
    named, and only that."""
    given = numbers(10)
    typo = "+1 415 20"  # too short: invalid, recorded nowhere
    source = write_input(tmp_path / "in.csv", [*given, typo])
    report = tmp_path / "in.report.csv"

    def run() -> object:
        return run_job(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(report),
        )

    run()
    fixed = numbers(1, start=50)[0]
    write_input(source, [numbers(1, start=60)[0], *given, fixed])
    run()
    assert statuses(read_report(report)) == {"imported": 2, "already_imported": 10}
    write_input(source, [numbers(1, start=60)[0], *given[:4], *given[5:], fixed])
    before = report.read_bytes()
    with pytest.raises(InputError, match=re.escape(f"({given[4]} of its row 7): replacing it")):
        run()
    assert report.read_bytes() == before


def test_reconcile_refuses_another_inputs_report_when_it_records_imports(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """reconcile --apply's report records what it imported: another file's is refused, nothing
    listed. A plain reconcile's report (the account's state only) is replaced: nothing lost."""
    a = write_input(tmp_path / "a.csv", numbers(10))
    b = write_input(tmp_path / "b.csv", numbers(12, start=50))
    report = tmp_path / "fleet.reconcile.csv"

    def diff(source: Path, *, apply: bool = False) -> object:
        return reconcile(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(report),
            apply=apply,
        )

    diff(a)
    diff(b)  # a's plain report is b's now: it recorded nothing to lose
    assert statuses(read_report(report)) == {"missing": 12}
    diff(a, apply=True)
    before = report.read_bytes()
    requests = sandbox.state.stats()["requests"]
    with pytest.raises(InputError, match=re.escape(f"; {FIX.format(report)}")):
        diff(b)
    assert report.read_bytes() == before
    assert sandbox.state.stats()["requests"] == requests


def test_check_same_input_compares_by_row_text_first_then_e164(tmp_path: Path) -> None:
    """A line matches its row by the text typed, else by E.164; a row INPUT lacks (blank, or
    past its end) is refused, naming it."""
    source_path = tmp_path / "in.csv"
    source_path.write_text("number\n+1 415 200 0000\n\n(415) 200-0002\n")
    source = open_input(str(source_path))
    first, _, third = numbers(3)

    def check(named: dict[int, tuple[str, str]]) -> None:
        check_same_input(source, named, region="US", where="r.csv", fix="FIX")

    check({})
    check({2: ("+1 415 200 0000", first), 4: ("4152000002", third)})
    with pytest.raises(InputError, match=r"^r.csv belongs to another input: its row 3 is "):
        check({2: ("+1 415 200 0000", first), 3: ("x", first)})
    with pytest.raises(InputError) as past:
        check({2: ("+1 415 200 0000", first), 9: ("x", third)})
    assert str(past.value) == (
        f"{source_path} has 2 rows (the last is row 4) but r.csv holds row 9: the input "
        "changed since r.csv was written (cut short?); restore it, or FIX"
    )
    with pytest.raises(InputError, match=r"row 2 of .* is \+1 415 200 0000; FIX$"):
        check({2: ("+14152009999", "+14152009999")})


def test_a_number_typed_as_each_country_types_it_is_found_in_input(tmp_path: Path) -> None:
    """Every region's example numbers, typed in national and international format where the
    report typed them otherwise: each is found in INPUT (the check matches on last digits
    before it parses, and must never miss a number INPUT lists)."""
    kinds = (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    )
    formats = (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    )
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        typed: list[str] = []
        recorded: dict[int, tuple[str, str]] = {}
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            for form in formats:
                text = phonenumbers.format_number(example, form)
                if to_e164(text, region)[0] != e164:
                    continue  # not a number this tool reads so: not the check's to find
                typed.append(text)
                recorded[len(recorded) + 2] = ("typed otherwise", e164)
        if not typed:
            continue
        path = tmp_path / f"{region}.csv"
        path.write_text("number\n" + "".join(f'"{text}"\n' for text in typed), encoding="utf-8")
        check_numbers_listed(open_input(str(path)), recorded, region=region, where="r", fix="F")
        checked += len(typed)
    assert checked > 600


def test_a_number_typed_in_full_width_digits_is_found_in_input(tmp_path: Path) -> None:
    """A number typed with characters the last-digits match does not read (full-width digits,
    as a Japanese keyboard types them) is parsed, and found."""
    path = tmp_path / "in.csv"
    path.write_text("number\n＋１ ４１５ ５５５ ２６７１\n", encoding="utf-8")
    recorded = {2: ("typed otherwise", "+14155552671")}
    check_numbers_listed(open_input(str(path)), recorded, region="US", where="r", fix="F")
    with pytest.raises(InputError, match=r"^r records numbers .* \(\+14155552672 of its row 3\)"):
        check_numbers_listed(
            open_input(str(path)), {3: ("x", "+14155552672")}, region="US", where="r", fix="F"
        )
