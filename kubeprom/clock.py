"""Clocks: the only things in kubeprom that know "now", in integer milliseconds.

Everything that reads the time of day, waits, or measures how long something took takes a
:class:`Clock`. ``RealClock`` reads the system clock and sleeps with asyncio. ``VirtualClock``
starts at a given time and moves only when told (``advance_ms`` / ``set_ms``); its sleeps
park the caller until the clock is moved past the wake-up time, so simulations and tests run
hours of cluster time in seconds, never sleep for real, and can pin "now" exactly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Time source. Times are integer milliseconds since the Unix epoch.

    ``monotonic_ns`` is for measuring elapsed durations only (its origin is arbitrary, and
    it never goes back); never use it as a timestamp.
    """

    def now_ms(self) -> int: ...

    def monotonic_ns(self) -> int: ...

    async def sleep_ms(self, duration_ms: int) -> None:
        """Wait ``duration_ms`` (returns at once when it is not positive)."""
        ...

    async def sleep_until_ms(self, t_ms: int) -> None:
        """Wait until ``now_ms() >= t_ms`` (returns at once when that time has passed)."""
        ...


def elapsed_s(clock: Clock, started_ns: int) -> float:
    """Seconds since ``started_ns`` (a ``clock.monotonic_ns()`` reading), for metrics."""
    return (clock.monotonic_ns() - started_ns) / 1e9


class RealClock:
    """The system clock. Stateless, so any number of them agree."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ns(self) -> int:
        return time.perf_counter_ns()

    async def sleep_ms(self, duration_ms: int) -> None:
        await asyncio.sleep(max(0, duration_ms) / 1000)

    async def sleep_until_ms(self, t_ms: int) -> None:
        await asyncio.sleep(max(0, t_ms - self.now_ms()) / 1000)


class VirtualClock:
    """A clock that moves only by hand.

    Sleepers are woken in deadline order as :meth:`advance_ms` or :meth:`set_ms` passes their
    deadline; the clock reads exactly the sleeper's deadline while it runs, so work scheduled
    at ``t`` observes ``now_ms() == t``. Its monotonic reading is virtual too: a duration
    measured within one instant is zero. Not thread-safe; use from one event loop.
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = int(start_ms)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_ns(self) -> int:
        return self._now_ms * 1_000_000

    async def sleep_ms(self, duration_ms: int) -> None:
        await self.sleep_until_ms(self._now_ms + max(0, int(duration_ms)))

    async def sleep_until_ms(self, t_ms: int) -> None:
        if t_ms <= self._now_ms:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(t_ms), next(self._seq), fut))
        await fut

    @property
    def next_deadline_ms(self) -> int | None:
        """The earliest pending wake-up time, or None when nobody sleeps."""
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        return self._waiters[0][0] if self._waiters else None

    async def advance_ms(self, duration_ms: int) -> None:
        """Move forward by ``duration_ms``, running every sleeper whose deadline passes."""
        await self.set_ms(self._now_ms + int(duration_ms))

    async def set_ms(self, t_ms: int) -> None:
        """Move to time ``t_ms`` (never backwards), waking sleepers in deadline order."""
        if t_ms < self._now_ms:
            raise ValueError(f"virtual clock cannot go back from {self._now_ms} to {t_ms}")
        # Tasks started just before this call get to reach their first sleep.
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)
        while (deadline := self.next_deadline_ms) is not None and deadline <= t_ms:
            _, _, fut = heapq.heappop(self._waiters)
            self._now_ms = deadline
            fut.set_result(None)
            # Let the woken task (and what it schedules at this instant) run before moving on.
            for _ in range(_SETTLE_ROUNDS):
                await asyncio.sleep(0)
        self._now_ms = int(t_ms)


# Event-loop turns given to woken sleepers so that chains of awaits complete at one instant;
# bounded so a busy task cannot stall the clock forever.
_SETTLE_ROUNDS = 8
