"""Chunk frames: bit-exact round trips, compression of decimal data, corruption handling."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from kubeprom.errors import CorruptionError
from kubeprom.tsdb.chunks import decode_frame, encode_frame, frame_series_count

STALE_NAN_BITS = 0x7FF0000000000002
NEG_ZERO_BITS = 0x8000000000000000
T_LIMIT = 2**62
# Header size and byte offsets, as documented in docs/tsdb-format.md ("Chunk frames").
HEADER_SIZE = 48
OFF_VERSION = 4
OFF_K = 8
OFF_RAW_LEN = 20
OFF_PAYLOAD_LEN = 24
OFF_PAYLOAD_CRC = 40
OFF_HEADER_CRC = 44

Frame = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]


def f64(bits: list[int]) -> NDArray[np.float64]:
    return np.array(bits, dtype=np.uint64).view(np.float64)


def csr(segments: list[tuple[list[int], list[int]]]) -> Frame:
    """(times, value bits) per segment -> CSR arrays."""
    t = np.array([x for times, _ in segments for x in times], dtype=np.int64)
    v = f64([b for _, bits in segments for b in bits])
    counts = [len(times) for times, _ in segments]
    offsets = np.concatenate(([0], np.cumsum(counts, dtype=np.int64))).astype(np.int64)
    return t, v, offsets


def assert_round_trip(
    t: NDArray[np.int64], v: NDArray[np.float64], offsets: NDArray[np.int64]
) -> bytes:
    data = encode_frame(t, v, offsets)
    t2, v2, off2 = decode_frame(data)
    assert (t2.dtype.str, v2.dtype.str, off2.dtype.str) == ("<i8", "<f8", "<i8")
    np.testing.assert_array_equal(off2, offsets)
    np.testing.assert_array_equal(t2, t)
    np.testing.assert_array_equal(v2.view(np.uint64), v.view(np.uint64))
    assert frame_series_count(data) == offsets.size - 1
    return data


def reseal(frame: bytes | bytearray) -> bytes:
    """Recompute both CRCs, so a test reaches the checks behind them."""
    buf = bytearray(frame)
    struct.pack_into("<I", buf, OFF_PAYLOAD_CRC, zlib.crc32(buf[HEADER_SIZE:]))
    struct.pack_into("<I", buf, OFF_HEADER_CRC, zlib.crc32(buf[:OFF_HEADER_CRC]))
    return bytes(buf)


def with_payload(frame: bytes, payload: bytes, raw_len: int | None = None) -> bytes:
    """Same header, another payload; length fields and CRCs fixed up to match."""
    head = bytearray(frame[:HEADER_SIZE])
    struct.pack_into("<I", head, OFF_PAYLOAD_LEN, len(payload))
    if raw_len is not None:
        struct.pack_into("<I", head, OFF_RAW_LEN, raw_len)
    return reseal(bytes(head) + payload)


def with_raw_payload(frame: bytes, raw: bytes) -> bytes:
    """Same header, payload replaced by ``raw`` compressed, lengths and CRCs fixed up."""
    payload = zstandard.ZstdCompressor(write_content_size=False).compress(raw)
    return with_payload(frame, payload, raw_len=len(raw))


def raw_payload(frame: bytes) -> bytes:
    raw_len = struct.unpack_from("<I", frame, OFF_RAW_LEN)[0]
    return bytes(
        zstandard.ZstdDecompressor().decompress(frame[HEADER_SIZE:], max_output_size=raw_len)
    )


def decodes_consistently_or_raises_corruption(frame: bytes, k: int) -> None:
    # A CRC is no proof of a sane writer: whatever sits behind it, decode either fails
    # with CorruptionError or returns consistent arrays, never a bare numpy/zstd error.
    try:
        t, v, offsets = decode_frame(frame)
    except CorruptionError:
        pass
    else:
        assert offsets.shape == (k + 1,)
        assert t.shape == v.shape == (offsets[-1],)


# --- strategies ---------------------------------------------------------------------


def float_bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


any_bits = st.one_of(
    st.floats().map(float_bits),  # includes nan, +-inf, -0.0, subnormals
    st.integers(0, 2**64 - 1),  # any bit pattern: NaN payloads, signalling NaNs
    st.sampled_from([STALE_NAN_BITS, NEG_ZERO_BITS, float_bits(float("inf"))]),
)


@st.composite
def decimal_bits(draw: st.DrawFn, size: int) -> list[int]:
    """Decimal-looking values (decimal mode), with the odd special value sprinkled in."""
    e = draw(st.integers(0, 15))
    scale = draw(st.sampled_from([1, 10**3, 10**6, 2**50]))
    mantissas = draw(st.lists(st.integers(-scale, scale), min_size=size, max_size=size))
    bits = [float_bits(mant / 10.0**e) for mant in mantissas]
    for i in draw(st.lists(st.integers(0, size - 1), max_size=3)):
        bits[i] = draw(any_bits)
    return bits


@st.composite
def segment(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    size = draw(st.integers(1, 50))
    if draw(st.booleans()):
        times = sorted(
            draw(
                st.lists(st.integers(-T_LIMIT, T_LIMIT), min_size=size, max_size=size, unique=True)
            )
        )
    else:
        # Scrape-like: a regular interval with jitter smaller than it.
        start = draw(st.integers(-T_LIMIT, T_LIMIT - 10**9))
        jitter = draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size))
        times = [start + 15_000 * i + j for i, j in enumerate(jitter)]
    if draw(st.booleans()):
        bits = draw(decimal_bits(size))
    else:
        bits = draw(st.lists(any_bits, min_size=size, max_size=size))
    return times, bits


# --- round trips --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(segment(), max_size=8))
def test_round_trip_is_bit_exact(segments: list[tuple[list[int], list[int]]]) -> None:
    assert_round_trip(*csr(segments))


def test_round_trip_empty_frame() -> None:
    data = assert_round_trip(np.zeros(0, np.int64), np.zeros(0), np.zeros(1, np.int64))
    assert frame_series_count(data) == 0
    assert len(data) == HEADER_SIZE


def test_round_trip_int64_extremes() -> None:
    # Not produced by the store, but deltas wrap modulo 2**64 and must still invert.
    times = [-(2**63), -(2**63) + 1, 0, 2**63 - 2, 2**63 - 1]
    assert_round_trip(*csr([(times, [float_bits(1.5)] * 5), ([2**63 - 1], [STALE_NAN_BITS])]))


def test_round_trip_single_sample_segments() -> None:
    segments = [([i * 1000], [float_bits(i / 10)]) for i in range(20)]
    segments += [([-5], [NEG_ZERO_BITS]), ([7], [STALE_NAN_BITS])]
    assert_round_trip(*csr(segments))


@pytest.mark.parametrize(
    "special",
    [STALE_NAN_BITS, NEG_ZERO_BITS, float_bits(float("-inf")), 0x7FF8DEADBEEF0001],
    ids=["stale-nan", "neg-zero", "neg-inf", "nan-payload"],
)
@pytest.mark.parametrize("where", [0, 1, 239, 479], ids=lambda i: f"at-{i}")
def test_special_value_inside_decimal_counter(special: int, where: int) -> None:
    t, v, offsets = realistic_counter(480, seed=where)
    v[where] = f64([special])[0]
    data = assert_round_trip(t, v, offsets)
    # Still the compact decimal coding, with one exception, not 8-byte XOR.
    assert len(data) < 480 * 5


def test_mixed_decimal_and_xor_segments() -> None:
    rng = np.random.default_rng(3)
    t1, v1, _ = realistic_counter(300, seed=1)
    noise = rng.standard_normal(300)
    bits = rng.integers(0, 2**64, 300, dtype=np.uint64).view(np.float64)
    t = np.concatenate([t1, t1, t1])
    v = np.concatenate([v1, noise, bits])
    assert_round_trip(t, v, np.array([0, 300, 600, 900], np.int64))


def test_encode_accepts_views_and_leaves_inputs_alone() -> None:
    t, v, _ = realistic_counter(1000, seed=5)
    v[::7] = np.nan
    t_copy, v_copy = t.copy(), v.copy()
    # Every other sample of one long series: strided, non-contiguous views.
    data = encode_frame(t[::2], v[::2], np.array([0, 500], np.int64))
    np.testing.assert_array_equal(t, t_copy)
    np.testing.assert_array_equal(v.view(np.uint64), v_copy.view(np.uint64))
    t2, v2, _ = decode_frame(data)
    np.testing.assert_array_equal(t2, t[::2])
    np.testing.assert_array_equal(v2.view(np.uint64), v[::2].view(np.uint64))


def test_decoded_arrays_are_writable() -> None:
    t, v, offsets = decode_frame(encode_frame(*realistic_counter(2, seed=0)))
    t[0], v[0], offsets[0] = 1, 2.0, 3
    assert (t[0], v[0], offsets[0]) == (1, 2.0, 3)


@pytest.mark.parametrize(
    ("t", "v", "offsets", "message"),
    [
        ([1, 2], [1.0], [0, 2], "t has 2 samples but v has 1"),
        ([1, 2], [1.0, 2.0], [0, 1], "offsets must start at 0 and end at 2"),
        ([1, 2], [1.0, 2.0], [], "offsets must start at 0 and end at 2"),
        ([1, 2], [1.0, 2.0], [0, 2, 2], "every segment needs at least one sample"),
    ],
    ids=["length-mismatch", "short-offsets", "no-offsets", "empty-segment"],
)
def test_encode_rejects_bad_layout(
    t: list[int], v: list[float], offsets: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_frame(np.array(t, np.int64), np.array(v), np.array(offsets, np.int64))


# --- size ---------------------------------------------------------------------------


def realistic_counter(n: int, seed: int) -> Frame:
    """A CPU-seconds counter at 0.25 cores +-50%, microsecond precision, 15 s scrapes."""
    rng = np.random.default_rng(seed)
    t = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 15_000 + rng.integers(-3, 4, n)
    v = np.round(1234.5 + np.cumsum(rng.uniform(0.5, 1.5, n) * 15 * 0.25), 6)
    return t, v, np.array([0, n], np.int64)


def test_decimal_counter_compresses_well() -> None:
    # Measured 3.82 bytes/sample; the increments carry ~22 random bits. XOR coding of the
    # same series takes ~6.5 bytes/sample.
    data = assert_round_trip(*realistic_counter(10_000, seed=7))
    assert len(data) < 4.0 * 10_000


def test_integer_series_sharing_timestamps_compress_well() -> None:
    # 100 histogram-bucket-like counters scraped together; measured ~0.6 bytes/sample.
    rng = np.random.default_rng(11)
    n, k = 100, 100
    t_one = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 15_000 + rng.integers(-3, 4, n)
    v = np.cumsum(rng.poisson(5.0, (k, n)), axis=1).astype(np.float64).ravel()
    data = assert_round_trip(np.tile(t_one, k), v, np.arange(k + 1, dtype=np.int64) * n)
    assert len(data) < 1.0 * n * k


def test_random_bit_patterns_round_trip_near_raw_size() -> None:
    rng = np.random.default_rng(13)
    n = 10_000
    t = np.cumsum(rng.integers(1, 2**40, n)).astype(np.int64)
    v = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
    data = assert_round_trip(t, v, np.array([0, n // 3, n], np.int64))
    # Incompressible values: 8 bytes each plus timestamps, and not much overhead on top.
    assert len(data) < 14 * n


# --- corruption ---------------------------------------------------------------------


def sample_frame() -> bytes:
    """Two decimal series (one with an exception) and one XOR series."""
    t1, v1, _ = realistic_counter(40, seed=2)
    v2 = v1 * 1000
    v1[10] = f64([STALE_NAN_BITS])[0]
    v3 = np.random.default_rng(2).standard_normal(40)
    return encode_frame(
        np.tile(t1, 3), np.concatenate([v1, v2, v3]), np.array([0, 40, 80, 120], np.int64)
    )


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (0, "bad frame magic"),
        (OFF_VERSION, "unsupported frame version"),
        (5, "frame header checksum mismatch"),  # flags
        (OFF_K, "frame header checksum mismatch"),
        (OFF_RAW_LEN, "frame header checksum mismatch"),
        (28, "frame header checksum mismatch"),  # stream widths
        (OFF_PAYLOAD_CRC, "frame header checksum mismatch"),
        (OFF_HEADER_CRC + 3, "frame header checksum mismatch"),
        (HEADER_SIZE, "frame checksum mismatch"),
        (HEADER_SIZE + 50, "frame checksum mismatch"),
        (-1, "frame checksum mismatch"),
    ],
    ids=[
        "magic",
        "version",
        "flags",
        "k",
        "raw-len",
        "widths",
        "payload-crc",
        "header-crc",
        "payload-first",
        "payload-middle",
        "payload-last",
    ],
)
def test_flipped_byte_is_detected(position: int, message: str) -> None:
    data = bytearray(sample_frame())
    data[position] ^= 0xFF
    with pytest.raises(CorruptionError, match=message) as info:
        decode_frame(bytes(data))
    assert info.value.path == "<frame>"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_single_byte_error_is_detected(data: st.DataObject) -> None:
    frame = bytearray(sample_frame())
    position = data.draw(st.integers(0, len(frame) - 1))
    frame[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CorruptionError):
        decode_frame(bytes(frame))


def test_every_truncation_is_detected() -> None:
    frame = sample_frame()
    for size in range(len(frame)):
        expected = "truncated frame header" if size < HEADER_SIZE else "truncated frame: payload"
        with pytest.raises(CorruptionError, match=expected):
            decode_frame(frame[:size])


def test_trailing_bytes_are_detected() -> None:
    with pytest.raises(CorruptionError, match="1 trailing bytes after frame"):
        decode_frame(sample_frame() + b"\x00")


def test_series_count_checks_the_header() -> None:
    frame = sample_frame()
    assert frame_series_count(frame) == 3
    bad = bytearray(frame)
    bad[OFF_K] ^= 1
    with pytest.raises(CorruptionError, match="frame header checksum mismatch"):
        frame_series_count(bytes(bad))
    with pytest.raises(CorruptionError, match="truncated frame header"):
        frame_series_count(frame[:10])


def test_newer_version_is_named() -> None:
    frame = bytearray(sample_frame())
    frame[OFF_VERSION] = 2
    with pytest.raises(CorruptionError, match="unsupported frame version 2"):
        decode_frame(bytes(frame))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_payload_behind_valid_checksums(junk: bytes) -> None:
    decodes_consistently_or_raises_corruption(with_payload(sample_frame(), junk), 3)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_wrong_content_behind_valid_checksums(data: st.DataObject) -> None:
    frame = sample_frame()
    raw = raw_payload(frame)
    if data.draw(st.booleans()):
        mutated = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 4))):
            mutated[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        new_raw = bytes(mutated)
    else:
        new_raw = data.draw(st.binary(max_size=len(raw) + 16))
    decodes_consistently_or_raises_corruption(with_raw_payload(frame, new_raw), 3)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw[:-1], "payload too short"),
        (lambda raw: raw + b"\x00", "payload has 1 unused bytes"),
        (lambda raw: bytes(len(raw)), "segment sizes do not add up to 120 samples"),
    ],
    ids=["short", "long", "zero-counts"],
)
def test_inconsistent_payload_behind_valid_checksums(
    edit: Callable[[bytes], bytes], message: str
) -> None:
    frame = sample_frame()
    with pytest.raises(CorruptionError, match=message):
        decode_frame(with_raw_payload(frame, edit(raw_payload(frame))))


def test_non_zstd_payload_behind_valid_checksums() -> None:
    with pytest.raises(CorruptionError, match="malformed frame payload"):
        decode_frame(with_payload(sample_frame(), b"not zstd at all"))
