"""The vectorised range functions against the naive Go transcriptions in ``reference``."""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.errors import EvalError
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS, go_duration_seconds
from kubeprom.promql.types import Annotations, RangeWindows
from tests.promql.functions import reference as ref
from tests.promql.functions.helpers import Samples, make_windows

RefFn = Callable[[Sequence[tuple[int, float]], int, RangeWindows], float | None]


def same(a: float, b: float) -> bool:
    """Bit-identical, except that any NaN equals any NaN."""
    if math.isnan(a) and math.isnan(b):
        return True
    return struct.pack("<d", a) == struct.pack("<d", b)


def windows_of(series: Sequence[Samples], w: RangeWindows, j: int) -> list[list[tuple[int, float]]]:
    end = int(w.step_times[j])
    return [[(t, v) for t, v in s if end - w.range_ms < t <= end] for s in series]


def check(
    name: str,
    series: Sequence[Samples],
    steps: Sequence[int],
    range_ms: int,
    args: Sequence[float],
    expected: RefFn,
) -> None:
    w = make_windows(series, steps, range_ms)
    arrays = [np.full(len(steps), a) for a in args]
    values, present = RANGE_FUNCTIONS[name](w, arrays, Annotations.new())
    assert values.shape == present.shape == (len(series), len(steps))
    for j in range(len(steps)):
        for i, window in enumerate(windows_of(series, w, j)):
            want = expected(window, j, w)
            got = float(values[i, j]) if present[i, j] else None
            assert (got is None) == (want is None), f"{name} series {i} step {j}: {got} != {want}"
            if got is not None and want is not None:
                assert same(got, want), f"{name} series {i} step {j}: {got!r} != {want!r}"


def bounds(w: RangeWindows, j: int) -> tuple[int, int]:
    end = int(w.step_times[j])
    return end - w.range_ms, end


# Each entry: name -> (scalar args, reference of one window).
CASES: dict[str, tuple[list[float], RefFn]] = {
    "rate": ([], lambda s, j, w: ref.extrapolated_rate(s, *bounds(w, j), w.range_ms, True, True)),
    "increase": (
        [],
        lambda s, j, w: ref.extrapolated_rate(s, *bounds(w, j), w.range_ms, True, False),
    ),
    "delta": (
        [],
        lambda s, j, w: ref.extrapolated_rate(s, *bounds(w, j), w.range_ms, False, False),
    ),
    "irate": ([], lambda s, j, w: ref.instant_value(s, True)),
    "idelta": ([], lambda s, j, w: ref.instant_value(s, False)),
    "resets": ([], lambda s, j, w: ref.resets(s)),
    "changes": ([], lambda s, j, w: ref.changes(s)),
    "deriv": ([], lambda s, j, w: ref.deriv(s)),
    "predict_linear": ([600.0], lambda s, j, w: ref.predict_linear(s, bounds(w, j)[1], 600.0)),
    "sum_over_time": ([], lambda s, j, w: ref.sum_over_time(s)),
    "avg_over_time": ([], lambda s, j, w: ref.avg_over_time(s)),
    "stdvar_over_time": ([], lambda s, j, w: ref.variance(s)),
    "stddev_over_time": ([], lambda s, j, w: ref.stddev(s)),
    "min_over_time": ([], lambda s, j, w: ref.compare(s, operator.lt, timestamp=False)),
    "max_over_time": ([], lambda s, j, w: ref.compare(s, operator.gt, timestamp=False)),
    "ts_of_min_over_time": ([], lambda s, j, w: ref.compare(s, operator.le, timestamp=True)),
    "ts_of_max_over_time": ([], lambda s, j, w: ref.compare(s, operator.ge, timestamp=True)),
    "quantile_over_time": (
        [0.3],
        lambda s, j, w: ref.quantile(0.3, [v for _, v in s]) if s else None,
    ),
    "mad_over_time": ([], lambda s, j, w: ref.mad(s)),
    "double_exponential_smoothing": (
        [0.3, 0.6],
        lambda s, j, w: ref.double_exponential_smoothing(s, 0.3, 0.6),
    ),
    "count_over_time": ([], lambda s, j, w: float(len(s)) if s else None),
    "present_over_time": ([], lambda s, j, w: 1.0 if s else None),
    "first_over_time": ([], lambda s, j, w: s[0][1] if s else None),
    "last_over_time": ([], lambda s, j, w: s[-1][1] if s else None),
    "ts_of_first_over_time": ([], lambda s, j, w: s[0][0] / 1000 if s else None),
    "ts_of_last_over_time": ([], lambda s, j, w: s[-1][0] / 1000 if s else None),
}


def test_every_function_has_a_reference_case() -> None:
    assert set(CASES) == set(RANGE_FUNCTIONS)


# ---- random inputs --------------------------------------------------------------------------

SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308, 5e-324])
PLAIN = st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-50, 50).map(float)
# Few distinct values, many NaNs: exercises NaN ordering rules and equal neighbours.
NAN_HEAVY = st.sampled_from([math.nan, math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, 2.0])
HUGE = st.floats(-1.8e308, 1.8e308, allow_nan=False, allow_infinity=False)


@st.composite
def counter(draw: st.DrawFn) -> list[float]:
    """A counter with occasional resets, sometimes with a float that is not exact."""
    n = draw(st.integers(0, 25))
    out, value = [], draw(st.floats(0, 1000))
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:
            value = draw(st.floats(0, 10))  # reset
        else:
            value += draw(st.floats(0, 100) | st.integers(0, 3).map(float))
        out.append(value)
    return out


@st.composite
def a_series(draw: st.DrawFn) -> Samples:
    values = draw(
        counter()
        | st.lists(PLAIN, max_size=25)
        | st.lists(PLAIN | SPECIAL | HUGE, max_size=25)
        | st.lists(NAN_HEAVY, max_size=8)
    )
    t = draw(st.integers(-30_000, 30_000))
    out = []
    for v in values:
        t += draw(st.integers(1, 20_000) | st.just(15_000))
        out.append((t, v))
    return out


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Samples], list[int], int]:
    series = draw(st.lists(a_series(), min_size=1, max_size=4))
    range_ms = draw(st.integers(1, 200_000) | st.sampled_from([60_000, 300_000, 1001]))
    times = sorted({t for s in series for t, _ in s})
    # Steps anywhere, or just at/after a sample, where windows start and end on samples.
    near_sample = (
        st.tuples(st.sampled_from(times), st.integers(0, 3) | st.integers(0, 30_000)).map(sum)
        if times
        else st.nothing()
    )
    steps = draw(st.lists(st.integers(-40_000, 550_000) | near_sample, min_size=1, max_size=6))
    return series, steps, range_ms


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenario())
def test_matches_the_go_transcription(
    name: str, case: tuple[list[Samples], list[int], int]
) -> None:
    series, steps, range_ms = case
    args, expected = CASES[name]
    check(name, series, steps, range_ms, args, expected)


@pytest.mark.parametrize(
    "name", ["sum_over_time", "avg_over_time", "stddev_over_time", "deriv", "predict_linear"]
)
def test_windows_longer_than_a_chunk(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunking and the longest-first order do not change results."""
    monkeypatch.setattr("kubeprom.promql.functions.windows.SEQUENTIAL_CHUNK", 3)
    monkeypatch.setattr("kubeprom.promql.functions.range_stats.COLUMN_BUDGET", 50)
    rng = np.random.default_rng(7)
    series = [
        [(i * 1000 + int(rng.integers(0, 900)), float(rng.normal(1e6, 1e5))) for i in range(n)]
        for n in (0, 1, 2, 40, 7, 40, 3)
    ]
    args, expected = CASES[name]
    check(name, series, [10_000, 25_000, 39_999, 41_000], 20_000, args, expected)


@pytest.mark.parametrize("name", ["sum_over_time", "avg_over_time", "deriv", "predict_linear"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenario(), budget=st.integers(1, 64))
def test_column_sums_in_small_chunks(
    name: str, case: tuple[list[Samples], list[int], int], budget: int
) -> None:
    """The column-wise Kahan sums give the same bits however the windows are chunked,
    overflowing windows (avg_over_time's incremental mean) included."""
    import kubeprom.promql.functions.range_stats as range_stats

    series, steps, range_ms = case
    args, expected = CASES[name]
    original, native = range_stats.COLUMN_BUDGET, range_stats.NATIVE
    range_stats.COLUMN_BUDGET = budget
    range_stats.NATIVE = None  # the regression's numpy passes, not the compiled loop
    try:
        check(name, series, steps, range_ms, args, expected)
    finally:
        range_stats.COLUMN_BUDGET, range_stats.NATIVE = original, native


def test_the_compiled_regression_is_built() -> None:
    """``pip install -e .`` builds _regression.c; without it deriv and predict_linear fall
    back to the numpy passes, 10-20x slower."""
    import kubeprom.promql.functions.range_stats as range_stats

    assert range_stats.NATIVE is not None, "reinstall: pip install -e . builds _regression.c"


@pytest.mark.parametrize("name", ["deriv", "predict_linear"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenario(), batch=st.integers(1, 40))
def test_regression_paths_agree_in_any_batches(
    name: str, case: tuple[list[Samples], list[int], int], batch: int
) -> None:
    """The compiled loop, called in batches of any size, and the numpy passes both equal
    the Go transcription bit for bit."""
    import kubeprom.promql.functions.range_stats as range_stats

    series, steps, range_ms = case
    args, expected = CASES[name]
    original, native = range_stats.NATIVE_BATCH, range_stats.NATIVE
    range_stats.NATIVE_BATCH = batch
    try:
        check(name, series, steps, range_ms, args, expected)
        range_stats.NATIVE = None
        check(name, series, steps, range_ms, args, expected)
    finally:
        range_stats.NATIVE_BATCH, range_stats.NATIVE = original, native


def test_long_jittered_windows_are_bit_identical() -> None:
    """Scrape-like windows of 240 samples with jittered times and large integer values (as
    ``predict_linear(x[1h], ...)`` over node_filesystem_avail_bytes sees them)."""
    rng = np.random.default_rng(11)
    series = [
        [
            (i * 15_000 + int(rng.integers(-20, 20)), float(rng.integers(10**10, 2 * 10**11)))
            for i in range(480)
        ]
        for _ in range(3)
    ]
    steps = list(range(3_600_000, 7_200_000, 60_000))
    for name in ("deriv", "predict_linear"):
        args, expected = CASES[name]
        check(name, series, steps, 3_600_000, args, expected)


@pytest.mark.parametrize(
    ("lo", "n", "message"),
    [
        ([0], [4], "window 0 out of bounds"),
        ([-1], [2], "window 0 out of bounds"),
        ([0, 1], [2, 0], "window 1 out of bounds"),
    ],
)
def test_compiled_regression_checks_its_windows(lo: list[int], n: list[int], message: str) -> None:
    import kubeprom.promql.functions.range_stats as range_stats

    native = range_stats.NATIVE
    assert native is not None
    t, v = np.arange(3, dtype=np.int64), np.ones(3)
    out = np.empty(len(lo))
    with pytest.raises(ValueError, match=message):
        native.regress(
            t, v, np.array(lo, dtype=np.int64), np.array(n, dtype=np.int64),
            np.zeros(len(lo), dtype=np.int64), out, out.copy(),
        )  # fmt: skip


def test_compiled_regression_checks_its_buffers() -> None:
    import kubeprom.promql.functions.range_stats as range_stats

    native = range_stats.NATIVE
    assert native is not None
    ints, one = np.zeros(1, dtype=np.int64), np.zeros(1)
    with pytest.raises(TypeError, match="t: expected a 1-d buffer of int64"):
        native.regress(np.zeros(1, dtype=np.int32), one, ints, ints, ints, one, one)
    with pytest.raises(ValueError, match="t and v differ in length"):
        native.regress(ints, np.zeros(2), ints, ints, ints, one, one)
    with pytest.raises(ValueError, match="origin: expected 1 windows"):
        native.regress(ints, one, ints, np.ones(1, dtype=np.int64), ints[:0], one, one)
    with pytest.raises(TypeError, match="v: expected a 1-d buffer of float64"):
        native.regress(ints, ints, ints, ints, ints, one, one)
    frozen = np.zeros(1)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        native.regress(ints, one, ints, np.ones(1, dtype=np.int64), ints, frozen, one)


def test_quantile_budget_splits_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kubeprom.promql.functions.windows.MATRIX_BUDGET", 5)
    series = [[(i * 10, float((i * 7) % 11)) for i in range(n)] for n in (1, 9, 4, 0, 12)]
    args, expected = CASES["quantile_over_time"]
    check("quantile_over_time", series, [50, 95, 120], 100, args, expected)
    check("mad_over_time", series, [50, 95, 120], 100, [], CASES["mad_over_time"][1])


# ---- specific behaviour -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "want"),
    [(300_000, 300.0), (1001, 1.001), (1, 0.001), (86_400_123, 86400.123)],
    ids=["5m", "1001ms", "1ms", "1d123ms"],
)
def test_duration_seconds_is_gos(ms: int, want: float) -> None:
    assert go_duration_seconds(ms) == ref.go_seconds(ms)
    assert math.isclose(go_duration_seconds(ms), want, rel_tol=1e-15)


def test_empty_input() -> None:
    w = make_windows([], [0, 1000], 500)
    for name, (args, _) in CASES.items():
        values, present = RANGE_FUNCTIONS[name](w, [np.full(2, a) for a in args], Annotations.new())
        assert values.shape == (0, 2), name
        assert present.shape == (0, 2), name


@pytest.mark.parametrize(
    ("q", "warnings"),
    [
        (0.5, []),
        (-0.5, ["quantile value should be between 0 and 1, got -0.5"]),
        (1.5, ["quantile value should be between 0 and 1, got 1.5"]),
        (math.nan, ["quantile value should be between 0 and 1, got NaN"]),
    ],
    ids=["valid", "negative", "above-one", "nan"],
)
def test_quantile_over_time_warns_for_bad_phi(q: float, warnings: list[str]) -> None:
    w = make_windows([[(0, 1.0), (10, 2.0)]], [10], 100)
    notes = Annotations.new()
    values, present = RANGE_FUNCTIONS["quantile_over_time"](w, [np.array([q])], notes)
    assert notes.warnings == warnings
    assert notes.infos == []
    assert present.tolist() == [[True]]
    assert same(float(values[0, 0]), ref.quantile(q, [1.0, 2.0]))


def test_quantile_over_time_does_not_warn_without_samples() -> None:
    """Upstream only validates φ when it is called, i.e. for a window with samples."""
    w = make_windows([[(0, 1.0)]], [500], 100)
    notes = Annotations.new()
    _, present = RANGE_FUNCTIONS["quantile_over_time"](w, [np.array([2.0])], notes)
    assert notes.warnings == []
    assert present.tolist() == [[False]]


@pytest.mark.parametrize(
    ("sf", "tf", "message"),
    [
        (0.0, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: 0.000000"),
        (1.0, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"),
        (math.nan, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: NaN"),
        (0.5, 1.5, "invalid trend factor. Expected: 0 < tf < 1, got: 1.500000"),
        (0.5, -math.inf, "invalid trend factor. Expected: 0 < tf < 1, got: -Inf"),
    ],
    ids=["sf-zero", "sf-one", "sf-nan", "tf-big", "tf-neg-inf"],
)
def test_double_exponential_smoothing_rejects_bad_factors(
    sf: float, tf: float, message: str
) -> None:
    w = make_windows([[(0, 1.0)]], [0], 100)  # one sample is enough to be called
    with pytest.raises(EvalError, match=f"^{message.replace('.', '[.]')}$"):
        RANGE_FUNCTIONS["double_exponential_smoothing"](
            w, [np.array([sf]), np.array([tf])], Annotations.new()
        )


def test_double_exponential_smoothing_bad_factor_without_samples_is_no_error() -> None:
    w = make_windows([[(0, 1.0)]], [10_000], 100)
    values, present = RANGE_FUNCTIONS["double_exponential_smoothing"](
        w, [np.array([2.0]), np.array([0.5])], Annotations.new()
    )
    assert present.tolist() == [[False]]
    assert values.tolist() == [[0.0]]


def test_predict_linear_regresses_around_the_query_time() -> None:
    """With ``@``/offset the window ends before the evaluation time; args[1] carries it."""
    counts = [0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 50]  # 0+10x4 0+10x5, every 5m
    series = [[(i * 300_000, float(v)) for i, v in enumerate(counts)]]
    w = make_windows(series, [3_000_000], 3_300_000)  # [55m] @ 3000
    at_600s = np.array([600_000.0])
    values, _ = RANGE_FUNCTIONS["predict_linear"](
        w, [np.array([3600.0]), at_600s], Annotations.new()
    )
    assert values[0, 0] == pytest.approx(51.36363636363637, rel=1e-12)
    values, _ = RANGE_FUNCTIONS["predict_linear"](w, [np.array([3600.0])], Annotations.new())
    assert values[0, 0] == pytest.approx(76.81818181818181, rel=1e-12)


def test_rate_counts_resets_only_inside_the_window() -> None:
    """A drop between the window's first sample and the one before it is not a reset."""
    series = [[(0, 100.0), (10_000, 1.0), (20_000, 2.0), (30_000, 3.0)]]
    w = make_windows(series, [30_000], 25_000)  # holds 1, 2, 3
    values, _ = RANGE_FUNCTIONS["increase"](w, [], Annotations.new())
    assert values[0, 0] == ref.extrapolated_rate(series[0][1:], 5_000, 30_000, 25_000, True, False)
    assert values[0, 0] == pytest.approx(2.5)
