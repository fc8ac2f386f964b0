"""Level compaction of persisted blocks, as Prometheus' ``LeveledCompactor`` does it.

Blocks cut from the head cover one block range (2 h by default). The compactor merges
adjacent blocks that lie inside one aligned range of the next level up, so a store holds a
few long blocks instead of one per 2 h: ranges grow by 3x per level (2 h, 6 h, 18 h,
54 h, ...) up to the maximum block duration, 10 % of the retention time and at most 31 days
(``block_ranges``). :func:`plan` chooses which blocks to merge from their metas alone,
Prometheus' ``plan`` / ``selectDirs`` / ``splitByRange``: the newest block is never
included, and a group is merged once it spans its whole range or lies before the newest
block.

:func:`merge_blocks` writes the merged block without decoding a sample: the parents'
frames are copied byte for byte (checksums checked), their series re-numbered into the
union of the parents' label sets, a k-way merge of the parents' sorted series lists a batch
at a time, and the index written array by array: the merge's working memory is a few compact
arrays per series (ids, label pairs, the new block's slice arrays), not copies of every
label set, whatever the series count of the block it builds. Parents with
tombstones have their affected slices decoded, filtered and re-encoded, so the merged block
holds no deleted sample. The merged block's meta.json records Prometheus' ``compaction``
object (level, sources, parents); the store deletes the parents only after the merged block
is in place, and on open it deletes any block another block names as its parent, so a crash
between the two steps never shows a sample twice.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ulid import ULID

from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model.samples import I64Array
from kubeprom.tsdb import chunks
from kubeprom.tsdb.block import CHUNKS_FILE, Block, SliceLayout, finish_block
from kubeprom.tsdb.blockmeta import BlockMeta
from kubeprom.tsdb.frames import FRAME_TARGET_SAMPLES, FrameSet, encode_frames

log = logging.getLogger(__name__)

# Prometheus' defaults: ExponentialBlockRanges(min, 10, 3), the maximum block duration
# 10 % of the retention time and at most 31 days (cmd/prometheus/main.go).
RANGE_STEPS = 10
RANGE_FACTOR = 3
MAX_BLOCK_DURATION_MS = 31 * 24 * 3600 * 1000
# Series of each parent a merge compares at once (see _union_series).
MERGE_BATCH = 4096


def block_ranges(
    min_range_ms: int, retention_ms: int | None, max_block_ms: int | None = None
) -> list[int]:
    """The compaction levels' ranges (ms): ``min_range_ms * 3**i``, those not above the
    maximum block duration (``max_block_ms``, else 10 % of ``retention_ms`` capped at
    31 days). The first range is always kept, so one range means no level compaction."""
    if max_block_ms is None:
        max_block_ms = MAX_BLOCK_DURATION_MS
        if retention_ms is not None and retention_ms // 10 < max_block_ms:
            max_block_ms = retention_ms // 10
    ranges = [min_range_ms * RANGE_FACTOR**i for i in range(RANGE_STEPS)]
    return [r for i, r in enumerate(ranges) if i == 0 or r <= max_block_ms]


def split_by_range(metas: Sequence[BlockMeta], tr: int) -> list[list[BlockMeta]]:
    """Group blocks (sorted by min time) by the aligned range of length ``tr`` holding them
    entirely; blocks that fit in none (misaligned, or longer than ``tr``) are left out."""
    groups: list[list[BlockMeta]] = []
    i = 0
    while i < len(metas):
        t0 = tr * (metas[i].min_time // tr)  # floor: Prometheus' rounding for negatives too
        if metas[i].max_time > t0 + tr:
            i += 1
            continue
        group = []
        while i < len(metas) and metas[i].max_time <= t0 + tr:
            group.append(metas[i])
            i += 1
        groups.append(group)
    return groups


def _disjoint(group: Sequence[BlockMeta]) -> bool:
    return all(a.max_time <= b.min_time for a, b in itertools.pairwise(group))


def plan(
    metas: Sequence[BlockMeta], ranges: Sequence[int], failed: frozenset[str] = frozenset()
) -> list[BlockMeta]:
    """The blocks to merge next (in time order), or ``[]``; a pure function of the metas.

    As Prometheus: the newest block (by min time) is left out, so a block just cut from the
    head is not merged at once; for each range above the first, smallest first, the first
    group of two or more blocks inside one aligned range that spans the whole range or ends
    before the newest block's start is chosen. Groups holding a block whose merge failed
    (``failed`` ulids) are skipped, as are groups whose blocks overlap in time (kubeprom does
    not merge overlapping blocks; its queries merge them).
    """
    if len(ranges) < 2 or len(metas) < 2:
        return []
    ordered = sorted(metas, key=lambda m: (m.min_time, m.max_time))[:-1]
    high_time = ordered[-1].min_time
    for tr in ranges[1:]:
        for group in split_by_range(ordered, tr):
            if len(group) < 2 or any(m.ulid in failed for m in group) or not _disjoint(group):
                continue
            mint, maxt = group[0].min_time, group[-1].max_time
            if maxt - mint == tr or maxt <= high_time:
                return group
    return []


def obsolete_blocks(metas: Sequence[BlockMeta]) -> set[str]:
    """Ulids of the blocks that another block names as its parent (left by a crash between
    writing a merged block and deleting its parents): they must not be read."""
    return {p.ulid for m in metas for p in m.parents}


# ---- merging ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Union:
    """The union of the parents' series, in label order: ``symbols`` (sorted UTF-8), per
    parent the union id of each of its series (``ids``), and the union's label pairs as
    symbol ids (``pairs``, int32, flattened; series ``i`` owns the pairs
    ``pairs[2 * pair_off[i] : 2 * pair_off[i + 1]]``)."""

    symbols: list[bytes]
    ids: list[I64Array]
    pairs: np.ndarray
    pair_off: I64Array


def _le(rows: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Which ``rows`` (padded symbol id rows) sort at or before the row ``cut``."""
    diff = rows != cut
    first = diff.argmax(axis=1)
    le: np.ndarray = ~diff.any(axis=1) | (rows[np.arange(len(rows)), first] < cut[first])
    return le


def _union_series(parents: Sequence[Block], batch: int) -> _Union:
    """The union of the parents' series: a k-way merge of their label-sorted series lists,
    ``batch`` series of each parent at a time.

    Symbol ids keep the symbols' order, so comparing label sets is comparing rows of
    symbol ids padded with -1 (a label set that is a prefix of another sorts first, as the
    padding does). Each round takes the next ``batch`` rows of every parent and emits, in
    order, every row not after the smallest last row among the parents with rows left
    beyond their batch: no later row can sort before those. So the work arrays are a few
    batches, whatever the parents' series counts; what grows with them is the result."""
    tables = [p.index.symbol_bytes() for p in parents]
    symbols = sorted(set().union(*tables))
    where = {s: i for i, s in enumerate(symbols)}
    to_global = [
        np.fromiter((where[s] for s in table), dtype=np.int32, count=len(table)) for table in tables
    ]
    del tables, where
    width = 2 * max((int(np.diff(p.index.pair_off).max(initial=0)) for p in parents), default=0)
    cols = np.arange(width)
    sizes = [len(p.index.pair_off) - 1 for p in parents]
    at = [0] * len(parents)
    ids = [np.empty(n, dtype=np.int64) for n in sizes]
    # Filled in place: sized for no shared series, the pages past the end stay untouched.
    out_pairs = np.empty(sum(2 * int(p.index.pair_off[-1]) for p in parents), dtype=np.int32)
    out_counts = np.empty(sum(sizes), dtype=np.int64)
    emitted = filled = 0
    while any(a < n for a, n in zip(at, sizes, strict=True)):
        rows = []
        for p, glob, a, n in zip(parents, to_global, at, sizes, strict=True):
            b = min(a + batch, n)
            off = p.index.pair_off[a : b + 1]
            counts = 2 * np.diff(off)
            m = np.full((b - a, width), -1, dtype=np.int32)
            m[cols < counts[:, None]] = glob[p.index.pairs[2 * int(off[0]) : 2 * int(off[-1])]]
            rows.append(m)
        lasts = [m[-1] for m, a, n in zip(rows, at, sizes, strict=True) if a + len(m) < n]
        cut = min(lasts, key=tuple) if lasts else None
        taken = [len(m) if cut is None else int(_le(m, cut).sum()) for m in rows]
        both = np.concatenate([m[:k] for m, k in zip(rows, taken, strict=True)])
        order = np.lexsort(both.T[::-1])
        srt = both[order]
        new = np.ones(len(srt), dtype=bool)
        new[1:] = np.any(srt[1:] != srt[:-1], axis=1)
        rank = np.empty(len(srt), dtype=np.int64)
        rank[order] = np.cumsum(new) - 1 + emitted
        pos = 0
        for i, k in enumerate(taken):
            ids[i][at[i] : at[i] + k] = rank[pos : pos + k]
            at[i] += k
            pos += k
        uniq = srt[new]
        flat = uniq[uniq >= 0]
        out_pairs[filled : filled + len(flat)] = flat
        out_counts[emitted : emitted + len(uniq)] = (uniq >= 0).sum(axis=1) // 2
        filled += len(flat)
        emitted += len(uniq)
    pair_off = np.zeros(emitted + 1, dtype=np.int64)
    np.cumsum(out_counts[:emitted], out=pair_off[1:])
    return _Union(symbols, ids, out_pairs[:filled], pair_off)


class _ChunkWriter:
    """Frames appended to a new block's chunk file, with the index's slice arrays."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "wb")  # noqa: SIM115 (closed by finish())
        self._written = 0
        # Per slice, arrays (not lists of ints: a merge at churn series counts has many).
        self.frame_off: list[I64Array] = [np.zeros(1, dtype=np.int64)]
        self.frames = [0]
        self.id_off = [0]
        self.samples: list[int] = []
        self.bounds: list[int] = []
        self.ids: list[I64Array] = []
        self.mint: list[I64Array] = []
        self.maxt: list[I64Array] = []
        self.frame_bounds: list[I64Array] = [np.zeros(1, dtype=np.int64)]

    def empty_slice(self, lo: int) -> None:
        self.bounds.append(lo)
        self.frames.append(self.frames[-1])
        self.id_off.append(self.id_off[-1])
        self.samples.append(0)

    def add_slice(
        self,
        lo: int,
        frames: Sequence[bytes],
        frame_bounds: I64Array,
        ids: I64Array,
        mint: I64Array,
        maxt: I64Array,
        samples: int,
    ) -> None:
        """A slice starting at ``lo``: its frames, the positions in ``ids`` where each
        frame's series start (``len(frames) + 1``), the series ids and their time bounds."""
        sizes = np.fromiter((len(d) for d in frames), dtype=np.int64, count=len(frames))
        for data in frames:
            self._f.write(data)
        self.frame_off.append(self._written + np.cumsum(sizes))
        self._written += int(sizes.sum())
        base = self.id_off[-1]
        self.frame_bounds.append(np.asarray(frame_bounds[1:], dtype=np.int64) + base)
        self.bounds.append(lo)
        self.frames.append(self.frames[-1] + len(frames))
        self.id_off.append(base + len(ids))
        self.samples.append(samples)
        self.ids.append(ids)
        self.mint.append(mint)
        self.maxt.append(maxt)

    def finish(self, end: int, renumber: I64Array) -> SliceLayout:
        """Sync the chunk file; the layout with series ids mapped through ``renumber``."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

        def cat(a: list[I64Array]) -> I64Array:
            return np.concatenate(a).astype(np.int64) if a else np.empty(0, np.int64)

        return SliceLayout(
            bounds=np.asarray([*self.bounds, end], dtype=np.int64),
            frames=np.asarray(self.frames, dtype=np.int64),
            id_off=np.asarray(self.id_off, dtype=np.int64),
            samples=np.asarray(self.samples, dtype=np.int64),
            ids=renumber[cat(self.ids)],
            mint=cat(self.mint),
            maxt=cat(self.maxt),
            frame_bounds=np.concatenate(self.frame_bounds),
            frame_off=np.concatenate(self.frame_off),
        )

    def abort(self) -> None:
        self._f.close()


def _copy_slice(out: _ChunkWriter, block: Block, lo: int, fs: FrameSet, ids: I64Array) -> None:
    """A parent's slice as it is: frames copied after checking their checksums."""
    n_frames = len(fs.frame_bounds) - 1
    frames = []
    for f in range(n_frames):
        data = block.raw_frame(fs.first_frame + f)
        chunks.check_frame(data)
        frames.append(data)
    out.add_slice(
        lo, frames, fs.frame_bounds, ids[fs.ids], fs.series_mint, fs.series_maxt, fs.num_samples
    )


def _rewrite_slice(
    out: _ChunkWriter, block: Block, lo: int, hi: int, fs: FrameSet, ids: I64Array
) -> None:
    """A parent's slice decoded, without its tombstoned samples, and encoded again."""
    part = block.tombstones.apply(fs.read(fs.ids, lo, hi - 1, cached=False))
    if part.ids.size == 0:
        out.empty_slice(lo)
        return
    frames, bounds = encode_frames(part.t, part.v, part.offsets, FRAME_TARGET_SAMPLES)
    out.add_slice(
        lo,
        frames,
        bounds,
        ids[part.ids],
        part.t[part.offsets[:-1]],
        part.t[part.offsets[1:] - 1],
        len(part.t),
    )


def merge_blocks(
    data_dir: str | os.PathLike[str], parents: Sequence[Block], *, batch: int = MERGE_BATCH
) -> Path | None:
    """Write the union of ``parents`` (disjoint in time, in time order) as one block.

    Series by series the merged block holds exactly the parents' samples (bit for bit,
    staleness markers included) minus their tombstoned ones. Returns its directory, or None
    when nothing is left (every sample deleted). Written into ``<ULID>.tmp`` and renamed;
    the parents are untouched. The parents' series are merged ``batch`` at a time (the
    block written is the same for any ``batch``), so the merge's working memory is a few
    compact arrays per series, not copies of every label set. Raises
    :class:`CorruptionError` when a parent's frame fails its checksum and
    :class:`StorageError` on I/O failure (the tmp dir is removed).
    """
    union = _union_series(parents, batch)
    ids = union.ids
    mint, maxt = parents[0].meta.min_time, parents[-1].meta.max_time
    ulid = str(ULID())
    tmp = Path(data_dir) / f"{ulid}.tmp"
    try:
        (tmp / "chunks").mkdir(parents=True)
        out = _ChunkWriter(tmp / CHUNKS_FILE)
        try:
            at = mint
            for block, local in zip(parents, ids, strict=True):
                m = block.meta
                for lo, hi, fs in block.slices:
                    lo, hi = max(lo, m.min_time), min(hi, m.max_time)
                    if lo > at:
                        out.empty_slice(at)  # a gap between parents or slices
                    if block.tombstones or not block.slices_counted:
                        _rewrite_slice(out, block, lo, hi, fs, local)
                    else:
                        _copy_slice(out, block, lo, fs, local)
                    at = hi
                block.release_pages()  # read once: its pages need not stay resident
            if at < maxt:
                out.empty_slice(at)
            n_union = len(union.pair_off) - 1
            keep = np.zeros(n_union, dtype=bool)
            for part in out.ids:
                keep[part] = True
            renumber = np.cumsum(keep) - 1
            layout = out.finish(maxt, renumber)
        except BaseException:
            out.abort()
            raise
        n_present = int(renumber[-1]) + 1 if n_union else 0
        del renumber
        if n_present == 0:
            shutil.rmtree(tmp)
            return None
        pairs, counts = union.pairs, np.diff(union.pair_off)
        if n_present < n_union:  # series whose every sample is deleted
            pairs = pairs[np.repeat(keep, 2 * counts)]
            counts = counts[keep]
        pair_off = np.zeros(n_present + 1, dtype=np.int64)
        np.cumsum(counts, out=pair_off[1:])
        del keep, counts
        # Symbols no kept series uses are dropped; ids stay in the symbols' order.
        used = np.zeros(len(union.symbols), dtype=bool)
        used[pairs] = True
        remap = (np.cumsum(used) - 1).astype(np.int32)
        np.take(remap, pairs, out=pairs, mode="clip")  # in place, unbuffered (ids valid)
        symbols = [union.symbols[i] for i in np.flatnonzero(used).tolist()]
        del union, used, remap
        meta = BlockMeta(
            ulid,
            mint,
            maxt,
            int(layout.samples.sum()),
            n_present,
            len(layout.frame_off) - 1,
            level=max(p.meta.level for p in parents) + 1,
            sources=tuple(sorted({s for p in parents for s in p.meta.sources or (p.meta.ulid,)})),
            parents=tuple(p.meta.desc for p in parents),
        )
        return finish_block(tmp, meta, symbols, pairs, pair_off, layout)
    except CorruptionError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(f"cannot write merged block {ulid}: {err}") from err
