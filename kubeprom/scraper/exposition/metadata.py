"""Metric families: HELP / TYPE / UNIT bookkeeping and which family a sample belongs to."""

from __future__ import annotations

from collections.abc import Mapping

from kubeprom.tsdb.api import MetricMetadata, MetricType

# What a TYPE line may say, per format. The text format calls "unknown" "untyped".
TEXT_TYPES: dict[bytes, MetricType] = {
    b"counter": MetricType.COUNTER,
    b"gauge": MetricType.GAUGE,
    b"histogram": MetricType.HISTOGRAM,
    b"summary": MetricType.SUMMARY,
    b"untyped": MetricType.UNKNOWN,
}
OPENMETRICS_TYPES: dict[bytes, MetricType] = {t.value.encode(): t for t in MetricType}

# Sample-name suffixes each family type owns (OpenMetrics names; the text format uses a subset).
_SUFFIXES: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: ("_total", "_created"),
    MetricType.HISTOGRAM: ("_bucket", "_count", "_sum", "_created"),
    MetricType.GAUGE_HISTOGRAM: ("_bucket", "_gcount", "_gsum"),
    MetricType.SUMMARY: ("_count", "_sum", "_created"),
    MetricType.INFO: ("_info",),
}

_ALL_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info")

# Labels whose float values Prometheus 3 rewrites in OpenMetrics form ("1" -> "1.0").
_FLOAT_LABEL: dict[MetricType, str] = {
    MetricType.HISTOGRAM: "le",
    MetricType.SUMMARY: "quantile",
}


def family_name(metric: str, metadata: Mapping[str, MetricMetadata]) -> str:
    """The family a sample's metric name belongs to, given the families declared so far.

    ``foo_bucket`` belongs to ``foo`` when ``foo`` is a histogram, ``foo_total`` to ``foo`` when
    ``foo`` is a counter, and so on; a name with its own TYPE, or no matching family, is its
    own family.
    """
    if metric in metadata or not metric.endswith(_ALL_SUFFIXES):
        return metric
    for suffix in _ALL_SUFFIXES:
        if metric.endswith(suffix):
            base = metric[: -len(suffix)]
            meta = metadata.get(base)
            if meta is not None and suffix in _SUFFIXES.get(meta.type, ()):
                return base
    return metric


def float_label(metric: str, metadata: Mapping[str, MetricMetadata]) -> str | None:
    """The label of ``metric`` whose value is normalised as a float (``le``/``quantile``)."""
    meta = metadata.get(family_name(metric, metadata))
    return None if meta is None else _FLOAT_LABEL.get(meta.type)


def declare(
    metadata: dict[str, MetricMetadata],
    name: str,
    *,
    mtype: MetricType | None = None,
    help_text: str | None = None,
    unit: str | None = None,
) -> None:
    """Record one HELP, TYPE or UNIT line for family ``name`` (a later line wins)."""
    meta = metadata.get(name, MetricMetadata())
    metadata[name] = MetricMetadata(
        type=meta.type if mtype is None else mtype,
        help=meta.help if help_text is None else help_text,
        unit=meta.unit if unit is None else unit,
    )
