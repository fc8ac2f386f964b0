"""Blocks cut their frames into time slices, and still read blocks written before that."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kubeprom.model.csr import offsets_from_counts
from kubeprom.model.labels import Labels
from kubeprom.tsdb.block import SLICE_MS, Block, write_block
from kubeprom.tsdb.blockindex import INDEX_ARRAYS, pack_compressed, read_index
from kubeprom.tsdb.blockmeta import BlockMeta
from kubeprom.tsdb.frames import FrameCache, encode_frames

HOUR = 3_600_000


def series(
    n: int, start: int, end: int, step: int = 15_000
) -> tuple[list[Labels], list[tuple[np.ndarray, np.ndarray]]]:
    labels = [Labels({"__name__": "m", "i": f"{i:03d}"}.items()) for i in range(n)]
    rng = np.random.default_rng(3)
    data = []
    for i in range(n):
        # Series start and stop at different times, some inside one slice only.
        a = start + int(rng.integers(0, 4)) * 7 * 60_000 + i
        b = end - int(rng.integers(0, 4)) * 11 * 60_000
        t = np.arange(a, b, step, dtype=np.int64)
        data.append((t, rng.normal(100, 5, t.size)))
    return labels, data


def write(
    tmp_path: Path,
    labels: list[Labels],
    data: list[tuple[np.ndarray, np.ndarray]],
    start: int,
    end: int,
) -> Path:
    t = np.concatenate([d[0] for d in data])
    v = np.concatenate([d[1] for d in data])
    offsets = offsets_from_counts(np.array([d[0].size for d in data], dtype=np.int64))
    return write_block(tmp_path, labels, t, v, offsets, min_time=start, max_time=end)


@pytest.mark.parametrize(
    ("mint", "maxt"),
    [(0, 2 * HOUR - 1), (2 * HOUR - 300_000, 2 * HOUR - 1), (SLICE_MS - 1, SLICE_MS), (5, 6)],
)
def test_slices_read_back_what_was_written(tmp_path: Path, mint: int, maxt: int) -> None:
    labels, data = series(40, 0, 2 * HOUR)
    blk = Block.open(write(tmp_path, labels, data, 0, 2 * HOUR))
    assert len(blk.slices) == 4
    part = blk.read(np.arange(40, dtype=np.int64), mint, maxt)
    want = {
        i: (t[(t >= mint) & (t <= maxt)], v[(t >= mint) & (t <= maxt)])
        for i, (t, v) in enumerate(data)
    }
    want = {i: tv for i, tv in want.items() if tv[0].size}
    assert part.ids.tolist() == sorted(want)
    for k, i in enumerate(part.ids.tolist()):
        a, b = int(part.offsets[k]), int(part.offsets[k + 1])
        assert part.t[a:b].tolist() == want[i][0].tolist()
        assert part.v[a:b].view(np.uint64).tolist() == want[i][1].view(np.uint64).tolist()
    blk.close()


def test_a_recent_window_decodes_only_the_last_slice(tmp_path: Path) -> None:
    labels, data = series(200, 0, 2 * HOUR)
    path = write(tmp_path, labels, data, 0, 2 * HOUR)
    cache = FrameCache(1 << 30)
    blk = Block.open(path, cache)
    last = blk.slices[-1][2]
    blk.read(np.arange(200, dtype=np.int64), 2 * HOUR - 300_000, 2 * HOUR - 1)
    assert cache.misses == len(last.frame_bounds) - 1
    assert len(last.frame_bounds) - 1 < sum(len(fs.frame_bounds) - 1 for *_, fs in blk.slices)
    blk.close()


def test_a_gap_leaves_an_empty_slice(tmp_path: Path) -> None:
    labels = [Labels({"__name__": "m"}.items())]
    t = np.array([60_000, 2 * HOUR - 60_000], dtype=np.int64)
    path = write_block(
        tmp_path, labels, t, np.array([1.0, 2.0]), np.array([0, 2]), min_time=0, max_time=2 * HOUR
    )
    blk = Block.open(path)
    assert [lo for lo, _, _ in blk.slices] == [0, 3 * SLICE_MS]
    part = blk.read(np.array([0]), 0, 2 * HOUR)
    assert part.t.tolist() == t.tolist()
    assert part.v.tolist() == [1.0, 2.0]
    blk.close()


def test_blocks_written_before_slices_still_read(tmp_path: Path) -> None:
    """An index of version 1: one run of frames over whole series, no slice arrays."""
    labels, data = series(30, 0, 2 * HOUR)
    path = write(tmp_path, labels, data, 0, 2 * HOUR)
    t = np.concatenate([d[0] for d in data])
    v = np.concatenate([d[1] for d in data])
    offsets = offsets_from_counts(np.array([d[0].size for d in data], dtype=np.int64))
    frames, bounds = encode_frames(t, v, offsets, 4096)
    new = read_index(path / "index")
    old_arrays = {
        k: new[k] for k in ("symbol_len", "symbol_data", "series_pairs", "series_pair_off")
    }
    old_arrays |= {
        "series_mint": t[offsets[:-1]],
        "series_maxt": t[offsets[1:] - 1],
        "frame_bounds": bounds,
        "frame_off": np.concatenate(([0], np.cumsum([len(f) for f in frames]))).astype(np.int64),
    }
    (path / "index").write_bytes(pack_compressed(old_arrays, version=1))
    (path / "chunks" / "000001").write_bytes(b"".join(frames))
    meta = BlockMeta.from_json(json.loads((path / "meta.json").read_text()), "meta.json")
    blk = Block.open(path)
    assert len(blk.slices) == 1
    assert blk.slices[0][2].num_samples == meta.num_samples == t.size
    part = blk.read(np.arange(30, dtype=np.int64), 0, 2 * HOUR)
    assert part.t.tolist() == t.tolist()
    assert part.v.view(np.uint64).tolist() == v.view(np.uint64).tolist()
    blk.close()


def test_compressed_index_of_version_2_reads_as_the_mapped_one(tmp_path: Path) -> None:
    """Blocks written before the mapped index (zstd, no stored postings) answer the same
    labels, postings and samples."""
    labels, data = series(40, 0, 2 * HOUR)
    path = write(tmp_path, labels, data, 0, 2 * HOUR)
    new = Block.open(path)
    arrays = read_index(path / "index")
    v3_labels = new.labels_list(range(40))
    v3_postings = {v: new.postings("i", v).tolist() for v in new.label_values_of("i")}
    v3_part = new.read(new.all_ids(), 0, 2 * HOUR)
    new.close()
    (path / "index").write_bytes(
        pack_compressed({k: np.array(arrays[k]) for k in INDEX_ARRAYS}, version=2)
    )
    old = Block.open(path)
    assert old.labels_list(range(40)) == v3_labels
    assert {v: old.postings("i", v).tolist() for v in old.label_values_of("i")} == v3_postings
    assert old.label_names() == ["__name__", "i"]
    part = old.read(old.all_ids(), 0, 2 * HOUR)
    assert part.t.tolist() == v3_part.t.tolist()
    assert part.v.view(np.uint64).tolist() == v3_part.v.view(np.uint64).tolist()
    assert old.index_memory_bytes > new.index_memory_bytes
    old.close()
