"""Show a run's progress on stderr: a tqdm bar when stderr is a terminal, else nothing.

The bar counts the rows that finished (not the ones a stopped run marks ``not_attempted``, so
its rate and ETA are those of rows really done), with its total from the input's row count,
and shows ok / attention and, for commands that call the API, the requests retrying and in
flight under the adaptive limit. Log lines go through :meth:`Progress.log` so they print above
the bar instead of breaking it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from bulk_import.models import Outcome, Status

if TYPE_CHECKING:
    from tqdm import tqdm


class Progress:
    """Count outcomes on a bar: ok / attention, rate and ETA, and what ``extra`` says."""

    def __init__(
        self,
        *,
        enabled: bool,
        quiet: bool,
        total: int | None,
        desc: str,
        extra: Callable[[], str] | None = None,
        stream: TextIO | None = None,
        auto: bool = False,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        self._extra = extra
        self.ok = 0
        self.attention = 0
        self.skipped = 0
        self._bar: tqdm[Any] | None = None
        if not enabled or quiet:
            return
        if auto:
            # A library call's progress=True: a widget in Jupyter, a text bar on stderr elsewhere,
            # whatever the stream the lines of news go to.
            from tqdm.auto import tqdm as auto_tqdm

            self._bar = auto_tqdm(total=total, desc=desc, unit="row", smoothing=0.1)
        elif self._stream.isatty():
            from tqdm import tqdm  # only for a terminal: cron and scripts never draw a bar

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit="row",
                file=self._stream,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def advance(self, outcome: Outcome) -> None:
        """Count one finished row (a row a stopped run did not send is counted apart)."""
        if outcome.status is Status.NOT_ATTEMPTED:
            self.skipped += 1
            return
        if outcome.status.ok:
            self.ok += 1
        else:
            self.attention += 1
        bar = self._bar
        if bar is None:
            return
        if time.time() - bar.last_print_t >= bar.mininterval:
            # tqdm redraws in this update (its clock is time.time): give it the counts that
            # match its own, or the line reads "439/600 ... ok 419" for a quarter second.
            self._set_postfix()
        bar.update(1)

    def postfix(self) -> str:
        """Return the text after the bar: the counts, then what ``extra`` says."""
        parts = [f"ok {self.ok}", f"attention {self.attention}"]
        if self.skipped:
            parts.append(f"not sent {self.skipped}")
        if self._extra is not None:
            extra = self._extra()
            if extra:
                parts.append(extra)
        return ", ".join(parts)

    def _set_postfix(self) -> None:
        assert self._bar is not None
        self._bar.set_postfix_str(self.postfix(), refresh=False)

    def log(self, message: str) -> None:
        """Print one line to stderr without breaking the bar; nothing when quiet."""
        if self._quiet:
            return
        if self._bar is not None:
            self._bar.write(message, file=self._stream)
        else:
            print(message, file=self._stream, flush=True)

    def close(self) -> None:
        """Finish the bar with the final counts."""
        if self._bar is not None:
            self._set_postfix()
            self._bar.refresh()
            self._bar.close()
            self._bar = None


def in_flight_text(
    *, retrying: int, in_flight: int, window: float, limit: int, ceiling: int
) -> str:
    """Say what the API layer is doing: requests retrying, and in flight against the window.

    The window is shown as it is when it is not whole: at 10.4 an 11th request is in flight 40 %
    of the time, so "in flight 11/10.4" is right where "11/10" would read as a broken limit.
    """
    shown = round(window, 1)
    text = f"in flight {in_flight}/{shown:g}"
    if limit < ceiling:
        text += f" (limit found; --concurrency {ceiling})"
    return f"retrying {retrying}, {text}" if retrying else text
