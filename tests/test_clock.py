"""Clocks: VirtualClock wakes sleepers in deadline order at their deadline; RealClock reads time."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubeprom.clock import RealClock, VirtualClock


async def _let_tasks_park() -> None:
    """Give freshly created tasks a few loop turns to reach their first ``await``."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_sleepers_wake_in_deadline_order_at_their_deadline() -> None:
    clock = VirtualClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper(name, s))
        for name, s in [("five", 5), ("one", 1), ("three", 3), ("one-again", 1), ("late", 20)]
    ]
    await _let_tasks_park()
    assert woke == []
    assert clock.next_deadline == 101.0

    await clock.advance(10)

    # Equal deadlines wake in the order they went to sleep.
    assert woke == [("one", 101.0), ("one-again", 101.0), ("three", 103.0), ("five", 105.0)]
    assert clock.now() == 110.0
    assert clock.next_deadline == 120.0
    assert not tasks[4].done()

    await clock.set(120.0)
    assert woke[-1] == ("late", 120.0)
    assert clock.next_deadline is None
    await asyncio.gather(*tasks)


async def test_sleep_until_observes_exact_deadline_and_now_ms() -> None:
    clock = VirtualClock(start=0.0)
    seen: list[tuple[float, int]] = []

    async def at(t: float) -> None:
        await clock.sleep_until(t)
        seen.append((clock.now(), clock.now_ms()))

    task = asyncio.create_task(at(2.5))
    await _let_tasks_park()
    await clock.advance(60)
    await task
    assert seen == [(2.5, 2500)]
    assert clock.now_ms() == 60_000


async def test_chained_sleeps_complete_within_one_advance() -> None:
    """A task woken at t that sleeps again runs at each of its deadlines in the same advance."""
    clock = VirtualClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(4):
            await clock.sleep(15)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await _let_tasks_park()
    await clock.advance(50)
    assert ticks == [15.0, 30.0, 45.0]
    assert clock.now() == 50.0
    await clock.advance(10)
    assert ticks == [15.0, 30.0, 45.0, 60.0]
    await task


async def test_advance_short_of_a_deadline_wakes_nobody() -> None:
    clock = VirtualClock(start=0.0)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(10)
        woke.append(clock.now())

    task = asyncio.create_task(sleeper())
    await _let_tasks_park()
    await clock.advance(9.5)
    await _let_tasks_park()
    assert woke == []
    await clock.advance(0.5)
    await task
    assert woke == [10.0]


@pytest.mark.parametrize("seconds", [0.0, -5.0], ids=["zero", "negative"])
async def test_sleep_without_positive_duration_returns_at_once(seconds: float) -> None:
    clock = VirtualClock(start=7.0)
    await asyncio.wait_for(clock.sleep(seconds), timeout=5)
    await asyncio.wait_for(clock.sleep_until(3.0), timeout=5)
    assert clock.now() == 7.0
    assert clock.next_deadline is None


async def test_cancelled_sleeper_is_skipped() -> None:
    clock = VirtualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    gone = asyncio.create_task(sleeper("gone", 1))
    kept = asyncio.create_task(sleeper("kept", 2))
    await _let_tasks_park()
    gone.cancel()
    await _let_tasks_park()
    assert clock.next_deadline == 2.0
    await clock.advance(5)
    await kept
    assert woke == ["kept"]
    assert gone.cancelled()


async def test_set_backwards_raises() -> None:
    clock = VirtualClock(start=50.0)
    with pytest.raises(ValueError, match=r"cannot go back from 50\.0 to 49\.0"):
        await clock.set(49.0)
    with pytest.raises(ValueError, match="cannot go back"):
        await clock.advance(-1)
    assert clock.now() == 50.0
    await clock.set(50.0)  # standing still is allowed
    assert clock.now() == 50.0


def test_real_clock_reads_the_system_clock() -> None:
    clock = RealClock()
    before_ms = time.time() * 1000
    got_ms = clock.now_ms()
    got_s = clock.now()
    after_ms = time.time() * 1000
    assert isinstance(got_ms, int)
    assert before_ms - 1 <= got_ms <= after_ms + 1
    assert before_ms <= got_s * 1000 <= after_ms + 1


async def test_real_clock_sleep_in_the_past_returns_at_once() -> None:
    clock = RealClock()
    await asyncio.wait_for(clock.sleep(-10), timeout=5)
    await asyncio.wait_for(clock.sleep_until(clock.now() - 3600), timeout=5)
