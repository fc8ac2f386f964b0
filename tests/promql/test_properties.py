"""Algebraic facts of PromQL, checked on generated data (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model import Labels
from kubeprom.promql import LocalQueryAPI
from kubeprom.promql.promqltest import almost_equal
from kubeprom.tsdb.memstore import MemStore

INTERVAL_MS = 15_000

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def store_of(series: list[tuple[str, str, list[float]]]) -> MemStore:
    """Series ``x{a, b}`` with one sample every 15s from t=0."""
    q = MemStore()
    for a, b, vals in series:
        lab = Labels([("__name__", "x"), ("a", a), ("b", b)])
        t = np.arange(len(vals), dtype=np.int64) * INTERVAL_MS
        q.add(lab, t, np.array(vals))
    return q


series_sets = st.lists(
    st.tuples(
        st.sampled_from(["p", "q", "r"]),
        st.text("uvwxyz", min_size=1, max_size=3),
        st.lists(values, min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda s: (s[0], s[1]),
)


def by_labels(res: object) -> dict[Labels, float]:
    from kubeprom.promql import QueryResult

    assert isinstance(res, QueryResult)
    return {lab: float(v[0]) for lab, _, v in res.series()}


@settings(max_examples=60, deadline=None)
@given(series_sets)
def test_sum_of_sums_by_group_is_the_sum(series: list[tuple[str, str, list[float]]]) -> None:
    api = LocalQueryAPI(lambda: store_of(series))
    t = 7 * INTERVAL_MS
    total = by_labels(api.instant("sum(x)", t))
    nested = by_labels(api.instant("sum(sum by (a) (x))", t))
    assert total.keys() == nested.keys()
    for lab in total:
        scale = max(1.0, sum(abs(v) for _, _, vals in series for v in vals))
        assert abs(total[lab] - nested[lab]) <= 1e-9 * scale
    groups = by_labels(api.instant("sum by (a) (x)", t))
    # Each group's sum is the sum of its series' current values (the newest within 5m).
    want: dict[str, float] = {}
    for a, _, vals in series:
        want[a] = want.get(a, 0.0) + vals[min(len(vals), 8) - 1]
    assert {lab.get("a"): v for lab, v in groups.items()}.keys() == want.keys()
    for lab, v in groups.items():
        assert math.isclose(v, want[lab.get("a")], rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    slope=st.floats(min_value=0.001, max_value=1000),
    samples=st.integers(min_value=3, max_value=40),
    window_steps=st.integers(min_value=2, max_value=20),
)
def test_rate_of_a_linear_counter_is_its_slope(
    slope: float, samples: int, window_steps: int
) -> None:
    """With samples every 15s and the window ending on a sample, rate() extrapolates the
    first sample to the window start, exactly recovering the slope (per second)."""
    window_steps = min(window_steps, samples - 1)
    window_ms = window_steps * INTERVAL_MS
    t = np.arange(samples, dtype=np.int64) * INTERVAL_MS
    start = slope * window_ms  # high enough that extrapolation never hits zero
    q = MemStore()
    q.add(Labels([("__name__", "c_total")]), t, (start + slope * t / 1000.0).astype(np.float64))
    api = LocalQueryAPI(lambda: q)
    res = api.instant(f"rate(c_total[{window_ms}ms])", int(t[-1]))
    (got,) = by_labels(res).values()
    assert math.isclose(got, slope, rel_tol=1e-9)


EXPRESSIONS = [
    "x",
    "sum by (a) (x)",
    "avg without (b) (x)",
    "max(x) - min(x)",
    "count_values('v', x)",
    "rate(x[1m])",
    "avg_over_time(x[45s])",
    "x > on(a, b) group_left x * 0",
    "topk(2, x)",
    "topk by (a, b) (1, x)",  # no group over k: a range query keeps every point
    "bottomk by (a) (5, x)",
    "limitk by (a, b) (1, x)",
    "quantile(0.3, x)",
    "stddev by (a) (x)",
    "x and on(a) x{b='u'}",
    "max_over_time(sum(x)[1m:15s])",
    "label_replace(x, 'c', '$1', 'b', '(.).*')",
    "absent(nope)",
    "timestamp(x)",
    "scalar(sum(x)) * 2",
]


@settings(max_examples=40, deadline=None)
@given(series_sets, st.sampled_from(EXPRESSIONS), st.integers(min_value=0, max_value=10))
def test_instant_query_equals_middle_step_of_range_query(
    series: list[tuple[str, str, list[float]]], expr: str, step_no: int
) -> None:
    api = LocalQueryAPI(lambda: store_of(series))
    t = step_no * INTERVAL_MS
    instant = api.instant(expr, t)
    rng = api.range(expr, t - 60_000, t + 60_000, 60_000)
    mid = {lab: float(v[tt == t][0]) for lab, tt, v in rng.series() if (tt == t).any()}
    if instant.result_type == "scalar":
        assert almost_equal(instant.scalar, mid[Labels()])
        return
    got = by_labels(instant)
    assert got.keys() == mid.keys()
    for lab, v in got.items():
        assert almost_equal(v, mid[lab]), (lab, v, mid[lab])
