"""``limit_ratio`` keeps exactly the series Prometheus 3 keeps.

Prometheus' ``HashRatioSampler``: a series' offset is ``float64(Labels.Hash()) /
float64(MaxUint64)``; ``limit_ratio(r, v)`` keeps offsets below ``r`` for ``r >= 0`` and
offsets at or above ``1 + r`` for ``r < 0``. The hashes here are built by hand from the
``stringlabels`` encoding of the default build, independently of ``Labels.hash``.
"""

from __future__ import annotations

import numpy as np
import pytest
import xxhash

from kubeprom.model import Labels
from kubeprom.promql import LocalQueryAPI
from kubeprom.tsdb.memstore import MemStore

N_SERIES = 60


def _offset(name: str, instance: str) -> float:
    encoded = b"".join(
        bytes((len(x),)) + x for x in (b"__name__", name.encode(), b"instance", instance.encode())
    )
    return xxhash.xxh64_intdigest(encoded) / float(2**64 - 1)


@pytest.fixture
def api() -> LocalQueryAPI:
    q = MemStore()
    t = np.array([0], dtype=np.int64)
    for i in range(N_SERIES):
        q.add(Labels({"__name__": "m", "instance": f"host-{i}"}.items()), t, np.array([1.0]))
    return LocalQueryAPI(lambda: q)


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9, -0.25, -0.75])
def test_limit_ratio_keeps_the_series_prometheus_keeps(api: LocalQueryAPI, ratio: float) -> None:
    res = api.instant(f"limit_ratio({ratio}, m)", 0)
    got = {lab.get("instance") for lab in res.labels}
    offsets = {f"host-{i}": _offset("m", f"host-{i}") for i in range(N_SERIES)}
    if ratio >= 0:
        want = {k for k, o in offsets.items() if o < ratio}
    else:
        want = {k for k, o in offsets.items() if o >= 1.0 + ratio}
    assert got == want
    assert 0 < len(want) < N_SERIES  # the ratio really splits the set


def test_a_ratio_and_its_complement_partition_the_series(api: LocalQueryAPI) -> None:
    kept = {lab.get("instance") for lab in api.instant("limit_ratio(0.3, m)", 0).labels}
    rest = {lab.get("instance") for lab in api.instant("limit_ratio(-0.7, m)", 0).labels}
    assert kept.isdisjoint(rest)
    assert len(kept | rest) == N_SERIES
