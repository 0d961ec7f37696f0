"""Run one bulk-import command in this process, watched or held by the benchmark, not the product.

``python tests/benchmarks/probe.py [--samples FILE] [--fixed-window] -- run INPUT ...`` runs the
CLI as the ``bulk-import`` script does, after two optional patches that only benchmarks make:

- ``--samples FILE``: a thread reads every limiter of the run every ``--every`` seconds (20 ms)
  and writes ``{"samples": [[monotonic_s, window, in_flight], ...]}`` to FILE at the end. The
  clock is ``time.monotonic``, which every process of the machine shares, so the samples line up
  with the moments the benchmark changed the sandbox's faults.
- ``--fixed-window``: the window starts at ``--concurrency`` and never moves (no cut, no
  growth): a fixed pool on the same engine, to compare the adaptive window with.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bulk_import.api import window as window_module
from bulk_import.api.limiter import Limiter
from bulk_import.api.window import Window
from bulk_import.cli import entry


def watch(every_s: float) -> tuple[list[list[float]], threading.Event]:
    """Record every limiter made from now on; sample them every ``every_s`` in a thread."""
    made: list[Limiter] = []
    samples: list[list[float]] = []
    done = threading.Event()
    original = Limiter.__init__

    def recording_init(self: Limiter, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    Limiter.__init__ = recording_init  # type: ignore[method-assign]

    def sample() -> None:
        while not done.wait(every_s):
            for limiter in list(made):
                samples.append([time.monotonic(), limiter.window, float(limiter.in_flight)])

    threading.Thread(target=sample, daemon=True).start()
    return samples, done


def fix_window() -> None:
    """Start every limiter at its ceiling and never move its window."""
    window_module.INITIAL_LIMIT = 1 << 30

    def no_cut(self: Window, *args: object, **kwargs: object) -> None:
        del self, args, kwargs

    Window._cut = no_cut  # type: ignore[method-assign]


def main() -> int:
    """Patch as asked, then run the CLI with the arguments after ``--``."""
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=Path, help="write the limiter's window over time here")
    parser.add_argument("--every", type=float, default=0.02, help="seconds between samples")
    parser.add_argument("--fixed-window", action="store_true", help="a fixed pool at the ceiling")
    args = parser.parse_args(argv[:split])
    if args.fixed_window:
        fix_window()
    samples: list[list[float]] = []
    done = threading.Event()
    if args.samples is not None:
        samples, done = watch(args.every)
    sys.argv = ["bulk-import", *argv[split + 1 :]]
    try:
        entry()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else 0 if code is None else 1
    finally:
        done.set()
        if args.samples is not None:
            args.samples.write_text(json.dumps({"samples": list(samples)}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
