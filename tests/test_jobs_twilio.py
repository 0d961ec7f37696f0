"""``twilio:`` INPUT end to end: run, validate and reconcile over real sockets to the sandbox.

The sandbox serves both APIs on one URL: Cartesia's phone numbers and the Twilio stand-in's
IncomingPhoneNumbers for ``AC`` + 32 zeros. The jobs run in-process (``fast_retries``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import api_options, assert_each_row_once, output_options, read_report, statuses

from bulk_import.config import InputOptions, Secret, TwilioCredentials, TwilioOptions
from bulk_import.errors import InputError, UsageError
from bulk_import.jobs.importing import run
from bulk_import.jobs.reconcile import reconcile
from bulk_import.jobs.validate import validate
from bulk_import.output.report import journal_path
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox
from bulk_import.sandbox.twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, generated_number

SOURCE = f"twilio:{ACCOUNT_SID}"
PROVIDER = f"twilio:{ACCOUNT_SID}:us1"
FLEET = 2500
#: Two pages: enough for the tests that are not about size.
SMALL = 1100

pytestmark = pytest.mark.usefixtures("fast_retries")


def twilio(sandbox: RunningSandbox, *, secret: str = API_KEY_SECRET) -> TwilioOptions:
    """Return the options of the stand-in's account, with its API key (``secret``: its secret)."""
    credentials = TwilioCredentials(
        Secret(API_KEY_SID),
        Secret(secret),
        kind="API key",
        origin="TWILIO_API_KEY and TWILIO_API_SECRET",
    )
    return TwilioOptions(
        account_sid=ACCOUNT_SID, credentials=credentials, base_url=sandbox.base_url
    )


def buy(sandbox: RunningSandbox, number: str, name: str | None = None) -> None:
    """Buy a number in the Twilio stand-in through its admin endpoint."""
    body: dict[str, str] = {"phone_number": number}
    if name is not None:
        body["friendly_name"] = name
    answer = httpx.post(
        f"{sandbox.base_url}/_sandbox/twilio/numbers",
        json=body,
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
        timeout=5,
    )
    assert answer.status_code == 201, answer.text


@pytest.fixture
def fleet() -> Iterator[RunningSandbox]:
    """Run a sandbox whose Twilio account holds 2,500 numbers."""
    with RunningSandbox(faults=Faults(twilio_numbers=FLEET)) as sandbox:
        yield sandbox


@pytest.fixture
def small() -> Iterator[RunningSandbox]:
    """Run a sandbox whose Twilio account holds 1,100 numbers (two pages)."""
    with RunningSandbox(faults=Faults(twilio_numbers=SMALL)) as sandbox:
        yield sandbox


def test_run_imports_2500_numbers_over_3_pages_then_reconcile_is_in_sync(
    tmp_path: Path, fleet: RunningSandbox
) -> None:
    """2,500 numbers over 3 pages: each imported once, as its Twilio row; then all in sync."""
    report = tmp_path / "fleet.report.csv"
    summary = run(
        source=SOURCE,
        input_options=InputOptions(agent_id="agent_sandbox"),
        api=api_options(fleet.base_url),
        output=output_options(report),
        twilio=twilio(fleet),
    )
    stats = fleet.state.stats()
    assert summary.exit_code == 0
    assert summary.counts == {"imported": FLEET}
    assert stats["twilio_requests"] == 3
    assert stats["stored"] == FLEET
    # The summary counts every request: the 3 pages, the two checks before the first row (the
    # key, the Twilio account among the providers), the POSTs.
    assert summary.requests == 3 + 2 + FLEET == stats["twilio_requests"] + stats["requests"]
    assert summary.options["twilio_account"] == ACCOUNT_SID
    lines = read_report(report)
    assert_each_row_once(lines, FLEET)
    expected = [generated_number(i) for i in range(FLEET)]
    assert [(line["number"], line["label"]) for line in lines] == expected
    assert {line["input_number"] for line in lines[:3]} == {"'" + n for n, _ in expected[:3]}
    assert {line["provider"] for line in lines} == {PROVIDER}
    assert {line["agent_id"] for line in lines} == {"agent_sandbox"}

    again = reconcile(
        source=SOURCE,
        input_options=InputOptions(agent_id="agent_sandbox"),
        api=api_options(fleet.base_url),
        output=output_options(tmp_path / "reconcile.report.csv"),
        twilio=twilio(fleet),
    )
    assert again.exit_code == 0
    assert again.counts == {"in_sync": FLEET}
    assert fleet.state.stats()["twilio_requests"] == 6


def test_a_number_bought_in_twilio_is_missing_then_imported_by_apply(
    tmp_path: Path, small: RunningSandbox
) -> None:
    """The nightly sync: a number bought since the run is missing (exit 1); --apply imports it."""
    run(
        source=SOURCE,
        input_options=InputOptions(),
        api=api_options(small.base_url),
        output=output_options(tmp_path / "run.report.csv"),
        twilio=twilio(small),
    )
    buy(small, "+12125550187", "Night line")
    report = tmp_path / "reconcile.report.csv"

    def sync(*, apply: bool) -> tuple[int, dict[str, int]]:
        summary = reconcile(
            source=SOURCE,
            input_options=InputOptions(),
            api=api_options(small.base_url),
            output=output_options(report),
            apply=apply,
            twilio=twilio(small),
        )
        return summary.exit_code, summary.counts

    assert sync(apply=False) == (1, {"in_sync": SMALL, "missing": 1})
    missing = [line for line in read_report(report) if line["status"] == "missing"]
    assert [(m["row"], m["number"], m["label"]) for m in missing] == [
        (str(SMALL + 2), "+12125550187", "Night line")
    ]
    assert sync(apply=True) == (0, {"in_sync": SMALL, "imported": 1})
    assert sync(apply=False) == (0, {"in_sync": SMALL + 1})


def test_validate_lists_without_a_cartesia_key_and_sends_nothing_to_cartesia(
    tmp_path: Path, small: RunningSandbox
) -> None:
    """validate twilio: lists the account (a request a page) and marks every number valid."""
    report = tmp_path / "v.report.csv"
    summary = validate(
        source=SOURCE,
        input_options=InputOptions(),
        output=output_options(report),
        twilio=twilio(small),
    )
    assert (summary.exit_code, summary.counts, summary.requests) == (0, {"valid": SMALL}, 2)
    assert small.state.stats()["requests"] == 0
    assert len(read_report(report)) == SMALL


def test_resume_keeps_what_was_imported_and_sends_only_the_new_number(
    tmp_path: Path, small: RunningSandbox
) -> None:
    """--resume on twilio: keeps the done rows; a number bought since is the only POST."""
    report = tmp_path / "run.report.csv"

    def go(*, resume: bool = False) -> tuple[int, dict[str, int], int]:
        before = small.state.stats()["by_method"].get("POST", 0)
        summary = run(
            source=SOURCE,
            input_options=InputOptions(),
            api=api_options(small.base_url),
            output=output_options(report),
            twilio=twilio(small),
            resume=resume,
        )
        posts = small.state.stats()["by_method"].get("POST", 0) - before
        return summary.exit_code, summary.counts, posts

    assert go() == (0, {"imported": SMALL}, SMALL)
    buy(small, "+12125550188")
    assert go(resume=True) == (0, {"imported": SMALL + 1}, 1)
    lines = read_report(report)
    assert_each_row_once(lines, SMALL + 1)
    assert lines[-1]["number"] == "+12125550188"
    assert lines[-1]["label"] == "'+12125550188", "a bought number is named by its number"


def test_a_failed_listing_sends_nothing_and_leaves_the_report(tmp_path: Path) -> None:
    """Broken paging on page 2: exit 2 before any row; no Cartesia request; report as it was."""
    report = tmp_path / "run.report.csv"
    report.write_text("earlier report\n")
    faults = Faults(twilio_numbers=SMALL, twilio_faults={"1": ("repeat_next",)})
    with RunningSandbox(faults=faults) as sandbox:
        with pytest.raises(InputError, match="next_page_uri repeats a page already read"):
            reconcile(
                source=SOURCE,
                input_options=InputOptions(),
                api=api_options(sandbox.base_url),
                output=output_options(report),
                twilio=twilio(sandbox),
            )
        assert sandbox.state.stats()["requests"] == 0
    assert report.read_text() == "earlier report\n"
    assert not journal_path(report).exists()


def test_refused_credentials_stop_run_before_the_cartesia_check(
    tmp_path: Path, small: RunningSandbox
) -> None:
    """A wrong Twilio secret is exit 2 before even the Cartesia key is checked."""
    with pytest.raises(UsageError, match=r"^Twilio refused the API key") as caught:
        run(
            source=SOURCE,
            input_options=InputOptions(),
            api=api_options(small.base_url),
            output=output_options(tmp_path / "r.csv"),
            twilio=twilio(small, secret="wrong"),
        )
    assert caught.value.exit_code == 2
    assert small.state.stats()["requests"] == 0


def test_a_twilio_input_without_twilio_options_says_what_it_needs(tmp_path: Path) -> None:
    """The library refuses twilio: with no TwilioOptions in one line naming the credentials."""
    with pytest.raises(UsageError, match=r"^a twilio: INPUT needs Twilio credentials: set"):
        validate(source=SOURCE, input_options=InputOptions(), output=output_options(tmp_path / "r"))


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        (InputOptions(sheet="2"), "--sheet"),
        (InputOptions(number_column="phone"), "--number-column"),
        (InputOptions(no_header=True), "--no-header"),
        (InputOptions(provider_id="prov_sandbox"), "--provider-id"),
        (InputOptions(twilio_account_sid="AC" + "1" * 32), "--twilio-account-sid"),
    ],
)
def test_file_layout_options_are_refused_for_twilio(
    tmp_path: Path, small: RunningSandbox, options: InputOptions, flag: str
) -> None:
    """An option that names a file's layout or a provider is refused, never silently ignored."""
    with pytest.raises(UsageError) as caught:
        validate(
            source=SOURCE,
            input_options=options,
            output=output_options(tmp_path / "r"),
            twilio=twilio(small),
        )
    assert str(caught.value) == (
        f"{flag} does not apply to a twilio: INPUT (each number is a row of its own, imported "
        f"as twilio:<account_sid>:<region>); drop {flag}"
    )
    assert small.state.stats()["twilio_requests"] == 0


def test_region_and_default_label_apply_to_twilio_rows(tmp_path: Path) -> None:
    """--region sets the provider's region; a blank friendly_name takes --default-label."""
    numbers = ({"phone_number": "+14155550100", "friendly_name": ""},)
    with RunningSandbox(faults=Faults(twilio_numbers=numbers)) as sandbox:
        validate(
            source=SOURCE,
            input_options=InputOptions(region="ie1", default_label="Twilio {number} row {row}"),
            output=output_options(tmp_path / "r.csv"),
            twilio=twilio(sandbox),
        )
    (line,) = read_report(tmp_path / "r.csv")
    assert (line["provider"], line["label"]) == (
        f"twilio:{ACCOUNT_SID}:ie1",
        "Twilio +14155550100 row 2",
    )
    assert statuses([line]) == {"valid": 1}


def test_a_number_the_normaliser_refuses_is_invalid_like_a_file_row(tmp_path: Path) -> None:
    """A listing is normalised like a file: a number too short to be valid is invalid."""
    numbers = (
        {"phone_number": "+14155550100", "friendly_name": "a"},
        {"phone_number": "+1415555010", "friendly_name": "short"},
    )
    with RunningSandbox(faults=Faults(twilio_numbers=numbers)) as sandbox:
        summary = validate(
            source=SOURCE,
            input_options=InputOptions(),
            output=output_options(tmp_path / "r.csv"),
            twilio=twilio(sandbox),
        )
    assert (summary.exit_code, summary.counts) == (1, {"valid": 1, "invalid": 1})
    bad = read_report(tmp_path / "r.csv")[1]
    assert (bad["row"], bad["input_number"], bad["number"]) == ("3", "'+1415555010", "")
    assert bad["error"]
