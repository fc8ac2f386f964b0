"""Evals from Prometheus' own ``functions.test``, computed with the range functions alone.

Each case names the ``eval`` line it reproduces (checked to exist in the corpus), loads the
same series the way promqltest does and compares with upstream's tolerance
(``almost.Equal(expected, actual, 1e-6)``: exact where 0 is expected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS
from kubeprom.promql.types import Annotations
from tests.promql.functions.helpers import load, make_windows
from tests.support.shared import shared_path

N = None  # no sample expected


def ms(text: str) -> int:
    return parse_duration_ms(text)


@dataclass(frozen=True)
class Case:
    eval_line: str  # the line in functions.test
    interval: str  # load interval
    series: list[str]  # one load line's values per series
    fn: str
    range_: str
    expected: list[list[float | None]]  # [series][step]
    at: list[int] | str = "0s"  # eval time, or range steps (ms)
    end_shift_ms: int = 0  # window end = eval time - offset (negative for offset)
    end_fixed: str | None = None  # window end fixed by "@"
    args: list[float] = field(default_factory=list)
    eval_ms_arg: bool = False  # pass the query time to predict_linear

    def steps(self) -> list[int]:
        return self.at if isinstance(self.at, list) else [ms(self.at)]


CASES = {
    "increase-50m": Case(
        "eval instant at 50m increase(http_requests_total[50m])",
        "5m",
        ["0+10x10", "0+18x5 0+18x5", "10+10x10", "1+10x10"],
        "increase",
        "50m",
        [[100], [160], [100], [100]],
        at="50m",
    ),
    "increase-100m-zero-point": Case(
        "eval instant at 50m increase(http_requests_total[100m])",
        "5m",
        ["0+10x10", "0+18x5 0+18x5", "10+10x10", "1+10x10"],
        "increase",
        "100m",
        [[100], [162], [105], [101]],
        at="50m",
    ),
    "increase-reset": Case(
        "eval instant at 30m increase(http_requests_total[30m])",
        "5m",
        ["0 1 2 3 2 3 4"],
        "increase",
        "30m",
        [[7]],
        at="30m",
    ),
    "rate-reset-middle": Case(
        "eval instant at 50m rate(testcounter_reset_middle_total[50m])",
        "5m",
        ["0+27x4 0+27x5"],
        "rate",
        "50m",
        [[0.08]],
        at="50m",
    ),
    "rate-reset-end-5m": Case(
        "eval instant at 50m rate(testcounter_reset_end_total[5m])",
        "5m",
        ["0+10x9 0 10"],
        "rate",
        "5m",
        [[N]],
        at="50m",
    ),
    "rate-reset-end-6m": Case(
        "eval instant at 50m rate(testcounter_reset_end_total[6m])",
        "5m",
        ["0+10x9 0 10"],
        "rate",
        "6m",
        [[0]],
        at="50m",
    ),
    "rate-window": Case(
        "eval instant at 50m rate(calculate_rate_window_total[50m])",
        "5m",
        ["0+80x10"],
        "rate",
        "50m",
        [[0.26666666666666666]],
        at="50m",
    ),
    "rate-offset": Case(
        "eval instant at 50m rate(calculate_rate_offset_total[10m] offset 5m)",
        "5m",
        ["0+10x10", "0+20x10"],
        "rate",
        "10m",
        [[0.03333333333333333], [0.06666666666666667]],
        at="50m",
        end_shift_ms=-ms("5m"),
    ),
    "rate-zero-cutoff": Case(
        "eval instant at 10m rate(testcounter_zero_cutoff_total[20m])",
        "4m",
        [f"{s}+240x10" for s in (0, 60, 120, 180, 240, 300)],
        "rate",
        "20m",
        [[0.5], [0.55], [0.6], [0.6], [0.6], [0.6]],
        at="10m",
    ),
    "rate-half-interval-cutoff": Case(
        "eval instant at 50m rate(testcounter_zero_cutoff_total[20m])",
        "4m",
        [f"{s}+240x10" for s in (0, 60, 120, 180, 240, 300)],
        "rate",
        "20m",
        [[0.6]] * 6,
        at="50m",
    ),
    "irate": Case(
        "eval instant at 30m irate(http_requests_total[50m])",
        "5m",
        ["0+10x10", "0+10x5 0+10x5"],
        "irate",
        "50m",
        [[0.03333333333333333], [0]],
        at="30m",
    ),
    "irate-nan-range": Case(
        "eval range from 0 to 20m step 5m irate(http_requests_nan[15m1s])",
        "5m",
        ["1 NaN NaN 5 11"],
        "irate",
        "15m1s",
        [[N, math.nan, math.nan, math.nan, 0.02]],
        at=[0, ms("5m"), ms("10m"), ms("15m"), ms("20m")],
    ),
    "delta": Case(
        "eval instant at 20m delta(http_requests[20m])",
        "5m",
        ["0 50 100 150 200", "200 150 100 50 0"],
        "delta",
        "20m",
        [[200], [-200]],
        at="20m",
    ),
    "idelta": Case(
        "eval instant at 20m idelta(http_requests[20m])",
        "5m",
        ["0 50 100 150", "0 50 100 50"],
        "idelta",
        "20m",
        [[50], [-50]],
        at="20m",
    ),
    "idelta-nan-range": Case(
        "eval range from 0 to 20m step 5m idelta(http_requests_nan[15m1s])",
        "5m",
        ["1 NaN NaN 5 11"],
        "idelta",
        "15m1s",
        [[N, math.nan, math.nan, math.nan, 6]],
        at=[0, ms("5m"), ms("10m"), ms("15m"), ms("20m")],
    ),
    "deriv-like-rate": Case(
        'eval instant at 50m deriv(http_requests_total{group="canary", instance="1", '
        'job="app-server"}[50m])',
        "5m",
        ["0+80x10"],
        "deriv",
        "50m",
        [[0.26666666666666666]],
        at="50m",
    ),
    "deriv-reset": Case(
        "eval instant at 50m deriv(testcounter_reset_middle_total[100m])",
        "5m",
        ["0+10x4 0+10x5"],
        "deriv",
        "100m",
        [[0.010606060606060607]],
        at="50m",
    ),
    "deriv-inf": Case(
        "eval instant at 100m deriv(http_requests_inf[100m])",
        "5m",
        ["-Inf 0+80x10 Inf"],
        "deriv",
        "100m",
        [[math.nan]],
        at="100m",
    ),
    "predict-linear": Case(
        "eval instant at 50m predict_linear(testcounter_reset_middle_total[50m], 3600)",
        "5m",
        ["0+10x4 0+10x5"],
        "predict_linear",
        "50m",
        [[70]],
        at="50m",
        args=[3600],
    ),
    "predict-linear-at-later": Case(
        "eval instant at 70m predict_linear(testcounter_reset_middle_total[55m] @ 3000, 3600)",
        "5m",
        ["0+10x4 0+10x5"],
        "predict_linear",
        "55m",
        [[89.54545454545455]],
        at="70m",
        end_fixed="50m",
        args=[3600],
        eval_ms_arg=True,
    ),
    "predict-linear-at-earlier": Case(
        "eval instant at 10m predict_linear(testcounter_reset_middle_total[55m] @ 3000, 3600)",
        "5m",
        ["0+10x4 0+10x5"],
        "predict_linear",
        "55m",
        [[51.36363636363637]],
        at="10m",
        end_fixed="50m",
        args=[3600],
        eval_ms_arg=True,
    ),
    "predict-linear-inf": Case(
        "eval instant at 100m predict_linear(http_requests_inf[100m], 6000)",
        "5m",
        ["-Inf 0+80x10 Inf"],
        "predict_linear",
        "100m",
        [[math.nan]],
        at="100m",
        args=[6000],
    ),
    "double-exponential-smoothing": Case(
        "eval instant at 8000s double_exponential_smoothing(http_requests[1m], 0.01, 0.1)",
        "10s",
        ["0+10x1000 100+30x1000", "0+20x1000 200+30x1000", "0+30x1000 300+80x1000", "0+40x2000"],
        "double_exponential_smoothing",
        "1m",
        [[8000], [16000], [24000], [32000]],
        at="8000s",
        args=[0.01, 0.1],
    ),
    "double-exponential-smoothing-negative": Case(
        "eval instant at 8000s double_exponential_smoothing(http_requests[1m], 0.01, 0.1)",
        "10s",
        ["8000-10x1000", "0-20x1000", "0+30x1000 300-80x1000", "0-40x1000 0+40x1000"],
        "double_exponential_smoothing",
        "1m",
        [[0], [-16000], [24000], [-32000]],
        at="8000s",
        args=[0.01, 0.1],
    ),
    "avg-one-sample": Case(
        "eval instant at 55s avg_over_time(metric[20s])",
        "10s",
        ["1 2 3 4 5"],
        "avg_over_time",
        "20s",
        [[5]],
        at="55s",
    ),
    "avg-infinities": Case(
        "eval instant at 55s avg_over_time(metric5c[1m])",
        "10s",
        [
            "1 2 3 4 Inf",
            "1 2 3 4 -Inf",
            "1 2 3 Inf -Inf",
            "Inf 0 Inf",
            "Inf Inf Inf -Inf",
            "1 2 3 -Inf -Inf",
            "-Inf 0 -Inf",
            "-Inf -Inf -Inf Inf",
            "1 2 -Inf -Inf Inf",
        ],
        "avg_over_time",
        "1m",
        [
            [math.inf],
            [-math.inf],
            [math.nan],
            [math.inf],
            [math.nan],
            [-math.inf],
            [-math.inf],
            [math.nan],
            [math.nan],
        ],
        at="55s",
    ),
    "avg-overflow": Case(
        "eval instant at 55s avg_over_time(metric10[1m])",
        "10s",
        [
            "9.988465674311579e+307 9.988465674311579e+307",
            "-9.988465674311579e+307 -9.988465674311579e+307 -9.988465674311579e+307",
            "-9.988465674311579e+307 9.988465674311579e+307",
        ],
        "avg_over_time",
        "1m",
        [[9.988465674311579e307], [-9.988465674311579e307], [0]],
        at="55s",
    ),
    "sum-overflow": Case(
        "eval instant at 55s sum_over_time(metric8[1m])/count_over_time(metric8[1m])",
        "10s",
        ["9.988465674311579e+307 9.988465674311579e+307"],
        "sum_over_time",
        "1m",
        [[math.inf]],
        at="55s",
    ),
    "avg-nan": Case(
        "eval instant at 30s avg_over_time(metric11[1m])",
        "10s",
        ["1 2 3 NaN NaN"],
        "avg_over_time",
        "1m",
        [[math.nan]],
        at="30s",
    ),
    "sum-big-intermediate": Case(
        "eval instant at 1m sum_over_time(metric[2m])",
        "10s",
        ["1 1e100 1 -1e100"],
        "sum_over_time",
        "2m",
        [[2]],
        at="1m",
    ),
    "avg-big-intermediate": Case(
        "eval instant at 1m avg_over_time(metric[2m])",
        "10s",
        ["1 1e100 1 -1e100"],
        "avg_over_time",
        "2m",
        [[0.5]],
        at="1m",
    ),
    "avg-magnitudes": Case(
        "eval instant at 55s avg_over_time(metric10[1m])",
        "5s",
        [
            "1e10 1e-6 1e-6 1e-6 1e-6 1e-6",
            "5.30921651659898 0.961118537914768 1.62091361305318 0.865089463758091 "
            "0.323055185914577 0.951811357687154",
            "1.78264e50 0.76342771 1.9592258 7.69805412 458.90154",
            "1.78264E+50 0.76342771 1.9592258 2.258E+220 7.69805412 458.90154",
            "-1.78264E+215 0.76342771 1.9592258 2.258E+220 7.69805412 1.78264E+215 -458.90154",
            "-1.78264E+219 0.76342771 1.9592258 2.3757689E+217 -2.3757689E+217 2.258E+220 "
            "7.69805412 1.78264E+219 -458.90154",
        ],
        "avg_over_time",
        "1m",
        [
            [1.6666666666666675e09],
            [1.67186744582113],
            [3.56528e49],
            [3.76333333333333e219],
            [3.225714285714286e219],
            [2.5088888888888888e219],
        ],
        at="55s",
    ),
    "avg-kahan-cancels-to-zero": Case(
        "eval instant at 55s avg_over_time(metric11[1m])",
        "5s",
        [
            "-2.258E+220 -1.78264E+219 0.76342771 1.9592258 2.3757689E+217 -2.3757689E+217 "
            "2.258E+220 7.69805412 1.78264E+219 -458.90154"
        ],
        "avg_over_time",
        "1m",
        [[0]],
        at="55s",
    ),
    "avg-exact-52": Case(
        "eval instant at 10m avg_over_time(foo[130s]) == 52",
        "10s",
        ["52+0x100"],
        "avg_over_time",
        "130s",
        [[52]],
        at="10m",
    ),
    "sum-dense": Case(
        "eval instant at 4s sum_over_time(metric[3003ms])",
        "1ms",
        ["1+0x4000"],
        "sum_over_time",
        "3003ms",
        [[3003]],
        at="4s",
    ),
    "stdvar": Case(
        "eval instant at 1m stdvar_over_time(metric[2m])",
        "10s",
        ["0 8 8 2 3"],
        "stdvar_over_time",
        "2m",
        [[10.56]],
        at="1m",
    ),
    "stddev": Case(
        "eval instant at 1m stddev_over_time(metric[2m])",
        "10s",
        ["0 8 8 2 3"],
        "stddev_over_time",
        "2m",
        [[3.249615]],
        at="1m",
    ),
    "stddev-constant-is-exactly-zero": Case(
        "eval instant at 55s stddev_over_time(metric[1m])",
        "10s",
        ["1.5990505637277868 1.5990505637277868 1.5990505637277868"],
        "stddev_over_time",
        "1m",
        [[0]],
        at="55s",
    ),
    "mad": Case(
        "eval instant at 70s mad_over_time(metric[70s])",
        "10s",
        ["4 6 2 1 999 1 2"],
        "mad_over_time",
        "70s",
        [[1]],
        at="70s",
    ),
    "mad-nan": Case(
        "eval instant at 30s mad_over_time(metric_nan[40s])",
        "10s",
        ["1 2 NaN 4"],
        "mad_over_time",
        "40s",
        [[math.nan]],
        at="30s",
    ),
    "ts-of-min": Case(
        "eval instant at 90s ts_of_min_over_time(metric[90s])",
        "10s53ms",
        ["1 2 3 0 5 6 2 1 4"],
        "ts_of_min_over_time",
        "90s",
        [[30.159]],
        at="90s",
    ),
    "ts-of-max": Case(
        "eval instant at 90s ts_of_max_over_time(metric[90s])",
        "10s53ms",
        ["1 2 3 0 5 6 2 1 4"],
        "ts_of_max_over_time",
        "90s",
        [[50.265]],
        at="90s",
    ),
    "ts-of-last": Case(
        "eval instant at 95s ts_of_last_over_time(metric[90s])",
        "10s53ms",
        ["1 2 3 _ _"],
        "ts_of_last_over_time",
        "90s",
        [[20.106]],
        at="95s",
    ),
    "ts-of-first": Case(
        "eval instant at 90s ts_of_first_over_time(metric[90s])",
        "10s53ms",
        ["_ _ 1 2 3 _ _"],
        "ts_of_first_over_time",
        "90s",
        [[20.106]],
        at="90s",
    ),
    "quantile-0.75": Case(
        "eval instant at 1m quantile_over_time(0.75, data[2m])",
        "10s",
        ["0 1", "0 1 2", "0 1 4"],
        "quantile_over_time",
        "2m",
        [[0.75], [1.5], [2.5]],
        at="1m",
        args=[0.75],
    ),
    "quantile-above-one": Case(
        "eval instant at 1m quantile_over_time(2, data[2m])",
        "10s",
        ["0 1", "0 1 2", "0 1 4"],
        "quantile_over_time",
        "2m",
        [[math.inf], [math.inf], [math.inf]],
        at="1m",
        args=[2],
    ),
    "min-nan-rules": Case(
        "eval instant at 1m min_over_time(data[2m])",
        "10s",
        ["2 0 3", "2 0 NaN", "2 NaN 1", "NaN 0 1", "NaN NaN NaN"],
        "min_over_time",
        "2m",
        [[0], [0], [1], [0], [math.nan]],
        at="1m",
    ),
    "max-nan-rules": Case(
        "eval instant at 1m max_over_time(data[2m])",
        "10s",
        ["2 0 3", "2 0 NaN", "2 NaN 1", "NaN 0 1", "NaN NaN NaN"],
        "max_over_time",
        "2m",
        [[3], [2], [2], [1], [math.nan]],
        at="1m",
    ),
    "first-over-time": Case(
        'eval instant at 1m first_over_time({__name__=~"data(_histogram|_sparse|_empty)?"}[2m])',
        "10s",
        ["2 0 3", "NaN 0 1", "_ 5 2 _ 4 _", "_ _ _ _ _ _"],
        "first_over_time",
        "2m",
        [[2], [math.nan], [5], [N]],
        at="1m",
    ),
    "resets": Case(
        "eval instant at 50m resets(http_requests[32m])",
        "5m",
        ["1 2 3 0 1 0 0 1 2 0", "1 2 3 4 5 1 2 3 4 5", "0 0 0 0 0 1 1 1 1 1"],
        "resets",
        "32m",
        [[2], [1], [0]],
        at="50m",
    ),
    "changes": Case(
        "eval instant at 50m changes(http_requests[50m])",
        "5m",
        ["1 2 3 0 1 0 0 1 2 0", "1 2 3 4 5 1 2 3 4 5", "0 0 0 0 0 1 1 1 1 1"],
        "changes",
        "50m",
        [[7], [8], [1]],
        at="50m",
    ),
    "changes-nan": Case(
        "eval instant at 15m changes(x[20m])",
        "5m",
        ["NaN NaN NaN", "0 NaN 0"],
        "changes",
        "20m",
        [[0], [2]],
        at="15m",
    ),
    "present-over-time": Case(
        "eval instant at 0m present_over_time(httpd_log_lines_total[30s])",
        "1m",
        ["1"],
        "present_over_time",
        "30s",
        [[1]],
        at="0m",
    ),
}


def almost_equal(want: float, got: float) -> bool:
    """promqltest's comparison: almost.Equal(want, got, 1e-6)."""
    if math.isnan(want) and math.isnan(got):
        return True
    if want == got:
        return True
    abs_sum, diff = abs(want) + abs(got), abs(want - got)
    min_normal = 2.2250738585072014e-308
    if want == 0 or got == 0 or abs_sum < min_normal:
        return diff < 1e-6 * min_normal
    return diff / min(abs_sum, 1.7976931348623157e308) < 1e-6


def test_every_case_is_an_eval_of_functions_test() -> None:
    functions_test = shared_path("conformance", "promql", "testdata", "functions.test")
    lines = set(functions_test.read_text(encoding="utf-8").splitlines())
    assert [name for name, case in CASES.items() if case.eval_line not in lines] == []


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_functions_test_eval(case: Case) -> None:
    series = [load(case.interval, text) for text in case.series]
    steps = case.steps()
    ends = [ms(case.end_fixed) if case.end_fixed else t + case.end_shift_ms for t in steps]
    w = make_windows(series, ends, ms(case.range_))
    args = [np.full(len(steps), a, dtype=np.float64) for a in case.args]
    if case.eval_ms_arg:
        args.append(np.array(steps, dtype=np.float64))
    values, present = RANGE_FUNCTIONS[case.fn](w, args, Annotations.new())
    got = [
        [float(values[i, j]) if present[i, j] else None for j in range(len(steps))]
        for i in range(len(series))
    ]
    assert [[x is None for x in row] for row in got] == [
        [x is None for x in row] for row in case.expected
    ]
    for got_row, want_row in zip(got, case.expected, strict=True):
        for g, want in zip(got_row, want_row, strict=True):
            if want is not None and g is not None:
                assert almost_equal(want, g), f"{g!r} != {want!r}"
