"""The write-ahead log's records and their byte format (layout in ``docs/tsdb-format.md``).

Encoding builds each record as a list of buffers (arrays go in without a copy) framed as
``type | length | crc32 | payload``; decoding verifies the checksum and raises
:class:`Fault` with the byte offset and reason, which the log turns into a truncation.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zstandard
from numpy.typing import ArrayLike, NDArray

from kubeprom.model.labels import Labels
from kubeprom.model.samples import bits_equal

_READ_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """A series reference and its label set."""

    ref: int
    labels: Labels


@dataclass(frozen=True, slots=True, eq=False)
class SamplesRecord:
    """One value per ref, all at ``t_ms``. Equality compares values bit-exactly."""

    t_ms: int
    refs: NDArray[np.int64]
    values: NDArray[np.float64]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SamplesRecord):
            return NotImplemented
        return (
            self.t_ms == other.t_ms
            and np.array_equal(self.refs, other.refs)
            and bits_equal(self.values, other.values)
        )


@dataclass(frozen=True, slots=True, eq=False)
class MultiSamplesRecord:
    """Samples with a timestamp each (checkpoints, bulk loads). Bit-exact equality."""

    refs: NDArray[np.int64]
    t: NDArray[np.int64]
    values: NDArray[np.float64]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiSamplesRecord):
            return NotImplemented
        return (
            np.array_equal(self.refs, other.refs)
            and np.array_equal(self.t, other.t)
            and bits_equal(self.values, other.values)
        )


@dataclass(frozen=True, slots=True)
class MetadataRecord:
    """(metric name, type, help, unit) entries."""

    entries: tuple[tuple[str, str, str, str], ...]


@dataclass(frozen=True, slots=True, eq=False)
class TombstonesRecord:
    """Deleted closed ``[mint, maxt]`` ranges (ms) of head series: one per ref."""

    refs: NDArray[np.int64]
    mint: NDArray[np.int64]
    maxt: NDArray[np.int64]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TombstonesRecord):
            return NotImplemented
        return (
            np.array_equal(self.refs, other.refs)
            and np.array_equal(self.mint, other.mint)
            and np.array_equal(self.maxt, other.maxt)
        )


Record = SeriesRecord | SamplesRecord | MultiSamplesRecord | MetadataRecord | TombstonesRecord


# Record types. 0 is never written, so a zero-filled tail (seen after power loss on some
# file systems) reads as corruption, not as a record.
SERIES, SAMPLES, MULTI_SAMPLES, METADATA, TOMBSTONES = 1, 2, 3, 4, 5
_TYPE_NAMES = {
    SERIES: "series",
    SAMPLES: "samples",
    MULTI_SAMPLES: "multi_samples",
    METADATA: "metadata",
    TOMBSTONES: "tombstones",
}
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in _TYPE_NAMES}

FRAME = struct.Struct("<BII")  # type, payload length, crc32(type byte + payload)
_SAMPLES_HDR = struct.Struct("<qIB3x")  # t_ms, count, flags; 16 bytes keeps arrays aligned
_MULTI_HDR = struct.Struct("<IB3x")  # count, flags; 8 bytes
_SERIES_HDR = struct.Struct("<II")  # series count, string count
_COUNT = struct.Struct("<I")
_TOMBSTONES_HDR = struct.Struct("<I4x")  # count; 8 bytes keeps the int64 columns aligned

FLAG_REFS_I64 = 0x01  # refs column is int64 (else uint32)
FLAG_ZSTD = 0x02  # the array columns after the header are one zstd frame
FLAG_REFS_DELTA = 0x04  # refs column holds wrapping differences (set with FLAG_ZSTD)
_KNOWN_FLAGS = FLAG_REFS_I64 | FLAG_ZSTD | FLAG_REFS_DELTA

# Below this, a zstd call costs more than the bytes it saves.
_COMPRESS_MIN_BYTES = 4096
# Level 1: ~500 MB/s here; higher levels cost more time than they save in bytes.
ZSTD_LEVEL = 1


# A frame is written as a list of buffers; arrays go in as ``arr.data`` (no copy).
Part = bytes | memoryview


class Fault(Exception):
    """Bad data at ``offset`` of a file (internal: replay turns it into a log + repair)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


# --- encoding ---------------------------------------------------------------------------


def _frame(kind: int, parts: Sequence[Part]) -> list[Part]:
    crc = _TYPE_CRC[kind]
    length = 0
    for p in parts:
        crc = zlib.crc32(p, crc)
        length += len(p) if isinstance(p, bytes) else p.nbytes
    if length > 0xFFFFFFFF:
        raise ValueError(f"wal record of {length} bytes exceeds the 4 GiB frame limit")
    return [FRAME.pack(kind, length, crc), *parts]


def _string_table(strings: list[str]) -> list[Part]:
    encoded = [s.encode("utf-8") for s in strings]
    lengths = np.fromiter(map(len, encoded), dtype="<u4", count=len(encoded))
    return [lengths.data, b"".join(encoded)]


def encode_series(records: Sequence[SeriesRecord]) -> list[Part]:
    refs = np.fromiter((r.ref for r in records), dtype="<i8", count=len(records))
    counts = np.fromiter((len(r.labels) for r in records), dtype="<u4", count=len(records))
    strings = [s for r in records for s in r.labels.flat]
    hdr = _SERIES_HDR.pack(len(records), len(strings))
    return _frame(SERIES, [hdr, refs.data, counts.data, *_string_table(strings)])


def encode_metadata(entries: Sequence[tuple[str, str, str, str]]) -> list[Part]:
    strings = [s for entry in entries for s in entry]
    if len(strings) != 4 * len(entries):
        raise ValueError("metadata entries must be (metric, type, help, unit) tuples")
    return _frame(METADATA, [_COUNT.pack(len(entries)), *_string_table(strings)])


def _refs_column(refs: NDArray[np.int64]) -> tuple[NDArray[Any], int]:
    # uint32 halves the column for the usual case (refs are small dense counters).
    if refs.size == 0 or (int(refs.min()) >= 0 and int(refs.max()) < 2**32):
        return refs.astype("<u4"), 0
    return np.ascontiguousarray(refs, dtype="<i8"), FLAG_REFS_I64


def as_refs(refs: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(refs, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"refs must be one-dimensional, got shape {arr.shape}")
    return arr


def _as_column(values: ArrayLike, dtype: str, n: int, what: str) -> NDArray[Any]:
    arr = np.ascontiguousarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"got {what} of shape {arr.shape} for {n} refs")
    return arr


def _maybe_compress(
    cctx: zstandard.ZstdCompressor | None, cols: list[NDArray[Any]], flags: int
) -> tuple[list[Part], int]:
    """zstd the columns (refs last) if that is smaller; refs become deltas first."""
    raw = sum(c.nbytes for c in cols)
    if cctx is not None and raw >= _COMPRESS_MIN_BYTES:
        refs = cols[-1]
        # Refs of one scrape are mostly ascending runs: small deltas compress ~5x better.
        deltas = np.diff(refs, prepend=refs.dtype.type(0))
        packed = cctx.compress(b"".join([*(c.data for c in cols[:-1]), deltas.data]))
        if len(packed) < raw:
            return [packed], flags | FLAG_ZSTD | FLAG_REFS_DELTA
    return [c.data for c in cols], flags


def encode_samples(
    t_ms: int, refs: NDArray[np.int64], values: ArrayLike, cctx: zstandard.ZstdCompressor | None
) -> list[Part]:
    vals = _as_column(values, "<f8", refs.size, "values")
    ref_col, flags = _refs_column(refs)
    cols, flags = _maybe_compress(cctx, [vals, ref_col], flags)
    return _frame(SAMPLES, [_SAMPLES_HDR.pack(t_ms, refs.size, flags), *cols])


def encode_multi(
    refs: NDArray[np.int64],
    t: ArrayLike,
    values: ArrayLike,
    cctx: zstandard.ZstdCompressor | None,
) -> list[Part]:
    ts = _as_column(t, "<i8", refs.size, "timestamps")
    vals = _as_column(values, "<f8", refs.size, "values")
    ref_col, flags = _refs_column(refs)
    cols, flags = _maybe_compress(cctx, [ts, vals, ref_col], flags)
    return _frame(MULTI_SAMPLES, [_MULTI_HDR.pack(refs.size, flags), *cols])


def encode_tombstones(refs: NDArray[np.int64], mint: ArrayLike, maxt: ArrayLike) -> list[Part]:
    """Three int64 columns (refs, mint, maxt) after a count; never compressed."""
    ref_col = np.ascontiguousarray(refs, dtype="<i8")
    lo = _as_column(mint, "<i8", ref_col.size, "mint")
    hi = _as_column(maxt, "<i8", ref_col.size, "maxt")
    hdr = _TOMBSTONES_HDR.pack(ref_col.size)
    return _frame(TOMBSTONES, [hdr, ref_col.data, lo.data, hi.data])


# --- decoding ---------------------------------------------------------------------------


def _strings(p: bytes, off: int, m: int) -> tuple[list[str], int]:
    lengths = np.frombuffer(p, dtype="<u4", count=m, offset=off)
    off += 4 * m
    ends = np.cumsum(lengths, dtype=np.int64)
    total = int(ends[-1]) if m else 0
    blob = p[off : off + total]
    if len(blob) != total:
        raise ValueError(f"string table wants {total} bytes, {len(blob)} left")
    end_list = ends.tolist()
    starts = [0, *end_list[:-1]] if m else []
    if blob.isascii():
        # One decode for the whole table: byte offsets equal character offsets in ASCII.
        text = blob.decode("ascii")
        return [text[a:b] for a, b in zip(starts, end_list, strict=True)], off + total
    return [blob[a:b].decode("utf-8") for a, b in zip(starts, end_list, strict=True)], off + total


def _decode_series(p: bytes) -> list[Record]:
    n, m = _SERIES_HDR.unpack_from(p, 0)
    off = _SERIES_HDR.size
    refs = np.frombuffer(p, dtype="<i8", count=n, offset=off).tolist()
    off += 8 * n
    counts = np.frombuffer(p, dtype="<u4", count=n, offset=off).tolist()
    off += 4 * n
    if 2 * sum(counts) != m:
        raise ValueError(f"label counts need {2 * sum(counts)} strings, table has {m}")
    strings, off = _strings(p, off, m)
    if off != len(p):
        raise ValueError(f"{len(p) - off} trailing bytes")
    out: list[Record] = []
    j = 0
    for ref, k in zip(refs, counts, strict=True):
        # Written from a Labels' flat tuple, so already sorted and unique.
        out.append(SeriesRecord(ref, Labels.from_flat(tuple(strings[j : j + 2 * k]))))
        j += 2 * k
    return out


def _decode_metadata(p: bytes) -> list[Record]:
    (n,) = _COUNT.unpack_from(p, 0)
    strings, off = _strings(p, _COUNT.size, 4 * n)
    if off != len(p):
        raise ValueError(f"{len(p) - off} trailing bytes")
    it = iter(strings)
    return [MetadataRecord(tuple(zip(it, it, it, it, strict=True)))]


def _columns(p: bytes, off: int, n: int, flags: int, dtypes: Sequence[str]) -> list[NDArray[Any]]:
    """Split the array part into 8-byte columns of ``dtypes`` followed by the refs column."""
    if flags & ~_KNOWN_FLAGS:
        raise ValueError(f"unknown flags {flags:#04x}")
    ref_width = 8 if flags & FLAG_REFS_I64 else 4
    want = n * (8 * len(dtypes) + ref_width)
    body: bytes = p
    if flags & FLAG_ZSTD:
        body = zstandard.ZstdDecompressor().decompress(p[off:], max_output_size=want)
        off = 0
    if len(body) - off != want:
        raise ValueError(f"array part has {len(body) - off} bytes, want {want}")
    cols: list[NDArray[Any]] = []
    for dtype in dtypes:
        cols.append(np.frombuffer(body, dtype=dtype, count=n, offset=off))
        off += 8 * n
    refs = np.frombuffer(body, dtype="<i8" if ref_width == 8 else "<u4", count=n, offset=off)
    if flags & FLAG_REFS_DELTA:
        refs = np.cumsum(refs, dtype=refs.dtype)  # wraps exactly as the encoder's diff did
    cols.append(refs.astype(np.int64, copy=False))
    return cols


def _decode_samples(p: bytes) -> list[Record]:
    t_ms, n, flags = _SAMPLES_HDR.unpack_from(p, 0)
    values, refs = _columns(p, _SAMPLES_HDR.size, n, flags, ("<f8",))
    return [SamplesRecord(t_ms, refs, values)]


def _decode_multi(p: bytes) -> list[Record]:
    n, flags = _MULTI_HDR.unpack_from(p, 0)
    t, values, refs = _columns(p, _MULTI_HDR.size, n, flags, ("<i8", "<f8"))
    return [MultiSamplesRecord(refs, t, values)]


def _decode_tombstones(p: bytes) -> list[Record]:
    (n,) = _TOMBSTONES_HDR.unpack_from(p, 0)
    want = _TOMBSTONES_HDR.size + 24 * n
    if len(p) != want:
        raise ValueError(f"tombstones payload has {len(p)} bytes, want {want}")
    cols = [
        np.frombuffer(p, dtype="<i8", count=n, offset=_TOMBSTONES_HDR.size + 8 * n * i).astype(
            np.int64
        )
        for i in range(3)
    ]
    return [TombstonesRecord(*cols)]


_DECODERS: dict[int, Callable[[bytes], list[Record]]] = {
    METADATA: _decode_metadata,
    MULTI_SAMPLES: _decode_multi,
    SAMPLES: _decode_samples,
    SERIES: _decode_series,
    TOMBSTONES: _decode_tombstones,
}


def read_frames(path: Path) -> Generator[tuple[int, int, bytes], None, None]:
    """Yield ``(offset, type, payload)`` of each checksummed frame; raise ``Fault``."""
    size = path.stat().st_size
    with open(path, "rb", buffering=_READ_BUFFER_BYTES) as f:
        off = 0
        while off < size:
            hdr = f.read(FRAME.size)
            if len(hdr) < FRAME.size:
                raise Fault(off, f"torn record header: {len(hdr)} of {FRAME.size} bytes")
            kind, length, crc = FRAME.unpack(hdr)
            if kind not in _DECODERS:
                raise Fault(off, f"unknown record type {kind:#04x}")
            left = size - off - FRAME.size
            if length > left:
                raise Fault(off, f"torn record: payload of {length} bytes, {left} left")
            payload = f.read(length)
            if len(payload) != length:
                raise Fault(off, f"torn record: read {len(payload)} of {length} bytes")
            got = zlib.crc32(payload, _TYPE_CRC[kind])
            if got != crc:
                raise Fault(off, f"checksum mismatch: stored {crc:#010x}, got {got:#010x}")
            yield off, kind, payload
            off += FRAME.size + length


def read_records(path: Path) -> Iterator[Record]:
    """Decode every record of a file in order; raise ``Fault`` at the first bad one."""
    for off, kind, payload in read_frames(path):
        try:
            records = _DECODERS[kind](payload)
        except (ValueError, struct.error, zstandard.ZstdError) as err:
            # The checksum held, so this is a writer bug or a format mismatch.
            raise Fault(off, f"malformed {_TYPE_NAMES[kind]} payload: {err}") from err
        yield from records


def decode_frames(
    buf: bytes, *, only: frozenset[int] | None = None
) -> tuple[list[tuple[int, list[Record]]], int, Fault | None]:
    """Decode the complete frames at the start of ``buf`` (a live reader's view of a file).

    Returns ``(frames, consumed, fault)``: per frame its end offset in ``buf`` and its
    records (empty for a type not in ``only``, which is skipped undecoded but checked);
    ``consumed`` is the end of the last good frame. An incomplete frame at the end is not
    an error (a writer may still be writing it): decoding stops before it. ``fault`` is the
    first complete frame that is bad (unknown type, checksum, malformed payload).
    """
    out: list[tuple[int, list[Record]]] = []
    off, size = 0, len(buf)
    view = memoryview(buf)
    while size - off >= FRAME.size:
        kind, length, crc = FRAME.unpack_from(buf, off)
        if kind not in _DECODERS:
            return out, off, Fault(off, f"unknown record type {kind:#04x}")
        end = off + FRAME.size + length
        if end > size:
            break
        payload = view[off + FRAME.size : end]
        got = zlib.crc32(payload, _TYPE_CRC[kind])
        if got != crc:
            return out, off, Fault(off, f"checksum mismatch: stored {crc:#010x}, got {got:#010x}")
        records: list[Record] = []
        if only is None or kind in only:
            try:
                records = _DECODERS[kind](bytes(payload))
            except (ValueError, struct.error, zstandard.ZstdError) as err:
                return out, off, Fault(off, f"malformed {_TYPE_NAMES[kind]} payload: {err}")
        out.append((end, records))
        off = end
    return out, off, None
