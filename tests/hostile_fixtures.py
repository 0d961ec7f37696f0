"""A small hostile aiohttp server on 127.0.0.1 and its misbehaviours, for the tests that need one.

:class:`HostileServer` dispatches on the first path segment of the base URL
(``http://127.0.0.1:PORT/<mode>``) to a handler; the factories below (:func:`answer`,
:func:`slow`, :func:`retry_after`, ...) make the handlers. ``test_bad_api.py`` runs ``run``
against each misbehaviour; ``test_security.py`` uses it to see what the tool sends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from sandbox_fixtures import us_number

HOST = "127.0.0.1"
HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>"
    "<h1>Bad Gateway</h1><p>The proxy received an invalid response from an upstream server."
    "</p>" + "<!-- padding -->" * 40 + "</body></html>\n"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """Record one request the server received."""

    method: str
    path: str
    authorization: str | None
    host: str | None


@dataclass
class HostileServer:
    """Serve misbehaving answers on 127.0.0.1 from a background thread; record every request.

    ``modes`` maps the first path segment to a handler; ``garbage_port`` is a raw TCP server
    that answers every request with bytes that are not HTTP.
    """

    modes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    garbage_port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def url(self, mode: str, host: str = HOST) -> str:
        """Return the base URL that selects ``mode``."""
        return f"http://{host}:{self.port}/{mode}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("Host"),
            )
        )
        await request.read()
        mode = request.match_info["mode"]
        if request.method == "GET" and mode not in LISTING_MODES:
            return web.json_response({"data": [], "has_more": False})
        handler = self.modes.get(mode)
        if handler is None:
            return web.Response(status=404, text="no such mode")
        return await handler(request)

    async def _garbage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HELLO FROM A SERVER THAT DOES NOT SPEAK HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    def start(self) -> HostileServer:
        """Start serving; return once both ports are bound."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("*", "/{mode}/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, HOST, 0)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            garbage = loop.run_until_complete(asyncio.start_server(self._garbage, HOST, 0))
            self.garbage_port = garbage.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            garbage.close()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="hostile-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        self._loop = loop
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


# -- the misbehaviours ----------------------------------------------------------------------------


def answer(status: int, body: bytes | str = b"", content_type: str = "application/json") -> Handler:
    """Return a handler that always gives this status and raw body."""
    raw = body.encode() if isinstance(body, str) else body

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=raw, headers={"Content-Type": content_type})

    return handler


def slow(seconds: float) -> Handler:
    """Return a handler that answers 201 only after ``seconds``."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"id": "pn_slow"}, status=201)

    return handler


async def trickle(request: web.Request) -> web.StreamResponse:
    """Send the headers at once, then one byte of the body every 0.1 s for 10 s."""
    response = web.StreamResponse(
        status=201, headers={"Content-Type": "application/json", "Content-Length": "200"}
    )
    await response.prepare(request)
    for _ in range(100):
        await response.write(b" ")
        await asyncio.sleep(0.1)
    return response


async def hang_up(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


def redirect(status: int, location: str) -> Handler:
    """Return a handler that redirects to ``location``."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


def retry_after(value: str) -> Handler:
    """Return a handler that answers 503 with this Retry-After."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="busy", headers={"Retry-After": value})

    return handler


async def endless_pages(_request: web.Request) -> web.StreamResponse:
    """Answer every listing with the same page and ``has_more``: a cursor that never moves."""
    item = {"id": "pn_1", "number": us_number(0), "label": "x", "agent": None, "provider": None}
    return web.json_response({"data": [item], "has_more": True})


LISTING_MODES = frozenset(
    {"endless-pages", "listing-404", "listing-html-200", "listing-no-list", "listing-401"}
)
