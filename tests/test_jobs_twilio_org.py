"""``twilio:AC... --subaccounts`` end to end: a parent and its subaccounts read as one INPUT.

The jobs run in-process against the sandbox's Twilio stand-in (``fast_retries``); the paging and
ordering rules of :mod:`bulk_import.api.twilio_org` are also checked over a MockTransport.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import (
    answer,
    api_options,
    assert_each_row_once,
    output_options,
    read_report,
    statuses,
)

from bulk_import.api.twilio_org import OrgListing, list_organisation
from bulk_import.config import InputOptions, Secret, TwilioCredentials, TwilioOptions
from bulk_import.errors import InputError, UsageError
from bulk_import.jobs.importing import run
from bulk_import.jobs.reconcile import reconcile
from bulk_import.jobs.validate import validate
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    generated_number,
)

SOURCE = f"twilio:{ACCOUNT_SID}"
SUBS = [f"AC{i:032x}" for i in range(1, 5)]
#: A parent of 3 numbers and 4 subaccounts: 1,200 numbers (two pages), a suspended one, a closed
#: one, and an active one with none.
ORG = Faults(
    twilio_numbers=3,
    twilio_subaccounts=(
        {"numbers": 1200},
        {"numbers": 5, "status": "suspended"},
        {"numbers": 0},
        {"numbers": 2, "status": "closed"},
    ),
)
ROWS = 3 + 1200

pytestmark = pytest.mark.usefixtures("fast_retries")


def twilio(
    base_url: str, *, token: bool = True, concurrency: int = 4, max_attempts: int = 6
) -> TwilioOptions:
    """Return the parent's options with --subaccounts: its auth token, or its Main key."""
    user, password, kind = (
        (ACCOUNT_SID, AUTH_TOKEN, "auth token")
        if token
        else (API_KEY_SID, API_KEY_SECRET, "API key")
    )
    credentials = TwilioCredentials(Secret(user), Secret(password), kind=kind, origin="tests")
    return TwilioOptions(
        account_sid=ACCOUNT_SID,
        credentials=credentials,
        base_url=base_url,
        subaccounts=True,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=5.0,
    )


def holders() -> list[tuple[str, str]]:
    """Return (number, holder) of the organisation's listed rows, in order."""
    parent = [(generated_number(i)[0], ACCOUNT_SID) for i in range(3)]
    return parent + [(generated_number(3 + i)[0], SUBS[0]) for i in range(1200)]


def test_validate_lists_the_parent_then_each_active_subaccount(tmp_path: Path) -> None:
    """Rows follow the listing; each names its holder; the skipped accounts are counted."""
    report = tmp_path / "org.csv"
    with RunningSandbox(faults=ORG) as sandbox:
        summary = validate(
            source=SOURCE,
            input_options=InputOptions(region="ie1"),
            output=output_options(report, summary_json=tmp_path / "s.json"),
            twilio=twilio(sandbox.base_url),
        )
        stats = sandbox.state.stats()
    lines = read_report(report)
    assert_each_row_once(lines, ROWS)
    assert [(line["number"], line["provider"]) for line in lines] == [
        (number, f"twilio:{sid}:ie1") for number, sid in holders()
    ]
    assert statuses(lines) == {"valid": ROWS}
    # Accounts.json, the parent's page, the subaccount's two, the empty one's.
    assert (summary.requests, stats["twilio_requests"]) == (5, 5)
    facts = json.loads((tmp_path / "s.json").read_text())["twilio"]
    assert facts == {
        "account": ACCOUNT_SID,
        "subaccounts": True,
        "accounts_read": 3,
        "accounts_with_numbers": 2,
        "skipped": {"closed": 1, "suspended": 1},
        "numbers": ROWS,
        "pages": 5,
        "requests": 5,
    }


def test_the_news_line_and_the_summary_say_what_was_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line before the rows and the closing summary count the skipped subaccounts."""
    with RunningSandbox(faults=ORG) as sandbox:
        validate(
            source=SOURCE,
            input_options=InputOptions(),
            output=output_options(tmp_path / "r.csv", quiet=False),
            twilio=twilio(sandbox.base_url),
        )
    err = capsys.readouterr().err
    assert (
        f"listed 1,203 numbers of Twilio account {ACCOUNT_SID} and its 2 active subaccounts "
        "(1 closed and 1 suspended skipped; 5 pages, 5 requests)"
    ) in err
    assert "twilio: 1 closed and 1 suspended subaccounts skipped (not read)" in err


def test_run_imports_each_number_with_its_own_account_then_reconcile_is_in_sync(
    tmp_path: Path,
) -> None:
    """run --subaccounts imports every row under its holder; reconcile finds them in sync."""
    report = tmp_path / "org.report.csv"
    with RunningSandbox(faults=ORG) as sandbox:
        options = twilio(sandbox.base_url)
        done = run(
            source=SOURCE,
            input_options=InputOptions(agent_id="agent_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(report),
            twilio=options,
        )
        stored = {n: v["provider"]["account_sid"] for n, v in sandbox.state.numbers.items()}
        again = reconcile(
            source=SOURCE,
            input_options=InputOptions(agent_id="agent_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(tmp_path / "org.reconcile.csv"),
            twilio=options,
        )
    assert (done.exit_code, done.counts) == (0, {"imported": ROWS})
    assert stored == dict(holders())
    assert again.counts == {"in_sync": ROWS}


def test_a_parents_report_is_not_resumed_by_the_parent_alone(tmp_path: Path) -> None:
    """The organisation's report holds rows past the parent's last: --resume refuses it."""
    report = tmp_path / "shared.report.csv"
    with RunningSandbox(faults=ORG) as sandbox:
        run(
            source=SOURCE,
            input_options=InputOptions(),
            api=api_options(sandbox.base_url),
            output=output_options(report),
            twilio=twilio(sandbox.base_url),
        )
        alone = twilio(sandbox.base_url)
        alone = TwilioOptions(
            account_sid=ACCOUNT_SID, credentials=alone.credentials, base_url=sandbox.base_url
        )
        with pytest.raises(InputError) as caught:
            run(
                source=SOURCE,
                input_options=InputOptions(),
                api=api_options(sandbox.base_url),
                output=output_options(report),
                resume=True,
                twilio=alone,
            )
    assert str(caught.value) == (
        f"{SOURCE} has 3 rows (the last is row 4) but {report} holds row {ROWS + 1}: the input "
        f"changed since {report} was written (cut short?); restore it, or pass another --report, "
        f"or move {report} away"
    )
    assert len(read_report(report)) == ROWS


def test_a_main_key_is_refused_the_subaccounts_numbers_with_the_fix(tmp_path: Path) -> None:
    """The parent's Main key lists the accounts, but a subaccount's numbers say: the token."""
    with RunningSandbox(faults=ORG) as sandbox, pytest.raises(UsageError) as caught:
        list_organisation(twilio(sandbox.base_url, token=False))
    assert str(caught.value) == (
        f"Twilio refused the API key from tests for subaccount {SUBS[0]} of {ACCOUNT_SID} "
        "(HTTP 401, code 20003): Twilio lets the parent's auth token (TWILIO_ACCOUNT_SID and "
        "TWILIO_AUTH_TOKEN, or --twilio-credentials-file holding ACCOUNT_SID:AUTH_TOKEN) read "
        "its subaccounts, not the parent's API keys; nothing was imported"
    )


def test_an_organisation_without_numbers_is_refused() -> None:
    """No number in the parent nor its active subaccounts: exit 2, never an empty account."""
    faults = Faults(twilio_numbers=0, twilio_subaccounts=({}, {"status": "closed", "numbers": 3}))
    with RunningSandbox(faults=faults) as sandbox, pytest.raises(InputError) as caught:
        validate(
            source=SOURCE,
            input_options=InputOptions(),
            output=output_options(Path("never.csv")),
            twilio=twilio(sandbox.base_url),
        )
    assert str(caught.value) == (
        f"Twilio account {ACCOUNT_SID} and its 1 active subaccount hold no phone numbers "
        "(1 closed skipped): check the account SID"
    )


# -- the reading rules, over a MockTransport ------------------------------------------------------

BASE = "https://twilio.test"
OUTSIDER = "AC" + "e" * 32


def account(sid: str, status: str = "active", owner: str = ACCOUNT_SID) -> dict[str, object]:
    """Return an Accounts.json item."""
    return {"sid": sid, "status": status, "owner_account_sid": owner, "friendly_name": sid[-4:]}


def numbers_page(count: int, start: int) -> dict[str, object]:
    """Return one IncomingPhoneNumbers page of generated numbers."""
    listed = [generated_number(start + i) for i in range(count)]
    return {
        "incoming_phone_numbers": [{"phone_number": n, "friendly_name": f} for n, f in listed],
        "next_page_uri": None,
    }


def mocked(handler: Callable[[httpx.Request], httpx.Response], **kw: object) -> OrgListing:
    """Read an organisation through a MockTransport answering with ``handler``."""
    options = twilio(BASE, **kw)  # type: ignore[arg-type]
    return list_organisation(options, transport=httpx.MockTransport(handler))


def test_a_parent_twilio_does_not_list_comes_first_and_strangers_are_left_out() -> None:
    """The parent is read first even when unlisted; an account of another owner is not read."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/Accounts.json"):
            body = {"accounts": [account(SUBS[0]), account(OUTSIDER, owner=OUTSIDER)]}
            return answer(200, {**body, "next_page_uri": None})
        return answer(200, numbers_page(1, len(seen)))

    org = mocked(handler, concurrency=1)
    assert [listing.account_sid for listing in org.listings] == [ACCOUNT_SID, SUBS[0]]
    assert not any(OUTSIDER in path for path in seen)


def test_one_account_failing_fails_the_listing_and_starts_no_other() -> None:
    """The first failing account (in order) is the error; no account after it is started."""
    started: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/Accounts.json"):
            accounts = [account(ACCOUNT_SID), *(account(sid) for sid in SUBS)]
            return answer(200, {"accounts": accounts, "next_page_uri": None})
        started.append(path)
        if SUBS[1] in path:
            return answer(200, "<html>proxy</html>", headers={"content-type": "text/html"})
        return answer(200, numbers_page(1, 0))

    with pytest.raises(InputError, match=f"page 1 of Twilio account {SUBS[1]}'s numbers is not"):
        mocked(handler, concurrency=1)
    assert len(started) == 3  # the parent, SUBS[0], SUBS[1]; never SUBS[2] or SUBS[3]
