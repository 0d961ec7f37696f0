"""Talk HTTP to Cartesia's phone-number endpoints, and turn answers into words for the report.

The only module that knows httpx. The transport is httpx-aiohttp's: on this project's 2-core
machines it serves about five times the requests per second of httpx's default transport
(see BENCHMARKS.md), while our code keeps the httpx API. Tests may inject any ``transport``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bulk_import.config import ApiOptions
from bulk_import.errors import UsageError

PHONE_NUMBERS = "/agents/phone-numbers"
ERROR_TEXT_LIMIT = 200


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, refusing plain HTTP off this machine."""
    try:
        parts = urlsplit(url)
        httpx.URL(url)  # what the client will parse: refuse now what it would refuse later
    except (ValueError, httpx.InvalidURL):
        raise UsageError(
            f"--base-url {url!r} is not a valid URL, e.g. https://api.cartesia.ai"
        ) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL, e.g. https://api.cartesia.ai")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"refusing plain http:// to {parts.hostname}: the API key would cross the network "
            "unencrypted; use https:// (plain http is allowed for loopback hosts only)"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """Say whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def describe_error(response: httpx.Response) -> str:
    """Quote an error answer for the report: the API's title/message, else the body's start."""
    body = parse_json(response)
    if isinstance(body, dict) and (body.get("title") or body.get("message")):
        parts = [str(body[key]) for key in ("title", "message") if body.get(key)]
        text = ": ".join(parts)
        if body.get("request_id"):
            text += f" (request_id {body['request_id']})"
        return f"HTTP {response.status_code}: {one_line(_without_key(text, response))}"
    raw = one_line(_without_key(response.text, response))[:ERROR_TEXT_LIMIT]
    if not raw:
        return f"HTTP {response.status_code} with an empty body"
    return f"HTTP {response.status_code}: {raw}"


def _without_key(text: str, response: httpx.Response) -> str:
    """Mask the API key where an answer quotes it back (a proxy page echoing the headers)."""
    try:
        authorization = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response made without its request
        return text
    key = authorization.partition(" ")[2].strip()
    return text.replace(key, "****") if key and key in text else text


def describe_exception(exc: BaseException) -> str:
    """Name a transport failure in one line, without the request's headers."""
    # httpx-aiohttp maps every aiohttp connection error to ConnectTimeout ("ConnectTimeout:
    # Server disconnected", "ConnectTimeout: Cannot connect to host"): name the real cause.
    cause = exc.__cause__
    if isinstance(exc, httpx.TransportError) and cause is not None:
        exc = cause
    kind = type(exc).__name__
    detail = one_line(str(exc))[:ERROR_TEXT_LIMIT]
    return f"{kind}: {detail}" if detail else kind


def one_line(text: str) -> str:
    """Return ``text`` on one line, each control character (a terminal escape) made U+FFFD.

    What a server says ends up in the report and, through a stop's reason, on the terminal: a
    hostile or broken answer must not move the cursor, recolour or retitle anyone's terminal.
    """
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


def is_webhook_failure(response: httpx.Response) -> bool:
    """Say whether a 400 means "imported, but the webhook (agent) could not be configured"."""
    if response.status_code != 400:
        return False
    body = parse_json(response)
    if isinstance(body, dict):
        fields = (body.get(key) for key in ("error_code", "title", "message"))
        return any(isinstance(v, str) and "webhook" in v.lower() for v in fields)
    return "webhook" in response.text.lower()


def _ignore(response: httpx.Response) -> None:
    """Take no cookies from an answer."""


class CartesiaClient:
    """Send the phone-number requests of one run over one connection pool."""

    def __init__(
        self, options: ApiOptions, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        limits = httpx.Limits(
            max_connections=options.concurrency, max_keepalive_connections=options.concurrency
        )
        base_url = check_base_url(options.base_url)
        # Built once: httpx would otherwise parse and merge the URL again for every row.
        self._numbers_url = httpx.URL(base_url + PHONE_NUMBERS)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {options.api_key.reveal()}",
                "Cartesia-Version": options.api_version,
                "User-Agent": "bulk-import",
            },
            timeout=httpx.Timeout(options.timeout),
            transport=transport if transport is not None else AiohttpTransport(limits=limits),
            follow_redirects=False,  # a redirect must never carry the key to another host
        )
        # Keep no cookies: the API sets none we need, and httpx's jar handling of every answer
        # cost a fifth of a request's CPU (BENCHMARKS.md). An empty jar also adds no header.
        self._client.cookies.extract_cookies = _ignore  # type: ignore[method-assign]
        self._deadline = options.timeout

    async def __aenter__(self) -> CartesiaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        try:
            # httpx's timeout bounds each read, not the answer: a server trickling a byte at a
            # time would hold the request, and a Ctrl-C waiting for it, for ever.
            async with asyncio.timeout(self._deadline):
                return await self._client.request(method, path, **kwargs)
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"no complete answer within --timeout {self._deadline:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            # httpx-aiohttp lets a malformed answer's error through unmapped (a server or proxy
            # that does not speak HTTP): make it a transport error like the others, not a crash.
            if isinstance(exc, aiohttp.ClientResponseError):
                detail = f"not a valid HTTP answer: {exc.message}"
            else:
                detail = f"{type(exc).__name__}: {exc}"
            raise httpx.RemoteProtocolError(detail) from None

    async def import_number(self, payload: dict[str, object]) -> httpx.Response:
        """POST one number."""
        return await self._request("POST", self._numbers_url, json=payload)

    async def list_numbers(self, params: dict[str, str | int]) -> httpx.Response:
        """GET one page of the account's numbers."""
        return await self._request("GET", PHONE_NUMBERS, params=params)

    async def update_number(self, number_id: str, body: dict[str, object]) -> httpx.Response:
        """PATCH one number by id."""
        return await self._request("PATCH", f"{PHONE_NUMBERS}/{number_id}", json=body)
