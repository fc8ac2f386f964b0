"""Level compaction: planning as a pure function of block metas, merged blocks equal to the
union of their parents, and a crash between writing a merged block and deleting its parents
(queries racing a merge are in test_compaction_race.py)."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.model.csr import offsets_from_counts
from kubeprom.model.samples import STALE_NAN
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options
from kubeprom.tsdb.block import Block, write_block
from kubeprom.tsdb.blockmeta import BlockMeta
from kubeprom.tsdb.compact import block_ranges, merge_blocks, obsolete_blocks, plan

HOUR = 3_600_000
DAY = 24 * HOUR
R = [20, 60, 180, 540, 1620]  # the ranges of Prometheus' own planning tests


def meta(mint: int, maxt: int, name: str | None = None) -> BlockMeta:
    return BlockMeta(name or f"{mint}-{maxt}", mint, maxt, 1, 1, 1)


def spans(metas: list[BlockMeta]) -> list[tuple[int, int]]:
    return [(m.min_time, m.max_time) for m in metas]


# ---- ranges and planning ---------------------------------------------------------------------
def test_block_ranges_grow_3x_up_to_a_tenth_of_retention_at_most_31_days() -> None:
    assert block_ranges(2 * HOUR, 15 * DAY) == [2 * HOUR, 6 * HOUR, 18 * HOUR]  # cap 36 h
    assert block_ranges(2 * HOUR, None) == [2 * HOUR * 3**i for i in range(6)]  # 486 h < 31 d
    assert block_ranges(2 * HOUR, 365 * DAY)[-1] == 486 * HOUR  # 1458 h is over 31 d
    assert block_ranges(2 * HOUR, 15 * DAY, max_block_ms=2 * HOUR) == [2 * HOUR]  # off
    assert block_ranges(2 * HOUR, HOUR) == [2 * HOUR]  # the first range always stays


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([(0, 20)], []),
        ([(0, 20), (20, 40)], []),  # the newest is never planned
        ([(0, 20), (20, 40), (40, 60)], []),  # [0, 40) does not fill 60, newest starts at 40
        ([(0, 20), (20, 40), (40, 60), (60, 80)], [(0, 20), (20, 40), (40, 60)]),
        ([(0, 20), (20, 40), (60, 80)], []),  # 40 is after 20, the last planned block's start
        ([(0, 20), (20, 40), (60, 80), (80, 100)], [(0, 20), (20, 40)]),  # ends before 60
        ([(0, 20), (40, 60), (60, 80)], [(0, 20), (40, 60)]),  # a gap: spans the range
        ([(0, 60), (60, 120), (120, 180), (180, 200)], [(0, 60), (60, 120), (120, 180)]),
        (
            [(0, 60), (60, 80), (80, 100), (100, 120), (120, 140)],
            [(60, 80), (80, 100), (100, 120)],
        ),  # the 60 range before the 180 one
        ([(0, 540), (540, 560), (560, 580)], []),
        ([(0, 20), (10, 30), (40, 60), (60, 80)], [(40, 60)] * 0),  # overlap: not merged
        ([(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)], [(0, 20), (20, 40), (40, 60)]),
    ],
    ids=[
        "one",
        "two",
        "three-newest-left",
        "four",
        "not-before-last",
        "before-last",
        "gap",
        "level-3",
        "smaller-range-first",
        "nothing-fits",
        "overlap",
        "first-group",
    ],
)
def test_plan_examples(blocks: list[tuple[int, int]], expected: list[tuple[int, int]]) -> None:
    assert spans(plan([meta(a, b) for a, b in blocks], R)) == expected


def test_plan_skips_groups_whose_merge_failed() -> None:
    metas = [meta(a, a + 20) for a in range(0, 140, 20)]
    assert spans(plan(metas, R)) == [(0, 20), (20, 40), (40, 60)]
    assert spans(plan(metas, R, frozenset({"20-40"}))) == [(60, 80), (80, 100), (100, 120)]


@st.composite
def block_sets(draw: st.DrawFn) -> list[BlockMeta]:
    """Aligned blocks as a store holds them: 20-wide slots, some missing, some already merged
    into one aligned range of a higher level."""
    slots = draw(st.lists(st.booleans(), min_size=1, max_size=60))
    out: list[BlockMeta] = []
    i = 0
    while i < len(slots):
        level = draw(st.integers(0, 2))
        width = 3**level
        if i % width == 0 and i + width <= len(slots) and all(slots[i : i + width]):
            out.append(meta(20 * i, 20 * (i + width)))
            i += width
            continue
        if slots[i]:
            out.append(meta(20 * i, 20 * (i + 1)))
        i += 1
    return out


def _qualifying(metas: list[BlockMeta], tr: int) -> list[list[BlockMeta]]:
    """Reference: every group of 2+ blocks (the newest left out) inside one aligned ``tr``
    range that spans it or ends before the last of them starts, without split_by_range."""
    ordered = sorted(metas, key=lambda m: m.min_time)
    rest = ordered[:-1]
    if not rest:
        return []
    high_time = rest[-1].min_time
    out = []
    for t0 in sorted({tr * (m.min_time // tr) for m in rest}):
        inside = [m for m in rest if t0 <= m.min_time and m.max_time <= t0 + tr]
        if len(inside) >= 2 and (
            inside[-1].max_time - inside[0].min_time == tr or inside[-1].max_time <= high_time
        ):
            out.append(inside)
    return out


@settings(max_examples=300, deadline=None)
@given(block_sets())
def test_plan_picks_the_first_qualifying_group_of_the_smallest_range(
    metas: list[BlockMeta],
) -> None:
    got = plan(metas, R)
    candidates = [(tr, g) for tr in R[1:] for g in _qualifying(metas, tr)] if metas else []
    if not candidates:
        assert got == []
        return
    _tr, group = candidates[0]
    assert got == group
    newest = max(metas, key=lambda m: m.min_time)
    assert newest not in got
    assert all(a.max_time <= b.min_time for a, b in itertools.pairwise(got))


@settings(max_examples=200, deadline=None)
@given(block_sets())
def test_planning_and_merging_until_done_leaves_no_mergeable_group(
    metas: list[BlockMeta],
) -> None:
    """Merging each plan (as the store does, on metas) ends; every block then still lies in
    one aligned range of its length, and the sources of all blocks are the slots we began
    with, each once."""
    if not metas:
        return
    blocks = list(metas)
    for _ in range(len(metas)):
        group = plan(blocks, R)
        if not group:
            break
        merged = BlockMeta(
            "+".join(m.ulid for m in group), group[0].min_time, group[-1].max_time, 1, 1, 1
        )
        blocks = [b for b in blocks if b not in group] + [merged]
    assert plan(blocks, R) == []
    assert sorted("+".join(b.ulid for b in blocks).split("+")) == sorted(m.ulid for m in metas)
    for b in blocks:  # a merged block lies inside one aligned range of some level
        assert any(b.min_time // tr == (b.max_time - 1) // tr for tr in R)


def test_obsolete_blocks_are_the_parents_named_in_metas() -> None:
    child = BlockMeta("c", 0, 60, 1, 1, 1, level=2, parents=(meta(0, 20).desc, meta(20, 40).desc))
    assert obsolete_blocks([meta(0, 20), meta(20, 40), child]) == {"0-20", "20-40"}


# ---- merging ---------------------------------------------------------------------------------
SPECIAL = np.array([np.nan, STALE_NAN, -0.0, np.inf, 1e-300], dtype=np.float64)


Pieces = list[tuple[np.ndarray, np.ndarray]]


def _blocks(tmp: Path, n_parents: int, seed: int, n_series: int) -> dict[Labels, Pieces]:
    """Write ``n_parents`` 2 h blocks of overlapping series sets; returns per label set the
    (t, v bits) each parent holds."""
    rng = np.random.default_rng(seed)
    expected: dict[Labels, Pieces] = {}
    for p in range(n_parents):
        start = p * 2 * HOUR
        chosen = sorted(
            rng.choice(n_series, size=int(rng.integers(1, n_series + 1)), replace=False)
        )
        labels, ts, vs = [], [], []
        for i in chosen:
            lab = Labels.from_dict({"__name__": f"m{i % 3}", "pod": f"p{i}", "x": "y" * (i % 4)})
            n = int(rng.integers(1, 200))
            t = np.sort(rng.choice(2 * HOUR, size=n, replace=False)).astype(np.int64) + start
            v = rng.normal(size=n)
            special = rng.random(n) < 0.1
            v[special] = rng.choice(SPECIAL, size=int(special.sum()))
            labels.append(lab)
            ts.append(t)
            vs.append(v)
            expected.setdefault(lab, []).append((t, v))
        offsets = offsets_from_counts(np.array([len(t) for t in ts], dtype=np.int64))
        write_block(
            tmp,
            labels,
            np.concatenate(ts),
            np.concatenate(vs),
            offsets,
            min_time=start,
            max_time=start + 2 * HOUR,
            frame_samples=256,
        )
    return expected


def _opened(tmp: Path) -> list[Block]:
    return sorted(
        (Block.open(d) for d in tmp.iterdir() if d.is_dir()), key=lambda b: b.meta.min_time
    )


def _contents(block: Block) -> dict[Labels, tuple[list[int], list[int]]]:
    part = block.read(block.all_ids(), MIN_TIME, MAX_TIME)
    out = {}
    for k, i in enumerate(part.ids.tolist()):
        a, b = int(part.offsets[k]), int(part.offsets[k + 1])
        out[block.labels(i)] = (part.t[a:b].tolist(), part.v[a:b].view(np.uint64).tolist())
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_parents=st.integers(2, 4), n_series=st.integers(1, 40))
def test_merged_block_is_the_union_of_its_parents_bit_for_bit(
    tmp_path_factory: pytest.TempPathFactory, seed: int, n_parents: int, n_series: int
) -> None:
    tmp = tmp_path_factory.mktemp("blocks")
    expected = _blocks(tmp, n_parents, seed, n_series)
    parents = _opened(tmp)
    path = merge_blocks(tmp, parents)
    assert path is not None
    merged = Block.open(path)
    want = {
        lab: (
            np.concatenate([t for t, _ in pieces]).tolist(),
            np.concatenate([v for _, v in pieces]).view(np.uint64).tolist(),
        )
        for lab, pieces in expected.items()
    }
    assert _contents(merged) == want
    assert [merged.labels(i) for i in range(merged.meta.num_series)] == sorted(want)
    # The parents' slices, one after another: the frame cache is sized by this, not by the
    # merged block's series count.
    assert [lo for lo, _, _ in merged.slices] == [lo for p in parents for lo, _, _ in p.slices]
    assert merged.slice_series == max(p.slice_series for p in parents)
    m = merged.meta
    assert (m.min_time, m.max_time, m.level) == (0, n_parents * 2 * HOUR, 2)
    assert m.num_samples == sum(len(t) for t, _ in want.values())
    assert m.parents == tuple(p.meta.desc for p in parents)
    assert m.sources == tuple(sorted(p.meta.ulid for p in parents))
    doc = json.loads((path / "meta.json").read_text())
    assert doc["compaction"]["level"] == 2
    assert [p["ulid"] for p in doc["compaction"]["parents"]] == [p.meta.ulid for p in parents]
    # Postings of the merged index agree with a scan of its label sets.
    for v in merged.label_values_of("pod"):
        ids = merged.postings("pod", v).tolist()
        assert ids == [i for i in range(m.num_series) if merged.labels(i).get("pod") == v]
    for b in [*parents, merged]:
        b.close()


def _files(path: Path) -> tuple[bytes, bytes]:
    return (path / "index").read_bytes(), (path / "chunks" / "000001").read_bytes()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_parents=st.integers(2, 4),
    n_series=st.integers(1, 30),
    deleted=st.booleans(),
)
def test_a_merge_in_batches_writes_the_same_block_as_one_unbatched_merge(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    n_parents: int,
    n_series: int,
    deleted: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("blocks")
    expected = _blocks(tmp, n_parents, seed, n_series)
    parents = _opened(tmp)
    if deleted:  # a series left empty, so the union is filtered and symbols dropped
        parents[0].delete_series(np.array([0]), MIN_TIME, MAX_TIME)
    out = tmp_path_factory.mktemp("merged")
    files = {}
    for batch in (1, 2, 3, 7, 1 << 30):
        path = merge_blocks(out, parents, batch=batch)
        assert path is not None
        files[batch] = _files(path)
    for b in parents:
        b.close()
    assert all(f == files[1 << 30] for f in files.values())
    if deleted or any(len(p.slices) != 4 for p in parents):
        return
    # With every parent slice holding samples, the merged block is the block write_block
    # writes for the union (same slices, same frames): a reference built without merging.
    ref = tmp_path_factory.mktemp("reference")
    want = sorted(expected)
    ts = [np.concatenate([t for t, _ in expected[lab]]) for lab in want]
    vs = [np.concatenate([v for _, v in expected[lab]]) for lab in want]
    path = write_block(
        ref,
        want,
        np.concatenate(ts),
        np.concatenate(vs),
        offsets_from_counts(np.array([len(t) for t in ts], dtype=np.int64)),
        min_time=0,
        max_time=n_parents * 2 * HOUR,
        frame_samples=256,
    )
    assert _files(path) == files[1 << 30]


def test_merging_applies_tombstones_and_drops_series_left_empty(tmp_path: Path) -> None:
    expected = _blocks(tmp_path, 3, seed=5, n_series=6)
    parents = _opened(tmp_path)
    victim = parents[1]
    gone = victim.labels(0)
    # Delete all of series 0 of the middle block and the first half hour of every other one.
    victim.delete_series(np.array([0]), MIN_TIME, MAX_TIME)
    rest = np.arange(1, victim.meta.num_series)
    victim.delete_series(rest, MIN_TIME, 2 * HOUR + 30 * 60_000)
    path = merge_blocks(tmp_path, parents)
    assert path is not None
    merged = Block.open(path)
    got = _contents(merged)
    for b in [*parents, merged]:
        b.close()
    for lab, pieces in expected.items():
        ts, vs = [], []
        for t, v in pieces:
            in_victim = 2 * HOUR <= int(t[0]) < 4 * HOUR
            keep = np.ones(len(t), dtype=bool)
            if in_victim and lab == gone:
                keep[:] = False
            elif in_victim:
                keep = t > 2 * HOUR + 30 * 60_000
            ts.append(t[keep])
            vs.append(v[keep])
        t, v = np.concatenate(ts), np.concatenate(vs)
        if t.size:
            assert got.pop(lab) == (t.tolist(), v.view(np.uint64).tolist())
    assert got == {}


def test_merging_every_sample_deleted_writes_nothing(tmp_path: Path) -> None:
    _blocks(tmp_path, 2, seed=1, n_series=3)
    parents = _opened(tmp_path)
    for b in parents:
        b.delete_series(b.all_ids(), MIN_TIME, MAX_TIME)
    assert merge_blocks(tmp_path, parents) is None
    for b in parents:
        b.close()
    assert sorted(d.name for d in tmp_path.iterdir()) == sorted(p.path.name for p in parents)


def test_a_corrupt_parent_frame_fails_the_merge_and_leaves_no_block(tmp_path: Path) -> None:
    _blocks(tmp_path, 2, seed=2, n_series=5)
    first = sorted(tmp_path.iterdir())[0]  # any one parent
    chunk = first / "chunks" / "000001"
    data = bytearray(chunk.read_bytes())
    data[-3] ^= 0xFF
    chunk.write_bytes(bytes(data))
    parents = _opened(tmp_path)
    with pytest.raises(CorruptionError, match="checksum mismatch"):
        merge_blocks(tmp_path, parents)
    for b in parents:
        b.close()
    assert not [d for d in tmp_path.iterdir() if d.name.endswith(".tmp")]


# ---- the store ---------------------------------------------------------------------------------
OPTS = Options(retention_ms=None, block_range_ms=1000)
ALL = [Matcher(MatchType.EQUAL, "__name__", "m")]


def _fill(db: DB, n_series: int, until_ms: int) -> dict[Labels, np.ndarray]:
    labels = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(n_series)]
    app = db.appender()
    refs = np.array([app.ref(s) for s in labels], dtype=np.int64)
    times = np.arange(0, until_ms, 10, dtype=np.int64)
    for t in times.tolist():
        app.append(t, refs, refs.astype(np.float64) * 1000 + t)
    app.commit()
    return dict.fromkeys(labels, times)


def _query(db: DB) -> dict[Labels, list[int]]:
    return {s.labels: s.t.tolist() for s in db.querier().select(ALL, MIN_TIME, MAX_TIME)}


def test_the_store_merges_blocks_level_by_level(tmp_path: Path) -> None:
    db = DB.open(tmp_path, OPTS)
    want = _fill(db, 5, 11_000)
    assert db.compact() == 10  # [0, 1000) .. [9000, 10000) cut from the head
    # Three 3000-ms blocks of level 2, then one 9000-ms block of level 3 from them; the
    # newest block waits.
    assert [(b.meta.min_time, b.meta.max_time, b.meta.level) for b in db.blocks] == [
        (0, 9000, 3),
        (9000, 10000, 1),
    ]
    assert len(db.blocks[0].meta.sources) == 9
    assert all(
        a.meta.max_time <= b.meta.min_time for a, b in zip(db.blocks, db.blocks[1:], strict=False)
    )
    assert _query(db) == {lab: t.tolist() for lab, t in want.items()}
    on_disk = sorted(d.name for d in tmp_path.iterdir() if d.name not in ("wal",))
    assert on_disk == sorted(b.path.name for b in db.blocks)
    db.close()


def test_a_crash_between_writing_the_merged_block_and_deleting_its_parents(
    tmp_path: Path,
) -> None:
    """Both generations on disk: queries never see a sample twice, in a read-only open (which
    leaves the files alone) nor in a writable one (which deletes the parents)."""
    db = DB.open(
        tmp_path, Options(retention_ms=None, block_range_ms=1000, max_block_duration_ms=1000)
    )
    want = {lab: t.tolist() for lab, t in _fill(db, 4, 5000).items()}
    assert db.compact() == 4  # [0, 1000) .. [3000, 4000)
    parents = db.blocks_snapshot()
    path = merge_blocks(tmp_path, parents)  # ... and the process dies here
    assert path is not None
    db.close()
    names = sorted(d.name for d in tmp_path.iterdir() if d.name != "wal")
    assert len(names) == 5

    ro = DB.open_read_only(tmp_path)
    assert [b.path.name for b in ro.blocks] == [path.name]
    assert _query(ro) == want
    ro.close()
    assert sorted(d.name for d in tmp_path.iterdir() if d.name != "wal") == names

    db = DB.open(tmp_path, OPTS)
    assert [b.path.name for b in db.blocks] == [path.name]
    got = db.querier().select(ALL, MIN_TIME, MAX_TIME)
    assert {s.labels: s.t.tolist() for s in got} == want
    assert sorted(d.name for d in tmp_path.iterdir() if d.name != "wal") == [path.name]
    db.close()


def test_a_failed_merge_is_logged_and_not_planned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = DB.open(tmp_path, OPTS)
    want = {lab: t.tolist() for lab, t in _fill(db, 3, 6000).items()}
    calls = []

    def failing(data_dir: Path, parents: list[Block]) -> Path:
        calls.append([p.meta.min_time for p in parents])
        raise StorageError("disk full")

    monkeypatch.setattr("kubeprom.tsdb.db.merge_blocks", failing)
    assert db.compact() == 5
    assert calls == [[0, 1000, 2000]]
    assert "block merge failed" in caplog.text
    assert len(db.blocks) == 5
    db.compact_blocks()
    assert calls == [[0, 1000, 2000]]
    assert _query(db) == want
    db.close()
    shutil.rmtree(tmp_path / "wal")
