"""Tests for the state: seeded dice, the existing numbers and reset, the counters."""

from __future__ import annotations

import time

import httpx
import pytest
from sandbox_fixtures import PATH, import_body

from bulk_import.sandbox import Faults, RunningSandbox, SandboxState
from sandbox.helpers import assert_error_body, client_for, post


def test_fault_draws_follow_the_seed() -> None:
    """The same seed gives the same sequence of faults; about the asked fraction fail."""

    def statuses(seed: int) -> list[int]:
        with RunningSandbox(faults=Faults(error_500=0.5), seed=seed) as sb, client_for(sb) as c:
            return [c.get(PATH).status_code for _ in range(40)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 500}
    assert 8 <= first.count(500) <= 32


def test_existing_numbers_are_there_at_start_and_after_reset() -> None:
    """existing numbers are stored at start (409 on import) and again after a reset."""
    faults = Faults(
        agents=("agent_sandbox", "agent_old"),
        existing=(
            {"number": "+14155550100", "agent_id": "agent_old", "label": "Old"},
            {"number": "+14155550101"},
        ),
    )
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        data = c.get(PATH).json()["data"]
        assert [(n["number"], n["label"]) for n in data] == [
            ("+14155550100", "Old"),
            ("+14155550101", "+14155550101"),
        ]
        assert data[0]["agent"]["id"] == "agent_old"
        assert data[1]["agent"] is None
        assert_error_body(post(c, import_body("+14155550100")), 409)
        assert post(c, import_body("+14155550102")).status_code == 201
        r = c.post("/_sandbox/reset")
        assert r.json() == {"reset": True, "stored": 2}
        assert [n["id"] for n in c.get(PATH).json()["data"]] == [d["id"] for d in data]
        assert sb.state.stats()["requests"] == 1


def test_stats_count_requests_statuses_and_posts(
    sandbox: RunningSandbox, client: httpx.Client
) -> None:
    """stats count API requests by status and method, POSTs by number and by second."""
    post(client, import_body("+14155550100"))
    post(client, import_body("+14155550100"))
    post(client, {"label": "no number"})
    client.get(PATH)
    client.patch(f"{PATH}/pn_000000000001", json={"label": "x"})
    stats = client.get("/_sandbox/stats").json()
    assert stats["requests"] == 5
    assert stats["by_status"] == {"201": 1, "409": 1, "400": 1, "200": 2}
    assert stats["by_method"] == {"POST": 3, "GET": 1, "PATCH": 1}
    assert stats["stored"] == 1
    assert sum(stats["post_seconds"]) == 3
    assert "posts_by_number" not in stats
    detail = client.get("/_sandbox/stats", params={"detail": "1"}).json()
    assert detail["posts_by_number"] == {"+14155550100": 2}
    assert sandbox.state.post_counts == {"+14155550100": 2}
    assert sandbox.state.stats(detail=True)["posts_by_number"] == {"+14155550100": 2}
    assert "posts_by_number" not in client.get("/_sandbox/stats?detail=0").json()


def test_in_flight_per_second_keeps_the_level_through_quiet_seconds() -> None:
    """in_flight_seconds holds each second's most in flight, quiet seconds the level that held."""
    state = SandboxState(Faults(concurrency_limit=2))
    t0 = time.monotonic()
    assert state.admit(t0 + 0.1)
    assert state.admit(t0 + 0.2)
    assert not state.admit(t0 + 0.3)  # the third is refused and takes no place
    state.finish("429", t0 + 1.2)
    state.leave(t0 + 3.5)
    assert state.admit(t0 + 3.6)  # a place is free again
    state.leave(t0 + 3.8)
    state.leave(t0 + 4.2)  # second 4 began with 1 in flight
    stats = state.stats()
    assert stats["in_flight_seconds"] == [2, 2, 2, 2, 1]
    assert stats["rejected_seconds"] == [0, 1]
    assert (stats["in_flight"], stats["max_in_flight"]) == (0, 2)
    assert stats["by_status"] == {"429": 1}


def test_reset_keeps_the_requests_in_flight_and_the_faults_at_start() -> None:
    """A reset zeroes the series but not the requests still in flight, and undoes fault changes."""
    state = SandboxState(Faults(concurrency_limit=1))
    assert state.admit(time.monotonic())
    state.change_faults({"concurrency_limit": 5, "latency_ms": 30})
    assert state.faults.concurrency_limit == 5
    assert state.latency_s == 0.03
    state.reset()
    assert state.faults == Faults(concurrency_limit=1)
    assert state.latency_s == 0
    stats = state.stats()
    assert (stats["in_flight"], stats["max_in_flight"], stats["in_flight_seconds"]) == (1, 1, [])
    assert not state.admit(time.monotonic())  # the one still in flight holds the only place
    state.leave(time.monotonic())
    assert state.stats()["in_flight"] == 0


def test_change_faults_moves_the_rate_limit_and_the_dice() -> None:
    """change_faults takes a new rate limit (a fresh bucket), fault fractions, and null."""
    state = SandboxState(Faults(), seed=1)
    now = time.monotonic()
    assert state.take_token(now) == 0.0
    state.change_faults({"rate_limit": 2, "error_503": 1.0})
    assert state.take_token(now) == 0.0  # a fresh bucket holds one token
    assert state.take_token(now) == pytest.approx(0.5)
    assert state.draw_fault() == "error_503"
    state.change_faults({"rate_limit": None, "error_503": 0})
    assert state.take_token(now) == 0.0
    assert state.draw_fault() is None
    with pytest.raises(ValueError, match="rate_limit must be above 0"):
        state.change_faults({"rate_limit": 0})
    assert state.faults == Faults()
