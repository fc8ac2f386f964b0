"""sum/avg over the rank matrix equal the series-by-series Kahan fold bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model import Labels
from kubeprom.promql.eval import aggregate
from kubeprom.promql.types import InstantSteps

value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.1, 1e308, -1e308, 1e100, -1e100, -0.0, 3.0]),
)


@pytest.mark.parametrize("op", ["sum", "avg"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_matrix_reduce_equals_fold(op: str, data: st.DataObject) -> None:
    n_series = data.draw(st.integers(1, 8))
    n_steps = data.draw(st.integers(1, 4))
    n_groups = data.draw(st.integers(1, 3))
    gid = np.array(
        data.draw(st.lists(st.integers(0, n_groups - 1), min_size=n_series, max_size=n_series)),
        dtype=np.int64,
    )
    vals = np.array(
        data.draw(st.lists(value, min_size=n_series * n_steps, max_size=n_series * n_steps))
    ).reshape(n_series, n_steps)
    pres = np.array(
        data.draw(st.lists(st.booleans(), min_size=n_series * n_steps, max_size=n_series * n_steps))
    ).reshape(n_series, n_steps)
    inp = InstantSteps([Labels() for _ in range(n_series)], vals, pres, np.zeros(n_series, bool))
    fast, present = aggregate.reduce(op, inp, gid, n_groups, n_steps, None)
    original = aggregate._KAHAN_MATRIX_CELLS
    aggregate._KAHAN_MATRIX_CELLS = 0  # force the fold
    try:
        slow, present2 = aggregate.reduce(op, inp, gid, n_groups, n_steps, None)
    finally:
        aggregate._KAHAN_MATRIX_CELLS = original
    assert (present == present2).all()
    assert fast[present].view(np.uint64).tolist() == slow[present].view(np.uint64).tolist()
