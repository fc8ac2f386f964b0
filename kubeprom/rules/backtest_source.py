"""Where a backtest reads history: a local store or any Prometheus-compatible server.

A backtest asks its source range queries (:class:`~kubeprom.promql.api.QueryAPI`). A rule
that reads what other rules of the backtest record is evaluated by kubeprom's engine over
:class:`ShadowQuerier`: the recorded series of the backtest, and the source's raw samples for
everything else (series the source has under a recorded name are left out, so a rule file
that changed a recording rule is backtested with its new output). Raw samples come from a
local :class:`~kubeprom.tsdb.api.Querier` (``--data``: exact, staleness markers included) or
through the query API (:class:`QueryAPIQuerier`, ``--server``: range-vector queries, which
return no staleness markers, so a series that ends is seen for the 5m lookback).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kubeprom.model.csr import offsets_from_counts, segment_bound
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.api import QueryAPI, ResultType
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, MetricMetadata, Querier, SelectView, SeriesSet

# A chunk's selections are read once from this long before the chunk: enough for the
# 5m lookback, a day-long range selector and its offset; longer reaches are not cached.
MAX_CACHED_REACH_MS = 26 * 3_600_000

# A range-vector query reads this much history at a time (a day of 15 s samples is 5760
# per series; Prometheus refuses queries over 50 million samples).
RAW_WINDOW_MS = 6 * 3_600_000


def merge_sets(sets: Sequence[SeriesSet]) -> SeriesSet:
    """Series of several sets as one set, sorted by labels; the samples of a series found
    in several sets are merged by time (first one wins on equal timestamps)."""
    parts: dict[Labels, list[tuple[I64Array, F64Array]]] = {}
    for ss in sets:
        for s in ss:
            parts.setdefault(s.labels, []).append((s.t, s.v))
    labels = sorted(parts)
    ts: list[I64Array] = []
    vs: list[F64Array] = []
    counts = []
    for lab in labels:
        chunks = parts[lab]
        t = np.concatenate([c[0] for c in chunks])
        v = np.concatenate([c[1] for c in chunks])
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        keep = np.ones(len(t), dtype=bool)
        keep[1:] = t[1:] != t[:-1]
        ts.append(t[keep])
        vs.append(v[keep])
        counts.append(int(keep.sum()))
    offsets = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    if not labels:
        return SeriesSet.empty()
    return SeriesSet(labels, np.concatenate(ts), np.concatenate(vs), offsets)


class QueryAPIQuerier:
    """Raw samples through a query API: ``{matchers}[window]`` instant queries, a window of
    at most ``window_ms`` at a time, merged."""

    def __init__(self, query: QueryAPI, window_ms: int = RAW_WINDOW_MS) -> None:
        self.query = query
        self.window_ms = window_ms

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        selector = "{" + ", ".join(str(m) for m in matchers) + "}"
        sets = []
        end = maxt
        while end >= mint:
            width = min(self.window_ms, end - mint + 1)
            res = self.query.instant(f"{selector}[{width}ms]", end)
            if res.result_type is ResultType.MATRIX and len(res):
                sets.append(SeriesSet(list(res.labels), res.t, res.v, res.offsets))
            end -= width
        ss = merge_sets(sets)
        return _clip(ss, mint, maxt)

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return self.select(matchers, mint, maxt).labels

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        return sorted({n for lab in self.series(matchers, mint, maxt) for n in lab.names()})

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        values = {lab.get(name) for lab in self.series(matchers, mint, maxt)}
        return sorted(v for v in values if v)

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        return {}  # the query API carries no metadata; info() and friends do not need it


def _clip(ss: SeriesSet, mint: int, maxt: int) -> SeriesSet:
    if not len(ss):
        return ss
    keep = (ss.t >= mint) & (ss.t <= maxt)
    if keep.all():
        return ss
    seg = np.repeat(np.arange(len(ss.labels)), np.diff(ss.offsets))
    counts = np.bincount(seg[keep], minlength=len(ss.labels))
    alive = counts > 0
    offsets = np.zeros(int(alive.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[alive], out=offsets[1:])
    labels = [lab for lab, ok in zip(ss.labels, alive.tolist(), strict=True) if ok]
    return SeriesSet(labels, ss.t[keep], ss.v[keep], offsets)


class ShadowQuerier:
    """The source's series except those named in ``shadowed``, plus ``overlay``'s."""

    def __init__(
        self, base: Callable[[], Querier], overlay: Querier, shadowed: frozenset[str]
    ) -> None:
        self.base = base
        self.overlay = overlay
        self.shadowed = shadowed
        pattern = "|".join(re.escape(n) for n in sorted(shadowed))
        self._not_shadowed = Matcher(MatchType.NOT_REGEX, METRIC_NAME, pattern) if pattern else None

    def _base_matchers(self, matchers: Sequence[Matcher]) -> list[Matcher]:
        return [*matchers, self._not_shadowed] if self._not_shadowed else list(matchers)

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        names = [m for m in matchers if m.name == METRIC_NAME and m.type is MatchType.EQUAL]
        if names and names[0].value in self.shadowed:
            return self.overlay.select(matchers, mint, maxt)
        base = self.base().select(self._base_matchers(matchers), mint, maxt)
        over = self.overlay.select(matchers, mint, maxt)
        if not len(over):
            return base
        if not len(base):
            return over
        return merge_sets([base, over])

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return self.select(matchers, mint, maxt).labels

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        base = self.base().label_names(self._base_matchers(matchers), mint, maxt)
        return sorted(set(base) | set(self.overlay.label_names(matchers, mint, maxt)))

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        base = self.base().label_values(name, self._base_matchers(matchers), mint, maxt)
        return sorted(set(base) | set(self.overlay.label_values(name, matchers, mint, maxt)))

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        return {**self.base().metadata(), **self.overlay.metadata()}


@dataclass(frozen=True, slots=True)
class _Held:
    """A selection as read for a chunk, from ``mint``: its series (sorted by labels) and
    the parts holding their samples in time order (the previous chunk's samples, then the
    store's), with each series' row in each part (-1: none there). Kept in parts, not
    joined: a query's cut copies the samples once."""

    mint: int
    labels: list[Labels]
    parts: tuple[SeriesSet, ...]
    rows: tuple[I64Array, ...]

    @staticmethod
    def of(mint: int, parts: list[SeriesSet]) -> _Held:
        parts = [p for p in parts if len(p)] or parts[-1:]
        if all(p.labels == parts[0].labels for p in parts):
            same = np.arange(len(parts[0].labels), dtype=np.int64)
            return _Held(mint, parts[0].labels, tuple(parts), tuple(same for _ in parts))
        labels = sorted({lab for p in parts for lab in p.labels})
        pos = {lab: i for i, lab in enumerate(labels)}
        rows = []
        for p in parts:
            r = np.full(len(labels), -1, dtype=np.int64)
            r[[pos[lab] for lab in p.labels]] = np.arange(len(p.labels))
            rows.append(r)
        return _Held(mint, labels, tuple(parts), tuple(rows))

    def cut(self, which: I64Array | None, mint: int, maxt: int) -> SeriesSet:
        """The samples in ``[mint, maxt]`` of the series ``which`` (all when None)."""
        rows = np.arange(len(self.labels)) if which is None else which
        spans = []
        counts = np.zeros(len(rows), dtype=np.int64)
        for part, part_rows in zip(self.parts, self.rows, strict=True):
            r = part_rows[rows]
            there = r >= 0
            starts = np.where(there, part.offsets[:-1][np.maximum(r, 0)], 0)
            ends = np.where(there, part.offsets[1:][np.maximum(r, 0)], 0)
            lo = segment_bound(part.t, starts, ends, mint)
            hi = segment_bound(part.t, lo, ends, maxt, right=True)
            whole = (lo == starts).all() and (hi == ends).all()
            if len(self.parts) == 1 and which is None and whole:
                return part
            counts += hi - lo
            spans.append((part, lo.tolist(), hi.tolist()))
        warnings = [w for p in self.parts for w in p.warnings]
        alive = np.flatnonzero(counts)
        if not len(alive):
            return SeriesSet([], np.empty(0, np.int64), np.empty(0), warnings=warnings)
        # Slices joined by one concatenate each: no index arrays as long as the samples.
        ts, vs = [], []
        for i in alive.tolist():
            for part, lo_list, hi_list in spans:
                x, y = lo_list[i], hi_list[i]
                if y > x:
                    ts.append(part.t[x:y])
                    vs.append(part.v[x:y])
        t, v = np.concatenate(ts), np.concatenate(vs)
        labels = [self.labels[i] for i in rows[alive].tolist()]
        return SeriesSet(labels, t, v, offsets_from_counts(counts[alive]), warnings)


class SelectionCache(SelectView):
    """A querier's selections within ``[lo, hi]``, each read once up to ``hi`` and cut to
    what a query asks; selections outside the window go to the querier. For one chunk of
    a backtest.

    Selections of one metric share a read: a selector with a metric name reads every
    series of that name once and keeps those its other matchers select (rules read one
    metric with different matchers, and a recording rule's readers add a matcher that
    leaves out recorded names). ``before``, the previous chunk's cache, which ended where
    this one starts, gives the part of a selection before this chunk (the lookback and
    range selectors' reach): read from the store, it would decode again the frames of the
    day before for a few minutes of samples.
    """

    def __init__(
        self, base: Querier, lo: int, hi: int, before: SelectionCache | None = None
    ) -> None:
        super().__init__(base)
        self.lo, self.hi = lo, hi
        self._sets: dict[tuple[Matcher, ...], _Held] = {}
        self._has: dict[tuple[tuple[Matcher, ...], int, int], bool] = {}
        self._before = before
        if before is not None:
            before._before = None  # keep one chunk back, not the whole chain

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        if mint < self.lo or maxt > self.hi:
            return self.base.select(matchers, mint, maxt)
        key, rest = _read_key(matchers)
        held = self._sets.get(key)
        if held is None or mint < held.mint:
            # From where the query starts, not from ``lo``: most selections reach back a
            # lookback, not a day, and reading the day before every chunk doubled the reads.
            held = self._sets[key] = self._read(key, mint)
        return held.cut(_matching(held.labels, rest) if rest else None, mint, maxt)

    def _read(self, key: tuple[Matcher, ...], mint: int) -> _Held:
        """``key``'s series in ``[mint, hi]``: the previous chunk's samples up to where it
        ended, and the store's after."""
        prev = self._before
        held = prev._sets.get(key) if prev is not None else None
        if prev is None or held is None or held.mint > mint or prev.hi < mint:
            return _Held.of(mint, [self.base.select(key, mint, self.hi)])
        head = held.cut(None, mint, prev.hi)
        return _Held.of(mint, [head, self.base.select(key, prev.hi + 1, self.hi)])

    def has_series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> bool:
        """Whether any series matches in ``[mint, maxt]`` (by the index where it can)."""
        key = (tuple(matchers), mint, maxt)
        found = self._has.get(key)
        if found is None:
            found = self._has[key] = bool(self.base.label_values(METRIC_NAME, matchers, mint, maxt))
        return found


def _read_key(matchers: Sequence[Matcher]) -> tuple[tuple[Matcher, ...], tuple[Matcher, ...]]:
    """What to read for a selection (its metric name alone when it has one) and the
    matchers left to apply to what was read."""
    for m in matchers:
        if m.name == METRIC_NAME and m.type is MatchType.EQUAL and m.value:
            return (m,), tuple(x for x in matchers if x is not m)
    return tuple(matchers), ()


def _matching(labels: list[Labels], matchers: Sequence[Matcher]) -> I64Array:
    """The rows whose labels every matcher selects (an absent label matches as ``""``)."""
    keep = [i for i, lab in enumerate(labels) if all(m.matches(lab.get(m.name)) for m in matchers)]
    return np.asarray(keep, dtype=np.int64)
