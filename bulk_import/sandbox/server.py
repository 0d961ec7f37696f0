"""Run the sandbox: build its application, serve it in a thread or until a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Final

from aiohttp import web

from bulk_import.sandbox.admin import Admin
from bulk_import.sandbox.faults import Faults
from bulk_import.sandbox.handlers import Handlers
from bulk_import.sandbox.providers import ProviderHandlers
from bulk_import.sandbox.state import SandboxState
from bulk_import.sandbox.store import PATH
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    ACCOUNTS_PATH,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    KEYS_PATH,
    LIST_PATH,
    TwilioHandlers,
)

DEFAULT_API_KEY: Final = "sk_car_sandbox"
HOST: Final = "127.0.0.1"
STATE_KEY: Final = web.AppKey("bulk_import_sandbox_state", SandboxState)
_NO_FAULTS: Final = Faults()  # frozen, so one shared default is safe


def make_app(*, faults: Faults, api_key: str, seed: int | None = None) -> web.Application:
    """Build the sandbox's aiohttp application; its state is ``app[STATE_KEY]``."""
    state = SandboxState(faults, seed)
    api = Handlers(state, api_key)
    providers = ProviderHandlers(api, state)
    admin = Admin(state, api_key)
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_post(PATH, api.post_numbers)
    app.router.add_get(PATH, api.list_numbers, allow_head=False)
    # Before "/{id}", which would take "providers" for an id.
    app.router.add_get(PATH + "/providers", providers.list_providers, allow_head=False)
    app.router.add_post(PATH + "/providers", providers.create_provider)
    app.router.add_get(PATH + "/{id}", api.get_number, allow_head=False)
    app.router.add_patch(PATH + "/{id}", api.patch_number)
    app.router.add_delete(PATH + "/{id}", api.delete_number)
    app.router.add_get("/_sandbox/stats", admin.stats, allow_head=False)
    app.router.add_post("/_sandbox/numbers", admin.add)
    app.router.add_post("/_sandbox/reset", admin.reset)
    app.router.add_post("/_sandbox/faults", admin.faults)
    app.router.add_post("/_sandbox/twilio/numbers", admin.buy_twilio_number)
    if state.twilio is not None:
        twilio = TwilioHandlers(state, state.twilio)
        router = app.router
        router.add_get(LIST_PATH.format(sid="{sid}"), twilio.list_numbers, allow_head=False)
        router.add_get(ACCOUNTS_PATH, twilio.list_accounts, allow_head=False)
        keys = KEYS_PATH.format(sid="{sid}")
        router.add_get(keys, twilio.list_keys, allow_head=False)
        router.add_post(keys, twilio.create_key)
        router.add_delete(keys.replace(".json", "/{key}.json"), twilio.delete_key)
    return app


def _runner(app: web.Application) -> web.AppRunner:
    """Return a runner with no access log (speed) and a short grace for requests in flight."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=1.0)


class RunningSandbox:
    """Run the sandbox on loopback in a background thread with its own event loop.

    ``with RunningSandbox(faults=Faults(drop=0.1)) as sandbox: ... sandbox.base_url ...``;
    with ``ssl_context`` it serves HTTPS (``base_url`` is then ``https://``).
    """

    def __init__(
        self,
        *,
        faults: Faults = _NO_FAULTS,
        api_key: str = DEFAULT_API_KEY,
        seed: int | None = 0,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = make_app(faults=faults, api_key=api_key, seed=seed)
        self.state = self.app[STATE_KEY]
        self.api_key = api_key
        self.port = port
        #: Serve HTTPS with this context (tests of private CAs and proxies' CONNECT tunnels).
        self.ssl_context = ssl_context
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RunningSandbox:
        """Start serving; return once the port is bound (raise OSError if it cannot be)."""
        if self._thread is not None:
            raise RuntimeError("this sandbox was already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        runner = _runner(self.app)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(
                    web.TCPSite(runner, HOST, self.port, ssl_context=self.ssl_context).start()
                )
                self.port = runner.addresses[0][1]
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                loop.run_until_complete(runner.cleanup())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="bulk-import-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        self._loop = loop
        scheme = "http" if self.ssl_context is None else "https"
        self.base_url = f"{scheme}://{HOST}:{self.port}"
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (requests in flight get a short grace)."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop = None

    def __enter__(self) -> RunningSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _print(line: str) -> None:
    """Print a line to stdout at once (a parent process waits for the URL line)."""
    print(line, flush=True)


def _print_err(line: str) -> None:
    """Print a line to stderr at once."""
    print(line, file=sys.stderr, flush=True)


def serve(
    *,
    port: int = 0,
    latency_ms: float | None = None,
    faults_path: str | None = None,
    seed: int | None = None,
    echo: Callable[[str], None] = _print,
    echo_err: Callable[[str], None] = _print_err,
) -> int:
    """Serve on 127.0.0.1 until SIGINT or SIGTERM; return the exit code (0, or 2 on bad input).

    The first line is ``sandbox listening on http://127.0.0.1:PORT``; the second says which key
    is accepted, without ever printing a key taken from ``CARTESIA_API_KEY``; then the faults
    file, the provider and agent ids, and the Twilio stand-in's account and credentials (its own
    fixed test values, never taken from the environment).
    """
    try:
        faults = Faults.from_file(faults_path) if faults_path else Faults()
        if latency_ms is not None:
            faults = replace(faults, latency_ms=latency_ms)
    except ValueError as exc:
        echo_err(f"bulk-import sandbox: {exc}")
        return 2
    env_key = os.environ.get("CARTESIA_API_KEY", "").strip()
    key_line = (
        "accepting the API key from CARTESIA_API_KEY"
        if env_key
        else f"accepting the API key {DEFAULT_API_KEY} (set CARTESIA_API_KEY to choose another)"
    )
    lines = [key_line]
    if faults_path:
        lines.append(f"faults from {faults_path}")
    lines.extend(_known_lines(faults))
    app = make_app(faults=faults, api_key=env_key or DEFAULT_API_KEY, seed=seed)
    return asyncio.run(_serve(app, port, lines, echo, echo_err))


def _known_lines(faults: Faults) -> list[str]:
    """Return the lines that name the ids the sandbox knows and its Twilio stand-in."""
    providers = _noun("provider", faults.providers)
    lines = [f"{providers}, {_noun('agent', faults.agents)}"]
    spec = faults.twilio_numbers
    if spec is not None:
        count = spec if isinstance(spec, int) else len(spec)
        subs = faults.twilio_subaccounts
        inactive = sum(1 for sub in subs if sub["status"] != "active")
        org = f", {len(subs)} subaccounts ({inactive} not active)" if subs else ""
        lines.append(
            f"Twilio stand-in at the same URL (--twilio-base-url): account {ACCOUNT_SID}, "
            f"{count:,} number{'' if count == 1 else 's'}{org}"
        )
        lines.append(
            f"Twilio credentials: TWILIO_API_KEY={API_KEY_SID} TWILIO_API_SECRET={API_KEY_SECRET}"
            f", or TWILIO_ACCOUNT_SID={ACCOUNT_SID} TWILIO_AUTH_TOKEN={AUTH_TOKEN}"
        )
    return lines


def _noun(noun: str, ids: tuple[str, ...]) -> str:
    """Return ``provider prov_a`` or ``providers prov_a and prov_b``, or ``no provider``."""
    if not ids:
        return f"no {noun}"
    if len(ids) == 1:
        return f"{noun} {ids[0]}"
    return f"{noun}s {', '.join(ids[:-1])} and {ids[-1]}"


async def _serve(
    app: web.Application,
    port: int,
    lines: list[str],
    echo: Callable[[str], None],
    echo_err: Callable[[str], None],
) -> int:
    """Bind, announce, and wait for SIGINT/SIGTERM; restore the signal handlers after."""
    runner = _runner(app)
    await runner.setup()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in caught}
    try:
        try:
            await web.TCPSite(runner, HOST, port).start()
        except OSError as exc:
            echo_err(f"bulk-import sandbox: cannot listen on {HOST}:{port}: {exc.strerror}")
            return 2
        # Handlers go in before the URL is printed: a parent may signal as soon as it reads it.
        for sig in caught:
            loop.add_signal_handler(sig, stop.set)
        echo(f"sandbox listening on http://{HOST}:{runner.addresses[0][1]}")
        for line in lines:
            echo(line)
        await stop.wait()
        return 0
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            if handler is not None:  # pragma: no branch - None: set from C, cannot be restored
                signal.signal(sig, handler)
        await runner.cleanup()
