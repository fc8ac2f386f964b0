"""The vectorised Kahan sums equal upstream's sequential kahansum.Inc bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.promql.functions.kahan import (
    kahan_inc_scalar,
    kahan_result,
    kahan_sum_columns,
    kahan_sum_parts,
)

addend = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e16, max_value=1e16),
    st.sampled_from([0.1, 1e100, -1e100, 1.0, -0.0, 5e-324]),
)


def reference(values: list[float]) -> float:
    total = comp = 0.0
    for v in values:
        total, comp = kahan_inc_scalar(v, total, comp)
    return total if total in (float("inf"), float("-inf")) else total + comp


def bits(a: np.ndarray) -> list[int]:
    out: list[int] = np.asarray(a, dtype=np.float64).view(np.uint64).tolist()
    return out


def rows_sum(matrix: np.ndarray, n: np.ndarray) -> np.ndarray:
    total, comp, _ = kahan_sum_parts(matrix, n)
    return kahan_result(total, comp)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(addend, max_size=30), min_size=1, max_size=6))
def test_rows_match_the_sequential_algorithm(rows: list[list[float]]) -> None:
    width = max(len(r) for r in rows) or 1
    matrix = np.full((len(rows), width), 12345.678)  # padding must not leak into results
    for i, r in enumerate(rows):
        matrix[i, : len(r)] = r
    n = np.array([len(r) for r in rows], dtype=np.int64)
    want = np.array([reference(r) for r in rows])
    assert bits(rows_sum(matrix, n)) == bits(want)


@settings(max_examples=300, deadline=None)
@given(
    cols=st.lists(st.lists(addend, min_size=1, max_size=30), min_size=1, max_size=6),
    padding=st.sampled_from([12345.678, float("nan"), float("inf"), -0.0]),
)
def test_columns_match_the_sequential_algorithm(cols: list[list[float]], padding: float) -> None:
    height = max(len(c) for c in cols)
    matrix = np.full((height, len(cols)), padding)  # rows past a column's end are never read
    for j, c in enumerate(cols):
        matrix[: len(c), j] = c
    n = np.array([len(c) for c in cols], dtype=np.int64)
    with np.errstate(all="ignore"):
        got = kahan_result(*kahan_sum_columns(matrix, n))
    want = np.array([reference(c) for c in cols])
    assert bits(got) == bits(want)


def test_compensation_recovers_what_a_plain_sum_loses() -> None:
    row = np.array([[1e100, 1.0, -1e100]])
    assert rows_sum(row, np.array([3])).tolist() == [1.0]
    assert float(np.cumsum(row)[-1]) == 0.0
    with np.errstate(all="ignore"):
        assert kahan_result(*kahan_sum_columns(row.T.copy(), np.array([3]))).tolist() == [1.0]


def test_negative_zeros_sum_like_upstream() -> None:
    # Upstream starts from +0.0, so a sum of -0.0s is +0.0; np.cumsum alone would give -0.0.
    assert bits(rows_sum(np.array([[-0.0, -0.0]]), np.array([2]))) == [0]
    column = np.array([[-0.0], [-0.0]])
    with np.errstate(all="ignore"):
        assert bits(kahan_result(*kahan_sum_columns(column, np.array([2])))) == [0]
