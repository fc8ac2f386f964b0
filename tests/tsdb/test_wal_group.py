"""Commits logged to the WAL in groups (``Options.wal_group_samples``, virtual-time runs)
leave the store that one record per commit leaves: live, after a reopen (replay), and
around compaction, checkpoints and deletions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options
from kubeprom.tsdb.api import MetricMetadata, MetricType
from kubeprom.tsdb.wal import MultiSamplesRecord, SamplesRecord, read_only_replay

HOUR = 3_600_000
ALL = [Matcher(MatchType.REGEX, "__name__", ".+")]


def dump(db: DB) -> tuple[list[str], list[int], list[int], list[int], dict[str, list[str]]]:
    q = db.querier()
    got = q.select(ALL, MIN_TIME, MAX_TIME)
    meta = {name: sorted(map(repr, metas)) for name, metas in q.metadata().items()}
    return (
        [str(x) for x in got.labels],
        got.t.tolist(),
        got.v.view(np.uint64).tolist(),
        got.offsets.tolist(),
        meta,
    )


def write(db: DB, hours: int) -> None:
    """Commits every 15 s: series come and go, a metadata change, explicit timestamps."""
    rng = np.random.default_rng(7)
    for i, t in enumerate(range(0, hours * HOUR, 15_000)):
        app = db.appender()
        names = [
            Labels.from_dict({"__name__": "m", "pod": f"p{(i // 40 + k) % 9}"}) for k in (0, 1)
        ]
        refs = np.array([app.ref(n) for n in names], dtype=np.int64)
        app.append(t, refs, rng.random(2))
        app.append(
            t - 500, np.array([app.ref(Labels.from_dict({"__name__": "e"}))]), np.array([float(i)])
        )
        if i % 100 == 0:
            app.append_metadata("m", MetricMetadata(MetricType.GAUGE, f"help {i // 100}"))
        app.commit()
        if i == 300:
            db.delete_series([Matcher(MatchType.EQUAL, "pod", "p3")], t - 60_000, t)


# 5 h: compactions and checkpoints on the way
@pytest.mark.parametrize(("hours", "series"), [(1, 8), (5, 10)])
def test_grouped_commits_leave_the_store_single_commits_leave(
    tmp_path: Path, hours: int, series: int
) -> None:
    dumps = []
    for group in (0, 50):
        path = tmp_path / str(group)
        db = DB.open(path, Options(retention_ms=None, wal_group_samples=group))
        write(db, hours)
        if hours > 1:
            db.compact()
        live = dump(db)
        db.close()
        db = DB.open(path, Options(retention_ms=None))
        assert dump(db) == live
        db.close()
        dumps.append(live)
    assert dumps[0] == dumps[1]
    assert len(dumps[0][0]) == series


def multi_sizes(path: Path) -> list[int]:
    records = list(read_only_replay(path / "wal"))
    assert not [r for r in records if isinstance(r, SamplesRecord)]
    return [r.refs.size for r in records if isinstance(r, MultiSamplesRecord)]


def test_grouped_commits_are_few_records_written_by_the_flush(tmp_path: Path) -> None:
    db = DB.open(tmp_path, Options(retention_ms=None, wal_group_samples=300))
    write(db, 1)  # 240 commits of 3 samples
    assert multi_sizes(tmp_path) == [300, 300]  # 100 commits each; 40 pending
    db.flush_wal()
    assert multi_sizes(tmp_path) == [300, 300, 120]
    db.close()
