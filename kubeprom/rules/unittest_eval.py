"""Evaluating the rule groups of one unit-test group, as promtool does, fast.

promtool loads the input series lazily and, for each time ``ts = start + k *
evaluation_interval`` up to the latest ``eval_time``, appends the input samples at or before
``ts`` and evaluates every group at ``ts`` in order (``unittest.go``); alert tests compare the
firing alerts after the step at or before their ``eval_time``. Input samples after the last
step are never loaded, so ``promql_expr_test`` queries do not see them either.

:meth:`GroupEvaluation.run_steps` does exactly that with kubeprom's groups
(:meth:`~kubeprom.rules.group.Group.evaluate`) over a :class:`MemStore` that the input
samples are appended to step by step. :meth:`GroupEvaluation.run_range` gets the same store
and alert states with about one range query per rule, in dependency order: a recording rule
writes its whole output (staleness markers included) before the rules that read it run, and
each alerting rule's state machine (:class:`~kubeprom.rules.alerting.AlertingRule`,
templates and all) steps through its range result, only at the steps where it has a result
or an active alert. A rule that reads what is written after it at a step (a later rule,
itself, a rule with a larger query offset) steps through the grid over a view of the store
that hides what was not yet written (:class:`DelayedView`). Expressions that look past their
evaluation time (negative offsets, ``@``) and templates that query are evaluated step by step
(:func:`range_blocker`); anything else the range evaluation cannot reproduce exactly (a rule
error, colliding output series, a limit, rules reading each other) raises
:class:`~kubeprom.rules.rangeeval.RangeUnsupported`, and the caller evaluates step by step.

Both answer an expression none of whose selectors matches a series in the store from
:class:`EmptyAnswers`, computed once per expression and times for a whole run: most rules of a
rule file read nothing a given test loads.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from kubeprom.errors import KubepromError, ParseError
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import STALE_NAN, F64Array, I64Array
from kubeprom.model.timeutil import format_go_duration
from kubeprom.promql.api import LocalQueryAPI, QueryAPI, QueryResult, ResultType
from kubeprom.promql.options import EngineOptions
from kubeprom.rules.alerting import AlertingRule, AlertState
from kubeprom.rules.exprinfo import ExprReads, reads, reads_output
from kubeprom.rules.group import Group
from kubeprom.rules.rangeeval import (
    Grid,
    Points,
    RangeUnsupported,
    points,
    recorded,
    step_vectors,
    with_staleness,
)
from kubeprom.rules.recording import RecordingRule
from kubeprom.rules.rule import Rule
from kubeprom.rules.rulefmt import RuleSpec
from kubeprom.tsdb.api import MAX_TIME, AppendStats, SelectView, SeriesSet
from kubeprom.tsdb.memstore import MemStore

Series = Mapping[Labels, tuple[I64Array, F64Array]]

# Answers over an empty store are computed this many steps ahead, then cut: unit tests of one
# file mostly share a start and a step and differ in their last eval_time.
EMPTY_RANGE_STEPS = 1024


@dataclass(frozen=True, slots=True)
class AlertSnapshot:
    """An alert of a tested rule at a comparison step (times in ms since the epoch)."""

    labels: Labels
    annotations: Labels
    state: AlertState
    active_at_ms: int
    for_ms: int


Snapshots = dict[tuple[int, str], list[AlertSnapshot]]
"""(step index, alert name) -> the alerts of every rule of that name after that step."""


class EmptyAnswers:
    """Query answers over an empty store, memoised by expression and times; shared by every
    test of a run with the same engine options.

    Such an answer depends on the evaluation times only, each step on its own, so a range
    answer is computed once for at least :data:`EMPTY_RANGE_STEPS` steps from a start and
    cut to the range asked for.
    """

    def __init__(self, options: EngineOptions) -> None:
        self.api = LocalQueryAPI(MemStore, options)
        self._instant: dict[tuple[str, int], QueryResult] = {}
        self._range: dict[tuple[str, int, int], tuple[int, QueryResult]] = {}

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        key = (expr, t_ms)
        res = self._instant.get(key)
        if res is None:
            res = self._instant[key] = self.api.instant(expr, t_ms)
        return res

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        key = (expr, start_ms, step_ms)
        found = self._range.get(key)
        if found is None or found[0] < end_ms:
            steps = max((end_ms - start_ms) // step_ms, EMPTY_RANGE_STEPS)
            steps = min(steps, self.api.options.max_points_per_series)
            far = max(start_ms + steps * step_ms, end_ms)
            found = self._range[key] = (far, self.api.range(expr, start_ms, far, step_ms))
        far, res = found
        return res if far == end_ms else cut(res, end_ms)


def cut(res: QueryResult, end_ms: int) -> QueryResult:
    """A range result without its points after ``end_ms`` (series left empty dropped)."""
    if not len(res.t) or int(res.t.max()) <= end_ms:
        return res
    keep = res.t <= end_ms
    counts = np.bincount(
        np.repeat(np.arange(len(res.labels)), np.diff(res.offsets))[keep], minlength=len(res.labels)
    )
    alive = counts > 0
    offsets = np.zeros(int(alive.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[alive], out=offsets[1:])
    labels = [lab for lab, ok in zip(res.labels, alive.tolist(), strict=True) if ok]
    return replace(res, labels=labels, t=res.t[keep], v=res.v[keep], offsets=offsets)


class StoreQuery:
    """:class:`QueryAPI` over a test's store that answers expressions reading nothing the
    store holds from :class:`EmptyAnswers`."""

    def __init__(self, store: MemStore, options: EngineOptions, empty: EmptyAnswers):
        self.store = store
        self.api = LocalQueryAPI(lambda: store, options)
        self.empty = empty
        self._names: frozenset[str] = frozenset()
        self._num_series = -1

    def reads_nothing(self, expr: str) -> bool:
        """Whether no selector of ``expr`` matches a series of the store."""
        try:
            info: ExprReads = reads(expr)
        except ParseError:  # the real query reports it
            return False
        if info.opaque:
            return False
        store = self.store
        n = store.head.num_series
        if n != self._num_series:
            self._names = frozenset(store.label_values(METRIC_NAME))
            self._num_series = n
        for sel in info.selectors:
            name = sel.metric_name
            if name is not None and name not in self._names:
                continue
            if store.has_series(sel.matchers):
                return False
        return True

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        if self.reads_nothing(expr):
            return self.empty.instant(expr, t_ms)
        return self.api.instant(expr, t_ms)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        if self.reads_nothing(expr):
            return self.empty.range(expr, start_ms, end_ms, step_ms)
        return self.api.range(expr, start_ms, end_ms, step_ms)


class _Pending:
    """Input samples in time order, handed out step by step (promtool's lazy loading)."""

    def __init__(self, labels: list[Labels], rows: I64Array, t: I64Array, v: F64Array) -> None:
        self.labels, self.rows, self.t, self.v = labels, rows, t, v
        self.next = 0

    def take(self, till_ms: int) -> dict[Labels, tuple[I64Array, F64Array]]:
        end = int(np.searchsorted(self.t, till_ms, side="right"))
        a, self.next = self.next, end
        out: dict[Labels, tuple[I64Array, F64Array]] = {}
        rows = self.rows[a:end]
        for r in np.unique(rows).tolist():
            pick = a + np.nonzero(rows == r)[0]
            out[self.labels[r]] = (self.t[pick], self.v[pick])
        return out


def _by_time(inputs: Series) -> _Pending:
    labels = list(inputs)
    counts = [len(inputs[lab][0]) for lab in labels]
    rows = np.repeat(np.arange(len(labels), dtype=np.int64), counts)
    t = np.concatenate([inputs[lab][0] for lab in labels]) if labels else np.empty(0, np.int64)
    v = np.concatenate([inputs[lab][1] for lab in labels]) if labels else np.empty(0, np.float64)
    order = np.argsort(t, kind="stable")
    return _Pending(labels, rows[order], t[order], v[order])


def _rejection(stats: AppendStats) -> str:
    """The error an append with these rejections gives (storage's words), or ``""``."""
    if stats.out_of_order:
        return "out of order sample"
    if stats.duplicate:
        return "duplicate sample for timestamp"
    if stats.out_of_bounds:
        return "out of bounds"
    return ""


class _Replay:
    """Serves an alerting rule its precomputed result for each step; anything else (no
    template queries reach here) goes to the store."""

    def __init__(self, expr: str, by_time: Mapping[int, QueryResult], other: QueryAPI) -> None:
        self.expr = expr
        self.by_time = by_time
        self.other = other
        self.empty = QueryResult(ResultType.VECTOR)

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        if expr == self.expr:
            return self.by_time.get(t_ms, self.empty)
        return self.other.instant(expr, t_ms)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        return self.other.range(expr, start_ms, end_ms, step_ms)


def range_blocker(rules: Sequence[RuleSpec]) -> str:
    """Why these rules cannot be evaluated one at a time over the whole range, or ``""``
    when they can (rules reading rules evaluated after them are handled by
    :meth:`GroupEvaluation.run_range`)."""
    for rule in rules:
        if reads(rule.expr).looks_ahead:
            return f"rule {rule.name!r} uses a negative offset or @"
        texts = (*rule.labels.values(), *rule.annotations.values())
        if any("{{" in text and "query" in text for text in texts):
            return f"alerting rule {rule.name!r} queries in a template"
    return ""


@dataclass(frozen=True, slots=True)
class Schedule:
    """An order to compute rules in (positions in evaluation order), each after every other
    rule it may read, ties by position; ``deps[p]`` what rule ``p`` may read (itself
    included). ``cycle`` names a rule of a cycle of rules reading each other (no order)."""

    order: tuple[int, ...]
    deps: tuple[frozenset[int], ...]
    cycle: str = ""


def schedule(rules: Sequence[tuple[str, str, str]]) -> Schedule:
    """The :class:`Schedule` of rules given as ``(record, alert, expr)`` in evaluation order."""
    deps: list[frozenset[int]] = []
    for _, _, expr in rules:
        info = reads(expr)
        deps.append(
            frozenset(
                q for q, (rec, alert, _) in enumerate(rules) if reads_output(info, rec, alert)
            )
        )
    waiting = {p: {q for q in deps[p] if q != p} for p in range(len(rules))}
    readers: dict[int, list[int]] = {}
    for p, ds in waiting.items():
        for q in ds:
            readers.setdefault(q, []).append(p)
    ready = [p for p, ds in waiting.items() if not ds]
    heapq.heapify(ready)
    order = []
    while ready:
        q = heapq.heappop(ready)
        order.append(q)
        for p in readers.get(q, ()):
            waiting[p].discard(q)
            if not waiting[p]:
                heapq.heappush(ready, p)
    if len(order) < len(rules):
        stuck = min(set(range(len(rules))) - set(order))
        name = rules[stuck][0] or rules[stuck][1]
        return Schedule((), tuple(deps), f"rules read each other ({name!r})")
    return Schedule(tuple(order), tuple(deps))


class DelayedView(SelectView):
    """The store as a rule sees it at the step ``at_ms`` when some series are written later
    than their timestamps say: ``delayed`` maps those series to ``lag_ms``, and only their
    samples at or before ``at_ms - lag_ms`` are seen.

    A rule evaluated after the reader at each step, with query offset ``o``, has not yet
    written its sample at ``at_ms - o``: its lag is ``o + 1``. One evaluated before the
    reader but with a larger query offset has written exactly up to ``at_ms - o``: lag
    ``o``.
    """

    def __init__(self, store: MemStore, delayed: Mapping[Labels, int]) -> None:
        super().__init__(store)
        self.delayed = delayed
        self.at_ms = MAX_TIME

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        ss = self.base.select(matchers, mint, maxt)
        cuts = [
            self.at_ms - self.delayed[lab] if lab in self.delayed else MAX_TIME for lab in ss.labels
        ]
        if not ss.labels or min(cuts) == MAX_TIME:
            return ss
        counts = np.diff(ss.offsets)
        keep = ss.t <= np.repeat(np.asarray(cuts, dtype=np.int64), counts)
        seg = np.repeat(np.arange(len(ss.labels), dtype=np.int64), counts)
        new_counts = np.bincount(seg[keep], minlength=len(ss.labels)).astype(np.int64)
        alive = new_counts > 0
        t, v = ss.t[keep], ss.v[keep]
        offsets = np.zeros(int(alive.sum()) + 1, dtype=np.int64)
        np.cumsum(new_counts[alive], out=offsets[1:])
        labels = [lab for lab, ok in zip(ss.labels, alive.tolist(), strict=True) if ok]
        return SeriesSet(labels, t, v, offsets)


@dataclass
class GroupEvaluation:
    """One test group's groups evaluated over ``grid`` (the absolute evaluation times).

    ``compare_steps`` maps a step index to the alert names compared after it. After a run,
    ``store`` holds the input and everything the rules wrote, ``query`` reads it, and
    ``snapshots`` the compared alerts; ``errors`` are promtool's rule-error lines of the step
    ``error_step`` that stopped the evaluation.
    """

    groups: list[Group]
    store: MemStore
    query: StoreQuery
    grid: Grid
    compare_steps: Mapping[int, frozenset[str]]
    inputs: Series = field(default_factory=dict)  # every input sample up to the last step
    known: set[Labels] = field(default_factory=set)  # every series in the store
    snapshots: Snapshots = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error_step: int | None = None

    # ---- step by step (promtool's loop) ----------------------------------------------------
    def run_steps(self) -> None:
        """promtool's loop: at each step the input samples up to it are appended (a rejected
        one is an error of the test group, and the groups skip that step, as in promtool),
        then every group is evaluated; a rule error stops the evaluation after the step."""
        pending = _by_time(self.inputs)
        for k, ts in enumerate(self.grid.times().tolist()):
            due = pending.take(ts)
            if due:
                stats = self.store.load(due)
                rejected = _rejection(stats)
                if rejected:
                    self.errors.append(rejected)
                    self._snapshot_all(k)
                    continue
            errors = []
            for g in self.groups:
                g.evaluate(ts)
                errors += [
                    f"    rule: {r.name}, time: {format_go_duration(ts * 1_000_000)}, "
                    f"err: {r.last_error}"
                    for r in g.rules
                    if r.last_error
                ]
            if errors:
                self.errors += errors
                self.error_step = k
                break
            self._snapshot_all(k)

    def _snapshot_all(self, k: int) -> None:
        names = self.compare_steps.get(k)
        if not names:
            return
        for g in self.groups:
            for r in g.rules:
                if isinstance(r, AlertingRule) and r.name in names:
                    self._snapshot(r, k)

    def _snapshot(self, rule: AlertingRule, k: int) -> None:
        found = self.snapshots.setdefault((k, rule.name), [])
        for a in rule.active.values():
            if a.resolved_at_ms is None:
                found.append(
                    AlertSnapshot(a.labels, a.annotations, a.state, a.active_at_ms, rule.for_ms)
                )

    # ---- a whole range per rule ---------------------------------------------------------------
    def run_range(self, plan: Schedule) -> None:
        """Raises RangeUnsupported when the result would differ from :meth:`run_steps`.

        Rules are computed in :func:`schedule` order. A rule that may read only rules
        evaluated before it with no larger query offset (or reads nothing the store has) is
        one range query; one that reads itself, a rule evaluated after it, or one before it
        with a larger query offset steps through the grid with those rules' series cut where
        they had not been written yet.
        """
        if plan.cycle:
            raise RangeUnsupported(plan.cycle)
        self.store.load(self.inputs)
        placed = [(g, r) for g in self.groups for r in g.rules]
        deps = plan.deps
        written: dict[int, list[Labels]] = {}
        for p in plan.order:
            g, rule = placed[p]
            lags = {q: self._lag(placed[q][0], q, g, p) for q in deps[p]}
            if p in deps[p] or (
                any(lag >= 0 for lag in lags.values()) and not self.query.reads_nothing(rule.expr)
            ):
                delayed = {
                    lab: lags[q]
                    for q, labs in written.items()
                    if lags.get(q, -1) >= 0
                    for lab in labs
                }
                written[p] = self._stepwise(g, rule, delayed)
                continue
            grid = self.grid.shifted(-g.query_offset_ms)
            try:
                res = self.query.range(rule.expr, grid.start_ms, grid.end_ms, grid.step_ms)
            except KubepromError as err:  # the step-by-step run reports it where it happens
                raise RangeUnsupported(f"rule {rule.name!r}: {err}") from err
            pts = points(res, grid)
            if isinstance(rule, RecordingRule):
                written[p] = self._write(recorded(rule, pts, g.limit), grid)
            elif isinstance(rule, AlertingRule):
                written[p] = self._alerts(g, rule, pts, grid)

    @staticmethod
    def _lag(writer: Group, q: int, reader: Group, p: int) -> int:
        """How far behind its timestamps rule ``q`` has written when rule ``p`` reads
        (:class:`DelayedView`), or -1 when a range query sees exactly what ``p`` would."""
        if q >= p:
            return writer.query_offset_ms + 1
        if writer.query_offset_ms > reader.query_offset_ms:
            return writer.query_offset_ms
        return -1

    def _wanted(self, rule: Rule) -> list[int]:
        return [k for k, names in self.compare_steps.items() if rule.name in names]

    def _stepwise(self, g: Group, rule: Rule, delayed: Mapping[Labels, int]) -> list[Labels]:
        view = DelayedView(self.store, delayed)
        api = LocalQueryAPI(lambda: view, self.query.api.options)
        offset = g.query_offset_ms
        wanted = set(self._wanted(rule)) if isinstance(rule, AlertingRule) else set()
        prev: set[Labels] = set()
        seen: list[Labels] = []
        seen_set: set[Labels] = set()
        for k, ts in enumerate(self.grid.times().tolist()):
            view.at_ms = ts
            try:
                vec = rule.evaluate(ts, offset, api, g.limit)
            except KubepromError as err:
                raise RangeUnsupported(f"rule {rule.name!r}: {err}") from err
            app = self.store.appender()
            refs = np.array([app.ref(lab) for lab in vec.labels], dtype=np.int64)
            stats = app.append(ts - offset, refs, vec.values)
            gone = [lab for lab in prev if lab not in set(vec.labels)]
            if gone:
                stale = np.array([app.ref(lab) for lab in gone], dtype=np.int64)
                stats.add(app.append(ts - offset, stale, np.full(len(gone), STALE_NAN)))
            stats.add(app.commit())
            if stats.out_of_order or stats.duplicate or stats.out_of_bounds:
                raise RangeUnsupported(f"rule {rule.name!r}: output rejected by the store")
            new = [lab for lab in vec.labels if lab not in prev and lab not in seen_set]
            if not self.known.isdisjoint(new):
                raise RangeUnsupported("a rule writes a series that is already there")
            seen += new
            seen_set.update(new)
            prev = set(vec.labels)
            if k in wanted and isinstance(rule, AlertingRule):
                self._snapshot(rule, k)
        self.known.update(seen)
        return seen

    def _write(self, pts: Points, grid: Grid) -> list[Labels]:
        if not len(pts):
            return []
        if not self.known.isdisjoint(pts.labels):
            raise RangeUnsupported("a rule writes a series that is already there")
        self.known.update(pts.labels)
        stats = self.store.load(with_staleness(pts, grid))
        if stats.out_of_order or stats.duplicate:
            raise RangeUnsupported("rule output rejected by the store")
        return list(pts.labels)

    def _alerts(self, g: Group, rule: AlertingRule, pts: Points, grid: Grid) -> list[Labels]:
        n = grid.n
        per_step = step_vectors(pts, n)
        wanted = self._wanted(rule)
        if not per_step:
            for k in wanted:
                self.snapshots.setdefault((k, rule.name), [])
            return []
        times = grid.times()
        by_time = {
            int(times[k]): QueryResult(
                ResultType.VECTOR,
                labels,
                np.full(len(labels), int(times[k]), dtype=np.int64),
                values,
                np.arange(len(labels) + 1, dtype=np.int64),
            )
            for k, (labels, values) in per_step.items()
        }
        replay = _Replay(rule.expr, by_time, self.query)
        nonempty = sorted(per_step)
        out_labels: list[Labels] = []
        out_index: dict[Labels, int] = {}
        rows: list[int] = []
        steps: list[int] = []
        values: list[float] = []
        wanted_set = set(wanted)
        offset = g.query_offset_ms
        eval_times = self.grid.times().tolist()
        k = nonempty[0]
        next_i = 0
        for w in wanted:
            if w < k:
                self.snapshots.setdefault((w, rule.name), [])
        while k < n:
            try:
                vec = rule.evaluate(eval_times[k], offset, replay, g.limit)
            except KubepromError as err:
                raise RangeUnsupported(f"rule {rule.name!r}: {err}") from err
            for lab, v in zip(vec.labels, vec.values.tolist(), strict=True):
                j = out_index.get(lab)
                if j is None:
                    j = out_index[lab] = len(out_labels)
                    out_labels.append(lab)
                rows.append(j)
                steps.append(k)
                values.append(v)
            if k in wanted_set:
                self._snapshot(rule, k)
            active = any(a.state is not AlertState.INACTIVE for a in rule.active.values())
            while next_i < len(nonempty) and nonempty[next_i] <= k:
                next_i += 1
            nxt = k + 1 if active else (nonempty[next_i] if next_i < len(nonempty) else n)
            for w in wanted:
                if k < w < nxt:
                    self.snapshots.setdefault((w, rule.name), [])
            k = nxt
        return self._write(
            Points(
                out_labels,
                np.asarray(rows, dtype=np.int64),
                np.asarray(steps, dtype=np.int64),
                np.asarray(values, dtype=np.float64),
            ),
            grid,
        )
