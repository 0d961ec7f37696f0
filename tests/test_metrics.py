"""RunMetrics: per-second counts, in-flight levels, the latency sketch, and fixed memory."""

from __future__ import annotations

import asyncio
import math
import random

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_fixtures import PATH, api_headers, import_body, us_number

from bulk_import.metrics import NO_ANSWER, RELATIVE_ERROR, SERIES_COLUMNS, RunMetrics
from bulk_import.sandbox import Faults, RunningSandbox


class Clock:
    """Stand in for time.monotonic: a time the test sets."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def by_second(metrics: RunMetrics) -> dict[int, dict[str, int]]:
    """Return the per-second series as {second: {column: value}}."""
    series = metrics.per_second()
    return {
        second: {name: series[name][i] for name in SERIES_COLUMNS}
        for i, second in enumerate(series["second"])
    }


def test_counts_fall_into_the_second_they_happen_in() -> None:
    """Requests, 429s, retries and rows are counted in their own second since the start."""
    clock = Clock()
    metrics = RunMetrics(clock=clock)
    first = metrics.sent()
    second = metrics.sent()
    clock.now += 0.5
    metrics.answered(first, status=201, retry=False)
    metrics.row_finished(ok=True)
    clock.now += 1.0  # second 1
    metrics.answered(second, status=429, retry=False)
    retry = metrics.sent()
    clock.now += 0.2
    metrics.answered(retry, status=400, retry=True)
    metrics.row_finished(ok=False)
    seconds = by_second(metrics)
    assert seconds[0] == {
        "second": 0,
        "rows_ok": 1,
        "rows_attention": 0,
        "requests": 2,
        "http_429": 0,
        "retries": 0,
        "in_flight": 2,
        "in_flight_end": 1,
        "limit": 0,
    }
    assert seconds[1]["requests"] == 1
    assert seconds[1]["http_429"] == 1
    assert seconds[1]["retries"] == 1
    assert seconds[1]["rows_attention"] == 1
    assert seconds[1]["in_flight"] == 1  # the one left from second 0, then the retry
    assert seconds[1]["in_flight_end"] == 0
    assert metrics.http_counts() == {"201": 1, "400": 1, "429": 1}
    assert metrics.requests == 3


def test_quiet_seconds_take_no_entry_and_the_limit_carries_over() -> None:
    """A second with no event has no entry; the limit set earlier is still in force later."""
    clock = Clock()
    metrics = RunMetrics(clock=clock)
    metrics.limit(16)
    token = metrics.sent()
    clock.now += 30.5  # a long request: thirty quiet seconds
    metrics.answered(token, status=201, retry=False)
    metrics.limit(8)
    seconds = by_second(metrics)
    assert sorted(seconds) == [0, 30]
    assert seconds[0]["limit"] == 16
    assert seconds[0]["in_flight_end"] == 1  # so seconds 1-29 had one request in flight
    assert seconds[30]["limit"] == 8
    assert metrics.concurrency(ceiling=16) == {"ceiling": 16, "final": 8, "min": 8, "max": 16}


def test_every_recording_call_opens_the_second_it_falls_in() -> None:
    """sent, row_finished and limit each start a new second's entry when the clock moved on."""
    clock = Clock()
    metrics = RunMetrics(clock=clock)
    clock.now += 2.1
    metrics.sent()
    clock.now += 1.0
    metrics.row_finished(ok=True)
    clock.now += 1.0
    metrics.limit(3)
    seconds = by_second(metrics)
    assert sorted(seconds) == [0, 2, 3, 4]
    assert (seconds[2]["requests"], seconds[3]["rows_ok"], seconds[4]["limit"]) == (1, 1, 3)
    assert seconds[3]["in_flight"] == seconds[4]["in_flight"] == 1  # still in flight


def test_concurrency_without_a_reported_limit_is_the_ceiling() -> None:
    """With no limit ever reported, final, min and max are the ceiling."""
    metrics = RunMetrics(clock=Clock())
    assert metrics.concurrency(ceiling=8) == {"ceiling": 8, "final": 8, "min": 8, "max": 8}


def test_a_failure_with_no_answer_counts_but_has_no_latency() -> None:
    """An attempt with no HTTP answer is counted as no_answer and kept out of the latency."""
    clock = Clock()
    metrics = RunMetrics(clock=clock)
    token = metrics.sent()
    clock.now += 30.0  # a timeout
    metrics.answered(token, status=None, retry=False)
    assert metrics.http_counts() == {NO_ANSWER: 1}
    assert metrics.latency_ms() == {}
    token = metrics.sent()
    clock.now += 0.020
    metrics.answered(token, status=201, retry=True)
    assert metrics.http_counts() == {"201": 1, NO_ANSWER: 1}
    latency = metrics.latency_ms()
    assert latency["max"] == 20.0
    assert all(abs(latency[q] - 20.0) <= 20.0 * RELATIVE_ERROR for q in ("p50", "p90", "p99"))


def exact_quantile(values: list[float], q: float) -> float:
    """Return the nearest-rank quantile of ``values``."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(min_value=2e-6, max_value=5e3, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=300,
    )
)
def test_latency_quantiles_are_within_the_relative_error(latencies: list[float]) -> None:
    """p50/p90/p99 are within RELATIVE_ERROR of the exact quantile, and max is exact."""
    clock = Clock(0.0)
    metrics = RunMetrics(clock=clock)
    for latency in latencies:
        token = metrics.sent()
        clock.now += latency
        metrics.answered(token, status=201, retry=False)
    found = metrics.latency_ms()
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        exact = exact_quantile(latencies, q) * 1000
        # the 0.001 ms slack is the rounding of the result to a microsecond
        assert abs(found[name] - exact) <= exact * RELATIVE_ERROR * 1.0001 + 0.001, name
    assert found["max"] == round(max(latencies) * 1000, 3)


def test_latencies_out_of_range_land_in_the_end_buckets() -> None:
    """A zero latency and one of hours are counted; quantiles stay between min and max."""
    clock = Clock()
    metrics = RunMetrics(clock=clock)
    token = metrics.sent()
    metrics.answered(token, status=201, retry=False)  # no time passed at all
    token = metrics.sent()
    clock.now += 50_000.0
    metrics.answered(token, status=201, retry=False)
    latency = metrics.latency_ms()
    assert latency["p50"] == 0.0
    assert latency["p99"] == latency["max"] == 50_000_000.0


def test_memory_grows_with_seconds_not_with_requests() -> None:
    """100,000 requests in 5 seconds leave 5 per-second entries and a sketch of fixed size."""
    clock = Clock(0.0)
    metrics = RunMetrics(clock=clock)
    rng = random.Random(1)
    for i in range(100_000):
        clock.now = i / 20_000
        token = metrics.sent()
        clock.now += rng.uniform(0.001, 0.5)
        metrics.answered(token, status=201, retry=False)
        metrics.row_finished(ok=True)
    series = metrics.per_second()
    assert all(len(column) <= 6 for column in series.values())
    assert sum(series["rows_ok"]) == 100_000
    assert sum(series["requests"]) == 100_000
    latency = metrics.latency_ms()
    assert 0.001 * 1000 <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]


async def test_fed_by_real_requests_to_the_sandbox() -> None:
    """Fed around real requests to the sandbox, the counts match what the sandbox answered."""
    metrics = RunMetrics()
    seen: list[int | None] = []
    faults = Faults(error_429=0.2, latency_ms=5, retry_after="none")
    with RunningSandbox(faults=faults, seed=3) as sandbox:
        async with httpx.AsyncClient(base_url=sandbox.base_url, headers=api_headers()) as client:
            metrics.limit(4)
            gate = asyncio.Semaphore(4)

            async def post(i: int) -> None:
                async with gate:
                    token = metrics.sent()
                    try:
                        answer = await client.post(PATH, json=import_body(us_number(i)))
                    except httpx.TransportError:
                        metrics.answered(token, status=None, retry=False)
                        seen.append(None)
                        return
                    metrics.answered(token, status=answer.status_code, retry=False)
                    metrics.row_finished(ok=answer.status_code == 201)
                    seen.append(answer.status_code)

            await asyncio.gather(*(post(i) for i in range(60)))
    counts = metrics.http_counts()
    assert counts == {
        str(code) if code is not None else NO_ANSWER: seen.count(code) for code in set(seen)
    }
    assert counts.get("429", 0) > 0
    series = metrics.per_second()
    assert sum(series["requests"]) == 60
    assert sum(series["http_429"]) == seen.count(429)
    assert max(series["in_flight"]) <= 4
    assert metrics.latency_ms()["p50"] >= 5.0  # the sandbox's added latency
