"""Clocks: the only things in kubeprom that know "now".

``RealClock`` reads the system clock and sleeps with asyncio. ``VirtualClock`` starts at a
given time and moves only when told (``advance`` / ``set``); its ``sleep`` parks the caller
until the clock is moved past the wake-up time, so simulations and tests run hours of cluster
time in seconds and never sleep for real.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Time source. ``now()`` is Unix seconds as a float; ``now_ms()`` integer milliseconds."""

    def now(self) -> float: ...

    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, t: float) -> None: ...


class RealClock:
    """The system clock."""

    def now(self) -> float:
        return time.time()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - time.time()))


class VirtualClock:
    """A clock that moves only by hand.

    Sleepers are woken in deadline order as :meth:`advance` or :meth:`set` passes their
    deadline; the clock reads exactly the sleeper's deadline while it runs, so work scheduled
    at ``t`` observes ``now() == t``. Not thread-safe; use from one event loop.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def now_ms(self) -> int:
        return round(self._now * 1000)

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + max(0.0, seconds))

    async def sleep_until(self, t: float) -> None:
        if t <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (t, next(self._seq), fut))
        await fut

    @property
    def next_deadline(self) -> float | None:
        """The earliest pending wake-up time, or None when nobody sleeps."""
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        return self._waiters[0][0] if self._waiters else None

    async def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``, running every sleeper whose deadline passes in order."""
        await self.set(self._now + seconds)

    async def set(self, t: float) -> None:
        """Move to time ``t`` (never backwards), waking sleepers in deadline order."""
        if t < self._now:
            raise ValueError(f"virtual clock cannot go back from {self._now} to {t}")
        # Tasks started just before this call get to reach their first sleep.
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)
        while (deadline := self.next_deadline) is not None and deadline <= t:
            _, _, fut = heapq.heappop(self._waiters)
            self._now = deadline
            fut.set_result(None)
            # Let the woken task (and what it schedules at this instant) run before moving on.
            for _ in range(_SETTLE_ROUNDS):
                await asyncio.sleep(0)
        self._now = t


# Event-loop turns given to woken sleepers so that chains of awaits complete at one instant;
# bounded so a busy task cannot stall the clock forever.
_SETTLE_ROUNDS = 8
