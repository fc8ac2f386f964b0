"""Remote write as one part of the server: a queue per ``remote_write`` entry, reloadable.

The store's WAL is read by every queue; :meth:`RemoteWrite.wal_floor` tells the WAL which
segments a queue still needs (its saved position), so a checkpoint does not delete them.
The hold is bounded: segments last written more than ``max_wal_age_s`` ago (4 h, Prometheus
agent's ``storage.agent.retention.max-time`` default) are let go even if unsent, so a
receiver that never comes back cannot fill the disk.

On reload a queue whose settings did not change keeps running; a changed one is stopped
(flushing) and started again from its saved position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kubeprom.clock import Clock
from kubeprom.config.remote import RemoteWriteConfig
from kubeprom.remote.client import HTTPWriteClient
from kubeprom.remote.metrics import QueueView
from kubeprom.remote.queue import DEFAULT_FLUSH_DEADLINE_S, QueueManager, WriteClient
from kubeprom.remote.shards import PositionFile
from kubeprom.remote.watcher import list_wal

log = logging.getLogger(__name__)

MAX_WAL_AGE_S = 4 * 3600.0
POSITIONS_DIR = "remote_write"

ClientFactory = Callable[[RemoteWriteConfig], WriteClient]


def _http_client(cfg: RemoteWriteConfig) -> WriteClient:
    return HTTPWriteClient(cfg)


class RemoteWrite:
    """Every remote-write queue of a running server. Used from one event loop.

    ``data_dir`` holds ``wal/`` and the queues' positions (``remote_write/<hash>.json``).
    ``client_factory`` builds each queue's sender (HTTP by default; tests pass fakes).
    """

    def __init__(
        self,
        data_dir: Path,
        clock: Clock,
        *,
        samples_in: Callable[[], int],
        highest_in_ms: Callable[[], int],
        metadata: Callable[[], list[tuple[str, str, str, str]]] | None = None,
        client_factory: ClientFactory = _http_client,
        flush_deadline_s: float = DEFAULT_FLUSH_DEADLINE_S,
        max_wal_age_s: float = MAX_WAL_AGE_S,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.wal_dir = self.data_dir / "wal"
        self._clock = clock
        self._samples_in = samples_in
        self._highest_in_ms = highest_in_ms
        self._metadata = metadata
        self._client_factory = client_factory
        self._flush_deadline_s = flush_deadline_s
        self._max_wal_age_s = max_wal_age_s
        # Keyed by the repr of (config, external labels): equal settings, equal key.
        self._queues: dict[str, QueueManager] = {}
        self._clients: dict[int, WriteClient] = {}

    @property
    def queues(self) -> Sequence[QueueView]:
        return list(self._queues.values())

    def queue_managers(self) -> list[QueueManager]:
        return list(self._queues.values())

    async def apply(
        self, configs: Sequence[RemoteWriteConfig], external_labels: Mapping[str, str]
    ) -> None:
        """Run exactly the queues of ``configs`` (start new ones, stop removed or changed)."""
        ext = tuple(sorted(external_labels.items()))
        wanted = {repr((cfg, ext)): cfg for cfg in configs}
        for key in [k for k in self._queues if k not in wanted]:
            await self._stop(key)
        for key, cfg in wanted.items():
            if key in self._queues:
                continue
            client = self._client_factory(cfg)
            queue = QueueManager(
                cfg,
                external_labels=dict(ext),
                wal_dir=self.wal_dir,
                position_file=PositionFile(
                    self.data_dir / POSITIONS_DIR / f"{cfg.config_hash()}.json",
                    {"remote_name": cfg.queue_name, "url": cfg.url},
                ),
                client=client,
                clock=self._clock,
                samples_in=self._samples_in,
                highest_in_ms=self._highest_in_ms,
                metadata=self._metadata,
                flush_deadline_s=self._flush_deadline_s,
            )
            await queue.start()
            self._queues[key] = queue
            self._clients[id(queue)] = client

    async def stop(self) -> None:
        """Flush and stop every queue (each saves its position)."""
        for key in list(self._queues):
            await self._stop(key)

    async def _stop(self, key: str) -> None:
        queue = self._queues.pop(key)
        await queue.stop()
        client = self._clients.pop(id(queue))
        close = getattr(client, "close", None)
        if close is not None:
            await close()

    def wal_floor(self) -> int | None:
        """The lowest WAL segment a queue still has to read (None: nothing to keep)."""
        positions = [q.saved_position for q in self._queues.values()]
        needed = [p.segment for p in positions if p is not None]
        if not needed:
            return None
        floor = min(needed)
        segments, _ = list_wal(self.wal_dir)
        horizon = self._clock.now_ms() / 1000 - self._max_wal_age_s
        for s in segments:
            if s < floor:
                continue
            try:
                mtime = (self.wal_dir / f"{s:08d}").stat().st_mtime
            except FileNotFoundError:
                continue
            if mtime >= horizon:
                return max(floor, s)
            log.warning(
                "remote write is more than %.0fs behind: letting wal segment %d go unsent",
                self._max_wal_age_s,
                s,
            )
        return floor
