"""One remote-write queue: WAL -> shards -> batches -> the endpoint, as Prometheus' QueueManager.

Flow (``storage/remote/queue_manager.go``):

- a reader task follows the WAL (:class:`~kubeprom.remote.watcher.WALWatcher`). Series
  records get the external labels (the series' own win) and ``write_relabel_configs``,
  once per series; samples records are filtered (series dropped by relabeling, unknown
  refs: counted in ``samples_dropped_total``) and split by ``ref % shards`` with numpy;
- each shard holds at most ``capacity`` samples (plus the record being added): when one is
  full the reader waits, and the samples wait in the WAL, which is the real buffer;
- a shard sends when it has ``max_samples_per_send`` samples or ``batch_send_deadline``
  passed; one batch at a time, so each series' samples arrive in order;
- a recoverable failure (network, 5xx, 429 with ``retry_on_http_429``) is retried with
  exponential backoff from ``min_backoff`` to ``max_backoff`` (or Retry-After), forever;
  any other failure drops the batch into ``samples_failed_total``;
- every 10 s the number of shards follows the backlog (Prometheus' calculation: EWMA of
  samples in and out and of send time, plus 5 % of the backlog per second), within
  ``min_shards..max_shards``; resharding drains the old shards first.

Position (kubeprom's addition; a restarted Prometheus only sends samples newer than its
start): the queue saves the WAL position below which every sample was sent or given up
(``<data>/remote_write/<queue>.json``, at most every second and on stop) and resumes there,
so a crash loses nothing that is still in the WAL. A sample of a record that was partly
sent may be sent again after a crash; receivers accept a repeated identical sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from kubeprom.clock import Clock, elapsed_s
from kubeprom.config.relabeling import process
from kubeprom.config.remote import RemoteWriteConfig
from kubeprom.errors import RecoverableWriteError, RemoteWriteError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.remote.metrics import QueueStats
from kubeprom.remote.protocol import SeriesEncoder, compress, encode_metadata_request
from kubeprom.remote.shards import EWMA, SHARD_UPDATE_S, Chunk, PositionFile, Shard
from kubeprom.remote.watcher import Position, WALWatcher, WatcherStats
from kubeprom.tsdb.walcodec import MultiSamplesRecord, SamplesRecord, SeriesRecord

log = logging.getLogger(__name__)

SHARD_TOLERANCE = 0.3  # allow 30% too many shards before scaling down
READ_PERIOD_S = 0.05  # how often an idle reader looks for new WAL records
SAVE_PERIOD_S = 1.0
DEFAULT_FLUSH_DEADLINE_S = 60.0  # --storage.remote.flush-deadline

_UNKNOWN, _SEND, _DROP = 0, 1, 2


class WriteClient(Protocol):
    """Sends one compressed WriteRequest. Raises RecoverableWriteError (retry) or
    RemoteWriteError (give up); anything else is a bug."""

    async def store(self, body: bytes) -> None: ...


class QueueManager:
    """Ships what the WAL in ``wal_dir`` records to one endpoint. Used from one event loop.

    ``samples_in`` and ``highest_in_ms`` read the store's appended-samples counter and
    newest timestamp (for the shard calculation); ``metadata`` returns (metric, type,
    help, unit) entries to send every ``metadata_config.send_interval``.
    """

    def __init__(
        self,
        cfg: RemoteWriteConfig,
        *,
        external_labels: Mapping[str, str],
        wal_dir: Path,
        position_file: PositionFile,
        client: WriteClient,
        clock: Clock,
        samples_in: Callable[[], int],
        highest_in_ms: Callable[[], int],
        metadata: Callable[[], list[tuple[str, str, str, str]]] | None = None,
        flush_deadline_s: float = DEFAULT_FLUSH_DEADLINE_S,
    ) -> None:
        self.cfg = cfg
        self.stats = QueueStats()
        self._external = dict(external_labels)
        self._watcher = WALWatcher(wal_dir)
        self._position = position_file
        self._client = client
        self._clock = clock
        self._samples_in = samples_in
        self._highest_in_ms = highest_in_ms
        self._metadata = metadata
        self._flush_deadline_s = flush_deadline_s
        self._encoder = SeriesEncoder()
        self._state = np.zeros(1024, dtype=np.int8)  # per ref: _UNKNOWN, _SEND or _DROP
        self._shards: list[Shard] = []
        self._space = asyncio.Event()  # set when a shard frees space or resharding ends
        self._seq = 0
        self._frames: deque[tuple[int, Position]] = deque()  # (seq, position after it)
        self._outstanding: dict[int, int] = {}  # seq -> samples not yet sent or given up
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._final_read = False
        self._resharding = False
        self._reshard_task: asyncio.Task[None] | None = None
        self._reader_wake = asyncio.Event()  # set to end the reader's idle wait early
        self._last_send_ok_s = 0.0
        self._in, self._out, self._dropped, self._out_duration = EWMA(), EWMA(), EWMA(), EWMA()
        self._last_samples_in = 0
        self._next_save_s = 0.0

    def _now_s(self) -> float:
        return self._clock.now_ms() / 1000

    # ---- views for metrics ------------------------------------------------------------------
    @property
    def remote_name(self) -> str:
        return self.cfg.queue_name

    @property
    def url(self) -> str:
        return self.cfg.url

    @property
    def watcher_stats(self) -> WatcherStats:
        return self._watcher.stats

    @property
    def limits(self) -> tuple[int, int, int, int]:
        q = self.cfg.queue_config
        return q.min_shards, q.max_shards, q.capacity, q.max_samples_per_send

    @property
    def current_segment(self) -> int:
        return self._watcher.position.segment

    @property
    def saved_position(self) -> Position | None:
        """The position a restart would resume from (None before the first save)."""
        return self._position.saved

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Read the series the WAL holds up to the saved position, then start sending."""
        resume = self._position.load()
        for rec in self._watcher.start(resume):
            self._store_series(rec)
        self._position.save(self._watcher.position)
        self._last_samples_in = self._samples_in()
        self._start_shards(self.cfg.queue_config.min_shards)
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"remote-read-{self.remote_name}"),
            asyncio.create_task(
                self._update_shards_loop(), name=f"remote-shards-{self.remote_name}"
            ),
        ]
        if self._metadata is not None and self.cfg.metadata_config.send:
            self._tasks.append(
                asyncio.create_task(self._metadata_loop(), name=f"remote-meta-{self.remote_name}")
            )
        log.info(
            "remote write queue started remote_name=%s url=%s resume=%s series=%d",
            self.remote_name,
            self.url,
            self._watcher.position,
            len(self._encoder),
        )

    async def stop(self) -> None:
        """Read the WAL to its end, send what is queued (both within the flush deadline),
        then save the position; what is left stays in the WAL for the next start."""
        reader, others = self._tasks[0], self._tasks[1:]
        for task in others:
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._reshard_task is not None:
            await self._reshard_task  # it drains the shards, as stopping does anyway
        self._final_read = True
        self._reader_wake.set()
        deadline_s = self._now_s() + self._flush_deadline_s
        done = await self._within(reader, deadline_s)
        if done:
            self._stopping = True
            self._space.set()
            done = await self._within(asyncio.ensure_future(self._drain()), deadline_s)
        if not done:
            log.error(
                "remote write flush deadline passed, %d samples stay in the wal for the next "
                "start remote_name=%s",
                sum(s.count for s in self._shards),
                self.remote_name,
            )
        self._stopping = True
        await self._stop_shards()
        self._save_position()
        self._watcher.close()

    async def _within(self, task: asyncio.Future[None], deadline_s: float) -> bool:
        """Wait for ``task`` until ``deadline_s`` on the queue's clock; cancel it if late."""
        timer = asyncio.ensure_future(
            self._clock.sleep_ms(round(max(deadline_s - self._now_s(), 0) * 1000))
        )
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if task.done():
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    # ---- series and samples from the WAL -------------------------------------------------------
    def _store_series(self, rec: SeriesRecord) -> None:
        labels = rec.labels
        if self._external:
            merged = dict(self._external)
            merged.update(labels.to_dict())  # the series' own labels win
            labels = Labels(merged.items())
        out = process(labels, self.cfg.write_relabel_configs)
        self._grow(rec.ref)
        if out is None or len(out) == 0:
            self._state[rec.ref] = _DROP
            self._encoder.discard(rec.ref)
            return
        self._state[rec.ref] = _SEND
        self._encoder.set(rec.ref, out)

    def _grow(self, ref: int) -> None:
        if ref >= self._state.size:
            size = self._state.size
            while size <= ref:
                size *= 2
            grown = np.zeros(size, dtype=np.int8)
            grown[: self._state.size] = self._state
            self._state = grown

    async def _read_loop(self) -> None:
        while True:
            items = self._watcher.read()
            if not items:
                if self._final_read:
                    return  # stopping: the WAL is read to its end
                self._maybe_save()
                await self._wait(self._reader_wake, READ_PERIOD_S)
                continue
            for pos, records in items:
                seq = self._seq
                self._seq += 1
                for rec in records:
                    if isinstance(rec, SeriesRecord):
                        self._store_series(rec)
                    elif isinstance(rec, SamplesRecord):
                        t = np.full(rec.refs.size, rec.t_ms, dtype=np.int64)
                        await self._enqueue(seq, rec.refs, t, rec.values)
                    elif isinstance(rec, MultiSamplesRecord):
                        await self._enqueue(seq, rec.refs, rec.t, rec.values)
                self._frames.append((seq, pos))
            self._maybe_save()

    async def _enqueue(self, seq: int, refs: I64Array, t: I64Array, v: F64Array) -> None:
        refs = refs.astype(np.int64, copy=False)
        inside = refs < self._state.size
        state = np.where(inside, self._state[np.where(inside, refs, 0)], _UNKNOWN)
        keep = state == _SEND
        n_drop = int(refs.size - np.count_nonzero(keep))
        if n_drop:
            unknown = int(np.count_nonzero(state == _UNKNOWN))
            if unknown:
                log.info(
                    "dropped samples for series that were not explicitly dropped via "
                    "relabelling remote_name=%s count=%d",
                    self.remote_name,
                    unknown,
                )
            self.stats.samples_dropped += n_drop
            self._dropped.new += n_drop
            refs, t, v = refs[keep], t[keep], v[keep]
        if refs.size == 0:
            return
        while self._resharding or any(
            s.count >= self.cfg.queue_config.capacity for s in self._shards
        ):
            # A full shard: wait (the WAL holds the rest), as Prometheus' Append backs off.
            self.stats.enqueue_retries += 1
            self._space.clear()
            await self._space.wait()
        n = len(self._shards)
        self._outstanding[seq] = self._outstanding.get(seq, 0) + int(refs.size)
        self.stats.samples_pending += int(refs.size)
        if n == 1:
            self._push(self._shards[0], Chunk(seq, refs, t, v))
            return
        which = refs % n
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(n + 1)).tolist()
        for i in range(n):  # per shard, not per sample
            a, b = bounds[i], bounds[i + 1]
            if a < b:
                idx = order[a:b]
                self._push(self._shards[i], Chunk(seq, refs[idx], t[idx], v[idx]))

    def _push(self, shard: Shard, chunk: Chunk) -> None:
        shard.chunks.append(chunk)
        shard.count += int(chunk.refs.size)
        shard.wake.set()

    # ---- shards ------------------------------------------------------------------------------
    def _start_shards(self, n: int) -> None:
        self._shards = [Shard() for _ in range(n)]
        for i, shard in enumerate(self._shards):
            shard.task = asyncio.create_task(
                self._run_shard(shard), name=f"remote-shard-{self.remote_name}-{i}"
            )
        self.stats.shards = n

    async def _stop_shards(self) -> None:
        for shard in self._shards:
            if shard.task is not None:
                shard.task.cancel()
        for shard in self._shards:
            if shard.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await shard.task

    async def _drain(self) -> None:
        """Wait until every shard has sent (or given up) what it holds."""
        for shard in self._shards:
            shard.wake.set()
        while any(s.count or s.inflight for s in self._shards):
            self._space.clear()
            await self._space.wait()

    async def _wait(self, event: asyncio.Event, timeout_s: float) -> None:
        """Until ``event`` is set or ``timeout_s`` passed on the queue's clock."""
        if event.is_set():
            return
        sleeper = asyncio.ensure_future(self._clock.sleep_ms(round(timeout_s * 1000)))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def _run_shard(self, shard: Shard) -> None:
        q = self.cfg.queue_config
        deadline_s = q.batch_send_deadline_ms / 1000
        next_deadline = self._now_s() + deadline_s
        while True:
            flushing = self._stopping or self._resharding
            if shard.count == 0:
                if flushing:
                    self._space.set()  # tell _drain this shard is empty
                shard.wake.clear()
                await self._wait(shard.wake, max(next_deadline - self._now_s(), 0.0))
                if shard.count == 0:
                    next_deadline = self._now_s() + deadline_s  # the timer resets when idle
                continue
            if shard.count < q.max_samples_per_send and not flushing:
                left = next_deadline - self._now_s()
                if left > 0:
                    # Wait for a full batch or the deadline, whichever comes first.
                    shard.wake.clear()
                    await self._wait(shard.wake, left)
                    continue
            acks, refs, t, v = shard.take(q.max_samples_per_send)
            shard.inflight = True
            try:
                await self._send_samples(refs, t, v)
            finally:
                shard.inflight = False
            for seq, k in acks:
                left_k = self._outstanding[seq] - k
                if left_k:
                    self._outstanding[seq] = left_k
                else:
                    del self._outstanding[seq]
            self.stats.samples_pending -= int(refs.size)
            next_deadline = self._now_s() + deadline_s
            self._space.set()
            self._maybe_save()

    async def _send_samples(self, refs: I64Array, t: I64Array, v: F64Array) -> None:
        body = compress(self._encoder.write_request(refs, t, v))
        n = int(refs.size)
        begin = self._clock.monotonic_ns()
        ok = await self._send_with_backoff(body, n, metadata=False)
        elapsed = elapsed_s(self._clock, begin)
        self._out.new += n
        self._out_duration.new += elapsed
        if ok:
            self.stats.bytes_total += len(body)
            self.stats.highest_sent_ms = max(self.stats.highest_sent_ms, int(t.max()))
            self._last_send_ok_s = self._now_s()

    async def _send_with_backoff(self, body: bytes, n: int, *, metadata: bool) -> bool:
        """Send until it succeeds (True) or fails for good (False, counted as failed)."""
        q = self.cfg.queue_config
        backoff_s = q.min_backoff_ms / 1000
        s = self.stats
        while True:
            if metadata:
                s.metadata_total += n
            else:
                s.samples_total += n
            begin = self._clock.monotonic_ns()
            try:
                await self._client.store(body)
            except RecoverableWriteError as err:
                s.observe_duration(elapsed_s(self._clock, begin))
                wait_s = backoff_s
                if err.retry_after_ms is not None and err.retry_after_ms > 0:
                    wait_s = err.retry_after_ms / 1000
                log.warning(
                    "failed to send batch, retrying remote_name=%s err=%s retry_in_s=%.3f",
                    self.remote_name,
                    err,
                    wait_s,
                )
                await self._clock.sleep_ms(round((wait_s) * 1000))
                if metadata:
                    s.metadata_retried += n
                else:
                    s.samples_retried += n
                backoff_s = min(wait_s * 2, q.max_backoff_ms / 1000)
                continue
            except RemoteWriteError as err:
                s.observe_duration(elapsed_s(self._clock, begin))
                log.error(
                    "non-recoverable error remote_name=%s count=%d err=%s",
                    self.remote_name,
                    n,
                    err,
                )
                if metadata:
                    s.metadata_failed += n
                else:
                    s.samples_failed += n
                return False
            s.observe_duration(elapsed_s(self._clock, begin))
            if metadata:
                s.metadata_bytes_total += len(body)
            return True

    # ---- resharding --------------------------------------------------------------------------
    async def _update_shards_loop(self) -> None:
        while True:
            await self._clock.sleep_ms(round((SHARD_UPDATE_S) * 1000))
            desired = self.desired_shards()
            if desired == len(self._shards):
                continue
            # Not while sends fail: more shards would only add load (Prometheus' check).
            limit = 2 * self.cfg.queue_config.batch_send_deadline_ms / 1000
            if self._now_s() - self._last_send_ok_s > limit:
                log.warning("skipping resharding, last successful send was beyond threshold")
                continue
            log.info(
                "remote storage resharding remote_name=%s from=%d to=%d",
                self.remote_name,
                len(self._shards),
                desired,
            )
            # Shielded: a stop that cancels this loop waits for the reshard to finish.
            self._reshard_task = asyncio.create_task(self._reshard(desired))
            await asyncio.shield(self._reshard_task)
            self._reshard_task = None

    async def _reshard(self, n: int) -> None:
        self._resharding = True
        try:
            await self._drain()  # old shards flush first: samples stay in order
            await self._stop_shards()
            self._start_shards(n)
        finally:
            self._resharding = False
            self._space.set()

    def desired_shards(self) -> int:
        """Prometheus' calculateDesiredShards, ticking the rates (call every 10 s)."""
        samples_in = self._samples_in()
        self._in.new += samples_in - self._last_samples_in
        self._last_samples_in = samples_in
        for r in (self._in, self._out, self._dropped, self._out_duration):
            r.tick()
        q = self.cfg.queue_config
        n = len(self._shards)
        out_rate = self._out.rate
        if out_rate <= 0:
            return n
        kept = out_rate / (self._dropped.rate + out_rate)
        delay_s = max(self._highest_in_ms() - self.stats.highest_sent_ms, 0) / 1000
        pending = delay_s * self._in.rate * kept
        time_per_sample = self._out_duration.rate / out_rate
        desired = time_per_sample * (self._in.rate * kept + 0.05 * pending)
        self.stats.shards_desired = desired
        lower, upper = n * (1 - SHARD_TOLERANCE), n * (1 + SHARD_TOLERANCE)
        desired = math.ceil(desired)
        if lower <= desired <= upper:
            return n
        if desired < n and delay_s > 10.0:
            return n  # do not downshard while more than 10 s behind
        return max(q.min_shards, min(q.max_shards, desired))

    # ---- metadata ----------------------------------------------------------------------------
    async def _metadata_loop(self) -> None:
        m = self.cfg.metadata_config
        while True:
            await self._clock.sleep_ms(round((m.send_interval_ms / 1000) * 1000))
            source = self._metadata
            if source is None:
                return
            entries = source()
            for i in range(0, len(entries), m.max_samples_per_send):
                part = entries[i : i + m.max_samples_per_send]
                body = compress(encode_metadata_request(part))
                await self._send_with_backoff(body, len(part), metadata=True)

    # ---- position ----------------------------------------------------------------------------
    def _frontier(self) -> Position | None:
        """The newest position below which every sample is sent or given up."""
        oldest = min(self._outstanding, default=self._seq)
        pos = None
        while self._frames and self._frames[0][0] < oldest:
            pos = self._frames.popleft()[1]
        return pos

    def _maybe_save(self) -> None:
        now = self._now_s()
        if now >= self._next_save_s:
            self._next_save_s = now + SAVE_PERIOD_S
            self._save_position()

    def _save_position(self) -> None:
        pos = self._frontier()
        if pos is not None:
            try:
                self._position.save(pos)
            except OSError as err:
                log.error(
                    "cannot save remote write position file=%s err=%s", self._position.path, err
                )
