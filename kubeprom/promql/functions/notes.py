"""Annotation texts the functions emit, worded as Prometheus' ``util/annotations``.

Texts carry neither the ``PromQL warning: `` / ``PromQL info: `` prefix nor the
``(line:col)`` suffix: the evaluator knows the kind (it reads ``Annotations.warnings`` or
``.infos``) and the position of the argument that caused the note, so it adds both when it
renders them. Floats are formatted like Go's ``fmt`` verbs so the texts match upstream's.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeprom.model.gofmt import format_g, quote
from kubeprom.model.timeutil import format_rfc3339

# annotations.InvalidQuantileWarning, a warning.
INVALID_QUANTILE = "quantile value should be between 0 and 1, got {}"
# annotations.HistogramQuantileForcedMonotonicityInfo, an info.
FORCED_MONOTONICITY = (
    "input to histogram_quantile needed to be fixed for monotonicity "
    "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)"
)


def invalid_quantile(q: float) -> str:
    """The warning for a quantile outside [0, 1] or NaN (Go ``%g``)."""
    return INVALID_QUANTILE.format(format_g(q))


def forced_monotonicity(metric_name: str) -> str:
    """The info for classic buckets whose counts had to be made monotonic.

    Upstream appends `` for metric name "<name>"`` only when the name is not empty (it is
    empty when delayed name removal is off).
    """
    if not metric_name:
        return FORCED_MONOTONICITY
    return f"{FORCED_MONOTONICITY} for metric name {quote(metric_name)}"


@dataclass(slots=True)
class ForcedMonotonicity:
    """Details of every forced-monotonicity fix for one metric name, merged.

    Upstream merges these per annotation text and, when the HTTP API renders the info,
    appends :meth:`detail` to the text. ``samples`` counts the (group, step) evaluations
    that needed a fix; timestamps are ms, ``None`` when the caller gave no step times.
    """

    metric_name: str
    samples: int
    min_ts_ms: int | None
    max_ts_ms: int | None
    min_bucket: float
    max_bucket: float
    max_diff: float

    def merge(self, other: ForcedMonotonicity) -> None:
        """Widen this record by ``other`` (same metric name), as upstream's ``Merge``."""
        self.samples += other.samples
        if other.min_ts_ms is not None:
            self.min_ts_ms = (
                other.min_ts_ms if self.min_ts_ms is None else min(self.min_ts_ms, other.min_ts_ms)
            )
        if other.max_ts_ms is not None:
            self.max_ts_ms = (
                other.max_ts_ms if self.max_ts_ms is None else max(self.max_ts_ms, other.max_ts_ms)
            )
        self.min_bucket = min(self.min_bucket, other.min_bucket)
        self.max_bucket = max(self.max_bucket, other.max_bucket)
        self.max_diff = max(self.max_diff, other.max_diff)

    def detail(self) -> str:
        """The suffix upstream's HTTP rendering appends to :func:`forced_monotonicity`."""
        lo = 0 if self.min_ts_ms is None else self.min_ts_ms
        hi = 0 if self.max_ts_ms is None else self.max_ts_ms
        # time.Unix(ts/1000, 0): Go's division truncates toward zero.
        start, end = (format_rfc3339(_go_div(t, 1000) * 1000) for t in (lo, hi))
        return (
            f", from buckets {format_g(self.min_bucket)} to {format_g(self.max_bucket)}, "
            f"with a max diff of {format_g(self.max_diff, 2)}, over {self.samples} samples "
            f"from {start} to {end}"
        )


def _go_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q
