"""A forward proxy and a private CA on loopback, for the tests of proxies and private CAs.

:class:`ForwardProxy` is a small asyncio HTTP proxy in a background thread: it forwards
plain-HTTP requests (absolute-form, one request a connection) and tunnels ``CONNECT``, can ask
for Basic credentials, and can refuse everything with one status (407, 403). It records what
it was asked, so a test can say the proxy saw a request, or saw nothing.
:func:`make_ca` makes a private CA and a server certificate for ``127.0.0.1``/``localhost``
with ``openssl``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
REASONS = {403: "Forbidden", 407: "Proxy Authentication Required"}


@dataclass(frozen=True, slots=True)
class Tls:
    """Name the files of a private CA and of the server certificate it signed."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """Return a server-side TLS context that presents the signed certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_ca(folder: Path) -> Tls:
    """Make a private CA and a certificate it signs for 127.0.0.1 and localhost, in ``folder``."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - every supported system has it
        raise RuntimeError("openssl is needed to make the test certificates")
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], capture_output=True, check=True, timeout=60)

    run(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
        *("-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=bulk-import test CA"),
    )
    run(
        *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr)),
        *("-subj", "/CN=127.0.0.1"),
    )
    run(
        *("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key)),
        *("-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext)),
    )
    return Tls(ca=ca, cert=cert, key=key)


@dataclass
class Seen:
    """Record what the proxy was asked: request lines and the credentials that came."""

    lines: list[str] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)


class ForwardProxy:
    """Proxy HTTP on loopback from a background thread (``with ForwardProxy() as proxy:``).

    ``user``/``password`` make it ask for Basic credentials (407 without the right ones);
    ``refuse`` answers every request with that status (after the first ``refuse_after``, which
    go through); ``tls`` makes it an ``https://`` proxy.
    """

    def __init__(
        self,
        *,
        user: str | None = None,
        password: str = "",
        refuse: int | None = None,
        refuse_after: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.expected = (
            None if user is None else base64.b64encode(f"{user}:{password}".encode()).decode()
        )
        self.refuse = refuse
        self.refuse_after = refuse_after
        self.tls = tls
        self.seen = Seen()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    def url(self, credentials: str = "") -> str:
        """Return the proxy's URL, with ``user:password@`` when ``credentials`` are given."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{credentials + '@' if credentials else ''}{HOST}:{self.port}"

    def __enter__(self) -> ForwardProxy:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(
                asyncio.start_server(self._client, HOST, 0, ssl=self.tls)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="forward-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection: one proxied request, or one tunnel."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        first, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [line for line in header_lines if line]
        self.seen.lines.append(" ".join(first.split(" ")[:2]))
        given = ""
        for line in headers:
            name, _, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization":
                given = value.strip()
                self.seen.credentials.append(given)
        status = self.refuse if len(self.seen.lines) > self.refuse_after else None
        if status is None and self.expected is not None and given != f"Basic {self.expected}":
            status = 407
        method, target = first.split(" ")[:2]
        if status is not None:
            await self._answer(writer, status)
        elif method == "CONNECT":
            await self._tunnel(target, reader, writer)
        else:
            await self._forward(method, target, headers, reader, writer)

    async def _answer(self, writer: asyncio.StreamWriter, status: int) -> None:
        """Refuse the request with ``status`` and close the connection."""
        challenge = 'Proxy-Authenticate: Basic realm="test"\r\n' if status == 407 else ""
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Refused')}\r\n{challenge}"
            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Open a tunnel to ``target`` (``host:port``) and pipe bytes both ways."""
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        headers: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Forward one absolute-form request to its origin, and its answer back, then close."""
        rest = target.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        host, _, port = authority.rpartition(":")
        kept = [
            line
            for line in headers
            if line.partition(":")[0].strip().lower()
            not in ("proxy-authorization", "proxy-connection", "connection", "keep-alive")
        ]
        up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
        head = f"{method} /{path} HTTP/1.1\r\n" + "".join(f"{h}\r\n" for h in kept)
        up_writer.write((head + "Connection: close\r\n\r\n").encode("latin-1"))
        length = next(
            (
                int(line.partition(":")[2])
                for line in kept
                if line.partition(":")[0].strip().lower() == "content-length"
            ),
            0,
        )
        if length:
            up_writer.write(await reader.readexactly(length))
        await up_writer.drain()
        await _pipe(up_reader, writer)
        up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes from ``reader`` to ``writer`` until the end, then close ``writer``."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def _pipe_both(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until either side closes."""
    await asyncio.gather(_pipe(a_reader, b_writer), _pipe(b_reader, a_writer))
