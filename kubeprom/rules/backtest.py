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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.errors import KubepromError, RuleFileError
from kubeprom.model.csr import gather_ranges
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.samples import STALE_NAN, I64Array
from kubeprom.model.timeutil import format_rfc3339
from kubeprom.promql.api import LocalQueryAPI, QueryAPI, QueryResult, ResultType
from kubeprom.promql.options import EngineOptions
from kubeprom.rules.alerting import (
    ALERT_FOR_STATE_METRIC_NAME,
    ALERT_METRIC_NAME,
    ALERT_STATE_LABEL,
    AlertingRule,
)
from kubeprom.rules.alertstates import Episodes, episodes
from kubeprom.rules.backtest_source import MAX_CACHED_REACH_MS, SelectionCache, ShadowQuerier
from kubeprom.rules.exprinfo import reach_ms, reads, required
from kubeprom.rules.manager import RuleSettings, build_alerting, build_recording
from kubeprom.rules.rangeeval import (
    Grid,
    Points,
    RangeUnsupported,
    points,
    recorded,
    with_staleness,
)
from kubeprom.rules.recording import RecordingRule
from kubeprom.rules.rulefmt import GroupSpec, RuleSpec, load_rule_file
from kubeprom.rules.unittest_eval import schedule
from kubeprom.tsdb.api import Querier
from kubeprom.tsdb.memstore import MemStore

DEFAULT_INTERVAL_MS = 60_000
DEFAULT_CHUNK_STEPS = 1440  # a day at 1m per range query: Prometheus allows 11,000 points
OVERLAY_CACHE_BYTES = 128 << 20


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
class _Run:
    """One rule being backtested: its place, its grid (query times: shifted back by the
    group's query offset), and what it has gathered so far."""

    file: str
    group: GroupSpec
    spec: RuleSpec
    step_ms: int
    grid: Grid
    rule: RecordingRule | AlertingRule
    parts: list[Points] = field(default_factory=list)
    carry: set[Labels] = field(default_factory=set)  # recorded series present at the last step
    written: set[Labels] = field(default_factory=set)
    error: str = ""
    seconds: float = 0.0


class Backtest:
    """Runs a backtest.

    ``query`` answers the rules (any Prometheus-compatible query API); ``querier`` gives the
    raw samples of the same history, read by kubeprom's engine for rules that read what the
    backtest records. With ``local`` (a local store), kubeprom's engine answers every rule:
    a chunk of time at a time, each selection read from the store once per chunk, and a
    rule whose required input does not exist in the chunk is not evaluated at all
    (:func:`~kubeprom.rules.exprinfo.required`).
    """

    def __init__(
        self,
        query: QueryAPI,
        querier: Callable[[], Querier],
        options: BacktestOptions,
        engine: EngineOptions | None = None,
        *,
        local: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.query = query
        self._clock: Clock = clock or RealClock()  # times each rule's evaluation
        self.querier = querier
        self.options = options
        self.engine = engine or EngineOptions()
        self.local = local
        # Readers of recorded series reach back into the chunk before: its decoded frames
        # stay cached (a day of a few hundred recorded series is tens of MB).
        self.overlay = MemStore(frame_cache_bytes=OVERLAY_CACHE_BYTES)
        self.recorded_names: set[str] = set()
        self.alerts_read = False
        self._cache: SelectionCache | None = None  # the last chunk's, for the next one

    def run(self, files: Sequence[str]) -> BacktestResult:
        o = self.options
        if o.end_ms < o.start_ms:
            raise RuleFileError("the backtest's end is before its start")
        runs: list[_Run] = []
        settings = RuleSettings(external_labels=o.external_labels, external_url=o.external_url)
        for path in files:
            rule_file, errors = load_rule_file(path)
            if errors:
                raise errors[0]
            for g in rule_file.groups:
                step = o.step_ms or g.interval_ms or DEFAULT_INTERVAL_MS
                grid = Grid(o.start_ms, step, (o.end_ms - o.start_ms) // step + 1)
                for r in g.rules:
                    rule: RecordingRule | AlertingRule = (
                        build_alerting(g, r, settings, restored=True)
                        if r.alert
                        else build_recording(g, r)
                    )
                    shifted = grid.shifted(-(g.query_offset_ms or 0))
                    runs.append(_Run(path, g, r, step, shifted, rule))
        self.alerts_read = any(
            reads(r.spec.expr).may_read_output(n)
            for r in runs
            for n in (ALERT_METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME)
        )
        recording = [r for r in runs if r.spec.record]
        alerting = [r for r in runs if r.spec.alert]
        ordered = self._ordered(recording) + self._ordered(alerting)
        chunk_ms = max(1, o.chunk_steps) * min(
            (r.step_ms for r in runs), default=DEFAULT_INTERVAL_MS
        )
        lo = o.start_ms
        while lo <= o.end_ms:
            hi = min(lo + chunk_ms - 1, o.end_ms)
            self._chunk(ordered, lo, hi)
            lo = hi + 1
        self._cache = None
        outcomes = {id(r): self._finish(r) for r in ordered}
        return BacktestResult(o.start_ms, o.end_ms, tuple(outcomes[id(r)] for r in runs))

    @staticmethod
    def _ordered(runs: list[_Run]) -> list[_Run]:
        plan = schedule([(r.spec.record, r.spec.alert, r.spec.expr) for r in runs])
        return [runs[i] for i in plan.order] if not plan.cycle else runs

    # ---- one chunk of time ---------------------------------------------------------------------
    def _chunk(self, runs: list[_Run], lo: int, hi: int) -> None:
        """Evaluate every rule at its evaluation times in ``[lo, hi]``."""
        cache = None
        if self.local:
            cache = self._cache = SelectionCache(
                self.querier(), lo - MAX_CACHED_REACH_MS, hi, self._cache
            )
        for run in runs:
            if run.error:
                continue
            started = self._clock.monotonic_ns()
            offset = run.group.query_offset_ms or 0
            g = run.grid
            first = max(0, -(-(lo - offset - g.start_ms) // g.step_ms))
            last = min(g.n - 1, (hi - offset - g.start_ms) // g.step_ms)
            if first > last:
                continue
            try:
                pts = self._evaluate(run, first, last, cache)
                if isinstance(run.rule, RecordingRule):
                    self._write(run, recorded(run.rule, pts, run.group.limit), first, last)
                else:
                    run.parts.append(pts)
            except (KubepromError, RangeUnsupported) as err:
                run.error = str(err)
            run.seconds += elapsed_s(self._clock, started)

    def _evaluate(self, run: _Run, first: int, last: int, cache: SelectionCache | None) -> Points:
        g = run.grid
        start = g.start_ms + first * g.step_ms
        end = g.start_ms + last * g.step_ms
        expr = run.spec.expr
        if cache is not None and self._input_missing(expr, start, end, cache):
            return points(QueryResult(ResultType.MATRIX), g)
        return points(self._api(expr, cache).range(expr, start, end, g.step_ms), g)

    def _input_missing(self, expr: str, start: int, end: int, cache: SelectionCache) -> bool:
        """Whether a selector the result needs selects no series around ``[start, end]``."""
        reach = reach_ms(expr, self.engine.lookback_ms)
        if reach is None:
            return False
        for sel in required(expr):
            name = sel.metric_name
            shadowed = name is not None and name in self.recorded_names
            if self.overlay.has_series(sel.matchers):
                continue
            if shadowed or not cache.has_series(sel.matchers, start - reach, end):
                return True
        return False

    def _api(self, expr: str, cache: SelectionCache | None) -> QueryAPI:
        """The engine over the store (through the chunk's cache) and the overlay, or the
        source itself for a rule that reads nothing recorded (the ``--server`` case)."""
        base: Callable[[], Querier] = (lambda: cache) if cache is not None else self.querier
        if cache is None and not any(reads(expr).may_read_output(n) for n in self.recorded_names):
            return self.query
        shadow = ShadowQuerier(base, self.overlay, frozenset(self.recorded_names))
        return LocalQueryAPI(lambda: shadow, self.engine)

    def _write(self, run: _Run, out: Points, first: int, last: int) -> None:
        """A recording rule's output for steps ``first..last`` into the overlay, with the
        staleness markers of series that stopped at ``first`` (they were present at the
        last step of the chunk before)."""
        present_first = {out.labels[r] for r in out.rows[out.steps == first].tolist()}
        gone = sorted(run.carry - present_first)
        series = with_staleness(out, run.grid, stop=last + 1)
        t_first = run.grid.start_ms + first * run.grid.step_ms
        for lab in gone:
            t, v = series.get(lab, (np.empty(0, np.int64), np.empty(0)))
            series[lab] = (np.insert(t, 0, t_first), np.insert(v, 0, STALE_NAN))
        if series:
            self.overlay.load(series)
            self.recorded_names.add(run.spec.record)
        run.written.update(out.labels[r] for r in np.unique(out.rows).tolist())
        run.carry = {out.labels[r] for r in out.rows[out.steps == last].tolist()}

    # ---- after the last chunk ------------------------------------------------------------------
    def _finish(self, run: _Run) -> RuleOutcome:
        if isinstance(run.rule, RecordingRule):
            return self._outcome(run, series=len(run.written))
        started = self._clock.monotonic_ns()
        if not run.error:
            try:
                outcome = self._alert(run, run.rule)
            except (KubepromError, RangeUnsupported) as err:
                run.error = str(err)
            else:
                run.seconds += elapsed_s(self._clock, started)
                return outcome
        return self._outcome(run)

    def _alert(self, run: _Run, rule: AlertingRule) -> RuleOutcome:
        grid = run.grid
        pts = _concat(run.parts) if run.parts else points(QueryResult(ResultType.MATRIX), grid)
        ids, id_labels = _identities(rule, pts, grid, self.query)
        ep = episodes(ids, pts.steps, grid.n, grid.step_ms, rule.for_ms, rule.keep_firing_for_ms)
        limit = run.group.limit
        if limit > 0 and len(ep) and int(ep.active_counts(grid.n).max()) > limit:
            raise RangeUnsupported(f"exceeded limit of {limit} with more alerts")
        if self.alerts_read and len(ep):
            for pts_out in (alerts_points(ep, id_labels), for_state_points(ep, id_labels, grid)):
                self.overlay.load(with_staleness(pts_out, grid))
            self.recorded_names |= {ALERT_METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME}
        found = self._episodes(rule, pts, grid, ep, id_labels, ids)
        return self._outcome(run, series=len(id_labels), episodes=tuple(found))

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
        times = grid.times() + (self.options.start_ms - grid.start_ms)
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

    def _outcome(
        self, run: _Run, *, series: int = 0, episodes: tuple[Episode, ...] = ()
    ) -> RuleOutcome:
        return RuleOutcome(
            run.spec.name,
            run.spec.kind.value,
            run.group.name,
            run.file,
            run.step_ms,
            series,
            episodes,
            run.error,
            run.seconds,
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
