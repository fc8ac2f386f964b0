"""The stores against a naive reference model: the DB (head, WAL replay, on-disk blocks) and
the in-memory MemStore answer every select exactly as the model does, StaleNaN included."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.model import STALE_NAN, Labels, Matcher, MatchType
from kubeprom.tsdb import DB, AppendStats, Options, Querier
from kubeprom.tsdb.memstore import MemStore
from tests.support.reference import ReferenceStore

SERIES = [
    Labels({"__name__": name, "pod": pod, "ns": ns}.items())
    for name in ("cpu", "mem")
    for pod in ("a", "b", "c")
    for ns in ("x", "y")
]
MATCHER_SETS = [
    [],
    [Matcher(MatchType.EQUAL, "__name__", "cpu")],
    [Matcher(MatchType.REGEX, "pod", "a|c"), Matcher(MatchType.NOT_EQUAL, "ns", "y")],
    [Matcher(MatchType.NOT_REGEX, "pod", "b"), Matcher(MatchType.EQUAL, "missing", "")],
    [Matcher(MatchType.EQUAL, "pod", "nope")],
]
values_st = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(STALE_NAN),
    st.integers(0, 10**9).map(float),
    st.integers(0, 10**6).map(lambda i: i / 1000),
)
append_st = st.tuples(
    st.just("append"),
    st.integers(-300, 900),  # time step relative to the previous batch (negative: out of order)
    st.lists(st.integers(0, len(SERIES) - 1), min_size=0, max_size=len(SERIES) + 2),
    st.lists(values_st, min_size=len(SERIES) + 2, max_size=len(SERIES) + 2),
)
# A whole series at once (a promqltest ``load``): times relative to the last batch, in any
# order, repeats allowed.
load_st = st.tuples(
    st.just("load"),
    st.integers(0, len(SERIES) - 1),
    st.lists(st.tuples(st.integers(-400, 1200), values_st), min_size=0, max_size=12),
)
ops_st = st.lists(
    st.one_of(append_st, load_st, st.just(("compact",)), st.just(("reopen",))),
    min_size=1,
    max_size=60,
)


class DBSubject:
    def __init__(self, path: str) -> None:
        self.path = path
        self.opts = Options(block_range_ms=250, chunk_samples=3, retention_ms=None)
        self.db = DB.open(path, self.opts)

    @property
    def min_valid_t(self) -> int:
        return self.db.head.min_valid_t

    def append(self, t: int, labels: list[Labels], values: list[float]) -> AppendStats:
        app = self.db.appender()
        refs = np.array([app.ref(lab) for lab in labels], dtype=np.int64)
        stats = app.append(t, refs, np.array(values, dtype=np.float64))
        app.commit()
        return stats

    def load(self, labels: Labels, t: list[int], values: list[float]) -> AppendStats:
        """The DB has no bulk load: one commit per timestamp, in time order."""
        total = AppendStats()
        order = np.argsort(t, kind="stable")
        for ts in sorted(set(t)):
            picked = [values[i] for i in order.tolist() if t[i] == ts]
            total.add(self.append(ts, [labels] * len(picked), picked))
        return total

    def compact(self) -> int:
        return self.db.compact()

    def reopen(self) -> None:
        self.db.close()
        self.db = DB.open(self.path, self.opts)

    def querier(self) -> Querier:
        return self.db.querier()

    def close(self) -> None:
        self.db.close()


class MemSubject:
    min_valid_t = -(2**63)

    def __init__(self) -> None:
        self.store = MemStore(block_range_ms=250, chunk_samples=3)

    def append(self, t: int, labels: list[Labels], values: list[float]) -> AppendStats:
        app = self.store.appender()
        refs = np.array([app.ref(lab) for lab in labels], dtype=np.int64)
        stats = app.append(t, refs, np.array(values, dtype=np.float64))
        app.commit()
        return stats

    def load(self, labels: Labels, t: list[int], values: list[float]) -> AppendStats:
        return self.store.load({labels: (np.array(t, dtype=np.int64), np.array(values))})

    def compact(self) -> int:
        self.store.head.seal()  # no disk: the nearest thing is sealing the open rows
        return 0

    def reopen(self) -> None:
        pass

    def querier(self) -> Querier:
        return self.store


def _check(subject: DBSubject | MemSubject, ref: ReferenceStore) -> None:
    q = subject.querier()
    for matchers in MATCHER_SETS:
        for mint, maxt in ((-(2**62), 2**62), (500, 3000)):
            got = q.select(matchers, mint, maxt)
            want = ref.select(matchers, mint, maxt)
            assert got.labels == sorted(want), (matchers, mint, maxt)
            for s in got:
                exp = want[s.labels]
                assert s.t.tolist() == [t for t, _ in exp]
                assert s.v.view(np.uint64).tolist() == [b for _, b in exp]


def _reference_load(
    ref: ReferenceStore, labels: Labels, t: list[int], values: list[float]
) -> tuple[int, int, int, int]:
    """(appended, out_of_order, duplicate, out_of_bounds) of a load, per timestamp in order."""
    appended = ooo = dup = oob = 0
    order = np.argsort(t, kind="stable").tolist()
    for ts in sorted(set(t)):
        picked = [values[i] for i in order if t[i] == ts]
        if ts < ref.min_valid_t:
            oob += len(picked)
            continue
        a, o, d = ref.append(ts, [labels] * len(picked), picked)
        appended, ooo, dup = appended + a, ooo + o, dup + d
    return appended, ooo, dup, oob


@contextmanager
def subject_of(kind: str) -> Iterator[DBSubject | MemSubject]:
    """A fresh store of ``kind``; a DB lives in a temporary directory removed afterwards."""
    if kind == "mem":
        yield MemSubject()
        return
    path = tempfile.mkdtemp()
    subject = DBSubject(path)
    try:
        yield subject
    finally:
        subject.close()
        shutil.rmtree(path)


def _run(kind: str, ops: list[tuple[object, ...]]) -> int:
    """Apply ops to a fresh store and the model, checking after each; returns blocks written."""
    written = 0
    ref = ReferenceStore()
    with subject_of(kind) as subject:
        t = 0
        for op in ops:
            if op[0] == "append":
                _, dt, which, vals = op
                t += int(dt)  # type: ignore[call-overload]
                labels = [SERIES[i] for i in which]  # type: ignore[union-attr]
                values = [float(x) for x in vals[: len(labels)]]  # type: ignore[index]
                stats = subject.append(t, labels, values)
                if t < ref.min_valid_t:
                    assert (stats.appended, stats.out_of_bounds) == (0, len(labels))
                else:
                    want = ref.append(t, labels, values)
                    assert (stats.appended, stats.out_of_order, stats.duplicate) == want
            elif op[0] == "load":
                _, which, points = op
                labels = SERIES[int(which)]  # type: ignore[call-overload]
                times = [t + int(dt) for dt, _ in points]  # type: ignore[attr-defined]
                values = [float(v) for _, v in points]  # type: ignore[attr-defined]
                stats = subject.load(labels, times, values)
                want4 = _reference_load(ref, labels, times, values)
                got4 = (stats.appended, stats.out_of_order, stats.duplicate, stats.out_of_bounds)
                assert got4 == want4
            elif op[0] == "compact":
                written += subject.compact()
                ref.min_valid_t = subject.min_valid_t
            else:
                subject.reopen()
                ref.min_valid_t = subject.min_valid_t
            _check(subject, ref)
        if isinstance(subject, DBSubject):
            subject.reopen()
            _check(subject, ref)
    return written


@pytest.mark.parametrize("kind", ["db", "mem"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_st)
def test_store_matches_reference_model(kind: str, ops: list[tuple[object, ...]]) -> None:
    _run(kind, ops)


def _long_history(seed: int) -> list[tuple[object, ...]]:
    rng = np.random.default_rng(seed)
    specials = [float("nan"), STALE_NAN, float("inf"), -0.0]
    ops: list[tuple[object, ...]] = []
    for _ in range(300):
        r = rng.random()
        if r < 0.05:
            ops.append(("compact",))
        elif r < 0.08:
            ops.append(("reopen",))
        elif r < 0.12:
            points = [
                (int(rng.integers(-100, 600)), round(rng.random() * 1e4, 3))
                for _ in range(int(rng.integers(1, 40)))
            ]
            ops.append(("load", int(rng.integers(len(SERIES))), points))
        else:
            which = rng.choice(len(SERIES), size=rng.integers(0, len(SERIES) + 1)).tolist()
            vals = [
                specials[int(rng.integers(4))]
                if rng.random() < 0.05
                else round(rng.random() * 1e4, 3)
                for _ in range(len(SERIES) + 2)
            ]
            ops.append(("append", int(rng.integers(-40, 120)), which, vals))
    return ops


@pytest.mark.parametrize("seed", range(4))
def test_long_histories_match_reference_model(seed: int) -> None:
    """Long runs that cross many block ranges, seals, compactions and reopens."""
    assert _run("db", _long_history(seed)) >= 5


@pytest.mark.parametrize("seed", range(2))
def test_long_histories_in_memory_match_reference_model(seed: int) -> None:
    """The same histories (compaction seals the open rows; reopening does nothing)."""
    _run("mem", _long_history(seed))


def test_an_in_order_load_is_one_slab_and_a_late_one_goes_sample_by_sample() -> None:
    store = MemStore(chunk_samples=3)
    up = Labels.from_dict({"__name__": "up"})
    stats = store.load({up: (np.array([0, 10, 20, 30]), np.array([1.0, 2.0, STALE_NAN, 4.0]))})
    assert (stats.appended, len(store.head.slabs)) == (4, 1)
    stats = store.add(up, np.array([25, 40, 40, 50]), np.array([9.0, 5.0, 6.0, 7.0]))
    assert (stats.appended, stats.out_of_order, stats.duplicate) == (2, 1, 1)
    got = store.select([Matcher(MatchType.EQUAL, "__name__", "up")], 0, 100)
    assert got.t.tolist() == [0, 10, 20, 30, 40, 50]
    assert (
        got.v.view(np.uint64).tolist()
        == np.array([1.0, 2.0, STALE_NAN, 4.0, 5.0, 7.0]).view(np.uint64).tolist()
    )
