"""A report read back as input sends what the first read sent (issue 14, the reader's side).

The report's cells come from ``bulk_import.report.outcome_cells`` and the csv module, as the
report writer writes them; the file is then read with ``open_input`` and ``prepare`` as ``run
fr.report.csv`` reads it. The reader strips cells, so the property is "the same as the first
run sent", not "the same as typed". The end-to-end run -> report -> run is the engine's test.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bulk_import.config import InputOptions
from bulk_import.models import REPORT_COLUMNS, Outcome, Provider, Row, Status
from bulk_import.normalize import prepare
from bulk_import.output.report import outcome_cells
from bulk_import.sources import open_input

# Valid numbers of many countries, as E.164 and as a person writes them in their country.
EXAMPLES = [
    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    for region in ("US", "GB", "FR", "DE", "AU", "JP", "IN", "BR")
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
]
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
# Text that starts with what the report marks (formula characters, the mark itself).
MARKED = st.builds(
    "".join, st.lists(st.sampled_from(["'", "=", "+", "-", "@", "\t", " ", "x", "'+1"]), max_size=6)
)
IDS = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=20
).filter(lambda text: not text.startswith("twilio:"))
SID = st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda hex_: "AC" + hex_)
PROVIDERS = st.one_of(
    st.builds(lambda text: Provider(id=text), st.one_of(IDS, MARKED.map(lambda m: m + "p"))),
    st.builds(
        lambda sid, region: Provider(account_sid=sid, region=region),
        SID,
        st.sampled_from(["us1", "ie1", "au1"]),
    ),
)


def reads_as_rows(label: str) -> bool:
    """Say whether a label holds a line that the reader takes for a swallowed row (a rule)."""
    lines = re.split(r"\r\n|\r|\n", label)[1:]
    return any("," in line and sum(char.isdigit() for char in line) >= 7 for line in lines)


def first_read(
    folder: Path,
    *,
    number: str,
    label: str,
    agent: str,
    provider: Provider,
    template: str = "{number}",
) -> Row:
    """Read an input file holding one row, its provider in a column; return what it sends."""
    if provider.id is not None:
        header, cells = ["provider_id"], [provider.id]
    else:
        header, cells = ["account_sid", "region"], [provider.account_sid or "", provider.region]
    path = folder / "fleet.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["number", "label", "agent_id", *header], [number, label, agent, *cells]]
        )
    (row,) = prepare(open_input(str(path)), InputOptions(default_label=template))
    return row


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    label=st.one_of(TEXT, MARKED),
    number=st.sampled_from(EXAMPLES),
    agent=st.one_of(st.just(""), IDS, MARKED),
    provider=PROVIDERS,
    status=st.sampled_from([Status.FAILED, Status.WEBHOOK_FAILED, Status.NOT_ATTEMPTED]),
    # A blank label takes --default-label: its text need not have passed through the reader.
    template=st.sampled_from(["{number}", "'{number}", "'={row}", "''{number}", "@{row}"]),
)
def test_a_report_read_back_sends_what_the_first_read_sent(
    tmp_path: Path,
    label: str,
    number: str,
    agent: str,
    provider: Provider,
    status: Status,
    template: str,
) -> None:
    """Any label, number, agent and provider: the report's line reads back as the row sent."""
    assume(not reads_as_rows(label))
    sent = first_read(
        tmp_path, number=number, label=label, agent=agent, provider=provider, template=template
    )
    assume(sent.status is None)  # only a row that was sent can be compared with its re-run
    report = tmp_path / "fleet.report.csv"
    with report.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        writer.writerow(outcome_cells(Outcome(sent, status, error="=boom")))
    (again,) = prepare(open_input(str(report)), InputOptions())
    assert (again.number, again.label, again.provider, again.agent_id, again.status) == (
        sent.number,
        sent.label,
        sent.provider,
        sent.agent_id,
        None,
    )


def test_the_labels_of_issue_14_come_back_without_the_mark(tmp_path: Path) -> None:
    """The default label {number} and a label typed as '=x are read back exactly as sent."""
    sent = first_read(
        tmp_path, number="+33142685300", label="", agent="", provider=Provider(id="prov_x")
    )
    typed = first_read(
        tmp_path, number="+14155550101", label="''=x", agent="", provider=Provider(id="p")
    )
    report = tmp_path / "fr.report.csv"
    with report.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        writer.writerow(outcome_cells(Outcome(sent, Status.IMPORTED, 201)))
        writer.writerow(outcome_cells(Outcome(typed, Status.IMPORTED, 201)))
    lines = report.read_text(encoding="utf-8").splitlines()
    assert ",'+33142685300," in lines[1]  # the report marks the label that starts with +
    # Typed ''=x is read as '=x (one mark off), and written ''=x again: a mark, then its own.
    assert ",''=x," in lines[2]
    again = list(prepare(open_input(str(report)), InputOptions()))
    assert [(row.number, row.label) for row in again] == [
        ("+33142685300", "+33142685300"),
        ("+14155550101", "'=x"),
    ]
