"""Hold one httpx client for one API: base URL, headers, timeout and transport.

The transport is httpx-aiohttp's: on this project's 2-core machines it serves about five times
the requests per second of httpx's default transport (BENCHMARKS.md), while the code keeps the
httpx API. Tests may inject any ``transport``. Every low-level failure leaves here as an
``httpx.TransportError``, so the retry policy sees one kind of error.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bulk_import.errors import UsageError


def check_base_url(url: str, *, option: str = "--base-url", example: str = "") -> str:
    """Return the base URL without a trailing slash, refusing plain HTTP off this machine."""
    example = example or "https://api.cartesia.ai"
    try:
        parts = urlsplit(url)
        httpx.URL(url)  # what the client will parse: refuse now what it would refuse later
    except (ValueError, httpx.InvalidURL):
        raise UsageError(f"{option} {url!r} is not a valid URL, e.g. {example}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"{option} {url!r} is not an http(s) URL, e.g. {example}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"refusing plain http:// to {parts.hostname}: credentials would cross the network "
            f"unencrypted; use https:// in {option} (plain http is allowed for loopback hosts only)"
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


def _ignore(response: httpx.Response) -> None:
    """Take no cookies from an answer."""


class Http:
    """Send requests to one API over one connection pool, each bounded by ``timeout`` whole."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        connections: int,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={**headers, "User-Agent": "bulk-import"},
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport if transport is not None else AiohttpTransport(limits=limits),
            follow_redirects=False,  # a redirect must never carry credentials to another host
        )
        # Keep no cookies: the APIs set none we need, and httpx's jar handling of every answer
        # cost a fifth of a request's CPU (BENCHMARKS.md). An empty jar also adds no header.
        self._client.cookies.extract_cookies = _ignore  # type: ignore[method-assign]
        self._deadline = timeout

    def url(self, path: str) -> httpx.URL:
        """Return the full URL of ``path``, parsed once (httpx would merge it for every call)."""
        return httpx.URL(self.base_url + path)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def request(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """Send one request; raise ``httpx.TransportError`` for every failure to get an answer."""
        try:
            # httpx's timeout bounds each read, not the answer: a server trickling a byte at a
            # time would hold the request, and a Ctrl-C waiting for it, for ever.
            async with asyncio.timeout(self._deadline):
                return await self._client.request(method, url, **kwargs)
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
