"""Hold one httpx client for one API: base URL, headers, timeout, transport and proxy.

The transport is httpx-aiohttp's: on this project's 2-core machines it serves about five times
the requests per second of httpx's default transport (BENCHMARKS.md), while the code keeps the
httpx API. Tests may inject any ``transport``. Handed a transport, httpx no longer reads the
proxy variables, so the client takes its proxy from :func:`~bulk_import.api.proxies.route_for`
itself (``SSL_CERT_FILE``/``SSL_CERT_DIR`` are read by httpx's TLS context, as before).

Every low-level failure leaves here as an ``httpx.TransportError``, so the retry policy sees
one kind of error. Those no retry can mend (an unverifiable certificate, a proxy that refuses,
an unknown host) leave as :class:`Blocked`, carrying what is needed to say what to fix.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import ipaddress
import os
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bulk_import.api.proxies import DIRECT, Route, route_for
from bulk_import.errors import UsageError

PROXY_AUTH_REQUIRED = 407
#: A connection failure's OS error in the words a person uses (aiohttp's class names are not).
_OS_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EPIPE: "connection closed while sending",
}


def connection_words(exc: BaseException) -> str:
    """Say what an aiohttp connection failure was in plain words, or "" when it is another.

    ``ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default [Connect call
    failed ...]`` becomes ``connection refused: cannot connect to 127.0.0.1:9``.
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        words = _OS_WORDS.get(error.errno or 0) or " ".join(str(error.strerror or error).split())
        return f"{words or 'cannot connect'}: cannot connect to {exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without an answer"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut short"
    if isinstance(exc, aiohttp.ClientOSError):
        return _OS_WORDS.get(exc.errno or 0) or " ".join(str(exc.strerror or exc).split())
    return ""


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


class Blocker(enum.Enum):
    """Name what stands in a request's way for good."""

    CERTIFICATE = "certificate"
    PROXY = "proxy"
    DNS = "dns"


class Blocked(httpx.TransportError):
    """Carry a failure no retry mends: an unverifiable certificate, a refusing proxy, no DNS name.

    ``host`` is the host concerned (the API's, or the proxy's own), ``detail`` what the network
    said, ``status`` a proxy's answer (407, 403, ...), ``option`` where the base URL came from.
    """

    def __init__(
        self,
        detail: str,
        *,
        blocker: Blocker,
        host: str,
        route: Route,
        option: str,
        status: int = 0,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.blocker = blocker
        self.host = host
        self.route = route
        self.option = option
        self.status = status


def _transport(limits: httpx.Limits, proxy: httpx.Proxy | None) -> AiohttpTransport:
    """Return httpx-aiohttp's transport; refuse an ``SSL_CERT_FILE`` that holds no CA (exit 2)."""
    try:
        return AiohttpTransport(limits=limits, proxy=proxy)
    except OSError as exc:  # ssl.SSLError included: httpx loads SSL_CERT_FILE here
        path = os.environ.get("SSL_CERT_FILE")
        if not path:
            raise
        reason = "no PEM certificate found in it" if isinstance(exc, ssl.SSLError) else exc.strerror
        raise UsageError(
            f"SSL_CERT_FILE={path} cannot be read as CA certificates ({reason}); "
            "name a PEM file holding the CAs to trust, or unset SSL_CERT_FILE"
        ) from None


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
        option: str = "--base-url",
    ) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.base_url = base_url
        #: How the requests go: through a proxy, or direct (a given transport is its own way).
        self.route = route_for(base_url) if transport is None else DIRECT
        self._host = httpx.URL(base_url).host
        self._option = option
        if transport is None:
            transport = _transport(limits, self.route.proxy)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={**headers, "User-Agent": "bulk-import"},
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
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
                response = await self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            blocked = self._blocked(exc)
            if blocked is None:
                raise
            raise blocked from None
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"no complete answer within --timeout {self._deadline:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            # httpx-aiohttp lets a malformed answer's error through unmapped (a server or proxy
            # that does not speak HTTP): make it a transport error like the others, not a crash.
            if isinstance(exc, aiohttp.ClientResponseError):
                raise httpx.RemoteProtocolError(f"not a valid HTTP answer: {exc.message}") from None
            # The cause stays: the answer's words say it as a person would (connection_words).
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == PROXY_AUTH_REQUIRED:  # from a proxy of a plain-http URL
            raise self._block(
                f"HTTP 407 {response.reason_phrase}", Blocker.PROXY, self._host, status=407
            )
        return response

    def _block(self, detail: str, blocker: Blocker, host: str, *, status: int = 0) -> Blocked:
        """Return the :class:`Blocked` failure of this client's requests."""
        route, option = self.route, self._option
        return Blocked(
            detail, blocker=blocker, host=host, route=route, option=option, status=status
        )

    def _blocked(self, exc: httpx.TransportError) -> Blocked | None:
        """Return ``exc`` as :class:`Blocked` when no retry can mend it, else ``None``."""
        # httpx-aiohttp keeps aiohttp's own error as the cause: the facts are there.
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectorCertificateError):
            error = cause.certificate_error
            detail = getattr(error, "verify_message", "") or str(error)
            return self._block(
                f"certificate verify failed: {detail}", Blocker.CERTIFICATE, cause.host
            )
        if isinstance(cause, aiohttp.ClientHttpProxyError):  # the answer to CONNECT
            return self._block(
                f"HTTP {cause.status} {cause.message}",
                Blocker.PROXY,
                self._host,
                status=cause.status,
            )
        if isinstance(cause, aiohttp.ClientConnectorError):
            error = cause.os_error
            # EAI_AGAIN is a DNS server that did not answer in time: worth a retry.
            if isinstance(error, socket.gaierror) and error.errno != socket.EAI_AGAIN:
                return self._block(error.strerror or str(error), Blocker.DNS, cause.host)
        return None
