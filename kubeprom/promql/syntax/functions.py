"""Prometheus 3.x's PromQL functions as the parser knows them (``promql/parser/functions.go``).

Argument and return types are letters: ``V`` instant vector, ``M`` range vector, ``S``
scalar, ``s`` string. ``variadic`` is Prometheus' ``Variadic``: 0 for exactly the listed
arguments, N > 0 for up to N more of the last type (the last listed one is optional), -1 for
any number more. ``experimental`` functions need ``promql-experimental-functions`` in
Prometheus; kubeprom implements them and accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signature:
    args: str
    variadic: int
    returns: str
    experimental: bool = False


FUNCTIONS: dict[str, Signature] = {
    "abs": Signature("V", 0, "V"),
    "absent": Signature("V", 0, "V"),
    "absent_over_time": Signature("M", 0, "V"),
    "acos": Signature("V", 0, "V"),
    "acosh": Signature("V", 0, "V"),
    "asin": Signature("V", 0, "V"),
    "asinh": Signature("V", 0, "V"),
    "atan": Signature("V", 0, "V"),
    "atanh": Signature("V", 0, "V"),
    "avg_over_time": Signature("M", 0, "V"),
    "ceil": Signature("V", 0, "V"),
    "changes": Signature("M", 0, "V"),
    "clamp": Signature("VSS", 0, "V"),
    "clamp_max": Signature("VS", 0, "V"),
    "clamp_min": Signature("VS", 0, "V"),
    "cos": Signature("V", 0, "V"),
    "cosh": Signature("V", 0, "V"),
    "count_over_time": Signature("M", 0, "V"),
    "day_of_month": Signature("V", 1, "V"),
    "day_of_week": Signature("V", 1, "V"),
    "day_of_year": Signature("V", 1, "V"),
    "days_in_month": Signature("V", 1, "V"),
    "deg": Signature("V", 0, "V"),
    "delta": Signature("M", 0, "V"),
    "deriv": Signature("M", 0, "V"),
    "double_exponential_smoothing": Signature("MSS", 0, "V", experimental=True),
    "end": Signature("", 0, "S", experimental=True),
    "exp": Signature("V", 0, "V"),
    "first_over_time": Signature("M", 0, "V"),
    "floor": Signature("V", 0, "V"),
    "histogram_avg": Signature("V", 0, "V"),
    "histogram_count": Signature("V", 0, "V"),
    "histogram_fraction": Signature("SSV", 0, "V"),
    "histogram_quantile": Signature("SV", 0, "V"),
    "histogram_quantiles": Signature("VsSS", 9, "V", experimental=True),
    "histogram_stddev": Signature("V", 0, "V"),
    "histogram_stdvar": Signature("V", 0, "V"),
    "histogram_sum": Signature("V", 0, "V"),
    "hour": Signature("V", 1, "V"),
    "idelta": Signature("M", 0, "V"),
    "increase": Signature("M", 0, "V"),
    "info": Signature("VV", 1, "V", experimental=True),
    "irate": Signature("M", 0, "V"),
    "label_join": Signature("Vsss", -1, "V"),
    "label_replace": Signature("Vssss", 0, "V"),
    "last_over_time": Signature("M", 0, "V"),
    "ln": Signature("V", 0, "V"),
    "log10": Signature("V", 0, "V"),
    "log2": Signature("V", 0, "V"),
    "mad_over_time": Signature("M", 0, "V", experimental=True),
    "max_of": Signature("SS", 0, "S", experimental=True),
    "max_over_time": Signature("M", 0, "V"),
    "min_of": Signature("SS", 0, "S", experimental=True),
    "min_over_time": Signature("M", 0, "V"),
    "minute": Signature("V", 1, "V"),
    "month": Signature("V", 1, "V"),
    "pi": Signature("", 0, "S"),
    "predict_linear": Signature("MS", 0, "V"),
    "present_over_time": Signature("M", 0, "V"),
    "quantile_over_time": Signature("SM", 0, "V"),
    "rad": Signature("V", 0, "V"),
    "range": Signature("", 0, "S", experimental=True),
    "rate": Signature("M", 0, "V"),
    "resets": Signature("M", 0, "V"),
    "round": Signature("VS", 1, "V"),
    "scalar": Signature("V", 0, "S"),
    "sgn": Signature("V", 0, "V"),
    "sin": Signature("V", 0, "V"),
    "sinh": Signature("V", 0, "V"),
    "sort": Signature("V", 0, "V"),
    "sort_by_label": Signature("Vs", -1, "V", experimental=True),
    "sort_by_label_desc": Signature("Vs", -1, "V", experimental=True),
    "sort_desc": Signature("V", 0, "V"),
    "sqrt": Signature("V", 0, "V"),
    "start": Signature("", 0, "S", experimental=True),
    "start_timestamp": Signature("V", 0, "V", experimental=True),
    "stddev_over_time": Signature("M", 0, "V"),
    "stdvar_over_time": Signature("M", 0, "V"),
    "step": Signature("", 0, "S", experimental=True),
    "sum_over_time": Signature("M", 0, "V"),
    "tan": Signature("V", 0, "V"),
    "tanh": Signature("V", 0, "V"),
    "time": Signature("", 0, "S"),
    "timestamp": Signature("V", 0, "V"),
    "ts_of_first_over_time": Signature("M", 0, "V", experimental=True),
    "ts_of_last_over_time": Signature("M", 0, "V", experimental=True),
    "ts_of_max_over_time": Signature("M", 0, "V", experimental=True),
    "ts_of_min_over_time": Signature("M", 0, "V", experimental=True),
    "vector": Signature("S", 0, "V"),
    "year": Signature("V", 1, "V"),
}
