"""What a rule expression reads: ``required`` selectors (a backtest skips a rule when one of
them selects nothing, so an empty one must mean an empty result: checked against the
engine on generated expressions and stores) and ``reach_ms``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.errors import KubepromError
from kubeprom.model.labels import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.rules.exprinfo import reach_ms, reads, required
from kubeprom.tsdb.memstore import MemStore

SELECTORS = ["a", 'a{x="1"}', "b", 'b{x=~"1|2"}', "c", '{__name__=~"a|c"}']


def _expr() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(SELECTORS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(
                lambda f, e: f"{f}({e})",
                st.sampled_from(["abs", "ceil", "sgn", "timestamp", "absent", "hour"]),
                inner,
            ),
            st.builds(
                lambda f, e: f"{f}({e}[3m])",
                st.sampled_from(["rate", "max_over_time", "absent_over_time", "changes"]),
                st.sampled_from(SELECTORS),
            ),
            st.builds(
                lambda op, e: f"{op} by (x) ({e})",
                st.sampled_from(["sum", "max", "count", "group"]),
                inner,
            ),
            st.builds(lambda e: f"topk(1, {e})", inner),
            st.builds(
                lambda lhs, op, rhs: f"({lhs}) {op} ({rhs})",
                inner,
                st.sampled_from(["+", "*", ">", "and", "or", "unless", "> bool"]),
                inner,
            ),
            st.builds(
                lambda lhs, op: f"({lhs}) {op} 2", inner, st.sampled_from(["+", ">", "< bool"])
            ),
            st.builds(lambda e: f'label_replace({e}, "y", "$1", "x", "(.*)")', inner),
            st.builds(lambda e: f"({e})[4m:1m]", inner).map(lambda s: f"max_over_time({s})"),
            st.just("vector(1)"),
        )

    return st.recursive(leaf, extend, max_leaves=4)


@settings(max_examples=300, deadline=None)
@given(expr=_expr(), present=st.sets(st.sampled_from(["a", "b", "c"])), seed=st.integers(0, 99))
def test_an_empty_required_selector_means_an_empty_result(
    expr: str, present: set[str], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    store = MemStore()
    series = {}
    for name in sorted(present):
        for x in ("1", "2", "3"):
            t = np.arange(0, 20 * 60_000, 15_000, dtype=np.int64)
            series[Labels([("__name__", name), ("x", x)])] = (
                t,
                rng.integers(0, 5, len(t)).astype(float),
            )
    store.load(series)
    missing = [s for s in required(expr) if not store.has_series(s.matchers)]
    if not missing:
        return
    try:
        res = LocalQueryAPI(lambda: store).range(expr, 5 * 60_000, 19 * 60_000, 60_000)
    except KubepromError:  # many-to-many matching and the like: such a rule fails anyway
        return
    assert len(res) == 0, (expr, [str(m) for s in missing for m in s.matchers])


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("a", 300_000),
        ("rate(a[10m] offset 1m)", 660_000),
        ("max_over_time((a offset 2m)[1h:1m])", 3_600_000 + 420_000),
        ("a + on() group_left b offset 1h", 3_900_000),
        ("a @ 100", None),
        ("a offset -1m", None),
        ("vector(1)", 0),
    ],
)
def test_reach(expr: str, want: int | None) -> None:
    assert reach_ms(expr, 300_000) == want


def test_selectors_in_absent_are_marked() -> None:
    info = reads('absent(up{job="a"}) or rate(x[5m])')
    assert [(s.metric_name, s.in_absent) for s in info.selectors] == [("up", True), ("x", False)]
    assert [s.metric_name for s in required('absent(up{job="a"}) or rate(x[5m])')] == []
    assert [s.metric_name for s in required("sum(rate(x[5m])) / sum(y)")] == ["x", "y"]
