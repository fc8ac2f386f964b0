"""Queries racing compaction: a range query never misses samples the store holds.

A report once saw a range query right after a compaction return 9,579 of 11,000 points per
series. Compaction writes a block from the head, publishes it and then lets the head drop the
range; a query that took its block list before the publication and read the head after the
drop saw neither copy. These tests run a query at every step of a compaction (and take the
block list at one moment and read the head at another), and check the answer is complete.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options
from kubeprom.tsdb import compact as compact_module
from kubeprom.tsdb import db as db_module
from kubeprom.tsdb.api import AppendStats
from kubeprom.tsdb.block import Block
from kubeprom.tsdb.querier import StoreQuerier

BLOCK_MS = 1000
STEP_MS = 10
ALL = [Matcher(MatchType.EQUAL, "__name__", "m")]


def fill(db: DB, n_series: int, n_points: int) -> np.ndarray:
    """``n_points`` samples at ``STEP_MS`` spacing for each series; returns the times."""
    labels = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(n_series)]
    times = np.arange(n_points, dtype=np.int64) * STEP_MS
    app = db.appender()
    refs = np.array([app.ref(s) for s in labels], dtype=np.int64)
    for t in times.tolist():
        app.append(t, refs, refs.astype(np.float64) + t)
    app.commit()
    return times


def assert_complete(db: DB, times: np.ndarray, n_series: int) -> None:
    got = db.querier().select(ALL, MIN_TIME, MAX_TIME)
    assert len(got) == n_series
    counts = np.diff(got.offsets)
    assert counts.tolist() == [len(times)] * n_series
    for s in got:
        assert s.t.tolist() == times.tolist()


def test_query_at_every_step_of_a_compaction_sees_every_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = DB.open(tmp_path, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    n_series = 20
    times = fill(db, n_series, 500)  # 5 s of data: 3 block ranges can be cut
    checked: list[str] = []

    def probe(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def wrapped(*args: object, **kwargs: object) -> object:
            assert_complete(db, times, n_series)
            checked.append(f"before {name}")
            out = fn(*args, **kwargs)
            assert_complete(db, times, n_series)
            checked.append(f"after {name}")
            return out

        return wrapped

    monkeypatch.setattr(db.head, "drop_before", probe("drop_before", db.head.drop_before))
    monkeypatch.setattr(db, "reload_blocks", probe("reload_blocks", db.reload_blocks))
    monkeypatch.setattr(db, "_checkpoint", probe("checkpoint", db._checkpoint))
    try:
        assert db.compact() == 4  # [0, 1000) .. [3000, 4000); 4000..4990 stays in the head
        assert len(checked) == 4 * 6
        assert_complete(db, times, n_series)
    finally:
        db.close()


def test_block_list_taken_before_a_compaction_and_head_read_after_it(tmp_path: Path) -> None:
    """The querier's two reads (block list, then head) straddle a whole compaction."""
    db = DB.open(tmp_path, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    n_series = 100
    times = fill(db, n_series, 1100)
    calls = 0

    def blocks_then_compact() -> list[Block]:
        nonlocal calls
        calls += 1
        snapshot = db.blocks_snapshot()
        if calls == 1:
            assert db.compact() > 0
        return snapshot

    try:
        got = StoreQuerier(db.head, blocks_then_compact).select(ALL, MIN_TIME, MAX_TIME)
        assert np.diff(got.offsets).tolist() == [len(times)] * n_series
        assert calls == 2  # the head moved under the first read: read again
    finally:
        db.close()


@settings(max_examples=25, deadline=None)
@given(
    n_series=st.integers(1, 30),
    n_points=st.integers(1, 400),
    compact_at_read=st.integers(1, 2),
)
def test_property_queries_straddling_compactions_are_complete(
    tmp_path_factory: pytest.TempPathFactory, n_series: int, n_points: int, compact_at_read: int
) -> None:
    """Whatever the data, a select whose block list and head read straddle a compaction
    (on its first or on its retried read) answers every sample appended."""
    db = DB.open(tmp_path_factory.mktemp("db"), Options(retention_ms=None, block_range_ms=BLOCK_MS))
    try:
        times = fill(db, n_series, n_points)
        calls = 0

        def blocks() -> list[Block]:
            nonlocal calls
            calls += 1
            snapshot = db.blocks_snapshot()
            if calls == compact_at_read:
                db.compact()
            return snapshot

        got = StoreQuerier(db.head, blocks).select(ALL, MIN_TIME, MAX_TIME)
        assert np.diff(got.offsets).tolist() == [len(times)] * n_series
        assert_complete(db, times, n_series)
    finally:
        db.close()


def test_a_sample_committed_while_its_range_is_persisted_is_never_acknowledged_and_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit into the range being persisted, landing after the block's read and before
    the head drops the range, is refused (out of bounds) rather than acknowledged and lost."""
    db = DB.open(tmp_path, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    fill(db, 2, 300)  # 0 .. 2990 ms: [0, 1000) and [1000, 2000) are cut
    late = Labels.from_dict({"__name__": "m", "i": "late"})
    outcome: list[tuple[AppendStats, AppendStats]] = []
    real_read = db.head.read

    def read(*args: object, **kwargs: bool) -> object:
        part = real_read(*args, **kwargs)  # type: ignore[arg-type]
        if not outcome:  # compact() has read [0, 1000): a late sample for it arrives now
            app = db.appender()
            ref = app.ref(late)
            staged = app.append(500, np.array([ref]), np.array([7.0]))
            outcome.append((staged, app.commit()))
        return part

    monkeypatch.setattr(db.head, "read", read)
    try:
        assert db.compact() == 2
        ((staged, committed),) = outcome
        assert (staged.appended, staged.out_of_bounds, committed.appended) == (0, 1, 0)
        got = db.querier().select([Matcher(MatchType.EQUAL, "i", "late")], MIN_TIME, MAX_TIME)
        assert got.labels == []
    finally:
        db.close()


# ---- level compaction (merging persisted blocks) ---------------------------------------------
def _disjoint_blocks(db: DB) -> None:
    """The block list never holds a merged block beside one of its parents."""
    spans = [(b.meta.min_time, b.meta.max_time) for b in db.blocks_snapshot()]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans


def test_query_at_every_step_of_a_merge_sees_every_sample_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before and after writing the merged block and around each parent's deletion, a query
    answers every sample, and the block list never holds both generations."""
    db = DB.open(tmp_path, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    n_series = 20
    times = fill(db, n_series, 1100)  # 11 s: ten blocks cut, merged 3 -> 1 and 3 x 3 -> 1
    checked: list[str] = []
    real_merge = compact_module.merge_blocks

    def merge(*args: object) -> object:
        for _ in range(2):
            assert_complete(db, times, n_series)
            _disjoint_blocks(db)
            checked.append("merge")
        return real_merge(*args)  # type: ignore[arg-type]

    def delete(block: Block, real: Callable[[Block], None] = db._delete_block) -> None:
        assert_complete(db, times, n_series)
        _disjoint_blocks(db)
        real(block)
        assert_complete(db, times, n_series)
        _disjoint_blocks(db)
        checked.append("delete")

    monkeypatch.setattr(db_module, "merge_blocks", merge)
    monkeypatch.setattr(db, "_delete_block", delete)
    try:
        assert db.compact() == 10
        assert checked.count("merge") == 2 * 4
        assert checked.count("delete") == 4 * 3
        assert [(b.meta.min_time, b.meta.max_time) for b in db.blocks] == [
            (0, 9000),
            (9000, 10000),
        ]
        assert_complete(db, times, n_series)
    finally:
        db.close()


@pytest.mark.parametrize("merge_when", ["after-block-list", "between-parents"])
def test_a_select_holding_the_parents_when_they_are_merged_and_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merge_when: str
) -> None:
    """A select that took the block list before a merge (and, in the second case, has read
    one parent already) reads again and finds every sample in the merged block, once."""
    db = DB.open(
        tmp_path, Options(retention_ms=None, block_range_ms=BLOCK_MS, max_block_duration_ms=1)
    )
    n_series = 30
    times = fill(db, n_series, 500)
    assert db.compact() == 4  # four level-1 blocks, merging off
    db.block_ranges = [BLOCK_MS, 3 * BLOCK_MS]  # now turn it on
    first = db.blocks[0]
    calls = 0

    def merge() -> None:
        assert db.compact_blocks() == 1

    def blocks() -> list[Block]:
        nonlocal calls
        calls += 1
        snapshot = db.blocks_snapshot()
        if calls == 1 and merge_when == "after-block-list":
            merge()
        return snapshot

    real_read = first.read

    def read_then_merge(*args: object, **kwargs: object) -> object:
        part = real_read(*args, **kwargs)  # type: ignore[arg-type]
        if calls == 1:
            merge()
        return part

    if merge_when == "between-parents":
        monkeypatch.setattr(first, "read", read_then_merge)
    try:
        got = StoreQuerier(db.head, blocks).select(ALL, MIN_TIME, MAX_TIME)
        assert [s.t.tolist() for s in got] == [times.tolist()] * n_series
        assert calls == 2  # the parents were closed under the first read
        assert [b.meta.level for b in db.blocks] == [2, 1]
    finally:
        db.close()
