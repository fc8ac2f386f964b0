"""The store: a head with its write-ahead log, plus persisted blocks.

Open a data directory with :meth:`DB.open`; write through :meth:`DB.appender`; read through
:meth:`DB.querier`. Data directory layout::

    <data>/wal/                 write-ahead log of the head (see kubeprom.tsdb.wal)
    <data>/<ULID>/              one immutable block per time range (see kubeprom.tsdb.block)
    <data>/<ULID>.tmp/          a block being written; removed on open

With ``Options.wal_group_samples`` (virtual-time runs, which no crash resumes) commits reach
the head at once and the WAL in groups, one record per group of about that many samples,
written before any checkpoint, compaction, deletion or close: the store's contents are the
same, the WAL holds fewer and larger records, and a crash loses the group in progress.

Compaction persists the oldest block range of the head once the head spans one and a half
block ranges (Prometheus' rule), then checkpoints the WAL. Retention deletes whole blocks,
measured against the newest sample in the store, not the wall clock, so backfilled history
stays until newer data pushes it out.

Time from the future: the store never trusts a timestamp later than the clock's now plus
:data:`MAX_AHEAD_MS` (what Prometheus' scraper accepts). Retention is measured from the newest
sample stamped no later than that (Prometheus measures from the newest block, so one block
from the future expires everything else); the head's span for cutting blocks is capped the
same way; and a block that ends beyond it does not raise the head's lower bound. So a sample
or an imported block stamped years ahead stays stored and queryable, and deletes nothing,
blocks no ingestion and does not force the head into blocks.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.tsdb.api import (
    MAX_AHEAD_MS,
    MAX_TIME,
    MIN_TIME,
    AppendStats,
    MetricMetadata,
)
from kubeprom.tsdb.appender import Batch, DBStats, HeadAppender
from kubeprom.tsdb.block import Block, write_block
from kubeprom.tsdb.compact import block_ranges, merge_blocks, obsolete_blocks, plan
from kubeprom.tsdb.frames import FrameCache
from kubeprom.tsdb.head import DEFAULT_BLOCK_RANGE_MS, DEFAULT_CHUNK_SAMPLES, Head
from kubeprom.tsdb.postings import select_ids
from kubeprom.tsdb.querier import StoreQuerier
from kubeprom.tsdb.replay import replay_into
from kubeprom.tsdb.wal import (
    WAL,
    FsyncPolicy,
    MetadataRecord,
    MultiSamplesRecord,
    Record,
    SeriesRecord,
    read_only_replay,
)
from kubeprom.tsdb.walgroup import WALGroup

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
    # Decoded frames kept for repeated queries (dashboards, rules); 0 disables the cache,
    # None sizes it by the store's series (see frame_cache_size).
    frame_cache_bytes: int | None = None
    # Longest block level compaction makes (Prometheus' --storage.tsdb.max-block-duration);
    # None: 10 % of the retention time, at most 31 days. block_range_ms turns merging off.
    max_block_duration_ms: int | None = None
    # 0: each commit is one WAL record, written before the head sees it. N > 0 (virtual time
    # only): commits are logged in groups of about N samples (see the module docstring).
    wal_group_samples: int = 0


# The automatic frame cache holds about one 30-minute slice of every series at a 15 s
# interval (120 samples of 12 bytes decoded): queries over recent data, the usual dashboard
# and rule load, then decode nothing twice. Bounded so a tiny store still caches whole
# frames and a huge one does not spend its memory on decoded copies.
_CACHE_BYTES_PER_SERIES = 120 * 12
_CACHE_MIN_BYTES = 12 << 20
_CACHE_MAX_BYTES = 128 << 20


def frame_cache_size(num_series: int) -> int:
    """Bytes of the automatic decoded-frame cache for a store of ``num_series`` series."""
    return min(max(num_series * _CACHE_BYTES_PER_SERIES, _CACHE_MIN_BYTES), _CACHE_MAX_BYTES)


class DB:
    """A data directory opened for reading and writing. Not for use by two processes."""

    def __init__(self, path: Path, options: Options, clock: Clock | None = None) -> None:
        self.path = path
        self.options = options
        self.clock: Clock = clock or RealClock()
        self.stats = DBStats()
        self.frame_cache = (
            FrameCache(options.frame_cache_bytes or frame_cache_size(0))
            if options.frame_cache_bytes != 0
            else None
        )
        self.head = Head(
            chunk_samples=options.chunk_samples,
            block_range_ms=options.block_range_ms,
            cache=self.frame_cache,
        )
        self.blocks: list[Block] = []
        self.corrupt_blocks: dict[str, str] = {}
        self.block_ranges = block_ranges(
            options.block_range_ms, options.retention_ms, options.max_block_duration_ms
        )
        self._failed_merges: set[str] = set()  # ulids of blocks a merge failed on
        self._blocks_lock = threading.Lock()
        self._block_changes = 0  # block list replacements (see changes())
        self._commit_lock = threading.Lock()
        self._pending_series: list[SeriesRecord] = []
        self._group = WALGroup(options.wal_group_samples)  # commits applied, not yet logged
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
        if db._replay():
            db._checkpoint()  # from here on the WAL speaks the head's refs
        db.apply_retention()
        return db

    # ---- blocks ---------------------------------------------------------------------------
    def reload_blocks(self, *, delete_obsolete: bool = True) -> None:
        """Pick up block directories added or removed on disk (e.g. by ``tsdb import``).

        A block that another block names as its parent (a crash struck between writing a
        merged block and deleting its parents) is never served, and is deleted unless
        ``delete_obsolete`` is false (read-only use), as Prometheus does on open.
        """
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
        obsolete = obsolete_blocks([b.meta for b in found])
        stale = [b for b in found if b.meta.ulid in obsolete]
        found = [b for b in found if b.meta.ulid not in obsolete]
        with self._blocks_lock:
            self.blocks = found
            self._block_changes += 1
        for gone in known.values():
            gone.close()
        for b in stale:
            if delete_obsolete:
                log.warning("deleting a merged block's parent left by a crash dir=%s", b.path)
                self._delete_block(b)
            else:
                b.close()
        if self.frame_cache is not None and self.options.frame_cache_bytes is None:
            # Per slice, not per block: a merged block spans many slices of churned series.
            series = max([self.head.num_series, *(b.slice_series for b in found)])
            self.frame_cache.resize(frame_cache_size(series))
        limit = self.max_valid_time()
        newest_block_end = max(
            (b.meta.max_time for b in found if b.meta.max_time <= limit), default=MIN_TIME
        )
        self.head.refuse_before(newest_block_end)

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
        db.reload_blocks(delete_obsolete=False)
        db._replay(read_only_replay(db.path / "wal"))
        return db

    def _wal(self) -> WAL:
        """The write-ahead log; StorageError when the directory was opened read-only."""
        if self.wal is None:
            raise StorageError(f"data directory {str(self.path)!r} is open read-only")
        return self.wal

    # ---- WAL replay ---------------------------------------------------------------------------
    def _replay(self, records: Iterable[Record] | None = None) -> bool:
        """Rebuild the head from the WAL; returns whether the WAL should be rewritten (it
        names series it lost, so the head's refs differ from it: ``tsdb.replay``)."""
        if records is None:
            records = self._wal().replay()
        report = replay_into(self.head, records)
        if report.records:
            log.info(
                "replayed WAL records=%d series=%d samples=%d",
                report.records,
                self.head.num_series,
                self.head.num_samples,
            )
        return report.rewrite_wal

    # ---- writing --------------------------------------------------------------------------------
    def appender(self) -> HeadAppender:
        return HeadAppender(self)

    def commit_batches(
        self,
        batches: list[Batch],
        metadata: dict[str, MetricMetadata],
        checked_at: int | None = None,
    ) -> AppendStats:
        """HeadWriter: check the batches again, log them to the WAL, then apply them.

        Samples reach the WAL before the head, so a query never sees a sample a crash could
        lose. A batch is checked against the head as the batches before it leave it: when
        it shares a series with batches checked but not yet applied, those are logged and
        applied first. While the head is as it was when the appender checked them
        (``checked_at``), the appender's verdicts stand and nothing is checked again.
        """
        wal = self._wal()
        total = AppendStats()
        with self._commit_lock:
            series, self._pending_series = self._pending_series, []
            if metadata:
                wal.log_metadata([(n, m.type.value, m.help, m.unit) for n, m in metadata.items()])
                self.head.metadata.update(metadata)
            checked: list[Batch] = []
            seen: set[int] = set()  # the series of the checked batches
            for t_ms, refs, values in batches:
                if checked and not seen.isdisjoint(refs.tolist()):
                    self._log_and_apply(checked, series)
                    checked, series = [], []
                    seen.clear()
                if checked_at is not None and self.head.changes == checked_at:
                    stats = AppendStats(appended=len(refs))  # as checked: all kept
                else:
                    ok, stats = self.head.check(t_ms, refs, values)
                    if len(ok) != len(refs):
                        refs, values = refs[ok], values[ok]
                checked.append((t_ms, refs, values))
                if len(batches) > 1:
                    seen.update(refs.tolist())
                total.add(stats)
            self._log_and_apply(checked, series)
        self.stats.count(total, appended=True)
        return total

    def _log_and_apply(self, batches: list[Batch], series: list[SeriesRecord]) -> None:
        """Log checked batches (and the series created for them) then store them."""
        wal = self._wal()
        if self._group.limit:
            for t_ms, refs, values in batches:
                self.head.apply(t_ms, refs, values)
            if self._group.add(series, batches):
                self._group.write_to(wal)
            return
        if not batches:
            if series:
                wal.log_series(series)
            return
        for i, (t_ms, refs, values) in enumerate(batches):
            wal.log_batch(series if i == 0 else (), t_ms, refs, values)
        for t_ms, refs, values in batches:
            self.head.apply(t_ms, refs, values)

    def flush_wal(self) -> None:
        """Write the commits grouped so far (``wal_group_samples``) to the WAL."""
        with self._commit_lock:
            self._group.write_to(self._wal())

    def register_series(self, ref: int, labels: Labels) -> None:
        """HeadWriter: log a created series with the next commit."""
        with self._commit_lock:
            self._pending_series.append(SeriesRecord(ref, labels))
        self.stats.series_created += 1

    # ---- compaction and retention ------------------------------------------------------------
    def compact(self) -> int:
        """Persist every full block range of the head; returns the number of blocks written."""
        written = 0
        while (rng := self.head.cut_range(self.max_valid_time())) is not None:
            start, end = rng
            with self._commit_lock:
                # From now on appends below ``end`` are out of bounds, so no sample can be
                # acknowledged after the read below and then dropped with the range.
                self.head.refuse_before(end)
            ids = self.head.index.all_ids()
            part = self.head.read(ids, start, end - 1, cached=False)
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
            # Publish the block before the head lets go of the range: a query always finds
            # the samples in one of the two (StoreQuerier.select reads again if it took the
            # block list before this and the head after the drop).
            self.reload_blocks()
            self.head.drop_before(end)
            self._checkpoint()
        if written:
            self.stats.compactions += written
        merged = self.compact_blocks()
        if written or merged:
            self.apply_retention()
        return written

    def compact_blocks(self) -> int:
        """Merge persisted blocks level by level (:mod:`kubeprom.tsdb.compact`) until the
        plan is empty; returns the number of merged blocks written.

        Each merged block is in place (synced, renamed) before it replaces its parents in
        the block list, in one step, so a query sees either the parents or the merged block,
        never both and never neither (one that took the list before the swap and finds a
        parent closed reads again). Then the parents are deleted. A merge that fails
        (corrupt frame, I/O error) is logged and its blocks are not planned again.
        """
        merged = 0
        while True:
            blocks = self.blocks_snapshot()
            group = plan(
                [b.meta for b in blocks], self.block_ranges, frozenset(self._failed_merges)
            )
            if not group:
                return merged
            ulids = {m.ulid for m in group}
            parents = [b for b in blocks if b.meta.ulid in ulids]
            started_ns, started_cpu = self.clock.monotonic_ns(), time.process_time()
            try:
                path = merge_blocks(self.path, parents)
                new = [Block.open(path, self.frame_cache)] if path is not None else []
            except StorageError as err:  # CorruptionError included
                log.error("block merge failed blocks=%s err=%s", sorted(ulids), err)
                self._failed_merges |= ulids
                continue
            with self._blocks_lock:
                kept = [b for b in self.blocks if b.meta.ulid not in ulids]
                self.blocks = sorted(
                    [*kept, *new], key=lambda b: (b.meta.min_time, b.meta.max_time)
                )
            for b in parents:
                self._delete_block(b)
            merged += len(new)
            # Wall time from the store's clock (zero on a virtual one), CPU from the process:
            # with the series counts, what ties a memory or latency spike to a merge.
            log.info(
                "merged blocks parents=%d new=%s level=%d mint=%d maxt=%d parent_series=%d "
                "series=%d samples=%d seconds=%.2f cpu_seconds=%.2f",
                len(parents),
                new[0].path.name if new else None,
                new[0].meta.level if new else 0,
                parents[0].meta.min_time,
                parents[-1].meta.max_time,
                sum(b.meta.num_series for b in parents),
                new[0].meta.num_series if new else 0,
                new[0].meta.num_samples if new else 0,
                elapsed_s(self.clock, started_ns),
                time.process_time() - started_cpu,
            )

    def _delete_block(self, block: Block) -> None:
        """Close and remove a block; an I/O failure is logged (the next open retries a
        merged block's parent, which stays hidden meanwhile)."""
        try:
            block.delete()
        except OSError as err:
            log.error("cannot delete block dir=%s err=%s", block.path, err)

    def _checkpoint(self) -> None:
        """Collect the series with no sample left in the head, then rewrite the WAL as the
        head's current content: live series only, persisted samples dropped."""
        wal = self._wal()
        head = self.head
        with self._commit_lock, head.lock:
            self._group.write_to(wal)  # the checkpoint stands for everything logged before it
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
            part = head.read(index.all_ids(), head.min_valid_t, 2**63 - 1, cached=False)
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
            self._group.write_to(self._wal())
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
            part = b.read(b.all_ids(), MIN_TIME, MAX_TIME, cached=False)
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
                    self._block_changes += 1
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

    def max_valid_time(self) -> int:
        """The latest timestamp the store trusts: the clock's now plus MAX_AHEAD_MS."""
        return self.clock.now_ms() + MAX_AHEAD_MS

    def retention_time(self) -> int:
        """What time retention is measured from: the newest sample stamped no later than
        :meth:`max_valid_time`, so data from the future neither counts nor makes older data
        look expired (module docstring)."""
        limit = self.max_valid_time()
        newest = self.head.newest_before(limit)
        future = self.head.maxt > limit
        for b in self.blocks_snapshot():
            if b.meta.max_time - 1 <= limit:
                newest = max(newest, b.meta.max_time - 1)
                continue
            future = True
            ends = b.series_maxt
            valid = ends[ends <= limit]
            if valid.size:
                newest = max(newest, int(valid.max()))
        if future:
            log.warning(
                "samples stamped in the future are kept but do not count for retention "
                "newest_valid=%d limit=%d",
                newest,
                limit,
            )
        return newest

    def apply_retention(self) -> list[str]:
        """Delete blocks beyond the time or size limit; returns the deleted block names."""
        opts = self.options
        blocks = self.blocks_snapshot()
        doomed: list[Block] = []
        if opts.retention_ms is not None and blocks:
            horizon = self.retention_time() - opts.retention_ms
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
            self._block_changes += 1
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
                    part = head.read(head.index.all_ids(), head.min_valid_t, MAX_TIME, cached=False)
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

    def changes(self) -> int:
        """A count that grows whenever what a select could return changes (appends,
        truncation, series collection, tombstones, the block list): equal counts at two
        times mean equal selections."""
        return self.head.changes + self._block_changes

    def close(self) -> None:
        """Flush and close the WAL and release blocks; the head is replayed on next open."""
        if self.wal is not None:
            self.flush_wal()
            self.wal.close()
            self.wal = None
        for b in self.blocks_snapshot():
            b.close()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
