"""The query API: result shapes and order, limits and errors in Prometheus' wording."""

from __future__ import annotations

import numpy as np
import pytest

from kubeprom.errors import EvalError, ParseError, QueryTimeout, TooManySamples
from kubeprom.model import STALE_NAN, Labels
from kubeprom.promql import EngineOptions, LocalQueryAPI, ResultType
from kubeprom.tsdb.memstore import MemStore


def lab(**kv: str) -> Labels:
    return Labels(kv.items())


@pytest.fixture
def store() -> MemStore:
    q = MemStore()
    t = np.arange(0, 600_000, 15_000, dtype=np.int64)
    for i, job in enumerate(["b", "a", "c"]):
        q.add(lab(__name__="up_total", job=job), t, (i + 1) * np.arange(len(t), dtype=float))
    return q


def test_instant_vector_scalar_string(store: MemStore) -> None:
    api = LocalQueryAPI(lambda: store)
    res = api.instant("up_total", 60_000)
    assert res.result_type is ResultType.VECTOR
    assert [str(x) for x in res.labels] == [
        'up_total{job="a"}',
        'up_total{job="b"}',
        'up_total{job="c"}',
    ]
    assert res.v.tolist() == [8.0, 4.0, 12.0]
    assert res.t.tolist() == [60_000] * 3
    scalar = api.instant("1 + 2", 5_000)
    assert (scalar.result_type, scalar.scalar) == (ResultType.SCALAR, 3.0)
    assert api.instant('"hi"', 0).string == "hi"


def test_sort_desc_order_is_kept_in_instant_results(store: MemStore) -> None:
    res = LocalQueryAPI(lambda: store).instant("sort_desc(up_total)", 60_000)
    assert [x.get("job") for x in res.labels] == ["c", "a", "b"]


def test_range_result_is_sorted_and_names_dropped(store: MemStore) -> None:
    res = LocalQueryAPI(lambda: store).range("sort_desc(up_total * 2)", 0, 60_000, 30_000)
    assert res.result_type is ResultType.MATRIX
    assert [str(x) for x in res.labels] == ['{job="a"}', '{job="b"}', '{job="c"}']
    assert res.warnings == (
        "PromQL warning: sort is ineffective for range queries since results are always "
        "ordered by labels (1:1)",
    )
    first = next(res.series())
    assert first[1].tolist() == [0, 30_000, 60_000]
    assert first[2].tolist() == [0.0, 8.0, 16.0]


def test_staleness_marker_ends_a_series() -> None:
    q = MemStore()
    q.add(lab(__name__="m"), np.array([0, 10_000, 20_000]), np.array([1.0, 2.0, STALE_NAN]))
    api = LocalQueryAPI(lambda: q)
    assert api.instant("m", 15_000).v.tolist() == [2.0]
    assert len(api.instant("m", 25_000)) == 0
    assert api.instant("count_over_time(m[1m])", 25_000).v.tolist() == [2.0]


def test_lookback_window_is_left_open() -> None:
    q = MemStore()
    q.add(lab(__name__="m"), np.array([0]), np.array([1.0]))
    api = LocalQueryAPI(lambda: q)
    assert api.instant("m", 299_999).v.tolist() == [1.0]
    assert len(api.instant("m", 300_000)) == 0


def test_rate_info_annotation_position(store: MemStore) -> None:
    q = MemStore()
    q.add(lab(__name__="gauge"), np.array([0, 15_000, 30_000]), np.array([1.0, 2.0, 3.0]))
    res = LocalQueryAPI(lambda: q).instant("sum(rate(gauge[1m]))", 30_000)
    assert res.infos == (
        "PromQL info: metric might not be a counter, name does not end in "
        '_total/_sum/_count/_bucket: "gauge" (1:10)',
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        # Prometheus 2.42 and 3.x answer these word for word (checked against 2.42).
        ("sum(up", "1:7: parse error: unclosed left parenthesis"),
        (
            "rate(up)",
            '1:6: parse error: expected type range vector in call to function "rate", '
            "got instant vector",
        ),
        ("up)", "1:4: parse error: unexpected right parenthesis ')'"),
        ("nosuch(up)", '1:1: parse error: unknown function with name "nosuch"'),
    ],
    ids=["unclosed", "type", "unbalanced", "unknown-function"],
)
def test_parse_errors_name_the_position(query: str, message: str) -> None:
    api = LocalQueryAPI(MemStore)
    with pytest.raises(ParseError) as info:
        api.instant(query, 0)
    assert str(info.value) == message
    assert 0 <= info.value.start <= len(query)


def test_range_query_limits(store: MemStore) -> None:
    api = LocalQueryAPI(lambda: store)
    with pytest.raises(EvalError, match=r"exceeded maximum resolution of 11,000 points"):
        api.range("up_total", 0, 11_001_000, 1_000)
    with pytest.raises(EvalError, match="zero or negative query resolution step"):
        api.range("up_total", 0, 10, 0)
    with pytest.raises(EvalError, match='invalid expression type "range vector" for range'):
        api.range("up_total[1m]", 0, 60_000, 15_000)


def test_too_many_samples(store: MemStore) -> None:
    api = LocalQueryAPI(lambda: store, EngineOptions(max_samples=50))
    assert len(api.instant("up_total", 60_000)) == 3
    with pytest.raises(
        TooManySamples,
        match="query processing would load too many samples into memory in query execution",
    ):
        api.range("up_total", 0, 600_000, 15_000)


def test_timeout(store: MemStore) -> None:
    api = LocalQueryAPI(lambda: store, EngineOptions(timeout_s=-1.0))
    with pytest.raises(QueryTimeout, match="query timed out in query execution"):
        api.instant("up_total", 0)


def test_many_to_many_error(store: MemStore) -> None:
    api = LocalQueryAPI(lambda: store)
    with pytest.raises(EvalError, match="multiple matches for labels: many-to-one matching"):
        api.instant("up_total + on() vector(1)", 60_000)
    with pytest.raises(
        EvalError,
        match=r"found duplicate series for the match group \{\} on the "
        r"right hand-side of the operation: \[\{__name__=\"up_total\", job=\"a\"\}",
    ):
        api.instant("vector(1) + on() up_total", 60_000)
    res = api.instant("up_total + on() group_left vector(1)", 60_000)
    assert res.v.tolist() == [9.0, 5.0, 13.0]


def test_subquery_and_at_modifiers(store: MemStore) -> None:
    api = LocalQueryAPI(lambda: store)
    res = api.instant('max_over_time(up_total{job="a"}[2m:30s] @ 120)', 500_000)
    assert res.v.tolist() == [16.0]
    res = api.range('up_total{job="a"} @ end()', 0, 60_000, 30_000)
    assert next(res.series())[2].tolist() == [8.0, 8.0, 8.0]
