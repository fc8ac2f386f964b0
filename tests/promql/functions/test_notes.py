"""Annotation texts and Go's float formatting."""

from __future__ import annotations

import math

import pytest

from kubeprom.promql.functions.civil import rfc3339_utc
from kubeprom.promql.functions.notes import (
    FORCED_MONOTONICITY,
    ForcedMonotonicity,
    forced_monotonicity,
    go_format_f,
    go_format_g,
    go_quote,
    invalid_quantile,
)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (2.0, "2"),
        (1.5, "1.5"),
        (-0.1, "-0.1"),
        (1.01, "1.01"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (100.0, "100"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (1e-7, "1e-07"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-2.5e-5, "-2.5e-05"),
    ],
)
def test_go_percent_g(value: float, want: str) -> None:
    assert go_format_g(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (10.0, "10"),
        (0.0, "0"),
        (123.0, "1.2e+02"),
        (0.000123, "0.00012"),
        (9999.0, "1e+04"),
        (1.0, "1"),
        (0.5, "0.5"),
        (99.0, "99"),
        (1e-5, "1e-05"),
        (math.inf, "+Inf"),
    ],
)
def test_go_percent_point_2g(value: float, want: str) -> None:
    assert go_format_g(value, 2) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (0.0, "0.000000"),
        (1.5, "1.500000"),
        (-2.0, "-2.000000"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_go_percent_f(value: float, want: str) -> None:
    assert go_format_f(value) == want


def test_messages() -> None:
    assert invalid_quantile(math.nan) == "quantile value should be between 0 and 1, got NaN"
    assert invalid_quantile(-0.1) == "quantile value should be between 0 and 1, got -0.1"
    assert forced_monotonicity("") == FORCED_MONOTONICITY
    assert forced_monotonicity('a"b') == f'{FORCED_MONOTONICITY} for metric name "a\\"b"'
    assert go_quote("x\ny") == '"x\\ny"'


def test_forced_monotonicity_merge() -> None:
    a = ForcedMonotonicity("m", 2, 60_000, 120_000, 1.0, 10.0, 3.0)
    a.merge(ForcedMonotonicity("m", 1, -1_500, 90_000, 0.5, 5.0, 0.25))
    assert (a.samples, a.min_ts_ms, a.max_ts_ms) == (3, -1_500, 120_000)
    assert (a.min_bucket, a.max_bucket, a.max_diff) == (0.5, 10.0, 3.0)
    # Go divides ms by 1000 truncating toward zero: -1.5 s is second -1.
    assert a.detail() == (
        ", from buckets 0.5 to 10, with a max diff of 3, over 3 samples "
        "from 1969-12-31T23:59:59Z to 1970-01-01T00:02:00Z"
    )


def test_rfc3339() -> None:
    assert rfc3339_utc(1136239445) == "2006-01-02T22:04:05Z"
