"""Tests for the admin endpoints under /_sandbox/."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sandbox_fixtures import PATH, api_headers

from bulk_import.sandbox import Faults, RunningSandbox
from sandbox.helpers import SID, assert_error_body, client_for, post


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
    [
        ("GET", "/_sandbox/stats"),
        ("POST", "/_sandbox/numbers"),
        ("POST", "/_sandbox/reset"),
        ("POST", "/_sandbox/faults"),
        ("POST", "/_sandbox/twilio/numbers"),
    ],
)
def test_admin_endpoints_need_the_key(sandbox: RunningSandbox, method: str, path: str) -> None:
    """Every admin endpoint answers 401 without the key."""
    assert_error_body(httpx.request(method, sandbox.base_url + path, json={}), 401)


def test_admin_faults_changes_the_faults_at_once(client: httpx.Client) -> None:
    """POST /_sandbox/faults changes the given keys, null clears a limit, and answers them all."""
    r = client.post("/_sandbox/faults", json={"concurrency_limit": 10, "rate_limit": 50})
    assert r.status_code == 200
    in_force = r.json()
    assert (in_force["concurrency_limit"], in_force["rate_limit"]) == (10, 50)
    assert in_force == {**Faults().to_dict(), "concurrency_limit": 10, "rate_limit": 50}
    cleared = client.post("/_sandbox/faults", json={"rate_limit": None}).json()
    assert (cleared["concurrency_limit"], cleared["rate_limit"]) == (10, None)
    assert client.post("/_sandbox/faults", json={}).json() == cleared
    assert client.get("/_sandbox/stats").json()["requests"] == 0
    client.post("/_sandbox/reset")
    assert client.post("/_sandbox/faults", json={}).json() == Faults().to_dict()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"concurrency_limit": 0}, "concurrency_limit must be a whole number"),
        ({"latency_ms": None}, "latency_ms must be a number"),
        ({"agents": ["agent_x"]}, "agents cannot change while the sandbox runs"),
        ({"limit": 5}, "unknown faults key(s): limit"),
        ({"error_500": 0.7, "error_503": 0.7}, "add up to at most 1"),
        ([1], "JSON object"),
        (b"{nope", "not valid JSON"),
    ],
)
def test_admin_faults_refuses_bad_changes_and_keeps_the_faults(
    client: httpx.Client, body: object, fragment: str
) -> None:
    """A bad change answers 400 naming the problem, and the faults in force stay as they were."""
    if isinstance(body, bytes):
        r = client.post("/_sandbox/faults", content=body)
    else:
        r = client.post("/_sandbox/faults", json=body)
    assert_error_body(r, 400, fragment)
    assert client.post("/_sandbox/faults", json={}).json() == Faults().to_dict()


async def test_admin_faults_moves_the_concurrency_limit_mid_run() -> None:
    """Raising concurrency_limit while requests wait lets the next one in at once."""
    with RunningSandbox(faults=Faults(concurrency_limit=1, latency_ms=800)) as sb:
        async with httpx.AsyncClient(base_url=sb.base_url, headers=api_headers()) as c:
            slow = asyncio.create_task(c.get(PATH))
            for _ in range(500):
                if sb.state.stats()["in_flight"] == 1:
                    break
                await asyncio.sleep(0.01)
            assert (await c.get(PATH)).status_code == 429
            moved = await c.post("/_sandbox/faults", json={"concurrency_limit": 2})
            assert moved.json()["concurrency_limit"] == 2
            assert not slow.done()
            second = asyncio.create_task(c.get(PATH))
            assert [r.status_code for r in await asyncio.gather(slow, second)] == [200, 200]
            await c.post("/_sandbox/faults", json={"concurrency_limit": None, "latency_ms": 0})
            together = await asyncio.gather(*(c.get(PATH) for _ in range(5)))
            assert [r.status_code for r in together] == [200] * 5
        assert sb.state.stats()["by_status"] == {"200": 7, "429": 1}
