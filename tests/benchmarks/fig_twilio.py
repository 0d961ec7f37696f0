"""Figure: list a Twilio account of 10,000 numbers through the CLI; seconds and requests.

``python tests/benchmarks/fig_twilio.py [--numbers 10000] [--repeats 5] [--json PATH]``

Starts ``bulk-import sandbox --port 0`` with ``twilio_numbers`` set (its Twilio stand-in pages as
Twilio does, 1,000 a page at most) and times, from outside, ``bulk-import validate twilio:``: the
whole listing, then every number normalised and written to the report. Two baselines run in the
same script, interleaved with the tool's runs so that the machine's noise falls on all three:

- ``bare``: a plain ``httpx.Client`` loop over the same pages (``PageSize=1000``, then each
  ``next_page_uri``), parsing each page's JSON: the floor for reading the listing at all;
- ``csv``: ``bulk-import validate`` of a CSV holding the same numbers and names: the CLI's work
  with no listing (start-up, normalising, the report).

So ``tool - csv`` is what the listing costs inside the CLI, and ``(tool - csv) / bare`` how that
compares with the bare loop. Requests are read two ways, which must agree: the summary JSON's
``requests`` and the sandbox's own ``twilio_requests`` counter; the expected number is
``ceil(N / 1000)`` (10 for 10,000). The figure is printed as a table and as one ``FIGURE`` JSON
line (``--json PATH`` writes it too). Exit 0 when measured with the expected requests, 1 when
the requests differ, 2 when it could not be measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ACCOUNT_SID = "AC" + "0" * 32
API_KEY_SID = "SK" + "0" * 32
API_KEY_SECRET = "sandbox_secret"  # the stand-in's published test secret
CARTESIA_KEY = "sk_car_sandbox"
LIST = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
PAGE_SIZE = 1000
TIMEOUT_S = 300.0


def cli() -> list[str]:
    """Return the command that runs bulk-import: the venv's console script, else ``-m``."""
    script = Path(sys.executable).parent / "bulk-import"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bulk_import"]


class Sandbox:
    """Run ``bulk-import sandbox --port 0`` with a Twilio account of ``numbers`` numbers."""

    def __init__(self, folder: Path, numbers: int) -> None:
        self.faults = folder / "faults.json"
        self.faults.write_text(json.dumps({"twilio_numbers": numbers}))
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Sandbox:
        argv = [*cli(), "sandbox", "--port", "0", "--faults", str(self.faults)]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env()
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        prefix = "sandbox listening on "
        if not line.startswith(prefix):
            self.__exit__()
            raise SystemExit(f"fig_twilio: the sandbox did not start: {line!r}")
        self.url = line.removeprefix(prefix)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def twilio_requests(self) -> int:
        """Return the stand-in's count of Twilio requests so far."""
        headers = {"Authorization": f"Bearer {CARTESIA_KEY}"}
        stats = httpx.get(f"{self.url}/_sandbox/stats", headers=headers, timeout=10).json()
        return int(stats["twilio_requests"])


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without Cartesia's, Twilio's or coverage's variables."""
    drop = ("CARTESIA_", "TWILIO_", "COVERAGE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def bare(url: str) -> tuple[float, int, list[tuple[str, str]]]:
    """List the account with a plain httpx loop; return seconds, requests and the numbers."""
    numbers: list[tuple[str, str]] = []
    requests = 0
    started = time.perf_counter()
    with httpx.Client(base_url=url, auth=(API_KEY_SID, API_KEY_SECRET), timeout=30) as client:
        uri: str | None = f"{LIST}?PageSize={PAGE_SIZE}"
        while uri is not None:
            response = client.get(uri)
            requests += 1
            response.raise_for_status()
            page: dict[str, Any] = response.json()
            numbers += [
                (n["phone_number"], n["friendly_name"]) for n in page["incoming_phone_numbers"]
            ]
            uri = page["next_page_uri"]
    return time.perf_counter() - started, requests, numbers


def timed(argv: list[str], *, env: dict[str, str], cwd: Path) -> float:
    """Run one CLI command to the end; return its wall-clock seconds (exit 0 required)."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"fig_twilio: {' '.join(argv[-6:])} exited {done.returncode}: {done.stderr[-400:]}"
        )
    return elapsed


def measure(numbers: int, repeats: int) -> dict[str, Any]:
    """Measure the figure: medians of ``repeats`` interleaved runs of the tool and baselines."""
    with tempfile.TemporaryDirectory(prefix="fig-twilio-") as tmp:
        folder = Path(tmp)
        with Sandbox(folder, numbers) as sandbox:
            env = clean_env(
                TWILIO_BASE_URL=sandbox.url,
                TWILIO_API_KEY=API_KEY_SID,
                TWILIO_API_SECRET=API_KEY_SECRET,
            )
            _, bare_requests, listed = bare(sandbox.url)  # warm-up, and the CSV's content
            source = folder / "numbers.csv"
            with source.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["phone_number", "friendly_name"])
                writer.writerows(listed)
            base = [*cli(), "validate", "--no-progress", "--quiet"]
            tool_argv = [*base[:2], f"twilio:{ACCOUNT_SID}", *base[2:]]
            summary = folder / "summary.json"
            tool_argv += ["--report", str(folder / "t.csv"), "--summary-json", str(summary)]
            # The same provider as the listing's rows, so that the same rows come out valid.
            csv_argv = [*base[:2], str(source), *base[2:], "--twilio-account-sid", ACCOUNT_SID]
            csv_argv += ["--report", str(folder / "c.csv")]
            runs: dict[str, list[float]] = {"tool": [], "csv": [], "bare": []}
            summary_requests: list[int] = []
            sandbox_requests: list[int] = []
            for _ in range(repeats):
                runs["bare"].append(bare(sandbox.url)[0])
                runs["csv"].append(timed(csv_argv, env=env, cwd=folder))
                before = sandbox.twilio_requests()
                runs["tool"].append(timed(tool_argv, env=env, cwd=folder))
                sandbox_requests.append(sandbox.twilio_requests() - before)
                summary_requests.append(int(json.loads(summary.read_text())["requests"]))
    tool, plain, floor = (statistics.median(runs[key]) for key in ("tool", "csv", "bare"))
    listing = tool - plain
    return {
        "figure": "twilio_listing",
        "numbers": numbers,
        "repeats": repeats,
        "tool_s": round(tool, 3),
        "csv_s": round(plain, 3),
        "bare_s": round(floor, 3),
        "listing_in_cli_s": round(listing, 3),
        "listing_vs_bare": round(listing / floor, 2) if floor > 0 else None,
        "tool_vs_csv": round(tool / plain, 2) if plain > 0 else None,
        "requests_expected": math.ceil(numbers / PAGE_SIZE),
        "requests_summary": sorted(set(summary_requests)),
        "requests_sandbox": sorted(set(sandbox_requests)),
        "requests_bare": bare_requests,
        "runs_s": {key: [round(v, 3) for v in values] for key, values in runs.items()},
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figure; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figure here")
    args = parser.parse_args(argv)
    try:
        figure = measure(args.numbers, args.repeats)
    except (OSError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
        print(f"fig_twilio: could not measure: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    expected = figure["requests_expected"]
    print(f"listing {figure['numbers']:,} Twilio numbers (medians of {figure['repeats']} runs)")
    print(f"  validate twilio:          {figure['tool_s']:7.3f} s")
    print(f"  validate the same CSV     {figure['csv_s']:7.3f} s   (baseline: no listing)")
    print(f"  bare httpx page loop      {figure['bare_s']:7.3f} s   (baseline: the pages alone)")
    print(
        f"  the listing in the CLI    {figure['listing_in_cli_s']:7.3f} s   "
        f"= {figure['listing_vs_bare']}x the bare loop"
    )
    print(
        f"  requests: summary {figure['requests_summary']}, sandbox "
        f"{figure['requests_sandbox']}, expected {expected}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figure, indent=2, sort_keys=True) + "\n")
    ok = figure["requests_summary"] == figure["requests_sandbox"] == [expected]
    command = "validate twilio: vs validate the same CSV vs a bare httpx loop over the pages"
    rows = [
        {
            "key": "13a",
            "name": f"Twilio listing of {figure['numbers']:,} numbers: requests",
            "target": f"{expected}",
            "shown": f"{figure['requests_summary']} (sandbox {figure['requests_sandbox']})",
            "passed": ok,
            "command": "bulk-import validate twilio:",
            "value": float(figure["requests_summary"][0]),
            "note": "",
        },
        {
            "key": "13b",
            "name": "Twilio listing in the CLI / a bare httpx loop over the same pages",
            "target": "report",
            "shown": f"{figure['listing_vs_bare']} ({figure['listing_in_cli_s']:.2f} s vs "
            f"{figure['bare_s']:.2f} s)",
            "passed": None,
            "command": command,
            "value": float(figure["listing_vs_bare"]),
            "note": "",
        },
    ]
    # The last line, in harness.figures_line's form, is what run.py (make bench) reads.
    print(json.dumps({"figures": rows, "details": figure}, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
