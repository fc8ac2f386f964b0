"""Classic-bucket histogram_quantile / histogram_fraction: upstream cases and the Go model."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.promql.functions.histogram import bucket_fraction, bucket_quantile
from kubeprom.promql.functions.notes import FORCED_MONOTONICITY, ForcedMonotonicity
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS
from kubeprom.promql.types import Annotations
from tests.promql.functions import reference as ref
from tests.promql.functions.helpers import load, make_windows

INF, NAN = math.inf, math.nan
Hist = list[tuple[float, float]]  # (le, count) of one group at one step


def same(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return struct.pack("<d", a) == struct.pack("<d", b)


def flatten(groups: Sequence[Hist]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = [(g, le, c) for g, hist in enumerate(groups) for le, c in hist]
    return (
        np.array([le for _, le, _ in rows], dtype=np.float64),
        np.array([g for g, _, _ in rows], dtype=np.int64),
        np.array([[c] for _, _, c in rows], dtype=np.float64).reshape(len(rows), 1),
        np.ones((len(rows), 1), dtype=bool),
    )


def quantiles(q: float, groups: Sequence[Hist], notes: Annotations | None = None) -> list[float]:
    ub, g, c, p = flatten(groups)
    values, present = bucket_quantile(
        np.array([q]), ub, g, c, p, len(groups), notes or Annotations.new()
    )
    assert present[:, 0].tolist() == [bool(h) for h in groups]
    out: list[float] = values[:, 0].tolist()
    return out


def fractions(lower: float, upper: float, groups: Sequence[Hist]) -> list[float]:
    ub, g, c, p = flatten(groups)
    values, present = bucket_fraction(
        np.array([lower]), np.array([upper]), ub, g, c, p, len(groups)
    )
    assert present[:, 0].tolist() == [bool(h) for h in groups]
    out: list[float] = values[:, 0].tolist()
    return out


def close(got: list[float], want: list[float]) -> bool:
    """promqltest's tolerance (relative 1e-6, exact zeros)."""
    for g, w in zip(got, want, strict=True):
        if math.isnan(w) != math.isnan(g):
            return False
        if not math.isnan(w) and not (g == w or (w != 0 and abs(g - w) / abs(w) < 1e-6)):
            return False
    return len(got) == len(want)


# histograms.test, at 50m (values of 0+kx10 are 10k).
TESTHISTOGRAM: list[Hist] = [
    [(0.1, 50), (0.2, 70), (1, 110), (INF, 120)],  # start="positive"
    [(-0.2, 10), (-0.1, 20), (0.3, 20), (INF, 30)],  # start="negative"
]
TESTHISTOGRAM3: list[Hist] = [
    [(0, 0), (0.1, 50), (0.2, 70), (1, 110), (INF, 110)],
    [(-0.25, 0), (-0.2, 10), (-0.1, 20), (0.3, 20), (INF, 20)],
]
TESTHISTOGRAM2_AT_7M: list[Hist] = [[(0, 0), (2, 1), (4, 2), (6, 3), (INF, 3)]]
NONMONOTONIC: list[Hist] = [[(0.1, 20), (1, 10), (10, 50), (100, 40), (1000, 90), (INF, 80)]]
# sum by (le) (rate(request_duration_seconds_bucket[10m])) * 300: job/instance summed.
REQUEST_DURATION_ALL: list[Hist] = [[(0.1, 10), (0.2, 19), (INF, 25)]]
REQUEST_DURATION_BY_JOB_INSTANCE: list[Hist] = [
    [(0.1, 1), (0.2, 3), (INF, 4)],
    [(0.1, 2), (0.2, 5), (INF, 6)],
    [(0.1, 3), (0.2, 4), (INF, 6)],
    [(0.1, 4), (0.2, 7), (INF, 9)],
]

QUANTILE_CASES = {
    "lowest-bucket": (0, TESTHISTOGRAM, [0, -0.2]),
    "highest-bucket": (1, TESTHISTOGRAM, [1, 0.3]),
    "q0.2": (0.2, TESTHISTOGRAM, [0.048, -0.2]),
    "q0.5": (0.5, TESTHISTOGRAM, [0.15, -0.15]),
    "q0.8": (0.8, TESTHISTOGRAM, [0.72, 0.3]),
    "below-zero": (-0.1, TESTHISTOGRAM, [-INF, -INF]),
    "above-one": (1.01, TESTHISTOGRAM, [INF, INF]),
    "nan-q": (NAN, TESTHISTOGRAM, [NAN, NAN]),
    "h3-q0": (0, TESTHISTOGRAM3, [0, -0.25]),
    "h3-q0.25": (0.25, TESTHISTOGRAM3, [0.055, -0.225]),
    "h3-q0.5": (0.5, TESTHISTOGRAM3, [0.125, -0.2]),
    "h3-q0.75": (0.75, TESTHISTOGRAM3, [0.45, -0.15]),
    "h3-q1": (1, TESTHISTOGRAM3, [1, -0.1]),
    "h2-sixth": (1.0 / 6.0, TESTHISTOGRAM2_AT_7M, [1]),
    "h2-half": (0.5, TESTHISTOGRAM2_AT_7M, [3]),
    "h2-five-sixths": (5.0 / 6.0, TESTHISTOGRAM2_AT_7M, [5]),
    "nonmonotonic-0.01": (0.01, NONMONOTONIC, [0.0045]),
    "nonmonotonic-0.5": (0.5, NONMONOTONIC, [8.5]),
    "nonmonotonic-0.99": (0.99, NONMONOTONIC, [979.75]),
    "aggregated-0.3": (0.3, REQUEST_DURATION_ALL, [0.075]),
    "aggregated-0.5": (0.5, REQUEST_DURATION_ALL, [0.1277777777777778]),
    "by-job-instance-0.3": (0.3, REQUEST_DURATION_BY_JOB_INSTANCE, [0.11, 0.09, 0.06, 0.0675]),
    "by-job-instance-0.5": (
        0.5,
        REQUEST_DURATION_BY_JOB_INSTANCE,
        [0.15, 0.1333333333333333, 0.1, 0.1166666666666667],
    ),
    # mixed_bucket: le "0.2", "2e-1", "2.0e-1" are one bound; "+inf" and "+Inf" too.
    "coalesced-bounds": (
        0.5,
        [[(0.1, 10), (0.2, 10), (0.2, 10), (0.2, 10), (INF, 40)], [(INF, 0), (INF, 0)]],
        [0.15, NAN],
    ),
    "coalesced-bounds-0.75": (
        0.75,
        [[(0.1, 10), (0.2, 10), (0.2, 10), (0.2, 10), (INF, 40)]],
        [0.2],
    ),
    "no-inf-bucket": (0.5, [[(0.1, 1), (0.2, 2)]], [NAN]),
    "only-inf-bucket": (0.5, [[(INF, 5)]], [NAN]),
    "zero-observations": (0.5, [[(0.1, 0), (INF, 0)]], [NAN]),
}


@pytest.mark.parametrize("case", QUANTILE_CASES.values(), ids=QUANTILE_CASES.keys())
def test_histograms_test_quantiles(case: tuple[float, list[Hist], list[float]]) -> None:
    q, groups, want = case
    got = quantiles(q, groups)
    assert close(got, want), (got, want)
    for hist, value in zip(groups, got, strict=True):
        assert same(value, ref.bucket_quantile(q, hist)[0])


FRACTION_CASES = {
    "h2-0-4": (0, 4, [[(0, 0), (2, 10), (4, 20), (6, 30), (INF, 30)]], [0.6666666666666666]),
    "h2-0-6": (0, 6, [[(0, 0), (2, 10), (4, 20), (6, 30), (INF, 30)]], [1]),
    "h2-0-3.5": (0, 3.5, [[(0, 0), (2, 10), (4, 20), (6, 30), (INF, 30)]], [0.5833333333333334]),
    "h3-0-0.2": (0, 0.2, TESTHISTOGRAM3, [0.6363636363636364, 0]),
    "positive-first-bucket": (0, 1.5, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0.02]),
    "negative-first-bucket": (-4, -2, [[(-3, 10), (-2, 12), (-1, 15), (INF, 100)]], [0.02]),
    "lower-minus-inf": (-INF, -1.5, [[(-3, 10), (-2, 12), (-1, 15), (INF, 100)]], [0.135]),
    "everything-positive": (-INF, INF, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [1]),
    "everything-negative": (-INF, INF, [[(-3, 10), (-2, 12), (-1, 15), (INF, 100)]], [1]),
    "last-bucket-positive": (4, 5, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0]),
    "last-bucket-negative": (0, 1, [[(-3, 10), (-2, 12), (-1, 15), (INF, 100)]], [0]),
    "upper-in-last-bucket": (2, 5, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0.03]),
    "upper-is-inf": (400, INF, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0.94]),
    "lower-equals-upper": (2, 2, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0]),
    "lower-above-upper": (3, 2, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0]),
    "single-bucket": (0, 1, [[(INF, 100)]], [0]),
    "all-zero": (0, 5, [[(1, 0), (2, 0), (3, 0), (INF, 0)]], [NAN]),
    "lower-on-boundary": (2, 3.5, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0.03]),
    "upper-on-boundary": (0.5, 2, [[(1, 1), (2, 3), (3, 6), (INF, 100)]], [0.025]),
    "nan-lower": (NAN, 1, [[(1, 1), (INF, 2)]], [NAN]),
    "nan-upper": (0, NAN, [[(1, 1), (INF, 2)]], [NAN]),
    "no-inf-bucket": (0, 1, [[(1, 1), (2, 2)]], [NAN]),
}


@pytest.mark.parametrize("case", FRACTION_CASES.values(), ids=FRACTION_CASES.keys())
def test_histograms_test_fractions(case: tuple[float, float, list[Hist], list[float]]) -> None:
    lower, upper, groups, want = case
    got = fractions(lower, upper, groups)
    assert close(got, want), (got, want)
    for hist, value in zip(groups, got, strict=True):
        assert same(value, ref.bucket_fraction(lower, upper, hist))


def test_quantile_of_rates() -> None:
    """histogram_quantile(0.5, rate(testhistogram_bucket[10m])) at 50m: 0.15 and -0.15."""
    les = [0.1, 0.2, 1, INF, -0.2, -0.1, 0.3, INF]
    texts = ["0+5x10", "0+7x10", "0+11x10", "0+12x10", "0+1x10", "0+2x10", "0+2x10", "0+3x10"]
    w = make_windows([load("5m", t) for t in texts], [3_000_000], 600_000)
    rates, present = RANGE_FUNCTIONS["rate"](w, [], Annotations.new())
    values, out_present = bucket_quantile(
        np.array([0.5]),
        np.array(les),
        np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        rates,
        present,
        2,
        Annotations.new(),
    )
    assert out_present.tolist() == [[True], [True]]
    assert close(values[:, 0].tolist(), [0.15, -0.15])


# ---- annotations -------------------------------------------------------------------------------


def test_forced_monotonicity_info_and_details() -> None:
    notes = Annotations.new()
    ub, g, c, _ = flatten(NONMONOTONIC)
    counts = np.repeat(c, 3, axis=1)
    present = np.ones_like(counts, dtype=bool)
    present[:, 1] = False  # no buckets at the middle step
    forced: list[ForcedMonotonicity] = []
    values, out_present = bucket_quantile(
        np.array([0.5, 0.5, 0.99]),
        ub,
        g,
        counts,
        present,
        1,
        notes,
        ["nonmonotonic_bucket"],
        step_times=np.array([2_940_000, 3_000_000, 3_060_000]),
        forced=forced,
    )
    assert out_present.tolist() == [[True, False, True]]
    assert close([values[0, 0], values[0, 2]], [8.5, 979.75])
    assert notes.warnings == []
    assert notes.infos == [f'{FORCED_MONOTONICITY} for metric name "nonmonotonic_bucket"']
    assert len(forced) == 1
    assert forced[0].samples == 2
    assert forced[0].detail() == (
        ", from buckets 1 to +Inf, with a max diff of 10, over 2 samples "
        "from 1970-01-01T00:49:00Z to 1970-01-01T00:51:00Z"
    )


def test_forced_monotonicity_without_metric_name() -> None:
    notes = Annotations.new()
    quantiles(0.5, NONMONOTONIC, notes)
    assert notes.infos == [FORCED_MONOTONICITY]


def test_small_deltas_are_fixed_silently() -> None:
    """A relative difference below 1e-12 is float noise, not non-monotonic input."""
    notes = Annotations.new()
    got = quantiles(0.5, [[(1, 1000.0), (2, 1000.0 * (1 - 1e-15)), (INF, 2000.0)]], notes)
    assert notes.infos == []
    assert same(
        got[0], ref.bucket_quantile(0.5, [(1, 1000.0), (2, 999.999999999999), (INF, 2e3)])[0]
    )


def test_invalid_quantile_warns_even_without_buckets() -> None:
    """histograms.test: histogram_quantile(NaN, non_existent) warns."""
    notes = Annotations.new()
    empty = np.zeros(0)
    values, present = bucket_quantile(
        np.array([NAN, 2.0, 0.5, NAN]),
        empty,
        empty.astype(np.int64),
        np.zeros((0, 4)),
        np.zeros((0, 4), dtype=bool),
        0,
        notes,
    )
    assert values.shape == present.shape == (0, 4)
    assert notes.warnings == [
        "quantile value should be between 0 and 1, got NaN",
        "quantile value should be between 0 and 1, got 2",
    ]


def test_groups_without_buckets_at_a_step_are_absent() -> None:
    ub = np.array([0.1, INF, 0.1, INF])
    g = np.array([0, 0, 2, 2])
    counts = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    present = np.array([[True, False], [True, False], [False, True], [True, True]])
    values, out = bucket_quantile(
        np.array([0.5, 0.5]), ub, g, counts, present, 3, Annotations.new()
    )
    assert out.tolist() == [[True, False], [False, False], [True, True]]
    assert math.isnan(values[2, 0])  # only the +Inf bucket: fewer than 2 buckets
    assert values[0, 0] == ref.bucket_quantile(0.5, [(0.1, 1.0), (INF, 2.0)])[0]
    assert values[2, 1] == ref.bucket_quantile(0.5, [(0.1, 3.0), (INF, 4.0)])[0]


# ---- against the Go transcription -------------------------------------------------------------

BOUNDS = st.sampled_from([-5.0, -1.0, -0.0, 0.0, 0.1, 0.5, 1.0, 2.5, 10.0, 100.0, INF, INF])
COUNTS = st.sampled_from([0.0, 1.0, 2.0, 5.0, 10.0, 10.000000000000002, 1e15, NAN]) | st.floats(
    0, 1e6
)


@st.composite
def bucket_sets(
    draw: st.DrawFn,
) -> tuple[list[float], list[int], list[list[float]], list[list[bool]], int, int]:
    groups = draw(st.integers(1, 4))
    steps = draw(st.integers(1, 4))
    rows = draw(st.integers(0, 14))
    bounds = [draw(BOUNDS) for _ in range(rows)]
    owner = [draw(st.integers(0, groups - 1)) for _ in range(rows)]
    counts = [[draw(COUNTS) for _ in range(steps)] for _ in range(rows)]
    present = [[draw(st.integers(0, 5)) > 0 for _ in range(steps)] for _ in range(rows)]
    return bounds, owner, counts, present, groups, steps


def _hists(
    case: tuple[list[float], list[int], list[list[float]], list[list[bool]], int, int],
    g: int,
    j: int,
) -> Hist:
    bounds, owner, counts, present, _, _ = case
    # Row order within a group is the evaluator's; equal bounds keep it (stable sort).
    return [
        (bounds[r], counts[r][j]) for r in range(len(bounds)) if owner[r] == g and present[r][j]
    ]


def _arrays(case):  # a bucket_sets() draw
    bounds, owner, counts, present, groups, steps = case
    return (
        np.array(bounds, dtype=np.float64),
        np.array(owner, dtype=np.int64),
        np.array(counts, dtype=np.float64).reshape(len(bounds), steps),
        np.array(present, dtype=bool).reshape(len(bounds), steps),
        groups,
        steps,
    )


@settings(max_examples=300, deadline=None)
@given(case=bucket_sets(), q=st.sampled_from([0.0, 0.25, 0.5, 0.9, 0.99, 1.0, -1.0, NAN]))
def test_quantile_matches_go(case, q: float) -> None:
    ub, g, c, p, groups, steps = _arrays(case)
    values, present = bucket_quantile(np.full(steps, q), ub, g, c, p, groups, Annotations.new())
    for gi in range(groups):
        for j in range(steps):
            hist = _hists(case, gi, j)
            assert bool(present[gi, j]) == bool(hist)
            if hist:
                want = ref.bucket_quantile(q, hist)[0]
                assert same(float(values[gi, j]), want), (hist, values[gi, j], want)


@settings(max_examples=300, deadline=None)
@given(
    case=bucket_sets(),
    lower=st.sampled_from([-INF, -2.0, 0.0, 0.05, 1.0, 3.0, NAN]),
    upper=st.sampled_from([INF, -1.0, 0.0, 0.3, 2.0, 50.0, NAN]),
)
def test_fraction_matches_go(case, lower: float, upper: float) -> None:
    ub, g, c, p, groups, steps = _arrays(case)
    values, present = bucket_fraction(
        np.full(steps, lower), np.full(steps, upper), ub, g, c, p, groups
    )
    for gi in range(groups):
        for j in range(steps):
            hist = _hists(case, gi, j)
            assert bool(present[gi, j]) == bool(hist)
            if hist:
                want = ref.bucket_fraction(lower, upper, hist)
                assert same(float(values[gi, j]), want), (hist, values[gi, j], want)


def test_merged_bound_is_the_first_present_rows() -> None:
    """-0.0 and 0.0 are one bound; an absent -0.0 row must not lend its sign."""
    ub = np.array([-0.0, 0.0, INF])
    counts = np.array([[5.0], [5.0], [10.0]])
    present = np.array([[False], [True], [True]])
    values, _ = bucket_quantile(
        np.array([0.0]), ub, np.zeros(3, dtype=np.int64), counts, present, 1, Annotations.new()
    )
    assert same(float(values[0, 0]), 0.0)
    present[0, 0] = True
    values, _ = bucket_quantile(
        np.array([0.0]), ub, np.zeros(3, dtype=np.int64), counts, present, 1, Annotations.new()
    )
    assert same(float(values[0, 0]), -0.0)
