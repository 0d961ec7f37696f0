"""Tests for the Twilio stand-in's organisation: subaccounts, Accounts.json and API keys."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    ACCOUNTS_PATH,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    KEYS_PATH,
    LIST_PATH,
    generated_number,
)
from sandbox.helpers import OTHER_SID, assert_error_body, client_for

SUB = [f"AC{i:032x}" for i in range(1, 4)]
TOKEN = (ACCOUNT_SID, AUTH_TOKEN)
MAIN = (API_KEY_SID, API_KEY_SECRET)
ORG = Faults(
    twilio_numbers=2,
    twilio_subaccounts=(
        {"numbers": 3},
        {"status": "suspended", "numbers": 1, "friendly_name": "Old customer"},
        {"status": "closed"},
    ),
)


def twilio(sandbox: RunningSandbox, auth: tuple[str, str]) -> httpx.Client:
    """Return a client of the Twilio stand-in with these Basic credentials."""
    return httpx.Client(base_url=sandbox.base_url, auth=auth, timeout=5)


def assert_twilio_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """Check Twilio's error body: its status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


@pytest.fixture
def org() -> Iterator[RunningSandbox]:
    """Run a sandbox whose Twilio parent has 2 numbers and 3 subaccounts (1 active)."""
    with RunningSandbox(faults=ORG) as running:
        yield running


def make_key(sandbox: RunningSandbox, sid: str, name: str = "cartesia-bulk-import") -> Any:
    """Make an API key in an account with the parent's auth token; return its JSON."""
    with twilio(sandbox, TOKEN) as c:
        r = c.post(KEYS_PATH.format(sid=sid), data={"FriendlyName": name})
    assert r.status_code == 201, r.text
    return r.json()


def test_accounts_list_the_parent_then_its_subaccounts_with_their_status(
    org: RunningSandbox,
) -> None:
    """Accounts.json: the parent first, then each subaccount with its owner, status and name."""
    with twilio(org, TOKEN) as c:
        body = c.get(ACCOUNTS_PATH, params={"PageSize": 1000}).json()
    accounts = body["accounts"]
    assert [a["sid"] for a in accounts] == [ACCOUNT_SID, *SUB]
    assert [a["status"] for a in accounts] == ["active", "active", "suspended", "closed"]
    assert {a["owner_account_sid"] for a in accounts} == {ACCOUNT_SID}
    assert accounts[2]["friendly_name"] == "Old customer"
    assert accounts[0]["auth_token"] == AUTH_TOKEN  # Twilio's list carries each token
    assert accounts[1]["uri"] == f"/2010-04-01/Accounts/{SUB[0]}.json"
    assert body["next_page_uri"] is None
    with twilio(org, MAIN) as c:  # a Main key lists them too, two a page
        first = c.get(ACCOUNTS_PATH, params={"PageSize": 2}).json()
        second = c.get(first["next_page_uri"]).json()
    assert [a["sid"] for a in first["accounts"] + second["accounts"]] == [ACCOUNT_SID, *SUB]
    assert org.state.stats()["twilio_accounts"] == 4


def test_subaccount_numbers_go_on_where_the_parents_end(org: RunningSandbox) -> None:
    """Generated numbers are unique in the organisation: a subaccount's follow the parent's."""
    with twilio(org, TOKEN) as c:
        body = c.get(LIST_PATH.format(sid=SUB[0])).json()
    listed = [(n["phone_number"], n["account_sid"]) for n in body["incoming_phone_numbers"]]
    assert listed == [(generated_number(i)[0], SUB[0]) for i in (2, 3, 4)]


@pytest.mark.parametrize(
    ("auth", "sid", "status", "code"),
    [
        (MAIN, SUB[0], 401, 20003),  # a parent's API key does not reach its subaccounts
        (TOKEN, SUB[1], 401, 20005),  # suspended
        (TOKEN, SUB[2], 401, 20005),  # closed
        (TOKEN, OTHER_SID, 404, 20404),  # not in the organisation
    ],
    ids=["main-key", "suspended", "closed", "stranger"],
)
def test_what_credentials_reach(
    org: RunningSandbox, auth: tuple[str, str], sid: str, status: int, code: int
) -> None:
    """Only the parent's auth token reaches a subaccount, and only an active one."""
    with twilio(org, auth) as c:
        assert_twilio_error(c.get(LIST_PATH.format(sid=sid)), status, code)


def test_keys_are_made_listed_without_secrets_and_deleted(org: RunningSandbox) -> None:
    """A key made in a subaccount: 201 with its secret once; listed without it; deleted, 204."""
    made = make_key(org, SUB[0])
    assert re.fullmatch(r"SK[0-9a-f]{32}", made["sid"])
    assert made["friendly_name"] == "cartesia-bulk-import"
    assert len(made["secret"]) >= 32
    assert org.state.stats()["twilio_keys"] == 1
    path = KEYS_PATH.format(sid=SUB[0])
    with twilio(org, TOKEN) as c:
        listed = c.get(path).json()
        assert listed["keys"] == [{k: v for k, v in made.items() if k != "secret"}]
        assert made["secret"] not in c.get(path).text
        gone = path.replace(".json", f"/{made['sid']}.json")
        assert c.delete(gone).status_code == 204
        assert_twilio_error(c.delete(gone), 404, 20404)
    assert org.state.twilio is not None
    assert org.state.twilio.keys_of(SUB[0]) == []
    assert org.state.stats()["twilio_keys"] == 0


def test_a_standard_key_reads_its_own_numbers_but_manages_nothing(org: RunningSandbox) -> None:
    """A key made through the API lists its account's numbers; accounts and keys are refused."""
    made = make_key(org, SUB[0])
    with twilio(org, (made["sid"], made["secret"])) as c:
        assert c.get(LIST_PATH.format(sid=SUB[0])).status_code == 200
        assert_twilio_error(c.get(ACCOUNTS_PATH), 401, 20003)
        assert_twilio_error(c.get(KEYS_PATH.format(sid=SUB[0])), 401, 20003)
        assert_twilio_error(c.post(KEYS_PATH.format(sid=SUB[0])), 401, 20003)
        assert_twilio_error(c.get(LIST_PATH.format(sid=ACCOUNT_SID)), 404, 20404)
    with twilio(org, (made["sid"], "wrong")) as c:
        assert_twilio_error(c.get(LIST_PATH.format(sid=SUB[0])), 401, 20003)


def test_a_name_longer_than_twilio_takes_is_400(org: RunningSandbox) -> None:
    """A FriendlyName over 64 characters answers 400 code 20001, and no key is made."""
    with twilio(org, TOKEN) as c:
        r = c.post(KEYS_PATH.format(sid=ACCOUNT_SID), data={"FriendlyName": "x" * 65})
    assert_twilio_error(r, 400, 20001)
    assert org.state.stats()["twilio_keys"] == 0


def test_a_subaccounts_auth_token_reaches_that_account_only(org: RunningSandbox) -> None:
    """The token Accounts.json shows for a subaccount lists its numbers and its own account."""
    with twilio(org, TOKEN) as c:
        token = c.get(ACCOUNTS_PATH).json()["accounts"][1]["auth_token"]
    with twilio(org, (SUB[0], token)) as c:
        assert c.get(LIST_PATH.format(sid=SUB[0])).status_code == 200
        assert [a["sid"] for a in c.get(ACCOUNTS_PATH).json()["accounts"]] == [SUB[0]]
        assert_twilio_error(c.get(LIST_PATH.format(sid=ACCOUNT_SID)), 404, 20404)


def test_twilio_latency_delays_each_twilio_request_and_can_change_live() -> None:
    """twilio_latency_ms holds every Twilio answer; the admin call changes it at once."""
    faults = Faults(twilio_numbers=1, twilio_latency_ms=150)
    with RunningSandbox(faults=faults) as sb, twilio(sb, TOKEN) as c, client_for(sb) as admin:
        started = time.monotonic()
        c.get(ACCOUNTS_PATH)
        assert time.monotonic() - started >= 0.15
        admin.post("/_sandbox/faults", json={"twilio_latency_ms": 0})
        started = time.monotonic()
        c.get(ACCOUNTS_PATH)
        assert time.monotonic() - started < 0.15


def test_reset_takes_back_the_keys_made() -> None:
    """A reset forgets the keys made through the API; the Main key stays."""
    with RunningSandbox(faults=Faults(twilio_numbers=0)) as sb:
        make_key(sb, ACCOUNT_SID)
        with client_for(sb) as admin:
            admin.post("/_sandbox/reset")
        assert sb.state.twilio is not None
        assert sb.state.twilio.keys_of(ACCOUNT_SID) == [(API_KEY_SID, "sandbox main key")]


def test_a_number_is_bought_in_a_subaccount(org: RunningSandbox) -> None:
    """The buy call takes account_sid; an unknown account is 400."""
    with client_for(org) as admin:
        r = admin.post(
            "/_sandbox/twilio/numbers", json={"phone_number": "+13105550142", "account_sid": SUB[0]}
        )
        assert r.json()["account_sid"] == SUB[0]
        bad = {"phone_number": "+13105550143", "account_sid": OTHER_SID}
        assert_error_body(admin.post("/_sandbox/twilio/numbers", json=bad), 400, "no account")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"twilio_subaccounts": [{}]}, "twilio_subaccounts needs twilio_numbers"),
        ({"twilio_numbers": 0, "twilio_subaccounts": {}}, "must be a list"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [1]}, "must be an object"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{"x": 1}]}, "unknown key(s) x"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{"sid": "AC1"}]}, "account SID"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{"sid": ACCOUNT_SID}]}, "parent's"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{}, {"sid": SUB[0]}]}, "listed twice"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{"status": "gone"}]}, "status must be"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{"friendly_name": 3}]}, "friendly_name"),
        ({"twilio_numbers": 0, "twilio_subaccounts": [{"numbers": -1}]}, "numbers:"),
        ({"twilio_numbers": 200_000, "twilio_subaccounts": [{"numbers": 1}]}, "200,000 numbers"),
        ({"link_refusals": []}, "link_refusals must be an object"),
        ({"link_refusals": {"AC1": 1}}, "not an account SID"),
        ({"link_refusals": {SUB[0]: -1}}, "whole number"),
        ({"twilio_latency_ms": -1}, "twilio_latency_ms must be at least 0"),
    ],
)
def test_faults_of_the_organisation_name_the_mistake(data: dict[str, Any], fragment: str) -> None:
    """Each mistake in twilio_subaccounts, link_refusals or twilio_latency_ms is named."""
    with pytest.raises(ValueError, match=re.escape(fragment)):
        Faults.from_dict(data)


def test_organisation_faults_round_trip() -> None:
    """The organisation's keys survive to_dict and from_dict, and a live change."""
    faults = Faults.from_dict(
        {**ORG.to_dict(), "link_refusals": {SUB[0]: 2}, "twilio_latency_ms": 5}
    )
    assert Faults.from_dict(faults.to_dict()) == faults
    assert faults.twilio_subaccounts[0] == {
        "sid": SUB[0],
        "friendly_name": "Subaccount 1",
        "status": "active",
        "numbers": 3,
    }
    assert faults.changed({"twilio_latency_ms": 0}).link_refusals == {SUB[0]: 2}
