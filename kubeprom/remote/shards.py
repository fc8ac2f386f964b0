"""The pieces of a queue: its saved WAL position, rate averages, and one shard's samples."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kubeprom.model.samples import F64Array, I64Array
from kubeprom.remote.watcher import Position

log = logging.getLogger(__name__)

SHARD_UPDATE_S = 10.0  # Prometheus' shardUpdateDuration: how often rates tick
EWMA_WEIGHT = 0.2


class PositionFile:
    """A queue's saved WAL position: JSON, replaced atomically (tmp, fsync, rename)."""

    def __init__(self, path: Path, meta: Mapping[str, str]) -> None:
        self.path = path
        self._meta = dict(meta)
        self.saved: Position | None = None

    def load(self) -> Position | None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            self.saved = Position(int(doc["segment"]), int(doc["offset"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable remote write position file=%s err=%s", self.path, err)
            return None
        return self.saved

    def save(self, pos: Position) -> None:
        if pos == self.saved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        doc = {"segment": pos.segment, "offset": pos.offset, **self._meta}
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.saved = pos


class EWMA:
    """A per-second rate, updated every SHARD_UPDATE_S (Prometheus' ewmaRate)."""

    def __init__(self) -> None:
        self.new = 0.0
        self.rate = 0.0
        self._init = False

    def tick(self) -> None:
        instant, self.new = self.new / SHARD_UPDATE_S, 0.0
        if self._init:
            self.rate += EWMA_WEIGHT * (instant - self.rate)
        elif instant > 0:
            self._init, self.rate = True, instant


@dataclass(slots=True)
class Chunk:
    seq: int  # the WAL frame the samples came from
    refs: I64Array
    t: I64Array
    v: F64Array


class Shard:
    """Samples waiting to be sent by one shard, in WAL order."""

    def __init__(self) -> None:
        self.chunks: deque[Chunk] = deque()
        self.count = 0
        self.wake = asyncio.Event()
        self.inflight = False  # a batch was taken and is being sent
        self.task: asyncio.Task[None] | None = None

    def take(self, n: int) -> tuple[list[tuple[int, int]], I64Array, I64Array, F64Array]:
        """Up to ``n`` samples from the front: (seq, count) per chunk touched, and arrays."""
        parts: list[Chunk] = []
        acks: list[tuple[int, int]] = []
        want = n
        while want and self.chunks:
            c = self.chunks[0]
            k = min(want, c.refs.size)
            if k == c.refs.size:
                self.chunks.popleft()
                parts.append(c)
            else:
                parts.append(Chunk(c.seq, c.refs[:k], c.t[:k], c.v[:k]))
                self.chunks[0] = Chunk(c.seq, c.refs[k:], c.t[k:], c.v[k:])
            acks.append((c.seq, k))
            want -= k
        self.count -= n - want
        if len(parts) == 1:
            p = parts[0]
            return acks, p.refs, p.t, p.v
        return (
            acks,
            np.concatenate([p.refs for p in parts]),
            np.concatenate([p.t for p in parts]),
            np.concatenate([p.v for p in parts]),
        )
