"""Corporate networks, end to end: the CLI as a subprocess through a real forward proxy.

The sandbox serves plain HTTP, or HTTPS with a certificate signed by a private CA made with
openssl (``SSL_CERT_FILE`` names it); :class:`~proxy_fixtures.ForwardProxy` forwards plain-HTTP
requests and tunnels ``CONNECT``, may ask for credentials or refuse. What no retry mends (an
untrusted certificate, a refusing proxy, an unknown host) stops the run at its first request
with one line naming the fix, exit 3, nothing imported; a proxy's password shows nowhere.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from conftest import cli, cli_env, numbers, read_report, write_input
from proxy_fixtures import ForwardProxy, Tls, make_ca

from bulk_import.sandbox import RunningSandbox

ROWS = 3
CANARY_USER = "ops_CANARYUSER_91"
CANARY_PASSWORD = "pw_CANARY_3e8b1d_do_not_leak"
CANARY = f"{CANARY_USER}:{CANARY_PASSWORD}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """Return a private CA and the sandbox's certificate it signed."""
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def secure(tls: Tls) -> Iterator[RunningSandbox]:
    """Run the sandbox over HTTPS with the private CA's certificate."""
    with RunningSandbox(ssl_context=tls.server_context()) as running:
        yield running


@pytest.fixture
def plain() -> Iterator[RunningSandbox]:
    """Run the sandbox over plain HTTP on loopback."""
    with RunningSandbox() as running:
        yield running


def env_for(base_url: str, **variables: str) -> dict[str, str]:
    """Return a CLI environment for ``base_url`` with only these proxy and TLS variables."""
    env = {
        name: value
        for name, value in cli_env(base_url).items()
        if not name.lower().endswith("_proxy") and name not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    env.update(variables)
    return env


def run(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """Import ROWS numbers with ``bulk-import run``, summary JSON and run page beside."""
    if not (tmp_path / "in.csv").exists():
        write_input(tmp_path / "in.csv", numbers(ROWS))
    return cli(
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
        *("--summary-json", "summary.json", "--html", "page.html", *extra),
        env=env,
        cwd=tmp_path,
    )


def imported(sandbox: RunningSandbox) -> int:
    """Return how many numbers the sandbox holds."""
    return int(sandbox.state.stats()["stored"])


def assert_stopped(done: subprocess.CompletedProcess[str], tmp_path: Path, *words: str) -> str:
    """Check a --quiet run stopped at its first request: exit 3, one line, no report written."""
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("bulk-import run in.csv: exit 3: stopped early: "), done.stderr
    for word in words:
        assert word in done.stderr
    assert not (tmp_path / "in.report.csv").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["exit_code"], summary["requests"], summary["total"]) == (3, 1, 0)
    return done.stderr


# -- through the proxy ----------------------------------------------------------------------------


def test_plain_http_goes_through_http_proxy(tmp_path: Path, plain: RunningSandbox) -> None:
    """HTTP_PROXY carries every request of a plain-http run, absolute-form, to the sandbox."""
    with ForwardProxy() as proxy:
        done = run(tmp_path, env_for(plain.base_url, HTTP_PROXY=proxy.url()))
    assert done.returncode == 0, done.stderr
    path = f"{plain.base_url}/agents/phone-numbers"
    assert (
        proxy.seen.lines
        == [f"GET {path}?limit=1", f"GET {path}/providers"] + [f"POST {path}"] * ROWS
    )
    assert imported(plain) == ROWS


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "all_proxy"])
def test_https_is_tunnelled_to_a_private_ca_sandbox(
    tmp_path: Path, secure: RunningSandbox, tls: Tls, variable: str
) -> None:
    """HTTPS_PROXY (or all_proxy) tunnels with CONNECT; SSL_CERT_FILE trusts the private CA."""
    with ForwardProxy() as proxy:
        env = env_for(secure.base_url, **{variable: proxy.url(), "SSL_CERT_FILE": str(tls.ca)})
        done = run(tmp_path, env)
    assert done.returncode == 0, done.stderr
    authority = secure.base_url.removeprefix("https://")
    assert proxy.seen.lines
    assert set(proxy.seen.lines) == {f"CONNECT {authority}"}
    assert imported(secure) == ROWS


def test_a_private_ca_in_ssl_cert_file_works_without_a_proxy(
    tmp_path: Path, secure: RunningSandbox, tls: Tls
) -> None:
    """SSL_CERT_FILE naming the private CA is all an HTTPS API signed by it needs."""
    done = run(tmp_path, env_for(secure.base_url, SSL_CERT_FILE=str(tls.ca)))
    assert done.returncode == 0, done.stderr
    assert imported(secure) == ROWS


def test_an_https_proxy_is_spoken_to_over_tls(
    tmp_path: Path, secure: RunningSandbox, tls: Tls
) -> None:
    """An https:// proxy: TLS to the proxy, CONNECT, TLS to the API inside the tunnel."""
    with ForwardProxy(tls=tls.server_context()) as proxy:
        env = env_for(secure.base_url, HTTPS_PROXY=proxy.url(), SSL_CERT_FILE=str(tls.ca))
        done = run(tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert proxy.seen.lines
    assert proxy.url().startswith("https://")
    assert imported(secure) == ROWS


def test_no_proxy_sends_the_api_host_direct(tmp_path: Path, plain: RunningSandbox) -> None:
    """NO_PROXY naming the host: the run succeeds and the proxy sees nothing at all."""
    with ForwardProxy(refuse=403) as proxy:
        env = env_for(plain.base_url, HTTP_PROXY=proxy.url(), ALL_PROXY=proxy.url())
        env["NO_PROXY"] = "example.com,127.0.0.1"
        done = run(tmp_path, env, "--debug")
    assert done.returncode == 0, done.stderr
    assert proxy.seen.lines == []
    assert f"requests to {plain.base_url} go directly (NO_PROXY names the host)" in done.stderr
    assert imported(plain) == ROWS


def test_proxy_credentials_reach_the_proxy_and_never_the_api(tmp_path: Path, tls: Tls) -> None:
    """user:password in HTTPS_PROXY authenticate CONNECT; the API never sees Proxy-Authorization."""
    headers: list[str] = []

    @web.middleware
    async def watch(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers.extend(name.lower() for name in request.headers)
        return await handler(request)

    sandbox = RunningSandbox(ssl_context=tls.server_context())
    sandbox.app.middlewares.append(watch)
    with sandbox, ForwardProxy(user=CANARY_USER, password=CANARY_PASSWORD) as proxy:
        env = env_for(sandbox.base_url, SSL_CERT_FILE=str(tls.ca))
        env["HTTPS_PROXY"] = proxy.url(CANARY)
        done = run(tmp_path, env)
        assert done.returncode == 0, done.stderr
        assert imported(sandbox) == ROWS
    assert proxy.seen.credentials
    assert set(proxy.seen.credentials) == {f"Basic {proxy.expected}"}
    assert headers
    assert "proxy-authorization" not in headers


# -- what no retry mends: exit 3 at the first request ---------------------------------------------


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_proxy_asking_for_credentials_stops_the_run(
    tmp_path: Path, secure: RunningSandbox, plain: RunningSandbox, tls: Tls, scheme: str
) -> None:
    """407 (to CONNECT, or to a plain-http request): exit 3, one line naming the variable."""
    sandbox = secure if scheme == "https" else plain
    variable = f"{scheme.upper()}_PROXY"
    with ForwardProxy(user="ops", password="right") as proxy:
        env = env_for(sandbox.base_url, SSL_CERT_FILE=str(tls.ca), **{variable: proxy.url()})
        done = run(tmp_path, env, "--quiet", "--max-attempts", "6")
    line = assert_stopped(done, tmp_path, "HTTP 407", f"put them in {variable}")
    assert f"the proxy {proxy.url()} ({variable}) asks for credentials" in line
    assert len(proxy.seen.lines) == 1  # not retried
    assert sandbox.state.stats()["requests"] == 0


def test_wrong_proxy_credentials_stop_the_run(tmp_path: Path, secure: RunningSandbox) -> None:
    """A 407 to the credentials given: exit 3 at once, "refused its credentials", masked."""
    with ForwardProxy(user="ops", password="right") as proxy:
        env = env_for(secure.base_url, HTTPS_PROXY=proxy.url("ops:wrong"))
        done = run(tmp_path, env, "--quiet")
    assert_stopped(done, tmp_path, "refused its credentials", "check them in HTTPS_PROXY")
    assert "wrong" not in done.stderr
    assert "****@" in done.stderr


def test_a_proxy_refusing_the_tunnel_stops_the_run(tmp_path: Path, secure: RunningSandbox) -> None:
    """CONNECT refused (403): exit 3, one line naming the host and the proxy variable."""
    with ForwardProxy(refuse=403) as proxy:
        done = run(tmp_path, env_for(secure.base_url, HTTPS_PROXY=proxy.url()), "--quiet")
    assert_stopped(done, tmp_path, "refused to connect to 127.0.0.1 (HTTP 403", "HTTPS_PROXY")
    assert len(proxy.seen.lines) == 1


@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "through-proxy"])
def test_an_untrusted_certificate_stops_the_run(
    tmp_path: Path, secure: RunningSandbox, proxied: bool
) -> None:
    """No CA for the sandbox's certificate: exit 3, one line naming SSL_CERT_FILE, not retried."""
    with ForwardProxy() as proxy:
        env = env_for(secure.base_url, **({"HTTPS_PROXY": proxy.url()} if proxied else {}))
        done = run(tmp_path, env, "--quiet", "--max-attempts", "6")
    assert_stopped(
        done, tmp_path, "cannot verify the TLS certificate of 127.0.0.1", "set SSL_CERT_FILE"
    )
    assert "certificate verify failed" in done.stderr
    assert len(proxy.seen.lines) == (1 if proxied else 0)
    assert secure.state.stats()["requests"] == 0


def test_an_unknown_host_stops_the_run(tmp_path: Path) -> None:
    """A base URL whose host DNS does not know: exit 3 at once, naming the host and --base-url."""
    done = run(tmp_path, env_for("https://api.no-such-host.invalid"), "--quiet")
    assert_stopped(done, tmp_path, "unknown host api.no-such-host.invalid", "--base-url")


def test_a_proxy_that_is_down_is_retried_as_a_refused_connection(
    tmp_path: Path, secure: RunningSandbox
) -> None:
    """A refused connection to the proxy stays retryable; the line then names the variable."""
    done = run(
        tmp_path,
        env_for(secure.base_url, HTTPS_PROXY="http://127.0.0.1:9"),
        *("--quiet", "--max-attempts", "2"),
    )
    assert done.returncode == 3, done.stderr
    assert "cannot reach the API at" in done.stderr
    assert "through the proxy http://127.0.0.1:9 (HTTPS_PROXY)" in done.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["requests"] == 2


def test_a_refusal_while_rows_go_leaves_them_not_attempted(
    tmp_path: Path, plain: RunningSandbox
) -> None:
    """The proxy lets the two checks through, then answers 407: exit 3, rows not_attempted."""
    write_input(tmp_path / "in.csv", numbers(20))
    with ForwardProxy(refuse=407, refuse_after=2) as proxy:
        env = env_for(plain.base_url, HTTP_PROXY=proxy.url())
        done = run(tmp_path, env, "--quiet", "--concurrency", "2")
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1
    assert "asks for credentials (HTTP 407" in done.stderr
    lines = read_report(tmp_path / "in.report.csv")
    assert len(lines) == 20
    assert {line["status"] for line in lines} == {"not_attempted"}
    assert all(line["error"].startswith("not sent: the proxy ") for line in lines)
    assert imported(plain) == 0
    assert len(proxy.seen.lines) <= 4  # the two checks, and the POSTs already on their way


# -- refused up front, and never a password shown -------------------------------------------------


def test_a_socks_proxy_is_refused_in_one_line(tmp_path: Path, secure: RunningSandbox) -> None:
    """HTTPS_PROXY=socks5://...: exit 2, one line naming the variable, nothing sent."""
    env = env_for(secure.base_url, HTTPS_PROXY=f"socks5://{CANARY}@127.0.0.1:1080")
    done = run(tmp_path, env, "--quiet")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("bulk-import: error: HTTPS_PROXY names a socks5:// proxy")
    assert CANARY_PASSWORD not in done.stderr
    assert CANARY_USER not in done.stderr
    assert secure.state.stats()["requests"] == 0


def test_proxy_credentials_never_show_in_any_output(
    tmp_path: Path, secure: RunningSandbox, plain: RunningSandbox, tls: Tls
) -> None:
    """A canary user:password in the proxy URL, every outcome, --debug: it shows nowhere."""
    outputs: list[str] = []
    ca = str(tls.ca)
    with (
        ForwardProxy(user=CANARY_USER, password=CANARY_PASSWORD) as good,
        ForwardProxy(user=CANARY_USER, password="another") as wrong,
        ForwardProxy(refuse=403) as refusing,
    ):
        runs = [
            (secure, {"HTTPS_PROXY": good.url(CANARY), "SSL_CERT_FILE": ca}, 0),
            (plain, {"HTTP_PROXY": good.url(CANARY)}, 0),
            (secure, {"HTTPS_PROXY": wrong.url(CANARY), "SSL_CERT_FILE": ca}, 3),
            (plain, {"HTTP_PROXY": wrong.url(CANARY)}, 3),
            (secure, {"HTTPS_PROXY": refusing.url(CANARY), "SSL_CERT_FILE": ca}, 3),
            (secure, {"HTTPS_PROXY": good.url(CANARY)}, 3),  # untrusted certificate
            (secure, {"HTTPS_PROXY": f"http://{CANARY}@127.0.0.1:9"}, 3),  # proxy down
            (secure, {"HTTPS_PROXY": f"http://{CANARY}@no-such-proxy.invalid:1"}, 3),
            (secure, {"ALL_PROXY": f"socks5h://{CANARY}@127.0.0.1:1080"}, 2),
        ]
        for i, (sandbox, variables, code) in enumerate(runs):
            folder = tmp_path / str(i)
            folder.mkdir()
            env = env_for(sandbox.base_url, **variables)
            done = run(folder, env, "--debug", "--max-attempts", "2")
            assert done.returncode == code, (variables, done.stderr)
            outputs += [done.stdout, done.stderr]
            outputs += [path.read_text(errors="replace") for path in folder.iterdir()]
            if code != 2:  # --debug names the proxy, masked
                assert "go through the proxy http://****@" in done.stderr, done.stderr
    encoded = base64.b64encode(CANARY.encode()).decode()
    for text in outputs:
        assert "CANARY" not in text, "a proxy credential leaked"
        assert encoded not in text, "a proxy credential leaked, base64-encoded"
