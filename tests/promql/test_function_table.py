"""Every function the parser accepts has an implementation (Prometheus' TestFunctionList)."""

from __future__ import annotations

import numpy as np
import promql_parser
import pytest

from kubeprom.model import Labels
from kubeprom.promql import LocalQueryAPI
from kubeprom.tsdb.memstore import MemStore

# Prometheus 3.x's function list (parser/functions.go), by argument shape.
RANGE_ARG = [
    "absent_over_time", "avg_over_time", "changes", "count_over_time", "delta", "deriv",
    "first_over_time", "idelta", "increase", "irate", "last_over_time", "mad_over_time",
    "max_over_time", "min_over_time", "present_over_time", "rate", "resets",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "ts_of_first_over_time",
    "ts_of_last_over_time", "ts_of_max_over_time", "ts_of_min_over_time",
]  # fmt: skip
VECTOR_ARG = [
    "abs", "absent", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg", "exp", "floor",
    "histogram_avg", "histogram_count", "histogram_stddev", "histogram_stdvar", "histogram_sum",
    "hour", "info", "ln", "log10", "log2", "minute", "month", "rad", "round", "scalar", "sgn",
    "sin", "sinh", "sort", "sort_desc", "sqrt", "start_timestamp", "tan", "tanh", "timestamp",
    "year",
]  # fmt: skip
OTHER = {
    "clamp": "clamp(m, 0, 1)",
    "clamp_max": "clamp_max(m, 1)",
    "clamp_min": "clamp_min(m, 1)",
    "double_exponential_smoothing": "double_exponential_smoothing(m[5m], 0.5, 0.5)",
    "end": "end()",
    "histogram_fraction": "histogram_fraction(0, 1, m)",
    "histogram_quantile": "histogram_quantile(0.5, m)",
    "histogram_quantiles": 'histogram_quantiles(m, "q", 0.5)',
    "label_join": 'label_join(m, "a", ",", "b")',
    "label_replace": 'label_replace(m, "a", "$1", "b", "(.*)")',
    "max_of": "max_of(1, 2)",
    "min_of": "min_of(1, 2)",
    "pi": "pi()",
    "predict_linear": "predict_linear(m[5m], 60)",
    "quantile_over_time": "quantile_over_time(0.5, m[5m])",
    "range": "range()",
    "sort_by_label": 'sort_by_label(m, "a")',
    "sort_by_label_desc": 'sort_by_label_desc(m, "a")',
    "start": "start()",
    "step": "step()",
    "time": "time()",
    "vector": "vector(1)",
}
CALLS = {f: f"{f}(m[5m])" for f in RANGE_ARG} | {f: f"{f}(m)" for f in VECTOR_ARG} | OTHER


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_function_evaluates(name: str) -> None:
    call = CALLS[name]
    promql_parser.parse(call)
    q = MemStore()
    q.add(Labels([("__name__", "m"), ("b", "x")]), np.array([0, 60_000]), np.array([1.0, 2.0]))
    LocalQueryAPI(lambda: q).instant(call, 60_000)


def test_removed_functions_are_unknown() -> None:
    with pytest.raises(ValueError, match="unknown function"):
        promql_parser.parse("holt_winters(m[5m], 0.5, 0.5)")
