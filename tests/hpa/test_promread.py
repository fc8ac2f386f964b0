"""promread.values_at against a plain lookup: the packed search and the bisect it falls
back to when (series x time span) does not fit one int64 key."""

from __future__ import annotations

import random

import numpy as np

from kubeprom.hpa.promread import label_values, values_at
from kubeprom.model.labels import Labels
from kubeprom.promql.api import QueryResult, ResultType

_NO_TIME = np.iinfo(np.int64).min


def _result(rnd: random.Random, n: int, base: int, spread: int) -> QueryResult:
    ts, vs, offsets = [], [], [0]
    for _ in range(n):
        times = sorted(rnd.sample(range(spread), rnd.randrange(0, 6)))
        ts += [base + t for t in times]
        vs += [rnd.random() for _ in times]
        offsets.append(len(ts))
    return QueryResult(
        ResultType.MATRIX,
        [Labels([("i", str(i))]) for i in range(n)],
        np.array(ts, dtype=np.int64),
        np.array(vs, dtype=np.float64),
        np.array(offsets, dtype=np.int64),
    )


def _expected(result: QueryResult, series: list[int], times: list[int]) -> list[float | None]:
    out: list[float | None] = []
    for s, t in zip(series, times, strict=True):
        found = None
        if s >= 0:
            a, b = int(result.offsets[s]), int(result.offsets[s + 1])
            for k in range(a, b):
                if int(result.t[k]) == t:
                    found = float(result.v[k])
                    break
        out.append(found)
    return out


def test_values_at_equal_a_plain_lookup_packed_and_not() -> None:
    rnd = random.Random(7)
    # Small spans take the packed key; a span near int64's range takes the bisect.
    for base, spread in ((1_700_000_000_000, 40), (0, 7), (-(1 << 62), 1 << 62)):
        for _ in range(40):
            result = _result(rnd, rnd.randrange(1, 9), base, max(spread, 8))
            n = len(result.labels)
            picks = [int(x) for x in result.t.tolist()]
            series = [rnd.randrange(-1, n) for _ in range(30)]
            extremes = [_NO_TIME, base - 1, base + spread + 5]
            times = [rnd.choice(picks + extremes) for _ in series]
            got, ok = values_at(
                result, np.array(series, dtype=np.int64), np.array(times, dtype=np.int64)
            )
            want = _expected(result, series, times)
            assert ok.tolist() == [w is not None for w in want]
            assert got.tolist() == [0.0 if w is None else w for w in want]


def test_label_values_one_pass_per_result() -> None:
    result = QueryResult(
        ResultType.VECTOR,
        [
            Labels([("__name__", "m"), ("job", "kubelet"), ("pod", "a")]),
            Labels([("instance", "n1"), ("pod", "b")]),
            Labels([]),
        ],
    )
    assert label_values(result, ("pod", "job", "instance")) == [
        ["a", "b", ""],
        ["kubelet", "", ""],
        ["", "n1", ""],
    ]
    assert label_values(result, ()) == []
