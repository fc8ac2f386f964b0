"""Series deletion: tombstones in blocks and the head, WAL replay, and clean_tombstones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kubeprom.errors import CorruptionError, StorageError
from kubeprom.model import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options
from kubeprom.tsdb.block import TOMBSTONES_FILE, Block
from kubeprom.tsdb.tombstones import Tombstones
from kubeprom.tsdb.wal import WAL, TombstonesRecord

MINUTE = 60_000
RANGE = 10 * MINUTE
T0 = 1_700_000_000_000 // RANGE * RANGE
A0 = Labels.from_dict({"__name__": "a", "i": "0"})
A1 = Labels.from_dict({"__name__": "a", "i": "1"})
B = Labels.from_dict({"__name__": "b"})
A0_ONLY = [Matcher(MatchType.EQUAL, "__name__", "a"), Matcher(MatchType.EQUAL, "i", "0")]


def _open(data: Path) -> DB:
    return DB.open(data, Options(retention_ms=None, block_range_ms=RANGE))


def _append(db: DB, minutes: range) -> None:
    app = db.appender()
    refs = np.array([app.ref(s) for s in (A0, A1, B)])
    for m in minutes:
        app.append(T0 + m * MINUTE, refs, np.array([m, 100.0 + m, 200.0 + m]))
    app.commit()


def _minutes(db: DB) -> dict[Labels, list[int]]:
    got = db.querier().select([], MIN_TIME, MAX_TIME)
    return {s.labels: ((s.t - T0) // MINUTE).tolist() for s in got}


def _filled(tmp_path: Path) -> DB:
    """Minutes 0..19 of three series: [0, 10) in a block, [10, 20) in the head."""
    db = _open(tmp_path / "data")
    _append(db, range(20))
    assert db.compact() == 1
    assert [(b.meta.min_time, b.meta.max_time) for b in db.blocks] == [(T0, T0 + RANGE)]
    return db


EVERY = list(range(20))
A0_LEFT = [0, 1, 2, 3, 4, 16, 17, 18, 19]


def test_delete_hides_the_range_in_block_and_head_only_for_matching_series(
    tmp_path: Path,
) -> None:
    db = _filled(tmp_path)
    try:
        assert db.delete_series(A0_ONLY, T0 + 5 * MINUTE, T0 + 15 * MINUTE) == 2
        assert _minutes(db) == {A0: A0_LEFT, A1: EVERY, B: EVERY}
        values = {s.labels: s.v.tolist() for s in db.querier().select(A0_ONLY, MIN_TIME, MAX_TIME)}
        assert values == {A0: [float(m) for m in A0_LEFT]}
        assert (db.blocks[0].path / TOMBSTONES_FILE).is_file()
    finally:
        db.close()


def test_deleting_everything_of_a_series_drops_it_from_select(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    try:
        db.delete_series([Matcher(MatchType.EQUAL, "__name__", "b")], MIN_TIME, MAX_TIME)
        assert _minutes(db) == {A0: EVERY, A1: EVERY}
        assert db.querier().series([], MIN_TIME, MAX_TIME) == [A0, A1]
    finally:
        db.close()


def test_head_tombstones_do_not_hide_samples_appended_later(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    try:
        db.delete_series(A0_ONLY, T0 + 15 * MINUTE, MAX_TIME)
        _append(db, range(20, 22))
        assert _minutes(db)[A0] == [*range(15), 20, 21]
    finally:
        db.close()


def test_deletion_survives_reopen_from_wal_and_block_file(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    db.delete_series(A0_ONLY, T0 + 5 * MINUTE, T0 + 15 * MINUTE)
    db.close()
    db = _open(tmp_path / "data")
    try:
        assert _minutes(db) == {A0: A0_LEFT, A1: EVERY, B: EVERY}
    finally:
        db.close()


def test_deletion_survives_compaction_and_checkpoint(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    db.delete_series(A0_ONLY, T0 + 5 * MINUTE, T0 + 15 * MINUTE)
    _append(db, range(20, 30))
    assert db.compact() == 1  # persists [10, 20) and checkpoints the WAL
    want = {A0: [*A0_LEFT, *range(20, 30)], A1: list(range(30)), B: list(range(30))}
    assert _minutes(db) == want
    db.close()
    db = _open(tmp_path / "data")
    try:
        assert len(db.blocks) == 2
        assert _minutes(db) == want
    finally:
        db.close()


def test_clean_tombstones_rewrites_the_block(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    try:
        db.delete_series(A0_ONLY, T0 + 5 * MINUTE, T0 + 15 * MINUTE)
        old = db.blocks[0]
        old_name, old_samples = old.path.name, old.meta.num_samples
        assert db.clean_tombstones() == [old_name]
        assert not (tmp_path / "data" / old_name).exists()
        (new,) = db.blocks
        assert new.path.name != old_name
        assert (new.meta.min_time, new.meta.max_time) == (T0, T0 + RANGE)
        assert new.meta.num_samples == old_samples - 5
        assert not new.tombstones
        assert not (new.path / TOMBSTONES_FILE).exists()
        assert _minutes(db) == {A0: A0_LEFT, A1: EVERY, B: EVERY}
        assert db.clean_tombstones() == []
    finally:
        db.close()
    db = _open(tmp_path / "data")
    try:
        assert _minutes(db) == {A0: A0_LEFT, A1: EVERY, B: EVERY}
    finally:
        db.close()


def test_clean_tombstones_removes_a_block_left_empty(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    try:
        db.delete_series([], T0, T0 + RANGE - 1)
        assert db.clean_tombstones() != []
        assert db.blocks == []
        assert _minutes(db) == {s: list(range(10, 20)) for s in (A0, A1, B)}
    finally:
        db.close()


def test_read_only_store_cannot_delete(tmp_path: Path) -> None:
    _filled(tmp_path).close()
    db = DB.open_read_only(tmp_path / "data")
    with pytest.raises(StorageError, match="not open for writing"):
        db.delete_series(A0_ONLY, MIN_TIME, MAX_TIME)
    db.close()


def test_malformed_tombstones_file_is_corruption(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    path = db.blocks[0].path
    db.close()
    (path / TOMBSTONES_FILE).write_text('{"version": 1, "series": {"0": [[1]]}}')
    with pytest.raises(CorruptionError, match="malformed tombstones"):
        Block.open(path)


# ---- the value ----------------------------------------------------------------------------
def test_add_merges_overlapping_and_touching_intervals() -> None:
    ids = np.array([3, 7])
    stones = Tombstones().add(ids, 10, 20).add(np.array([3]), 21, 30).add(np.array([3]), 40, 50)
    stones = stones.add(np.array([7]), np.array([5]), np.array([12]))
    stones = stones.add(np.array([7]), 9, 1)  # inverted: ignored
    assert dict(stones.series) == {3: ((10, 30), (40, 50)), 7: ((5, 20),)}
    assert Tombstones.from_json(stones.to_json()) == stones


def test_filter_drops_only_inside_closed_intervals() -> None:
    stones = Tombstones().add(np.array([1]), 20, 30).add(np.array([1]), 50, 50)
    ids = np.array([0, 1, 2])
    t = np.array([20, 30, 10, 20, 30, 31, 50, 60, 25], dtype=np.int64)
    v = np.arange(9, dtype=np.float64)
    offsets = np.array([0, 2, 8, 9])
    t2, v2, off2 = stones.filter(ids, t, v, offsets)
    assert t2.tolist() == [20, 30, 10, 31, 60, 25]
    assert v2.tolist() == [0, 1, 2, 5, 7, 8]
    assert off2.tolist() == [0, 2, 5, 6]


def test_wal_tombstones_record_round_trips(tmp_path: Path) -> None:
    rec = TombstonesRecord(
        np.array([1, 5], dtype=np.int64),
        np.array([MIN_TIME, 7], dtype=np.int64),
        np.array([3, MAX_TIME], dtype=np.int64),
    )
    with WAL(tmp_path / "wal") as wal:
        wal.log_tombstones(rec.refs, rec.mint, rec.maxt)
    with WAL(tmp_path / "wal") as wal:
        assert list(wal.replay()) == [rec]
