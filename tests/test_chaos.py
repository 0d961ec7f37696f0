"""Chaos: every fault at once and 429 storms, then retry-patch; nothing lost, nothing doubled.

``make test`` runs 2,000 rows; ``make soak`` runs 20,000 (RELIABILITY.md records both).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    OK,
    cli_env,
    finish,
    numbers,
    print_figures,
    read_report,
    rows_of,
    start_cli,
    write_input,
)
from sandbox_fixtures import us_number

from bulk_import.sandbox import Faults, RunningSandbox

# -- chaos: every fault at once, and 429 storms from a rate limit ---------------------------------
CHAOS_SEED = 777
WEBHOOK_EVERY = 97  # every 97th row's number fails its webhook (stored, no agent)
NOT_IN_ACCOUNT_EVERY = 101  # every 101st row's number is not in the Twilio account (400)


def chaos_numbers(numbers: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the numbers whose webhook fails and the numbers not in the account (disjoint)."""
    missing = tuple(n for i, n in enumerate(numbers) if i % NOT_IN_ACCOUNT_EVERY == 7)
    excluded = set(missing)
    webhook = tuple(
        n for i, n in enumerate(numbers) if i % WEBHOOK_EVERY == 50 and n not in excluded
    )
    return webhook, missing


def chaos_faults(rows: int, *, rate_limit: float) -> Faults:
    """Return every fault at once: latency, a rate limit, 429/5xx/drops, stored-then-500, 400s."""
    webhook, missing = chaos_numbers([us_number(i) for i in range(rows)])
    return Faults(
        latency_ms=2,
        rate_limit=rate_limit,
        retry_after="ms",
        retry_after_s=0,
        error_429=0.0005,
        error_500=0.02,
        error_502=0.01,
        error_503=0.01,
        drop=0.01,
        stored_then_500=0.02,
        webhook_fail_numbers=webhook,
        webhook_fail_fraction=0.005,
        not_in_account=missing,
    )


def chaos_run(tmp_path: Path, *, rows: int, rate_limit: float, seed: int) -> dict[str, object]:
    """Import ``rows`` through every fault at once, then retry-patch; check nothing is lost."""
    given = numbers(rows)
    write_input(tmp_path / "in.csv", given)
    webhook, missing = (set(numbers) for numbers in chaos_numbers(given))
    args = (
        *("run", "in.csv", "--provider-id", "prov_sandbox", "--agent-id", "agent_sandbox"),
        *("--no-progress", "--concurrency", "32", "--max-attempts", "15", "--timeout", "10"),
        *("--summary-json", "run.json"),
    )
    report = tmp_path / "in.report.csv"
    started = time.monotonic()
    with RunningSandbox(faults=chaos_faults(rows, rate_limit=rate_limit), seed=seed) as sandbox:
        env = cli_env(sandbox.base_url, measured=False)
        code, _, err = finish(start_cli(*args, env=env, cwd=tmp_path), timeout=1500)
        assert "Traceback" not in err
        assert code == 1, err  # webhook failures and numbers not in the account need attention
        lines = read_report(report)
        run_stats = sandbox.state.stats(detail=True)
        run_seconds = time.monotonic() - started
        assert rows_of(lines) == list(range(2, rows + 2))
        assert [line["number"] for line in lines] == given
        by_number = {line["number"]: line for line in lines}
        for number in missing:
            line = by_number[number]
            assert line["status"] == "failed"
            assert line["http_status"] == "400"
            assert "not found in the provider account" in line["error"]
        for number in webhook:
            assert by_number[number]["status"] == "webhook_failed"
        other = Counter(line["status"] for n, line in by_number.items() if n not in missing)
        assert set(other) <= OK | {"webhook_failed"}, other
        # Every number but the ones not in the account is stored, once.
        stored = sandbox.state.numbers
        assert sorted(stored) == sorted(set(given) - missing)
        assert run_stats["stored"] == rows - len(missing)
        run_counts = Counter(line["status"] for line in lines)
        summary = json.loads((tmp_path / "run.json").read_text())
        assert summary["counts"] == dict(run_counts)
        assert summary["total"] == rows

        # retry-patch assigns the agent of every webhook failure, through the same chaos.
        patch_args = ("retry-patch", "in.report.csv", "--no-progress", "--max-attempts", "15")
        code, _, err = finish(start_cli(*patch_args, env=env, cwd=tmp_path), timeout=600)
        assert "Traceback" not in err
        assert code == 0, err  # retry-patch answers for the rows it patches, all patched
        lines = read_report(report)
        assert rows_of(lines) == list(range(2, rows + 2))
        after = Counter(line["status"] for line in lines)
        assert after["webhook_failed"] == 0, after
        assert after["patch_failed"] == 0, after
        assert after["patched"] == run_counts["webhook_failed"]
        stored = sandbox.state.numbers
        assert all(
            stored[n]["agent"] == {"id": "agent_sandbox", "name": "agent_sandbox"} for n in stored
        )
        stats = sandbox.state.stats(detail=True)
    return {
        "rows": rows,
        "rate_limit": rate_limit,
        "run_seconds": round(run_seconds, 1),
        "run_counts": dict(run_counts),
        "after_retry_patch": dict(after),
        "run_by_status": run_stats["by_status"],
        "by_status": stats["by_status"],
        "requests": stats["requests"],
        "max_posts_per_number": max(stats["posts_by_number"].values()),
        "lost": 0,
        "doubled": 0,
    }


def test_chaos_2000_rows_every_fault_at_once(tmp_path: Path) -> None:
    """2,000 rows through every fault and a rate limit: every row once, nothing lost or doubled."""
    print_figures("chaos-2000", **chaos_run(tmp_path, rows=2_000, rate_limit=400, seed=CHAOS_SEED))


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_soak_20000_rows_every_fault_and_429_storms(tmp_path: Path) -> None:
    """20,000 rows through every fault and 429 storms: completes, every row once, nothing lost."""
    print_figures("soak-20000", **chaos_run(tmp_path, rows=20_000, rate_limit=150, seed=CHAOS_SEED))
