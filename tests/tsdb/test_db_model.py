"""The store against a naive reference model, across head, WAL replay and on-disk blocks."""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.model import STALE_NAN, Labels, Matcher, MatchType
from kubeprom.tsdb import DB, Options
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
ops_st = st.lists(
    st.one_of(append_st, st.just(("compact",)), st.just(("reopen",))), min_size=1, max_size=60
)


def _check(db: DB, ref: ReferenceStore) -> None:
    q = db.querier()
    for matchers in MATCHER_SETS:
        for mint, maxt in ((-(2**62), 2**62), (500, 3000)):
            got = q.select(matchers, mint, maxt)
            want = ref.select(matchers, mint, maxt)
            assert got.labels == sorted(want), (matchers, mint, maxt)
            for s in got:
                exp = want[s.labels]
                assert s.t.tolist() == [t for t, _ in exp]
                assert s.v.view(np.uint64).tolist() == [b for _, b in exp]


def _run(ops: list[tuple[object, ...]]) -> int:
    """Apply ops to a fresh store and the model, checking after each; returns blocks written."""
    path = tempfile.mkdtemp()
    opts = Options(block_range_ms=250, chunk_samples=3, retention_ms=None)
    written = 0
    try:
        db = DB.open(path, opts)
        ref = ReferenceStore()
        t = 0
        for op in ops:
            if op[0] == "append":
                _, dt, which, vals = op
                t += int(dt)  # type: ignore[call-overload]
                labels = [SERIES[i] for i in which]  # type: ignore[union-attr]
                app = db.appender()
                refs = np.array([app.ref(lab) for lab in labels], dtype=np.int64)
                values = np.array(vals[: len(labels)], dtype=np.float64)  # type: ignore[index]
                stats = app.append(t, refs, values)
                app.commit()
                if t < ref.min_valid_t:
                    assert (stats.appended, stats.out_of_bounds) == (0, len(labels))
                else:
                    want = ref.append(t, labels, list(values))
                    assert (stats.appended, stats.out_of_order, stats.duplicate) == want
            elif op[0] == "compact":
                written += db.compact()
                ref.min_valid_t = db.head.min_valid_t
            else:
                db.close()
                db = DB.open(path, opts)
                ref.min_valid_t = db.head.min_valid_t
            _check(db, ref)
        db.close()
        db = DB.open(path, opts)
        _check(db, ref)
        db.close()
    finally:
        shutil.rmtree(path)
    return written


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_st)
def test_store_matches_reference_model(ops: list[tuple[object, ...]]) -> None:
    _run(ops)


@pytest.mark.parametrize("seed", range(4))
def test_long_histories_match_reference_model(seed: int) -> None:
    """Long runs that cross many block ranges, seals, compactions and reopens."""
    rng = np.random.default_rng(seed)
    specials = [float("nan"), STALE_NAN, float("inf"), -0.0]
    ops: list[tuple[object, ...]] = []
    for _ in range(300):
        r = rng.random()
        if r < 0.05:
            ops.append(("compact",))
        elif r < 0.08:
            ops.append(("reopen",))
        else:
            which = rng.choice(len(SERIES), size=rng.integers(0, len(SERIES) + 1)).tolist()
            vals = [
                specials[int(rng.integers(4))]
                if rng.random() < 0.05
                else round(rng.random() * 1e4, 3)
                for _ in range(len(SERIES) + 2)
            ]
            ops.append(("append", int(rng.integers(-40, 120)), which, vals))
    assert _run(ops) >= 5
