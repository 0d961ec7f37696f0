"""Build the sandbox's answers (JSON bodies, Cartesia's error body, Retry-After) and read bodies."""

from __future__ import annotations

import email.utils
import json
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from bulk_import.sandbox.registry import Reject

NO_BODY: Final = object()
BAD_JSON: Final = object()

ERROR_ANSWERS: Final = {
    "error_500": (500, "Internal server error", "An unexpected error occurred. Please retry."),
    "error_502": (502, "Bad gateway", "The upstream service did not answer. Please retry."),
    "error_503": (503, "Service unavailable", "The service is temporarily unavailable."),
}


def json_response(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return a JSON response."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error(
    status: int,
    title: str,
    message: str,
    *,
    error_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Return Cartesia's JSON error body: error_code, title, message and request_id."""
    body = {
        "error_code": error_code,
        "title": title,
        "message": message,
        "request_id": str(uuid.uuid4()),
    }
    return json_response(status, body, headers)


def retry_headers(mode: str, wait: float) -> dict[str, str]:
    """Return the header that tells when to retry, in the faults' ``retry_after`` form."""
    if mode == "seconds":
        return {"Retry-After": str(max(0, math.ceil(wait)))}
    if mode == "ms":
        return {"retry-after-ms": str(max(0, math.ceil(wait * 1000)))}
    if mode == "date":
        return {"Retry-After": email.utils.formatdate(math.ceil(time.time() + wait), usegmt=True)}
    return {}


def load_json(raw: bytes) -> object:
    """Parse a request body, or return ``BAD_JSON``."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return BAD_JSON


def body_object(body: object) -> dict[str, Any]:
    """Return the body as a JSON object, or reject it with a 400 saying what is wrong."""
    if body is BAD_JSON:
        raise Reject(400, "Invalid request", "request body is not valid JSON")
    if not isinstance(body, dict):
        raise Reject(400, "Invalid request", "request body must be a JSON object")
    return body


def required_str(body: Mapping[str, Any], name: str) -> str:
    """Return a required string field, or reject naming it."""
    if name not in body:
        raise Reject(400, "Invalid request", f"{name} is required")
    value = body[name]
    if not isinstance(value, str):
        raise Reject(400, "Invalid request", f"{name} must be a string")
    return value
