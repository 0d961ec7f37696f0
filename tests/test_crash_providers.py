"""Crash safety of the organisation's commands, tested by crashing (SPEC "Crash safety").

``run twilio:AC... --subaccounts`` is SIGKILLed at seeded points and run again, like any
``run`` (``test_crash.py``): every row once, nothing done sent again. ``providers link
--subaccounts --create-keys`` is SIGKILLed at seeded moments: a key made but not linked when
the kill lands may stay behind (at most one per account in flight); the rerun links every
account and deletes no key: one left by a kill cannot be told from another Cartesia account's
link, so it is kept and named in the account's line. A SIGTERM leaves none.
Real CLI processes against a sandbox served from this process, not traced by coverage.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from conftest import (
    OK,
    JournalWatch,
    Line,
    cli_env,
    finish,
    kill_points,
    print_figures,
    read_report,
    read_state,
    rows_of,
    signal_at,
    start_cli,
)

from bulk_import.api.providers import may_be
from bulk_import.output.report import journal_path
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import ACCOUNT_SID, AUTH_TOKEN, generated_number
from bulk_import.sandbox.twilio_store import TwilioOrg

KILLS = 8
KEY = "cartesia-bulk-import"

# -- run --subaccounts: a parent of 100 numbers, 5 subaccounts of 200 (one suspended) ------------
RUN_SEED = 20261215
SUB_NUMBERS = 200
SUSPENDED = 3
ORG_ROWS = 100 + 4 * SUB_NUMBERS
RUN_FAULTS = Faults(
    latency_ms=1,
    error_500=0.02,
    drop=0.01,
    stored_then_500=0.02,
    twilio_numbers=100,
    twilio_subaccounts=tuple(
        {"numbers": SUB_NUMBERS, "status": "suspended" if i == SUSPENDED else "active"}
        for i in range(1, 6)
    ),
)
RUN_ARGS = ("--no-progress", "--concurrency", "16", "--max-attempts", "12", "--timeout", "5")

# -- providers link: 30 subaccounts, 30 ms each way -----------------------------------------------
LINK_SEED = 20261216
LINK_FAULTS = Faults(
    providers=(),
    twilio_accounts=(),
    twilio_numbers=0,
    twilio_subaccounts=tuple({} for _ in range(30)),
    latency_ms=30,
    twilio_latency_ms=30,
)
LINK_CONCURRENCY = 4


def org_env(base_url: str) -> dict[str, str]:
    """Return a CLI environment with the parent's auth token (not traced by coverage)."""
    env = {k: v for k, v in cli_env(base_url, measured=False).items() if not k.startswith("TWILIO")}
    env.update(
        TWILIO_BASE_URL=base_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    return env


def listed_numbers() -> list[str]:
    """Return the organisation's numbers in the listing's order (the suspended one's left out)."""
    numbers = [generated_number(i)[0] for i in range(100)]
    for k in range(1, 6):
        start = 100 + (k - 1) * SUB_NUMBERS
        if k != SUSPENDED:
            numbers += [generated_number(start + i)[0] for i in range(SUB_NUMBERS)]
    return numbers


def test_sigkill_during_run_subaccounts_then_run_again(tmp_path: Path) -> None:
    """After 8 SIGKILLs and re-runs of run --subaccounts: every row once, ok, in the listing's
    order with its own account; no number sent again once the report held it as done."""
    rng = random.Random(RUN_SEED)
    points = kill_points(rng, KILLS, max_rows=200)
    report = tmp_path / f"twilio-{ACCOUNT_SID}.report.csv"
    args = ("run", "twilio:", "--subaccounts", *RUN_ARGS)
    first_ok: dict[int, Line] = {}
    frozen: dict[str, int] = {}
    segments: list[dict[str, object]] = []
    with RunningSandbox(faults=RUN_FAULTS, seed=RUN_SEED) as sandbox:
        env = org_env(sandbox.base_url)
        for i, point in enumerate(points):
            base = len(first_ok)
            watch = JournalWatch(report)
            again = ("--resume",) if i % 2 else ()
            process = start_cli(*args, *again, env=env, cwd=tmp_path)
            killed = signal_at(process, watch, point, base=base, sig=signal.SIGKILL)
            code, _, err = finish(process)
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            lines = read_state(report) if report.exists() or journal_path(report).exists() else []
            assert len(set(rows_of(lines))) == len(lines)
            oks = {int(line["row"]): line for line in lines if line["status"] in OK}
            for row, line in first_ok.items():
                assert oks.get(row) == line, f"row {row} done before kill {i} is gone or changed"
            posts = sandbox.state.post_counts
            for row, line in oks.items():
                if row not in first_ok:
                    first_ok[row] = line
                    frozen[line["number"]] = posts[line["number"]]
            segments.append({"point": str(point), "killed": killed, "ok": len(oks)})
        code, _, err = finish(start_cli(*args, "--summary-json", "s.json", env=env, cwd=tmp_path))
        assert code == 0, err
        posts = sandbox.state.post_counts
        stored = sandbox.state.numbers
    lines = read_report(report)
    assert rows_of(lines) == list(range(2, ORG_ROWS + 2))
    assert [line["number"] for line in lines] == listed_numbers()
    assert {line["status"] for line in lines} <= OK
    for line in lines:
        assert line["provider"] == f"twilio:{stored[line['number']]['provider']['account_sid']}:us1"
    resent = {n: posts[n] - c for n, c in frozen.items() if posts[n] != c}
    assert not resent, f"done rows sent again after a kill: {resent}"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["twilio"]["skipped"] == {"suspended": 1}
    print_figures(
        "crash-run-subaccounts",
        rows=ORG_ROWS,
        kills=sum(1 for s in segments if s["killed"]),
        segments=segments,
        max_posts_per_number=max(posts.values()),
        lost=0,
        doubled=0,
    )


def keys_by_state(org: TwilioOrg, providers: list[dict[str, str]]) -> Counter[str]:
    """Count the cartesia-bulk-import keys: in use by the account's link, or orphaned."""
    masks = {p["account_sid"]: p["api_key_sid"] for p in providers if p["region"] == "us1"}
    counted: Counter[str] = Counter()
    for sid in org.statuses:
        for key, name in org.keys_of(sid):
            if name == KEY:
                counted["linked" if sid in masks and may_be(masks[sid], key) else "orphan"] += 1
    return counted


def orphan_keys(org: TwilioOrg, providers: list[dict[str, str]], sid: str) -> list[str]:
    """Return the account's cartesia-bulk-import keys that its us1 provider cannot hold."""
    masks = [
        p["api_key_sid"] for p in providers if p["account_sid"] == sid and p["region"] == "us1"
    ]
    return [
        key
        for key, name in org.keys_of(sid)
        if name == KEY and not any(may_be(mask, key) for mask in masks)
    ]


def made(sandbox: RunningSandbox) -> int:
    """Return the keys the Twilio stand-in has made so far (its 201 answers)."""
    return int(sandbox.state.stats()["twilio_by_status"].get("201", 0))


def kill_after_keys(
    process: subprocess.Popen[str], sandbox: RunningSandbox, keys: int, delay_s: float
) -> bool:
    """SIGKILL ``delay_s`` after ``keys`` more keys were made; say whether it was still going."""
    target = made(sandbox) + keys
    deadline = time.monotonic() + 60
    while made(sandbox) < target:
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the command never made its keys"
        time.sleep(0.002)
    time.sleep(delay_s)  # 0 to 2 of the stand-in's 30 ms: often between a key and its link
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    return True


def test_sigkill_during_link_create_keys_then_link_again(tmp_path: Path) -> None:
    """Killed 8 times while making and linking keys (some kills between a key and its link): at
    most one key left per account in flight a kill; the rerun links every account and deletes no
    key a kill left (it cannot be told from another Cartesia account's link: kept, named)."""
    rng = random.Random(LINK_SEED)
    points = [(rng.randint(1, 6), round(rng.uniform(0, 0.06), 3)) for _ in range(KILLS)]
    args = (
        *("providers", "link", "twilio:", "--subaccounts", "--create-keys"),
        *("--concurrency", str(LINK_CONCURRENCY)),
    )
    segments: list[dict[str, object]] = []
    left: set[str] = set()
    said = ""
    with RunningSandbox(faults=LINK_FAULTS, seed=LINK_SEED) as sandbox:
        env = org_env(sandbox.base_url)
        org = sandbox.state.twilio
        assert org is not None

        def orphans() -> set[str]:
            providers = sandbox.state.store.providers()
            return {key for sid in org.statuses for key in orphan_keys(org, providers, sid)}

        for keys_made, delay in points:
            process = start_cli(*args, env=env, cwd=tmp_path)
            killed = kill_after_keys(process, sandbox, keys_made, delay)
            code, out, err = finish(process)
            assert code in ((-signal.SIGKILL, 0) if killed else (0,)), err
            said += out
            keys = keys_by_state(org, sandbox.state.store.providers())  # links in flight too
            time.sleep(0.1)  # a link the killed process had sent lands (30 ms each way)
            now = orphans()
            # Only a key made but not linked when the kill landed is added to those left.
            assert len(now - left) <= LINK_CONCURRENCY, (now, left)
            left |= now
            point = f"{delay:.3f} s after {keys_made} keys"
            segments.append({"point": point, "killed": killed, **keys, "left": len(now)})
        started = time.monotonic()
        code, out, err = finish(start_cli(*args, env=env, cwd=tmp_path))
        seconds = time.monotonic() - started
        said += out
        assert code == 0, err
        providers = sandbox.state.store.providers()
        keys = keys_by_state(org, providers)
        existing = {key for sid in org.statuses for key, _ in org.keys_of(sid)}
    assert len(providers) == 31
    assert keys["linked"] == 31
    assert any(s.get("orphan") for s in segments), "no kill landed between a key and its link"
    assert left <= existing, f"keys a kill left were deleted: {sorted(left - existing)}"
    named = {key for key in left if key in said}
    print_figures(
        "crash-link-create-keys",
        accounts=31,
        kills=sum(1 for s in segments if s["killed"]),
        segments=segments,
        orphans_kept=len(left),
        orphans_named=len(named),
        last_run_s=round(seconds, 2),
    )


def test_sigterm_during_link_create_keys_leaves_no_key_behind(tmp_path: Path) -> None:
    """A SIGTERM mid-way: exit 130, the accounts in flight finish, no key made is left unlinked."""
    args = (
        *("providers", "link", "twilio:", "--subaccounts", "--create-keys"),
        *("--concurrency", str(LINK_CONCURRENCY)),
    )
    with RunningSandbox(faults=LINK_FAULTS) as sandbox:
        env = org_env(sandbox.base_url)
        process = start_cli(*args, env=env, cwd=tmp_path)
        org = sandbox.state.twilio
        assert org is not None
        deadline = time.monotonic() + 60
        # Once keys are being made, the command's signal handling is in place.
        while org.counts()["twilio_keys"] < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        code, out, err = finish(process)
        keys = keys_by_state(org, sandbox.state.store.providers())
    assert code == 130, err
    assert keys["orphan"] == 0, keys
    states = Counter(line.split("  ")[1] for line in out.splitlines())
    assert states["linked now"] == keys["linked"]
    assert states["not attempted"] == 31 - keys["linked"]
    assert "stopped early: interrupted by SIGTERM; exit 130" in err
