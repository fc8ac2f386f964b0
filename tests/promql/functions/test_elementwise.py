"""Instant-vector functions: upstream's test values, Go's special cases, the calendar."""

from __future__ import annotations

import calendar
import datetime as dt
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.promql.functions.civil import go_int64_seconds
from kubeprom.promql.functions.elementwise import (
    ELEMENTWISE_EMPTY_STEPS,
    ELEMENTWISE_FUNCTIONS,
    go_max,
    go_min,
)

NAN, INF = math.nan, math.inf


def apply(name: str, values: list[float], *args: float) -> list[float]:
    arr = np.array([values], dtype=np.float64).T  # (series, 1 step)
    out = ELEMENTWISE_FUNCTIONS[name](arr, [np.array([a]) for a in args])
    assert out.shape == arr.shape
    return [float(x) for x in out[:, 0]]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_same(got: list[float], want: list[float], rel: float = 0.0) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if math.isnan(w):
            assert math.isnan(g), (got, want)
        elif rel == 0.0 or w == 0 or math.isinf(w):
            assert bits(g) == bits(w), (got, want)
        else:
            assert math.isclose(g, w, rel_tol=rel), (got, want)


# From functions.test and trig_functions.test (inputs already offset as in the eval line).
UPSTREAM: dict[str, tuple[list[float], list[float]]] = {
    "exp": ([10, 20, 0, -10], [22026.465794806718, 485165195.4097903, 1, 4.5399929762484854e-05]),
    "ln": ([10, 20, 0, -10], [2.302585092994046, 2.995732273553991, -INF, NAN]),
    "sqrt": ([10, 20], [3.1622776601683795, 4.47213595499958]),
    "log2": ([10, 20, 0, -10], [3.3219280948873626, 4.321928094887363, -INF, NAN]),
    "log10": ([10, 20, 0, -10], [1, 1.301029995663981, -INF, NAN]),
    "sin": ([10, 20, NAN], [-0.5440211108893699, 0.9129452507276277, NAN]),
    "cos": ([10, 20, NAN], [-0.8390715290764524, 0.40808206181339196, NAN]),
    "tan": ([10, 20, NAN], [0.6483608274590867, 2.2371609442247427, NAN]),
    "asin": ([10 - 10.1, 20 - 10.1, NAN], [-0.10016742116155944, NAN, NAN]),
    "acos": ([10 - 10.1, 20 - 10.1, NAN], [1.670963747956456, NAN, NAN]),
    "atan": ([10, 20, NAN], [1.4711276743037345, 1.5208379310729538, NAN]),
    "sinh": ([10, 20, NAN], [11013.232920103324, 2.4258259770489514e08, NAN]),
    "cosh": ([10, 20, NAN], [11013.232920103324, 2.4258259770489514e08, NAN]),
    "tanh": ([10, 20, NAN], [0.9999999958776927, 1, NAN]),
    "asinh": ([10, 20, NAN], [2.99822295029797, 3.6895038689889055, NAN]),
    "acosh": ([10, 20, NAN], [2.993222846126381, 3.6882538673612966, NAN]),
    "atanh": ([10 - 10.1, 20 - 10.1, NAN], [-0.10033534773107522, NAN, NAN]),
    "rad": ([10, 0, -10, NAN], [0.17453292519943295, 0, -0.17453292519943295, NAN]),
    "deg": ([10, 0, -10, NAN], [572.9577951308232, 0, -572.9577951308232, NAN]),
    "abs": ([2.5, -2.5, -0.0, -INF, NAN], [2.5, 2.5, 0, INF, NAN]),
    "ceil": ([2.5, -2.5, -2, INF, NAN], [3, -2, -2, INF, NAN]),
    "floor": ([2.5, -2.5, -2, -INF, NAN], [2, -3, -2, -INF, NAN]),
    "round": ([2.5, 2, -2.5, -2, 0, INF, -INF, NAN], [3, 2, -2, -2, 0, INF, -INF, NAN]),
    "sgn": ([-INF, INF, NAN, -50, 0, 100, -0.0], [-1, 1, NAN, -1, 0, 1, -0.0]),
}


@pytest.mark.parametrize("name", UPSTREAM, ids=UPSTREAM)
def test_upstream_values(name: str) -> None:
    values, want = UPSTREAM[name]
    # Upstream's own tolerance: the files are not exact (sinh(10) is listed as cosh(10)),
    # and numpy's libm may differ from Go's implementations in the last bit.
    assert_same(apply(name, [float(v) for v in values]), [float(w) for w in want], rel=1e-6)


def test_every_function_is_tested() -> None:
    tested = set(UPSTREAM) | {"clamp", "clamp_min", "clamp_max"} | set(DATE_FIELDS)
    assert tested == set(ELEMENTWISE_FUNCTIONS)
    assert list(ELEMENTWISE_FUNCTIONS) == sorted(ELEMENTWISE_FUNCTIONS)


# ---- round, clamp: Go's special cases ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "to_nearest", "want"),
    [(7.5, 5, 10), (7.4, 5, 5), (0.15, 0.1, 0.2), (-7.5, 5, -5), (1.005, 0.01, 1.0), (3, 0, NAN)],
    ids=["tie-up", "down", "fraction", "negative-tie", "cent-float-error", "zero-nearest"],
)
def test_round_to_nearest(value: float, to_nearest: float, want: float) -> None:
    inverse = 1.0 / to_nearest if to_nearest else INF
    expected = math.floor(value * inverse + 0.5) / inverse if to_nearest else NAN
    assert_same(apply("round", [value], to_nearest), [expected])
    assert_same(apply("round", [value], to_nearest), [want], rel=1e-12)


@pytest.mark.parametrize(
    ("name", "args", "want"),
    [
        ("clamp_max", (75,), [-50, 0, 75]),
        ("clamp_min", (-25,), [-25, 0, 100]),
        ("clamp", (-25, 75), [-25, 0, 75]),
        ("clamp", (0, NAN), [NAN, NAN, NAN]),
        ("clamp", (NAN, 0), [NAN, NAN, NAN]),
    ],
    ids=["max", "min", "both", "nan-max", "nan-min"],
)
def test_clamp_upstream(name: str, args: tuple[float, ...], want: list[float]) -> None:
    assert_same(apply(name, [-50, 0, 100], *args), [float(w) for w in want])


def test_clamp_infinity_beats_nan() -> None:
    """math.Min(x, -Inf) is -Inf even for NaN x; math.Max(+Inf, NaN) is +Inf."""
    assert_same(apply("clamp_max", [NAN, -INF], 5), [NAN, -INF])
    assert_same(apply("clamp_min", [NAN, INF], 5), [NAN, INF])
    assert_same(apply("clamp", [1.0], INF, NAN), [INF])


def test_clamp_signed_zeros() -> None:
    assert_same(apply("clamp_min", [-0.0], 0.0), [0.0])
    assert_same(apply("clamp_max", [0.0], -0.0), [-0.0])
    assert_same(apply("clamp", [-0.0], -0.0, -0.0), [-0.0])


def test_clamp_with_min_above_max_is_empty() -> None:
    values = np.array([[1.0, 1.0, 1.0]])
    args = [np.array([5.0, 0.0, NAN]), np.array([-5.0, 0.0, 1.0])]
    assert ELEMENTWISE_EMPTY_STEPS["clamp"](args).tolist() == [True, False, False]
    out = ELEMENTWISE_FUNCTIONS["clamp"](values, args)
    assert math.isnan(out[0, 0])
    assert out[0, 1] == 0.0
    assert math.isnan(out[0, 2])


@given(st.floats(), st.floats())
def test_go_max_min_match_go_rules(a: float, b: float) -> None:
    def go_max_ref(x: float, y: float) -> float:
        if (math.isinf(x) and x > 0) or (math.isinf(y) and y > 0):
            return INF
        if math.isnan(x) or math.isnan(y):
            return NAN
        if x == 0 and x == y:
            return y if math.copysign(1, x) < 0 else x
        return x if x > y else y

    def go_min_ref(x: float, y: float) -> float:
        if (math.isinf(x) and x < 0) or (math.isinf(y) and y < 0):
            return -INF
        if math.isnan(x) or math.isnan(y):
            return NAN
        if x == 0 and x == y:
            return x if math.copysign(1, x) < 0 else y
        return x if x < y else y

    arr_a, arr_b = np.array([a]), np.array([b])
    assert_same([float(go_max(arr_a, arr_b)[0])], [go_max_ref(a, b)])
    assert_same([float(go_min(arr_a, arr_b)[0])], [go_min_ref(a, b)])


# ---- dates -----------------------------------------------------------------------------------

DATE_FIELDS = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day_of_month": lambda d: d.day,
    "day_of_week": lambda d: d.isoweekday() % 7,
    "day_of_year": lambda d: d.timetuple().tm_yday,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "days_in_month": lambda d: calendar.monthrange(d.year, d.month)[1],
}


@pytest.mark.parametrize(
    ("name", "value", "want"),
    [
        ("year", 1136239445, 2006),
        ("month", 1136239445, 1),
        ("day_of_month", 1136239445, 2),
        ("day_of_year", 1136239445, 2),
        ("day_of_week", 1136239445, 1),
        ("hour", 1136239445, 22),
        ("minute", 1136239445, 4),
        ("year", 1230767999, 2008),
        ("year", 1230768000, 2009),
        ("month", 1456790399, 2),
        ("day_of_month", 1456790399, 29),
        ("day_of_month", 1456790400, 1),
        ("day_of_year", 1483191420, 366),
        ("day_of_year", 1672493820, 365),
        ("days_in_month", 1454284800, 29),
        ("days_in_month", 1485907200, 28),
        ("day_of_week", 0, 4),
        ("hour", -1, 23),
        ("year", -0.5, 1970),  # int64() truncates toward zero
    ],
)
def test_upstream_dates(name: str, value: float, want: int) -> None:
    assert apply(name, [float(value)]) == [float(want)]


@settings(max_examples=300)
@given(st.integers(-62_135_596_800, 253_402_300_799))  # years 1..9999, as datetime allows
def test_dates_match_the_proleptic_calendar(seconds: int) -> None:
    d = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    for name, field in DATE_FIELDS.items():
        assert apply(name, [float(seconds)]) == [float(field(d))], name


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (NAN, -(2**63)),
        (INF, -(2**63)),
        (-INF, -(2**63)),
        (1e19, -(2**63)),
        (-1e19, -(2**63)),
        (-(2.0**63), -(2**63)),
        (1.9, 1),
        (-1.9, -1),
        (9.2e18, 9_200_000_000_000_000_000),
    ],
    ids=["nan", "inf", "-inf", "big", "-big", "min", "trunc", "-trunc", "near-max"],
)
def test_go_int64_conversion(value: float, want: int) -> None:
    assert int(go_int64_seconds(np.array([value]))[0]) == want


def test_nan_date_is_gos_minint64_instant() -> None:
    """Go turns NaN into math.MinInt64 seconds: 292277026596 years before 1970."""
    days = (-(2**63)) // 86_400
    # Hinnant's civil_from_days on the same day number, done with Python ints.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    mp = (5 * (doe - (365 * yoe + yoe // 4 - yoe // 100)) + 2) // 153
    year = yoe + era * 400 + (1 if mp >= 10 else 0)
    assert apply("year", [NAN]) == [float(year)]
    assert year < -292_000_000_000
