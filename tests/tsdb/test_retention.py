"""Retention: by time against the newest data in the store (not the wall clock), and by size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kubeprom.clock import RealClock, VirtualClock
from kubeprom.model import Labels
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, BulkImporter, Options
from kubeprom.tsdb.db import frame_cache_size

HOUR = 3_600_000
DAY = 24 * HOUR
T2001 = 978_307_200_000  # 2001-01-01T00:00:00Z, a whole number of days since the epoch
SERIES = [Labels.from_dict({"__name__": "old_metric", "i": str(i)}) for i in range(2)]


def import_days(data: Path, days: int) -> dict[int, str]:
    """One block per day of 2001-01-01..; hourly samples of two series. Returns day -> dir."""
    imp = BulkImporter(data, block_range_ms=DAY)
    ids = np.array([imp.series_id(s) for s in SERIES])
    t = T2001 + np.arange(days * 24, dtype=np.int64) * HOUR
    imp.add(np.repeat(ids, len(t)), np.tile(t, len(ids)), np.tile(t.astype(np.float64), len(ids)))
    paths = imp.finish()
    assert len(paths) == days
    return {day: p.name for day, p in enumerate(paths)}


def block_days(db: DB) -> list[int]:
    return [(b.meta.min_time - T2001) // DAY for b in db.blocks]


def sample_times(db: DB) -> list[int]:
    got = db.querier().select([], MIN_TIME, MAX_TIME)
    times: dict[Labels, list[int]] = {s.labels: s.t.tolist() for s in got}
    assert times[SERIES[0]] == times[SERIES[1]]
    return times[SERIES[0]]


def append(db: DB, t_ms: int) -> None:
    app = db.appender()
    refs = np.array([app.ref(s) for s in SERIES])
    assert app.append(t_ms, refs, np.array([1.0, 2.0])).appended == 2
    app.commit()


def test_old_data_alone_is_kept_whatever_the_wall_clock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_days(data, 10)
    db = DB.open(data, Options(retention_ms=15 * DAY))
    try:
        assert block_days(db) == list(range(10))
        assert db.apply_retention() == []
        assert sample_times(db) == (T2001 + np.arange(240) * HOUR).tolist()
    finally:
        db.close()
    assert len([p for p in data.iterdir() if p.name != "wal"]) == 10


@pytest.mark.parametrize("trigger", ["compaction", "reopen"])
def test_newer_data_pushes_only_blocks_beyond_the_horizon_out(tmp_path: Path, trigger: str) -> None:
    data = tmp_path / "data"
    names = import_days(data, 10)
    opts = Options(retention_ms=15 * DAY)  # head block range: the default 2h
    db = DB.open(data, opts)
    # Newest sample at day 20.5 + 3h: the horizon falls inside day 5, so days 0-4 end before it.
    newest = T2001 + 20 * DAY + 12 * HOUR
    append(db, newest - 3 * HOUR)
    append(db, newest)
    if trigger == "compaction":
        assert db.compact() == 1
    else:
        db.close()
        db = DB.open(data, opts)
    try:
        # Compaction also persisted the new head data, as a block of day 20.
        assert block_days(db) == [5, 6, 7, 8, 9, *([20] if trigger == "compaction" else [])]
        on_disk = {p.name for p in data.iterdir()}
        assert {names[d] for d in range(5)}.isdisjoint(on_disk)
        assert {names[d] for d in range(5, 10)} <= on_disk
        kept_history = (T2001 + np.arange(5 * 24, 240) * HOUR).tolist()
        assert sample_times(db) == [*kept_history, newest - 3 * HOUR, newest]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("newest", "deleted_days"),
    [
        (T2001 + 20 * DAY - 1, [0, 1, 2, 3]),
        (T2001 + 20 * DAY, [0, 1, 2, 3, 4]),
    ],
    ids=["day-4-ends-1ms-inside-the-horizon", "day-4-ends-at-the-horizon"],
)
def test_time_horizon_boundary(tmp_path: Path, newest: int, deleted_days: list[int]) -> None:
    data = tmp_path / "data"
    names = import_days(data, 10)
    db = DB.open(data, Options(retention_ms=15 * DAY))
    try:
        append(db, newest)
        assert sorted(db.apply_retention()) == sorted(names[d] for d in deleted_days)
        assert block_days(db) == list(range(len(deleted_days), 10))
        assert db.apply_retention() == []
    finally:
        db.close()


def import_growing_blocks(data: Path) -> list[Path]:
    """Four daily blocks, oldest smallest: 1, 4, 16 and 64 series."""
    imp = BulkImporter(data, block_range_ms=DAY)
    for day, n_series in enumerate([1, 4, 16, 64]):
        ids = np.array(
            [
                imp.series_id(Labels.from_dict({"__name__": "m", "i": str(i)}))
                for i in range(n_series)
            ]
        )
        t = T2001 + day * DAY + np.arange(100, dtype=np.int64) * 60_000
        v = np.random.default_rng(day).random(len(ids) * len(t))
        imp.add(np.repeat(ids, len(t)), np.tile(t, len(ids)), v)
    return imp.finish()


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.mark.parametrize(
    ("limit_of", "kept_days"),
    [
        (lambda s: s[0] + s[1] + s[2] + s[3], [0, 1, 2, 3]),
        (lambda s: s[2] + s[3], [2, 3]),
        (lambda s: s[2] + s[3] - 1, [3]),
        (lambda s: s[1] + s[3], [3]),
        (lambda s: 1, []),
    ],
    ids=[
        "all-fit",
        "limit-equals-two-newest",
        "one-byte-short",
        "oldest-first-not-best-fit",
        "tiny",
    ],
)
def test_size_retention_deletes_oldest_blocks_first(
    tmp_path: Path, limit_of: Callable[[list[int]], int], kept_days: list[int]
) -> None:
    data = tmp_path / "data"
    paths = import_growing_blocks(data)
    sizes = [dir_size(p) for p in paths]
    assert sizes == sorted(sizes)  # the oldest are the smallest: size order is not age order
    db = DB.open(data, Options(retention_ms=None, retention_bytes=limit_of(sizes)))
    try:
        assert db.wal is not None
        assert db.wal.size_bytes == 0
        assert block_days(db) == kept_days
        assert sorted(p.name for p in data.iterdir() if p.name != "wal") == sorted(
            paths[d].name for d in kept_days
        )
    finally:
        db.close()


def test_automatic_frame_cache_follows_the_series(tmp_path: Path) -> None:
    assert frame_cache_size(0) == 12 << 20
    assert frame_cache_size(10_000) == 10_000 * 120 * 12
    assert frame_cache_size(1_000_000) == 128 << 20
    db = DB.open(tmp_path, Options())
    assert db.frame_cache is not None
    assert db.frame_cache.max_bytes == 12 << 20
    db.close()
    db = DB.open(tmp_path, Options(frame_cache_bytes=0))
    assert db.frame_cache is None
    db.close()


# ---- timestamps from the future (issue 11) ---------------------------------------------------
YEAR = 365 * DAY


def test_a_sample_from_the_future_expires_nothing(tmp_path: Path) -> None:
    """One sample stamped ten years ahead neither counts for retention nor cuts the head."""
    data = tmp_path / "data"
    names = import_days(data, 10)
    db = DB.open(data, Options(retention_ms=15 * DAY))
    try:
        future = db.clock.now_ms() + 10 * YEAR
        app = db.appender()
        ref = app.ref(Labels.from_dict({"__name__": "from_the_future"}))
        assert app.append(future, np.array([ref]), np.array([1.0])).appended == 1
        app.commit()
        assert db.head.maxt == future
        assert db.retention_time() == T2001 + 10 * DAY - 1  # the imported data's newest
        assert db.compact() == 0
        assert db.apply_retention() == []
        assert block_days(db) == list(range(10))
        assert {p.name for p in data.iterdir()} >= set(names.values())
        append(db, T2001 + 12 * DAY)  # the head still takes data after the imported days
    finally:
        db.close()


def test_a_block_from_the_future_expires_nothing_and_blocks_no_ingestion(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_days(data, 10)
    imp = BulkImporter(data, block_range_ms=DAY)
    sid = imp.series_id(Labels.from_dict({"__name__": "from_the_future"}))
    far = (RealClock().now_ms() + 10 * YEAR) // DAY * DAY
    imp.add(np.array([sid]), np.array([far]), np.ones(1))
    (future_block,) = imp.finish()
    db = DB.open(data, Options(retention_ms=15 * DAY))
    try:
        assert db.apply_retention() == []
        assert len(db.blocks) == 11
        assert db.head.min_valid_t == T2001 + 10 * DAY  # not the future block's end
        now = db.clock.now_ms()
        append(db, now)
        got = db.querier().select([], far, far)
        assert [s.labels.name for s in got] == ["from_the_future"]
        assert future_block.name in {b.path.name for b in db.blocks}
    finally:
        db.close()


@pytest.mark.parametrize("into_range_min", [0, 30, 50, 55, 59, 60, 61, 90, 119])
def test_present_data_beside_a_future_sample_is_cut_as_usual(
    tmp_path: Path, into_range_min: int
) -> None:
    """Issue 11: a future sample made compaction persist the head up to now, after which
    every healthy sample was out of bounds. The head is cut as if it were not there, at
    any moment within a 2 h range (the span ends at the newest present sample, not at the
    newest time the store would trust)."""
    now = 1_000 * 2 * HOUR + into_range_min * 60_000
    db = DB.open(tmp_path / "data", Options(retention_ms=15 * DAY), clock=VirtualClock(now))
    try:
        healthy = Labels.from_dict({"__name__": "up", "job": "healthy"})
        app = db.appender()
        ref = np.array([app.ref(healthy)])
        start = now - 4 * HOUR
        for t in range(start, now, 60_000):
            app.append(t, ref, np.array([1.0]))
        bad = app.ref(Labels.from_dict({"__name__": "x"}))
        app.append(now + 10 * YEAR, np.array([bad]), np.array([1.0]))
        app.commit()
        newest = now - 60_000
        written = db.compact()
        two_hours = 2 * HOUR
        # Whole 2h ranges are persisted while the present data spans 1.5 ranges past them.
        assert written == len(db.blocks) >= 1
        assert all(newest - b.meta.max_time >= two_hours * 3 // 2 - two_hours for b in db.blocks)
        head_min = db.head.mint
        assert newest - head_min < two_hours * 3 // 2
        app = db.appender()
        assert app.append(now + 60_000, ref, np.array([1.0])).appended == 1
        assert app.commit().appended == 1
    finally:
        db.close()
