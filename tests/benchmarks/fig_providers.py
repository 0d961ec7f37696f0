"""Measure figure 14: an organisation read and linked, both stand-ins at 150 ms a request.

``python tests/benchmarks/run.py --only 14`` (``--quick``: 20 subaccounts of 10 numbers).

A parent of 50 numbers and 200 subaccounts of 50 each (10,050 numbers), every Cartesia and
Twilio request answered after 150 ms, nothing linked at start:

- 14a/14b: ``validate twilio: --subaccounts`` with the parent's auth token: its requests (the
  summary's, against 1 Accounts.json page + one page per account) and the listing's seconds
  (the command's own duration, less ``validate`` of a CSV of the same rows: normalising and the
  report) against an ideal of ``(1 + ceil(accounts / 8)) x 150 ms``: one wave of the default
  8 in flight after the accounts list, each account one page.
- 14c/14d: ``providers link twilio: --subaccounts --create-keys`` at ``--concurrency`` 8 and 32
  (the sandbox reset before each, so every account is made a key and linked): requests (1
  Accounts.json + 1 providers list + per account its providers read again, the keys list, the
  key made and the link) and wall seconds less the start-up (``providers --quiet`` less its one
  request), against the ideal ``(2 + 4 x ceil(accounts / concurrency)) x 150 ms``: each
  account's four calls in turn,
  ``concurrency`` accounts side by side, which ``requests x latency / concurrency`` also gives.

Each is the median of ``repeats`` runs, interleaved with its baseline.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path
from typing import Any

from benchmarks.harness import CLI, Bench, BenchError, Figure, Sandbox, base_env, run_process, say

PARENT = "AC" + "0" * 32
TOKEN = "sandbox_auth_token"  # the stand-in's published test token
LATENCY_MS = 150
FIRST_NUMBER = 3_000_000  # the stand-in's generated numbers: +1415 300-0000 onward
#: Each account's calls, one after another: its providers read again, its keys listed, the key
#: made, the link.
CALLS_PER_ACCOUNT = 4


def _env(url: str) -> dict[str, str]:
    """Return a CLI environment for both stand-ins, with the parent's auth token."""
    env = {k: v for k, v in base_env().items() if not k.startswith("TWILIO_")}
    env.update(
        CARTESIA_API_KEY="sk_car_sandbox",
        CARTESIA_BASE_URL=url,
        TWILIO_BASE_URL=url,
        TWILIO_ACCOUNT_SID=PARENT,
        TWILIO_AUTH_TOKEN=TOKEN,
    )
    return env


def _run(bench: Bench, argv: list[str], env: dict[str, str], expect: int = 0) -> float:
    """Run one command; return its wall seconds (exit ``expect`` required)."""
    proc = run_process(argv, workdir=bench.workdir, env=env)
    if proc.rc != expect:
        raise BenchError(f"{' '.join(argv[1:4])} exited {proc.rc}: {proc.tail()}")
    return proc.wall_s


def _write_rows(path: Path, subaccounts: int, numbers: int) -> int:
    """Write a CSV of the organisation's rows (number, name, account); return how many."""
    sids = [PARENT, *(f"AC{i:032x}" for i in range(1, subaccounts + 1))]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone_number", "friendly_name", "account_sid"])
        for k, sid in enumerate(sids):
            for j in range(numbers):
                digits = f"{FIRST_NUMBER + k * numbers + j:07d}"
                writer.writerow([f"+1415{digits}", f"(415) {digits[:3]}-{digits[3:]}", sid])
    return len(sids) * numbers


def measure(bench: Bench) -> None:
    """14. Read and link an organisation of 200 subaccounts at 150 ms a request."""
    subaccounts = bench.pick(200, 20)
    numbers = bench.pick(50, 10)
    repeats = bench.pick(3, 1)
    accounts = subaccounts + 1
    say(f"[14] organisation: {subaccounts} subaccounts x {numbers} numbers, {LATENCY_MS} ms")
    faults = {
        "providers": [],
        "twilio_accounts": [],
        "twilio_numbers": numbers,
        "twilio_subaccounts": [{"numbers": numbers} for _ in range(subaccounts)],
        "latency_ms": LATENCY_MS,
        "twilio_latency_ms": LATENCY_MS,
    }
    rows_csv = bench.workdir / "org-rows.csv"
    rows = _write_rows(rows_csv, subaccounts, numbers)
    latency = LATENCY_MS / 1000
    details: dict[str, Any] = {"accounts": accounts, "numbers": rows, "latency_ms": LATENCY_MS}
    with Sandbox(bench.workdir, faults=faults) as sandbox:
        env = _env(sandbox.url)
        listing: list[float] = []
        listing_requests: set[int] = set()
        for i in range(repeats):
            summary = bench.workdir / f"org-summary-{i}.json"
            tool = [*CLI, "validate", "twilio:", "--subaccounts", "--quiet", "--no-progress"]
            tool += ["--report", str(bench.workdir / "org.validate.csv")]
            _run(bench, [*tool, "--summary-json", str(summary)], env)
            facts = json.loads(summary.read_text())
            base = bench.workdir / f"csv-summary-{i}.json"
            plain = [*CLI, "validate", str(rows_csv), "--quiet", "--no-progress"]
            plain += ["--report", str(bench.workdir / "csv.validate.csv")]
            _run(bench, [*plain, "--summary-json", str(base)], env)
            own = float(facts["duration_s"]) - float(json.loads(base.read_text())["duration_s"])
            listing.append(own)
            listing_requests.add(int(facts["requests"]))
        ideal_listing = (1 + math.ceil(accounts / 8)) * latency
        details["listing_s"] = listing

        startup = []
        linking: dict[int, list[float]] = {8: [], 32: []}
        link_requests: dict[int, set[int]] = {8: set(), 32: set()}
        for _ in range(repeats):
            startup.append(_run(bench, [*CLI, "providers", "--quiet"], env) - latency)
            for concurrency, runs in linking.items():
                sandbox.reset()
                argv = [*CLI, "providers", "link", "twilio:", "--subaccounts", "--create-keys"]
                argv += ["--quiet", "--concurrency", str(concurrency)]
                runs.append(_run(bench, argv, env))
                stats = sandbox.stats()
                link_requests[concurrency].add(stats["requests"] + stats["twilio_requests"])
                if stats.get("twilio_keys") != accounts:
                    raise BenchError(f"link made {stats.get('twilio_keys')} keys, not {accounts}")
        details["startup_s"] = startup
        details["link_wall_s"] = {str(c): runs for c, runs in linking.items()}

    expected = 1 + accounts  # one page each: 50 numbers, at 1,000 a page
    measured = statistics.median(listing)
    bench.add(
        Figure(
            "14a",
            f"listing {accounts} accounts x {numbers} numbers: requests",
            str(expected),
            f"{sorted(listing_requests)}",
            listing_requests == {expected},
            "bulk-import validate twilio: --subaccounts",
            float(min(listing_requests)),
        )
    )
    bench.add(
        Figure(
            "14b",
            f"listing {rows:,} numbers of {accounts} accounts at {LATENCY_MS} ms: ideal / seconds",
            "report",
            f"{ideal_listing / measured:.2f} ({measured:.2f} s vs ideal {ideal_listing:.2f} s "
            "= (1 + ceil(accounts/8)) x latency)",
            None,
            "validate twilio: --subaccounts, less validate of a CSV of the same rows",
            round(ideal_listing / measured, 3),
        )
    )
    start = statistics.median(startup)
    for key, concurrency in (("14c", 8), ("14d", 32)):
        wall = statistics.median(linking[concurrency]) - start
        ideal = (2 + CALLS_PER_ACCOUNT * math.ceil(accounts / concurrency)) * latency
        requests = link_requests[concurrency]
        bench.add(
            Figure(
                key,
                f"linking {accounts} accounts (keys made), --concurrency {concurrency}: "
                "ideal / seconds",
                "report",
                f"{ideal / wall:.2f} ({wall:.2f} s vs ideal {ideal:.2f} s; "
                f"{sorted(requests)} requests, expected {2 + CALLS_PER_ACCOUNT * accounts})",
                None,
                "bulk-import providers link twilio: --subaccounts --create-keys "
                f"--concurrency {concurrency}",
                round(ideal / wall, 3),
            )
        )
    bench.details["14"] = details
