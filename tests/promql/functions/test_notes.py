"""Annotation texts as Prometheus words them."""

from __future__ import annotations

import math

from kubeprom.promql.functions.notes import (
    FORCED_MONOTONICITY,
    ForcedMonotonicity,
    forced_monotonicity,
    invalid_quantile,
)


def test_messages() -> None:
    assert invalid_quantile(math.nan) == "quantile value should be between 0 and 1, got NaN"
    assert invalid_quantile(-0.1) == "quantile value should be between 0 and 1, got -0.1"
    assert forced_monotonicity("") == FORCED_MONOTONICITY
    assert forced_monotonicity('a"b') == f'{FORCED_MONOTONICITY} for metric name "a\\"b"'


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
