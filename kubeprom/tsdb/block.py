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
    encode_frames,
)
from kubeprom.tsdb.postings import EMPTY_IDS
from kubeprom.tsdb.tombstones import Tombstones

log = logging.getLogger(__name__)

INDEX_MAGIC = b"KPIX"
INDEX_VERSION = 1
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
    problems = [
        what
        for what, ok in (
            ("series pair offsets", _ascending_from_zero(pair_off)),
            ("frame offsets", _ascending_from_zero(frame_off)),
            ("frame bounds", _ascending_from_zero(frame_bounds)),
            ("frame count", len(frame_bounds) == n_frames + 1),
            ("series count", len(mint) == len(maxt) == n_series),
            ("frame bounds end", frame_bounds.size > 0 and int(frame_bounds[-1]) == n_series),
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
    if magic != INDEX_MAGIC or version != INDEX_VERSION:
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
    frames, bounds = encode_frames(t, v, offsets, frame_samples)

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
            "frame_bounds": bounds,
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
        ids = np.arange(meta.num_series, dtype=np.int64)
        self.frames = FrameSet(
            ids=ids,
            series_mint=arrays["series_mint"],
            series_maxt=arrays["series_maxt"],
            frame_bounds=arrays["frame_bounds"],
            load_frame=self._load_frame,
            num_samples=meta.num_samples,
            cache=cache,
        )

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

    def read(self, ids: I64Array, mint: int, maxt: int) -> Part:
        """Samples of ``ids`` (sorted) in ``[mint, maxt]``, without deleted ones.

        A chunk frame that fails its checksum raises :class:`CorruptionError` naming the
        chunk file and the frame, and is quarantined: later reads serve the rest of the
        block without it (:meth:`quarantine_notes` says what they leave out).
        """
        try:
            part = self.frames.read(ids, mint, maxt)
        except CorruptionError as err:
            wrapped = CorruptionError(err.message, path=str(self._chunks_path))
            if not self.closed:
                log.error("corrupt chunk frame quarantined block=%s err=%s", self.path, wrapped)
            raise wrapped from err
        return self.tombstones.apply(part)

    def quarantine_notes(self, ids: I64Array, mint: int, maxt: int) -> list[str]:
        """One warning per quarantined frame that a read of ``ids`` in the range leaves out."""
        quarantined = self.frames.quarantined
        return [
            f"{self._chunks_path}: {quarantined[f]}; its samples are left out (quarantined)"
            for f in self.frames.quarantined_in(ids, mint, maxt)
        ]

    def delete_series(self, ids: I64Array, mint: int, maxt: int) -> int:
        """Delete ``[mint, maxt]`` (inclusive, ms) of series ``ids`` by adding tombstones.

        Only series with samples in the range get one, clamped to their own time range, as
        Prometheus does. The tombstones file is replaced atomically before this returns;
        returns the number of series tombstoned. Raises StorageError on I/O failure.
        """
        fs = self.frames
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < self.meta.num_series)]
        ids = ids[(fs.series_maxt[ids] >= mint) & (fs.series_mint[ids] <= maxt)]
        if ids.size == 0:
            return 0
        lows = np.maximum(fs.series_mint[ids], mint)
        highs = np.minimum(fs.series_maxt[ids], maxt)
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
        return [self.labels(i) for i in ids]

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
        return self.frames.ids

    def label_values_of(self, name: str) -> Sequence[str]:
        return list(self._get_postings().get(name, ()))

    def postings(self, name: str, value: str) -> I64Array:
        return self._get_postings().get(name, {}).get(value, EMPTY_IDS)

    def label_names(self) -> list[str]:
        return sorted(self._get_postings())

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
