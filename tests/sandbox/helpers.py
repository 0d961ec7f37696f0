"""Help the sandbox tests: clients of a running sandbox, error-body checks, seeded numbers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sandbox_fixtures import PATH, api_headers, us_number

from bulk_import.sandbox import DEFAULT_API_KEY, RunningSandbox, SandboxState

SID = "AC" + "0123456789abcdef" * 2
OTHER_SID = "AC" + "f" * 32


def client_for(sandbox: RunningSandbox, key: str = DEFAULT_API_KEY) -> httpx.Client:
    """Return an httpx client with the API's headers."""
    return httpx.Client(base_url=sandbox.base_url, headers=api_headers(key), timeout=5)


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


def seed_numbers(state: SandboxState, count: int, **kwargs: str) -> list[str]:
    """Add ``count`` numbers directly and return their ids."""
    return [state.add_number(us_number(i), **kwargs)["id"] for i in range(count)]
