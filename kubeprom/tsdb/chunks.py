"""Chunk frames: one compressed, checksummed blob holding the samples of many series.

A frame stores ``k`` series segments in CSR layout: segment ``i`` owns
``t[offsets[i]:offsets[i+1]]`` (int64 milliseconds) and ``v[...]`` (float64, any bit
pattern). Every step is a whole-array numpy operation; segmented prefix sums and XOR scans
use "global scan, then cancel the previous segments' totals at each segment start", so the
Python work per frame is constant. The byte layout is in ``docs/tsdb-format.md``
("Chunk frames").

Functions here are pure: no shared state, safe to call from any thread or task.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

import numpy as np
import zstandard
from numpy.typing import NDArray

from kubeprom.errors import CorruptionError

__all__ = ["decode_frame", "encode_frame", "frame_series_count"]

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

MAGIC: Final = b"KPCF"
VERSION: Final = 1
# magic, version, flags, reserved, k, n, n_exc, raw_len, payload_len, widths, reserved,
# payload_crc, header_crc; header_crc covers every byte before it.
_HEADER: Final = struct.Struct("<4sBBHIIIII11sBII")
HEADER_SIZE: Final = _HEADER.size
_HEADER_CRC_SPAN: Final = HEADER_SIZE - 4

# Stream order inside the decompressed payload (see docs/tsdb-format.md).
(
    _S_COUNTS,
    _S_MODES,
    _S_T_HEAD,
    _S_T_STEP,
    _S_T_DEV,
    _S_DEC_HEAD,
    _S_DEC_DELTA,
    _S_XOR_HEAD,
    _S_XOR_DELTA,
    _S_EXC_INDEX,
    _S_EXC_VALUE,
) = range(11)
_N_STREAMS: Final = 11
_LE_U64: Final = np.dtype("<u8")

# Exponents 0..15 fit the mode byte's low nibble, and every 10**e is exact in float64.
_MAX_EXPONENT: Final = 15
_POW10: Final[F64] = 10.0 ** np.arange(_MAX_EXPONENT + 1, dtype=np.float64)
# |m| <= 2**53 keeps int64 -> float64 exact, so m / 10**e is one correctly rounded division.
_MAX_MANTISSA: Final = float(2**53)
_MODE_XOR: Final = 0x80
# A decimal segment may carry at most 1 exception per 4 samples; each exception costs
# ~12 raw bytes, so denser exceptions are cheaper as plain XOR.
_MAX_EXCEPTION_SHARE_DEN: Final = 4
# Samples per segment for the fast exponent guess, evenly spaced from first to last; the
# median of 5 shrugs off two odd values (a StaleNaN, a reset, a value that lacks digits).
_N_PROBES: Final = 5
# Failing samples per segment searched for a larger exponent: enough to find the digits
# a segment needs; a rarer outlier becomes an exception.
_N_RETRY: Final = 16
_U32_LIMIT: Final = 2**32


def encode_frame(t: I64, v: F64, offsets: I64, *, level: int = 3) -> bytes:
    """Encode CSR samples into one frame; ``decode_frame`` returns them bit-exactly.

    ``offsets`` has ``k + 1`` entries, starts at 0, ends at ``len(t) == len(v)``; every
    segment has at least one sample and fewer than 2**32 samples in total. Any int64
    timestamps round-trip (ordering only affects size); values round-trip bit for bit,
    NaN payloads, StaleNaN, +-Inf and -0.0 included. ``level`` is the zstd level.
    Raises ``ValueError`` for malformed input.
    """
    t = np.ascontiguousarray(t, dtype=np.int64)
    v = np.ascontiguousarray(v, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    k, n = _check_layout(t, v, offsets)
    streams: list[U64] = [np.zeros(0, np.uint64)] * _N_STREAMS
    n_exc = 0
    if k:
        starts = offsets[:-1]
        counts = np.diff(offsets)
        streams[_S_COUNTS] = counts.view(np.uint64)
        _encode_times(t, starts, counts, streams)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            n_exc = _encode_values(v, starts, counts, streams)
    widths = bytes(_width_for(s) for s in streams)
    raw = b"".join(_shuffle(s, w) for s, w in zip(streams, widths, strict=True))
    payload = b""
    if raw:
        # A context per call: zstd contexts are not thread-safe, and a cached one measured
        # no faster once the heap is warm. Sizes live in our header, so zstd's own content
        # size and checksum are redundant.
        cctx = zstandard.ZstdCompressor(level=level, write_content_size=False)
        payload = cctx.compress(raw)
    fields = (MAGIC, VERSION, 0, 0, k, n, n_exc, len(raw), len(payload), widths, 0)
    head = _HEADER.pack(*fields, zlib.crc32(payload), 0)
    header_crc = zlib.crc32(head[:_HEADER_CRC_SPAN])
    return head[:_HEADER_CRC_SPAN] + header_crc.to_bytes(4, "little") + payload


def decode_frame(data: bytes) -> tuple[I64, F64, I64]:
    """Decode a frame into fresh, writable ``(t, v, offsets)`` arrays.

    Verifies magic, version and both CRC32s before interpreting anything. Raises
    ``CorruptionError(path="<frame>")`` on any mismatch, truncation, trailing bytes or
    inconsistent content; callers re-raise it with the real file path.
    """
    k, n, n_exc, raw_len, payload_len, widths, payload_crc = _read_header(data)
    payload = memoryview(data)[HEADER_SIZE:]
    if len(payload) < payload_len:
        raise _corrupt(f"truncated frame: payload has {len(payload)} of {payload_len} bytes")
    if len(payload) > payload_len:
        raise _corrupt(f"{len(payload) - payload_len} trailing bytes after frame")
    if zlib.crc32(payload) != payload_crc:
        raise _corrupt("frame checksum mismatch")
    try:
        return _decode_payload(payload, k, n, n_exc, raw_len, widths)
    except CorruptionError:
        raise
    except (ValueError, IndexError, TypeError, zstandard.ZstdError) as exc:
        # The CRC matched, so this is a writer bug or a crafted frame; never leak it raw.
        raise _corrupt(f"malformed frame payload: {exc}") from exc


def check_frame(data: bytes) -> None:
    """Verify a frame's header and both CRC32s without decoding it (compaction copies
    frames as they are). Raises ``CorruptionError`` like ``decode_frame``."""
    header = _read_header(data)
    payload_len, payload_crc = header[4], header[6]
    payload = memoryview(data)[HEADER_SIZE:]
    if len(payload) != payload_len:
        raise _corrupt(f"frame payload has {len(payload)} bytes, header says {payload_len}")
    if zlib.crc32(payload) != payload_crc:
        raise _corrupt("frame checksum mismatch")


def frame_series_count(data: bytes) -> int:
    """Number of series segments in a frame, from its header only (header CRC checked).

    Does not read or verify the payload. Raises ``CorruptionError`` like ``decode_frame``.
    """
    return _read_header(data)[0]


# --- header -------------------------------------------------------------------------


def _corrupt(message: str) -> CorruptionError:
    return CorruptionError(message, path="<frame>")


def _read_header(data: bytes) -> tuple[int, int, int, int, int, bytes, int]:
    if len(data) < HEADER_SIZE:
        raise _corrupt(f"truncated frame header: {len(data)} of {HEADER_SIZE} bytes")
    # Version before header CRC: a newer version may lay its header out differently.
    fields = _HEADER.unpack_from(data)
    magic, version, flags, reserved, k, n, n_exc, raw_len, payload_len, widths = fields[:10]
    reserved2, payload_crc, header_crc = fields[10:]
    if magic != MAGIC:
        raise _corrupt(f"bad frame magic {magic!r}")
    if version != VERSION:
        raise _corrupt(f"unsupported frame version {version}")
    if zlib.crc32(memoryview(data)[:_HEADER_CRC_SPAN]) != header_crc:
        raise _corrupt("frame header checksum mismatch")
    if flags or reserved or reserved2:
        raise _corrupt(f"unknown frame flags {flags:#x} or non-zero reserved bytes")
    if max(widths) > 8:
        raise _corrupt(f"bad stream widths {widths.hex()}")
    if (k == 0) != (n == 0) or k > n or n_exc > n:
        raise _corrupt(f"inconsistent frame sizes k={k} n={n} exceptions={n_exc}")
    return k, n, n_exc, raw_len, payload_len, widths, payload_crc


def _check_layout(t: I64, v: F64, offsets: I64) -> tuple[int, int]:
    if t.ndim != 1 or v.ndim != 1 or offsets.ndim != 1:
        raise ValueError("t, v and offsets must be one-dimensional")
    n = t.size
    if v.size != n:
        raise ValueError(f"t has {n} samples but v has {v.size}")
    if offsets.size == 0 or offsets[0] != 0 or offsets[-1] != n:
        raise ValueError(f"offsets must start at 0 and end at {n}")
    k = offsets.size - 1
    if k and int(np.diff(offsets).min()) < 1:
        raise ValueError("every segment needs at least one sample")
    if n >= _U32_LIMIT:
        raise ValueError(f"frame too large: {n} samples")
    return k, n


# --- streams ------------------------------------------------------------------------


def _width_for(x: U64) -> int:
    """Bytes per element (0..8) that hold every element; 0 = all zero, nothing stored."""
    top = int(x.max()) if x.size else 0
    return (top.bit_length() + 7) // 8


def _shuffle(x: U64, width: int) -> bytes:
    """Low ``width`` byte planes, least significant first: like bytes sit together for zstd."""
    planes = x.astype(_LE_U64, copy=False).view(np.uint8).reshape(-1, 8)[:, :width]
    return bytes(planes.T.tobytes())


def _unshuffle(raw: bytes, pos: int, count: int, width: int) -> tuple[U64, int]:
    end = pos + count * width
    if end > len(raw):
        raise _corrupt(f"payload too short: stream needs {end} of {len(raw)} bytes")
    planes = np.frombuffer(raw, np.uint8, count * width, pos).reshape(width, count)
    out = np.zeros(count, _LE_U64)
    out_bytes = out.view(np.uint8).reshape(count, 8)
    # One plane at a time: ~5x faster than numpy's byte-granular 2-D transpose.
    for plane in range(width):
        out_bytes[:, plane] = planes[plane]
    return out.astype(np.uint64, copy=False), end


def _zigzag(x: I64) -> U64:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: U64) -> I64:
    return (u >> 1).view(np.int64) ^ -(u & 1).view(np.int64)


def _deltas(x: I64) -> I64:
    """x[0], x[1] - x[0], ...; int64 wraparound is fine, cumsum undoes it exactly."""
    d = x.copy()
    d[1:] -= x[:-1]
    return d


def _seg_cumsum(x: I64, starts: I64, head_deltas: I64) -> I64:
    """In place: x[j] = head_i + sum(x[s_i+1 : j+1]) for j in segment i; x[starts] ignored.

    ``head_deltas`` are the segment heads delta-coded across segments. One global cumsum,
    with each start pre-charged by minus the previous segment's sum.
    """
    x[starts] = 0
    sums = np.add.reduceat(x, starts)
    x[starts] = head_deltas
    x[starts[1:]] -= sums[:-1]
    return np.cumsum(x, out=x)


def _seg_xorscan(x: U64, starts: I64, head_xors: U64) -> U64:
    """In place: x[j] = head_i ^ xor(x[s_i+1 : j+1]); the XOR twin of ``_seg_cumsum``."""
    x[starts] = 0
    sums = np.bitwise_xor.reduceat(x, starts)
    x[starts] = head_xors
    x[starts[1:]] ^= sums[:-1]
    return np.bitwise_xor.accumulate(x, out=x)


# --- timestamps ---------------------------------------------------------------------


def _encode_times(t: I64, starts: I64, counts: I64, streams: list[U64]) -> None:
    """Per segment: first timestamp, first step, then each step's deviation from it.

    Deviation from the first step rather than delta-of-delta: with scrape jitter its
    entropy is lower (one jitter difference, not two) and decoding needs one cumsum.
    """
    pairs = counts >= 2
    step = np.zeros(starts.size, np.int64)
    step[pairs] = t[starts[pairs] + 1] - t[starts[pairs]]
    dev = np.empty(t.size, np.int64)
    dev[0] = 0
    np.subtract(t[1:], t[:-1], out=dev[1:])
    dev -= np.repeat(step, counts)
    dev[starts] = 0
    # Across segments: series scraped together share heads and steps, so these are ~0.
    streams[_S_T_HEAD] = _zigzag(_deltas(t[starts]))
    streams[_S_T_STEP] = _zigzag(_deltas(step))
    streams[_S_T_DEV] = _zigzag(dev)


def _decode_times(streams: list[U64], starts: I64, counts: I64) -> I64:
    steps = _unzigzag(streams[_S_T_DEV])
    steps += np.repeat(np.cumsum(_unzigzag(streams[_S_T_STEP])), counts)
    return _seg_cumsum(steps, starts, _unzigzag(streams[_S_T_HEAD]))


# --- values -------------------------------------------------------------------------


def _fit(v: F64, scale: F64 | float) -> tuple[I64, Mask]:
    """m = round(v * scale) and whether m / scale reproduces v bit-exactly.

    Mirrors the decoder's arithmetic exactly, so "ok" is a round-trip guarantee; -0.0,
    NaN, Inf and out-of-range values are never ok. Needs errstate for NaN/Inf casts.
    """
    r = np.multiply(v, scale)
    np.round(r, out=r)
    m = r.astype(np.int64)
    ok = np.abs(r, out=r) <= _MAX_MANTISSA
    back = m.astype(np.float64)
    back /= scale
    ok &= back.view(np.uint64) == v.view(np.uint64)
    return m, ok


def _min_exponents(v: F64, first: I64 | int = 0) -> I64:
    """Smallest decimal exponent >= ``first`` per value, -1 if none.

    All candidate exponents at once as a (exponents x values) grid; callers pass a few
    probes or the rare failing samples, never a whole frame.
    """
    lowest = int(np.min(first, initial=_MAX_EXPONENT + 1))
    if lowest > _MAX_EXPONENT:
        return np.full(v.size, -1, np.int64)
    exps = np.arange(lowest, _MAX_EXPONENT + 1)[:, None]
    _, ok = _fit(v[None, :], _POW10[exps])
    ok &= exps >= first
    return np.where(ok.any(axis=0), exps[np.argmax(ok, axis=0), 0], -1)


def _choose_exponents(v: F64, starts: I64, counts: I64) -> tuple[I64, I64, Mask]:
    """Per-segment exponent, plus mantissas and round-trip mask at that exponent.

    Fast path: the median exponent of a few probe samples per segment (a median, because
    one noisy value like pi "fits" at e=15 and would ruin the segment), verified on every
    sample once. If probes fit but some samples fail, a second candidate, the largest
    exponent that a spread of up to ~2 x ``_N_RETRY`` failing samples needs, is verified
    too; each segment keeps the candidate with fewer exceptions. Segments with an unfit
    probe skip that search: they will most likely be XOR-coded, and searching noise is
    the expensive case.
    """
    k = starts.size
    probes = (starts + (counts - 1) * np.arange(_N_PROBES)[:, None] // (_N_PROBES - 1)).ravel()
    probe_e = _min_exponents(v[probes]).reshape(_N_PROBES, k)
    n_fit = np.count_nonzero(probe_e >= 0, axis=0)
    # Unfit probes (-1) sort first, so the fitting ones' median (lower one if even) is here.
    median_row = _N_PROBES - n_fit + (n_fit - 1) // 2
    seg_e = np.maximum(np.sort(probe_e, axis=0)[median_row, np.arange(k)], 0)
    noisy = n_fit < np.isfinite(v[probes]).reshape(_N_PROBES, k).sum(axis=0)
    m, ok = _fit(v, np.repeat(_POW10[seg_e], counts))
    if ok.all():
        return seg_e, m, ok
    failed = np.flatnonzero(~ok)
    seg_of = np.searchsorted(starts, failed, side="right") - 1
    keep = ~noisy[seg_of] & np.isfinite(v[failed])
    retry, seg_of = failed[keep], seg_of[keep]
    if not retry.size:
        return seg_e, m, ok
    # Search an evenly spaced subset of each segment's failures, at most ~2x _N_RETRY.
    rank = np.arange(retry.size) - np.searchsorted(seg_of, seg_of)
    stride = np.maximum(np.bincount(seg_of, minlength=k) // _N_RETRY, 1)
    pick = rank % stride[seg_of] == 0
    retry, seg_of = retry[pick], seg_of[pick]
    alt_e = seg_e.copy()
    np.maximum.at(alt_e, seg_of, _min_exponents(v[retry], seg_e[seg_of] + 1))
    changed = alt_e != seg_e
    if not changed.any():
        return seg_e, m, ok
    # Re-fit only the changed segments' samples; usually a handful of series.
    sel = np.repeat(changed, counts)
    sub_counts = counts[changed]
    alt_m, alt_ok = _fit(v[sel], np.repeat(_POW10[alt_e[changed]], sub_counts))
    alt_bad = np.add.reduceat(~alt_ok, _starts_of(sub_counts), dtype=np.int64)
    better = alt_bad < np.add.reduceat(~ok, starts, dtype=np.int64)[changed]
    seg_e[np.flatnonzero(changed)[better]] = alt_e[changed][better]
    take = np.repeat(better, sub_counts)
    where = np.flatnonzero(sel)[take]
    m[where] = alt_m[take]
    ok[where] = alt_ok[take]
    return seg_e, m, ok


def _encode_values(v: F64, starts: I64, counts: I64, streams: list[U64]) -> int:
    """Fill the value streams; returns the exception count."""
    bits = v.view(np.uint64)
    seg_e, m, ok = _choose_exponents(v, starts, counts)
    n_bad = np.add.reduceat(~ok, starts, dtype=np.int64)
    xor_seg = n_bad * _MAX_EXCEPTION_SHARE_DEN > counts
    streams[_S_MODES] = np.where(xor_seg, _MODE_XOR, seg_e).view(np.uint64)
    dec_seg = ~xor_seg
    # None when every segment is decimal: skips the per-sample mode mask entirely.
    dec_sample = np.repeat(dec_seg, counts) if xor_seg.any() else None
    exc_idx = np.flatnonzero(~ok if dec_sample is None else ~ok & dec_sample)
    if exc_idx.size:
        # An exception repeats the mantissa of the last good sample before it in its
        # segment (delta 0), or is 0 if there is none. Work is per exception, not per sample.
        run_head = np.where(np.diff(exc_idx, prepend=-2) != 1, exc_idx, 0)
        source = np.maximum.accumulate(run_head) - 1
        seg_start = starts[np.searchsorted(starts, exc_idx, side="right") - 1]
        m[exc_idx] = np.where(source >= seg_start, m[np.maximum(source, 0)], 0)
        streams[_S_EXC_INDEX] = _deltas(exc_idx.astype(np.int64)).view(np.uint64)
        streams[_S_EXC_VALUE] = bits[exc_idx]
    if dec_seg.any():
        dm = _deltas(m)
        dm[starts] = 0
        streams[_S_DEC_HEAD] = _zigzag(_deltas(m[starts][dec_seg]))
        streams[_S_DEC_DELTA] = _zigzag(dm if dec_sample is None else dm[dec_sample])
    if dec_sample is not None:
        xored = bits.copy()
        xored[1:] ^= bits[:-1]
        xored[starts] = 0
        heads = bits[starts][xor_seg]
        head_xors = heads.copy()
        head_xors[1:] ^= heads[:-1]
        streams[_S_XOR_HEAD] = head_xors
        streams[_S_XOR_DELTA] = xored[~dec_sample]
    return int(exc_idx.size)


def _decode_values(streams: list[U64], starts: I64, counts: I64, n: int) -> F64:
    modes = streams[_S_MODES]
    xor_seg = modes == _MODE_XOR
    dec_seg = ~xor_seg
    if int(modes[dec_seg].max(initial=0)) > _MAX_EXPONENT:
        raise _corrupt(f"bad value mode {int(modes[dec_seg].max()):#x}")
    if not xor_seg.any():
        out = _decode_decimal(streams, counts, modes)
    elif not dec_seg.any():
        out = _seg_xorscan(streams[_S_XOR_DELTA], starts, streams[_S_XOR_HEAD])
    else:
        dec_sample = np.repeat(dec_seg, counts)
        out = np.empty(n, np.uint64)
        out[dec_sample] = _decode_decimal(streams, counts[dec_seg], modes[dec_seg])
        xor_counts = counts[xor_seg]
        out[~dec_sample] = _seg_xorscan(
            streams[_S_XOR_DELTA], _starts_of(xor_counts), streams[_S_XOR_HEAD]
        )
    if streams[_S_EXC_INDEX].size:
        idx = np.cumsum(streams[_S_EXC_INDEX].view(np.int64))
        if int(idx[0]) < 0 or int(idx[-1]) >= n or (idx.size > 1 and int(np.diff(idx).min()) < 1):
            raise _corrupt("exception index out of range")
        out[idx] = streams[_S_EXC_VALUE]
    return out.view(np.float64)


def _decode_decimal(streams: list[U64], counts: I64, exponents: U64) -> U64:
    """Bits of the decimal segments' values, in order; ``counts`` are theirs only."""
    head_deltas = _unzigzag(streams[_S_DEC_HEAD])
    m = _seg_cumsum(_unzigzag(streams[_S_DEC_DELTA]), _starts_of(counts), head_deltas)
    vals = m.astype(np.float64)
    if exponents.any():
        vals /= np.repeat(_POW10[exponents.astype(np.intp)], counts)
    return vals.view(np.uint64)


def _starts_of(counts: I64) -> I64:
    starts = np.zeros(counts.size, np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


# --- payload ------------------------------------------------------------------------


def _decode_payload(
    payload: memoryview, k: int, n: int, n_exc: int, raw_len: int, widths: bytes
) -> tuple[I64, F64, I64]:
    offsets = np.zeros(k + 1, np.int64)
    if k == 0:
        if raw_len or len(payload):
            raise _corrupt("empty frame with a payload")
        return np.zeros(0, np.int64), np.zeros(0, np.float64), offsets
    raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=raw_len)
    if len(raw) != raw_len:
        raise _corrupt(f"payload decompressed to {len(raw)} of {raw_len} bytes")
    streams: list[U64] = []
    pos = 0

    def take(count: int) -> None:
        nonlocal pos
        stream, pos = _unshuffle(raw, pos, count, widths[len(streams)])
        streams.append(stream)

    take(k)
    counts = streams[_S_COUNTS].view(np.int64)
    if int(counts.min()) < 1 or int(counts.max()) > n or int(counts.sum()) != n:
        raise _corrupt(f"segment sizes do not add up to {n} samples")
    take(k)
    xor_seg = streams[_S_MODES] == _MODE_XOR
    k_xor = int(np.count_nonzero(xor_seg))
    n_xor = int(counts[xor_seg].sum())
    for count in (k, k, n, k - k_xor, n - n_xor, k_xor, n_xor, n_exc, n_exc):
        take(count)
    if pos != raw_len:
        raise _corrupt(f"payload has {raw_len - pos} unused bytes")
    starts = _starts_of(counts)
    np.cumsum(counts, out=offsets[1:])
    t = _decode_times(streams, starts, counts)
    v = _decode_values(streams, starts, counts, n)
    return t, v, offsets
