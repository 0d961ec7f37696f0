"""Show a run's progress on stderr: a tqdm bar when stderr is a terminal, else nothing.

Log lines go through :meth:`Progress.log` so they print above the bar instead of breaking it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

from bulk_import.models import Outcome

POSTFIX_EVERY_S = 0.5


class Progress:
    """Count outcomes on a bar: ok / attention / retrying, with rate and ETA."""

    def __init__(
        self,
        *,
        enabled: bool,
        quiet: bool,
        total: int | None,
        desc: str,
        retrying: Callable[[], int] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        self._retrying = retrying
        self.ok = 0
        self.attention = 0
        self._last_postfix = 0.0
        self._bar: tqdm[Any] | None = None
        if enabled and not quiet and self._stream.isatty():
            self._bar = tqdm(
                total=total, desc=desc, unit="row", file=self._stream, dynamic_ncols=True
            )

    def advance(self, outcome: Outcome) -> None:
        """Count one finished row."""
        if outcome.status.ok:
            self.ok += 1
        else:
            self.attention += 1
        bar = self._bar
        if bar is None:
            return
        bar.update(1)
        now = time.monotonic()
        if now - self._last_postfix >= POSTFIX_EVERY_S:
            self._last_postfix = now
            self._set_postfix()

    def _set_postfix(self) -> None:
        assert self._bar is not None
        retrying = self._retrying() if self._retrying is not None else 0
        self._bar.set_postfix_str(
            f"ok {self.ok}, attention {self.attention}, retrying {retrying}", refresh=False
        )

    def log(self, message: str) -> None:
        """Print one line to stderr without breaking the bar; nothing when quiet."""
        if self._quiet:
            return
        if self._bar is not None:
            self._bar.write(message, file=self._stream)
        else:
            print(message, file=self._stream, flush=True)

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._set_postfix()
            self._bar.close()
            self._bar = None
