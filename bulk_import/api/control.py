"""Say whether a run may still send: the stop every request and every worker obeys.

A stop comes from the API (a refused key), from the engine (too many failures in a row, a
signal) or from a job; the first reason given is the one kept. Sleepers (a backoff, a
Retry-After pause, a turn under ``--rate``) wake at once when it comes.
"""

from __future__ import annotations

import asyncio
import contextlib

from bulk_import.config import CLI_KEY_ORIGIN
from bulk_import.models import Exit

REFUSED_STATUSES = frozenset({401, 403})


class StopControl:
    """Say whether the run must stop, why, and with which exit code; wake sleepers when it does."""

    def __init__(self) -> None:
        self.reason = ""
        self.exit_code = 0
        self._event = asyncio.Event()
        self.signals = 0
        self._workers: list[asyncio.Task[None]] = []

    @property
    def stopping(self) -> bool:
        """Say whether a stop was asked for."""
        return self._event.is_set()

    def stop(self, reason: str, *, exit_code: int) -> None:
        """Ask the run to stop; the first reason given is the one kept."""
        if not self._event.is_set():
            self.reason = reason
            self.exit_code = exit_code
            self._event.set()

    def stop_if_refused(self, code: int, *, url: str = "", key: str = CLI_KEY_ORIGIN) -> None:
        """Stop at once when an answer says the API key is refused (401 or 403).

        ``key`` names where the key came from (``ApiOptions.key_origin``): what to check.
        """
        if code in REFUSED_STATUSES:
            where = f" at {url}" if url else ""
            self.stop(
                f"the API{where} refused the key (HTTP {code}); check {key}",
                exit_code=Exit.STOPPED,
            )

    def interrupt(self, name: str) -> None:
        """Stop as Ctrl-C stops a run: send nothing new; a second time, abandon what is in flight.

        ``name`` says what interrupted (``SIGINT``, ``SIGTERM``, ``cancellation``). Call it on the
        run's event loop (from another thread: ``loop.call_soon_threadsafe``).
        """
        self.signals += 1
        if self.signals == 1:
            self.stop(f"interrupted by {name}", exit_code=Exit.INTERRUPTED)
        else:
            self.cancel_in_flight()

    def track(self, workers: list[asyncio.Task[None]]) -> None:
        """Remember the worker tasks, so that a second Ctrl-C can cancel them."""
        self._workers = workers

    def cancel_in_flight(self) -> None:
        """Abandon the requests in flight (a second Ctrl-C): their rows are marked unknown."""
        for task in self._workers:
            task.cancel()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when a stop is asked for."""
        if seconds <= 0 or self._event.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=seconds)
