"""Query limits checked as evaluation goes (issue 11): sizes refused before allocation,
long subqueries evaluated in slices that give the same answer, cancellation from another
thread."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.errors import QueryCanceled, TooManySamples
from kubeprom.model import Labels, Matcher
from kubeprom.promql import EngineOptions, LocalQueryAPI, QueryResult
from kubeprom.promql.checkpoint import checking, checkpoint
from kubeprom.promql.eval import subquery
from kubeprom.promql.functions.range_stats import variance_over_time
from kubeprom.promql.functions.windows import Flat
from kubeprom.promql.types import RangeWindows
from kubeprom.tsdb.api import SeriesSet
from kubeprom.tsdb.memstore import MemStore

TOO_MANY = "query processing would load too many samples into memory in query execution"
MINUTE = 60_000


def store_of(n_series: int, n_points: int, step_ms: int = 15_000) -> MemStore:
    q = MemStore()
    t = np.arange(n_points, dtype=np.int64) * step_ms
    for i in range(n_series):
        values = np.cumsum(np.random.default_rng(i).integers(0, 5, n_points)).astype(float)
        q.add(Labels.from_dict({"__name__": "x", "i": str(i)}), t, values)
    return q


@pytest.fixture
def peak_bytes() -> Iterator[list[int]]:
    """The peak of traced allocations (numpy's included) while the test body runs."""
    out: list[int] = []
    tracemalloc.start()
    try:
        yield out
    finally:
        out.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


@pytest.mark.parametrize(
    "query",
    [
        "count_over_time(vector(1)[100y:1ms])",
        "count_over_time(nonexistent[100y:1ms])",
        "sum_over_time(rate(x[1m])[10y:1ms])",
        "max_over_time(max_over_time(x[1m])[1y:1ms])",
    ],
)
def test_a_subquery_grid_beyond_max_samples_is_refused_before_allocation(query: str) -> None:
    """``[100y:1ms]`` is 3.2e12 steps: refused at once, nothing allocated for it."""
    api = LocalQueryAPI(lambda: store_of(2, 10))
    api.instant("count_over_time(x[1m:1s])", 0)  # one-time set-up is not the query's
    tracemalloc.start()
    try:
        with pytest.raises(TooManySamples, match=TOO_MANY):
            api.instant(query, 3_600_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_a_long_subquery_holds_its_points_against_max_samples() -> None:
    """The inner result's points accumulate slice by slice: 2 x 300,000 > 800,000 with the
    inner selector's samples (one series' 240,000 points fits, with the selector's 240,000
    samples and the 240,000 in the outer windows)."""
    api = LocalQueryAPI(lambda: store_of(2, 10), EngineOptions(max_samples=800_000))
    with pytest.raises(TooManySamples, match=TOO_MANY):
        api.instant("count_over_time(x[5m:1ms])", 5 * MINUTE)
    one = api.instant("count_over_time(x{i='0'}[4m:1ms])", 4 * MINUTE)
    assert one.v.tolist() == [240_000.0]


def test_a_dense_range_block_beyond_max_samples_is_refused() -> None:
    """30 series x 11,001 steps = 330,030 values held at once."""
    api = LocalQueryAPI(lambda: store_of(30, 40), EngineOptions(max_samples=300_000))
    with pytest.raises(TooManySamples, match=TOO_MANY):
        api.range("x", 0, 11_000_000, 1_000)
    assert len(api.range("x", 0, 9_000_000, 1_000)) == 30


def test_count_values_with_a_group_per_sample_is_refused() -> None:
    api = LocalQueryAPI(lambda: store_of(50, 400), EngineOptions(max_samples=1_000_000))
    with pytest.raises(TooManySamples, match=TOO_MANY):
        api.range('count_values("v", x * 1000 + time())', 0, 5_000_000, 5_000)


def whole_and_sliced(
    monkeypatch: pytest.MonkeyPatch, api: LocalQueryAPI, query: str, t_ms: int
) -> tuple[QueryResult, QueryResult]:
    whole = api.instant(query, t_ms)
    with monkeypatch.context() as m:
        m.setattr(subquery, "SLICE_STEPS", 3)
        m.setattr(subquery, "SLICE_CELLS", 7)
        sliced = api.instant(query, t_ms)
    return whole, sliced


# whole_and_sliced patches inside a context of its own, so the fixture is safe to share.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    inner=st.sampled_from(
        [
            "x",
            "rate(x[1m])",
            "x > 20",
            "sum by (i) (x)",
            "vector(1)",
            "vector(time())",
            "x offset 1m",
            "absent(nonexistent)",
            "timestamp(x)",
            "-x",
            "x @ 300",
        ]
    ),
    outer=st.sampled_from(
        ["count_over_time", "sum_over_time", "max_over_time", "last_over_time", "deriv"]
    ),
    range_s=st.integers(1, 40).map(lambda k: k * 15),
    step_s=st.sampled_from([1, 7, 15, 60]),
    at_s=st.integers(0, 900),
)
def test_property_sliced_subqueries_answer_as_whole_ones(
    monkeypatch: pytest.MonkeyPatch, inner: str, outer: str, range_s: int, step_s: int, at_s: int
) -> None:
    """Every step is evaluated on its own, so a subquery cut into slices gives the same
    answer (labels, values bit for bit, order) as one evaluated whole."""
    store = store_of(4, 60)
    api = LocalQueryAPI(lambda: store)
    query = f"{outer}(({inner})[{range_s}s:{step_s}s])"
    whole, sliced = whole_and_sliced(monkeypatch, api, query, at_s * 1000)
    assert sliced.labels == whole.labels
    assert sliced.v.view(np.uint64).tolist() == whole.v.view(np.uint64).tolist()
    assert sliced.t.tolist() == whole.t.tolist()


def test_sliced_range_vector_result_equals_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_of(3, 40)
    api = LocalQueryAPI(lambda: store)
    whole, sliced = whole_and_sliced(monkeypatch, api, "rate(x[1m])[5m:10s]", 400_000)
    assert sliced.labels == whole.labels
    assert sliced.offsets.tolist() == whole.offsets.tolist()
    assert sliced.t.tolist() == whole.t.tolist()
    assert sliced.v.tolist() == whole.v.tolist()


class CancelOnSelect:
    """A querier that sets ``cancel`` when the query first reads (a client gone mid-way)."""

    def __init__(self, inner: MemStore, cancel: threading.Event) -> None:
        self.inner = inner
        self.cancel = cancel
        self.selects = 0

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        self.selects += 1
        self.cancel.set()
        return self.inner.select(matchers, mint, maxt)


def test_a_canceled_query_stops_at_its_next_check() -> None:
    cancel = threading.Event()
    querier = CancelOnSelect(store_of(2, 40), cancel)
    api = LocalQueryAPI(lambda: querier).cancellable(cancel)  # type: ignore[arg-type, return-value]
    with pytest.raises(QueryCanceled, match=r"^query was canceled in query execution$"):
        api.instant("sum_over_time(rate(x[1m])[10m:1s]) + x", 600_000)
    assert querier.selects == 1  # the second selector was never read


def test_an_uncanceled_cancellable_api_answers_as_before() -> None:
    store = store_of(2, 40)
    api = LocalQueryAPI(lambda: store)
    same = api.cancellable(threading.Event())
    assert same.instant("sum(x)", 300_000).v.tolist() == api.instant("sum(x)", 300_000).v.tolist()


def test_a_sequential_pass_over_a_long_window_stops_at_a_checkpoint() -> None:
    """One window of 100,000 samples is a 100,000-iteration loop in stdvar_over_time
    (Welford's update, one sample offset at a time); the query's check runs every EVERY
    iterations inside it, so a deadline stops it there."""
    store = MemStore()
    t = np.arange(100_000, dtype=np.int64)
    store.add(Labels.from_dict({"__name__": "x"}), t, np.ones(len(t)))
    api = LocalQueryAPI(lambda: store)
    windows = api.instant("x[1h]", 100_000)
    flat = Flat.of(
        RangeWindows(
            windows.labels, windows.t, windows.v, windows.offsets,
            np.array([[0]]), np.array([[100_000]]), np.array([100_000]), 3_600_000,
        )
    )  # fmt: skip
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise QueryCanceled("query was canceled in query execution")

    with checking(check), pytest.raises(QueryCanceled):
        variance_over_time(flat, stddev=False)
    assert calls == 3  # stopped at the third checkpoint, 2 x EVERY samples in
    with checking(lambda: None):
        assert variance_over_time(flat, stddev=False)[0].tolist() == [0.0]


class CheckpointOnSelect:
    """A querier that cancels the query and then reaches a checkpoint, as a loop would."""

    def __init__(self, inner: MemStore, cancel: threading.Event) -> None:
        self.inner = inner
        self.cancel = cancel

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        self.cancel.set()
        checkpoint()
        return self.inner.select(matchers, mint, maxt)


def test_the_evaluator_installs_its_checks_as_the_checkpoint() -> None:
    cancel = threading.Event()
    querier = CheckpointOnSelect(store_of(1, 10), cancel)
    api = LocalQueryAPI(lambda: querier).cancellable(cancel)  # type: ignore[arg-type, return-value]
    with pytest.raises(QueryCanceled) as err:
        api.instant("x", 60_000)
    assert err.traceback[-2].name == "checkpoint"
    checkpoint()  # outside a query: no check installed, nothing happens
