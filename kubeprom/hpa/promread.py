"""Reading query results for the metric backends: recording, label columns, newest samples.

:class:`RecordingQueryAPI` wraps any :class:`~kubeprom.promql.api.QueryAPI` and keeps every
query it ran with its answer or error, so a dry run can show the PromQL behind a decision.
The helpers turn a :class:`~kubeprom.promql.api.QueryResult` into columns: one label per
series (:func:`label_values`), the positions of each series' newest samples
(:func:`newest`), a value lookup at given times (:func:`values_at`). They work per series
or with a fixed number of numpy calls, never per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kubeprom.errors import KubepromError
from kubeprom.model.gofmt import quote
from kubeprom.model.samples import I64Array
from kubeprom.promql.api import QueryAPI, QueryResult

# values_at packs (series, time) into one int64 key while series x time span stays below.
_PACKED_LIMIT = 1 << 62


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One query a backend ran: its text, time and answer, or the error it raised."""

    expr: str
    t_ms: int
    result: QueryResult | None = None
    error: str | None = None


@dataclass(slots=True)
class RecordingQueryAPI:
    """A :class:`QueryAPI` that records every query while ``records`` is a list (None: it
    only passes queries on). Not task-safe."""

    api: QueryAPI
    records: list[QueryRecord] | None = field(default_factory=list)

    def _keep(self, record: QueryRecord) -> None:
        if self.records is not None:
            self.records.append(record)

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        try:
            result = self.api.instant(expr, t_ms)
        except KubepromError as err:
            self._keep(QueryRecord(expr, t_ms, error=str(err)))
            raise
        self._keep(QueryRecord(expr, t_ms, result))
        return result

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        try:
            result = self.api.range(expr, start_ms, end_ms, step_ms)
        except KubepromError as err:
            self._keep(QueryRecord(expr, end_ms, error=str(err)))
            raise
        self._keep(QueryRecord(expr, end_ms, result))
        return result


def selector(metric: str, matchers: Sequence[str]) -> str:
    """``metric{m1, m2}``, empty matchers skipped."""
    inner = ", ".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}"


def equal(name: str, value: str) -> str:
    """A ``name="value"`` matcher, the value quoted as PromQL reads it."""
    return f"{name}={quote(value)}"


def label_values(result: QueryResult, names: Sequence[str]) -> list[list[str]]:
    """Per name, the value of that label of each series ("" when absent): one pass over
    the series for all names."""
    out: list[list[str]] = [[] for _ in names]
    for lab in result.labels:
        flat = lab.flat
        pairs = dict(zip(flat[0::2], flat[1::2], strict=True))
        for column, name in zip(out, names, strict=True):
            column.append(pairs.get(name, ""))
    return out


def counts(result: QueryResult) -> I64Array:
    """Samples per series."""
    return np.diff(result.offsets)


def newest(result: QueryResult, k: int) -> I64Array:
    """Per series, the position of its ``k``-th newest sample (``k`` = 1: the newest), -1
    where the series has fewer samples."""
    pos = result.offsets[1:] - k
    return np.where(counts(result) >= k, pos, -1)


def pick(values: NDArray[Any], pos: I64Array, fill: float) -> NDArray[Any]:
    """``values[pos]`` with ``fill`` where ``pos`` is -1."""
    if values.size == 0:
        return np.full(pos.shape, fill, dtype=values.dtype)
    out: NDArray[Any] = np.where(pos >= 0, values[np.maximum(pos, 0)], fill)
    return out


def values_at(
    result: QueryResult, series: I64Array, t_ms: I64Array
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """For each ``(series[i], t_ms[i])``: the value of that series at exactly that time, and
    whether it has one (``series[i]`` -1 has none). One sort and one search in all."""
    n = len(series)
    found = np.zeros(n, dtype=np.bool_)
    out = np.zeros(n, dtype=np.float64)
    if n == 0 or result.t.size == 0:
        return out, found
    seg = np.repeat(np.arange(len(result.labels), dtype=np.int64), counts(result))
    order = np.lexsort((result.t, seg))
    keys_seg, keys_t = seg[order], result.t[order]
    known = series >= 0
    q_seg = np.where(known, series, 0)
    t_lo, t_hi = int(keys_t.min()), int(keys_t.max())
    width = t_hi - t_lo + 3
    if len(result.labels) * width < _PACKED_LIMIT:
        # (segment, time) packed into one sorted int64 key: one search. Probe times outside
        # the keys' span map to offsets no key has (0 and width - 1).
        packed = keys_seg * width + (keys_t - t_lo + 1)
        q_t = np.clip(t_ms, t_lo - 1, t_hi + 1) - t_lo + 1
        probe = q_seg * width + q_t
        hit = np.minimum(np.searchsorted(packed, probe), packed.size - 1)
        found = known & (packed[hit] == probe)
        return np.where(found, result.v[order][hit], 0.0), found
    # Bisect on (segment, time) pairs: the first key not below the probe.
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, keys_t.size, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        m = np.minimum(mid, keys_t.size - 1)
        below = (keys_seg[m] < q_seg) | ((keys_seg[m] == q_seg) & (keys_t[m] < t_ms))
        lo = np.where(active & below, mid + 1, lo)
        hi = np.where(active & ~below, mid, hi)
    hit = np.minimum(lo, keys_t.size - 1)
    found = known & (lo < keys_t.size) & (keys_seg[hit] == q_seg) & (keys_t[hit] == t_ms)
    out = np.where(found, result.v[order][hit], 0.0)
    return out, found


def series_keys(result: QueryResult) -> list[tuple[str, ...]]:
    """Each series' labels without ``__name__``, as a hashable key (so that series of two
    metrics with the same labels get the same key)."""
    keys = []
    for lab in result.labels:
        flat = lab.flat
        # The name sorts first unless a label name starts with an upper-case letter.
        keys.append(flat[2:] if flat[:1] == ("__name__",) else lab.without("__name__").flat)
    return keys


def series_index(keys: Sequence[tuple[str, ...]], wanted: Sequence[tuple[str, ...]]) -> I64Array:
    """For each wanted key, the position of the first equal key in ``keys``, -1 if none."""
    first: dict[tuple[str, ...], int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return np.array([first.get(k, -1) for k in wanted], dtype=np.int64)
