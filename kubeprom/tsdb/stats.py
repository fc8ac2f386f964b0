"""Cardinality statistics of the head, as Prometheus' ``/api/v1/status/tsdb`` reports them."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from kubeprom.model.labels import METRIC_NAME
from kubeprom.tsdb.head import Head

DEFAULT_STATS_LIMIT = 10  # Prometheus' default number of entries per top list


@dataclass(frozen=True, slots=True)
class Stat:
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class HeadStats:
    """Times are ms; with an empty head ``min_time``/``max_time`` are Prometheus' sentinels
    (``math.MaxInt64`` and ``math.MinInt64``)."""

    num_series: int
    num_label_pairs: int
    chunk_count: int
    min_time: int
    max_time: int


@dataclass(frozen=True, slots=True)
class TSDBStats:
    """Head statistics plus top-``limit`` lists, each sorted by value descending."""

    head: HeadStats
    series_count_by_metric_name: list[Stat]
    label_value_count_by_label_name: list[Stat]
    memory_in_bytes_by_label_name: list[Stat]
    series_count_by_label_value_pair: list[Stat]


def _top(items: list[Stat], limit: int) -> list[Stat]:
    """The ``limit`` largest, ties by name (Prometheus leaves tie order unspecified)."""
    return heapq.nsmallest(limit, items, key=lambda s: (-s.value, s.name))


def head_stats(head: Head, limit: int = DEFAULT_STATS_LIMIT) -> TSDBStats:
    """Count series per metric name, values per label name, bytes of values per label name
    (value length times series carrying it) and series per label pair, over the head."""
    with head.lock:
        counts = head.index.postings_counts()
        num_series = head.num_series
        chunks = sum(len(s.frames.frame_bounds) - 1 for s in head.slabs)
        chunks += int((head.cnt[:num_series] > 0).sum())
        mint, maxt = head.mint, head.maxt
    pairs: list[Stat] = []
    values_per_name: list[Stat] = []
    bytes_per_name: list[Stat] = []
    for name, values in counts.items():
        values_per_name.append(Stat(name, len(values)))
        bytes_per_name.append(Stat(name, sum(len(v) * n for v, n in values.items())))
        pairs += [Stat(f"{name}={v}", n) for v, n in values.items()]
    by_metric = [Stat(v, n) for v, n in counts.get(METRIC_NAME, {}).items()]
    if num_series == 0 or head.num_samples == 0:
        mint, maxt = 2**63 - 1, -(2**63)
    return TSDBStats(
        HeadStats(num_series, len(pairs), chunks, mint, maxt),
        _top(by_metric, limit),
        _top(values_per_name, limit),
        _top(bytes_per_name, limit),
        _top(pairs, limit),
    )
