"""deriv / predict_linear give the same bits through the matrix and the step-wise sums."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.promql.functions import range_stats
from kubeprom.promql.functions.kahan import kahan_inc_scalar, kahan_sum_steps
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS
from kubeprom.promql.types import Annotations
from tests.promql.functions.helpers import make_windows, scalar

value = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12),
    st.sampled_from([0.0, 1e308, float("nan"), float("inf"), 5.5, -0.0]),
)


def reference(values: list[float]) -> float:
    total = comp = 0.0
    for v in values:
        total, comp = kahan_inc_scalar(v, total, comp)
    return total if total in (float("inf"), float("-inf")) else total + comp


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(value, min_size=1, max_size=20), min_size=1, max_size=6))
def test_kahan_sum_steps_matches_the_sequential_algorithm(rows: list[list[float]]) -> None:
    rows = sorted(rows, key=len, reverse=True)  # the contract: longest lanes first
    steps = len(rows[0])
    addends = np.zeros((steps, 1, len(rows)))
    for j, r in enumerate(rows):
        addends[: len(r), 0, j] = r
    active = np.array([sum(len(r) > k for r in rows) for k in range(steps)])
    got = kahan_sum_steps(addends, active)[0]
    want = np.array([reference(r) for r in rows])
    assert got.view(np.uint64).tolist() == want.view(np.uint64).tolist()


@pytest.mark.parametrize("name", ["deriv", "predict_linear"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_matrix_and_stepwise_regressions_agree(name: str, data: st.DataObject) -> None:
    n_series = data.draw(st.integers(1, 4))
    series = []
    for _ in range(n_series):
        n = data.draw(st.integers(0, 30))
        gaps = data.draw(st.lists(st.integers(1, 30_000), min_size=n, max_size=n))
        vals = data.draw(st.lists(value, min_size=n, max_size=n))
        series.append(list(zip(np.cumsum(gaps).tolist(), vals, strict=True)))
    steps = list(range(60_000, 400_000, 37_000))
    w = make_windows(series, steps, 120_000)
    args = [scalar(3600.0, len(steps)), np.asarray(steps, dtype=np.float64)]
    fn = RANGE_FUNCTIONS[name]
    fn_args = args if name == "predict_linear" else []
    matrix_v, matrix_p = fn(w, fn_args, Annotations.new())
    original = range_stats.MATRIX_SUMS_MAX_WINDOWS
    range_stats.MATRIX_SUMS_MAX_WINDOWS = -1  # every chunk takes the step-wise path
    try:
        step_v, step_p = fn(w, fn_args, Annotations.new())
    finally:
        range_stats.MATRIX_SUMS_MAX_WINDOWS = original
    assert (matrix_p == step_p).all()
    a, b = matrix_v[matrix_p], step_v[step_p]
    # Bit for bit, except that a NaN's sign bit is not observable in PromQL ("NaN" either way).
    both_nan = np.isnan(a) & np.isnan(b)
    assert a[~both_nan].view(np.uint64).tolist() == b[~both_nan].view(np.uint64).tolist()
    assert (np.isnan(a) == np.isnan(b)).all()
