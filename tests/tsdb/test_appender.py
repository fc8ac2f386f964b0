"""Writing through ``DB.appender()``: acceptance rules, bit-exact values, rollback, ownership,
metadata; and the label lookups of ``DB.querier()``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from kubeprom.model import STALE_NAN_BITS, Labels, Matcher, MatchType
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, AppendStats, BulkImporter, MemStore, Options
from kubeprom.tsdb.api import MetricMetadata, MetricType

OPTS = Options(retention_ms=None)
# Small block range so a handful of samples spans enough of it for db.compact() to cut a block.
SMALL_BLOCKS = Options(retention_ms=None, block_range_ms=1000)


def lab(name: str, **pairs: str) -> Labels:
    return Labels.from_dict({"__name__": name, **pairs})


def f64(*bits: int) -> np.ndarray:
    return np.array(bits, dtype=np.uint64).view(np.float64)


def write(db: DB, t_ms: int, series: list[Labels], values: list[float] | np.ndarray) -> AppendStats:
    """Append one batch in its own appender and commit; returns the append stats."""
    app = db.appender()
    refs = np.array([app.ref(s) for s in series], dtype=np.int64)
    stats = app.append(t_ms, refs, np.asarray(values, dtype=np.float64))
    app.commit()
    return stats


def stored(db: DB, series: Labels) -> list[tuple[int, float]]:
    """The series' samples as (t, value) pairs, over all time."""
    matchers = [Matcher(MatchType.EQUAL, n, v) for n, v in series]
    got = db.querier().select(matchers, MIN_TIME, MAX_TIME)
    found = [s for s in got if s.labels == series]
    if not found:
        return []
    return list(zip(found[0].t.tolist(), found[0].v.tolist(), strict=True))


def stored_bits(db: DB, series: Labels) -> list[tuple[int, int]]:
    matchers = [Matcher(MatchType.EQUAL, n, v) for n, v in series]
    (s,) = [s for s in db.querier().select(matchers, MIN_TIME, MAX_TIME) if s.labels == series]
    return list(zip(s.t.tolist(), s.v.view(np.uint64).tolist(), strict=True))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    store = DB.open(tmp_path / "data", OPTS)
    yield store
    store.close()


UP = lab("up", job="node")
NAN_1 = 0x7FF8000000000001  # a quiet NaN that is not the staleness marker


@pytest.mark.parametrize(
    ("first", "t_ms", "second", "want_stats", "want_stored"),
    [
        (1.0, 1000, 5.0, AppendStats(out_of_order=1), [(2000, 1.0)]),
        (1.0, 1999, 1.0, AppendStats(out_of_order=1), [(2000, 1.0)]),
        (1.0, 2000, 5.0, AppendStats(duplicate=1), [(2000, 1.0)]),
        (1.0, 2000, 1.0, AppendStats(), [(2000, 1.0)]),
        (1.0, 2001, 5.0, AppendStats(appended=1), [(2000, 1.0), (2001, 5.0)]),
    ],
    ids=["older", "one-ms-older", "same-t-other-value", "same-t-same-value", "newer"],
)
def test_acceptance_against_the_newest_sample(
    db: DB,
    first: float,
    t_ms: int,
    second: float,
    want_stats: AppendStats,
    want_stored: list[tuple[int, float]],
) -> None:
    assert write(db, 2000, [UP], [first]) == AppendStats(appended=1)
    assert write(db, t_ms, [UP], [second]) == want_stats
    assert stored(db, UP) == want_stored
    # The store's own counters (exported as prometheus_tsdb_*_total) agree.
    s = db.stats
    assert (s.appended, s.out_of_order, s.duplicate, s.out_of_bounds) == (
        1 + want_stats.appended,
        want_stats.out_of_order,
        want_stats.duplicate,
        0,
    )


@pytest.mark.parametrize(
    ("first_bits", "second_bits", "want"),
    [
        (NAN_1, NAN_1, AppendStats()),
        (NAN_1, STALE_NAN_BITS, AppendStats(duplicate=1)),
        (STALE_NAN_BITS, STALE_NAN_BITS, AppendStats()),
        (0x0000000000000000, 0x8000000000000000, AppendStats(duplicate=1)),
    ],
    ids=["same-nan", "nan-then-stale", "stale-twice", "zero-then-negative-zero"],
)
def test_duplicate_detection_compares_value_bits(
    db: DB, first_bits: int, second_bits: int, want: AppendStats
) -> None:
    write(db, 1000, [UP], f64(first_bits))
    assert write(db, 1000, [UP], f64(second_bits)) == want
    assert stored_bits(db, UP) == [(1000, first_bits)]


def test_repeated_ref_in_one_batch_keeps_the_first(db: DB) -> None:
    a, b = lab("m", i="a"), lab("m", i="b")
    app = db.appender()
    ra, rb = app.ref(a), app.ref(b)
    stats = app.append(1000, np.array([ra, rb, ra, ra]), np.array([1.0, 2.0, 3.0, 1.0]))
    assert stats == AppendStats(appended=2, duplicate=2)
    app.commit()
    assert stored(db, a) == [(1000, 1.0)]
    assert stored(db, b) == [(1000, 2.0)]
    assert db.stats.duplicate == 2


def test_values_stay_with_their_refs_in_any_order(db: DB) -> None:
    series = [lab("m", i=str(i)) for i in range(5)]
    app = db.appender()
    refs = np.array([app.ref(s) for s in series])
    order = np.array([3, 0, 4, 1, 2])
    app.append(1000, refs[order], order * 10.0)
    app.commit()
    assert [stored(db, s) for s in series] == [[(1000, i * 10.0)] for i in range(5)]


def test_rejected_samples_are_not_reordered(db: DB) -> None:
    for t_ms, v in [(1000, 1.0), (500, 2.0), (2000, 3.0), (1500, 4.0), (3000, 5.0)]:
        write(db, t_ms, [UP], [v])
    assert stored(db, UP) == [(1000, 1.0), (2000, 3.0), (3000, 5.0)]
    assert db.stats.out_of_order == 2


def test_batches_of_one_appender_are_applied_in_append_order(db: DB) -> None:
    """Staged batches are checked again at commit, in order; an older one is rejected there."""
    write(db, 1000, [UP], [1.0])
    app = db.appender()
    ref = app.ref(UP)
    assert app.append(3000, np.array([ref]), np.array([3.0])) == AppendStats(appended=1)
    assert app.append(2000, np.array([ref]), np.array([2.0])) == AppendStats(appended=1)
    app.commit()
    assert stored(db, UP) == [(1000, 1.0), (3000, 3.0)]
    assert db.stats.out_of_order == 1
    assert db.stats.appended == 2


def _block_by_compaction(path: Path) -> DB:
    db = DB.open(path, SMALL_BLOCKS)
    for t_ms in (0, 500, 1500):
        write(db, t_ms, [UP], [float(t_ms)])
    assert db.compact() == 1  # persists [0, 1000)
    return db


def _block_by_compaction_then_reopen(path: Path) -> DB:
    _block_by_compaction(path).close()
    return DB.open(path, SMALL_BLOCKS)


def _block_by_import(path: Path) -> DB:
    imp = BulkImporter(path, block_range_ms=1000)
    imp.add(np.full(2, imp.series_id(UP)), np.array([0, 500]), np.array([0.0, 500.0]))
    assert len(imp.finish()) == 1
    return DB.open(path, SMALL_BLOCKS)


@pytest.mark.parametrize(
    ("make_db", "up_times"),
    [
        (_block_by_compaction, [0, 500, 1500]),
        (_block_by_compaction_then_reopen, [0, 500, 1500]),
        (_block_by_import, [0, 500]),
    ],
    ids=["compacted", "compacted-then-reopened", "imported"],
)
def test_samples_inside_a_persisted_block_are_out_of_bounds(
    tmp_path: Path, make_db: Callable[[Path], DB], up_times: list[int]
) -> None:
    db = make_db(tmp_path / "data")
    try:
        new = lab("new_series")
        assert db.head.min_valid_t == 1000
        assert write(db, 999, [new, UP], [1.0, 2.0]) == AppendStats(out_of_bounds=2)
        assert write(db, 0, [new], [1.0]) == AppendStats(out_of_bounds=1)
        assert db.stats.out_of_bounds == 3
        assert write(db, 1000, [new], [7.0]) == AppendStats(appended=1)
        assert stored(db, new) == [(1000, 7.0)]
        assert [t for t, _ in stored(db, UP)] == up_times
    finally:
        db.close()


SPECIAL_BITS = [
    STALE_NAN_BITS,
    NAN_1,
    0xFFF0000000000BAD,  # negative signalling NaN with a payload
    0x7FF8000000000000,  # the ordinary quiet NaN
    0x8000000000000000,  # -0.0
    0x7FF0000000000000,  # +inf
]


@pytest.mark.parametrize("stage", ["head", "wal-replay", "block-and-checkpoint"])
def test_nan_payloads_and_stale_markers_round_trip_bit_exactly(tmp_path: Path, stage: str) -> None:
    path = tmp_path / "data"
    series = [lab("special", i=str(i)) for i in range(len(SPECIAL_BITS))]
    db = DB.open(path, SMALL_BLOCKS)
    # t=100 ends up in a block, t=1700 in the head (and so in the WAL checkpoint).
    for t_ms in (100, 1700):
        assert write(db, t_ms, series, f64(*SPECIAL_BITS)).appended == len(series)
    if stage == "block-and-checkpoint":
        assert db.compact() == 1
    if stage != "head":
        db.close()
        db = DB.open(path, SMALL_BLOCKS)
    try:
        for s, bits in zip(series, SPECIAL_BITS, strict=True):
            assert stored_bits(db, s) == [(100, bits), (1700, bits)], hex(bits)
    finally:
        db.close()


def test_rollback_discards_staged_samples_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "data"
    db = DB.open(path, OPTS)
    app = db.appender()
    ref = app.ref(UP)
    app.append(1000, np.array([ref]), np.array([1.0]))
    app.append_metadata("up", MetricMetadata(MetricType.GAUGE, "up or not", ""))
    app.rollback()
    assert app.commit() == AppendStats()
    q = db.querier()
    assert q.select([], MIN_TIME, MAX_TIME).labels == []
    assert q.metadata() == {}
    assert db.stats.appended == 0
    # The discarded sample left no trace: the same timestamp with another value is accepted.
    assert write(db, 1000, [UP], [2.0]) == AppendStats(appended=1)
    db.close()
    db = DB.open(path, OPTS)
    assert stored(db, UP) == [(1000, 2.0)]
    assert db.querier().metadata() == {}
    db.close()


def test_append_copies_the_caller_arrays(db: DB) -> None:
    a, b = lab("m", i="a"), lab("m", i="b")
    app = db.appender()
    refs = np.array([app.ref(a), app.ref(b)], dtype=np.int64)
    values = np.array([1.0, 2.0])
    app.append(1000, refs, values)
    refs[:] = refs[::-1].copy()
    values[:] = 99.0
    app.commit()
    values[:] = -1.0
    assert stored(db, a) == [(1000, 1.0)]
    assert stored(db, b) == [(1000, 2.0)]


def test_query_results_are_read_only(db: DB) -> None:
    write(db, 1000, [UP], [1.0])
    got = db.querier().select([], MIN_TIME, MAX_TIME)
    with pytest.raises(ValueError, match="read-only"):
        got.v[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        got.t[0] = 5
    assert stored(db, UP) == [(1000, 1.0)]


@pytest.mark.parametrize("compact", [False, True], ids=["wal", "checkpoint"])
def test_metadata_survives_reopen(tmp_path: Path, compact: bool) -> None:
    path = tmp_path / "data"
    db = DB.open(path, SMALL_BLOCKS)
    app = db.appender()
    ref = app.ref(UP)
    app.append_metadata("up", MetricMetadata(MetricType.GAUGE, "first help", ""))
    app.append_metadata("http_requests", MetricMetadata(MetricType.COUNTER, "requests", "req"))
    app.append(0, np.array([ref]), np.array([1.0]))
    app.commit()
    app = db.appender()  # metadata alone, no samples, and a changed HELP
    app.append_metadata("up", MetricMetadata(MetricType.GAUGE, "whether the target is up", ""))
    app.commit()
    write(db, 1600, [UP], [1.0])
    if compact:
        assert db.compact() == 1
    db.close()
    db = DB.open(path, SMALL_BLOCKS)
    try:
        assert db.querier().metadata() == {
            "http_requests": [MetricMetadata(MetricType.COUNTER, "requests", "req")],
            "up": [MetricMetadata(MetricType.GAUGE, "whether the target is up", "")],
        }
    finally:
        db.close()


# ---- label lookups ---------------------------------------------------------------------------
CPU_A = lab("cpu", job="node", pod="a", ns="x")
CPU_B = lab("cpu", job="node", pod="b", ns="y")
MEM_A = lab("mem", job="kubelet", pod="a")


@pytest.fixture(params=["head", "block-and-head"])
def labelled_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DB]:
    db = DB.open(tmp_path / "data", SMALL_BLOCKS)
    write(db, 1000, [CPU_A, CPU_B], [1.0, 2.0])
    write(db, 2000, [CPU_A], [3.0])
    write(db, 3000, [MEM_A], [4.0])
    if request.param == "block-and-head":
        assert db.compact() == 1  # [1000, 2000) to a block: CPU_B lives only there
        assert len(db.blocks) == 1
    yield db
    db.close()


def eq(name: str, value: str) -> Matcher:
    return Matcher(MatchType.EQUAL, name, value)


def test_label_names(labelled_db: DB) -> None:
    q = labelled_db.querier()
    assert q.label_names() == ["__name__", "job", "ns", "pod"]
    assert q.label_names([eq("job", "kubelet")]) == ["__name__", "job", "pod"]
    assert q.label_names([eq("pod", "b")]) == ["__name__", "job", "ns", "pod"]
    assert q.label_names([eq("job", "nope")]) == []


@pytest.mark.parametrize(
    ("name", "matchers", "want"),
    [
        ("pod", [], ["a", "b"]),
        ("__name__", [], ["cpu", "mem"]),
        ("pod", [eq("__name__", "cpu"), eq("ns", "y")], ["b"]),
        ("ns", [eq("__name__", "mem")], []),
        ("pod", [eq("ns", "")], ["a"]),  # series without `ns`
        ("job", [Matcher(MatchType.REGEX, "pod", "a|b")], ["kubelet", "node"]),
        ("missing", [], []),
    ],
    ids=["all", "names", "two-matchers", "label-absent", "empty-matcher", "regex", "unknown"],
)
def test_label_values(labelled_db: DB, name: str, matchers: list[Matcher], want: list[str]) -> None:
    assert labelled_db.querier().label_values(name, matchers) == want


@pytest.mark.parametrize(
    ("matchers", "mint", "maxt", "want"),
    [
        ([eq("job", "node")], 0, 1500, [CPU_A, CPU_B]),
        ([eq("job", "node")], 1500, 2500, [CPU_A]),
        ([eq("job", "node")], 2001, 5000, []),
        ([Matcher(MatchType.REGEX, "__name__", "cpu|mem")], 2500, 3000, [MEM_A]),
        ([Matcher(MatchType.NOT_REGEX, "ns", ".+")], MIN_TIME, MAX_TIME, [MEM_A]),
        ([eq("pod", "a")], 1000, 3000, [CPU_A, MEM_A]),
        ([eq("pod", "a")], 3000, 3000, [MEM_A]),
    ],
    ids=[
        "both-in-range",
        "one-in-range",
        "none-in-range",
        "regex",
        "missing-label",
        "sorted",
        "inclusive-bound",
    ],
)
def test_series(
    labelled_db: DB, matchers: list[Matcher], mint: int, maxt: int, want: list[Labels]
) -> None:
    assert labelled_db.querier().series(matchers, mint, maxt) == want


def test_series_without_samples_are_not_listed(db: DB) -> None:
    app = db.appender()
    app.ref(lab("created_only"))
    app.commit()
    write(db, 1000, [UP], [1.0])
    assert db.querier().series([], MIN_TIME, MAX_TIME) == [UP]


def test_samples_reach_the_wal_before_queries_see_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query never sees a sample that a crash could still lose (issue 11's SIGKILL
    test counts every sample a query saw as acknowledged). Two batches of one commit that
    share a series are checked in order: the second sees the first."""
    db = DB.open(tmp_path, OPTS)
    m = lab("m")
    visible_when_logged: list[int] = []
    assert db.wal is not None
    real = db.wal.log_batch

    def log_batch(*args: object) -> None:
        visible_when_logged.append(len(stored(db, m)))
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(db.wal, "log_batch", log_batch)
    try:
        app = db.appender()
        ref = np.array([app.ref(m)])
        app.append(1_000, ref, np.array([1.0]))
        app.append(2_000, ref, np.array([2.0]))
        app.append(1_500, ref, np.array([9.0]))  # staged: older than nothing yet
        assert app.commit() == AppendStats(appended=2, out_of_order=1)
        assert visible_when_logged == [0, 1, 2]
        assert stored(db, m) == [(1_000, 1.0), (2_000, 2.0)]
    finally:
        db.close()
    reopened = DB.open(tmp_path, OPTS)
    try:
        assert stored(reopened, m) == [(1_000, 1.0), (2_000, 2.0)]
    finally:
        reopened.close()


@pytest.mark.parametrize("store", ["db", "memstore"])
def test_a_commit_checks_again_only_when_the_head_changed_since_the_appends(
    tmp_path: Path, store: str
) -> None:
    """An appender's verdicts stand at commit while nothing else changed the head; a commit
    of another appender in between makes the first one's samples out of order there."""
    s = DB.open(tmp_path / "data", OPTS) if store == "db" else MemStore()
    late, alone = s.appender(), s.appender()
    up, down = late.ref(UP), late.ref(lab("down", job="node"))
    assert late.append(2000, np.array([up, down]), np.array([2.0, 0.0])) == AppendStats(appended=2)
    other = s.appender()
    other.append(3000, np.array([up]), np.array([3.0]))
    assert other.commit() == AppendStats(appended=1)
    assert late.commit() == AppendStats(appended=1, out_of_order=1)
    assert alone.append(4000, np.array([up]), np.array([4.0])) == AppendStats(appended=1)
    assert alone.commit() == AppendStats(appended=1)
    got = s.querier().select([Matcher(MatchType.EQUAL, "job", "node")], MIN_TIME, MAX_TIME)
    assert [(str(x.labels), x.t.tolist()) for x in got] == [
        ('down{job="node"}', [2000]),
        ('up{job="node"}', [3000, 4000]),
    ]
    assert (s.stats.appended, s.stats.out_of_order) == (3, 1)
    if isinstance(s, DB):
        s.close()
