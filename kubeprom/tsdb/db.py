"""The store: a head with its write-ahead log, plus persisted blocks.

Open a data directory with :meth:`DB.open`; write through :meth:`DB.appender`; read through
:meth:`DB.querier`. Data directory layout::

    <data>/wal/                 write-ahead log of the head (see kubeprom.tsdb.wal)
    <data>/<ULID>/              one immutable block per time range (see kubeprom.tsdb.block)
    <data>/<ULID>.tmp/          a block being written; removed on open

Compaction persists the oldest block range of the head once the head spans one and a half
block ranges (Prometheus' rule), then checkpoints the WAL. Retention deletes whole blocks,
measured against the newest sample in the store, not the wall clock, so backfilled history
stays until newer data pushes it out.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kubeprom.clock import Clock, RealClock
from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, AppendStats, MetricMetadata, MetricType
from kubeprom.tsdb.appender import Batch, DBStats, HeadAppender
from kubeprom.tsdb.block import Block, write_block
from kubeprom.tsdb.frames import FrameCache
from kubeprom.tsdb.head import DEFAULT_BLOCK_RANGE_MS, DEFAULT_CHUNK_SAMPLES, Head
from kubeprom.tsdb.postings import select_ids
from kubeprom.tsdb.querier import StoreQuerier
from kubeprom.tsdb.wal import (
    WAL,
    FsyncPolicy,
    MetadataRecord,
    MultiSamplesRecord,
    Record,
    SamplesRecord,
    SeriesRecord,
    TombstonesRecord,
    read_only_replay,
)

log = logging.getLogger(__name__)

DEFAULT_RETENTION_MS = 15 * 24 * 3600 * 1000  # Prometheus' default: 15d
# Directories of a data directory that are not blocks (remote_write: the queues' positions).
_NOT_BLOCKS = frozenset({"wal", "snapshots", "remote_write"})


@dataclass(frozen=True, slots=True)
class Options:
    """Store settings. ``None`` disables a retention limit."""

    retention_ms: int | None = DEFAULT_RETENTION_MS
    retention_bytes: int | None = None
    block_range_ms: int = DEFAULT_BLOCK_RANGE_MS
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES
    wal_segment_bytes: int = 128 << 20
    wal_fsync_interval_s: float | None = None
    # Decoded frames kept for repeated queries (dashboards, rules); 0 disables the cache.
    frame_cache_bytes: int = 32 << 20


class DB:
    """A data directory opened for reading and writing. Not for use by two processes."""

    def __init__(self, path: Path, options: Options, clock: Clock | None = None) -> None:
        self.path = path
        self.options = options
        self.clock: Clock = clock or RealClock()
        self.stats = DBStats()
        self.frame_cache = (
            FrameCache(options.frame_cache_bytes) if options.frame_cache_bytes else None
        )
        self.head = Head(
            chunk_samples=options.chunk_samples,
            block_range_ms=options.block_range_ms,
            cache=self.frame_cache,
        )
        self.blocks: list[Block] = []
        self.corrupt_blocks: dict[str, str] = {}
        self._blocks_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._pending_series: list[SeriesRecord] = []
        self.wal: WAL | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        options: Options | None = None,
        *,
        clock: Clock | None = None,
    ) -> DB:
        """Open (creating if needed) a data directory, load blocks and replay the WAL.

        ``clock`` times the WAL's fsync interval (the real clock by default).
        """
        db = cls(Path(path), options or Options(), clock)
        db.path.mkdir(parents=True, exist_ok=True)
        for tmp in db.path.glob("*.tmp"):
            log.warning("removing incomplete block dir=%s", tmp)
            shutil.rmtree(tmp, ignore_errors=True)
        db.reload_blocks()
        db.wal = WAL(
            db.path / "wal",
            segment_size=db.options.wal_segment_bytes,
            fsync=FsyncPolicy(interval_s=db.options.wal_fsync_interval_s),
            clock=db.clock,
        )
        db._replay()
        db.apply_retention()
        return db

    # ---- blocks ---------------------------------------------------------------------------
    def reload_blocks(self) -> None:
        """Pick up block directories added or removed on disk (e.g. by ``tsdb import``)."""
        known = {b.path.name: b for b in self.blocks}
        found: list[Block] = []
        for d in sorted(self.path.iterdir()):
            if not d.is_dir() or d.name in _NOT_BLOCKS or d.name.endswith(".tmp"):
                continue
            if d.name in known:
                found.append(known.pop(d.name))
                continue
            if d.name in self.corrupt_blocks:
                continue
            try:
                found.append(Block.open(d, self.frame_cache))
            except CorruptionError as err:
                # Keep serving every other block; the bad one stays on disk for inspection.
                self.corrupt_blocks[d.name] = str(err)
                log.error("skipping unreadable block dir=%s err=%s", d, err)
        found.sort(key=lambda b: (b.meta.min_time, b.meta.max_time))
        with self._blocks_lock:
            self.blocks = found
        for gone in known.values():
            gone.close()
        newest_block_end = max((b.meta.max_time for b in found), default=MIN_TIME)
        self.head.min_valid_t = max(self.head.min_valid_t, newest_block_end)

    def blocks_snapshot(self) -> list[Block]:
        with self._blocks_lock:
            return list(self.blocks)

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str], options: Options | None = None) -> DB:
        """Open a data directory for reading only: blocks plus the head rebuilt from the WAL.

        Nothing on disk is created, repaired or deleted, so this is safe on a directory a
        running server owns (what it reads is a moment's view). Appending raises.
        """
        db = cls(Path(path), options or Options(retention_ms=None))
        if not db.path.is_dir():
            raise StorageError(f"data directory {str(db.path)!r} does not exist")
        db.reload_blocks()
        db._replay(read_only_replay(db.path / "wal"))
        return db

    def _wal(self) -> WAL:
        """The write-ahead log; StorageError when the directory was opened read-only."""
        if self.wal is None:
            raise StorageError(f"data directory {str(self.path)!r} is open read-only")
        return self.wal

    # ---- WAL replay ---------------------------------------------------------------------------
    def _replay(self, records: Iterable[Record] | None = None) -> None:
        if records is None:
            records = self._wal().replay()
        head = self.head
        n_records = 0
        # A series the log recreated under a new ref (it was collected, then came back
        # while an older checkpoint was being replayed) keeps the ref it has: map the new.
        remap: dict[int, int] = {}
        for rec in records:
            n_records += 1
            if isinstance(rec, SeriesRecord):
                ref = head.create_with_ref(rec.ref, rec.labels)
                if ref != rec.ref:
                    remap[rec.ref] = ref
            elif isinstance(rec, SamplesRecord):
                refs = _remapped(rec.refs, remap)
                ok, _ = head.check(rec.t_ms, refs, rec.values)
                head.apply(rec.t_ms, refs[ok], rec.values[ok])
            elif isinstance(rec, MultiSamplesRecord):
                head.apply_many(_remapped(rec.refs, remap), rec.t, rec.values)
            elif isinstance(rec, MetadataRecord):
                for name, type_, help_, unit in rec.entries:
                    head.metadata[name] = MetricMetadata(MetricType(type_), help_, unit)
            elif isinstance(rec, TombstonesRecord):
                head.add_tombstones(_remapped(rec.refs, remap), rec.mint, rec.maxt)
        if n_records:
            log.info(
                "replayed WAL records=%d series=%d samples=%d",
                n_records,
                head.num_series,
                head.num_samples,
            )

    # ---- writing --------------------------------------------------------------------------------
    def appender(self) -> HeadAppender:
        return HeadAppender(self)

    def commit_batches(
        self, batches: list[Batch], metadata: dict[str, MetricMetadata]
    ) -> AppendStats:
        """HeadWriter: check the batches again, apply them and log them to the WAL."""
        wal = self._wal()
        total = AppendStats()
        with self._commit_lock:
            accepted: list[Batch] = []
            for t_ms, refs, values in batches:
                ok, stats = self.head.check(t_ms, refs, values)
                if len(ok) != len(refs):
                    refs, values = refs[ok], values[ok]
                self.head.apply(t_ms, refs, values)
                accepted.append((t_ms, refs, values))
                total.add(stats)
            series, self._pending_series = self._pending_series, []
            if metadata:
                wal.log_metadata([(n, m.type.value, m.help, m.unit) for n, m in metadata.items()])
                self.head.metadata.update(metadata)
            if not accepted and series:
                wal.log_series(series)
            for i, (t_ms, refs, values) in enumerate(accepted):
                wal.log_batch(series if i == 0 else (), t_ms, refs, values)
        self.stats.count(total, appended=True)
        return total

    def register_series(self, ref: int, labels: Labels) -> None:
        """HeadWriter: log a created series with the next commit."""
        with self._commit_lock:
            self._pending_series.append(SeriesRecord(ref, labels))
        self.stats.series_created += 1

    # ---- compaction and retention ------------------------------------------------------------
    def compact(self) -> int:
        """Persist every full block range of the head; returns the number of blocks written."""
        written = 0
        while (rng := self.head.cut_range()) is not None:
            start, end = rng
            ids = self.head.index.all_ids()
            part = self.head.read(ids, start, end - 1)
            if part.ids.size:
                labels = self.head.index.labels_list(part.ids.tolist())
                path = write_block(
                    self.path, labels, part.t, part.v, part.offsets, min_time=start, max_time=end
                )
                log.info(
                    "persisted head block dir=%s series=%d samples=%d",
                    path.name,
                    len(labels),
                    int(part.offsets[-1]),
                )
                written += 1
            self.head.drop_before(end)
            self.reload_blocks()
            self._checkpoint()
        if written:
            self.stats.compactions += written
            self.apply_retention()
        return written

    def _checkpoint(self) -> None:
        """Collect the series with no sample left in the head, then rewrite the WAL as the
        head's current content: live series only, persisted samples dropped."""
        wal = self._wal()
        head = self.head
        with self._commit_lock, head.lock:
            removed = head.gc()
            if removed:
                log.info(
                    "head series garbage-collected series=%d live=%d", removed, head.num_series
                )
            index = head.index
            refs = index.all_ids().tolist()
            records: list[Record] = [
                SeriesRecord(ref, labels)
                for ref, labels in zip(refs, index.labels_list(refs), strict=True)
            ]
            if head.metadata:
                records.append(
                    MetadataRecord(
                        tuple((n, m.type.value, m.help, m.unit) for n, m in head.metadata.items())
                    )
                )
            part = head.read(index.all_ids(), head.min_valid_t, 2**63 - 1)
            if part.ids.size:
                refs = np.repeat(part.ids, np.diff(part.offsets))
                records.append(MultiSamplesRecord(refs, part.t, part.v))
            wal.write_checkpoint(records)

    # ---- deletion ------------------------------------------------------------------------------
    def delete_series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> int:
        """Delete the samples in ``[mint, maxt]`` (inclusive, ms) of the matching series.

        Blocks overlapping the range get tombstones in their ``tombstones`` file; the head
        gets tombstones logged to the WAL. Queries stop returning the samples at once; disk
        space comes back with :meth:`clean_tombstones` (blocks) or compaction (head).
        Returns the number of (block or head) series tombstoned. Raises StorageError.
        """
        if self.wal is None:
            raise StorageError("cannot delete series: the store is not open for writing")
        deleted = 0
        for b in self.blocks_snapshot():
            if b.meta.max_time > mint and b.meta.min_time <= maxt:
                deleted += b.delete_series(select_ids(b, matchers), mint, maxt)
        with self._commit_lock:
            refs, lows, highs = self.head.delete(self.head.select_ids(matchers), mint, maxt)
            self.wal.log_tombstones(refs, lows, highs)
        deleted += int(refs.size)
        log.info("deleted series ranges=%d mint=%d maxt=%d", deleted, mint, maxt)
        return deleted

    def clean_tombstones(self) -> list[str]:
        """Rewrite every block that has tombstones without the deleted samples.

        Each replacement keeps the block's time range; it is in place before the old block is
        removed, so a crash in between leaves both, and the old one's tombstones still hide
        what was deleted. A block left with no samples is removed. Returns the names of
        the blocks removed. Raises StorageError.
        """
        removed: list[str] = []
        for b in self.blocks_snapshot():
            if not b.tombstones:
                continue
            part = b.read(b.all_ids(), MIN_TIME, MAX_TIME)
            try:
                if part.ids.size:
                    path = write_block(
                        self.path,
                        b.labels_list(part.ids.tolist()),
                        part.t,
                        part.v,
                        part.offsets,
                        min_time=b.meta.min_time,
                        max_time=b.meta.max_time,
                    )
                    log.info("rewrote block old=%s new=%s", b.path.name, path.name)
                with self._blocks_lock:
                    self.blocks = [x for x in self.blocks if x is not b]
                b.delete()
            except OSError as err:
                raise StorageError(f"cannot rewrite block {b.path.name}: {err}") from err
            removed.append(b.path.name)
        if removed:
            self.reload_blocks()
        return removed

    def newest_time(self) -> int:
        """The newest sample time in the store (ms), or MIN_TIME when empty."""
        blocks = self.blocks_snapshot()
        newest = max((b.meta.max_time - 1 for b in blocks), default=MIN_TIME)
        return max(newest, self.head.maxt)

    def apply_retention(self) -> list[str]:
        """Delete blocks beyond the time or size limit; returns the deleted block names."""
        opts = self.options
        blocks = self.blocks_snapshot()
        doomed: list[Block] = []
        if opts.retention_ms is not None and blocks:
            horizon = self.newest_time() - opts.retention_ms
            doomed = [b for b in blocks if b.meta.max_time <= horizon]
        if opts.retention_bytes is not None:
            keep = [b for b in blocks if b not in doomed]
            total = sum(b.size_bytes for b in keep) + (self.wal.size_bytes if self.wal else 0)
            for b in keep:  # oldest first
                if total <= opts.retention_bytes:
                    break
                doomed.append(b)
                total -= b.size_bytes
        if not doomed:
            return []
        with self._blocks_lock:
            self.blocks = [b for b in self.blocks if b not in doomed]
        for b in doomed:
            log.info("retention deletes block dir=%s maxt=%d", b.path.name, b.meta.max_time)
            b.delete()
        return [b.path.name for b in doomed]

    def snapshot(self, directory: str | os.PathLike[str], *, with_head: bool = True) -> Path:
        """Write a copy of the store into ``directory`` (created; must not exist).

        Blocks are hard-linked (copied where linking fails, e.g. across file systems); with
        ``with_head`` the head's samples are written as one more block, so the copy is a
        data directory :meth:`open` reads without any WAL. Raises StorageError.
        """
        out = Path(directory)
        try:
            out.mkdir(parents=True)
            for b in self.blocks_snapshot():
                shutil.copytree(b.path, out / b.path.name, copy_function=_link_or_copy)
            if with_head:
                head = self.head
                with head.lock:
                    part = head.read(head.index.all_ids(), head.min_valid_t, MAX_TIME)
                    labels = head.index.labels_list(part.ids.tolist())
                if part.ids.size:
                    write_block(
                        out,
                        labels,
                        part.t,
                        part.v,
                        part.offsets,
                        min_time=int(part.t.min()),
                        max_time=int(part.t.max()) + 1,
                    )
        except OSError as err:
            raise StorageError(f"snapshot into {str(out)!r} failed: {err}") from err
        return out

    def querier(self) -> StoreQuerier:
        """A Querier over the blocks and the head as they are at each query."""
        return StoreQuerier(self.head, self.blocks_snapshot)

    def close(self) -> None:
        """Flush and close the WAL and release blocks; the head is replayed on next open."""
        if self.wal is not None:
            self.wal.close()
            self.wal = None
        for b in self.blocks_snapshot():
            b.close()


def _remapped(refs: I64Array, remap: dict[int, int]) -> I64Array:
    """``refs`` with the replay's remapped refs replaced (unchanged when there are none)."""
    if not remap:
        return refs
    old = np.fromiter(remap, dtype=np.int64, count=len(remap))
    new = np.fromiter(remap.values(), dtype=np.int64, count=len(remap))
    order = np.argsort(old)
    old, new = old[order], new[order]
    pos = np.minimum(np.searchsorted(old, refs), len(old) - 1)
    return np.where(old[pos] == refs, new[pos], refs)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
