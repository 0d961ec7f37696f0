"""A report read back as INPUT sends what the first run sent (issue 14), CSV and .xlsx.

For any label text, a run, then a run of its report against a fresh sandbox, store the same
label, number and provider: the report's ``'`` formula mark never reaches the API.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import api_options, output_options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_import.config import InputOptions
from bulk_import.jobs.importing import run as run_job
from bulk_import.sandbox import RunningSandbox

NUMBERS = ("+33142685300", "+14155550101", "+442071838750")
# Text a person may type in a label cell, formula characters and the mark itself first.
LABELS = st.text(
    alphabet=st.sampled_from(list("'=+-@\t\r\"x 1,;é")) | st.characters(codec="utf-8"),
    max_size=12,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """One sandbox for the module, reset before each run."""
    with RunningSandbox() as running:
        yield running


def stored(sandbox: RunningSandbox) -> dict[str, tuple[str, str]]:
    """Return each stored number's label and provider account."""
    return {
        number: (item["label"], item["provider"]["account_sid"])
        for number, item in sandbox.state.numbers.items()
    }


def run_once(sandbox: RunningSandbox, source: Path, report: Path) -> dict[str, tuple[str, str]]:
    """Import ``source`` into a fresh sandbox, writing ``report``; return what was stored."""
    sandbox.state.reset()
    run_job(
        source=str(source),
        input_options=InputOptions(twilio_account_sid="AC" + "0123456789abcdef" * 2),
        api=api_options(sandbox.base_url),
        output=output_options(report),
    )
    return stored(sandbox)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(labels=st.lists(LABELS, min_size=3, max_size=3))
def test_a_report_run_again_sends_what_the_first_run_sent(
    tmp_path: Path, sandbox: RunningSandbox, suffix: str, labels: list[str]
) -> None:
    """run -> report -> run the report: the same labels, numbers and providers arrive."""
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["phone_number", "label"])
        writer.writerows(zip(NUMBERS, labels, strict=True))
    report = tmp_path / f"first.report{suffix}"
    first = run_once(sandbox, source, report)
    again = run_once(sandbox, report, tmp_path / f"again.report{suffix}")
    assert again == first
    for label, _ in first.values():
        assert (not label.startswith("'=") and not label.startswith("'+")) or label in labels


def test_the_commands_of_issue_14_store_the_numbers_as_labels(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """The issue's own case: the default label ({number}) comes back as +33142685300."""
    source = tmp_path / "fr.csv"
    source.write_text("phone_number\n+33142685300\n+14155550101\n")
    report = tmp_path / "fr.report.csv"
    run_once(sandbox, source, report)
    assert "'+33142685300" in report.read_text()  # the report neutralises the cell
    again = run_once(sandbox, report, tmp_path / "again.report.csv")
    assert {label for label, _ in again.values()} == {"+33142685300", "+14155550101"}
