"""The short cuts for small inputs give what the general paths give, bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.model import Labels
from kubeprom.promql import LocalQueryAPI
from kubeprom.promql.eval.aggregate import ranks_in_group
from kubeprom.promql.eval.selectors import search
from kubeprom.tsdb.api import SeriesSet
from kubeprom.tsdb.memstore import MemStore


def _series_set(times: list[list[int]]) -> SeriesSet:
    labels = [Labels.from_dict({"i": f"{i:03d}"}) for i in range(len(times))]
    counts = np.array([len(t) for t in times], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    t = np.array([x for ts in times for x in sorted(set(ts))], dtype=np.int64)
    return SeriesSet(labels, t, np.zeros(len(t)), offsets)


@given(
    st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=6, unique=True), min_size=1),
    st.integers(-5, 60),
    st.sampled_from(["left", "right"]),
)
def test_search_at_one_time_is_a_per_series_searchsorted(
    times: list[list[int]], q: int, side: str
) -> None:
    ss = _series_set(times)
    got = search(ss, np.array([q], dtype=np.int64), side=side)
    want = [
        int(ss.offsets[i]) + int(np.searchsorted(ss.t[ss.offsets[i] : ss.offsets[i + 1]], q, side))  # type: ignore[call-overload]
        for i in range(len(times))
    ]
    assert got[:, 0].tolist() == want


@given(st.lists(st.integers(0, 6), max_size=40))
def test_ranks_in_group_count_earlier_members(gid: list[int]) -> None:
    want = [gid[:k].count(g) for k, g in enumerate(gid)]
    assert ranks_in_group(np.array(gid, dtype=np.int64)).tolist() == want


def _api(values: dict[str, float]) -> LocalQueryAPI:
    store = MemStore()
    for name, v in values.items():
        store.add(Labels.from_dict({"__name__": "x", "g": name}), np.array([0]), np.array([v]))
    return LocalQueryAPI(lambda: store)


def test_sum_and_avg_of_one_series_per_group() -> None:
    api = _api({"a": -0.0, "b": 1.5, "c": math.inf, "d": math.nan})
    got = {lab.get("g"): v for lab, _, v in api.instant("sum by (g) (x)", 0).series()}
    assert [math.copysign(1.0, float(got["a"][0])), float(got["b"][0])] == [1.0, 1.5]
    assert float(got["c"][0]) == math.inf
    assert math.isnan(float(got["d"][0]))
    avg = {lab.get("g"): v for lab, _, v in api.instant("avg by (g) (x)", 0).series()}
    assert [math.copysign(1.0, float(avg["a"][0])), float(avg["b"][0])] == [1.0, 1.5]
    assert float(avg["c"][0]) == math.inf
    assert math.isnan(float(avg["d"][0]))
