"""Range functions folded over long subqueries slice by slice (issue 11): the same answers,
bit for bit, as the windows evaluated whole, in a fraction of the memory."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.errors import TooManySamples
from kubeprom.model import Labels
from kubeprom.model.samples import STALE_NAN
from kubeprom.promql import EngineOptions, LocalQueryAPI, QueryResult
from kubeprom.promql.eval import subquery, subquery_fold
from kubeprom.promql.functions.kahan import (
    kahan_continue_columns,
    kahan_inc_scalar,
    kahan_result,
    kahan_sum_columns,
)
from kubeprom.tsdb.memstore import MemStore

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308, -1e308, 1e-300, STALE_NAN]
TOO_MANY = "query processing would load too many samples into memory in query execution"


def bits(r: QueryResult) -> list[int]:
    return [int(b) for b in r.v.view(np.uint64)]


def store_from(seed: int, n_series: int, n_points: int, special: float) -> MemStore:
    """Series with gaps (some start late, some end early), noisy values of mixed magnitude
    and, with probability ``special``, NaN, infinities, signed zeros and stale markers."""
    rng = np.random.default_rng(seed)
    store = MemStore()
    for i in range(n_series):
        first = int(rng.integers(0, n_points // 2))
        last = int(rng.integers(first + 1, n_points + 1))
        t = np.arange(first, last, dtype=np.int64) * 7_000 + int(rng.integers(0, 7_000))
        v = rng.normal(0, 10.0 ** rng.integers(-3, 12), len(t))
        odd = rng.random(len(t)) < special
        v[odd] = rng.choice(np.array(SPECIAL), int(odd.sum()))
        store.add(Labels.from_dict({"__name__": "x", "i": str(i)}), t, v)
    return store


def folded_and_whole(
    monkeypatch: pytest.MonkeyPatch, api: LocalQueryAPI, query: str, t_ms: int, step_ms: int
) -> tuple[QueryResult, QueryResult]:
    """The query folded over slices of a few steps, and evaluated whole (no slices, no fold)."""
    with monkeypatch.context() as m:
        m.setattr(subquery, "SLICE_STEPS", 5)
        m.setattr(subquery, "SLICE_CELLS", 11)
        folded = api.range(query, t_ms - 4 * step_ms, t_ms, step_ms)
    with monkeypatch.context() as m:
        m.setattr(subquery_fold, "FOLDED", frozenset())
        m.setattr(subquery, "SLICE_STEPS", 1 << 40)
        whole = api.range(query, t_ms - 4 * step_ms, t_ms, step_ms)
    return folded, whole


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    special=st.sampled_from([0.0, 0.05, 0.3]),
    func=st.sampled_from(sorted(subquery_fold.FOLDED)),
    inner=st.sampled_from(["x", "rate(x[20s])", "x > 0", "sum(x)", "-x", "x offset 13s"]),
    range_s=st.integers(1, 120),
    sub_step_ms=st.sampled_from([1_000, 2_500, 3_000, 7_000]),
    outer_step_s=st.sampled_from([1, 9, 30, 200]),
    at_s=st.integers(10, 400),
)
def test_property_folded_subqueries_answer_as_whole_ones(
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    special: float,
    func: str,
    inner: str,
    range_s: int,
    sub_step_ms: int,
    outer_step_s: int,
    at_s: int,
) -> None:
    """Overlapping windows over many slices, series appearing and ending between them,
    NaN, infinities, signed zeros and stale markers: labels, order, timestamps and values
    (bit for bit) equal the whole evaluation's."""
    store = store_from(seed, 4, 60, special)
    api = LocalQueryAPI(lambda: store)
    query = f"{func}(({inner})[{range_s}s:{sub_step_ms}ms])"
    folded, whole = folded_and_whole(monkeypatch, api, query, at_s * 1000, outer_step_s * 1000)
    assert folded.labels == whole.labels
    assert folded.offsets.tolist() == whole.offsets.tolist()
    assert folded.t.tolist() == whole.t.tolist()
    assert bits(folded) == bits(whole)


def test_a_fold_over_many_slices_equals_the_whole_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window of 300,000 inner steps (over 18 slices of 16,384) sums as it did whole."""
    store = store_from(7, 2, 60, 0.0)
    api = LocalQueryAPI(lambda: store)
    query = "sum_over_time(x[300s:1ms])"
    folded = api.instant(query, 400_000)
    monkeypatch.setattr(subquery_fold, "FOLDED", frozenset())
    whole = api.instant(query, 400_000)
    assert folded.labels == whole.labels
    assert bits(folded) == bits(whole)
    assert len(folded.labels) == 2


def test_a_folded_subquery_holds_one_slice_not_the_grid() -> None:
    """3.6 million inner steps: the whole evaluation traces over 100 MiB, the fold under 8."""
    store = store_from(3, 1, 600, 0.0)
    api = LocalQueryAPI(lambda: store)
    api.instant("sum_over_time(x[1s:1ms])", 10_000)  # one-time set-up is not the query's
    tracemalloc.start()
    try:
        result = api.instant("sum_over_time(rate(x[1m])[1h:1ms])", 4_200_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(result.labels) == 1
    assert peak < 8 << 20


def test_a_folded_subquery_is_refused_where_the_whole_one_was() -> None:
    """Points held slice by slice plus the largest step's windows, as before the fold:
    300,000 points + 300,000 in the window exceed 500,000; 240,000 + 240,000 do not."""
    store = store_from(3, 1, 600, 0.0)
    api = LocalQueryAPI(lambda: store, EngineOptions(max_samples=500_000))
    with pytest.raises(TooManySamples, match=TOO_MANY):
        api.instant("count_over_time(vector(1)[300s:1ms])", 600_000)
    assert api.instant("count_over_time(vector(1)[240s:1ms])", 600_000).v.tolist() == [240_000.0]


@given(
    st.lists(
        st.one_of(st.floats(allow_nan=True), st.sampled_from(SPECIAL)), min_size=1, max_size=40
    ),
    st.lists(st.integers(1, 40), min_size=1, max_size=6),
)
def test_kahan_continued_in_pieces_equals_upstreams_loop(xs: list[float], cuts: list[int]) -> None:
    """Continuing the running sum piece by piece gives upstream's kahansum.Inc loop (its
    reported value: the sum where infinite or NaN, else sum + compensation) bit for bit."""
    total, comp = 0.0, 0.0
    for x in xs:
        total, comp = kahan_inc_scalar(x, total, comp)
    expected = total if np.isinf(total) or np.isnan(total) else total + comp
    state_t, state_c = np.zeros(1), np.zeros(1)
    done = 0
    for cut in [*cuts, len(xs)]:
        part = xs[done : done + cut]
        if not part:
            continue
        with np.errstate(all="ignore"):
            state_t, state_c = kahan_continue_columns(
                np.array(part)[:, None], np.array([len(part)]), state_t, state_c
            )
        done += len(part)
    assert done == len(xs)
    got = kahan_result(state_t, state_c)
    with np.errstate(all="ignore"):
        whole = kahan_result(*kahan_sum_columns(np.array(xs)[:, None], np.array([len(xs)])))
    # Bit for bit, but a NaN as a NaN: which operand's payload NaN + NaN keeps depends on
    # the compiled add (Python's scalar reference included), and JSON shows "NaN" anyway.
    assert same(float(got[0]), expected)
    assert same(float(whole[0]), float(got[0]))


def same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)
