"""Immutable on-disk blocks: one time range, its series sorted by labels, compressed frames.

Layout of a block directory (byte layouts in ``docs/tsdb-format.md``)::

    <data>/<ULID>/meta.json        ulid, minTime, maxTime (ms, maxTime exclusive), stats
    <data>/<ULID>/index            symbols, series label pairs, per-series time bounds, frames
    <data>/<ULID>/chunks/000001    the frames, back to back
    <data>/<ULID>/tombstones       optional: deleted time ranges per series (JSON)

Blocks are immutable except for their tombstones, which ``delete_series`` replaces
atomically (tmp + rename); reads never return tombstoned samples.

A block is written into ``<ULID>.tmp`` and renamed into place, so a crash never leaves a
half-written block visible.
"""

from __future__ import annotations

import functools
import json
import logging
import mmap
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ulid import ULID

from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model.csr import gather_ranges, offsets_from_counts
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from kubeprom.tsdb.blockindex import (
    BlockIndex,
    mapping_of,
    postings_arrays,
    read_index,
    write_index,
)
from kubeprom.tsdb.blockmeta import BlockMeta, checked_meta
from kubeprom.tsdb.frames import (
    FRAME_TARGET_SAMPLES,
    FrameCache,
    FrameSet,
    Part,
    concat_parts,
    encode_frames,
)
from kubeprom.tsdb.postings import EMPTY_IDS
from kubeprom.tsdb.tombstones import Tombstones

log = logging.getLogger(__name__)

# Frames cover at most this much of a block's time range, as Prometheus' chunks hold 120
# samples (30 minutes at a 15 s interval): a query for the last few minutes decodes the
# frames of one slice, not every sample of every series it selects.
SLICE_MS = 30 * 60_000
CHUNKS_FILE = "chunks/000001"
TOMBSTONES_FILE = "tombstones"


# ---- writing -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SliceLayout:
    """Where a block's frames and series sit per time slice (``S`` slices): the index's
    ``slice_*`` and ``frame_*`` arrays, with series ids local to the block."""

    bounds: I64Array  # S + 1 times, ms
    frames: I64Array  # S + 1: slice s owns frames frames[s] .. frames[s+1]
    id_off: I64Array  # S + 1: slice s holds ids[id_off[s] .. id_off[s+1]]
    samples: I64Array  # S
    ids: I64Array
    mint: I64Array  # aligned with ids
    maxt: I64Array
    frame_bounds: I64Array  # F + 1 positions in ids
    frame_off: I64Array  # F + 1 byte offsets in the chunk file


def write_block(
    data_dir: str | os.PathLike[str],
    labels: Sequence[Labels],
    t: I64Array,
    v: F64Array,
    offsets: I64Array,
    *,
    min_time: int,
    max_time: int,
    frame_samples: int = FRAME_TARGET_SAMPLES,
) -> Path:
    """Write series (any order, each non-empty, ``t`` ascending) as a level-1 block; returns
    its dir. ``[min_time, max_time)`` is the block's range; every sample must fall inside it.
    """
    order = sorted(range(len(labels)), key=labels.__getitem__)
    labels = [labels[i] for i in order]
    slice_bounds = _slice_bounds(min_time, max_time)
    frames: list[bytes] = []
    frame_start, slice_frames, slice_id_off = [0], [0], [0]
    samples: list[int] = []
    ids_of: list[I64Array] = []
    mint_of: list[I64Array] = []
    maxt_of: list[I64Array] = []
    slices = _slices(t, v, offsets, np.asarray(order, dtype=np.int64), slice_bounds)
    for ids, st, sv, soff in slices:
        part_frames, bounds = encode_frames(st, sv, soff, frame_samples)
        frames += part_frames
        frame_start += (bounds[1:] + slice_id_off[-1]).tolist()
        slice_frames.append(len(frames))
        slice_id_off.append(slice_id_off[-1] + len(ids))
        samples.append(len(st))
        ids_of.append(ids)
        mint_of.append(st[soff[:-1]])
        maxt_of.append(st[soff[1:] - 1])
    frame_off = np.zeros(len(frames) + 1, dtype=np.int64)
    np.cumsum([len(f) for f in frames], out=frame_off[1:])
    layout = SliceLayout(
        bounds=slice_bounds,
        frames=np.asarray(slice_frames, dtype=np.int64),
        id_off=np.asarray(slice_id_off, dtype=np.int64),
        samples=np.array(samples, dtype=np.int64),
        ids=_concat(ids_of),
        mint=_concat(mint_of),
        maxt=_concat(maxt_of),
        frame_bounds=np.asarray(frame_start, dtype=np.int64),
        frame_off=frame_off,
    )
    ulid = str(ULID())
    tmp = Path(data_dir) / f"{ulid}.tmp"
    (tmp / "chunks").mkdir(parents=True)
    _write_synced(tmp / CHUNKS_FILE, b"".join(frames))
    meta = BlockMeta(ulid, min_time, max_time, int(offsets[-1]), len(labels), len(frames))
    symbols = sorted({s for lab in labels for s in lab.flat})
    sym_id = {s: i for i, s in enumerate(symbols)}
    pairs = np.fromiter((sym_id[s] for lab in labels for s in lab.flat), dtype=np.int32)
    pair_off = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum([len(lab) for lab in labels], out=pair_off[1:])
    return finish_block(tmp, meta, [s.encode() for s in symbols], pairs, pair_off, layout)


def finish_block(
    tmp: Path,
    meta: BlockMeta,
    encoded_syms: Sequence[bytes],
    pairs: np.ndarray,
    pair_off: I64Array,
    layout: SliceLayout,
) -> Path:
    """Write the index and meta.json of a block whose chunk file is in ``tmp`` (named
    ``<meta.ulid>.tmp``, chunk file synced), then rename it into place; returns its dir.

    ``encoded_syms`` are the symbols (UTF-8, sorted); series ``i`` (in label order) has the
    label pairs ``pairs[2 * pair_off[i] : 2 * pair_off[i + 1]]`` (int32 symbol ids) and a
    sample in some slice.
    """
    n = len(pair_off) - 1
    series_mint = np.full(n, MAX_TIME, dtype=np.int64)
    series_maxt = np.full(n, MIN_TIME, dtype=np.int64)
    np.minimum.at(series_mint, layout.ids, layout.mint)
    np.maximum.at(series_maxt, layout.ids, layout.maxt)
    sym_len = np.fromiter((len(b) for b in encoded_syms), dtype=np.int32, count=len(encoded_syms))
    write_index(
        tmp / "index",
        {
            "symbol_len": sym_len,
            "symbol_off": np.append(0, np.cumsum(sym_len, dtype=np.int64)),
            "symbol_data": np.frombuffer(b"".join(encoded_syms), dtype=np.uint8),
            "series_pairs": pairs,
            "series_pair_off": pair_off,
            "series_mint": series_mint,
            "series_maxt": series_maxt,
            "slice_bounds": layout.bounds,
            "slice_frames": layout.frames,
            "slice_id_off": layout.id_off,
            "slice_samples": layout.samples,
            "slice_ids": layout.ids,
            "slice_mint": layout.mint,
            "slice_maxt": layout.maxt,
            "frame_bounds": layout.frame_bounds,
            "frame_off": layout.frame_off,
            **postings_arrays(pairs, pair_off),
        },
    )
    _write_synced(tmp / "meta.json", json.dumps(meta.to_json(), indent=1).encode())
    final = tmp.with_name(meta.ulid)
    os.rename(tmp, final)
    _fsync_dir(tmp.parent)
    return final


def _slice_bounds(min_time: int, max_time: int) -> I64Array:
    """The block's time slices: ``SLICE_MS`` apart from ``min_time``, the last one ending
    at ``max_time`` (``S + 1`` times, ms)."""
    n_slices = max(1, -(-(max_time - min_time) // SLICE_MS))
    bounds = min_time + SLICE_MS * np.arange(n_slices + 1, dtype=np.int64)
    bounds[-1] = max(int(bounds[-1]), max_time)
    return bounds


def _slices(
    t: I64Array, v: F64Array, offsets: I64Array, order: I64Array, bounds: I64Array
) -> Iterator[tuple[I64Array, I64Array, F64Array, I64Array]]:
    """Per time slice, the series with samples in it (ids are positions in ``order``, the
    series in label order) and those samples in CSR layout; samples before the first slice
    go to it, those after the last to the last. One slice at a time, gathered straight
    from the input: cutting a head block costs one slice's samples beside the input, not
    sorted copies of every sample."""
    if t.size == 0:
        yield np.arange(len(order), dtype=np.int64), t, v, offsets
        return
    starts, counts = offsets[:-1][order], np.diff(offsets)[order]
    lo = np.zeros(len(order), dtype=np.int64)  # per series, samples before this slice
    for k in range(len(bounds) - 1):
        if k + 2 < len(bounds):
            before = np.zeros(t.size + 1, dtype=np.int64)
            np.cumsum(t < bounds[k + 1], out=before[1:])
            hi = (before[offsets[1:]] - before[offsets[:-1]])[order]
            del before
        else:
            hi = counts
        lengths = hi - lo
        ids = np.flatnonzero(lengths)
        if ids.size == 0:  # a gap in the data: the slice keeps its place, without frames
            yield EMPTY_IDS, EMPTY_IDS, np.empty(0), np.zeros(1, dtype=np.int64)
        else:
            idx = gather_ranges(starts[ids] + lo[ids], lengths[ids])
            yield ids, t[idx], v[idx], offsets_from_counts(lengths[ids])
        lo = hi


def _concat(arrays: list[I64Array]) -> I64Array:
    return np.concatenate(arrays).astype(np.int64) if arrays else EMPTY_IDS


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- reading -------------------------------------------------------------------------------
def _release_pages(arrays: dict[str, np.ndarray]) -> None:
    """Drop the index pages the open-time checks touched from the process' resident set
    (they stay in the page cache): an idle block's index then costs no resident memory."""
    mm = mapping_of(arrays["series_pairs"])
    if mm is not None:
        mm.madvise(mmap.MADV_DONTNEED)


def _read_tombstones(path: Path) -> Tombstones:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Tombstones()
    except OSError as err:
        raise CorruptionError(f"cannot read tombstones: {err}", path=str(path)) from err
    try:
        return Tombstones.from_json(data)
    except (ValueError, TypeError, KeyError) as err:
        raise CorruptionError(f"malformed tombstones: {err}", path=str(path)) from err


class Block:
    """A read-only block. Labels and postings are built lazily on first use."""

    def __init__(
        self,
        path: Path,
        meta: BlockMeta,
        arrays: dict[str, np.ndarray],
        cache: FrameCache | None = None,
    ) -> None:
        self.path = path
        self.meta = meta
        self.closed = False
        # Read first: a bad file then raises before the chunk file is opened.
        self.tombstones = _read_tombstones(path / TOMBSTONES_FILE)
        self._chunks_path = path / CHUNKS_FILE
        try:
            self._file = open(self._chunks_path, "rb")  # noqa: SIM115 (held open for the mmap)
        except OSError as err:
            raise CorruptionError(
                f"cannot open chunk file: {err}", path=str(self._chunks_path)
            ) from err
        size = os.fstat(self._file.fileno()).st_size
        self._frame_off = arrays["frame_off"]
        if size < int(self._frame_off[-1]):
            self._file.close()
            raise CorruptionError(
                f"chunk file has {size} bytes, index expects {int(self._frame_off[-1])}",
                path=str(self._chunks_path),
            )
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self.index = BlockIndex(arrays, meta.num_series)
        # Version 1 indexes do not count samples per slice (their one slice has -1).
        self.slices_counted = bool(np.all(arrays["slice_samples"] >= 0))
        self.series_mint: I64Array = arrays["series_mint"]
        self.series_maxt: I64Array = arrays["series_maxt"]
        # One FrameSet per time slice: (slice start, slice end exclusive, frames).
        self.slices: list[tuple[int, int, FrameSet]] = []
        bounds, sf, so = arrays["slice_bounds"], arrays["slice_frames"], arrays["slice_id_off"]
        frame_start = arrays["frame_bounds"]
        for k in range(len(bounds) - 1):
            a, b = int(so[k]), int(so[k + 1])
            f0, f1 = int(sf[k]), int(sf[k + 1])
            if a == b:
                continue
            fs = FrameSet(
                ids=arrays["slice_ids"][a:b],
                series_mint=arrays["slice_mint"][a:b],
                series_maxt=arrays["slice_maxt"][a:b],
                frame_bounds=frame_start[f0 : f1 + 1] - a,
                load_frame=functools.partial(self._load_frame_from, f0),
                first_frame=f0,
                num_samples=max(int(arrays["slice_samples"][k]), 0) or meta.num_samples,
                cache=cache,
            )
            self.slices.append((int(bounds[k]), int(bounds[k + 1]), fs))
        # The most series one time slice holds: what a query over recent data of this block
        # decodes at most (a merged block's series are many, but not all at once).
        self.slice_series = max((len(fs.ids) for _, _, fs in self.slices), default=0)

    @classmethod
    def open(cls, path: str | os.PathLike[str], cache: FrameCache | None = None) -> Block:
        """Open a block directory; raises CorruptionError naming the bad file."""
        p = Path(path)
        meta_path = p / "meta.json"
        try:
            meta = BlockMeta.from_json(json.loads(meta_path.read_bytes()), str(meta_path))
        except (OSError, ValueError) as err:
            raise CorruptionError(f"cannot read block meta: {err}", path=str(meta_path)) from err
        arrays = read_index(p / "index")
        meta = checked_meta(meta, arrays, str(meta_path))
        block = cls(p, meta, arrays, cache)
        _release_pages(arrays)
        return block

    def raw_frame(self, i: int) -> bytes:
        """Frame ``i`` of the chunk file as stored (compaction copies it as it is)."""
        return self._load_frame(i)

    def release_pages(self) -> None:
        """Drop this block's mapped pages (chunk file and index) from the process' resident
        set; they stay in the page cache and come back on the next read. For a bulk reader
        (a merge) that reads every frame once."""
        for mm in (self._mm, mapping_of(self.index.pairs)):
            if mm is not None and not mm.closed:
                mm.madvise(mmap.MADV_DONTNEED)

    def _load_frame_from(self, first: int, i: int) -> bytes:
        return self._load_frame(first + i)

    def _load_frame(self, i: int) -> bytes:
        a, b = int(self._frame_off[i]), int(self._frame_off[i + 1])
        mm = self._mm
        try:
            if mm is None:  # an empty chunks file, or a block closed under a reader
                raise ValueError("mmap closed or invalid")
            return mm[a:b]
        except ValueError as err:  # closed by another thread since the check
            raise CorruptionError(
                f"frame {i} is not in the (empty or closed) chunks file",
                path=str(self._chunks_path),
            ) from err

    def read(self, ids: I64Array, mint: int, maxt: int, *, cached: bool = True) -> Part:
        """Samples of ``ids`` (sorted) in ``[mint, maxt]``, without deleted ones
        (``cached=False``: a bulk read, e.g. compaction, that leaves the frame cache alone).

        A chunk frame that fails its checksum raises :class:`CorruptionError` naming the
        chunk file and the frame, and is quarantined: later reads serve the rest of the
        block without it (:meth:`quarantine_notes` says what they leave out).
        """
        try:
            parts = [
                fs.read(ids, mint, maxt, cached=cached)
                for lo, hi, fs in self.slices
                if lo <= maxt and hi > mint
            ]
        except CorruptionError as err:
            wrapped = CorruptionError(err.message, path=str(self._chunks_path))
            if not self.closed:
                log.error("corrupt chunk frame quarantined block=%s err=%s", self.path, wrapped)
            raise wrapped from err
        return self.tombstones.apply(concat_parts(parts))

    def quarantine_notes(self, ids: I64Array, mint: int, maxt: int) -> list[str]:
        """One warning per quarantined frame that a read of ``ids`` in the range leaves out."""
        return [
            f"{self._chunks_path}: {fs.quarantined[f]}; its samples are left out (quarantined)"
            for lo, hi, fs in self.slices
            if lo <= maxt and hi > mint
            for f in fs.quarantined_in(ids, mint, maxt)
        ]

    def delete_series(self, ids: I64Array, mint: int, maxt: int) -> int:
        """Delete ``[mint, maxt]`` (inclusive, ms) of series ``ids`` by adding tombstones.

        Only series with samples in the range get one, clamped to their own time range, as
        Prometheus does. The tombstones file is replaced atomically before this returns;
        returns the number of series tombstoned. Raises StorageError on I/O failure.
        """
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < self.meta.num_series)]
        ids = ids[(self.series_maxt[ids] >= mint) & (self.series_mint[ids] <= maxt)]
        if ids.size == 0:
            return 0
        lows = np.maximum(self.series_mint[ids], mint)
        highs = np.minimum(self.series_maxt[ids], maxt)
        stones = self.tombstones.add(ids, lows, highs)
        tmp = self.path / f"{TOMBSTONES_FILE}.tmp"
        try:
            _write_synced(tmp, stones.to_json())
            os.replace(tmp, self.path / TOMBSTONES_FILE)
            _fsync_dir(self.path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write tombstones of block {self.path}: {err}") from err
        self.tombstones = stones
        return int(ids.size)

    # ---- labels and postings (kubeprom.tsdb.blockindex) ----------------------------------------
    def labels(self, i: int) -> Labels:
        return self.index.labels(i)

    def labels_list(self, ids: Sequence[int]) -> list[Labels]:
        return self.index.labels_list(ids)

    def all_ids(self) -> I64Array:
        return np.arange(self.meta.num_series, dtype=np.int64)

    def label_values_of(self, name: str) -> Sequence[str]:
        return self.index.label_values_of(name)

    def postings(self, name: str, value: str) -> I64Array:
        return self.index.postings(name, value)

    def postings_matching(self, name: str, accept: Callable[[str], bool]) -> I64Array:
        return self.index.postings_matching(name, accept)

    def label_names(self) -> list[str]:
        return self.index.label_names()

    @property
    def index_memory_bytes(self) -> int:
        """What the open block keeps in the heap of its index: arrays not mapped from the
        file (old index versions), decoded symbols and the label-set cache's table (not the
        label sets it fills lazily)."""
        return self.index.heap_bytes

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def close(self) -> None:
        self.closed = True
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._file.close()

    def delete(self) -> None:
        self.close()
        shutil.rmtree(self.path)
