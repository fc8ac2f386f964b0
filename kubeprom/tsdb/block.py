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

import dataclasses
import functools
import json
import logging
import mmap
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard
from ulid import ULID

from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model.csr import take_segments
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
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

INDEX_MAGIC = b"KPIX"
INDEX_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1: one slice covering the whole block
# Frames cover at most this much of a block's time range, as Prometheus' chunks hold 120
# samples (30 minutes at a 15 s interval): a query for the last few minutes decodes the
# frames of one slice, not every sample of every series it selects.
SLICE_MS = 30 * 60_000
META_VERSION = 1
CHUNKS_FILE = "chunks/000001"
TOMBSTONES_FILE = "tombstones"
_HEADER = struct.Struct("<4sBI")  # magic, version, crc32 of the compressed payload


@dataclass(frozen=True, slots=True)
class BlockMeta:
    ulid: str
    min_time: int  # inclusive, ms
    max_time: int  # exclusive, ms (Prometheus' convention for block ranges)
    num_samples: int
    num_series: int
    num_frames: int

    def to_json(self) -> dict[str, object]:
        return {
            "ulid": self.ulid,
            "minTime": self.min_time,
            "maxTime": self.max_time,
            "stats": {
                "numSamples": self.num_samples,
                "numSeries": self.num_series,
                "numFrames": self.num_frames,
            },
            "version": META_VERSION,
        }

    @classmethod
    def from_json(cls, d: dict[str, object], path: str) -> BlockMeta:
        try:
            stats = d["stats"]
            if not isinstance(stats, dict):
                raise TypeError(f"stats is {type(stats).__name__}, not an object")
            return cls(
                ulid=str(d["ulid"]),
                min_time=int(d["minTime"]),  # type: ignore[call-overload]
                max_time=int(d["maxTime"]),  # type: ignore[call-overload]
                num_samples=int(stats["numSamples"]),
                num_series=int(stats["numSeries"]),
                num_frames=int(stats["numFrames"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise CorruptionError(f"invalid meta.json: {err}", path=path) from err


_INDEX_ARRAYS = (
    "symbol_len",
    "symbol_data",
    "series_pairs",
    "series_pair_off",
    "series_mint",
    "series_maxt",
    "frame_bounds",
    "frame_off",
    "slice_bounds",
    "slice_frames",
    "slice_id_off",
    "slice_samples",
    "slice_ids",
    "slice_mint",
    "slice_maxt",
)


def _ascending_from_zero(a: np.ndarray) -> bool:
    return bool(a.size) and int(a[0]) == 0 and bool(np.all(np.diff(a) >= 0))


def checked_meta(meta: BlockMeta, arrays: dict[str, np.ndarray], path: str) -> BlockMeta:
    """``meta`` checked against the index before anything is sized by it.

    The index has a checksum and meta.json has none, so counts come from the index: a
    meta.json claiming other counts is logged and corrected (``numSeries: 1e9`` must not
    allocate a billion entries). A time range that is empty, outside int64, or that does not
    hold the index's series raises :class:`CorruptionError`, as does an index whose arrays
    do not fit together.
    """
    missing = [name for name in _INDEX_ARRAYS if name not in arrays]
    if missing:
        raise CorruptionError(f"index lacks arrays {missing}", path=path)
    pair_off, frame_bounds = arrays["series_pair_off"], arrays["frame_bounds"]
    frame_off, pairs = arrays["frame_off"], arrays["series_pairs"]
    n_series, n_frames = len(pair_off) - 1, len(frame_off) - 1
    mint, maxt = arrays["series_mint"], arrays["series_maxt"]
    symbols = arrays["symbol_len"]
    in_symbols = pairs.size == 0 or 0 <= int(pairs.min()) <= int(pairs.max()) < len(symbols)
    # Time slices: each holds a run of frames over a subset of the series (version 1 reads
    # as one slice over every series).
    slice_frames, slice_id_off = arrays["slice_frames"], arrays["slice_id_off"]
    bounds = arrays["slice_bounds"]  # MIN_TIME..MAX_TIME for version 1: no np.diff (overflow)
    slice_ids, n_slices = arrays["slice_ids"], len(bounds) - 1
    in_series = slice_ids.size == 0 or 0 <= int(slice_ids.min()) <= int(slice_ids.max()) < n_series
    problems = [
        what
        for what, ok in (
            ("series pair offsets", _ascending_from_zero(pair_off)),
            ("frame offsets", _ascending_from_zero(frame_off)),
            ("frame bounds", _ascending_from_zero(frame_bounds)),
            ("frame count", len(frame_bounds) == n_frames + 1),
            ("series count", len(mint) == len(maxt) == n_series),
            ("frame bounds end", frame_bounds.size > 0 and int(frame_bounds[-1]) == slice_ids.size),
            ("slice bounds", n_slices >= 1 and bool(np.all(bounds[1:] > bounds[:-1]))),
            (
                "slice frames",
                _ascending_from_zero(slice_frames)
                and len(slice_frames) == n_slices + 1
                and int(slice_frames[-1]) == n_frames,
            ),
            (
                "slice series",
                _ascending_from_zero(slice_id_off)
                and len(slice_id_off) == n_slices + 1
                and int(slice_id_off[-1]) == slice_ids.size
                and in_series,
            ),
            (
                "slice times",
                len(arrays["slice_mint"]) == len(arrays["slice_maxt"]) == slice_ids.size,
            ),
            ("slice samples", len(arrays["slice_samples"]) == n_slices),
            ("label pairs", pair_off.size > 0 and 2 * int(pair_off[-1]) == len(pairs)),
            ("symbols", in_symbols),
            ("symbol lengths", bool(np.all(symbols >= 0))),
            ("symbol data", int(symbols.sum()) == len(arrays["symbol_data"])),
        )
        if not ok
    ]
    if problems:
        raise CorruptionError(f"inconsistent index: {', '.join(problems)}", path=path)
    if not MIN_TIME < meta.min_time < meta.max_time <= MAX_TIME:
        raise CorruptionError(
            f"invalid meta.json: time range [{meta.min_time}, {meta.max_time}) is empty or "
            "outside int64",
            path=path,
        )
    if n_series and (int(mint.min()) < meta.min_time or int(maxt.max()) >= meta.max_time):
        raise CorruptionError(
            f"invalid meta.json: samples from {int(mint.min())} to {int(maxt.max())} lie "
            f"outside the block's range [{meta.min_time}, {meta.max_time})",
            path=path,
        )
    if meta.num_samples < 0:
        raise CorruptionError(f"invalid meta.json: numSamples {meta.num_samples} < 0", path=path)
    if (meta.num_series, meta.num_frames) != (n_series, n_frames):
        log.warning(
            "meta.json counts disagree with the index, using the index's file=%s "
            "num_series=%d index_series=%d num_frames=%d index_frames=%d",
            path,
            meta.num_series,
            n_series,
            meta.num_frames,
            n_frames,
        )
        meta = dataclasses.replace(meta, num_series=n_series, num_frames=n_frames)
    return meta


# ---- array container used by the index file ------------------------------------------------
def _pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    header = {k: [a.dtype.str, int(a.size)] for k, a in arrays.items()}
    head = json.dumps(header).encode()
    body = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values())
    payload = zstandard.ZstdCompressor(level=3).compress(struct.pack("<I", len(head)) + head + body)
    return _HEADER.pack(INDEX_MAGIC, INDEX_VERSION, zlib.crc32(payload)) + payload


def _unpack_arrays(data: bytes, path: str) -> dict[str, np.ndarray]:
    if len(data) < _HEADER.size:
        raise CorruptionError("truncated index header", path=path)
    magic, version, crc = _HEADER.unpack_from(data)
    if magic != INDEX_MAGIC or version not in _READABLE_VERSIONS:
        raise CorruptionError(
            f"not a kubeprom index (magic {magic!r}, version {version})", path=path
        )
    payload = data[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise CorruptionError("index checksum mismatch", path=path)
    raw = zstandard.ZstdDecompressor().decompress(payload)
    (hlen,) = struct.unpack_from("<I", raw)
    header = json.loads(raw[4 : 4 + hlen])
    out: dict[str, np.ndarray] = {}
    pos = 4 + hlen
    for name, (dtype, size) in header.items():
        dt = np.dtype(dtype)
        out[name] = np.frombuffer(raw, dtype=dt, count=size, offset=pos)
        pos += dt.itemsize * size
    if version == 1:
        # One slice: every series, frames as they were.
        n = int(out["series_mint"].size)
        out["slice_bounds"] = np.array([MIN_TIME, MAX_TIME], dtype=np.int64)
        out["slice_frames"] = np.array([0, int(out["frame_bounds"].size) - 1], dtype=np.int64)
        out["slice_id_off"] = np.array([0, n], dtype=np.int64)
        out["slice_ids"] = np.arange(n, dtype=np.int64)
        out["slice_mint"], out["slice_maxt"] = out["series_mint"], out["series_maxt"]
        out["slice_samples"] = np.array([-1], dtype=np.int64)  # unknown; meta.json has it
    return out


# ---- writing -------------------------------------------------------------------------------
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
    """Write series (any order, each non-empty, ``t`` ascending) as a block; returns its dir.

    ``[min_time, max_time)`` is the block's range; every sample must fall inside it.
    """
    order = sorted(range(len(labels)), key=labels.__getitem__)
    labels = [labels[i] for i in order]
    t, v, offsets = take_segments(t, v, offsets, np.asarray(order, dtype=np.int64))
    slices = _slice(t, v, offsets, min_time, max_time)
    frames: list[bytes] = []
    frame_start, slice_frames, slice_id_off = [0], [0], [0]
    for ids, st, sv, soff in slices.parts:
        part_frames, bounds = encode_frames(st, sv, soff, frame_samples)
        frames += part_frames
        frame_start += (bounds[1:] + slice_id_off[-1]).tolist()
        slice_frames.append(len(frames))
        slice_id_off.append(slice_id_off[-1] + len(ids))

    symbols = sorted({s for lab in labels for s in lab.flat})
    sym_id = {s: i for i, s in enumerate(symbols)}
    encoded_syms = [s.encode() for s in symbols]
    pairs = np.fromiter((sym_id[s] for lab in labels for s in lab.flat), dtype=np.int32)
    pair_off = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum([len(lab) for lab in labels], out=pair_off[1:])
    frame_off = np.zeros(len(frames) + 1, dtype=np.int64)
    np.cumsum([len(f) for f in frames], out=frame_off[1:])
    index = _pack_arrays(
        {
            "symbol_len": np.fromiter((len(b) for b in encoded_syms), dtype=np.int32),
            "symbol_data": np.frombuffer(b"".join(encoded_syms), dtype=np.uint8),
            "series_pairs": pairs,
            "series_pair_off": pair_off,
            "series_mint": t[offsets[:-1]] if len(labels) else EMPTY_IDS,
            "series_maxt": t[offsets[1:] - 1] if len(labels) else EMPTY_IDS,
            "slice_bounds": slices.bounds,
            "slice_frames": np.asarray(slice_frames, dtype=np.int64),
            "slice_id_off": np.asarray(slice_id_off, dtype=np.int64),
            "slice_samples": np.array([len(p[1]) for p in slices.parts], dtype=np.int64),
            "slice_ids": _concat([p[0] for p in slices.parts]),
            "slice_mint": _concat([p[1][p[3][:-1]] for p in slices.parts]),
            "slice_maxt": _concat([p[1][p[3][1:] - 1] for p in slices.parts]),
            "frame_bounds": np.asarray(frame_start, dtype=np.int64),
            "frame_off": frame_off,
        }
    )

    ulid = str(ULID())
    final = Path(data_dir) / ulid
    tmp = Path(data_dir) / f"{ulid}.tmp"
    (tmp / "chunks").mkdir(parents=True)
    _write_synced(tmp / CHUNKS_FILE, b"".join(frames))
    _write_synced(tmp / "index", index)
    meta = BlockMeta(ulid, min_time, max_time, int(offsets[-1]), len(labels), len(frames))
    _write_synced(tmp / "meta.json", json.dumps(meta.to_json(), indent=1).encode())
    os.rename(tmp, final)
    _fsync_dir(Path(data_dir))
    return final


@dataclass(frozen=True, slots=True)
class _Slices:
    """A block's samples cut into time slices: ``bounds`` (``S + 1`` times, ms) and per
    slice the ids of the series with samples in it and those samples in CSR layout."""

    bounds: I64Array
    parts: list[tuple[I64Array, I64Array, F64Array, I64Array]]


def _slice(t: I64Array, v: F64Array, offsets: I64Array, min_time: int, max_time: int) -> _Slices:
    """Cut every series at the ``SLICE_MS`` boundaries after ``min_time``."""
    n_slices = max(1, -(-(max_time - min_time) // SLICE_MS))
    bounds = min_time + SLICE_MS * np.arange(n_slices + 1, dtype=np.int64)
    bounds[-1] = max(int(bounds[-1]), max_time)
    counts = np.diff(offsets)
    if n_slices == 1 or t.size == 0:
        return _Slices(bounds, [(np.arange(len(counts), dtype=np.int64), t, v, offsets)])
    which = np.clip((t - min_time) // SLICE_MS, 0, n_slices - 1)
    series = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    # Stable by slice, so each slice keeps series order and, inside a series, time order.
    order = np.argsort(which.astype(np.uint16), kind="stable")
    which, series, t, v = which[order], series[order], t[order], v[order]
    slice_start = np.searchsorted(which, np.arange(n_slices + 1))
    parts = []
    for k in range(n_slices):
        a, b = int(slice_start[k]), int(slice_start[k + 1])
        if a == b:  # a gap in the data: the slice keeps its place, without frames
            parts.append((EMPTY_IDS, EMPTY_IDS, np.empty(0), np.zeros(1, dtype=np.int64)))
            continue
        ids, first = np.unique(series[a:b], return_index=True)
        parts.append((ids, t[a:b], v[a:b], np.append(first, b - a).astype(np.int64)))
    return _Slices(bounds, parts)


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
        self._arrays_nbytes = sum(int(a.nbytes) for a in arrays.values())
        if size < int(self._frame_off[-1]):
            self._file.close()
            raise CorruptionError(
                f"chunk file has {size} bytes, index expects {int(self._frame_off[-1])}",
                path=str(self._chunks_path),
            )
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        lens = arrays["symbol_len"].astype(np.int64)
        data = arrays["symbol_data"].tobytes()
        ends = np.cumsum(lens).tolist()
        starts = [0, *ends[:-1]]
        self._symbols = [sys.intern(data[a:b].decode()) for a, b in zip(starts, ends, strict=True)]
        self._pairs = arrays["series_pairs"]
        self._pair_off = arrays["series_pair_off"]
        self._labels: list[Labels | None] = [None] * meta.num_series
        self._postings: dict[str, dict[str, I64Array]] | None = None
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

    @classmethod
    def open(cls, path: str | os.PathLike[str], cache: FrameCache | None = None) -> Block:
        """Open a block directory; raises CorruptionError naming the bad file."""
        p = Path(path)
        meta_path = p / "meta.json"
        try:
            meta = BlockMeta.from_json(json.loads(meta_path.read_bytes()), str(meta_path))
        except (OSError, ValueError) as err:
            raise CorruptionError(f"cannot read block meta: {err}", path=str(meta_path)) from err
        index_path = p / "index"
        try:
            data = index_path.read_bytes()
        except OSError as err:
            raise CorruptionError(f"cannot read index: {err}", path=str(index_path)) from err
        try:
            arrays = _unpack_arrays(data, str(index_path))
        except (zstandard.ZstdError, ValueError, KeyError, TypeError, struct.error) as err:
            raise CorruptionError(f"malformed index: {err}", path=str(index_path)) from err
        return cls(p, checked_meta(meta, arrays, str(meta_path)), arrays, cache)

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

    # ---- labels and postings ------------------------------------------------------------------
    def labels(self, i: int) -> Labels:
        lab = self._labels[i]
        if lab is None:
            a, b = int(self._pair_off[i]), int(self._pair_off[i + 1])
            sym = self._symbols
            lab = Labels.from_flat(tuple(sym[s] for s in self._pairs[2 * a : 2 * b].tolist()))
            self._labels[i] = lab
        return lab

    def labels_list(self, ids: Sequence[int]) -> list[Labels]:
        known = self._labels
        return [lab if (lab := known[i]) is not None else self.labels(i) for i in ids]

    def _build_postings(self) -> dict[str, dict[str, I64Array]]:
        names = self._pairs[0::2]
        values = self._pairs[1::2]
        series = np.repeat(np.arange(self.meta.num_series), np.diff(self._pair_off))
        order = np.lexsort((series, values, names))
        names, values, series = names[order], values[order], series[order]
        cut = np.flatnonzero((np.diff(names) != 0) | (np.diff(values) != 0)) + 1
        starts = np.r_[0, cut].tolist()
        ends = np.r_[cut, len(series)].tolist()
        out: dict[str, dict[str, I64Array]] = {}
        sym = self._symbols
        for a, b, n, v in zip(
            starts, ends, names[starts].tolist(), values[starts].tolist(), strict=True
        ):
            out.setdefault(sym[n], {})[sym[v]] = series[a:b]
        return out

    def _get_postings(self) -> dict[str, dict[str, I64Array]]:
        if self._postings is None:
            self._postings = self._build_postings() if self.meta.num_series else {}
        return self._postings

    def all_ids(self) -> I64Array:
        return np.arange(self.meta.num_series, dtype=np.int64)

    def label_values_of(self, name: str) -> Sequence[str]:
        return list(self._get_postings().get(name, ()))

    def postings(self, name: str, value: str) -> I64Array:
        return self._get_postings().get(name, {}).get(value, EMPTY_IDS)

    def label_names(self) -> list[str]:
        return sorted(self._get_postings())

    @property
    def index_memory_bytes(self) -> int:
        """What the open block keeps in memory of its index: the index arrays, the symbol
        strings and the label-set cache's list (not the label sets it fills lazily)."""
        symbols = sum(sys.getsizeof(sym) for sym in self._symbols)
        return (
            self._arrays_nbytes
            + symbols
            + sys.getsizeof(self._symbols)
            + sys.getsizeof(self._labels)
        )

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
