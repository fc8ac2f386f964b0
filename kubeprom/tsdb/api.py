"""The storage seam: what writers (Appender) and readers (Querier) see of the store.

Units: timestamps are int64 milliseconds since the Unix epoch; values are float64. Time
bounds ``mint``/``maxt`` are inclusive. Arrays handed out by a Querier are read-only views
that the caller must not modify; arrays handed to an Appender are copied before it returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import F64Array, I64Array

SeriesRef = int

MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1

# How far ahead of the clock a sample may be stamped. Prometheus' scraper refuses samples
# more than 10 minutes ahead of now (``maxAheadTime``); the store measures retention and cuts
# blocks against no later a time, so one sample stamped in the future moves neither.
MAX_AHEAD_MS = 10 * 60_000


@dataclass(slots=True)
class AppendStats:
    """What one ``append`` call did: samples stored and samples rejected, by reason."""

    appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    out_of_bounds: int = 0

    def add(self, other: AppendStats) -> None:
        self.appended += other.appended
        self.out_of_order += other.out_of_order
        self.duplicate += other.duplicate
        self.out_of_bounds += other.out_of_bounds


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    GAUGE_HISTOGRAM = "gaugehistogram"
    SUMMARY = "summary"
    INFO = "info"
    STATESET = "stateset"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MetricMetadata:
    """HELP / TYPE / UNIT of one metric family, as an exposition declared them."""

    type: MetricType = MetricType.UNKNOWN
    help: str = ""
    unit: str = ""


class Appender(Protocol):
    """Writes samples. One scrape = one appender = one commit; not shared between tasks.

    ``append`` validates each sample against its series' newest stored timestamp: an older
    timestamp is rejected as out of order; the same timestamp with a different value is
    rejected as a duplicate (the same value is accepted silently and not stored twice).
    Rejections are counted in the returned stats, never raised, never reordered.
    """

    def ref(self, labels: Labels) -> SeriesRef:
        """Get or create the series for a label set; O(1) for a known series."""
        ...

    def append(self, t_ms: int, refs: I64Array, values: F64Array) -> AppendStats:
        """Stage one value per ref at timestamp ``t_ms``; O(1) Python work per batch."""
        ...

    def append_metadata(self, metric: str, meta: MetricMetadata) -> None:
        """Record HELP/TYPE/UNIT for a metric family."""
        ...

    def commit(self) -> AppendStats:
        """Make the staged samples visible; they are in the WAL when this returns.

        Returns what was stored: samples staged by ``append`` are checked again, so a sample
        that another appender made out of order in the meantime is counted here.
        """
        ...

    def rollback(self) -> None:
        """Drop the staged samples (created series stay)."""
        ...

    def series_epoch(self) -> int:
        """Changes whenever the store garbage-collected series, so refs handed out before
        may be dead: a dead ref never comes back and appends to it are refused (counted
        out of bounds). A writer that keeps refs checks them with :meth:`live` then."""
        ...

    def live(self, refs: I64Array) -> NDArray[np.bool_]:
        """Which refs still name a series."""
        ...


@dataclass(frozen=True, slots=True)
class Series:
    """One series' samples in a time range: ``t`` strictly increasing."""

    labels: Labels
    t: I64Array
    v: F64Array


@dataclass(slots=True)
class SeriesSet:
    """Many series in CSR layout: series ``i`` owns ``t[offsets[i]:offsets[i+1]]``.

    Series are sorted by labels and have at least one sample. This layout lets the query
    engine run range functions over every series at once.
    """

    labels: list[Labels]
    t: I64Array
    v: F64Array
    offsets: I64Array = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    # Why samples in range may be missing (e.g. a quarantined corrupt chunk); travel with
    # query results as warnings, as Prometheus' storage.Warnings do.
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[Series]:
        o = self.offsets
        for i, labels in enumerate(self.labels):
            a, b = int(o[i]), int(o[i + 1])
            yield Series(labels, self.t[a:b], self.v[a:b])

    @property
    def num_samples(self) -> int:
        return int(self.offsets[-1])

    @staticmethod
    def empty() -> SeriesSet:
        return SeriesSet([], np.empty(0, np.int64), np.empty(0, np.float64))


class Querier(Protocol):
    """Reads the store. ``mint``/``maxt`` in ms, inclusive; results sorted by labels."""

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        """Every series matching all matchers with at least one sample in the range."""
        ...

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        """Label sets of the matching series that have samples in the range."""
        ...

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        """Sorted label names, of the matching series when matchers are given."""
        ...

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        """Sorted values of one label, of the matching series when matchers are given."""
        ...

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        """Known HELP/TYPE/UNIT per metric name."""
        ...


class SelectView:
    """A querier that reads ``base`` through its own :meth:`select` (which a subclass
    changes); label names, values and metadata are the base's."""

    def __init__(self, base: Querier) -> None:
        self.base = base

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        return self.base.select(matchers, mint, maxt)

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return self.select(matchers, mint, maxt).labels

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        return self.base.label_names(matchers, mint, maxt)

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        return self.base.label_values(name, matchers, mint, maxt)

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        return self.base.metadata()
