"""Head garbage collection: series without samples in the head leave its index at
compaction, without breaking WAL replay, queries over their history, or writers that kept
their refs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.loop import ScrapeLoop, ScrapeOptions
from kubeprom.tsdb import DB, Options

HOUR = 3_600_000
OPTS = Options(retention_ms=None, block_range_ms=2 * HOUR)


def _lab(name: str, pod: str) -> Labels:
    return Labels({"__name__": name, "pod": pod}.items())


def _write(db: DB, t_ms: int, series: dict[Labels, float]) -> None:
    app = db.appender()
    refs = np.array([app.ref(lab) for lab in series], dtype=np.int64)
    app.append(t_ms, refs, np.array(list(series.values())))
    app.commit()


def _pods(db: DB, t_ms: int, lookback_ms: int = 5 * 60_000) -> list[str]:
    m = [Matcher(MatchType.EQUAL, "__name__", "cpu")]
    found = db.querier().select(m, t_ms - lookback_ms, t_ms)
    return sorted(lab.get("pod") or "" for lab in found.labels)


def _churn(db: DB, hours: int) -> None:
    """Pod a lives all along; pod b-<h> lives for hour h only."""
    for minute in range(hours * 60):
        t = minute * 60_000
        _write(db, t, {_lab("cpu", "a"): 1.0, _lab("cpu", f"b-{minute // 60}"): 2.0})
        if minute % 30 == 29:
            db.compact()


def test_series_that_stopped_leave_the_head_and_stay_queryable(tmp_path: Path) -> None:
    db = DB.open(tmp_path, OPTS)
    _churn(db, 10)
    head = db.head
    # Blocks cover [0h, 8h); the head keeps 8h to 10h: pods a, b-8 and b-9. The eight
    # others were collected at the compactions, postings and all.
    assert head.min_valid_t == 8 * HOUR
    assert (head.num_series, head.removed_series) == (3, 8)
    assert sorted(head.index.label_values_of("pod")) == ["a", "b-8", "b-9"]
    assert head.index.postings("pod", "b-0").tolist() == []
    # Their history is in the blocks: a query over hour 0 still finds pod b-0.
    assert _pods(db, 30 * 60_000) == ["a", "b-0"]
    assert _pods(db, 10 * HOUR - 60_000) == ["a", "b-9"]
    db.close()


def test_wal_replay_after_collection_has_the_live_series_under_their_refs(tmp_path: Path) -> None:
    db = DB.open(tmp_path, OPTS)
    _churn(db, 8)
    live = dict(
        zip(
            db.head.index.all_ids().tolist(),
            db.head.index.labels_list(db.head.index.all_ids().tolist()),
            strict=True,
        )
    )
    samples = db.head.num_samples
    db.close()
    again = DB.open(tmp_path, OPTS)
    refs = again.head.index.all_ids().tolist()
    assert dict(zip(refs, again.head.index.labels_list(refs), strict=True)) == live
    assert again.head.num_samples == samples
    assert _pods(again, 8 * HOUR - 60_000) == ["a", "b-7"]
    assert _pods(again, 30 * 60_000) == ["a", "b-0"]
    again.close()


def test_a_writer_holding_a_dead_ref_is_refused_and_resolves_it_again(tmp_path: Path) -> None:
    db = DB.open(tmp_path, OPTS)
    app = db.appender()
    old = app.ref(_lab("cpu", "b-0"))
    _churn(db, 8)
    assert app.series_epoch() > 0
    assert app.live(np.array([old])).tolist() == [False]
    stats = app.append(8 * HOUR, np.array([old]), np.array([5.0]))
    assert (stats.appended, stats.out_of_bounds) == (0, 1)
    app.rollback()
    new = db.appender().ref(_lab("cpu", "b-0"))
    assert new > old  # refs are never reused
    _write(db, 8 * HOUR, {_lab("cpu", "b-0"): 5.0})
    # One series over its history in a block and its new head data under the new ref.
    found = db.querier().select([Matcher(MatchType.EQUAL, "pod", "b-0")], 0, 8 * HOUR)
    (series,) = list(found)
    assert series.t.tolist() == [m * 60_000 for m in range(60)] + [8 * HOUR]
    assert series.v.tolist() == [2.0] * 60 + [5.0]
    db.close()


async def test_a_scrape_cache_forgets_dead_refs_and_a_returning_series_is_stored(
    tmp_path: Path,
) -> None:
    db = DB.open(tmp_path, OPTS)
    bodies = {"now": b'cpu{pod="x"} 1\n'}

    async def fetch(url: str, timeout_s: float, body_limit: int) -> FetchResult:
        return FetchResult(bodies["now"], "text/plain; version=0.0.4")

    loop = ScrapeLoop(
        Labels({"job": "j", "instance": "i"}.items()),
        "http://x/metrics",
        ScrapeOptions(interval_ms=60_000, timeout_ms=10_000),
        fetch,
        db.appender,
    )
    await loop.scrape_once(0)
    bodies["now"] = b'cpu{pod="y"} 1\n'
    for minute in range(1, 8 * 60):
        await loop.scrape_once(minute * 60_000)
        if minute % 30 == 0:
            db.compact()
    labels_x = Labels({"__name__": "cpu", "pod": "x", "job": "j", "instance": "i"}.items())
    assert db.head.index.get(labels_x) is None  # collected
    bodies["now"] = b'cpu{pod="x"} 7\n'
    await loop.scrape_once(8 * 60 * 60_000)
    m = [Matcher(MatchType.EQUAL, "pod", "x")]
    found = db.querier().select(m, 0, 8 * HOUR)
    (series,) = list(found)
    assert series.t.tolist() == [0, 60_000, 8 * HOUR]  # the stale marker in between
    assert series.v[-1] == 7.0
    db.close()


def test_compaction_leaves_the_frame_cache_to_queries(tmp_path: Path) -> None:
    """Slab merges and compactions read every frame once; decoded copies of them would fill
    the cache with frames about to be replaced (issue 17's churn: +12 MiB every 2 h)."""
    db = DB.open(tmp_path, OPTS)
    _churn(db, 10)
    assert db.frame_cache is not None
    # Four 2 h blocks cut; level compaction merged [0, 6 h) (it copies frames undecoded).
    assert [b.meta.level for b in db.blocks_snapshot()] == [2, 1]
    assert (db.frame_cache.size_bytes, db.frame_cache.misses) == (0, 0)
    # A query still goes through the cache: its frames are decoded once, then hit.
    assert _pods(db, 30 * 60_000) == ["a", "b-0"]
    cached = db.frame_cache.size_bytes
    assert cached > 0
    assert _pods(db, 30 * 60_000) == ["a", "b-0"]
    assert db.frame_cache.size_bytes == cached
    assert db.frame_cache.hits > 0
    db.close()
