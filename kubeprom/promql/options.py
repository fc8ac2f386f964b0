"""Engine settings: lookback, limits and defaults, with Prometheus' server defaults."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_LOOKBACK_MS = 5 * 60_000
DEFAULT_MAX_SAMPLES = 50_000_000
# Prometheus' default subquery step is the global evaluation_interval; 1m is its default.
DEFAULT_SUBQUERY_STEP_MS = 60_000
DEFAULT_TIMEOUT_S = 120.0
# Prometheus refuses range queries whose result would have more points per series.
MAX_POINTS_PER_SERIES = 11_000


class Compat(StrEnum):
    """Prometheus 2.x behaviours that 3.x changed, for differential testing against 2.x only.

    No server or command offers them: the differential tester re-runs a query that
    disagrees with Prometheus 2.42 with one of these, and if the answers then agree, the
    difference is that documented change and no other.

    ``V2_WINDOWS``: range selectors, the lookback of instant selectors and subquery ranges
    are closed on the left (``[t - range, t]``; 3.0 made them left-open).
    ``V2_RATE``: ``rate``/``increase`` cap the extrapolation at the counter's zero point
    before the 110% threshold test (3.x tests the threshold first).
    ``V2_ATAN2_NAME``: ``atan2`` keeps the metric name (2.47 made it drop it, as the other
    arithmetic operators do).
    ``V2_STDDEV``: ``stddev``/``stdvar`` of a group whose first value is NaN or infinite
    start from 0 (3.0 starts them at NaN, Prometheus #14941).
    ``V2_FILTERED_MATCHES``: pairs a comparison filters out do not count towards the
    "multiple matches" errors of vector matching (3.x counts them: upstream
    ``operators.test``, "many-to-one vector matching errors even when ... filtered away").
    """

    V2_WINDOWS = "2.x-windows"
    V2_RATE = "2.x-rate"
    V2_ATAN2_NAME = "2.x-atan2-name"
    V2_STDDEV = "2.x-stddev"
    V2_FILTERED_MATCHES = "2.x-filtered-matches"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine settings; the defaults are Prometheus' server defaults."""

    lookback_ms: int = DEFAULT_LOOKBACK_MS
    max_samples: int = DEFAULT_MAX_SAMPLES
    timeout_s: float = DEFAULT_TIMEOUT_S
    subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS
    max_points_per_series: int = MAX_POINTS_PER_SERIES
    # Prometheus 3.x drops ``__name__`` right after the function or operator that changes
    # a value's meaning (two series then equal is an error there), unless the server runs
    # with --enable-feature=promql-delayed-name-removal, which promqltest always uses.
    delayed_name_removal: bool = False
    compat: frozenset[Compat] = frozenset()

    @property
    def closed_windows(self) -> bool:
        return Compat.V2_WINDOWS in self.compat
