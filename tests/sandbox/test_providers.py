"""Tests for Cartesia's providers routes in the sandbox: the list, and links checked with Twilio."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    KEYS_PATH,
)
from sandbox.helpers import SID, assert_error_body, client_for

PROVIDERS = "/agents/phone-numbers/providers"
SUB = "AC" + f"{1:032x}"
SUSPENDED = "AC" + f"{2:032x}"
ORG = Faults(
    providers=(),
    twilio_accounts=(),
    twilio_numbers=1,
    twilio_subaccounts=({"numbers": 1}, {"status": "suspended"}),
)


def link_body(sid: str, key: str, secret: object, **extra: object) -> dict[str, object]:
    """Return a POST /agents/phone-numbers/providers body for a Twilio account."""
    return {
        "type": "twilio",
        "account_sid": sid,
        "api_key_sid": key,
        "api_key_secret": secret,
        **extra,
    }


def make_key(sandbox: RunningSandbox, sid: str) -> tuple[str, str]:
    """Make an API key in an account of the Twilio stand-in; return its SID and secret."""
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    with httpx.Client(base_url=sandbox.base_url, auth=auth, timeout=5) as c:
        made: dict[str, Any] = c.post(KEYS_PATH.format(sid=sid), data={"FriendlyName": "k"}).json()
    return made["sid"], made["secret"]


def test_a_key_of_the_account_links_it_once_per_region() -> None:
    """A key the stand-in holds links the account: 201, the key masked; again 409; ie1 is apart."""
    with RunningSandbox(faults=ORG) as sb, client_for(sb) as c:
        key, secret = make_key(sb, SUB)
        r = c.post(PROVIDERS, json=link_body(SUB, key, secret))
        assert r.status_code == 201, r.text
        provider = r.json()
        assert provider["type"] == "twilio"
        assert (provider["account_sid"], provider["region"]) == (SUB, "us1")
        assert provider["api_key_sid"] == "SK" + "*" * 28 + key[-4:]
        assert secret not in r.text
        assert c.get(PROVIDERS).json() == [provider]
        assert c.get(PROVIDERS, params={"account_sid": SUB}).json() == [provider]
        again = c.post(PROVIDERS, json=link_body(SUB, key, secret))
        assert_error_body(again, 409, "already exists")
        ie1 = c.post(PROVIDERS, json=link_body(SUB, key, secret, region="ie1"))
        assert ie1.status_code == 201
        assert len(c.get(PROVIDERS).json()) == 2


@pytest.mark.parametrize(
    ("sid", "secret_of"),
    [
        (SUB, lambda secret: "wrong"),
        (ACCOUNT_SID, lambda secret: secret),  # a key of another account
        (SUSPENDED, lambda secret: secret),
    ],
    ids=["wrong-secret", "other-account", "suspended"],
)
def test_a_key_twilio_would_refuse_is_400_invalid_credentials(sid: str, secret_of: Any) -> None:
    """A wrong secret, another account's key or an inactive account: 400, nothing linked."""
    with RunningSandbox(faults=ORG) as sb, client_for(sb) as c:
        key, secret = make_key(sb, SUB)
        r = c.post(PROVIDERS, json=link_body(sid, key, secret_of(secret)))
        assert_error_body(r, 400, "Invalid credentials")
        assert c.get(PROVIDERS).json() == []


def test_the_parents_main_key_links_the_parent() -> None:
    """The stand-in's published Main key links its account."""
    with RunningSandbox(faults=ORG) as sb, client_for(sb) as c:
        r = c.post(PROVIDERS, json=link_body(ACCOUNT_SID, API_KEY_SID, API_KEY_SECRET))
        assert r.status_code == 201, r.text


def test_link_refusals_refuse_the_first_attempts_then_accept() -> None:
    """link_refusals {SID: 1}: the first link is refused with a good key, the second goes."""
    faults = Faults(
        twilio_accounts=(), twilio_numbers=0, twilio_subaccounts=({},), link_refusals={SUB: 1}
    )
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        key, secret = make_key(sb, SUB)
        assert_error_body(c.post(PROVIDERS, json=link_body(SUB, key, secret)), 400, "rejected")
        assert c.post(PROVIDERS, json=link_body(SUB, key, secret)).status_code == 201
        c.post("/_sandbox/reset")
        key, secret = make_key(sb, SUB)
        refused = c.post(PROVIDERS, json=link_body(SUB, key, secret))
        assert_error_body(refused, 400, "rejected")  # a reset restores the refusals


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ({"account_sid": SID}, "type is required"),
        (link_body(SID, "SK" + "1" * 32, "s", type="sip_trunk"), "type must be"),
        (link_body(SID, "SK" + "1" * 32, "s", label="x"), "unknown field(s): label"),
        (link_body("AC1", "SK" + "1" * 32, "s"), "account_sid must be"),
        (link_body(SID, "AC" + "1" * 32, "s"), "api_key_sid must be"),
        (link_body(SID, "SK" + "1" * 32, ""), "must not be empty"),
        (link_body(SID, "SK" + "1" * 32, 5), "api_key_secret must be a string"),
        (link_body(SID, "SK" + "1" * 32, "s", region="eu1"), "region must be one of"),
    ],
)
def test_a_body_outside_the_openapi_is_400(body: object, fragment: str) -> None:
    """The link body is as strict as the OpenAPI: each mistake is a 400 naming it."""
    with RunningSandbox(faults=Faults(twilio_accounts=())) as sb, client_for(sb) as c:
        assert_error_body(c.post(PROVIDERS, json=body), 400, fragment)


def test_without_the_twilio_stand_in_any_well_formed_key_links() -> None:
    """No Twilio to ask: a well-formed key is taken; a listed account is linked already (409)."""
    with RunningSandbox(faults=Faults(twilio_accounts=(SID,))) as sb, client_for(sb) as c:
        other = "AC" + "f" * 32
        assert c.post(PROVIDERS, json=link_body(other, "SK" + "1" * 32, "s")).status_code == 201
        assert_error_body(c.post(PROVIDERS, json=link_body(SID, "SK" + "1" * 32, "s")), 409)


def test_every_sid_linked_lists_the_stand_ins_accounts_too() -> None:
    """twilio_accounts null: the list shows the stand-in's accounts in every region."""
    faults = Faults(twilio_numbers=0, twilio_subaccounts=({},))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        listed = {(p["account_sid"], p["region"]) for p in c.get(PROVIDERS).json()}
    assert {(ACCOUNT_SID, "us1"), (SUB, "au1")} <= listed


def test_a_link_goes_through_the_fault_steps() -> None:
    """A link is an API request: counted, and refused without the key."""
    with RunningSandbox(faults=ORG) as sb:
        with client_for(sb, key="sk_car_wrong") as c:
            assert_error_body(c.post(PROVIDERS, json=link_body(SUB, API_KEY_SID, "x")), 401)
        assert sb.state.stats()["by_method"] == {"POST": 1}
