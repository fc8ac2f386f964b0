"""Engine settings: lookback, limits and defaults, with Prometheus' server defaults."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LOOKBACK_MS = 5 * 60_000
DEFAULT_MAX_SAMPLES = 50_000_000
# Prometheus' default subquery step is the global evaluation_interval; 1m is its default.
DEFAULT_SUBQUERY_STEP_MS = 60_000
DEFAULT_TIMEOUT_S = 120.0
# Prometheus refuses range queries whose result would have more points per series.
MAX_POINTS_PER_SERIES = 11_000


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine settings; the defaults are Prometheus' server defaults."""

    lookback_ms: int = DEFAULT_LOOKBACK_MS
    max_samples: int = DEFAULT_MAX_SAMPLES
    timeout_s: float = DEFAULT_TIMEOUT_S
    subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS
    max_points_per_series: int = MAX_POINTS_PER_SERIES
