"""Measure figure 4: bulk-import against a sequential httpx loop and ``xargs -P 16 curl``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    KEY,
    PROVIDER,
    Bench,
    BenchError,
    Figure,
    Proc,
    Sandbox,
    api_headers,
    check_imported,
    run_process,
    say,
)


def measure(bench: Bench) -> None:
    """4. 1,000 rows at 20 ms: bulk-import vs a sequential httpx loop and xargs -P 16 curl."""
    # The sequential loop alone takes 45 s for the 2,000 rows: --long.
    count = bench.pick(1_000, 400, long=2_000)
    source = bench.input(count)
    say(f"[4] against the alternatives: {count:,} rows, 20 ms")
    details: dict[str, Any] = {"rows": count}
    with Sandbox(bench.workdir, latency_ms=20) as sandbox:
        sandbox.reset()
        run = bench.run(sandbox, source, concurrency=16)
        check_imported(run, count)
        details["cli_wall_s"] = run.proc.wall_s
        sandbox.reset()
        seq_proc, _ = bench.bare_post(sandbox, count, 1, "httpx-seq")
        details["httpx_seq_wall_s"] = seq_proc.wall_s
        speedup = seq_proc.wall_s / run.proc.wall_s
        details["speedup_vs_httpx_seq"] = speedup
        bench.add(
            Figure(
                "4a",
                "speed-up of bulk-import run (concurrency 16) over a sequential httpx loop",
                "report",
                f"x{speedup:.1f} ({run.proc.wall_s:.1f} s vs {seq_proc.wall_s:.1f} s)",
                None,
                f"bulk-import run in-{count}.csv --concurrency 16 vs baselines.py httpx-seq",
                speedup,
            )
        )
        curl = shutil.which("curl")
        xargs = shutil.which("xargs")
        if curl is None or xargs is None:
            details["curl"] = "skipped: curl or xargs not found"
            bench.add(
                Figure(
                    "4b",
                    "speed-up over xargs -P 16 curl",
                    "report",
                    "skipped: curl or xargs is not installed",
                    None,
                    "xargs -P 16 -I{} curl ...",
                )
            )
        else:
            sandbox.reset()
            curl_proc = run_curl(bench, sandbox, source, curl, xargs)
            created = curl_proc.stdout.split().count("201")
            if created != count:
                raise BenchError(f"xargs curl created {created} of {count}")
            speedup = curl_proc.wall_s / run.proc.wall_s
            details["curl_wall_s"] = curl_proc.wall_s
            details["curl_cpu_s"] = curl_proc.cpu_s
            details["speedup_vs_curl"] = speedup
            bench.add(
                Figure(
                    "4b",
                    "speed-up of bulk-import run (concurrency 16) over xargs -P 16 curl",
                    "report",
                    f"x{speedup:.1f} ({run.proc.wall_s:.1f} s vs {curl_proc.wall_s:.1f} s)",
                    None,
                    'xargs -P 16 -I{} curl -s -X POST -d \'{"number":"{}",...}\' URL < numbers.txt',
                    speedup,
                )
            )
    bench.details["4"] = details


def run_curl(bench: Bench, sandbox: Sandbox, source: Path, curl: str, xargs: str) -> Proc:
    """POST every number of ``source`` with one curl per line, 16 at a time."""
    lines = source.read_text(encoding="utf-8").split()[1:]
    numbers = bench.workdir / f"{source.stem}.txt"
    numbers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    body = '{"number":"{}","label":"{}","provider":{"id":"%s"}}' % PROVIDER  # noqa: UP031
    argv = [xargs, "-P", "16", "-I", "{}", curl, "-s", "-o", "/dev/null", "-w", "%{http_code}\\n"]
    for name, value in api_headers(KEY).items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-H", "Content-Type: application/json", "-X", "POST", "-d", body]
    argv.append(sandbox.url + "/agents/phone-numbers")
    with numbers.open("rb") as stdin:
        return run_process(argv, workdir=bench.workdir, stdin=stdin)
