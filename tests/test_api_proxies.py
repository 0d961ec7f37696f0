"""The proxy a client takes, from the environment, means what httpx gives the variables.

In-process and fast: the route of a base URL under each variable, checked against the route
httpx's own client takes; the credentials masked; the proxies that cannot be used refused; and
the failures no retry mends, told apart from the ones a retry can.
"""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey

from bulk_import.api.http import Blocked, Blocker, Http
from bulk_import.api.proxies import DIRECT, masked, route_for
from bulk_import.errors import UsageError

NAMES = ("http", "https", "all", "no")
PROXY = "http://proxy.corp.example:3128"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no proxy variable set, whatever the machine has."""
    for name in NAMES:
        monkeypatch.delenv(f"{name}_proxy", raising=False)
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


def httpx_proxy(url: str) -> str | None:
    """Return the proxy httpx's own client (reading the environment) takes to ``url``."""
    client = httpx.AsyncClient()
    chosen = client._transport_for_url(httpx.URL(url))
    if chosen is client._transport:
        return None
    for pattern, transport in client._mounts.items():
        if transport is chosen:
            proxy = httpx._utils.get_environment_proxies()[pattern.pattern]
            assert proxy is not None
            return str(httpx.Proxy(proxy).url)
    raise AssertionError("httpx took a transport it does not hold")  # pragma: no cover


CASES = [
    ({}, "https://api.cartesia.ai"),
    ({"HTTPS_PROXY": PROXY}, "https://api.cartesia.ai"),
    ({"HTTPS_PROXY": PROXY}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": PROXY}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": PROXY}, "https://api.cartesia.ai"),
    ({"ALL_PROXY": PROXY}, "https://api.cartesia.ai"),
    ({"ALL_PROXY": "http://all:1", "HTTPS_PROXY": PROXY}, "https://api.cartesia.ai"),
    ({"https_proxy": "http://lower:1", "HTTPS_PROXY": PROXY}, "https://api.cartesia.ai"),
    ({"HTTPS_PROXY": "proxy.corp.example:3128"}, "https://api.cartesia.ai"),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, "https://api.cartesia.ai"),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "cartesia.ai"}, "https://api.cartesia.ai"),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "cartesia.ai"}, "https://notcartesia.ai"),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": ".cartesia.ai"}, "https://cartesia.ai"),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": ".cartesia.ai"}, "https://api.cartesia.ai"),
    (
        {"HTTPS_PROXY": PROXY, "no_proxy": "other.example, api.cartesia.ai"},
        "https://api.cartesia.ai",
    ),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "localhost"}, "http://localhost:8080"),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "::1"}, "http://[::1]:8080"),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "http://127.0.0.1:9999"}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"}, "http://127.0.0.1:8080"),
]


@pytest.mark.parametrize(("environ", "url"), CASES)
def test_the_route_is_the_one_httpx_takes(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], url: str
) -> None:
    """For every variable and NO_PROXY form, the proxy chosen is httpx's own choice."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    route = route_for(url)
    chosen = None if route.proxy is None else str(route.proxy.url)
    assert chosen == httpx_proxy(url)


def test_the_route_names_the_variable_that_chose_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variable named is the one in force: the lower-case one wins, as in urllib."""
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    assert route_for("https://api.cartesia.ai").variable == "HTTPS_PROXY"
    monkeypatch.setenv("https_proxy", "http://lower.example:1")
    route = route_for("https://api.cartesia.ai")
    assert (route.variable, route.shown) == ("https_proxy", "http://lower.example:1")
    assert str(route) == "through the proxy http://lower.example:1 (https_proxy)"
    monkeypatch.setenv("NO_PROXY", "api.cartesia.ai")
    assert str(route_for("https://api.cartesia.ai")) == "directly (NO_PROXY names the host)"
    assert str(route_for("https://api.twilio.com")).startswith("through the proxy")
    assert str(DIRECT) == "directly (no proxy variable applies)"


def test_credentials_go_to_the_proxy_and_are_masked_everywhere_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """user:password in a proxy URL become the proxy's auth; shown, both are ****."""
    monkeypatch.setenv("HTTPS_PROXY", "http://ops%40corp:p%3Ass@proxy.corp.example:3128")
    route = route_for("https://api.cartesia.ai")
    assert route.proxy is not None
    assert route.proxy.auth == ("ops@corp", "p:ss")
    assert route.shown == "http://****@proxy.corp.example:3128"
    for text in (str(route), repr(route)):
        assert "p:ss" not in text
        assert "p%3Ass" not in text
        assert "ops" not in text
    assert "p:ss" not in repr(route.proxy)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@proxy:3128", "http://****@proxy:3128"),
        ("http://user@proxy:3128", "http://****@proxy:3128"),
        ("https://proxy:3128/", "https://proxy:3128/"),
    ],
)
def test_masked_hides_user_and_password(url: str, shown: str) -> None:
    """A proxy URL is shown with no part of its credentials."""
    assert masked(httpx.URL(url)) == shown


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4", "ftp"])
def test_a_proxy_the_transport_cannot_use_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """socks5:// and the like are refused (exit 2), not ignored; the password is not quoted."""
    monkeypatch.setenv("ALL_PROXY", f"{scheme}://u:CANARY@127.0.0.1:1080")
    with pytest.raises(UsageError) as caught:
        route_for("https://api.cartesia.ai")
    message = str(caught.value)
    assert message.startswith(f"ALL_PROXY names a {scheme}:// proxy ({scheme}://****@127.0.0.1")
    assert "http:// or https://" in message
    assert "CANARY" not in message


def test_an_unusable_proxy_that_would_not_be_used_is_no_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ALL_PROXY=socks5:// beside an HTTPS_PROXY never carries an https request: no refusal."""
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    assert route_for("https://api.cartesia.ai").shown == PROXY
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert route_for("http://127.0.0.1:8080").proxy is None


@pytest.mark.parametrize("value", ["http://", "http://:3128", "http://[::1"])
def test_a_proxy_variable_that_is_no_url_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A proxy variable without a host is one line naming it and the fix."""
    monkeypatch.setenv("HTTPS_PROXY", value)
    with pytest.raises(UsageError, match=r"^HTTPS_PROXY is not a proxy URL \(e\.g\. http://"):
        route_for("https://api.cartesia.ai")


def test_the_client_takes_its_route_and_a_given_transport_goes_its_own_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Http builds its transport through the route's proxy; a test's transport has no route."""
    monkeypatch.setenv("HTTPS_PROXY", "http://u:p@proxy.corp.example:3128")
    http = Http(base_url="https://api.cartesia.ai", headers={}, timeout=1, connections=1)
    transport = http._client._transport
    assert str(transport.proxy.url) == "http://proxy.corp.example:3128"  # type: ignore[attr-defined]
    assert transport.proxy.auth == ("u", "p")  # type: ignore[attr-defined]
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    given = Http(
        base_url="https://api.cartesia.ai", headers={}, timeout=1, connections=1, transport=mock
    )
    assert given.route is DIRECT


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "No such file or directory"),
        ("not a certificate\n", "no PEM certificate found in it"),
    ],
)
def test_an_ssl_cert_file_that_holds_no_ca_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, reason: str
) -> None:
    """SSL_CERT_FILE missing or not PEM: exit 2 naming it, not an internal error."""
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    with pytest.raises(UsageError) as caught:
        Http(base_url="https://api.cartesia.ai", headers={}, timeout=1, connections=1)
    assert str(caught.value) == (
        f"SSL_CERT_FILE={path} cannot be read as CA certificates ({reason}); name a PEM file "
        "holding the CAs to trust, or unset SSL_CERT_FILE"
    )


def test_a_transport_that_cannot_start_without_ssl_cert_file_is_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without SSL_CERT_FILE, an OSError building the transport is raised as it is."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setattr("certifi.where", lambda: "/no/such/bundle.pem")
    with pytest.raises(FileNotFoundError):
        Http(base_url="https://api.cartesia.ai", headers={}, timeout=1, connections=1)


# -- failures no retry mends ---------------------------------------------------------------------


class Failing(httpx.AsyncBaseTransport):
    """Fail every request as httpx-aiohttp does: its error, with aiohttp's as the cause."""

    def __init__(self, error: httpx.TransportError, cause: BaseException) -> None:
        self.error = error
        self.cause = cause

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise self.error from self.cause


def key(host: str) -> ConnectionKey:
    """Return an aiohttp connection key for ``host``:443."""
    return ConnectionKey(host, 443, True, True, None, None, None)


async def send(error: httpx.TransportError, cause: BaseException) -> BaseException:
    """Return what Http raises for a transport failing with ``error`` from ``cause``."""
    http = Http(
        base_url="https://api.cartesia.ai",
        headers={},
        timeout=5,
        connections=1,
        transport=Failing(error, cause),
    )
    with pytest.raises(httpx.TransportError) as caught:
        await http.request("GET", "/agents/phone-numbers")
    await http.aclose()
    return caught.value


@pytest.mark.parametrize(
    ("errno", "blocked"), [(socket.EAI_NONAME, True), (socket.EAI_AGAIN, False)]
)
async def test_an_unknown_host_is_blocked_but_a_dns_server_slow_to_answer_is_not(
    errno: int, blocked: bool
) -> None:
    """EAI_NONAME blocks for good; EAI_AGAIN ("try again") stays a retryable connect error."""
    cause = aiohttp.ClientConnectorError(key("api.cartesia.ai"), socket.gaierror(errno, "dns"))
    raised = await send(httpx.ConnectTimeout("dns"), cause)
    assert isinstance(raised, Blocked) is blocked
    if isinstance(raised, Blocked):
        assert (raised.blocker, raised.host, raised.detail) == (
            Blocker.DNS,
            "api.cartesia.ai",
            "dns",
        )


async def test_a_refused_connection_stays_a_plain_transport_error() -> None:
    """A refused connection (to the API or the proxy) is not blocked: it is retried as today."""
    cause = aiohttp.ClientProxyConnectionError(key("proxy"), ConnectionRefusedError(111, "no"))
    raised = await send(httpx.ConnectTimeout("refused"), cause)
    assert type(raised) is httpx.ConnectTimeout
