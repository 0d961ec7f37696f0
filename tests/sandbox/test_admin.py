"""Tests for the admin endpoints under /_sandbox/."""

from __future__ import annotations

import httpx
import pytest

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
    [("GET", "/_sandbox/stats"), ("POST", "/_sandbox/numbers"), ("POST", "/_sandbox/reset")],
)
def test_admin_endpoints_need_the_key(sandbox: RunningSandbox, method: str, path: str) -> None:
    """Every admin endpoint answers 401 without the key."""
    assert_error_body(httpx.request(method, sandbox.base_url + path, json={}), 401)
