"""Scraping a simulated cluster without HTTP, for virtual-time runs.

:class:`InProcessFetch` is a scraper ``Fetch`` that renders a target's body straight from the
cluster's exporters after advancing the cluster to the clock's time, so the same parser,
scrape cache and store path run as in ``kubeprom run``, hours of cluster time in seconds.

With ``direct=True`` it skips the text: the scrape gets the samples the OpenMetrics body
would parse to (:func:`parsed_columns`), read from the exporters' columns
(:mod:`kubeprom.exporters.columns`: series keys cached per object, values as numpy
columns), and appends them through the same cache, relabeling, staleness and store path.
The store ends up exactly as with the text (a test compares them); only the rendering and
parsing are saved. A target whose collection has the last one's series (the same cached
blocks, in the same order) reuses its layout (keys, value positions, metadata) and tells the
scraper so (``FetchResult.series_set``), so a steady scrape costs no Python step per sample
here or in the scrape cache.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import filterfalse

import numpy as np

from kubeprom.clock import Clock
from kubeprom.config.scrape import ClusterSDConfig
from kubeprom.errors import ScrapeError
from kubeprom.exporters import ClusterExporters, ServedTarget, SimulatedCluster
from kubeprom.exporters.columns import F64, I64, Columns, FamilySpec, same_objects
from kubeprom.exporters.targets import OPENMETRICS_CONTENT_TYPE
from kubeprom.model.labels import Labels
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.exposition import MISSING
from kubeprom.scraper.exposition.floats import seconds_ms_bulk
from kubeprom.scraper.exposition.parser import ParsedBody
from kubeprom.scraper.exposition.series import build_labels
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.loop import DEFAULT_BODY_LIMIT_BYTES
from kubeprom.tsdb.api import MetricMetadata, MetricType


class InProcessFetch:
    """Fetch bodies of a :class:`SimulatedCluster`'s targets by URL, in process."""

    def __init__(self, cluster: SimulatedCluster, clock: Clock, *, direct: bool = False) -> None:
        self.cluster = cluster
        self.clock = clock
        self.direct = direct
        self.exporters = ClusterExporters(cluster)
        self.targets: list[ServedTarget] = self.exporters.targets()
        self._by_url = {t.url: t.target_id for t in self.targets}
        self._layouts: dict[str, Layout] = {}
        self._metadata: dict[str, _Metadata] = {}

    async def __call__(self, url: str, timeout_s: float, body_limit: int) -> FetchResult:
        target_id = self._by_url.get(url)
        if target_id is None:
            raise ScrapeError(f"Get {url!r}: no such simulated target")
        self.cluster.advance_to(self.clock.now_ms() / 1000)
        # A configured body size limit needs the body; the default bound (256 MiB) is far
        # above anything the simulated exporters write.
        if self.direct and (not body_limit or body_limit >= DEFAULT_BODY_LIMIT_BYTES):
            columns = self.exporters.columns(target_id)
            layout = self._layouts[target_id] = layout_of(columns, self._layouts.get(target_id))
            meta = self._metadata.get(target_id)
            if meta is None or not same_objects(meta.families, columns.families):
                meta = self._metadata[target_id] = _Metadata(columns.families)
            return FetchResult(
                b"",
                OPENMETRICS_CONTENT_TYPE,
                parsed=partial(parsed_columns, columns, layout=layout, metadata=meta.metadata),
                series_set=layout,
            )
        body, content_type = self.exporters.render(target_id, accept_openmetrics=True)
        if body_limit and len(body) > body_limit:
            raise ScrapeError(f"body size limit exceeded: more than {body_limit} bytes")
        return FetchResult(body, content_type)

    def discover(self, sd: ClusterSDConfig) -> list[TargetGroup]:
        """The scrape service's cluster discovery for these targets."""
        return cluster_groups(self.targets, sd.role)


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """Where a collection's series are: their keys in order and the (row, column) of each
    one's value in the value matrix. Collections whose blocks carry the same key and column
    objects (a collector's cached blocks, in the same order) share one layout; the scraper
    takes its identity as the series set's (``FetchResult.series_set``). Holding the keys
    keeps the compared objects alive, so identity cannot be a reused address."""

    block_keys: tuple[tuple[bytes, ...], ...]
    block_columns: tuple[I64, ...]
    series: list[bytes]
    rows: I64
    cols: I64

    def values(self, matrix: F64) -> F64:
        return np.ascontiguousarray(matrix[self.rows, self.cols], dtype=np.float64)


def layout_of(columns: Columns, last: Layout | None = None) -> Layout:
    """``columns``' layout: ``last`` itself when the series are the same."""
    keys = tuple(b.keys for b in columns.blocks)
    cols = tuple(b.column for b in columns.blocks)
    if (
        last is not None
        and same_objects(keys, last.block_keys)
        and same_objects(cols, last.block_columns)
    ):
        return last
    lengths = np.fromiter(map(len, keys), np.int64, len(keys))
    return Layout(
        keys,
        cols,
        [k for block in keys for k in block],
        np.repeat(np.arange(len(keys), dtype=np.int64), lengths),
        np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64),
    )


class _Metadata:
    """HELP/TYPE/UNIT of a target's families, kept while its family specs are the same
    objects (one dict object, so the scraper can tell it has recorded them)."""

    def __init__(self, families: Sequence[FamilySpec]) -> None:
        self.families = tuple(families)
        self.metadata = family_metadata(families)


def family_metadata(families: Sequence[FamilySpec]) -> dict[str, MetricMetadata]:
    return {
        f.family_name: MetricMetadata(MetricType(f.type), f.documentation, f.unit) for f in families
    }


def parsed_columns(
    columns: Columns,
    known: Container[bytes] | None,
    *,
    layout: Layout | None = None,
    metadata: dict[str, MetricMetadata] | None = None,
) -> ParsedBody:
    """What the OpenMetrics body of ``columns`` parses to, given the series ``known`` (None:
    the caller knows every series of ``layout``, so no labels are built).

    Values are the floats themselves (the text writes them with ``repr``, which round-trips);
    the timestamp goes through the text it would be written as (``str``) and the parser's
    own conversion, labels through the parser's own builder, so every sample is bit for bit
    the one the text gives. Only series not ``known`` cost a Python step each.
    """
    if layout is None:
        layout = layout_of(columns)
    series = layout.series
    values = layout.values(columns.matrix)
    ts = np.full(len(series), MISSING, dtype=np.int64)
    if columns.t_s is not None:
        ms, _ = seconds_ms_bulk([str(columns.t_s).encode()])
        ts[columns.stamped()] = ms[0]
    if metadata is None:
        metadata = family_metadata(columns.families)
    labels: dict[bytes, Labels] = {}
    fresh = set() if known is None else set(filterfalse(known.__contains__, series))
    if fresh:
        for block in columns.blocks:
            for key, name, pairs in zip(block.keys, block.names, block.labels, strict=True):
                if key in fresh and key not in labels:
                    labels[key] = build_labels(name, sorted(pairs), None)
    return ParsedBody(series, values, ts, metadata, labels)
