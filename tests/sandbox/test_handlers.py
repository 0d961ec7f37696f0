"""Tests for the API operations and their fault steps, over real loopback sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import time

import httpx
import pytest
from sandbox_fixtures import PATH, api_headers, import_body

from bulk_import.sandbox import API_VERSION, DEFAULT_API_KEY, Faults, RunningSandbox, SandboxState
from sandbox.helpers import OTHER_SID, SID, assert_error_body, client_for, post, seed_numbers


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


def test_delete_refuses_an_assigned_number_until_patch_unassigns_it(
    sandbox: RunningSandbox, client: httpx.Client
) -> None:
    """DELETE of an assigned number is 400 naming the fix (nothing deleted); PATCH agent_id
    null unassigns it; DELETE is then 204 with no body, and the number is gone (GET 404, not
    listed, importable again); a DELETE again, or of an unknown id, is 404. Each is counted."""
    created = post(client, import_body("+14155550100", agent_id="agent_sandbox")).json()
    url = f"{PATH}/{created['id']}"
    refused = assert_error_body(client.delete(url), 400, "assigned to agent agent_sandbox")
    assert '{"agent_id": null}' in refused["message"]
    assert client.get(url).json() == created
    unassigned = client.patch(url, json={"agent_id": None})
    assert unassigned.status_code == 200
    assert unassigned.json()["agent"] is None
    gone = client.delete(url)
    assert (gone.status_code, gone.content) == (204, b"")
    assert_error_body(client.get(url), 404, "phone number not found")
    assert_error_body(client.delete(url), 404, "phone number not found")
    assert_error_body(client.delete(f"{PATH}/pn_999"), 404, "phone number not found")
    assert client.get(PATH).json() == {"data": [], "has_more": False}
    assert sandbox.state.get("+14155550100") is None
    again = post(client, import_body("+14155550100"))
    assert again.status_code == 201
    assert again.json()["id"] != created["id"]
    stats = sandbox.state.stats()
    assert stats["by_method"] == {"POST": 2, "DELETE": 4, "GET": 3, "PATCH": 1}
    assert stats["by_status"]["204"] == 1
    assert stats["stored"] == 1


def test_delete_goes_through_the_fault_steps() -> None:
    """A DELETE meets the key check, the version check and the fault dice like any request."""
    with RunningSandbox(faults=Faults(error_503=1.0)) as sb, client_for(sb) as c:
        created = sb.state.add_number("+14155550100")
        assert c.delete(f"{PATH}/{created['id']}").status_code == 503
        assert sb.state.get("+14155550100") is not None
    with RunningSandbox() as sb, client_for(sb, key="sk_car_wrong") as c:
        created = sb.state.add_number("+14155550100")
        assert_error_body(c.delete(f"{PATH}/{created['id']}"), 401, "invalid api key")
        headers = {**api_headers(), "Cartesia-Version": "2025-01-01"}
        r = httpx.delete(f"{sb.base_url}{PATH}/{created['id']}", headers=headers)
        assert_error_body(r, 400, "Cartesia-Version")
        assert sb.state.get("+14155550100") is not None


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


def test_latency_is_added_to_api_requests_only() -> None:
    """latency_ms delays every API request, not the admin endpoints."""
    with RunningSandbox(faults=Faults(latency_ms=250)) as sb, client_for(sb) as c:
        started = time.monotonic()
        assert c.get(PATH).status_code == 200
        assert time.monotonic() - started >= 0.25
        started = time.monotonic()
        assert c.get("/_sandbox/stats").status_code == 200
        assert time.monotonic() - started < 0.25


# -- as strict as the OpenAPI ----------------------------------------------------------------


def test_provider_matching_both_oneof_forms_is_400(client: httpx.Client) -> None:
    """A provider that is both {"id"} and {"type": "twilio", "account_sid"} is 400, not stored."""
    both = {"id": "prov_sandbox", "type": "twilio", "account_sid": SID}
    r = post(client, {"number": "+14155550100", "label": "x", "provider": both})
    assert_error_body(r, 400, "not both")
    assert client.get(PATH).json()["data"] == []
    created = post(client, import_body("+14155550101")).json()
    r = client.patch(f"{PATH}/{created['id']}", json={"provider": both})
    assert_error_body(r, 400, "not both")


@pytest.mark.parametrize(
    "provider",
    [
        {"id": "prov_sandbox", "type": "twilio"},  # By ID only: no account_sid
        {"id": "prov_sandbox", "type": "sip_trunk", "account_sid": SID},  # By ID only: bad type
    ],
)
def test_provider_matching_exactly_one_oneof_form_is_accepted(
    client: httpx.Client, provider: dict[str, object]
) -> None:
    """A provider object that matches exactly one of the two oneOf forms is imported."""
    r = post(client, {"number": "+14155550100", "label": "x", "provider": provider})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_body_with_a_non_json_content_type_is_415(client: httpx.Client, content_type: str) -> None:
    """A POST or PATCH whose Content-Type is not JSON is refused with 415, nothing changed."""
    raw = json.dumps(import_body("+14155550100")).encode()
    r = client.post(PATH, content=raw, headers={"Content-Type": content_type})
    body = assert_error_body(r, 415, "application/json")
    assert content_type in body["message"]
    assert client.get(PATH).json()["data"] == []
    created = post(client, import_body("+14155550101")).json()
    url = f"{PATH}/{created['id']}"
    patch = client.patch(url, content=b'{"label": "new"}', headers={"Content-Type": content_type})
    assert_error_body(patch, 415)
    assert client.get(url).json()["label"] == created["label"]


@pytest.mark.parametrize(
    "content_type", [None, "application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_or_absent_content_type_is_accepted(
    client: httpx.Client, content_type: str | None
) -> None:
    """A JSON media type (with parameters or a +json suffix), or none at all, reads the body."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    raw = json.dumps(import_body("+14155550100")).encode()
    assert client.post(PATH, content=raw, headers=headers).status_code == 201


def test_list_type_empty_is_400(client: httpx.Client) -> None:
    """type= with no value is not a type: 400, as for any other value outside the enum."""
    assert_error_body(client.get(PATH, params={"type": ""}), 400, "type must be")


def test_patch_label_null_is_400(client: httpx.Client) -> None:
    """label: null on PATCH is 400 (label is a string when present); the number is unchanged."""
    created = post(client, import_body("+14155550100", label="Desk")).json()
    r = client.patch(f"{PATH}/{created['id']}", json={"label": None})
    assert_error_body(r, 400, "label must be a string")
    assert client.get(f"{PATH}/{created['id']}").json()["label"] == "Desk"


# -- the limits ------------------------------------------------------------------------------


def async_client(sandbox: RunningSandbox) -> httpx.AsyncClient:
    """Return an async httpx client with the API's headers, for requests at the same time."""
    limits = httpx.Limits(max_connections=50)
    return httpx.AsyncClient(
        base_url=sandbox.base_url, headers=api_headers(), timeout=10, limits=limits
    )


async def wait_in_flight(sandbox: RunningSandbox, count: int) -> None:
    """Wait until the sandbox has ``count`` requests in flight."""
    for _ in range(500):
        if sandbox.state.stats()["in_flight"] == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {count} in flight: {sandbox.state.stats()}")


async def test_concurrency_limit_answers_429_at_once_with_no_retry_after() -> None:
    """Beyond concurrency_limit a request is answered 429 concurrency_limited before the others."""
    faults = Faults(concurrency_limit=2, latency_ms=1000)
    with RunningSandbox(faults=faults) as sb:
        async with async_client(sb) as c:
            slow = [asyncio.create_task(c.get(PATH)) for _ in range(2)]
            await wait_in_flight(sb, 2)
            refused = await c.get(PATH)
            assert not any(task.done() for task in slow)  # answered while they still wait
            body = assert_error_body(refused, 429, "concurrency limit of 2")
            assert body["error_code"] == "concurrency_limited"
            assert "Retry-After" not in refused.headers
            assert "retry-after-ms" not in refused.headers
            assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
        stats = sb.state.stats()
    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["requests"] == 3
    assert (stats["in_flight"], stats["max_in_flight"]) == (0, 2)
    assert sum(stats["rejected_seconds"]) == 1
    assert max(stats["in_flight_seconds"]) == 2


@pytest.mark.parametrize(
    ("mode", "header", "value"), [("seconds", "Retry-After", "2"), ("ms", "retry-after-ms", "2000")]
)
async def test_concurrency_429_says_when_only_if_retry_after_s_is_set(
    mode: str, header: str, value: str
) -> None:
    """A concurrency 429 carries Retry-After (in the faults' form) once retry_after_s is set."""
    faults = Faults(concurrency_limit=1, latency_ms=600, retry_after=mode, retry_after_s=2)
    with RunningSandbox(faults=faults) as sb:
        async with async_client(sb) as c:
            slow = asyncio.create_task(c.get(PATH))
            await wait_in_flight(sb, 1)
            refused = await c.post(PATH, json=import_body("+14155550100"))
            assert refused.status_code == 429
            assert refused.headers[header] == value
            assert (await slow).status_code == 200
        assert sb.state.stats(detail=True)["posts_by_number"] == {"+14155550100": 1}
        assert sb.state.get("+14155550100") is None


def test_injected_and_rate_limit_429s_still_say_one_second_by_default() -> None:
    """With retry_after_s unset, injected 429s and rate-limit 429s announce Retry-After: 1."""
    with RunningSandbox(faults=Faults(error_429=1.0)) as sb, client_for(sb) as c:
        assert c.get(PATH).headers["Retry-After"] == "1"
    with RunningSandbox(faults=Faults(rate_limit=5)) as sb, client_for(sb) as c:
        limited = [r for r in (c.get(PATH) for _ in range(3)) if r.status_code == 429]
        assert limited
        assert {r.headers["Retry-After"] for r in limited} == {"1"}


def test_latency_jitter_draws_around_the_latency_from_the_seed() -> None:
    """latency_jitter_ms spreads each latency uniformly over latency_ms +- jitter, seeded."""
    faults = Faults(latency_ms=800, latency_jitter_ms=400)

    def draws(seed: int) -> list[float]:
        state = SandboxState(faults, seed)
        return [state.latency() for _ in range(400)]

    first = draws(5)
    assert first == draws(5)
    assert first != draws(6)
    assert all(0.4 <= d <= 1.2 for d in first)
    assert min(first) < 0.5  # spread over the whole range
    assert max(first) > 1.1
    assert 0.75 < sum(first) / len(first) < 0.85
    clipped = SandboxState(Faults(latency_ms=10, latency_jitter_ms=50), 1)
    assert min(clipped.latency() for _ in range(100)) == 0.0
    assert SandboxState(Faults(latency_ms=20), 1).latency() == 0.02


def test_latency_jitter_leaves_the_fault_draws_as_they_were() -> None:
    """A jitter uses dice of its own: the same seed draws the same faults with or without it."""

    def statuses(faults: Faults) -> list[int]:
        with RunningSandbox(faults=faults, seed=3) as sb, client_for(sb) as c:
            return [c.get(PATH).status_code for _ in range(30)]

    plain = statuses(Faults(error_500=0.5))
    assert plain == statuses(Faults(error_500=0.5, latency_ms=2, latency_jitter_ms=2))


# -- the providers list ----------------------------------------------------------------------


PROVIDERS = PATH + "/providers"


def test_providers_list_names_the_known_providers(client: httpx.Client) -> None:
    """GET /agents/phone-numbers/providers answers the faults' providers as a JSON array."""
    r = client.get(PROVIDERS)
    assert r.status_code == 200
    listed = r.json()
    assert [p["id"] for p in listed] == ["prov_sandbox"]
    assert set(listed[0]) == {"type", "id", "account_sid", "api_key_sid", "region"}
    assert listed[0]["type"] == "twilio"
    assert client.get(PROVIDERS, params={"type": "twilio"}).json() == listed
    by_sid = client.get(PROVIDERS, params={"account_sid": listed[0]["account_sid"]}).json()
    assert by_sid[0] == listed[0]  # its account's us1 provider; the other regions follow
    assert [p["region"] for p in by_sid] == ["us1", "ie1", "au1"]


def test_providers_list_finds_a_linked_account_in_every_region(client: httpx.Client) -> None:
    """With account_sid, a linked account's providers (one per region) are listed and usable."""
    found = client.get(PROVIDERS, params={"account_sid": SID}).json()
    assert sorted(p["region"] for p in found) == ["au1", "ie1", "us1"]
    assert {p["account_sid"] for p in found} == {SID}
    us1 = next(p for p in found if p["region"] == "us1")
    by_account = {"type": "twilio", "account_sid": SID}
    imported = post(client, {"number": "+14155550100", "label": "x", "provider": by_account})
    assert imported.json()["provider"] == us1
    assert post(client, import_body("+14155550101", provider_id=us1["id"])).status_code == 201
    assert len(client.get(PROVIDERS).json()) == 4
    assert client.get(PROVIDERS, params={"account_sid": "AC123"}).json() == []
    assert client.get(PROVIDERS, params={"account_sid": ""}).json() == []


def test_providers_list_with_listed_accounts_shows_only_those() -> None:
    """With twilio_accounts set, the list holds their providers; another SID finds none."""
    faults = Faults(providers=("prov_a", "prov_b"), twilio_accounts=(SID,))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        listed = c.get(PROVIDERS).json()
        assert [p["id"] for p in listed[:2]] == ["prov_a", "prov_b"]
        assert [p["account_sid"] for p in listed[2:]] == [SID] * 3
        assert c.get(PROVIDERS, params={"account_sid": OTHER_SID}).json() == []


@pytest.mark.parametrize("kind", ["", "sip_trunk", "cartesia"])
def test_providers_list_type_other_than_twilio_is_400(client: httpx.Client, kind: str) -> None:
    """type= on the providers list takes twilio only (empty is no type either)."""
    assert_error_body(client.get(PROVIDERS, params={"type": kind}), 400, "type must be twilio")


def test_providers_list_checks_key_and_version(sandbox: RunningSandbox) -> None:
    """The providers list answers 401 without the key and 400 without the version header."""
    assert_error_body(httpx.get(sandbox.base_url + PROVIDERS), 401)
    with_key = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    assert_error_body(httpx.get(sandbox.base_url + PROVIDERS, headers=with_key), 400, "Version")
