"""The security checklist, one test per item.

The API key is a distinctive canary; every output a person or a machine could read is searched
for it. Plain HTTP off this machine is refused, TLS verification cannot be switched off, the
report and the summary are private (0600) even under umask 000, formula-looking cells are
neutralised, and the sandbox listens on loopback only.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yarl
from aiohttp import web
from click.testing import CliRunner
from conftest import cli, cli_env
from hostile_fixtures import HostileServer, answer
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from sandbox_fixtures import us_number

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.api.http import check_base_url, is_loopback
from bulk_import.cli import main
from bulk_import.config import ApiOptions, Secret
from bulk_import.errors import UsageError
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox

CANARY = "sk_car_CANARY_7f3a9c_do_not_leak"
CANARY_PART = "CANARY_7f3a9c"
COMMANDS = ("run", "validate", "retry-patch", "reconcile", "sandbox")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def env_for(base_url: str | None, *, key: str | None = CANARY) -> dict[str, str]:
    """Return a CLI environment with the canary key, measured by coverage like the rest."""
    return cli_env(base_url, key=key)


def write_input(folder: Path, count: int, *, extra: str = "") -> None:
    """Write ``in.csv`` with ``count`` valid numbers (and ``extra`` raw lines)."""
    lines = "".join(f"{us_number(i)},label {i}\n" for i in range(count))
    (folder / "in.csv").write_text("number,label\n" + lines + extra)


def read_report(path: Path) -> list[dict[str, str]]:
    """Return a report's lines."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def assert_no_canary(*texts: str) -> None:
    """Say that no text holds the key, or a recognisable part of it."""
    for text in texts:
        assert CANARY_PART not in text, "the API key leaked"


def files_text(folder: Path) -> list[str]:
    """Return the text of every file the tool may have written in ``folder``."""
    return [
        path.read_text(errors="replace")
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != "key.txt"
    ]


# -- 1. the key never shows -----------------------------------------------------------------------


def test_key_never_shows_in_any_command_output_report_or_summary(tmp_path: Path) -> None:
    """run, --resume, retry-patch and reconcile under chaos with --debug: the key shows nowhere."""
    write_input(tmp_path, 30, extra="not a number,x\n")
    faults = Faults(
        error_500=0.05,
        drop=0.05,
        error_429=0.03,
        retry_after="ms",
        retry_after_s=0.01,
        webhook_fail_numbers=(us_number(3), us_number(4)),
    )
    outputs: list[str] = []
    with RunningSandbox(faults=faults, api_key=CANARY, seed=5) as sandbox:
        env = env_for(sandbox.base_url)
        common = ("--debug", "--no-progress", "--max-attempts", "8")
        runs = [
            ("run", "in.csv", "--provider-id", "prov_sandbox", "--agent-id", "agent_sandbox"),
            ("run", "in.csv", "--provider-id", "prov_sandbox", "--resume"),
            ("retry-patch", "in.report.csv"),
            ("reconcile", "in.csv", "--provider-id", "prov_sandbox", "--report", "rec.csv"),
            (
                "reconcile",
                "in.csv",
                "--provider-id",
                "prov_sandbox",
                "--apply",
                "--report",
                "a.csv",
            ),
        ]
        for i, args in enumerate(runs):
            done = cli(*args, *common, "--summary-json", f"s{i}.json", env=env, cwd=tmp_path)
            assert done.returncode in (0, 1), done.stderr
            outputs += [done.stdout, done.stderr]
        assert sandbox.state.stats()["requests"] > 30
    assert_no_canary(*outputs, *files_text(tmp_path))


def test_key_never_shows_on_error_paths_with_debug(tmp_path: Path) -> None:
    """Refused key, unreachable API, bad input and a report that is a folder: --debug, no key."""
    write_input(tmp_path, 3)
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "bad.csv").write_text("a,b,c\n1,2,3\n")
    outputs: list[str] = []
    with RunningSandbox(api_key="sk_car_some_other_key") as sandbox:
        env = env_for(sandbox.base_url)
        run = ("run", "in.csv", "--provider-id", "prov_sandbox", "--debug", "--no-progress")
        for args, codes in [
            ((*run, "--summary-json", "s.json"), (3,)),  # 401: the canary is refused
            (("run", "bad.csv", "--provider-id", "p", "--debug"), (2,)),  # after the key is read
            ((*run, "--report", "folder.csv"), (2, 4)),  # the report cannot be written
            ((*run, "--base-url", "http://127.0.0.1:9", "--max-attempts", "1"), (3,)),
        ]:
            done = cli(*args, env=env, cwd=tmp_path)
            assert done.returncode in codes, (args, done.returncode, done.stderr)
            outputs += [done.stdout, done.stderr]
    key_file = tmp_path / "key.txt"
    key_file.write_text(CANARY + "\n")
    done = cli(
        *("run", "in.csv", "--provider-id", "p", "--debug", "--api-key-file", "-"),
        *("--base-url", "http://127.0.0.1:9", "--max-attempts", "1"),
        env=env_for(None, key=None),
        cwd=tmp_path,
        stdin=CANARY + "\n",
    )
    outputs += [done.stdout, done.stderr]
    assert_no_canary(*outputs, *files_text(tmp_path))


@pytest.mark.parametrize(
    "bad_key",
    [CANARY + "\nX-Injected: 1", CANARY + "\rX", CANARY + "\x00", CANARY + "é", CANARY + "\t1"],
    ids=["newline", "cr", "nul", "non-ascii", "tab"],
)
def test_key_that_no_header_can_carry_is_refused_in_one_line(tmp_path: Path, bad_key: str) -> None:
    """A key with a line break, control or non-ASCII character: exit 2, one line, never shown."""
    write_input(tmp_path, 2)
    (tmp_path / "key.txt").write_text(bad_key, encoding="utf-8")
    with RunningSandbox(api_key=CANARY) as sandbox:
        done = cli(
            *("run", "in.csv", "--provider-id", "prov_sandbox", "--no-progress"),
            *("--api-key-file", "key.txt"),
            env=env_for(sandbox.base_url, key=None),
            cwd=tmp_path,
        )
        assert sandbox.state.stats()["requests"] == 0
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("bulk-import: error: ")
    assert_no_canary(done.stdout, done.stderr)
    assert not (tmp_path / "in.report.csv").exists()


async def _echo_headers(request: web.Request) -> web.StreamResponse:
    """Answer 400 with a debugging proxy's page that echoes the request's headers."""
    headers = "".join(f"{name}: {value}<br>" for name, value in request.headers.items())
    return web.Response(status=400, text=f"<html>Bad request. You sent:<br>{headers}</html>")


async def _echo_json(request: web.Request) -> web.StreamResponse:
    """Answer 500 with a JSON error whose message quotes the Authorization header."""
    message = f"bad credentials {request.headers.get('Authorization')} for this route"
    return web.json_response({"title": "Oops", "message": message}, status=500)


def test_key_echoed_back_by_the_server_is_not_written(tmp_path: Path) -> None:
    """A server that quotes the Authorization header back: the report and output never hold it."""
    server = HostileServer(modes={"echo": _echo_headers, "echo-json": _echo_json}).start()
    try:
        outputs: list[str] = []
        for mode in ("echo", "echo-json"):
            write_input(tmp_path, 3)
            done = cli(
                *("run", "in.csv", "--provider-id", "p", "--no-progress", "--max-attempts", "2"),
                *("--max-consecutive-failures", "2", "--summary-json", f"{mode}.json"),
                env=env_for(server.url(mode)),
                cwd=tmp_path,
            )
            assert done.returncode in (1, 3), done.stderr
            lines = read_report(tmp_path / "in.report.csv")
            assert any("****" in line["error"] for line in lines), lines
            outputs += [done.stdout, done.stderr, *files_text(tmp_path)]
        assert any(seen.authorization == f"Bearer {CANARY}" for seen in server.seen)
    finally:
        server.stop()
    assert_no_canary(*outputs)


def test_sandbox_never_prints_a_key_from_its_environment(tmp_path: Path) -> None:
    """``bulk-import sandbox`` with CARTESIA_API_KEY says where its key is from, never the key."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bulk_import", "sandbox", "--port", "0"],
        env=env_for(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("sandbox listening on http://127.0.0.1:")
        second = process.stdout.readline()
        base_url = first.split()[-1]
        # A wrong key's 401 does not quote the accepted key either.
        wrong = httpx.post(
            f"{base_url}/agents/phone-numbers",
            headers={"Authorization": "Bearer sk_car_wrong", "Cartesia-Version": "2026-03-01"},
            json={},
        )
        assert wrong.status_code == 401
        outputs = [wrong.text]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert second == "accepting the API key from CARTESIA_API_KEY\n"
    assert_no_canary(first, second, out, err, *outputs)


def test_no_option_takes_the_key_itself() -> None:
    """No command has an option that takes the key on the command line (ps, shell history)."""
    for command in COMMANDS:
        text = CliRunner().invoke(main, [command, "--help"]).output
        options = set(re.findall(r"--[a-z][a-z0-9-]*", text))
        assert "--api-key" not in options
        assert not {o for o in options if o.endswith("-key") or o in ("--key", "--token")}


# -- 2. plain http only for loopback --------------------------------------------------------------


REFUSED_URLS = [
    "http://api.cartesia.ai",
    "http://10.0.0.1:8080",
    "http://[2001:db8::1]",
    "http://0.0.0.0:8080",
    "http://127.0.0.1.nip.io",
    "http://localhost.example.com",
    "http://127.0.0.1@evil.example",
    "http://localhost:80@evil.example",
    "http://evil.example#@127.0.0.1",
    "http://evil.example?@127.0.0.1",
    "http://127.0.0.1:80\\@evil.example",
    "http://[::ffff:127.0.0.1]",
]


@pytest.mark.parametrize("command", ["run", "reconcile", "retry-patch"])
def test_plain_http_is_refused_off_this_machine(tmp_path: Path, command: str) -> None:
    """Plain http:// to a host that is not loopback: exit 2, one line, nothing read or sent."""
    write_input(tmp_path, 1)
    given = "in.report.csv" if command == "retry-patch" else "in.csv"
    if command == "retry-patch":
        (tmp_path / given).write_text(
            "row,input_number,number,label,provider,agent_id,status,http_status,"
            "phone_number_id,attempts,error,finished_at\n"
        )
    args = [command, str(tmp_path / given), "--report", str(tmp_path / "out.csv")]
    for url in REFUSED_URLS:
        for extra, env in [(["--base-url", url], {"CARTESIA_API_KEY": CANARY}), ([], env_for(url))]:
            result = CliRunner().invoke(main, args + extra, env=env)
            assert result.exit_code == 2, (url, result.output)
            assert result.stderr.startswith("bulk-import: error: refusing plain http:// to ")
            assert result.stderr.count("\n") == 1
            assert not (tmp_path / "out.csv").exists()


def test_plain_http_is_refused_by_the_real_process(tmp_path: Path) -> None:
    """The same through the real process, from the option and from CARTESIA_BASE_URL."""
    write_input(tmp_path, 1)
    for args, env in [
        (("--base-url", "http://10.0.0.1:8080"), env_for(None)),
        ((), env_for("http://evil.example#@127.0.0.1")),
    ]:
        done = cli("run", "in.csv", "--provider-id", "p", *args, env=env, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("bulk-import: error: refusing plain http:// to ")
        assert done.stderr.count("\n") == 1
        assert not (tmp_path / "in.report.csv").exists()


URL_PIECES = st.sampled_from(
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "evil.example",
        "10.0.0.1",
        "@",
        ":",
        "80",
        "/",
        "\\",
        "#",
        "?",
        ";",
        "%2f",
        "%40",
        " ",
        ".",
        "[",
        "]",
        "user",
        "127.1",
        "0x7f000001",
    ]
)


@seed(8080)
@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(URL_PIECES, min_size=1, max_size=6).map("".join))
def test_an_accepted_plain_http_url_reaches_loopback_only(authority: str) -> None:
    """Whatever the URL's tricks, plain http accepted means httpx and aiohttp go to loopback."""
    url = "http://" + authority
    try:
        base = check_base_url(url)
    except UsageError:
        return
    try:
        target = httpx.AsyncClient(base_url=base)._merge_url("/agents/phone-numbers")
    except httpx.InvalidURL:
        return  # httpx refuses it: nothing is sent
    assert is_loopback(target.host), (url, target.host)
    assert is_loopback(str(yarl.URL(str(target)).host)), (url, str(target))


# -- 3. TLS verification cannot be switched off ---------------------------------------------------


def test_no_option_switches_tls_verification_off() -> None:
    """No command's --help offers an option to skip or weaken certificate checks."""
    words = re.compile(r"insecure|no-verify|verify|ssl|tls|cert|ca-bundle|cacert", re.IGNORECASE)
    for command in COMMANDS:
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert not words.findall(text), (command, words.findall(text))


def test_client_is_built_with_certificate_verification_on() -> None:
    """The client's TLS context checks certificates and host names."""
    api = CartesiaApi(
        ApiOptions(api_key=Secret(CANARY), base_url="https://api.test"), control=StopControl()
    )
    transport = api.http._client._transport
    context: ssl.SSLContext = transport.ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return a self-signed certificate and key for 127.0.0.1 (made with openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - every supported system has it
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[tuple[str, list[str]]]:
    """Serve 201 over TLS with the self-signed certificate; yield its URL and the keys it saw."""
    seen: list[str] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    port: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"id": "pn_tls"}, status=201)

    async def listing(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"data": [], "has_more": False})

    app = web.Application()
    app.router.add_post("/agents/phone-numbers", handler)
    app.router.add_get("/agents/phone-numbers", listing)
    runner = web.AppRunner(app, access_log=None)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start())
        port.append(runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    yield f"https://127.0.0.1:{port[0]}", seen
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_self_signed_certificate_stops_the_run_even_with_every_bypass_variable(
    tmp_path: Path, tls_server: tuple[str, list[str]], self_signed: tuple[Path, Path]
) -> None:
    """An https API with a self-signed certificate: exit 3 before any row, naming the check."""
    url, seen = tls_server
    write_input(tmp_path, 2)
    env = env_for(url)
    env.update(
        PYTHONHTTPSVERIFY="0",
        CURL_CA_BUNDLE="",
        REQUESTS_CA_BUNDLE="",
        SSL_VERIFY="false",
        HTTPX_VERIFY="0",
        AIOHTTP_NO_VERIFY="1",
        NODE_TLS_REJECT_UNAUTHORIZED="0",
    )
    done = cli(
        *("run", "in.csv", "--provider-id", "p", "--no-progress", "--max-attempts", "2"),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 3, done.stderr
    assert "certificate verify failed" in done.stderr.lower(), done.stderr
    assert not (tmp_path / "in.report.csv").exists()
    assert seen == [], "a request got through an unverified connection"
    # Trusting that very certificate (the one way to change trust) makes the same run succeed:
    # the failure above was the certificate check, not a broken server.
    env["SSL_CERT_FILE"] = str(self_signed[0])
    done = cli("run", "in.csv", "--provider-id", "p", "--no-progress", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert seen == [f"Bearer {CANARY}"] * 3  # the check before the first row, two POSTs


# -- 4. private files -----------------------------------------------------------------------------


def mode(path: Path) -> int:
    """Return a file's permission bits."""
    return path.stat().st_mode & 0o777


def test_report_and_summary_are_0600_even_under_umask_000(tmp_path: Path) -> None:
    """Every command creates or rewrites its report and summary as 0600, whatever the umask."""
    write_input(tmp_path, 5, extra="bad,x\n")
    stale = tmp_path / "in.report.csv"
    stale.write_text("left over")
    stale.chmod(0o644)
    faults = Faults(webhook_fail_numbers=(us_number(1),))
    with RunningSandbox(faults=faults, api_key=CANARY) as sandbox:
        env = env_for(sandbox.base_url)
        common = ("--provider-id", "prov_sandbox", "--agent-id", "agent_sandbox", "--no-progress")
        steps = [
            ("validate", "in.csv", *common, "--report", "v.csv", "--summary-json", "v.json"),
            ("run", "in.csv", *common, "--summary-json", "r.json"),
            ("run", "in.csv", *common, "--resume", "--summary-json", "r2.json"),
            ("retry-patch", "in.report.csv", "--summary-json", "p.json"),
            ("reconcile", "in.csv", *common, "--report", "c.csv", "--summary-json", "c.json"),
        ]
        for args in steps:
            done = cli(*args, env=env, cwd=tmp_path, umask=0)
            assert done.returncode in (0, 1), done.stderr
    written = ["v.csv", "v.json", "in.report.csv", "r.json", "r2.json", "p.json", "c.csv", "c.json"]
    for name in written:
        assert mode(tmp_path / name) == 0o600, name
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


def test_report_being_written_is_0600_when_the_run_is_killed(tmp_path: Path) -> None:
    """The journal beside the report is private from its first line, even after SIGKILL."""
    write_input(tmp_path, 200)
    report = tmp_path / "in.report.csv"
    with RunningSandbox(faults=Faults(latency_ms=20), api_key=CANARY) as sandbox:
        command = [sys.executable, "-m", "bulk_import", "run", "in.csv", "--provider-id"]
        process = subprocess.Popen(
            ["sh", "-c", 'umask 000 && exec "$@"', "sh", *command, "prov_sandbox"],
            env=env_for(sandbox.base_url),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        journal = journal_path(report)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_bytes().count(b"\n") > 5:
                break
            time.sleep(0.01)
        assert mode(journal) == 0o600
        process.kill()
        process.wait(10)
    assert mode(journal) == 0o600
    assert not report.exists()


# -- 5. formula-looking cells ---------------------------------------------------------------------


def test_formula_cells_from_input_and_api_are_neutralised(tmp_path: Path) -> None:
    """Formula-looking labels, agent ids, API ids and API errors get a leading ' in the report."""
    server = HostileServer(
        modes={
            "formula-id": answer(201, '{"id": "=cmd|\' /C calc\'!A0"}'),
            "formula-error": answer(400, '{"title": "=HYPERLINK(\\"http://evil\\")"}'),
            "formula-raw": answer(400, "@SUM(1+1)*cmd|' /C calc'!A0", "text/plain"),
        }
    ).start()
    try:
        for mode_name in ("formula-id", "formula-error", "formula-raw"):
            (tmp_path / "in.csv").write_text(
                "number,label,agent_id\n"
                f'{us_number(0)},"=HYPERLINK(""http://evil"",""x"")",@agent\n'
                f"{us_number(1)},+SUM(A1),-1\n"
            )
            done = cli(
                *("run", "in.csv", "--provider-id", "=prov", "--no-progress"),
                env=env_for(server.url(mode_name)),
                cwd=tmp_path,
            )
            assert done.returncode in (0, 1), done.stderr
            for line in read_report(tmp_path / "in.report.csv"):
                assert line["number"].startswith("+1415")  # E.164 stays as it is
                for column, cell in line.items():
                    if column != "number" and cell.startswith(FORMULA_START):
                        raise AssertionError(f"{mode_name}: {column} = {cell!r}")
                assert line["label"].startswith("'")
                assert line["provider"] == "'=prov"
    finally:
        server.stop()


# -- 6. the sandbox listens on loopback only -------------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """Return the local addresses of the TCP sockets listening on ``port`` (Linux /proc)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def other_address() -> str | None:
    """Return an address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def assert_loopback_only(port: int) -> None:
    """Check the socket on ``port`` listens on 127.0.0.1 only, and nothing else answers."""
    if Path("/proc/net/tcp").exists():
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex
    address = other_address()
    if address is not None:
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, port)) != 0, f"the sandbox answers on {address}"


def test_sandbox_in_process_listens_on_loopback_only() -> None:
    """RunningSandbox binds 127.0.0.1 and no other address."""
    with RunningSandbox() as sandbox:
        port = int(sandbox.base_url.rsplit(":", 1)[1])
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert_loopback_only(port)


def test_sandbox_command_listens_on_loopback_only() -> None:
    """``bulk-import sandbox --port 0`` binds 127.0.0.1 and no other address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bulk_import", "sandbox", "--port", "0", "--seed", "1"],
        env=env_for(None, key=None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.fullmatch(r"sandbox listening on http://127\.0\.0\.1:(\d+)\n", first)
        assert match, first
        assert_loopback_only(int(match.group(1)))
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_summary_json_holds_no_secret(tmp_path: Path) -> None:
    """The summary JSON has the documented keys and nothing that looks like a key."""
    write_input(tmp_path, 2)
    with RunningSandbox(api_key=CANARY) as sandbox:
        done = cli(
            *("run", "in.csv", "--provider-id", "prov_sandbox", "--summary-json", "s.json"),
            env=env_for(sandbox.base_url),
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert not re.search(r"sk_car_", json.dumps(summary))
