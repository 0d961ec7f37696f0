"""Build requests for the sandbox: headers, import bodies and valid numbers, for any test."""

from __future__ import annotations

from bulk_import.sandbox import API_VERSION, DEFAULT_API_KEY

PATH = "/agents/phone-numbers"


def api_headers(key: str = DEFAULT_API_KEY) -> dict[str, str]:
    """Return the headers every API request carries."""
    return {"Authorization": f"Bearer {key}", "Cartesia-Version": API_VERSION}


def us_number(i: int) -> str:
    """Return the i-th of 800,000 distinct E.164 numbers that phonenumbers finds valid."""
    assert 0 <= i < 800_000
    return f"+1415{2_000_000 + i:07d}"


def import_body(
    number: str,
    *,
    label: str | None = None,
    provider_id: str = "prov_sandbox",
    agent_id: str | None = None,
) -> dict[str, object]:
    """Return a POST /agents/phone-numbers body for a provider id (label defaults to the number)."""
    body: dict[str, object] = {
        "number": number,
        "label": number if label is None else label,
        "provider": {"id": provider_id},
    }
    if agent_id is not None:
        body["agent_id"] = agent_id
    return body
