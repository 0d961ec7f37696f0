"""Limiter: the adaptive window in simulation (issue 10's targets), its rules, and real asyncio.

The simulations run in virtual time (tests/limiter_sim.py): seconds of imports take milliseconds
and run the same every time. Each prints its figures (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import math

import limiter_sim as sim
import pytest

from bulk_import.api import limiter as lm
from bulk_import.api.limiter import Limiter, Permit

# -- issue 10's targets, in simulation ---------------------------------------------------------


@pytest.mark.parametrize("ceiling", [64, 16])
def test_concurrency_limit_is_found_at_every_ceiling_above_it(ceiling: int) -> None:
    """Limit 10, 100 ms: >= 0.92 of ideal and <= 5 % 429s at ceilings 64 and 16, no row lost."""
    result = sim.concurrency_limit(ceiling)
    share = result.rows_per_s / (sim.LIMIT / sim.LATENCY_S)
    print(f"ceiling {ceiling}: {share:.3f} of ideal, {result.share_429:.2%} 429s")
    assert share >= 0.92
    assert result.share_429 <= 0.05
    assert result.done == result.rows


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_concurrency_limit_target_holds_for_other_draws(seed: int) -> None:
    """The limit-10 target does not hang on one lucky draw of latencies and backoffs."""
    result = sim.concurrency_limit(64, seed=seed)
    assert result.rows_per_s / (sim.LIMIT / sim.LATENCY_S) >= 0.92
    assert result.share_429 <= 0.05


def test_ceiling_below_the_limit_is_used_in_full() -> None:
    """Ceiling 8 under a limit of 10: >= 0.95 of 8 / latency, no 429, never more than 8 sent."""
    result = sim.concurrency_limit(8)
    share = result.rows_per_s / (8 / sim.LATENCY_S)
    print(f"ceiling 8: {share:.3f} of 8/latency")
    assert share >= 0.95
    assert result.refused == 0
    assert result.peak_in_flight == 8


def test_a_moving_limit_is_followed_within_three_seconds() -> None:
    """A limit moving 10 -> 20 -> 5: the window is within 10 % of each in <= 3 s, and stays."""
    settled = sim.settle_times(sim.moving_limit())
    print("settled after (s):", [round(t, 2) for t in settled])
    assert all(t <= 3.0 for t in settled), settled


def test_rate_limit_is_matched_at_short_latency() -> None:
    """A 100/s token bucket at 20 ms (2 in flight): >= 0.95 of the limit, <= 5 % 429s."""
    result = sim.rate_limit()
    share = result.rows_per_s / sim.RATE
    print(f"rate limit: {share:.3f} of the limit, {result.share_429:.2%} 429s")
    assert share >= 0.95
    assert result.share_429 <= 0.05
    assert result.done == result.rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rate_limit_is_matched_at_a_round_trip_of_one_millisecond(seed: int) -> None:
    """100/s at 1 ms is 0.1 in flight: >= 0.9 of the limit, <= 5 % 429s, every row imported."""
    result = sim.rate_limit(seed=seed, latency_s=0.001)
    share = result.rows_per_s / sim.RATE
    print(f"rate limit at 1 ms: {share:.3f} of the limit, {result.share_429:.2%} 429s")
    assert share >= 0.9
    assert result.share_429 <= 0.05
    assert result.failed == 0


@pytest.mark.parametrize("latency_s", [0.005, 0.001])
def test_few_workers_parked_on_one_retry_after_do_not_wake_in_a_herd(latency_s: float) -> None:
    """100/s at 5 or 1 ms with only 16 workers: every 429 parks a worker for the bucket's
    ``Retry-After: 1``. Waited exactly, the 16 woke together each second, spent the burst in a
    few milliseconds and were refused together again (0.23 and 0.40 of the limit with
    ``SERVER_JITTER = 0``); the engine's jitter on the server's wait spreads them."""
    server = sim.Server(latency_s=latency_s, jitter_s=latency_s / 4, rate=sim.RATE, seed=1)
    result = sim.simulate(server, sim.adaptive(16), rows=3_000, workers=16, seed=1)
    share = result.rows_per_s / sim.RATE
    print(f"rate limit at {latency_s * 1000:g} ms, ceiling 16: {share:.3f} of the limit")
    assert share >= 0.6
    assert result.failed == 0


def test_no_limit_costs_nothing() -> None:
    """No limit, 20 ms, ceiling 16: the window reaches 16 at once and the run is at ideal."""
    result = sim.no_limit(16)
    share = result.rows_per_s / (16 / 0.02)
    print(f"no limit: {share:.3f} of ideal")
    assert share >= 0.98
    assert result.refused == 0
    assert max(window for _, window in result.limits) == 16


def test_a_migration_is_as_fast_as_the_best_fixed_concurrency() -> None:
    """800 +- 400 ms, limit 20, ceiling 64: within 10 % of the best fixed of 8/16/20/32/64."""
    adaptive = sim.migration(sim.adaptive(64), 64)
    fixed = {n: sim.migration(sim.fixed(n), n) for n in (8, 16, 20, 32, 64)}
    # A fixed concurrency that loses rows to 429s is not a contender.
    complete = {n: r.duration_s for n, r in fixed.items() if r.failed == 0}
    best = min(complete, key=complete.__getitem__)
    print(
        f"adaptive: {adaptive.duration_s / 60:.2f} min; best fixed ({best}): "
        f"{complete[best] / 60:.2f} min; failed at 32/64: {fixed[32].failed}/{fixed[64].failed}"
    )
    assert adaptive.failed == 0
    assert adaptive.duration_s <= 1.1 * complete[best]
    assert adaptive.share_429 <= 0.05


# -- the rules, in simulation ------------------------------------------------------------------


def test_the_window_drops_on_429s_and_climbs_back() -> None:
    """A limit going 20 -> 4 -> 20: the window falls to about 4, then climbs back near 20."""
    server = sim.Server(latency_s=0.1, concurrency=[(0, 20), (3, 4), (6, 20)])
    result = sim.simulate(server, sim.adaptive(64), rows=100_000, workers=64, stop_at=12)
    low = min(window for when, window in result.limits if 3 <= when < 6)
    end = [window for when, window in result.limits if when >= 11]
    print(f"lowest while 4: {low:.2f}; last second: {min(end):.2f} .. {max(end):.2f}")
    assert low <= 4.5
    assert min(end) >= 17


@pytest.mark.parametrize(
    ("ceiling", "server"),
    [
        (12, sim.Server(latency_s=0.05, jitter_s=0.04)),
        (12, sim.Server(latency_s=0.05, jitter_s=0.04, concurrency=[(0, 30)])),
        (5, sim.Server(latency_s=0.01, rate=1_000)),
        (3, sim.Server(latency_s=0.2, concurrency=[(0, 2), (1, 50)])),
    ],
)
def test_the_ceiling_is_never_exceeded(ceiling: int, server: sim.Server) -> None:
    """The server never sees more than --concurrency requests at once, whatever it does."""
    result = sim.simulate(server, sim.adaptive(ceiling), rows=600, workers=ceiling * 3)
    assert result.peak_in_flight <= ceiling
    assert max(window for _, window in result.limits) <= ceiling


def test_the_rate_cap_spaces_sends_evenly() -> None:
    """--rate 50 with no server limit: sends at least 1/50 s apart, 50 in every second at most."""
    server = sim.Server(latency_s=0.02)
    result = sim.simulate(server, sim.adaptive(16, rate=50), rows=300, workers=16)
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]
    busiest = max(
        sum(1 for t in server.arrivals if start <= t < start + 1 - 1e-9)
        for start in server.arrivals
    )
    print(f"rate cap: {result.rows_per_s:.2f} rows/s, smallest gap {min(gaps):.4f} s")
    assert min(gaps) >= 1 / 50 - 1e-9
    assert busiest <= 50
    assert result.rows_per_s >= 49


def test_growing_latency_lowers_the_window_without_any_429() -> None:
    """A server that queues what it cannot serve: the window drops below the ceiling, no 429."""
    holder: list[Limiter] = []

    def make() -> Limiter:
        holder.append(Limiter(ceiling=64, clock=asyncio.get_running_loop().time))
        return holder[0]

    result = sim.simulate(sim.Server(latency_s=0.1, capacity=10), make, rows=600, workers=64)
    print("window while queueing:", holder[0].snapshot())
    assert result.refused == 0
    assert holder[0].min_limit <= 40


def test_a_server_refusing_everything_ends_every_row_in_bounded_time() -> None:
    """Quota exhausted: the window falls to its floor, at_floor makes 429s count, every row ends."""
    holder: list[Limiter] = []

    def make() -> Limiter:
        holder.append(Limiter(ceiling=16, clock=asyncio.get_running_loop().time))
        return holder[0]

    server = sim.Server(latency_s=0.1, refuse_all=True)
    result = sim.simulate(server, make, rows=40, workers=16, max_attempts=6)
    print(f"refuse all: {result.duration_s:.1f} s, {result.requests} requests")
    assert result.failed == 40
    # Nothing but refusals, no round trip measured: MIN_RATE_PER_S at the assumed round trip.
    assert holder[0].window == pytest.approx(lm.MIN_RATE_PER_S * lm.DEFAULT_RTT_S)
    assert holder[0].at_floor
    # Backoffs are capped at 30 s and only 6 tries at the floor count: far below 10 minutes.
    assert result.duration_s < 600
    assert result.requests < 40 * 40


# -- the rules, one at a time (a fake clock, no loop needed) ----------------------------------


class Clock:
    """Tell a time that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def take(limiter: Limiter) -> Permit:
    """Take a permit at once (there must be room): the synchronous part of acquire."""
    assert limiter._has_room()
    return limiter._take()


def answer(limiter: Limiter, clock: Clock, statuses: list[int]) -> None:
    """Keep the window full and answer its requests one by one, as busy workers would."""
    permits: list[Permit] = []
    for status in statuses:
        while limiter._has_room():
            permits.append(take(limiter))
        clock.now += 0.01
        limiter.release(permits.pop(0), status=status)
    for permit in permits:
        limiter.release(permit, status=None)


def test_slow_start_doubles_the_window_every_round_trip() -> None:
    """Before any refusal each good answer of a full window adds one: 8 answers, 8 -> 16."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    answer(limiter, clock, [201] * 8)
    assert limiter.window == 16.0
    assert limiter.limit == 16


def test_an_idle_window_does_not_grow() -> None:
    """Good answers while fewer requests are in flight than the window allows add nothing."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    for _ in range(20):
        permit = take(limiter)
        clock.now += 0.01
        limiter.release(permit, status=201)
    assert limiter.window == float(lm.INITIAL_LIMIT)


def test_one_cut_per_round_of_429s() -> None:
    """429s to requests sent before the last cut do not cut again: one round, one cut."""
    clock = Clock()
    limiter = Limiter(ceiling=8, clock=clock)
    permits = [take(limiter) for _ in range(8)]
    clock.now += 0.05
    for permit in permits:
        limiter.release(permit, status=429)
    assert limiter.window == pytest.approx(8 * lm.BACKOFF)
    assert limiter.refused == 8
    clock.now += 10  # the refusals of that round are long forgotten: no "far over" cut
    later = take(limiter)
    limiter.release(later, status=429)
    assert limiter.window == pytest.approx(8 * lm.BACKOFF**2)


@pytest.mark.parametrize(("retry_after", "expected"), [(None, 15.0), (1.0, 16 * lm.BACKOFF)])
def test_a_refusal_naming_no_wait_sets_the_window_to_the_level_that_passed(
    retry_after: float | None, expected: float
) -> None:
    """A 429 with no Retry-After to the 16th in flight sets the window to 15 (the 15 before it
    passed); one naming a wait, a rate limit's, takes the BACKOFF step to 14.4."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    answer(limiter, clock, [201] * 8)  # slow start: 8 -> 16
    permits = [take(limiter) for _ in range(16)]
    clock.now += 0.05
    limiter.release(permits[-1], status=429, retry_after=retry_after)
    assert limiter.window == pytest.approx(expected)


def test_the_window_holds_at_the_refused_level_then_probes_above() -> None:
    """After a refusal at rank 11 the window sits on 10 with every slot busy, neither under it
    (the old cut to 9.5 left a slot idle part of each cycle) nor above it, for CUBIC's K; then
    it grows past 10 again to find out whether the limit has moved."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    answer(limiter, clock, [201] * 3)  # slow start: 8 -> 11
    permits = [take(limiter) for _ in range(11)]
    clock.now += 0.01
    limiter.release(permits.pop(), status=429)  # the 11th in flight is refused
    assert limiter.window == 10.0
    for permit in permits:
        limiter.release(permit, status=None)
    answer(limiter, clock, [201] * 40)  # 0.4 s of full slots: still inside the hold
    assert limiter.window == 10.0
    answer(limiter, clock, [201] * 100)  # a second more: past K, the cubic climbs over 10
    assert limiter.window > 10.0


def test_slow_start_overshoot_is_cut_to_the_refused_level_in_one_go() -> None:
    """In slow start a refusal at rank 11 of a window of 16 goes straight to 10; after the
    first cut the same refusal takes only a BACKOFF step (the window has learned a level)."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    answer(limiter, clock, [201] * 8)  # slow start: 8 -> 16
    permits = [take(limiter) for _ in range(11)]
    clock.now += 0.01
    limiter.release(permits[-1], status=429)
    assert limiter.window == 10.0
    for permit in permits[:-1]:
        limiter.release(permit, status=None)
    clock.now += 10  # past the hold and the refusals' memory
    answer(limiter, clock, [201] * 400)
    grown = limiter.window
    assert grown > 10.0 / lm.BACKOFF  # so that a BACKOFF step stays above the refused level
    deep = [take(limiter) for _ in range(11)]
    clock.now += 0.01
    limiter.release(deep[-1], status=429)
    assert limiter.window == pytest.approx(grown * lm.BACKOFF)


def test_answers_that_teach_nothing_leave_the_window() -> None:
    """5xx, 408 and no answer at all neither cut nor grow the window; they free the slot."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    for status in (500, 503, 408, None):
        permit = take(limiter)
        clock.now += 0.05
        limiter.release(permit, status=status)
    assert limiter.window == float(lm.INITIAL_LIMIT)
    assert limiter.in_flight == 0
    assert limiter.refused == 0


def test_other_4xx_answers_are_good_ones() -> None:
    """A 409 or a 400 is the server doing its work: the window grows as on a 201."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    answer(limiter, clock, [409, 400, 404, 422])
    assert limiter.window == 12.0


def test_at_floor_only_when_the_window_is_one_and_the_server_still_refuses() -> None:
    """at_floor: false above 1; true on a 429 at 1; false again after a good answer."""
    clock = Clock()
    limiter = Limiter(ceiling=2, clock=clock)
    while limiter.window > 1.0:
        assert not limiter.at_floor
        limiter.release(take(limiter), status=429)
        clock.now += 1
    assert not limiter.at_floor  # the window reached 1 on this 429: the next one counts
    limiter.release(take(limiter), status=429)
    assert limiter.at_floor
    clock.now += 0.1
    limiter.release(take(limiter), status=201)
    assert not limiter.at_floor


def test_a_stray_429_never_takes_the_window_below_one() -> None:
    """429s now and then among good answers stop at one request in flight, and count there."""
    clock = Clock()
    limiter = Limiter(ceiling=2, clock=clock)
    for _ in range(12):
        limiter.release(take(limiter), status=429)
        clock.now += 1
        limiter.release(take(limiter), status=201)
        clock.now += 0.01
    limiter.release(take(limiter), status=429)
    assert limiter.window == 1.0
    assert limiter.at_floor


def test_refusals_far_outnumbering_answers_take_the_window_below_one() -> None:
    """Nine 429s for each 201 at 1 ms (a 100/s limit): the window goes to about 0.1 in flight."""
    clock = Clock()
    limiter = Limiter(ceiling=1, clock=clock)
    statuses = [201, 429, 429, 429, 429, 429, 429, 429, 429, 429] * 50  # half a second
    while statuses and limiter.window >= 1.0:
        permit = take(limiter)  # one at a time, 1 ms each
        clock.now += 0.001
        limiter.release(permit, status=statuses.pop(0))
    print(f"window after far more refusals than answers: {limiter.window:.3f}")
    assert 0.05 <= limiter.window <= 0.3
    assert not limiter.at_floor  # the floor is 1/s at 1 ms (0.001): not there yet
    assert limiter.limit == 1


def test_time_with_the_window_unused_does_not_count_as_regrowth() -> None:
    """Ten seconds with nothing in flight after a cut: the first answers grow it as if just cut."""
    clock = Clock()
    limiter = Limiter(ceiling=64, clock=clock)
    permits = [take(limiter) for _ in range(8)]
    clock.now += 0.05
    limiter.release(permits[0], status=429)  # cut to 7.2
    for permit in permits[1:]:
        limiter.release(permit, status=None)
    cut = limiter.window
    clock.now += 10  # every worker asleep (a Retry-After, a slow input)
    again = [take(limiter) for _ in range(7)]
    clock.now += 0.05
    limiter.release(again[0], status=201)
    # Without the pause the cubic would be 10 s along, far above its plateau: + 1 at once.
    assert limiter.window - cut < 0.1


def test_snapshot_shows_ceiling_final_min_and_max() -> None:
    """snapshot() has the summary's four keys: the ceiling, and the limit's final, min, max."""
    clock = Clock()
    limiter = Limiter(ceiling=12, clock=clock)
    assert limiter.snapshot() == {"ceiling": 12, "final": 8, "min": 8, "max": 8}
    answer(limiter, clock, [201] * 8)
    assert limiter.snapshot() == {"ceiling": 12, "final": 12, "min": 8, "max": 12}
    for _ in range(5):  # 12 x 0.9^5 = 7.09
        clock.now += 1
        limiter.release(take(limiter), status=429)
    assert limiter.snapshot() == {"ceiling": 12, "final": 7, "min": 7, "max": 12}
    assert (limiter.min_limit, limiter.max_limit, limiter.limit) == (7, 12, 7)
    assert limiter.ceiling == 12
    assert limiter.rate is None


@pytest.mark.parametrize(("ceiling", "rate"), [(0, None), (-3, None), (4, 0.0), (4, -1.0)])
def test_impossible_settings_are_refused(ceiling: int, rate: float | None) -> None:
    """A ceiling under 1 or a rate cap that is not above 0 is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"ceiling|rate"):
        Limiter(ceiling=ceiling, rate=rate)


def test_a_nan_rate_is_refused() -> None:
    """--rate nan cannot slip through as a cap that never waits."""
    with pytest.raises(ValueError, match="rate"):
        Limiter(ceiling=4, rate=math.nan)


# -- real asyncio: acquire, release, stop and cancel -------------------------------------------


async def test_acquire_waits_for_a_release() -> None:
    """At ceiling 1 a second acquire waits until the first permit is released, not longer."""
    limiter = Limiter(ceiling=1)
    first = await limiter.acquire()
    second = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.01)
    assert not second.done()
    limiter.release(first, status=201)
    permit = await asyncio.wait_for(second, 1)
    assert limiter.in_flight == 1
    limiter.release(permit, status=201)
    assert limiter.in_flight == 0


async def test_waiters_are_served_in_order() -> None:
    """Permits go to the waiters in the order they asked."""
    limiter = Limiter(ceiling=1)
    held = await limiter.acquire()
    order: list[int] = []

    async def one(i: int) -> None:
        permit = await limiter.acquire()
        order.append(i)
        limiter.release(permit, status=201)

    tasks = [asyncio.ensure_future(one(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    limiter.release(held, status=201)
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert order == [0, 1, 2, 3, 4]


async def test_a_stopping_run_gets_a_permit_without_a_slot() -> None:
    """When the run is stopping, acquire returns at once, even with no room; release is a no-op."""
    limiter = Limiter(ceiling=1)
    held = await limiter.acquire()
    permit = await asyncio.wait_for(limiter.acquire(stopping=lambda: True), 1)
    assert limiter.in_flight == 1
    limiter.release(permit, status=None)
    assert limiter.in_flight == 1
    limiter.release(held, status=201)
    assert limiter.in_flight == 0


async def test_the_rate_wait_goes_through_the_given_sleep_and_stops_short() -> None:
    """--rate waits with the caller's sleep; once the run is stopping it waits no more."""
    limiter = Limiter(ceiling=4, rate=10)
    waits: list[float] = []
    stopping = False

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    for _ in range(3):
        await limiter.acquire(sleep=sleep, stopping=lambda: stopping)
    assert len(waits) == 2
    assert all(
        w == pytest.approx(0.1, abs=0.02) or w == pytest.approx(0.2, abs=0.02) for w in waits
    )
    stopping = True
    await limiter.acquire(sleep=sleep, stopping=lambda: stopping)
    assert len(waits) == 2


async def test_the_rate_wait_really_spaces_sends() -> None:
    """With --rate 200 and asyncio's own sleep, 20 sends take at least 19/200 s."""
    limiter = Limiter(ceiling=50, rate=200)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(20):
        limiter.release(await limiter.acquire(), status=201)
    assert loop.time() - start >= 19 / 200 * 0.95


async def test_a_cancelled_waiter_leaves_no_slot_behind() -> None:
    """A waiter cancelled while waiting, or just as its slot came, does not keep the slot."""
    limiter = Limiter(ceiling=1)
    held = await limiter.acquire()
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    handed = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release(held, status=201)  # the slot goes to `handed`...
    handed.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert limiter.in_flight == 0
    permit = await asyncio.wait_for(limiter.acquire(), 1)
    assert limiter.in_flight == 1
    limiter.release(permit, status=201)


async def test_the_slot_above_is_handed_over_when_its_turn_comes() -> None:
    """A fractional window's extra slot, busy now, wakes a waiter by timer when it is due."""
    limiter = Limiter(ceiling=2)
    first = await limiter.acquire()
    second = await limiter.acquire()
    limiter.release(first, status=429)  # window 1.8: one slot, and a second 80 % of the time
    assert limiter.window == pytest.approx(1.8)
    third = await asyncio.wait_for(limiter.acquire(), 1)  # the slot above, credit 0: at once
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.005)
    limiter.release(second, status=None)  # one in flight: only the slot above is free, not due
    assert not waiting.done()
    permit = await asyncio.wait_for(waiting, 2)
    assert limiter.in_flight == 2
    limiter.release(permit, status=201)
    limiter.release(third, status=201)
