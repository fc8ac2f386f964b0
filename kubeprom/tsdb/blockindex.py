"""A block's index file: its arrays on disk, and label lookups over them without a heap copy.

Version 3 (written now) stores the arrays uncompressed and 8-byte aligned, so an open block
maps the file and every array is a view of the mapping: the index is page cache, not heap,
and a block nobody queries costs a few kilobytes of Python objects whatever its size (as
Prometheus maps its index files). Postings are stored too (series ids per label pair, sorted
by name and value), so resolving matchers binary-searches the mapped arrays instead of
building a dictionary per block. Versions 1 and 2 (one zstd frame) are still read; their
arrays are decompressed into the heap and their postings derived once, as before.

Byte layouts are in ``docs/tsdb-format.md``.
"""

from __future__ import annotations

import bisect
import itertools
import json
import mmap
import os
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import zstandard

from kubeprom.errors import CorruptionError
from kubeprom.model.csr import gather_ranges
from kubeprom.model.labels import Labels
from kubeprom.model.samples import I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from kubeprom.tsdb.postings import EMPTY_IDS

INDEX_MAGIC = b"KPIX"
INDEX_VERSION = 3
MAPPED_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)  # 1: one slice over the whole block; 1-2: zstd, no postings
_HEADER = struct.Struct("<4sBI")  # magic, version, crc32 of everything after the header
_ALIGN = 8

INDEX_ARRAYS = (
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
# Version 3 adds these: symbol offsets (so a symbol is found without a cumsum in the heap)
# and the postings, keyed by (name symbol << 32 | value symbol), ascending.
POSTINGS_ARRAYS = ("symbol_off", "postings_key", "postings_off", "postings_ids")


def postings_arrays(pairs: np.ndarray, pair_off: np.ndarray) -> dict[str, np.ndarray]:
    """The stored postings of series whose label pairs are ``pairs`` (name, value symbol ids,
    flattened) split by ``pair_off``: keys ascending, each key's series ascending.

    One stable sort of the names, then name by name (a series has each name once): the
    work arrays are the pairs' positions and one name's pairs, not several sorted copies of
    every pair (a block merge at churn series counts writes millions)."""
    names, values = pairs[0::2], pairs[1::2]
    by_name = np.argsort(names, kind="stable")  # pair positions, by name, then by series
    sorted_names = names[by_name]
    cuts = np.flatnonzero(sorted_names[1:] != sorted_names[:-1]) + 1
    keys: list[np.ndarray] = []
    offs: list[np.ndarray] = []
    ids = np.empty(names.size, dtype=np.int32)
    bounds = [0, *cuts.tolist(), int(names.size)] if names.size else []
    for a, b in itertools.pairwise(bounds):
        at = by_name[a:b]
        vals = values[at]
        order = np.argsort(vals, kind="stable")  # stable: series stay ascending
        vals = vals[order]
        first = np.flatnonzero(np.r_[True, vals[1:] != vals[:-1]])
        keys.append((int(sorted_names[a]) << 32) | vals[first].astype(np.int64))
        offs.append(first + a)
        ids[a:b] = np.searchsorted(pair_off, at[order], side="right") - 1
    return {
        "postings_key": np.concatenate(keys) if keys else np.empty(0, np.int64),
        "postings_off": np.append(np.concatenate(offs) if offs else EMPTY_IDS, names.size).astype(
            np.int64
        ),
        "postings_ids": ids,
    }


def write_index(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write and sync the version-3 index file holding ``arrays`` (each stored with its own
    dtype), array by array: the checksum is computed as the arrays are written, so writing
    costs no copy of the index."""
    header: dict[str, list[object]] = {}
    pos = 0
    for name, a in arrays.items():
        pos += -pos % _ALIGN
        header[name] = [a.dtype.str, int(a.size), pos]
        pos += int(a.nbytes)
    head = json.dumps(header).encode()
    head += b" " * (-(4 + len(head) + _HEADER.size) % _ALIGN)  # arrays start 8-aligned
    with open(path, "wb") as f:
        f.write(b"\0" * _HEADER.size)  # the header, once the checksum is known
        start = struct.pack("<I", len(head)) + head
        crc = zlib.crc32(start)
        f.write(start)
        pos = 0
        for a in arrays.values():
            pad = b"\0" * (-pos % _ALIGN)
            data = np.ascontiguousarray(a).reshape(-1).view(np.uint8).data
            for piece in (memoryview(pad), data):
                crc = zlib.crc32(piece, crc)
                f.write(piece)
            pos += len(pad) + data.nbytes
        f.seek(0)
        f.write(_HEADER.pack(INDEX_MAGIC, INDEX_VERSION, crc))
        f.flush()
        os.fsync(f.fileno())


def pack_compressed(arrays: dict[str, np.ndarray], version: int) -> bytes:
    """A version-1 or -2 index (zstd), as older kubeprom wrote them: for tests of old data."""
    header = {k: [a.dtype.str, int(a.size)] for k, a in arrays.items()}
    head = json.dumps(header).encode()
    body = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values())
    payload = zstandard.ZstdCompressor(level=3).compress(struct.pack("<I", len(head)) + head + body)
    return _HEADER.pack(INDEX_MAGIC, version, zlib.crc32(payload)) + payload


def _check_header(data: bytes | mmap.mmap, path: str) -> int:
    if len(data) < _HEADER.size:
        raise CorruptionError("truncated index header", path=path)
    magic, version, crc = _HEADER.unpack_from(data)
    if magic != INDEX_MAGIC or version not in _READABLE_VERSIONS:
        raise CorruptionError(
            f"not a kubeprom index (magic {magic!r}, version {version})", path=path
        )
    if zlib.crc32(memoryview(data)[_HEADER.size :]) != crc:
        raise CorruptionError("index checksum mismatch", path=path)
    return int(version)


def _arrays_at(buf: bytes | mmap.mmap, base: int, path: str) -> dict[str, np.ndarray]:
    """The arrays of a version-3 payload starting at ``base`` of ``buf`` (views, no copy)."""
    (hlen,) = struct.unpack_from("<I", buf, base)
    header = json.loads(bytes(buf[base + 4 : base + 4 + hlen]))
    start = base + 4 + hlen
    out: dict[str, np.ndarray] = {}
    for name, (dtype, size, pos) in header.items():
        dt = np.dtype(dtype)
        if int(pos) < 0 or start + int(pos) + dt.itemsize * int(size) > len(buf):
            raise CorruptionError(f"index array {name!r} runs past the end", path=path)
        out[name] = np.frombuffer(buf, dtype=dt, count=int(size), offset=start + int(pos))
    return out


def _unpack_compressed(data: bytes, version: int) -> dict[str, np.ndarray]:
    raw = zstandard.ZstdDecompressor().decompress(data[_HEADER.size :])
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


def read_index(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an index file, checked against its checksum.

    A version-3 file is mapped and its arrays are read-only views of the mapping (the
    mapping lives as long as any of them); older versions are decompressed into the heap and
    get the version-3 postings arrays derived. Raises :class:`CorruptionError`.
    """
    where = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < _HEADER.size:
                raise CorruptionError("truncated index header", path=where)
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as err:
        raise CorruptionError(f"cannot read index: {err}", path=where) from err
    try:
        version = _check_header(mm, where)
        if version >= MAPPED_VERSION:
            return _arrays_at(mm, _HEADER.size, where)
        arrays = _unpack_compressed(mm[:], version)
        mm.close()
    except (zstandard.ZstdError, ValueError, KeyError, TypeError, struct.error) as err:
        raise CorruptionError(f"malformed index: {err}", path=where) from err
    arrays |= postings_arrays(arrays["series_pairs"], arrays["series_pair_off"])
    lens = arrays["symbol_len"].astype(np.int64)
    arrays["symbol_off"] = np.append(0, np.cumsum(lens)).astype(np.int64)
    return arrays


def mapping_of(a: np.ndarray) -> mmap.mmap | None:
    """The file mapping ``a`` is a view of (a version-3 index), or None (heap memory)."""
    base = a.base
    obj = base.obj if isinstance(base, memoryview) else None
    return obj if isinstance(obj, mmap.mmap) else None


class _SymbolBytes(Sequence[bytes]):
    """The sorted symbol table as a sequence of UTF-8 bytes, for ``bisect`` (UTF-8 byte
    order is code point order, the order the symbols were sorted in)."""

    def __init__(self, data: np.ndarray, off: np.ndarray) -> None:
        self._data, self._off = data, off

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        return self._data[int(self._off[i]) : int(self._off[i + 1])].tobytes()


class BlockIndex:
    """Labels and postings of one block, answered from its index arrays.

    Label sets are decoded on first use and kept (a dictionary of the ones asked for, not a
    slot per series); symbols likewise. Nothing else is built: postings are slices of the
    stored arrays. Safe to share between query threads (the caches only grow, with values
    that are equal whoever computes them).
    """

    def __init__(self, arrays: dict[str, np.ndarray], num_series: int) -> None:
        self.num_series = num_series
        self._sym_data = arrays["symbol_data"]
        self._sym_off = arrays["symbol_off"]
        self._sym_bytes = _SymbolBytes(self._sym_data, self._sym_off)
        # Read-only, for compaction: label pairs as symbol ids, series i owns
        # pairs[2 * pair_off[i] : 2 * pair_off[i + 1]].
        self.pairs: np.ndarray = arrays["series_pairs"]
        self.pair_off: np.ndarray = arrays["series_pair_off"]
        self._pairs, self._pair_off = self.pairs, self.pair_off
        self._key = arrays["postings_key"]
        self._post_off = arrays["postings_off"]
        self._post_ids = arrays["postings_ids"]
        self._symbols: dict[int, str] = {}
        self._labels: dict[int, Labels] = {}

    def symbol(self, i: int) -> str:
        s = self._symbols.get(i)
        if s is None:
            s = self._symbols[i] = sys.intern(self._sym_bytes[i].decode())
        return s

    def symbol_bytes(self) -> list[bytes]:
        """Every symbol, in id order, as UTF-8 (a fresh list)."""
        data = self._sym_data.tobytes()
        off = self._sym_off.tolist()
        return [data[a:b] for a, b in itertools.pairwise(off)]

    def symbol_id(self, s: str) -> int | None:
        """The id of symbol ``s``, or None when no label of the block uses it."""
        b = s.encode()
        i = bisect.bisect_left(self._sym_bytes, b)
        return i if i < len(self._sym_bytes) and self._sym_bytes[i] == b else None

    def labels(self, i: int) -> Labels:
        lab = self._labels.get(i)
        if lab is None:
            a, b = int(self._pair_off[i]), int(self._pair_off[i + 1])
            sym = self.symbol
            lab = Labels.from_flat(tuple(sym(s) for s in self._pairs[2 * a : 2 * b].tolist()))
            self._labels[i] = lab
        return lab

    def labels_list(self, ids: Sequence[int]) -> list[Labels]:
        known = self._labels
        missing = [i for i in ids if i not in known]
        if len(missing) > 1:
            self._decode_labels(np.asarray(missing, dtype=np.int64))
        return [lab if (lab := known.get(i)) is not None else self.labels(i) for i in ids]

    def _decode_symbols(self, ids: np.ndarray) -> None:
        """Decode the symbols ``ids`` not decoded yet into the symbol cache."""
        table = self._symbols
        need = np.asarray([k for k in ids.tolist() if k not in table], dtype=np.int64)
        if need.size == 0:
            return
        data = memoryview(self._sym_data.data)
        starts, ends = self._sym_off[need].tolist(), self._sym_off[need + 1].tolist()
        for k, a, b in zip(need.tolist(), starts, ends, strict=True):
            table[k] = sys.intern(str(data[a:b], "utf-8"))

    def _decode_labels(self, ids: I64Array) -> None:
        """Decode the label sets of ``ids`` in one pass: their symbols gathered with numpy,
        each new symbol decoded once from the mapping."""
        starts = 2 * self._pair_off[ids]
        counts = 2 * self._pair_off[ids + 1] - starts
        syms = self._pairs[gather_ranges(starts, counts)]
        self._decode_symbols(np.unique(syms))
        table = self._symbols
        flat = [table[k] for k in syms.tolist()]
        ends = np.cumsum(counts).tolist()
        known = self._labels
        at = 0
        for i, end in zip(ids.tolist(), ends, strict=True):
            known[i] = Labels.from_flat(tuple(flat[at:end]))
            at = end

    def _name_range(self, name: str) -> tuple[int, int]:
        n = self.symbol_id(name)
        if n is None:
            return 0, 0
        lo, hi = np.searchsorted(self._key, [n << 32, (n + 1) << 32])
        return int(lo), int(hi)

    def postings(self, name: str, value: str) -> I64Array:
        n, v = self.symbol_id(name), self.symbol_id(value)
        if n is None or v is None:
            return EMPTY_IDS
        key = (n << 32) | v
        k = int(np.searchsorted(self._key, key))
        if k == len(self._key) or int(self._key[k]) != key:
            return EMPTY_IDS
        a, b = int(self._post_off[k]), int(self._post_off[k + 1])
        return self._post_ids[a:b].astype(np.int64)

    def postings_matching(self, name: str, accept: Callable[[str], bool]) -> I64Array:
        """Ids of the series whose ``name`` has a value ``accept`` takes, sorted: one test per
        value, then one gather (a series has one value per name, so no id repeats)."""
        lo, hi = self._name_range(name)
        value_ids = self._key[lo:hi] & 0xFFFFFFFF
        self._decode_symbols(value_ids)
        table = self._symbols
        keys = [lo + k for k, v in enumerate(value_ids.tolist()) if accept(table[v])]
        if not keys:
            return EMPTY_IDS
        at = np.asarray(keys, dtype=np.int64)
        starts = self._post_off[at]
        ids = self._post_ids[gather_ranges(starts, self._post_off[at + 1] - starts)]
        return np.sort(ids).astype(np.int64)

    def label_values_of(self, name: str) -> list[str]:
        lo, hi = self._name_range(name)
        return [self.symbol(v) for v in (self._key[lo:hi] & 0xFFFFFFFF).tolist()]

    def label_names(self) -> list[str]:
        names = np.unique(self._key >> 32).tolist()
        return sorted(self.symbol(n) for n in names)

    @property
    def heap_bytes(self) -> int:
        """What the caches hold in the heap (the arrays may be a mapping; not counted)."""
        mapped = mapping_of(self._pairs) is not None
        arrays = (
            0
            if mapped
            else sum(
                int(a.nbytes)
                for a in (self._sym_data, self._sym_off, self._pairs, self._pair_off, self._key)
            )
            + int(self._post_off.nbytes + self._post_ids.nbytes)
        )
        symbols = sum(sys.getsizeof(s) for s in self._symbols.values())
        return arrays + symbols + sys.getsizeof(self._symbols) + sys.getsizeof(self._labels)
