"""Backtesting rule files over stored history (``kubeprom rules backtest``).

Each group is evaluated on its own grid, ``start + k * interval`` (``step_ms`` when given)
up to ``end``, the way ``kubeprom run`` would have evaluated it over that time: recording
rules first, in an order where each comes after the rules it reads, each one range query
over the whole grid (cut into range queries of ``chunk_steps`` steps, which any
Prometheus-compatible server answers); their output, with staleness markers, goes into an
overlay that later rules read (:mod:`kubeprom.rules.backtest_source`). Then every alerting
rule: one range query, its alert label sets (templated labels included), and the state
machine over all steps at once (:mod:`kubeprom.rules.alertstates`: ``for``,
``keep_firing_for``). Each alert episode gets its annotations as they were when it fired
(or became pending), from the rule's templates.

A rule whose result cannot be used (duplicate label sets, over its group's limit, a failed
query) is reported with its error and does not stop the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from kubeprom.errors import KubepromError, RuleFileError
from kubeprom.model.csr import gather_ranges
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.samples import I64Array
from kubeprom.model.timeutil import format_rfc3339
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.promql.options import EngineOptions
from kubeprom.rules.alerting import (
    ALERT_FOR_STATE_METRIC_NAME,
    ALERT_METRIC_NAME,
    ALERT_STATE_LABEL,
    AlertingRule,
)
from kubeprom.rules.alertstates import Episodes, episodes
from kubeprom.rules.backtest_source import ShadowQuerier
from kubeprom.rules.exprinfo import reads
from kubeprom.rules.manager import RuleSettings, build_alerting, build_recording
from kubeprom.rules.rangeeval import (
    Grid,
    Points,
    RangeUnsupported,
    points,
    recorded,
    with_staleness,
)
from kubeprom.rules.rulefmt import GroupSpec, RuleSpec, load_rule_file
from kubeprom.rules.unittest_eval import schedule
from kubeprom.tsdb.api import Querier
from kubeprom.tsdb.memstore import MemStore

DEFAULT_INTERVAL_MS = 60_000
DEFAULT_CHUNK_STEPS = 1440  # a day at 1m per range query: Prometheus allows 11,000 points


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """Times in ms. ``step_ms`` 0: each group's interval (1m when it has none)."""

    start_ms: int
    end_ms: int
    step_ms: int = 0
    external_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    external_url: str = ""
    chunk_steps: int = DEFAULT_CHUNK_STEPS


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert instance's time active. ``fired_ms`` None: it only ever was pending;
    ``ended_ms`` None: still active at the end of the range (for a fired alert, the time it
    was resolved; for a pending one, the time it went away)."""

    labels: Labels
    annotations: Labels
    active_ms: int
    fired_ms: int | None
    last_ms: int
    ended_ms: int | None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule did over the range. ``series`` is how many series a recording rule
    wrote or how many alert label sets an alerting rule had."""

    name: str
    kind: str
    group: str
    file: str
    step_ms: int
    series: int = 0
    episodes: tuple[Episode, ...] = ()
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class BacktestResult:
    start_ms: int
    end_ms: int
    rules: tuple[RuleOutcome, ...]

    @property
    def alerts(self) -> list[RuleOutcome]:
        return [r for r in self.rules if r.kind == "alerting"]


@dataclass
class _Placed:
    file: str
    group: GroupSpec
    spec: RuleSpec
    step_ms: int


class Backtest:
    """Runs a backtest over ``query`` (any Prometheus-compatible query API) and, for rules
    reading recorded series, the raw samples of ``querier``."""

    def __init__(
        self,
        query: QueryAPI,
        querier: Callable[[], Querier],
        options: BacktestOptions,
        engine: EngineOptions | None = None,
    ) -> None:
        self.query = query
        self.querier = querier
        self.options = options
        self.engine = engine or EngineOptions()
        self.overlay = MemStore()
        self.recorded_names: set[str] = set()
        self.alerts_read = False

    def run(self, files: Sequence[str]) -> BacktestResult:
        placed: list[_Placed] = []
        for path in files:
            rule_file, errors = load_rule_file(path)
            if errors:
                raise errors[0]
            for g in rule_file.groups:
                step = self.options.step_ms or g.interval_ms or DEFAULT_INTERVAL_MS
                placed += [_Placed(path, g, r, step) for r in g.rules]
        if self.options.end_ms < self.options.start_ms:
            raise RuleFileError("the backtest's end is before its start")
        self.alerts_read = any(
            reads(p.spec.expr).may_read_output(n)
            for p in placed
            for n in (ALERT_METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME)
        )
        recording = [p for p in placed if p.spec.record]
        alerting = [p for p in placed if p.spec.alert]
        outcomes = [self._record(p) for p in self._ordered(recording)]
        outcomes += [self._alert(p) for p in self._ordered(alerting)]
        by_rule = {(o.file, o.group, o.name, o.kind): o for o in outcomes}
        ordered = [by_rule[(p.file, p.group.name, p.spec.name, p.spec.kind.value)] for p in placed]
        return BacktestResult(self.options.start_ms, self.options.end_ms, tuple(ordered))

    @staticmethod
    def _ordered(rules: list[_Placed]) -> list[_Placed]:
        plan = schedule([(p.spec.record, p.spec.alert, p.spec.expr) for p in rules])
        return [rules[i] for i in plan.order] if not plan.cycle else rules

    def _grid(self, p: _Placed) -> Grid:
        o = self.options
        n = (o.end_ms - o.start_ms) // p.step_ms + 1
        return Grid(o.start_ms, p.step_ms, n)

    def _api(self, expr: str) -> QueryAPI:
        """The source, or the engine over the source and the overlay when ``expr`` reads
        what the backtest records."""
        info = reads(expr)
        if not any(info.may_read_output(n) for n in self.recorded_names):
            return self.query
        shadow = ShadowQuerier(self.querier, self.overlay, frozenset(self.recorded_names))
        return LocalQueryAPI(lambda: shadow, self.engine)

    def _points(self, p: _Placed) -> tuple[Points, Grid]:
        """The rule's result over its grid (queried at ``t - query_offset``)."""
        grid = self._grid(p).shifted(-(p.group.query_offset_ms or 0))
        api = self._api(p.spec.expr)
        parts = []
        chunk = max(1, self.options.chunk_steps)
        for first in range(0, grid.n, chunk):
            sub = Grid(
                grid.start_ms + first * grid.step_ms, grid.step_ms, min(chunk, grid.n - first)
            )
            res = api.range(p.spec.expr, sub.start_ms, sub.end_ms, sub.step_ms)
            parts.append(points(res, grid))
        return _concat(parts), grid

    def _record(self, p: _Placed) -> RuleOutcome:
        started = time.perf_counter()
        rule = build_recording(p.group, p.spec)
        try:
            pts, grid = self._points(p)
            out = recorded(rule, pts, p.group.limit)
        except (KubepromError, RangeUnsupported) as err:
            return self._outcome(p, "recording", error=str(err), started=started)
        if len(out):
            self.overlay.load(with_staleness(out, grid))
            self.recorded_names.add(p.spec.record)
        return self._outcome(p, "recording", series=len(out.labels), started=started)

    def _settings(self) -> RuleSettings:
        return RuleSettings(
            external_labels=self.options.external_labels, external_url=self.options.external_url
        )

    def _alert(self, p: _Placed) -> RuleOutcome:
        started = time.perf_counter()
        rule = build_alerting(p.group, p.spec, self._settings(), restored=True)
        try:
            pts, grid = self._points(p)
            ids, id_labels = _identities(rule, pts, grid, self.query)
            ep = episodes(
                ids, pts.steps, grid.n, grid.step_ms, rule.for_ms, rule.keep_firing_for_ms
            )
            limit = p.group.limit
            if limit > 0 and len(ep) and int(ep.active_counts(grid.n).max()) > limit:
                raise RangeUnsupported(f"exceeded limit of {limit} with more alerts")
        except (KubepromError, RangeUnsupported) as err:
            return self._outcome(p, "alerting", error=str(err), started=started)
        if self.alerts_read and len(ep):
            for pts_out in (
                alerts_points(ep, id_labels),
                for_state_points(ep, id_labels, grid),
            ):
                self.overlay.load(with_staleness(pts_out, grid))
            self.recorded_names |= {ALERT_METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME}
        found = self._episodes(rule, pts, grid, ep, id_labels, ids)
        return self._outcome(
            p, "alerting", series=len(id_labels), episodes=tuple(found), started=started
        )

    def _episodes(
        self,
        rule: AlertingRule,
        pts: Points,
        grid: Grid,
        ep: Episodes,
        id_labels: list[Labels],
        ids: I64Array,
    ) -> list[Episode]:
        """Each episode with its annotations at the step it fired (or became pending)."""
        times = grid.times() + self._grid_offset(grid)
        at = np.where(ep.fired >= 0, ep.fired, ep.active)
        key = ids * grid.n + pts.steps
        order = np.argsort(key, kind="stable")
        point = order[np.searchsorted(key, ep.rows * grid.n + at, sorter=order)]
        out = []
        for row, active, fired, last, ended, i, when in zip(
            ep.rows.tolist(),
            ep.active.tolist(),
            ep.fired.tolist(),
            ep.last.tolist(),
            ep.ended.tolist(),
            point.tolist(),
            at.tolist(),
            strict=True,
        ):
            _, annotations = rule.instance(
                pts.labels[int(pts.rows[i])], float(pts.values[i]), int(times[when]), self.query
            )
            out.append(
                Episode(
                    id_labels[row],
                    annotations,
                    int(times[active]),
                    int(times[fired]) if fired >= 0 else None,
                    int(times[last]),
                    int(times[ended]) if ended >= 0 else None,
                )
            )
        return out

    def _grid_offset(self, grid: Grid) -> int:
        """Grids are shifted back by the query offset; alerts live at evaluation times."""
        return self.options.start_ms - grid.start_ms

    def _outcome(
        self,
        p: _Placed,
        kind: str,
        *,
        started: float,
        series: int = 0,
        episodes: tuple[Episode, ...] = (),
        error: str = "",
    ) -> RuleOutcome:
        return RuleOutcome(
            p.spec.name,
            kind,
            p.group.name,
            p.file,
            p.step_ms,
            series,
            episodes,
            error,
            time.perf_counter() - started,
        )


def _concat(parts: list[Points]) -> Points:
    """Points of consecutive chunks of one grid as one (rows renumbered by labels)."""
    if len(parts) == 1:
        return parts[0]
    index: dict[Labels, int] = {}
    labels: list[Labels] = []
    rows, steps, values = [], [], []
    for p in parts:
        remap = np.empty(len(p.labels), dtype=np.int64)
        for i, lab in enumerate(p.labels):
            j = index.get(lab)
            if j is None:
                j = index[lab] = len(labels)
                labels.append(lab)
            remap[i] = j
        rows.append(remap[p.rows] if len(p.rows) else p.rows)
        steps.append(p.steps)
        values.append(p.values)
    return Points(labels, np.concatenate(rows), np.concatenate(steps), np.concatenate(values))


def _labels_vary(rule: AlertingRule) -> bool:
    """Whether templated labels may differ between evaluations of one series."""
    return any(
        "{{" in v and any(w in v for w in ("$value", ".Value", "query", "now"))
        for _, v in rule.labels
    )


def _identities(
    rule: AlertingRule, pts: Points, grid: Grid, query: QueryAPI
) -> tuple[I64Array, list[Labels]]:
    """For each point, its alert (label set after the rule's labels), and the alerts'
    labels. Two points of one alert at one step are the rule's duplicate label set error."""
    index: dict[Labels, int] = {}
    id_labels: list[Labels] = []
    if _labels_vary(rule):
        times = grid.times()
        per_point = [
            rule.instance(pts.labels[r], v, int(times[s]), query)[0]
            for r, s, v in zip(
                pts.rows.tolist(), pts.steps.tolist(), pts.values.tolist(), strict=True
            )
        ]
        ids = np.empty(len(per_point), dtype=np.int64)
        for k, lab in enumerate(per_point):
            j = index.get(lab)
            if j is None:
                j = index[lab] = len(id_labels)
                id_labels.append(lab)
            ids[k] = j
    else:
        per_row = np.empty(len(pts.labels), dtype=np.int64)
        for r, sample in enumerate(pts.labels):
            lab = rule.instance(sample, 0.0, grid.start_ms, query)[0]
            j = index.get(lab)
            if j is None:
                j = index[lab] = len(id_labels)
                id_labels.append(lab)
            per_row[r] = j
        ids = per_row[pts.rows] if len(pts.rows) else pts.rows
    key = ids * grid.n + pts.steps
    uniq, first = np.unique(key, return_index=True)
    if len(uniq) < len(key):
        dup = np.setdiff1d(np.arange(len(key)), first)[0]
        t = int(grid.times()[pts.steps[dup]])
        raise RangeUnsupported(
            "vector contains metrics with the same labelset after applying alert labels "
            f"(at {format_rfc3339(t)})"
        )
    return ids, id_labels


def alerts_points(ep: Episodes, id_labels: list[Labels]) -> Points:
    """``ALERTS`` of episodes: ``alertstate="pending"`` and ``"firing"`` (value 1) at the
    steps the alerts were in that state."""
    labels: list[Labels] = []
    rows_out, steps_out = [], []
    for state, (rows, first, count) in (
        ("pending", ep.pending_ranges()),
        ("firing", ep.firing_ranges()),
    ):
        base = len(labels)
        labels += [
            lab.with_labels({METRIC_NAME: ALERT_METRIC_NAME, ALERT_STATE_LABEL: state})
            for lab in id_labels
        ]
        rows_out.append(np.repeat(rows, count) + base)
        steps_out.append(gather_ranges(first, count))
    rows_all = np.concatenate(rows_out)
    return Points(labels, rows_all, np.concatenate(steps_out), np.ones(len(rows_all)))


def for_state_points(ep: Episodes, id_labels: list[Labels], grid: Grid) -> Points:
    """``ALERTS_FOR_STATE`` of episodes: the ``activeAt`` (Unix seconds) while active."""
    labels = [lab.with_labels({METRIC_NAME: ALERT_FOR_STATE_METRIC_NAME}) for lab in id_labels]
    count = ep.last - ep.active + 1
    rows = np.repeat(ep.rows, count)
    active_s = (grid.start_ms + ep.active * grid.step_ms) // 1000
    return Points(
        labels, rows, gather_ranges(ep.active, count), np.repeat(active_s, count).astype(float)
    )
