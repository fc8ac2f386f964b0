"""An in-memory store implementing the Querier seam, for promqltest files and tests.

Series are kept whole (sorted timestamps, float64 values); ``add`` replaces or merges
samples. Not task-safe: one runner owns one store.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, MetricMetadata, SeriesSet


class MemoryQuerier:
    """Implements :class:`kubeprom.tsdb.api.Querier` over series held in memory."""

    def __init__(self) -> None:
        self._series: dict[Labels, tuple[I64Array, F64Array]] = {}
        self._sorted: list[Labels] | None = None

    def add(self, labels: Labels, t: I64Array, v: F64Array) -> None:
        """Merge samples into a series; a timestamp given again takes the new value."""
        t = np.asarray(t, dtype=np.int64)
        v = np.asarray(v, dtype=np.float64)
        old = self._series.get(labels)
        if old is not None:
            t = np.concatenate([old[0], t])
            v = np.concatenate([old[1], v])
        # Stable sort keeps the later duplicate last; keep the last of each timestamp.
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        if t.size:
            last = np.ones(t.size, dtype=bool)
            last[:-1] = t[1:] != t[:-1]
            t, v = t[last], v[last]
        if t.size == 0:
            return
        if old is None:
            self._sorted = None
        self._series[labels] = (t, v)

    def clear(self) -> None:
        self._series.clear()
        self._sorted = None

    def all_labels(self) -> list[Labels]:
        if self._sorted is None:
            self._sorted = sorted(self._series)
        return self._sorted

    def _matching(self, matchers: Sequence[Matcher]) -> list[Labels]:
        return [
            lab for lab in self.all_labels() if all(m.matches(lab.get(m.name)) for m in matchers)
        ]

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        labels: list[Labels] = []
        ts: list[I64Array] = []
        vs: list[F64Array] = []
        for lab in self._matching(matchers):
            t, v = self._series[lab]
            a = int(np.searchsorted(t, mint, side="left"))
            b = int(np.searchsorted(t, maxt, side="right"))
            if b > a:
                labels.append(lab)
                ts.append(t[a:b])
                vs.append(v[a:b])
        if not labels:
            return SeriesSet.empty()
        offsets = np.zeros(len(labels) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in ts], out=offsets[1:])
        return SeriesSet(labels, np.concatenate(ts), np.concatenate(vs), offsets)

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return self.select(matchers, mint, maxt).labels

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        names = {n for lab in self.series(matchers, mint, maxt) for n in lab.names()}
        return sorted(names)

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        values = {lab.get(name) for lab in self.series(matchers, mint, maxt)}
        values.discard("")
        return sorted(values)

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        return {}
