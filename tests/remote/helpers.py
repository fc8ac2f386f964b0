"""A scripted remote-write endpoint and a store to ship from, for queue tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kubeprom.clock import VirtualClock
from kubeprom.config.remote import QueueConfig, RemoteWriteConfig
from kubeprom.errors import RecoverableWriteError, RemoteWriteError
from kubeprom.model.labels import Labels
from kubeprom.remote.protocol import decompress, message_class
from kubeprom.remote.queue import QueueManager
from kubeprom.remote.shards import PositionFile
from kubeprom.tsdb import DB

Sample = tuple[Labels, int, int]  # labels, t, value bits


def bits(x: float) -> int:
    return int(np.array([x], dtype=np.float64).view(np.uint64)[0])


@dataclass
class FakeEndpoint:
    """Records what it receives; ``script`` decides each attempt (None: accept)."""

    clock: VirtualClock
    script: list[Exception | None] = field(default_factory=list)
    received: list[Sample] = field(default_factory=list)
    metadata: list[tuple[str, int, str, str]] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)  # virtual time of each attempt
    on_attempt: Callable[[], None] | None = None
    latency_s: float = 0.0  # virtual time each request takes

    async def store(self, body: bytes) -> None:
        self.attempts.append(self.clock.now_ms() / 1000)
        if self.latency_s:
            await self.clock.sleep_ms(round(self.latency_s * 1000))
        if self.on_attempt is not None:
            self.on_attempt()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        req = message_class("WriteRequest").FromString(decompress(body, 1 << 30))
        for m in req.metadata:
            self.metadata.append((m.metric_family_name, m.type, m.help, m.unit))
        for ts in req.timeseries:
            labels = Labels((lb.name, lb.value) for lb in ts.labels)
            for s in ts.samples:
                self.received.append((labels, s.timestamp, bits(s.value)))


def recoverable(n: int = 1, retry_after_ms: int | None = None) -> list[Exception | None]:
    return [
        RecoverableWriteError("server returned HTTP status 503", retry_after_ms=retry_after_ms)
        for _ in range(n)
    ]


def fatal() -> RemoteWriteError:
    return RemoteWriteError("server returned HTTP status 400 Bad Request: nope")


def write_scrapes(
    db: DB, series: int, scrapes: int, *, start_ms: int = 1_800_000_000_000, step_ms: int = 15_000
) -> list[Sample]:
    """Commit ``scrapes`` batches of ``series`` series, as a scrape loop does."""
    out: list[Sample] = []
    labels = [Labels({"__name__": f"m{i % 7}", "i": str(i)}.items()) for i in range(series)]
    for k in range(scrapes):
        app = db.appender()
        refs = np.array([app.ref(lb) for lb in labels], dtype=np.int64)
        t = start_ms + k * step_ms
        values = np.arange(series, dtype=np.float64) * 1.5 + k
        app.append(t, refs, values)
        app.commit()
        out += [(lb, t, bits(float(v))) for lb, v in zip(labels, values.tolist(), strict=True)]
    return out


def make_queue(
    tmp: Path,
    clock: VirtualClock,
    endpoint: FakeEndpoint,
    db: DB,
    queue: QueueConfig | None = None,
    metadata: Callable[[], list[tuple[str, str, str, str]]] | None = None,
    **cfg: object,
) -> QueueManager:
    config = RemoteWriteConfig(
        url="http://receiver.test/api/v1/write",
        queue_config=queue or QueueConfig(max_samples_per_send=100, batch_send_deadline_ms=1000),
        **cfg,  # type: ignore[arg-type]
    )
    return QueueManager(
        config,
        external_labels={},
        wal_dir=tmp / "wal",
        position_file=PositionFile(tmp / "remote_write" / "q.json", {}),
        client=endpoint,
        clock=clock,
        samples_in=lambda: db.stats.appended,
        highest_in_ms=lambda: db.head.maxt,
        metadata=metadata,
    )


async def run_until(
    clock: VirtualClock, done: Callable[[], bool], *, step_s: float = 0.05, limit_s: float = 600
) -> None:
    """Advance virtual time in small steps until ``done()`` (bounded, never sleeps)."""
    waited = 0.0
    while not done():
        if waited > limit_s:
            raise AssertionError(f"not done after {limit_s}s of virtual time")
        await clock.advance_ms(round(step_s * 1000))
        waited += step_s


async def advance(clock: VirtualClock, seconds: float, *, step_s: float = 0.05) -> None:
    """Advance virtual time in small steps, so the queue's tasks run in between."""
    for _ in range(round(seconds / step_s)):
        await clock.advance_ms(round(step_s * 1000))
