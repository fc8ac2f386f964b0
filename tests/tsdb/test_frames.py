"""FrameSet.read against a naive filter, through the time index and the long-span fallback."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model.csr import offsets_from_counts
from kubeprom.tsdb.frames import FrameCache, FrameSet


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    # 1 and 1,000 ms gaps: 32-bit keys; 2**25: spans near 2**32 ms, 64-bit keys;
    # 10**9 ms gaps: frames span > 2**32 ms (no key)
    gap_scale=st.sampled_from([1, 1_000, 2**25, 10**9]),
    cached=st.booleans(),
)
def test_read_equals_a_naive_filter(data: st.DataObject, gap_scale: int, cached: bool) -> None:
    n_series = data.draw(st.integers(1, 6))
    counts = data.draw(st.lists(st.integers(1, 12), min_size=n_series, max_size=n_series))
    series_t = [
        np.cumsum(data.draw(st.lists(st.integers(1, 5), min_size=c, max_size=c))) * gap_scale
        + data.draw(st.integers(-50, 50)) * gap_scale
        for c in counts
    ]
    t = np.concatenate(series_t).astype(np.int64)
    v = np.arange(len(t), dtype=np.float64)
    offsets = offsets_from_counts(np.array(counts, dtype=np.int64))
    ids = np.arange(10, 10 + n_series, dtype=np.int64)
    cache = FrameCache(1 << 20) if cached else None
    fs = FrameSet.build(ids, t, v, offsets, target=data.draw(st.integers(1, 30)), cache=cache)
    want_ids = np.array(sorted(data.draw(st.sets(st.integers(8, 18)))), dtype=np.int64)
    lo = data.draw(st.integers(-60, 80)) * gap_scale
    hi = lo + data.draw(st.integers(-5, 60)) * gap_scale
    for _ in range(2 if cached else 1):  # a second read comes from the cache
        part = fs.read(want_ids, lo, hi)
        expected = {}
        for i, sid in enumerate(ids.tolist()):
            a, b = int(offsets[i]), int(offsets[i + 1])
            keep = (t[a:b] >= lo) & (t[a:b] <= hi)
            if sid in want_ids and keep.any():
                expected[sid] = (t[a:b][keep].tolist(), v[a:b][keep].tolist())
        got = {
            int(sid): (
                part.t[part.offsets[j] : part.offsets[j + 1]].tolist(),
                part.v[part.offsets[j] : part.offsets[j + 1]].tolist(),
            )
            for j, sid in enumerate(part.ids.tolist())
        }
        assert got == expected


def test_a_slice_frame_keys_its_times_in_32_bits() -> None:
    # 270 series of 120 samples over 30 minutes: 21 bits of milliseconds, 9 of series.
    n, per = 270, 120
    t = np.tile(np.arange(per, dtype=np.int64) * 15_000 + 1_800_000_000, n)
    t[-1] = 1_800_000_000 + (1 << 21) - 1  # the largest offset 21 bits hold
    fs = FrameSet.build(
        np.arange(n, dtype=np.int64), t, np.ones(n * per),
        offsets_from_counts(np.full(n, per, dtype=np.int64)), target=n * per,
        cache=FrameCache(1 << 30),
    )  # fmt: skip
    d = fs.decode(0)
    assert d.key is not None
    assert d.key.dtype == np.uint32
    assert d.nbytes == n * per * 12 + (n + 1) * 8
    # Past a series' last sample (whose offset is the key's largest), nothing is read.
    last = int(t.max())
    assert fs.read(np.array([0, n - 1]), last + 1, last + 10**6).ids.tolist() == []
    part = fs.read(np.array([0, n - 1]), last, last)
    assert part.ids.tolist() == [n - 1]
    assert part.t.tolist() == [last]


def test_cache_resize_drops_the_oldest_frames() -> None:
    cache = FrameCache(1 << 20)
    fs = FrameSet.build(
        np.arange(4, dtype=np.int64),
        np.tile(np.arange(1000, dtype=np.int64), 4),
        np.ones(4000),
        np.arange(0, 4001, 1000, dtype=np.int64),
        target=1000,
        cache=cache,
    )
    for f in range(4):
        fs.decode(f)
    assert cache.size_bytes == 4 * fs.decode(0).nbytes
    cache.resize(2 * fs.decode(0).nbytes)
    assert cache.size_bytes == 2 * fs.decode(0).nbytes
    assert cache.get((fs.cache_token, 1)) is None  # the least recently used went first
    assert cache.get((fs.cache_token, 3)) is not None
