"""Clocks: VirtualClock wakes sleepers in deadline order at their deadline; RealClock reads time."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubeprom.clock import RealClock, VirtualClock, elapsed_s


async def _let_tasks_park() -> None:
    """Give freshly created tasks a few loop turns to reach their first ``await``."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_sleepers_wake_in_deadline_order_at_their_deadline() -> None:
    clock = VirtualClock(start_ms=100_000)
    woke: list[tuple[str, int]] = []

    async def sleeper(name: str, duration_ms: int) -> None:
        await clock.sleep_ms(duration_ms)
        woke.append((name, clock.now_ms()))

    tasks = [
        asyncio.create_task(sleeper(name, ms))
        for name, ms in [
            ("five", 5_000),
            ("one", 1_000),
            ("three", 3_000),
            ("one-again", 1_000),
            ("late", 20_000),
        ]
    ]
    await _let_tasks_park()
    assert woke == []
    assert clock.next_deadline_ms == 101_000

    await clock.advance_ms(10_000)

    # Equal deadlines wake in the order they went to sleep.
    assert woke == [
        ("one", 101_000),
        ("one-again", 101_000),
        ("three", 103_000),
        ("five", 105_000),
    ]
    assert clock.now_ms() == 110_000
    assert clock.next_deadline_ms == 120_000
    assert not tasks[4].done()

    await clock.set_ms(120_000)
    assert woke[-1] == ("late", 120_000)
    assert clock.next_deadline_ms is None
    await asyncio.gather(*tasks)


async def test_sleep_until_observes_the_exact_deadline() -> None:
    clock = VirtualClock(start_ms=0)
    seen: list[int] = []

    async def at(t_ms: int) -> None:
        await clock.sleep_until_ms(t_ms)
        seen.append(clock.now_ms())

    task = asyncio.create_task(at(2_500))
    await _let_tasks_park()
    await clock.advance_ms(60_000)
    await task
    assert seen == [2_500]
    assert clock.now_ms() == 60_000


async def test_chained_sleeps_complete_within_one_advance() -> None:
    """A task woken at t that sleeps again runs at each of its deadlines in the same advance."""
    clock = VirtualClock()
    ticks: list[int] = []

    async def ticker() -> None:
        for _ in range(4):
            await clock.sleep_ms(15_000)
            ticks.append(clock.now_ms())

    task = asyncio.create_task(ticker())
    await _let_tasks_park()
    await clock.advance_ms(50_000)
    assert ticks == [15_000, 30_000, 45_000]
    assert clock.now_ms() == 50_000
    await clock.advance_ms(10_000)
    assert ticks == [15_000, 30_000, 45_000, 60_000]
    await task


async def test_advance_short_of_a_deadline_wakes_nobody() -> None:
    clock = VirtualClock(start_ms=0)
    woke: list[int] = []

    async def sleeper() -> None:
        await clock.sleep_ms(10_000)
        woke.append(clock.now_ms())

    task = asyncio.create_task(sleeper())
    await _let_tasks_park()
    await clock.advance_ms(9_999)
    await _let_tasks_park()
    assert woke == []
    await clock.advance_ms(1)
    await task
    assert woke == [10_000]


@pytest.mark.parametrize("duration_ms", [0, -5_000], ids=["zero", "negative"])
async def test_sleep_without_positive_duration_returns_at_once(duration_ms: int) -> None:
    clock = VirtualClock(start_ms=7_000)
    await asyncio.wait_for(clock.sleep_ms(duration_ms), timeout=5)
    await asyncio.wait_for(clock.sleep_until_ms(3_000), timeout=5)
    assert clock.now_ms() == 7_000
    assert clock.next_deadline_ms is None


async def test_cancelled_sleeper_is_skipped() -> None:
    clock = VirtualClock()
    woke: list[str] = []

    async def sleeper(name: str, duration_ms: int) -> None:
        await clock.sleep_ms(duration_ms)
        woke.append(name)

    gone = asyncio.create_task(sleeper("gone", 1_000))
    kept = asyncio.create_task(sleeper("kept", 2_000))
    await _let_tasks_park()
    gone.cancel()
    await _let_tasks_park()
    assert clock.next_deadline_ms == 2_000
    await clock.advance_ms(5_000)
    await kept
    assert woke == ["kept"]
    assert gone.cancelled()


async def test_set_backwards_raises() -> None:
    clock = VirtualClock(start_ms=50_000)
    with pytest.raises(ValueError, match=r"cannot go back from 50000 to 49000"):
        await clock.set_ms(49_000)
    with pytest.raises(ValueError, match="cannot go back"):
        await clock.advance_ms(-1)
    assert clock.now_ms() == 50_000
    await clock.set_ms(50_000)  # standing still is allowed
    assert clock.now_ms() == 50_000


async def test_virtual_durations_are_virtual_time() -> None:
    """Elapsed durations measured on a VirtualClock move only with the clock."""
    clock = VirtualClock(start_ms=1_000)
    started = clock.monotonic_ns()
    assert elapsed_s(clock, started) == 0.0
    await clock.advance_ms(1_500)
    assert elapsed_s(clock, started) == 1.5


def test_real_clock_reads_the_system_clock() -> None:
    clock = RealClock()
    before_ms = time.time_ns() // 1_000_000
    got_ms = clock.now_ms()
    after_ms = time.time_ns() // 1_000_000
    assert isinstance(got_ms, int)
    assert before_ms <= got_ms <= after_ms
    first = clock.monotonic_ns()
    assert clock.monotonic_ns() >= first
    assert elapsed_s(clock, first) >= 0.0


async def test_real_clock_sleep_in_the_past_returns_at_once() -> None:
    clock = RealClock()
    await asyncio.wait_for(clock.sleep_ms(-10_000), timeout=5)
    await asyncio.wait_for(clock.sleep_until_ms(clock.now_ms() - 3_600_000), timeout=5)
