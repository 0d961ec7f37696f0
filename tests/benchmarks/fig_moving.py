"""Measure figure 10: a concurrency limit that moves mid-run, 10 -> 20 -> 5, at 100 ms.

The sandbox starts with a limit of 10; once its first POST has come, a thread of this script
moves the limit to 20 and then to 5 (``POST /_sandbox/faults``), a phase apart; the run is
stopped with a Ctrl-C once the last phase is over. HEAD runs under
``probe.py``, which samples its window every 20 ms on the clock the change times are taken on.
A phase is settled from the first moment after which the window stays within 10 % of the new
limit to the phase's end (target: within 3 s). Today's CLI runs the same schedule; for both, each
phase's accepted POSTs per second (the sandbox's full seconds) are put over limit / latency.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from benchmarks.harness import Bench, BenchError, Figure, Sandbox, probed, say

LATENCY_MS = 100.0
LIMITS = (10, 20, 5)
BAND = 0.10
TARGET_S = 3.0
STARTUP_S = 2.5  # allowed for Python's start and the preflight, before the first POST


def measure(bench: Bench) -> None:
    """10. Limit 10 -> 20 -> 5 at 100 ms, ceiling 64: seconds to settle, throughput per phase."""
    phase_s = float(bench.pick(6, 4, long=15))
    latency_s = LATENCY_MS / 1000
    # Enough rows for the three phases at their ideal rates, and a margin: the run ends in the
    # last phase, which is measured up to the run's end.
    count = int(sum(phase_s * limit / latency_s for limit in LIMITS) * 1.1)
    say(f"[10] moving limit {LIMITS}, {phase_s:g} s a phase, {count:,} rows, ceiling 64")
    faults = {"concurrency_limit": LIMITS[0], "latency_ms": LATENCY_MS}
    samples_path = bench.workdir / "moving-samples.json"
    today = bench.today()
    details: dict[str, Any] = {"limits": LIMITS, "phase_s": phase_s, "rows": count}
    with Sandbox(bench.workdir, faults=faults) as sandbox:
        runs: dict[str, dict[str, Any]] = {}
        for tool in (probed(samples=samples_path), today):
            sandbox.reset()
            reset_at = time.monotonic()
            changes = _Schedule(sandbox, phase_s)
            changes.start()
            # Ctrl-C once the last phase is over (Python's start comes before the first POST).
            run = bench.run(
                sandbox,
                bench.input(count),
                concurrency=64,
                tool=tool,
                expect=(0, 130),
                interrupt_after=len(LIMITS) * phase_s + STARTUP_S,
            )
            changes.join()
            if changes.error:
                raise BenchError(f"moving the limit failed: {changes.error}")
            stats = sandbox.stats()
            # Each phase from the sandbox's own seconds: POSTs accepted, over limit / latency.
            starts = [t - reset_at for t in changes.times]
            phases = _phase_rates(stats, starts, latency_s)
            runs[tool.name] = {
                "duration_s": run.duration_s,
                "statuses": run.summary.get("counts", {}),
                "concurrency": run.summary.get("concurrency"),
                "phase_ratios": phases,
                "change_times_s": starts,
                "post_seconds": stats["post_seconds"],
                "rejected_seconds": stats["rejected_seconds"],
                "by_status": stats["by_status"],
            }
            if tool.name == "HEAD":
                window = json.loads(samples_path.read_text(encoding="utf-8"))["samples"]
                runs["HEAD"]["settle_s"] = _settling(window, changes.times)
                runs["HEAD"]["window_samples"] = _thin(window, changes.times[0])
    details["runs"] = runs
    bench.details["10"] = details
    head = runs["HEAD"]
    old = runs[today.name]
    for i in (1, 2):
        settle = head["settle_s"][i]
        shown = "never" if settle is None else f"{settle:.2f} s"
        bench.add(
            Figure(
                f"10.{LIMITS[i - 1]}-{LIMITS[i]}",
                f"limit moved {LIMITS[i - 1]} -> {LIMITS[i]} (100 ms, ceiling 64): "
                "seconds until the window stays within 10 %",
                f"<= {TARGET_S:g} s",
                f"{shown}; phase throughput / ideal {head['phase_ratios'][i]:.2f} "
                f"(today's {old['phase_ratios'][i]:.2f})",
                settle is not None and settle <= TARGET_S,
                f"faults {faults}, then POST /_sandbox/faults "
                f'{{"concurrency_limit": {LIMITS[i]}}} {phase_s * i:g} s after the first POST',
                settle,
            )
        )
    first = head["settle_s"][0]
    bench.add(
        Figure(
            "10.start",
            f"limit {LIMITS[0]} from the start (window 8, ceiling 64): seconds to settle",
            "report",
            f"{'never' if first is None else f'{first:.2f} s'}; phase throughput / ideal "
            f"{head['phase_ratios'][0]:.2f} (today's {old['phase_ratios'][0]:.2f})",
            None,
            "same run",
            first,
        )
    )


class _Schedule(threading.Thread):
    """Wait for the run's first POST, then move the limit a phase apart; keep when each began."""

    def __init__(self, sandbox: Sandbox, phase_s: float) -> None:
        super().__init__(daemon=True)
        self.sandbox = sandbox
        self.phase_s = phase_s
        self.times: list[float] = []
        self.error = ""

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 60
            while not sum(self.sandbox.stats()["post_seconds"]):
                if time.monotonic() > deadline:
                    raise BenchError("no POST came within 60 s")
                time.sleep(0.02)
            self.times.append(time.monotonic())
            for limit in LIMITS[1:]:
                due = self.times[0] + self.phase_s * len(self.times)
                time.sleep(max(0.0, due - time.monotonic()))
                self.sandbox.change_faults({"concurrency_limit": limit})
                self.times.append(time.monotonic())
        except Exception as exc:  # reported by the figure, which cannot go on without it
            self.error = f"{type(exc).__name__}: {exc}"


def _settling(samples: list[list[float]], starts: list[float]) -> list[float | None]:
    """Return, per phase, the seconds from its start until the window stays in the band.

    ``None`` when the window is out of the band at the phase's last sample (never settled).
    """
    settle: list[float | None] = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else float("inf")
        limit = LIMITS[i]
        phase = [(t, w) for t, w, _ in samples if begin <= t < end]
        if not phase:
            settle.append(None)
            continue
        out = [t for t, w in phase if abs(w - limit) > BAND * limit]
        if not out:
            settle.append(0.0)
        elif out[-1] == phase[-1][0]:
            settle.append(None)
        else:
            after = next(t for t, _ in phase if t > out[-1])
            settle.append(after - begin)
    return settle


def _phase_rates(stats: dict[str, Any], starts: list[float], latency_s: float) -> list[float]:
    """Return each phase's accepted POSTs per second over its ideal, from full seconds only.

    The last phase ends a second before the run's last POST: the run's tail has fewer rows
    left than the limit.
    """
    posts: list[int] = stats["post_seconds"]
    refused: list[int] = stats["rejected_seconds"]
    ratios: list[float] = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(posts) - 1
        seconds = range(int(begin) + 1, min(int(end), len(posts)))
        accepted = [posts[s] - (refused[s] if s < len(refused) else 0) for s in seconds]
        ideal = LIMITS[i] / latency_s
        ratios.append(sum(accepted) / len(accepted) / ideal if accepted else 0.0)
    return ratios


def _thin(samples: list[list[float]], origin: float) -> list[list[float]]:
    """Return every fifth sample (every 0.1 s), its time from ``origin``, for the JSON."""
    return [[round(t - origin, 3), round(w, 3), n] for t, w, n in samples[::5]]
