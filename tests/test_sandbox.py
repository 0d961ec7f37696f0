"""Tests for the sandbox: a Cartesia stand-in on real loopback sockets, with its faults."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import PATH, api_headers, import_body, us_number

from bulk_import.sandbox import (
    API_VERSION,
    DEFAULT_API_KEY,
    Faults,
    RunningSandbox,
    SandboxState,
    make_app,
    serve,
)

SID = "AC" + "0123456789abcdef" * 2
OTHER_SID = "AC" + "f" * 32


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """Run a sandbox with default faults."""
    with RunningSandbox() as running:
        yield running


def client_for(sandbox: RunningSandbox, key: str = DEFAULT_API_KEY) -> httpx.Client:
    """Return an httpx client with the API's headers."""
    return httpx.Client(base_url=sandbox.base_url, headers=api_headers(key), timeout=5)


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    """Return a client of the default sandbox."""
    with client_for(sandbox) as c:
        yield c


def assert_error_body(response: httpx.Response, status: int, fragment: str = "") -> dict[str, Any]:
    """Check an error answer: its status, Cartesia's JSON error body, and a fragment of text."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "title", "message", "request_id"}
    assert uuid.UUID(body["request_id"]).version == 4
    text = f"{body['title']} {body['message']}".lower()
    assert fragment.lower() in text, text
    return body


def post(c: httpx.Client, body: object) -> httpx.Response:
    """Send an import."""
    return c.post(PATH, json=body)


# -- import ----------------------------------------------------------------------------------


def test_import_answers_201_with_phone_number_response(client: httpx.Client) -> None:
    """A valid import by provider id answers 201 with the full PhoneNumberResponse."""
    r = post(client, import_body("+14155550100", label="Front desk", agent_id="agent_sandbox"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] == "pn_000000000001"
    assert body["number"] == "+14155550100"
    assert body["label"] == "Front desk"
    assert body["agent"] == {"id": "agent_sandbox", "name": "agent_sandbox"}
    provider = body["provider"]
    assert provider["type"] == "twilio"
    assert provider["id"] == "prov_sandbox"
    assert provider["account_sid"].startswith("AC")
    assert len(provider["account_sid"]) == 34
    assert provider["api_key_sid"].startswith("SK")
    assert "*" in provider["api_key_sid"]
    assert provider["region"] == "us1"
    created = dt.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 5
    assert body["updated_at"] == body["created_at"]


def test_import_by_twilio_account_links_a_provider(client: httpx.Client) -> None:
    """A Twilio-account import gets a provider with that SID and region, reusable by its id."""
    body = {
        "number": "+14155550101",
        "label": "a",
        "provider": {"type": "twilio", "account_sid": SID},
    }
    first = post(client, body).json()["provider"]
    assert first["account_sid"] == SID
    assert first["region"] == "us1"
    us1 = {"type": "twilio", "account_sid": SID, "region": "us1"}
    second = post(client, {**body, "number": "+14155550102", "provider": us1}).json()["provider"]
    assert second == first
    by_id = post(client, import_body("+14155550103", provider_id=first["id"]))
    assert by_id.status_code == 201
    assert by_id.json()["provider"] == first
    ie = {"type": "twilio", "account_sid": SID, "region": "ie1"}
    other = post(client, {**body, "number": "+14155550104", "provider": ie}).json()["provider"]
    assert other["region"] == "ie1"
    assert other["id"] != first["id"]


def test_repeat_import_is_409(client: httpx.Client) -> None:
    """Importing a number that is there answers 409 'already been imported'."""
    assert post(client, import_body("+14155550100")).status_code == 201
    assert_error_body(post(client, import_body("+14155550100")), 409, "already been imported")


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (None, "missing authorization"),
        (b"Bearer sk_car_wrong", "invalid api key"),
        (b"Basic sk_car_sandbox", "invalid api key"),
        (b"sk_car_sandbox", "invalid api key"),
        (b"Bearer sk_car_sandbox\xe9", "invalid api key"),
    ],
)
def test_bad_or_missing_key_is_401_json(
    sandbox: RunningSandbox, authorization: bytes | None, fragment: str
) -> None:
    """A missing or wrong key answers 401 with a JSON error body that never echoes the key."""
    headers = {b"Cartesia-Version": API_VERSION.encode()}
    if authorization is not None:
        headers[b"Authorization"] = authorization
    r = httpx.post(sandbox.base_url + PATH, json=import_body("+14155550100"), headers=headers)
    body = assert_error_body(r, 401, fragment)
    assert "sk_car" not in json.dumps(body)
    assert sandbox.state.stats()["stored"] == 0


def test_bearer_scheme_is_case_insensitive(sandbox: RunningSandbox) -> None:
    """'bearer' in lower case is the same scheme as 'Bearer'."""
    headers = {"Authorization": f"bearer {DEFAULT_API_KEY}", "Cartesia-Version": API_VERSION}
    assert httpx.get(sandbox.base_url + PATH, headers=headers).status_code == 200


def test_custom_key_is_the_only_key() -> None:
    """A sandbox started with another key accepts it and refuses the default one."""
    with RunningSandbox(api_key="sk_car_other") as sb:
        with client_for(sb, "sk_car_other") as c:
            assert c.get(PATH).status_code == 200
        with client_for(sb) as c:
            assert_error_body(c.get(PATH), 401)


@pytest.mark.parametrize("version", [None, "2025-04-16", ""])
def test_missing_or_wrong_version_is_400(sandbox: RunningSandbox, version: str | None) -> None:
    """Without Cartesia-Version 2026-03-01 every API request answers 400 naming the header."""
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    if version is not None:
        headers["Cartesia-Version"] = version
    r = httpx.post(sandbox.base_url + PATH, json=import_body("+14155550100"), headers=headers)
    assert_error_body(r, 400, "Cartesia-Version")
    assert_error_body(httpx.get(sandbox.base_url + PATH, headers=headers), 400, "2026-03-01")


GOOD: dict[str, object] = {
    "number": "+14155550100",
    "label": "x",
    "provider": {"id": "prov_sandbox"},
}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "number"}, "number is required"),
        ({**GOOD, "number": 14155550100}, "number must be a string"),
        ({**GOOD, "number": "4155550100"}, "E.164"),
        ({**GOOD, "number": "+04155550100"}, "E.164"),
        ({**GOOD, "number": "+1415555010012345"}, "E.164"),
        (
            {**GOOD, "number": "+1\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10"},
            "E.164",
        ),
        ({**GOOD, "number": "+14155550100\n"}, "E.164"),
        ({k: v for k, v in GOOD.items() if k != "label"}, "label is required"),
        ({**GOOD, "label": 7}, "label must be a string"),
        ({k: v for k, v in GOOD.items() if k != "provider"}, "provider is required"),
        ({**GOOD, "provider": "prov_sandbox"}, "provider must be an object"),
        ({**GOOD, "provider": {}}, "provider must be"),
        ({**GOOD, "provider": {"id": 5}}, "provider.id must be a string"),
        ({**GOOD, "provider": {"type": "sip_trunk"}}, "provider.type"),
        ({**GOOD, "provider": {"type": "twilio"}}, "provider.account_sid"),
        ({**GOOD, "provider": {"type": "twilio", "account_sid": 5}}, "provider.account_sid"),
        ({**GOOD, "provider": {"type": "twilio", "account_sid": SID, "region": "eu9"}}, "region"),
        ({**GOOD, "agent_id": 5}, "agent_id must be a string"),
        ({**GOOD, "agent_id": None}, "agent_id must be a string"),
    ],
)
def test_body_validation_is_400_naming_the_field(
    client: httpx.Client, body: object, fragment: str
) -> None:
    """Each malformed import body answers 400 with a message naming what is wrong."""
    if isinstance(body, bytes):
        r = client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    else:
        r = post(client, body)
    assert_error_body(r, 400, fragment)
    assert client.get(PATH).json()["data"] == []


@pytest.mark.parametrize(
    ("provider", "agent", "fragment"),
    [
        ({"id": "prov_nope"}, None, "provider not found"),
        ({"type": "twilio", "account_sid": "AC123"}, None, "provider not found"),
        ({"id": "prov_sandbox"}, "agent_nope", "agent not found"),
    ],
)
def test_unknown_provider_or_agent_is_404(
    client: httpx.Client, provider: dict[str, str], agent: str | None, fragment: str
) -> None:
    """An unknown provider id, a malformed SID or an unknown agent is 404; nothing is stored."""
    body: dict[str, object] = {"number": "+14155550100", "label": "x", "provider": provider}
    if agent is not None:
        body["agent_id"] = agent
    assert_error_body(post(client, body), 404, fragment)
    assert client.get(PATH).json()["data"] == []


def test_unlinked_twilio_account_is_404_when_accounts_are_listed() -> None:
    """With twilio_accounts set, only those SIDs are linked; any other answers 404."""
    with RunningSandbox(faults=Faults(twilio_accounts=(SID,))) as sb, client_for(sb) as c:
        body = {"number": "+14155550100", "label": "x"}
        other = {**body, "provider": {"type": "twilio", "account_sid": OTHER_SID}}
        assert_error_body(post(c, other), 404, "not linked")
        linked = {**body, "provider": {"type": "twilio", "account_sid": SID}}
        assert post(c, linked).status_code == 201


def test_webhook_failure_stores_without_agent_then_patch_assigns() -> None:
    """A webhook failure stores the number with agent null and answers 400 about the webhook."""
    number = "+14155550100"
    with RunningSandbox(faults=Faults(webhook_fail_numbers=(number,))) as sb, client_for(sb) as c:
        r = post(c, import_body(number, agent_id="agent_sandbox"))
        body = assert_error_body(r, 400, "webhook")
        assert "PATCH" in body["message"]
        stored = sb.state.get(number)
        assert stored is not None
        assert stored["agent"] is None
        assert_error_body(post(c, import_body(number, agent_id="agent_sandbox")), 409)
        found = c.get(PATH, params={"q": number}).json()["data"]
        assert [n["id"] for n in found] == [stored["id"]]
        patched = c.patch(f"{PATH}/{stored['id']}", json={"agent_id": "agent_sandbox"})
        assert patched.status_code == 200
        assert patched.json()["agent"] == {"id": "agent_sandbox", "name": "agent_sandbox"}


def test_webhook_fail_fraction_hits_only_imports_with_an_agent() -> None:
    """webhook_fail_fraction 1.0 fails every import naming an agent, and no other."""
    with RunningSandbox(faults=Faults(webhook_fail_fraction=1.0)) as sb, client_for(sb) as c:
        assert post(c, import_body("+14155550100")).status_code == 201
        r = post(c, import_body("+14155550101", agent_id="agent_sandbox"))
        assert_error_body(r, 400, "webhook configuration failed")
        assert sb.state.numbers["+14155550101"]["agent"] is None


def test_number_not_in_account_is_400_and_not_stored() -> None:
    """A number listed in not_in_account answers 400 'not found in the provider account'."""
    number = "+14155550100"
    with RunningSandbox(faults=Faults(not_in_account=(number,))) as sb, client_for(sb) as c:
        assert_error_body(post(c, import_body(number)), 400, "not found in the provider account")
        assert sb.state.get(number) is None


# -- list, get, patch ------------------------------------------------------------------------


def seed_numbers(state: SandboxState, count: int, **kwargs: str) -> list[str]:
    """Add ``count`` numbers directly and return their ids."""
    return [state.add_number(us_number(i), **kwargs)["id"] for i in range(count)]


def test_list_pages_through_250_numbers(sandbox: RunningSandbox, client: httpx.Client) -> None:
    """Paging 250 numbers by 100 gives 3 pages in creation order, has_more on all but the last."""
    ids = seed_numbers(sandbox.state, 250)
    assert ids == sorted(ids)
    pages: list[list[str]] = []
    more_flags: list[bool] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = client.get(PATH, params=params).json()
        pages.append([n["id"] for n in page["data"]])
        more_flags.append(page["has_more"])
        if not page["has_more"]:
            break
        params["starting_after"] = pages[-1][-1]
    assert pages == [ids[:100], ids[100:200], ids[200:]]
    assert more_flags == [True, True, False]
    first = client.get(PATH).json()
    assert [n["id"] for n in first["data"]] == ids[:10]
    assert first["has_more"]


def test_list_ending_before_pages_backwards(sandbox: RunningSandbox, client: httpx.Client) -> None:
    """ending_before gives the page just before the cursor, has_more while more lie before it."""
    ids = seed_numbers(sandbox.state, 250)
    page = client.get(PATH, params={"limit": 100, "ending_before": ids[200]}).json()
    assert [n["id"] for n in page["data"]] == ids[100:200]
    assert page["has_more"]
    page = client.get(PATH, params={"limit": 100, "ending_before": ids[100]}).json()
    assert [n["id"] for n in page["data"]] == ids[:100]
    assert not page["has_more"]
    page = client.get(PATH, params={"ending_before": ids[0]}).json()
    assert page == {"data": [], "has_more": False}
    last = client.get(PATH, params={"limit": 100, "starting_after": ids[-1]}).json()
    assert last == {"data": [], "has_more": False}


def test_list_unfiltered_page_is_cheap_with_20000_numbers() -> None:
    """An unfiltered page deep into 20,000 numbers is found by id, not by a scan."""
    state = SandboxState(Faults())
    ids = seed_numbers(state, 20_000)
    started = time.perf_counter()
    for _ in range(200):
        items, more = state.page(
            limit=100,
            starting_after=ids[19_850],
            ending_before=None,
            agent_id=None,
            provider_id=None,
            kind=None,
            q=None,
        )
    assert [n.id for n in items] == ids[19_851:19_951]
    assert more
    assert time.perf_counter() - started < 0.5


def test_list_filters() -> None:
    """agent_id, provider_id, type and q filter the list; q matches number, label or agent name."""
    faults = Faults(agents=("agent_a", "agent_b"), providers=("prov_a", "prov_b"))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        state = sb.state
        a = state.add_number("+14155550100", label="Front Desk", agent_id="agent_a")
        b = state.add_number(
            "+14155550101", label="Sales", agent_id="agent_b", provider_id="prov_b"
        )
        n = state.add_number("+442071838750", provider_id="prov_b")

        def ids(**params: str) -> list[str]:
            return [x["id"] for x in c.get(PATH, params=params).json()["data"]]

        assert ids() == [a["id"], b["id"], n["id"]]
        assert ids(agent_id="agent_a") == [a["id"]]
        assert ids(provider_id="prov_b") == [b["id"], n["id"]]
        assert ids(provider_id="prov_b", agent_id="agent_b") == [b["id"]]
        assert ids(type="twilio") == [a["id"], b["id"], n["id"]]
        assert ids(type="cartesia") == []
        assert ids(q="front desk") == [a["id"]]
        assert ids(q="+14155550101") == [b["id"]]
        assert ids(q="4155550") == [a["id"], b["id"]]
        assert ids(q="AGENT_B") == [b["id"]]
        assert ids(q="+4420") == [n["id"]]
        assert ids(q="nothing") == []
        assert ids(q="") == [a["id"], b["id"], n["id"]]


def test_filtered_list_pages_both_ways() -> None:
    """A filtered list pages with starting_after and ending_before like an unfiltered one."""
    faults = Faults(agents=("agent_a", "agent_b"))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        a_ids = []
        for i in range(9):
            added = sb.state.add_number(us_number(i), agent_id="agent_a" if i % 3 else "agent_b")
            if i % 3:
                a_ids.append(added["id"])
        page = c.get(PATH, params={"agent_id": "agent_a", "limit": 4}).json()
        assert [x["id"] for x in page["data"]] == a_ids[:4]
        assert page["has_more"]
        params = {"agent_id": "agent_a", "limit": 4, "starting_after": a_ids[3]}
        page = c.get(PATH, params=params).json()
        assert [x["id"] for x in page["data"]] == a_ids[4:]
        assert not page["has_more"]
        params = {"agent_id": "agent_a", "limit": 2, "ending_before": a_ids[4]}
        page = c.get(PATH, params=params).json()
        assert [x["id"] for x in page["data"]] == a_ids[2:4]
        assert page["has_more"]
        params = {"agent_id": "agent_a", "limit": 5, "ending_before": a_ids[4]}
        page = c.get(PATH, params=params).json()
        assert [x["id"] for x in page["data"]] == a_ids[:4]
        assert not page["has_more"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"starting_after": "pn_nope"}, "starting_after"),
        ({"ending_before": "pn_nope"}, "ending_before"),
        ({"starting_after": "pn_000000000001", "ending_before": "pn_000000000001"}, "not both"),
        ({"type": "sip_trunk"}, "type"),
    ],
)
def test_bad_list_parameters_are_400(
    sandbox: RunningSandbox, client: httpx.Client, params: dict[str, str], fragment: str
) -> None:
    """An out-of-range limit, an unknown cursor, both cursors, or a bad type answer 400."""
    seed_numbers(sandbox.state, 1)
    assert_error_body(client.get(PATH, params=params), 400, fragment)


def test_list_limit_bounds_are_accepted(sandbox: RunningSandbox, client: httpx.Client) -> None:
    """limit 1 and limit 100 are both valid."""
    seed_numbers(sandbox.state, 3)
    assert len(client.get(PATH, params={"limit": 1}).json()["data"]) == 1
    assert len(client.get(PATH, params={"limit": 100}).json()["data"]) == 3


def test_get_by_id(client: httpx.Client) -> None:
    """GET by id returns what the import returned; an unknown id answers 404."""
    created = post(client, import_body("+14155550100")).json()
    assert client.get(f"{PATH}/{created['id']}").json() == created
    assert_error_body(client.get(f"{PATH}/pn_999"), 404, "phone number not found")


def test_patch_updates_label_agent_and_provider() -> None:
    """PATCH changes the label, assigns or unassigns (null) the agent, and changes provider."""
    faults = Faults(providers=("prov_a", "prov_b"))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        created = post(c, import_body("+14155550100", provider_id="prov_a")).json()
        url = f"{PATH}/{created['id']}"
        r = c.patch(url, json={"agent_id": "agent_sandbox", "label": "Support"})
        assert r.status_code == 200
        assert r.json()["agent"]["id"] == "agent_sandbox"
        assert r.json()["label"] == "Support"
        assert c.patch(url, json={"agent_id": None}).json()["agent"] is None
        moved = c.patch(url, json={"provider": {"id": "prov_b"}}).json()
        assert moved["provider"]["id"] == "prov_b"
        assert moved["label"] == "Support"
        assert c.patch(url, json={}).json()["id"] == created["id"]
        assert c.get(PATH, params={"q": "support"}).json()["data"][0]["id"] == created["id"]


@pytest.mark.parametrize(
    ("target", "body", "status", "fragment"),
    [
        ("pn_999", {"agent_id": "agent_sandbox"}, 404, "phone number not found"),
        (None, {"agent_id": "agent_nope"}, 404, "agent not found"),
        (None, {"provider": {"id": "prov_nope"}}, 404, "provider not found"),
        (None, ["agent_sandbox"], 400, "JSON object"),
        (None, {"label": 5}, 400, "label must be a string"),
        (None, {"agent_id": 5}, 400, "agent_id must be a string or null"),
    ],
)
def test_patch_errors(
    client: httpx.Client, target: str | None, body: object, status: int, fragment: str
) -> None:
    """PATCH of an unknown id, agent or provider answers 404; a malformed body 400."""
    created = post(client, import_body("+14155550100")).json()
    r = client.patch(f"{PATH}/{target or created['id']}", json=body)
    assert_error_body(r, status, fragment)
    assert client.get(f"{PATH}/{created['id']}").json() == created


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["seconds", "ms", "date", "none"])
def test_rate_limit_answers_429_with_retry_after(mode: str) -> None:
    """Past the rate limit the sandbox answers 429, saying when to retry in the chosen form."""
    faults = Faults(rate_limit=10, retry_after=mode, retry_after_s=0)
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        assert c.get(PATH).status_code == 200
        r = c.get(PATH)
        body = assert_error_body(r, 429)
        assert body["error_code"] == "rate_limited"
        if mode == "seconds":
            assert r.headers["Retry-After"] == "1"
        elif mode == "ms":
            assert 1 <= int(r.headers["retry-after-ms"]) <= 100
        elif mode == "date":
            when = email.utils.parsedate_to_datetime(r.headers["Retry-After"])
            assert 0 <= (when - dt.datetime.now(dt.UTC)).total_seconds() <= 2
        else:
            assert "Retry-After" not in r.headers
            assert "retry-after-ms" not in r.headers
        time.sleep(0.11)
        assert c.get(PATH).status_code == 200


def test_rate_limit_announces_at_least_retry_after_s() -> None:
    """A rate-limit 429 announces the larger of the refill time and retry_after_s."""
    faults = Faults(rate_limit=10, retry_after="ms", retry_after_s=0.25)
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        statuses = [c.get(PATH) for _ in range(12)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited
        assert all(r.headers["retry-after-ms"] == "250" for r in limited)
        assert sb.state.stats()["by_status"]["429"] == len(limited)


def test_rate_limit_answers_before_auth() -> None:
    """The limiter answers 429 even to a request with a wrong key, like an edge proxy."""
    with RunningSandbox(faults=Faults(rate_limit=1)) as sb, client_for(sb, "sk_car_bad") as c:
        assert c.get(PATH).status_code == 401
        assert c.get(PATH).status_code == 429


@pytest.mark.parametrize(
    ("name", "status"),
    [("error_429", 429), ("error_500", 500), ("error_502", 502), ("error_503", 503)],
)
def test_error_fraction_one_answers_every_request_so(name: str, status: int) -> None:
    """A fault fraction of 1.0 answers every API request (POST, GET, PATCH) with that status."""
    faults = Faults.from_dict({name: 1.0, "retry_after_s": 2})
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        responses = [
            post(c, import_body("+14155550100")),
            c.get(PATH),
            c.get(f"{PATH}/pn_1"),
            c.patch(f"{PATH}/pn_1", json={}),
        ]
        for r in responses:
            assert_error_body(r, status)
            assert ("Retry-After" in r.headers) == (status == 429)
        if status == 429:
            assert responses[0].headers["Retry-After"] == "2"
            assert responses[0].json()["error_code"] == "concurrency_limited"
        assert sb.state.stats()["stored"] == 0
        stats = c.get("/_sandbox/stats").json()
        assert stats["by_status"] == {str(status): 4}


def test_drop_closes_the_connection_without_answer() -> None:
    """drop 1.0 closes every connection with no response: the client sees a transport error."""
    with RunningSandbox(faults=Faults(drop=1.0)) as sb, client_for(sb) as c:
        with pytest.raises(httpx.TransportError):
            post(c, import_body("+14155550100"))
        with pytest.raises(httpx.TransportError):
            c.get(PATH)
        stats = sb.state.stats(detail=True)
        assert stats["by_status"] == {"dropped": 2}
        assert stats["stored"] == 0
        assert stats["posts_by_number"] == {"+14155550100": 1}


def test_stored_then_500_makes_the_retry_see_409() -> None:
    """stored_then_500 stores the number and answers 500; the retry answers 409."""
    with RunningSandbox(faults=Faults(stored_then_500=1.0)) as sb, client_for(sb) as c:
        assert_error_body(post(c, import_body("+14155550100")), 500)
        assert sb.state.get("+14155550100") is not None
        assert_error_body(post(c, import_body("+14155550100")), 409)


def test_fault_draws_follow_the_seed() -> None:
    """The same seed gives the same sequence of faults; about the asked fraction fail."""

    def statuses(seed: int) -> list[int]:
        with RunningSandbox(faults=Faults(error_500=0.5), seed=seed) as sb, client_for(sb) as c:
            return [c.get(PATH).status_code for _ in range(40)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 500}
    assert 8 <= first.count(500) <= 32


def test_latency_is_added_to_api_requests_only() -> None:
    """latency_ms delays every API request, not the admin endpoints."""
    with RunningSandbox(faults=Faults(latency_ms=250)) as sb, client_for(sb) as c:
        started = time.monotonic()
        assert c.get(PATH).status_code == 200
        assert time.monotonic() - started >= 0.25
        started = time.monotonic()
        assert c.get("/_sandbox/stats").status_code == 200
        assert time.monotonic() - started < 0.25


def test_existing_numbers_are_there_at_start_and_after_reset() -> None:
    """existing numbers are stored at start (409 on import) and again after a reset."""
    faults = Faults(
        agents=("agent_sandbox", "agent_old"),
        existing=(
            {"number": "+14155550100", "agent_id": "agent_old", "label": "Old"},
            {"number": "+14155550101"},
        ),
    )
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        data = c.get(PATH).json()["data"]
        assert [(n["number"], n["label"]) for n in data] == [
            ("+14155550100", "Old"),
            ("+14155550101", "+14155550101"),
        ]
        assert data[0]["agent"]["id"] == "agent_old"
        assert data[1]["agent"] is None
        assert_error_body(post(c, import_body("+14155550100")), 409)
        assert post(c, import_body("+14155550102")).status_code == 201
        r = c.post("/_sandbox/reset")
        assert r.json() == {"reset": True, "stored": 2}
        assert [n["id"] for n in c.get(PATH).json()["data"]] == [d["id"] for d in data]
        assert sb.state.stats()["requests"] == 1


# -- admin endpoints and state ---------------------------------------------------------------


def test_stats_count_requests_statuses_and_posts(
    sandbox: RunningSandbox, client: httpx.Client
) -> None:
    """stats count API requests by status and method, POSTs by number and by second."""
    post(client, import_body("+14155550100"))
    post(client, import_body("+14155550100"))
    post(client, {"label": "no number"})
    client.get(PATH)
    client.patch(f"{PATH}/pn_000000000001", json={"label": "x"})
    stats = client.get("/_sandbox/stats").json()
    assert stats["requests"] == 5
    assert stats["by_status"] == {"201": 1, "409": 1, "400": 1, "200": 2}
    assert stats["by_method"] == {"POST": 3, "GET": 1, "PATCH": 1}
    assert stats["stored"] == 1
    assert sum(stats["post_seconds"]) == 3
    assert "posts_by_number" not in stats
    detail = client.get("/_sandbox/stats", params={"detail": "1"}).json()
    assert detail["posts_by_number"] == {"+14155550100": 2}
    assert sandbox.state.post_counts == {"+14155550100": 2}
    assert sandbox.state.stats(detail=True)["posts_by_number"] == {"+14155550100": 2}
    assert "posts_by_number" not in client.get("/_sandbox/stats?detail=0").json()


def test_admin_add_number(sandbox: RunningSandbox, client: httpx.Client) -> None:
    """POST /_sandbox/numbers adds a number directly; errors answer like the import."""
    add = "/_sandbox/numbers"
    r = client.post(add, json={"number": "+14155550100", "agent_id": "agent_sandbox"})
    assert r.status_code == 201
    assert r.json()["label"] == "+14155550100"
    assert r.json()["provider"]["id"] == "prov_sandbox"
    assert sandbox.state.numbers["+14155550100"]["id"] == r.json()["id"]
    assert_error_body(client.post(add, json={"number": "+14155550100"}), 409)
    assert_error_body(client.post(add, json={"label": "x"}), 400, "number is required")
    assert_error_body(client.post(add, json={"number": "123"}), 400, "E.164")
    assert_error_body(client.post(add, json={"number": "+14155550101", "label": 1}), 400, "label")
    assert_error_body(client.post(add, json={"number": "+14155550101", "x": 1}), 400, "x")
    bad_agent = {"number": "+14155550101", "agent_id": "nope"}
    assert_error_body(client.post(add, json=bad_agent), 404, "agent not found")
    agent_type = {"number": "+14155550101", "agent_id": 5}
    assert_error_body(client.post(add, json=agent_type), 400, "agent_id must be a string")
    bad_provider = {"number": "+14155550101", "provider_id": "nope"}
    assert_error_body(client.post(add, json=bad_provider), 404, "provider not found")
    assert_error_body(client.post(add, content=b"nope"), 400, "JSON")
    assert client.get("/_sandbox/stats").json()["requests"] == 0


def test_admin_add_needs_a_provider_when_none_is_configured() -> None:
    """With no provider ids configured, adding a number without provider_id answers 400."""
    with RunningSandbox(faults=Faults(providers=())) as sb, client_for(sb) as c:
        r = c.post("/_sandbox/numbers", json={"number": "+14155550100"})
        assert_error_body(r, 400, "provider_id is required")
        twilio = {"type": "twilio", "account_sid": SID}
        assert (
            post(c, {"number": "+14155550100", "label": "", "provider": twilio}).status_code == 201
        )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_sandbox/stats"), ("POST", "/_sandbox/numbers"), ("POST", "/_sandbox/reset")],
)
def test_admin_endpoints_need_the_key(sandbox: RunningSandbox, method: str, path: str) -> None:
    """Every admin endpoint answers 401 without the key."""
    assert_error_body(httpx.request(method, sandbox.base_url + path, json={}), 401)


def test_running_sandbox_lifecycle() -> None:
    """A sandbox starts once, refuses a busy port, and stops twice without harm."""
    sb = RunningSandbox().start()
    try:
        assert sb.base_url == f"http://127.0.0.1:{sb.port}"
        with pytest.raises(RuntimeError, match="already started"):
            sb.start()
        with pytest.raises(OSError, match="address"):
            RunningSandbox(port=sb.port).start()
    finally:
        sb.stop()
    sb.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(sb.base_url + PATH)


def test_make_app_is_an_aiohttp_application() -> None:
    """make_app builds an application whose state starts empty."""
    app = make_app(faults=Faults(), api_key="k", seed=1)
    assert {r.resource.canonical for r in app.router.routes() if r.resource} >= {
        PATH,
        PATH + "/{id}",
        "/_sandbox/stats",
    }


# -- the faults file -------------------------------------------------------------------------


def test_faults_from_file_reads_every_key(tmp_path: Path) -> None:
    """A faults file with every key gives the same Faults, lists as tuples."""
    data = {
        "latency_ms": 5,
        "rate_limit": 100,
        "retry_after": "date",
        "retry_after_s": 0.5,
        "error_429": 0.1,
        "error_500": 0.1,
        "error_502": 0.1,
        "error_503": 0.1,
        "drop": 0.1,
        "stored_then_500": 0.1,
        "webhook_fail_numbers": ["+14155550100"],
        "webhook_fail_fraction": 0.2,
        "not_in_account": ["+14155550101"],
        "existing": [{"number": "+14155550102", "agent_id": None, "provider_id": "prov_x"}],
        "providers": ["prov_x"],
        "agents": ["agent_x"],
        "twilio_accounts": [SID],
    }
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    faults = Faults.from_file(path)
    assert faults.rate_limit == 100
    assert faults.webhook_fail_numbers == ("+14155550100",)
    assert faults.existing == ({"number": "+14155550102", "provider_id": "prov_x"},)
    assert faults.twilio_accounts == (SID,)
    assert Faults.from_dict({}) == Faults()
    assert Faults.from_dict({"rate_limit": None}).rate_limit is None


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"latency": 5, "zzz": 1}', "unknown faults key(s): latency, zzz"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"latency_ms": -1}', "latency_ms must be at least 0"),
        ('{"latency_ms": "5"}', "latency_ms must be a number"),
        ('{"error_500": 1.5}', "error_500 must be between 0 and 1"),
        ('{"drop": true}', "drop must be a number"),
        ('{"drop": NaN}', "drop must be a number"),
        ('{"error_500": 0.6, "error_502": 0.6}', "add up to at most 1"),
        ('{"rate_limit": 0}', "rate_limit must be above 0"),
        ('{"retry_after": "minutes"}', "retry_after must be one of"),
        ('{"retry_after_s": -1}', "retry_after_s"),
        ('{"webhook_fail_numbers": "+14155550100"}', "webhook_fail_numbers must be a list"),
        ('{"not_in_account": ["4155550100"]}', "not an E.164 number"),
        ('{"providers": [""]}', "providers must be a list of non-empty strings"),
        ('{"agents": [5]}', "agents must be a list of non-empty strings"),
        ('{"twilio_accounts": ["AC12"]}', "not an account SID"),
        ('{"existing": {"number": "+14155550100"}}', "existing must be a list"),
        ('{"existing": ["+14155550100"]}', "existing[0] must be an object"),
        ('{"existing": [{"number": "+14155550100", "agent": "a"}]}', "unknown key(s) agent"),
        ('{"existing": [{"number": 14155550100}]}', "existing[0].number must be a string"),
        ('{"existing": [{"label": "x"}]}', "existing[0].number must be an E.164"),
        (
            '{"existing": [{"number": "+14155550100"}, {"number": "+14155550100"}]}',
            "listed twice",
        ),
        ('{"existing": [{"number": "+14155550100", "agent_id": "a"}]}', "not one of agents"),
        ('{"existing": [{"number": "+14155550100", "provider_id": "p"}]}', "not one of providers"),
        ('{"providers": [], "existing": [{"number": "+14155550100"}]}', "needs a provider_id"),
    ],
)
def test_faults_file_errors_name_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    """A bad faults file is one ValueError naming the file and what is wrong in it."""
    path = tmp_path / "faults.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="faults") as info:
        Faults.from_file(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_missing_faults_file_is_a_value_error(tmp_path: Path) -> None:
    """A faults file that cannot be read is a ValueError naming it."""
    missing = tmp_path / "nope.json"
    with pytest.raises(ValueError, match="cannot read faults file") as info:
        Faults.from_file(missing)
    assert str(missing) in str(info.value)


def test_from_dict_refuses_a_non_mapping() -> None:
    """from_dict refuses anything but an object."""
    with pytest.raises(ValueError, match="JSON object"):
        Faults.from_dict([])  # type: ignore[arg-type]


# -- serve -----------------------------------------------------------------------------------


SERVE = "from bulk_import.sandbox import serve; raise SystemExit(serve(port=0))"


def test_serve_subprocess_prints_url_answers_and_exits_0_on_sigterm() -> None:
    """`serve` prints its URL first, accepts the env key without printing it, exits 0 on SIGTERM."""
    secret = "sk_car_env_secret_123"
    env = {**os.environ, "CARTESIA_API_KEY": secret}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("sandbox listening on http://127.0.0.1:")
        assert proc.stdout.readline().strip() == "accepting the API key from CARTESIA_API_KEY"
        url = first.rsplit(" ", 1)[1]
        headers = api_headers(secret)
        assert (
            httpx.post(url + PATH, json=import_body("+14155550100"), headers=headers).status_code
            == 201
        )
        assert httpx.get(url + PATH, headers=api_headers()).status_code == 401
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert secret not in first + out + err
    assert "Traceback" not in err


def run_serve_in_process(**kwargs: Any) -> tuple[int, list[str], list[str]]:
    """Run serve() in this thread; once it prints its URL, call it, then send SIGTERM to us."""
    lines: list[str] = []
    errors: list[str] = []
    seen: list[int] = []

    def poke(url: str) -> None:
        headers = api_headers(os.environ.get("CARTESIA_API_KEY") or DEFAULT_API_KEY)
        seen.append(httpx.get(url + PATH, headers=headers).status_code)
        os.kill(os.getpid(), signal.SIGTERM)

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("sandbox listening on "):
            url = line.rsplit(" ", 1)[1]
            threading.Thread(target=poke, args=(url,), daemon=True).start()

    code = serve(echo=echo, echo_err=errors.append, **kwargs)
    if code == 0:
        assert seen == [200]
    return code, lines, errors


def test_serve_in_process_stops_on_sigterm_and_restores_handlers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """serve() returns 0 on SIGTERM, says which key it accepts, and puts the handlers back."""
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    before = signal.getsignal(signal.SIGTERM)
    faults = tmp_path / "faults.json"
    faults.write_text('{"latency_ms": 1}', encoding="utf-8")
    code, lines, errors = run_serve_in_process(faults_path=str(faults), latency_ms=0, seed=3)
    assert code == 0
    assert errors == []
    assert lines[0].startswith("sandbox listening on http://127.0.0.1:")
    assert lines[1] == (
        "accepting the API key sk_car_sandbox (set CARTESIA_API_KEY to choose another)"
    )
    assert lines[2] == f"faults from {faults}"
    assert signal.getsignal(signal.SIGTERM) == before


def test_serve_in_process_never_prints_the_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CARTESIA_API_KEY set, serve() accepts it and never prints it."""
    monkeypatch.setenv("CARTESIA_API_KEY", "sk_car_from_env_987")
    code, lines, _ = run_serve_in_process()
    assert code == 0
    assert lines[1] == "accepting the API key from CARTESIA_API_KEY"
    assert "sk_car_from_env_987" not in "\n".join(lines)


def test_serve_bad_faults_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A bad faults file or latency prints one line to stderr and returns 2, serving nothing."""
    bad = tmp_path / "faults.json"
    bad.write_text('{"dropp": 1}', encoding="utf-8")
    out: list[str] = []
    err: list[str] = []
    assert serve(faults_path=str(bad), echo=out.append, echo_err=err.append) == 2
    assert out == []
    assert len(err) == 1
    assert "dropp" in err[0]
    assert serve(latency_ms=-5, echo=out.append, echo_err=err.append) == 2
    assert out == []
    assert "latency_ms" in err[1]


def test_serve_busy_port_is_exit_2() -> None:
    """A port already in use prints one line to stderr and returns 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out: list[str] = []
        err: list[str] = []
        assert serve(port=port, echo=out.append, echo_err=err.append) == 2
    assert out == []
    assert len(err) == 1
    assert f"127.0.0.1:{port}" in err[0]


def test_serve_default_echo_flushes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The default echo functions write whole lines to stdout and stderr."""
    assert serve(faults_path=str(tmp_path / "none.json")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("bulk-import sandbox: cannot read faults file")
