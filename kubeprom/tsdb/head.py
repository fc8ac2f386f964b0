"""The head: the in-memory, writable part of the store.

Recent samples sit in two 2-D arrays, ``rows_t`` and ``rows_v`` (series ref x slot), with a
fill count per series. A batch append scatters one column into them with fancy indexing, so
its Python work does not depend on the batch size. When a row fills up (``chunk_samples``
slots) or time crosses a block boundary, every non-empty row is *sealed*: encoded into a
compressed :class:`FrameSet` slab and the rows are reset. Compaction later moves whole
block ranges of slabs to disk.

Series are named by refs that are never reused; the per-series arrays are indexed by slot
(see :mod:`.index`). :meth:`Head.gc` drops the series that have no sample left in the head
(Prometheus' head garbage collection after truncation): their slots close up, their refs
die for good. An append to a dead ref is refused (counted as out of bounds), so a writer
holding one re-resolves it by labels; :attr:`Head.gc_epoch` tells writers when to check.

All public methods take the head's lock, so queries running in worker threads see a
consistent state.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from kubeprom.model.csr import offsets_from_counts
from kubeprom.model.labels import Labels, validate_labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, AppendStats, MetricMetadata
from kubeprom.tsdb.frames import FrameCache, FrameSet, Part, merge_parts
from kubeprom.tsdb.index import HeadIndex
from kubeprom.tsdb.postings import select_ids
from kubeprom.tsdb.tombstones import Tombstones

# Open rows hold this many samples per series (12 bytes a slot: int32 time offset from the
# row's first timestamp + float64 value). Sealed slabs are merged LSM-style, so sealing often
# costs little, and a narrow row keeps head memory per series below Prometheus'.
DEFAULT_CHUNK_SAMPLES = 64
# A row's time offsets are int32 milliseconds: a row spanning longer is sealed first.
_MAX_ROW_SPAN_MS = 2**31 - 1
_MERGE_FANOUT = 4
DEFAULT_BLOCK_RANGE_MS = 2 * 3600 * 1000
_INITIAL_CAPACITY = 1024


@dataclass(slots=True)
class Slab:
    """Sealed head samples: a FrameSet plus the time range it covers."""

    frames: FrameSet
    mint: int
    maxt: int


def sample_verdict(
    t_ms: int,
    values: F64Array,
    first: npt.NDArray[np.bool_],
    last_t: I64Array,
    last_v: F64Array,
    repeats: int,
    stats: AppendStats,
) -> I64Array:
    """Prometheus' append rules for one batch at ``t_ms``, given each sample's series' newest
    timestamp and value and whether it is its series' first occurrence in the batch: older
    is out of order, the newest timestamp with other value bits a duplicate (``repeats``
    more, for the batch's repeated refs), the same value dropped silently. Fills ``stats``
    and returns the positions to append."""
    newer = t_ms > last_t
    same_t = t_ms == last_t
    same_bits = values.view(np.uint64) == last_v.view(np.uint64)
    ok = newer & first
    stats.out_of_order = int(np.count_nonzero(first & ~newer & ~same_t))
    stats.duplicate = int(np.count_nonzero(first & same_t & ~same_bits)) + repeats
    stats.appended = int(np.count_nonzero(ok))
    return np.flatnonzero(ok)


class LabelOrders:
    """Positions of ref sets in label order, by the refs' bytes. Bounded by the refs held
    (an order of 100,000 refs weighs megabytes), not only by the sets: all are dropped
    when either bound is reached, and the sets that repeat come back."""

    MAX_SETS = 1024
    MAX_REFS = 1 << 20

    def __init__(self) -> None:
        self._orders: dict[bytes, list[int]] = {}
        self._refs = 0

    def get(self, key: bytes) -> list[int] | None:
        return self._orders.get(key)

    def put(self, key: bytes, order: list[int]) -> None:
        if len(self._orders) >= self.MAX_SETS or self._refs + len(order) > self.MAX_REFS:
            self._orders.clear()
            self._refs = 0
        self._orders[key] = order
        self._refs += len(order)


class Head:
    """Series registry, open rows and sealed slabs. See the module docstring."""

    def __init__(
        self,
        *,
        chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
        block_range_ms: int = DEFAULT_BLOCK_RANGE_MS,
        cache: FrameCache | None = None,
    ) -> None:
        self.cache = cache
        self.lock = threading.RLock()
        self.index = HeadIndex()
        self.chunk_samples = chunk_samples
        self.block_range_ms = block_range_ms
        self.metadata: dict[str, MetricMetadata] = {}
        self.min_valid_t = MIN_TIME  # samples older than this belong to persisted blocks
        self.slabs: list[Slab] = []
        self.tombstones = Tombstones()  # keyed by ref; applied by read()
        # Per-series arrays indexed by ref; grown by doubling in _alloc.
        self.rows_dt: npt.NDArray[np.int32]  # (ref, slot) ms since row_base
        self.row_base: I64Array  # first timestamp of each open row
        self.rows_v: F64Array  # (ref, slot) values
        self.cnt: I64Array  # filled slots per row
        self.last_t: I64Array  # newest timestamp per series (MIN_TIME: none)
        self.last_v: F64Array  # newest value per series (duplicate detection)
        self._born: I64Array  # the gc epoch each slot's series was created in
        self._scratch: I64Array  # reused by check() to find repeated refs
        self._cap = 0
        self._alloc(_INITIAL_CAPACITY)
        self._open_mint = MIN_TIME  # oldest sample in the open rows (MIN_TIME: none)
        self._seal_at = MIN_TIME  # block boundary that forces a seal once crossed
        self.mint = 2**63 - 1
        self.maxt = MIN_TIME
        self.num_samples = 0
        self.gc_epoch = 0  # bumped by every gc() that removed series
        self.removed_series = 0  # series garbage-collected so far
        # Bumped by every drop_before: a reader that took a block list before a drop and read
        # the head after it must read again (the dropped samples are in a block by then).
        self.truncations = 0
        # Bumped by everything that can change what a select returns (appends, truncation,
        # collection, tombstones): a reader that remembers selections checks it.
        self.changes = 0
        # Label order of ref sets (the querier's; valid for good: refs are never reused).
        self.label_orders = LabelOrders()

    # ---- storage arrays -----------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        w = self.chunk_samples
        rows_dt = np.zeros((cap, w), dtype=np.int32)
        row_base = np.zeros(cap, dtype=np.int64)
        rows_v = np.zeros((cap, w), dtype=np.float64)
        cnt = np.zeros(cap, dtype=np.int64)
        last_t = np.full(cap, MIN_TIME, dtype=np.int64)
        last_v = np.zeros(cap, dtype=np.float64)
        scratch = np.zeros(cap, dtype=np.int64)
        born = np.zeros(cap, dtype=np.int64)
        if self._cap:
            n = self._cap
            rows_dt[:n], row_base[:n] = self.rows_dt, self.row_base
            rows_v[:n], cnt[:n] = self.rows_v, self.cnt
            last_t[:n], last_v[:n] = self.last_t, self.last_v
            born[:n] = self._born
        self.rows_dt, self.row_base, self.rows_v, self.cnt = rows_dt, row_base, rows_v, cnt
        self.last_t, self.last_v, self._scratch = last_t, last_v, scratch
        self._born = born  # the gc epoch a slot's series was created in
        self._cap = cap

    # ---- series -------------------------------------------------------------------------
    def get_or_create(self, labels: Labels) -> tuple[int, bool]:
        """The ref of a series and whether it was created now."""
        ref = self.index.get(labels)
        if ref is not None:
            return ref, False
        validate_labels(labels)
        with self.lock:
            ref = self.index.get(labels)
            if ref is not None:
                return ref, False
            if len(self.index) >= self._cap:
                self._alloc(self._cap * 2)
            self._born[len(self.index)] = self.gc_epoch
            return self.index.add(labels), True

    def create_with_ref(self, ref: int, labels: Labels) -> int:
        """Recreate a series with a known ref (WAL replay); refs arrive in increasing order.

        Returns the ref the series lives under: ``ref``, or the ref it already has when the
        log recreated a collected series under a new ref (the caller maps one to the other).
        Raises ValueError for a ref older than the newest one.
        """
        with self.lock:
            existing = self.index.get(labels)
            if existing is not None:
                return existing
            if len(self.index) >= self._cap:
                self._alloc(self._cap * 2)
            self._born[len(self.index)] = self.gc_epoch
            self.index.add_with_ref(ref, labels)
            return ref

    def live(self, refs: I64Array) -> NDArray[np.bool_]:
        """Which refs still name a series (a collected one never comes back)."""
        with self.lock:
            alive = self.index.slots(refs)[1]
        return np.ones(len(refs), dtype=np.bool_) if alive is None else alive

    def gc(self) -> int:
        """Drop every series with no sample left in the head: all of its samples are older
        than ``min_valid_t`` (persisted in blocks and truncated), or it never had one since
        the collection before. Returns how many were dropped."""
        with self.lock:
            n = len(self.index)
            has_samples = self.last_t[:n] != MIN_TIME
            persisted = has_samples & (self.last_t[:n] < self.min_valid_t) & (self.cnt[:n] == 0)
            empty = ~has_samples & (self._born[:n] < self.gc_epoch)
            dead = np.flatnonzero(persisted | empty)
            self.gc_epoch += 1
            if dead.size == 0:
                return 0
            self.changes += 1
            dead_refs = self.index.remove(dead)
            keep = np.ones(n, dtype=np.bool_)
            keep[dead] = False
            k = int(keep.sum())
            for arr in (self.rows_dt, self.row_base, self.rows_v, self.cnt, self.last_t):
                arr[:k] = arr[:n][keep]
            for farr in (self.last_v,):
                farr[:k] = farr[:n][keep]
            self._born[:k] = self._born[:n][keep]
            self.cnt[k:n] = 0
            self.last_t[k:n] = MIN_TIME
            if self.tombstones:
                stale = set(dead_refs.tolist())
                self.tombstones = Tombstones(
                    {r: iv for r, iv in self.tombstones.series.items() if r not in stale}
                )
            self.removed_series += int(dead.size)
            return int(dead.size)

    # ---- appending ----------------------------------------------------------------------
    def check(self, t_ms: int, refs: I64Array, values: F64Array) -> tuple[I64Array, AppendStats]:
        """Which samples of a batch may be appended; returns their positions and the stats.

        Rejects, per series: a timestamp older than the newest (out of order), the newest
        timestamp with different value bits (duplicate), a timestamp below ``min_valid_t``
        (out of bounds), and repeats of a ref within the batch. The newest timestamp with the
        same value is dropped silently, as Prometheus does.
        """
        n = len(refs)
        stats = AppendStats()
        if n == 0:
            return np.empty(0, dtype=np.int64), stats
        if t_ms < self.min_valid_t:
            stats.out_of_bounds = n
            return np.empty(0, dtype=np.int64), stats
        with self.lock:
            try:
                slots, alive = self.index.slots(refs)
            except ValueError:
                raise ValueError("append with an unknown series ref") from None
            # The first occurrence of each live ref wins: scatter positions in reverse order.
            pos = np.arange(n, dtype=np.int64)
            dead = 0 if alive is None else int(n - np.count_nonzero(alive))
            if alive is None or dead == 0:
                self._scratch[slots[::-1]] = pos[::-1]
                first = self._scratch[slots] == pos
            else:
                live_slots, live_pos = slots[alive], pos[alive]
                self._scratch[live_slots[::-1]] = live_pos[::-1]
                first = np.zeros(n, dtype=np.bool_)
                first[alive] = self._scratch[live_slots] == live_pos
            last_t = self.last_t[slots]
            last_v = self.last_v[slots]
        stats.out_of_bounds = dead  # collected series: beyond the head's range for good
        repeats = n - dead - int(np.count_nonzero(first))
        return sample_verdict(t_ms, values, first, last_t, last_v, repeats, stats), stats

    def apply(self, t_ms: int, refs: I64Array, values: F64Array) -> None:
        """Store checked samples (unique refs, all newer than their series' newest)."""
        if len(refs) == 0:
            return
        with self.lock:
            if self._open_mint != MIN_TIME and t_ms >= self._seal_at:
                self.seal()
            slots, alive = self.index.slots(refs)
            if alive is not None and not alive.all():  # collected since checked: dropped
                slots, values = slots[alive], values[alive]
                if slots.size == 0:
                    return
            c = self.cnt[slots]
            if int(c.max()) >= self.chunk_samples:
                self.seal()
                c = self.cnt[slots]
            base = np.where(c == 0, t_ms, self.row_base[slots])
            if t_ms - int(base.min()) > _MAX_ROW_SPAN_MS:
                self.seal()
                c = self.cnt[slots]
                base = np.full(len(slots), t_ms, dtype=np.int64)
            self.row_base[slots] = base
            self.rows_dt[slots, c] = t_ms - base
            self.rows_v[slots, c] = values
            self.cnt[slots] = c + 1
            self.changes += 1
            self.last_t[slots] = t_ms
            self.last_v[slots] = values
            if self._open_mint == MIN_TIME:
                self._open_mint = t_ms
                self._seal_at = (t_ms // self.block_range_ms + 1) * self.block_range_ms
            else:
                self._open_mint = min(self._open_mint, t_ms)
            self.mint = min(self.mint, t_ms)
            self.maxt = max(self.maxt, t_ms)
            self.num_samples += len(slots)

    def apply_many(self, refs: I64Array, t: I64Array, values: F64Array) -> AppendStats:
        """Append samples with arbitrary timestamps (WAL checkpoints), grouped by timestamp."""
        total = AppendStats()
        if len(refs) == 0:
            return total
        order = np.argsort(t, kind="stable")
        refs, t, values = refs[order], t[order], values[order]
        cuts = np.flatnonzero(np.diff(t)) + 1
        for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(t)].tolist(), strict=True):
            ts = int(t[a])
            ok, stats = self.check(ts, refs[a:b], values[a:b])
            self.apply(ts, refs[a:b][ok], values[a:b][ok])
            total.add(stats)
        return total

    def append_series(
        self, ids: I64Array, t: I64Array, values: F64Array, offsets: I64Array
    ) -> AppendStats | None:
        """Append whole series as one sealed slab (a bulk load), or return None.

        ``ids`` are ascending unique refs; series ``i`` owns ``t[offsets[i]:offsets[i+1]]``.
        Stores everything only if every series is non-empty, strictly increasing in time,
        starts after its newest stored sample and at or after ``min_valid_t``; otherwise
        stores nothing and returns None, and the caller appends timestamp by timestamp
        (:meth:`apply_many`) to get the per-sample verdicts.
        """
        n = len(ids)
        if n == 0:
            return AppendStats()
        counts = np.diff(offsets)
        if np.any(np.diff(ids) <= 0) or np.any(counts <= 0):
            return None
        first, last = offsets[:-1], offsets[1:] - 1
        rising = np.diff(t) > 0
        rising[last[:-1]] = True  # a series boundary, not a step back in time
        with self.lock:
            if not rising.all() or int(t.min()) < self.min_valid_t:
                return None
            slots, alive = self.index.slots(ids)
            if (alive is not None and not alive.all()) or np.any(t[first] <= self.last_t[slots]):
                return None
            self.seal()  # the open rows hold older samples: keep slabs in time order
            fs = FrameSet.build(ids, t, values, offsets, cache=self.cache)
            self.slabs.append(Slab(fs, int(t.min()), int(t.max())))
            self.changes += 1
            self.last_t[slots] = t[last]
            self.last_v[slots] = values[last]
            self.mint = min(self.mint, int(t.min()))
            self.maxt = max(self.maxt, int(t.max()))
            self.num_samples += len(t)
        return AppendStats(appended=len(t))

    def seal(self) -> None:
        """Encode every non-empty open row into a slab and empty the rows."""
        with self.lock:
            live = np.flatnonzero(self.cnt[: len(self.index)])
            if live.size == 0:
                return
            t, v, offsets = self._open_samples(live, self.chunk_samples)
            fs = FrameSet.build(self.index.refs(live), t, v, offsets, cache=self.cache)
            self.slabs.append(Slab(fs, int(t.min()), int(t.max())))
            self.cnt[live] = 0
            self._open_mint = MIN_TIME
            self._merge_slabs()

    def _open_samples(self, slots: I64Array, width: int) -> tuple[I64Array, F64Array, I64Array]:
        """CSR of the open rows of ``slots`` (all with count > 0), ``width`` >= their counts."""
        counts = self.cnt[slots]
        mask = np.arange(width)[None, :] < counts[:, None]
        t = (self.rows_dt[slots, :width] + self.row_base[slots, None])[mask]
        v = self.rows_v[slots, :width][mask]
        return t, v, offsets_from_counts(counts)

    def _merge_slabs(self) -> None:
        """Merge the newest ``_MERGE_FANOUT`` slabs once they are of similar size.

        Tiered merging keeps O(log n) slabs per block range, so neither the per-slab series
        arrays nor the frames a query decodes grow with the head, while each sample is
        re-encoded only log_4(n) times.
        """
        r = self.block_range_ms
        k = _MERGE_FANOUT
        while len(self.slabs) >= k:
            tail = self.slabs[-k:]
            sizes = [s.frames.num_samples for s in tail]
            if max(sizes) > 2 * min(sizes) or tail[0].mint // r != tail[-1].maxt // r:
                return
            every = (MIN_TIME, 2**63 - 1)
            part = merge_parts([s.frames.read(s.frames.ids, *every, cached=False) for s in tail])
            fs = FrameSet.build(part.ids, part.t, part.v, part.offsets, cache=self.cache)
            merged = Slab(fs, min(s.mint for s in tail), max(s.maxt for s in tail))
            self.slabs[-k:] = [merged]

    # ---- reading ------------------------------------------------------------------------
    def read(self, ids: I64Array, mint: int, maxt: int, *, cached: bool = True) -> Part:
        """Samples of the given refs (sorted) in ``[mint, maxt]``, merged across slabs;
        ``cached=False`` for a bulk read (compaction) that should not fill the frame cache."""
        with self.lock:
            parts = [
                s.frames.read(ids, mint, maxt, cached=cached)
                for s in self.slabs
                if s.maxt >= mint and s.mint <= maxt and s.frames.may_hold(ids)
            ]
            parts.append(self._read_open(ids, mint, maxt))
            stones = self.tombstones
        return stones.apply(merge_parts(parts))

    def delete(self, refs: I64Array, mint: int, maxt: int) -> tuple[I64Array, I64Array, I64Array]:
        """Tombstone ``[mint, maxt]`` (inclusive, ms) of ``refs``; returns what was added.

        As in Prometheus, each range is clamped to the head's samples (``maxt`` to the series'
        newest), so samples appended later stay visible; series without samples in the range
        get nothing. Returns ``(refs, mint, maxt)`` arrays for the WAL.
        """
        with self.lock:
            refs = np.asarray(refs, dtype=np.int64)
            slots, alive = self.index.slots(refs)
            if alive is not None:
                refs, slots = refs[alive], slots[alive]
            highs = np.minimum(self.last_t[slots], maxt)
            lows = np.full(refs.shape, max(mint, self.mint, self.min_valid_t), dtype=np.int64)
            keep = highs >= lows
            refs, lows, highs = refs[keep], lows[keep], highs[keep]
            self.tombstones = self.tombstones.add(refs, lows, highs)
            self.changes += 1
            return refs, lows, highs

    def add_tombstones(self, refs: I64Array, mint: I64Array, maxt: I64Array) -> None:
        """Re-add logged tombstones (WAL replay)."""
        with self.lock:
            self.tombstones = self.tombstones.add(refs, mint, maxt)
            self.changes += 1

    def _read_open(self, ids: I64Array, mint: int, maxt: int) -> Part:
        if self._open_mint == MIN_TIME or ids.size == 0:
            return Part.empty()
        slots, alive = self.index.slots(ids)
        has = self.cnt[slots] > 0
        if alive is not None:
            has &= alive
        ids, slots = ids[has], slots[has]
        if ids.size == 0:
            return Part.empty()
        # The open rows' samples inside [mint, maxt], clipped in the same mask that trims
        # each row to its count.
        counts = self.cnt[slots]
        width = int(counts.max())
        t2 = self.rows_dt[slots, :width] + self.row_base[slots, None]
        mask = (np.arange(width)[None, :] < counts[:, None]) & (t2 >= mint) & (t2 <= maxt)
        kept = mask.sum(axis=1)
        has = kept > 0
        if not has.all():
            ids, slots, mask, t2, kept = ids[has], slots[has], mask[has], t2[has], kept[has]
        v = self.rows_v[slots, :width][mask]
        return Part(ids, t2[mask], v, offsets_from_counts(kept))

    def select_ids(self, matchers: Sequence[Matcher]) -> I64Array:
        with self.lock:
            return select_ids(self.index, matchers)

    def refuse_before(self, t_ms: int) -> None:
        """Refuse appends older than ``t_ms`` from now on (out of bounds). A change for
        appenders: a batch checked before it is checked again at commit."""
        with self.lock:
            if t_ms > self.min_valid_t:
                self.min_valid_t = t_ms
                self.changes += 1

    def drop_before(self, t_ms: int) -> None:
        """Forget samples older than ``t_ms`` (they were persisted in a block)."""
        with self.lock:
            self.truncations += 1
            self.changes += 1
            self.min_valid_t = max(self.min_valid_t, t_ms)
            keep: list[Slab] = []
            for slab in self.slabs:
                if slab.mint >= t_ms:
                    keep.append(slab)
                elif slab.maxt >= t_ms:
                    part = slab.frames.read(slab.frames.ids, t_ms, slab.maxt, cached=False)
                    if part.ids.size:
                        fs = FrameSet.build(
                            part.ids, part.t, part.v, part.offsets, cache=self.cache
                        )
                        keep.append(Slab(fs, int(part.t.min()), int(part.t.max())))
            self.slabs = keep
            self._drop_open_before(t_ms)
            self.num_samples = sum(s.frames.num_samples for s in keep) + int(self.cnt.sum())
            self.mint = min(
                [s.mint for s in keep]
                + ([self._open_mint] if self._open_mint != MIN_TIME else [])
                + [2**63 - 1]
            )

    def _drop_open_before(self, t_ms: int) -> None:
        if self._open_mint == MIN_TIME or self._open_mint >= t_ms:
            return
        live = np.flatnonzero(self.cnt[: len(self.index)])
        counts = self.cnt[live]
        w = self.chunk_samples
        filled = np.arange(w)[None, :] < counts[:, None]
        keep = filled & (self.rows_dt[live] + self.row_base[live, None] >= t_ms)
        # Rows are time-ordered, so kept samples are a suffix: shift them to the front.
        new_counts = keep.sum(axis=1)
        src = np.minimum(np.arange(w)[None, :] + (counts - new_counts)[:, None], w - 1)
        self.rows_dt[live] = np.take_along_axis(self.rows_dt[live], src, axis=1)
        self.rows_v[live] = np.take_along_axis(self.rows_v[live], src, axis=1)
        self.cnt[live] = new_counts
        kept = new_counts > 0
        self._open_mint = (
            int((self.rows_dt[live[kept], 0] + self.row_base[live[kept]]).min())
            if kept.any()
            else MIN_TIME
        )

    def cut_range(self, max_valid_t: int = MAX_TIME) -> tuple[int, int] | None:
        """The next block range ``[start, end)`` to persist, once the head spans 1.5 ranges.

        The head's span ends at its newest sample no later than ``max_valid_t``: one sample
        stamped far in the future must not make every range up to it look complete, nor
        stretch the span to ``max_valid_t`` when no sample is there.
        """
        with self.lock:
            maxt = self.maxt if self.maxt <= max_valid_t else self.newest_before(max_valid_t)
            if self.num_samples == 0 or maxt - self.mint < self.block_range_ms * 3 // 2:
                return None
            start = self.mint // self.block_range_ms * self.block_range_ms
            return start, start + self.block_range_ms

    def newest_before(self, limit: int) -> int:
        """The newest sample time of any series that is at most ``limit`` (MIN_TIME: none).

        Per series only its newest sample is considered, so a series whose newest sample is
        beyond ``limit`` does not count at all.
        """
        with self.lock:
            newest = self.last_t[: len(self.index)]
            valid = newest[newest <= limit]
            return int(valid.max()) if valid.size else MIN_TIME

    @property
    def num_series(self) -> int:
        return len(self.index)
