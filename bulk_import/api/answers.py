"""Turn the API's answers into words for the report and outcomes for the rows.

What a server says ends up in the report and, through a stop's reason, on a terminal: every
text taken from an answer is put on one line with control characters replaced, and the
credentials a request carried are masked where an answer quotes them back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from bulk_import.api.http import Blocked, Blocker, connection_words
from bulk_import.api.retry import RETRY_STATUSES
from bulk_import.models import Outcome, Row, Status

ERROR_TEXT_LIMIT = 200
_SSL_SETTING = re.compile(r" ssl:(?:default|None|True|False|<[^>]*>)")


@dataclass(frozen=True, slots=True)
class Final:
    """Hold the final answer to one logical call after retries: a response, or why none came."""

    response: httpx.Response | None
    error: str
    attempts: int
    #: The run stopped before this call's first try went out: nothing was sent.
    not_sent: bool = False


def one_line(text: str) -> str:
    """Return ``text`` on one line, each control character (a terminal escape) made U+FFFD."""
    text = " ".join(text.split())
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else "\ufffd" for char in text)


def parse_json(response: httpx.Response) -> Any:
    """Return the JSON body, or ``None`` when the body is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _without_secrets(text: str, response: httpx.Response) -> str:
    """Mask the credentials a request carried where its answer quotes them back."""
    try:
        authorization = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response made without its request
        return text
    secret = authorization.partition(" ")[2].strip()
    return text.replace(secret, "****") if secret and secret in text else text


def describe_error(response: httpx.Response) -> str:
    """Quote an error answer: the API's title/message (and request_id), else the body's start."""
    body = parse_json(response)
    code = response.status_code
    if isinstance(body, dict) and (body.get("title") or body.get("message")):
        parts = [str(body[key]) for key in ("title", "message") if body.get(key)]
        text = ": ".join(parts)
        if body.get("request_id"):
            text += f" (request_id {body['request_id']})"
        return f"HTTP {code}: {one_line(_without_secrets(text, response))}"
    raw = one_line(_without_secrets(response.text, response))[:ERROR_TEXT_LIMIT]
    if not raw:
        return f"HTTP {code} with an empty body"
    return f"HTTP {code}: {raw}"


def describe_exception(exc: BaseException) -> str:
    """Name a transport failure in one line, without the request's headers."""
    # httpx-aiohttp maps every aiohttp connection error to ConnectTimeout ("ConnectTimeout:
    # Server disconnected", "ConnectTimeout: Cannot connect to host"): name the real cause.
    cause = exc.__cause__
    if isinstance(exc, httpx.TransportError) and cause is not None:
        exc = cause
    if plain := connection_words(exc):
        return one_line(plain)[:ERROR_TEXT_LIMIT]
    kind = type(exc).__name__
    # aiohttp names its TLS setting in every connection error ("ssl:default"), on plain
    # http:// too, where it only misleads.
    detail = one_line(_SSL_SETTING.sub("", str(exc)))[:ERROR_TEXT_LIMIT]
    return f"{kind}: {detail}" if detail else kind


def stop_reason(exc: BaseException) -> str:
    """Return the line that stops the run for a failure no retry mends (:class:`Blocked`), or ""."""
    if not isinstance(exc, Blocked):
        return ""
    route, host, detail = exc.route, exc.host, one_line(exc.detail)[:ERROR_TEXT_LIMIT]
    proxy = f"the proxy {route.shown} ({route.variable})"
    if exc.blocker is Blocker.CERTIFICATE:
        through = f" through {proxy}" if route.proxy is not None else ""
        return (
            f"cannot verify the TLS certificate of {host}{through} ({detail}); if a private CA "
            "signs it (a TLS-inspecting proxy), set SSL_CERT_FILE to a PEM file holding that CA"
        )
    if exc.blocker is Blocker.DNS:
        if route.proxy is not None:
            return f"cannot find the host {host} of {proxy} (DNS: {detail}); check {route.variable}"
        return f"unknown host {host} (DNS: {detail}); check the host in {exc.option}"
    if exc.status != 407:
        return (
            f"{proxy if route.proxy else 'a proxy'} refused to connect to {host} ({detail}); "
            f"ask for {host} to be allowed through it, or check {route.variable or 'HTTPS_PROXY'}"
            " and NO_PROXY"
        )
    if route.proxy is None:
        return (
            f"a proxy asks for credentials ({detail}) but no proxy variable names it; set "
            "HTTPS_PROXY to http://USER:PASSWORD@HOST:PORT"
        )
    if route.proxy.auth is not None:
        return f"{proxy} refused its credentials ({detail}); check them in {route.variable}"
    return (
        f"{proxy} asks for credentials ({detail}); put them in {route.variable}: "
        "http://USER:PASSWORD@HOST:PORT"
    )


def is_webhook_failure(response: httpx.Response) -> bool:
    """Say whether a 400 means "imported, but the webhook (agent) could not be configured"."""
    if response.status_code != 400:
        return False
    body = parse_json(response)
    if isinstance(body, dict):
        fields = (body.get(key) for key in ("error_code", "title", "message"))
        return any(isinstance(v, str) and "webhook" in v.lower() for v in fields)
    return "webhook" in response.text.lower()


def string_id(body: object) -> str:
    """Return the ``id`` of an answer's object when it is a string, else ""."""
    # Only a string is an id: a hostile or broken answer must not put "None" or "{...}" where
    # retry-patch will look for the id to PATCH.
    found = body.get("id") if isinstance(body, dict) else None
    return found if isinstance(found, str) else ""


def gave_up(final: Final, *, stopping: str, error: str = "") -> str:
    """Say why a call ended without a final answer worth keeping."""
    error = error or final.error
    if stopping:
        return f"run stopped before a retry ({stopping}); last: {error}"
    return f"gave up after {final.attempts} attempts: {error}"


def failure_text(
    response: httpx.Response, final: Final, *, stopping: str, expected: str = "201 Created"
) -> str:
    """Describe a final answer that is a failure, for the row's ``error`` cell."""
    code = response.status_code
    error = describe_error(response)
    if code in RETRY_STATUSES:
        return gave_up(final, stopping=stopping, error=error)
    if 300 <= code < 400:
        where = response.headers.get("location", "?")
        return f"unexpected redirect (HTTP {code} to {one_line(where)[:100]}), not followed"
    if 200 <= code < 300:
        return f"unexpected HTTP {code} (expected {expected}); check the number in Cartesia"
    return error


def import_outcome(row: Row, final: Final, *, stopping: str) -> Outcome:
    """Turn the final answer to one import into the row's outcome."""
    attempts = final.attempts
    response = final.response
    if response is None:
        if final.not_sent:
            return Outcome(row, Status.NOT_ATTEMPTED, attempts=attempts, error=final.error)
        return Outcome(
            row, Status.FAILED, attempts=attempts, error=gave_up(final, stopping=stopping)
        )
    code = response.status_code
    if code == 201:
        return Outcome(row, Status.IMPORTED, code, string_id(parse_json(response)), attempts)
    if code == 409:
        return Outcome(row, Status.ALREADY_IMPORTED, code, attempts=attempts)
    if is_webhook_failure(response):
        return Outcome(
            row, Status.WEBHOOK_FAILED, code, attempts=attempts, error=describe_error(response)
        )
    error = failure_text(response, final, stopping=stopping)
    return Outcome(row, Status.FAILED, code, attempts=attempts, error=error)
