"""A backtest chunk's selection cache answers every select as the store does.

Selections of one metric with different matchers share a read, and each chunk takes the
part of a selection before it from the previous chunk's cache; every answer must still be
the store's own, sample for sample: series that end, start or pause, stale markers,
selectors without a metric name, times crossing the chunk's start.
"""

from __future__ import annotations

import numpy as np
import pytest

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import STALE_NAN
from kubeprom.rules.backtest_source import SelectionCache
from kubeprom.tsdb.api import SeriesSet
from kubeprom.tsdb.memstore import MemStore

DAY = 86_400_000
REACH = 3_600_000
CHUNK = DAY // 3 + 15_000  # each chunk starts on a sample's time


def store(seed: int) -> MemStore:
    rng = np.random.default_rng(seed)
    series = {}
    for name in ("info", "cpu"):
        for i in range(12):
            t = np.arange(0, 3 * DAY, 15_000, dtype=np.int64)
            keep = rng.random(len(t)) > 0.1
            a, b = sorted(rng.integers(0, len(t), 2).tolist())
            if i % 3 == 0:
                keep[a:b] = False  # gone for a while, or for good, or from the start
            v = rng.normal(0, 1, len(t))
            v[rng.random(len(t)) < 0.01] = STALE_NAN
            lab = Labels(
                [("__name__", name), ("mode", "idle" if i % 2 else "user"), ("node", f"n{i % 4}")]
            )
            series[lab] = (t[keep], v[keep])
    # One series ends where a chunk starts and another starts there: the chunk and the
    # one before see as many series, not the same ones.
    t = np.arange(0, 3 * DAY, 15_000, dtype=np.int64)
    for node, part in (("gone", t < 5 * CHUNK), ("new", t >= 5 * CHUNK)):
        lab = Labels([("__name__", "info"), ("mode", "user"), ("node", node)])
        series[lab] = (t[part], np.ones(len(t))[part])
    s = MemStore()
    s.load(series)
    return s


def equal_sets(a: SeriesSet, b: SeriesSet) -> None:
    assert a.labels == b.labels
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.v.view(np.int64), b.v.view(np.int64))  # NaN bits too


SELECTIONS = [
    [Matcher(MatchType.EQUAL, "__name__", "info")],
    [Matcher(MatchType.EQUAL, "__name__", "cpu"), Matcher(MatchType.EQUAL, "mode", "idle")],
    [Matcher(MatchType.EQUAL, "__name__", "cpu"), Matcher(MatchType.NOT_EQUAL, "mode", "idle")],
    [Matcher(MatchType.EQUAL, "__name__", "cpu"), Matcher(MatchType.NOT_REGEX, "__name__", "x|y")],
    [Matcher(MatchType.EQUAL, "node", "n1")],
    [
        Matcher(MatchType.EQUAL, "mode", "idle"),
        Matcher(MatchType.EQUAL, "__name__", "cpu"),
        Matcher(MatchType.EQUAL, "node", "n1"),
    ],
    [Matcher(MatchType.REGEX, "__name__", "info|cpu"), Matcher(MatchType.EQUAL, "node", "n2")],
    [Matcher(MatchType.EQUAL, "__name__", "cpu"), Matcher(MatchType.EQUAL, "node", "absent")],
]


@pytest.mark.parametrize("seed", range(3))
def test_every_select_is_the_stores(seed: int) -> None:
    base = store(seed)
    rng = np.random.default_rng(seed)
    cache: SelectionCache | None = None
    chunk = CHUNK
    lo = 0
    while lo < 3 * DAY:
        hi = lo + chunk - 1
        cache = SelectionCache(base, lo - REACH, hi, cache)
        for _ in range(30):
            matchers = SELECTIONS[int(rng.integers(len(SELECTIONS)))]
            mint = lo - int(rng.integers(0, REACH))
            maxt = hi - int(rng.integers(0, 120_000))
            equal_sets(cache.select(matchers, mint, maxt), base.select(matchers, mint, maxt))
        lo = hi + 1
