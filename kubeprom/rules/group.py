"""A rule group (``rules/group.go``): its rules evaluated in order at one time, on a schedule.

``evaluate(t_ms)`` is one iteration at the scheduled time ``t_ms``: each rule queries at
``t_ms - query_offset``, its output is appended and committed before the next rule runs (so a
rule sees what earlier rules of its group wrote), series a rule no longer returns get a
staleness marker, and a failing rule only sets its own health. ``run(clock)`` is the thin
loop: the first evaluation at the group's slot (Prometheus' hash-based offset within the
interval), then one per interval; iterations that a slow evaluation overran are counted as
missed, never queued. Tests and simulations call ``evaluate`` directly.

In a simulation (virtual clock) a group whose outputs nothing reads during the run wakes at
the same times but may put evaluations off and do a chunk of them at once (:meth:`flush`,
:mod:`kubeprom.rules.batching`): the same evaluations, the same samples in the store.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from kubeprom.clock import Clock, RealClock, VirtualClock, elapsed_s
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import STALE_NAN, I64Array, is_stale
from kubeprom.promql.api import LocalQueryAPI, QueryAPI, QueryMemo, Shapes
from kubeprom.rules.alerting import Alert, AlertingRule
from kubeprom.rules.batching import MAX_CHUNK_SPAN_MS, Batching, ChunkAnswers
from kubeprom.rules.rangeeval import Grid
from kubeprom.rules.rule import Rule, RuleHealth, Vector
from kubeprom.tsdb.api import Appender, AppendStats, Querier

log = logging.getLogger(__name__)

NotifyFn = Callable[[str, list[Alert]], None]
"""Receives the alerts to send of one alerting rule: (its expression, the alerts)."""

Executor = Callable[[Callable[[], None]], Awaitable[None]]
"""Runs one evaluation: inline on the event loop (virtual time), or in a thread (a server)."""

_EMPTY_REFS: I64Array = np.empty(0, dtype=np.int64)
_REF_CACHE_SLACK = 1000


async def inline(fn: Callable[[], None]) -> None:
    fn()


@dataclass(frozen=True, slots=True)
class GroupOptions:
    """What every group of a manager shares. Durations in ms.

    ``querier`` reads ``ALERTS_FOR_STATE`` when restoring ``for`` state (None: no restore);
    ``notify`` receives alerts to send (None: alerts are only kept); ``clock`` measures how
    long evaluations take (a :class:`~kubeprom.clock.VirtualClock` makes them take no time).
    ``store_changes`` is the store's change count (``DB.changes``): given with a
    :class:`~kubeprom.promql.api.LocalQueryAPI`, the rules of one iteration share their
    selections and sub-expression values, and label work is kept across iterations
    (:mod:`kubeprom.promql.memo`); None evaluates every rule afresh. ``batching`` (only on a
    :class:`~kubeprom.clock.VirtualClock`) lets a group whose outputs nothing reads during
    the run evaluate a chunk of its times at once (:mod:`kubeprom.rules.batching`).
    """

    query: QueryAPI
    appender: Callable[[], Appender]
    querier: Callable[[], Querier] | None = None
    notify: NotifyFn | None = None
    default_interval_ms: int = 60_000
    default_query_offset_ms: int = 0
    outage_tolerance_ms: int = 3_600_000
    for_grace_period_ms: int = 600_000
    resend_delay_ms: int = 60_000
    clock: Clock = field(default_factory=RealClock)
    store_changes: Callable[[], int] | None = None
    batching: Batching | None = None


@dataclass(slots=True)
class GroupStats:
    """Counters and gauges of one group, as Prometheus' rule metrics name them."""

    iterations_total: int = 0
    iterations_missed_total: int = 0
    evaluations_total: int = 0
    evaluation_failures_total: int = 0
    rule_eval_seconds_sum: float = 0.0
    iteration_seconds_sum: float = 0.0
    last_duration_s: float = 0.0
    last_rule_duration_sum_s: float = 0.0
    last_restore_duration_s: float = 0.0
    last_samples: int = 0
    last_eval_ms: int | None = None  # the scheduled time of the last iteration


def group_key(file: str, name: str) -> str:
    return f"{file};{name}"


class Group:
    """Rules evaluated together. ``query_offset_ms`` None takes the manager's default."""

    def __init__(
        self,
        name: str,
        file: str,
        rules: list[Rule],
        options: GroupOptions,
        *,
        interval_ms: int = 0,
        query_offset_ms: int | None = None,
        limit: int = 0,
        should_restore: bool = False,
    ) -> None:
        self.name = name
        self.file = file
        self.rules = rules
        self.options = options
        self.interval_ms = interval_ms or options.default_interval_ms
        self.query_offset_ms_setting = query_offset_ms
        self.limit = limit
        self.should_restore = should_restore
        self.stats = GroupStats()
        self._refs: list[dict[Labels, int]] = [{} for _ in rules]
        self._prev: list[I64Array] = [_EMPTY_REFS for _ in rules]
        self._stale: list[I64Array] = []  # series of an older configuration to mark stale
        self._epoch = 0  # the store's series epoch the kept refs were last checked at
        self._memo: QueryMemo | None = None  # what the running iteration's rules share
        self._shapes = Shapes(r.expr for r in rules)  # kept across iterations
        self._stop = asyncio.Event()
        self.batched = False  # set by the manager (rules.batching.why_step_by_step)
        self._pending: list[int] = []  # scheduled times not evaluated yet (batched)

    @property
    def key(self) -> str:
        return group_key(self.file, self.name)

    @property
    def query_offset_ms(self) -> int:
        if self.query_offset_ms_setting is not None:
            return self.query_offset_ms_setting
        return self.options.default_query_offset_ms

    # ---- schedule -------------------------------------------------------------------------
    def offset_ns(self) -> int:
        """Where in each interval the group runs: its labels' hash modulo the interval."""
        h = Labels([("name", self.name), ("file", self.file)]).hash()
        return h % (self.interval_ms * 1_000_000)

    def eval_timestamp(self, now_ms: int) -> int:
        """The latest slot at or before ``now_ms`` (``EvalTimestamp``), in ms."""
        interval_ns = self.interval_ms * 1_000_000
        offset = self.offset_ns()
        adj = now_ms * 1_000_000 - offset
        return (adj - adj % interval_ns + offset) // 1_000_000

    # ---- one iteration ---------------------------------------------------------------------
    def evaluate(self, t_ms: int) -> None:
        """Evaluate every rule at ``t_ms`` and record the group's timing."""
        started = self.options.clock.monotonic_ns()
        st = self.stats
        st.iterations_total += 1
        samples = 0
        query = self.options.query
        changes = self.options.store_changes
        if changes is not None and isinstance(query, LocalQueryAPI):
            if self._shapes.worthwhile:
                self._memo = QueryMemo(changes, self._shapes)
                query = query.sharing(self._memo)
            else:
                query = query.reusing(self._shapes.reuse)
        try:
            for i, rule in enumerate(self.rules):
                samples += self._evaluate_rule(i, rule, t_ms, query)
        finally:
            self._memo = None
        if self._stale:
            self._append_stale(np.concatenate(self._stale), t_ms - self.query_offset_ms)
            self._stale = []
        duration = elapsed_s(self.options.clock, started)
        st.last_samples = samples
        st.last_duration_s = duration
        st.iteration_seconds_sum += duration
        st.last_rule_duration_sum_s = sum(r.eval_duration_s for r in self.rules)
        st.last_eval_ms = t_ms

    def flush(self) -> None:
        """Evaluate the times a batched group has put off (:mod:`kubeprom.rules.batching`):
        rule by rule, each answered at every time from one range query, then appended time
        by time as :meth:`evaluate` would; the group's counters end as they would have."""
        times, self._pending = self._pending, []
        if not times:
            return
        st = self.stats
        st.iterations_total += len(times)
        offset = self.query_offset_ms
        grid = Grid(times[0] - offset, self.interval_ms, len(times))
        samples = np.zeros(len(times), dtype=np.int64)
        base = self.options.query
        for i, rule in enumerate(self.rules):
            query: QueryAPI = base
            try:
                result = base.range(rule.expr, grid.start_ms, grid.end_ms, grid.step_ms)
                query = ChunkAnswers(base, rule.expr, grid, result)
            # Whatever the range query cannot do, the instant queries at each time do (and
            # report where it happens): they read what they would have read then.
            except Exception as err:
                log.debug("range evaluation of a chunk failed rule=%s err=%s", rule.name, err)
            for k, t in enumerate(times):
                samples[k] += self._evaluate_rule(i, rule, t, query)
        st.last_samples = int(samples[-1])
        st.last_duration_s = 0.0  # on the virtual clock an evaluation takes no time
        st.last_rule_duration_sum_s = sum(r.eval_duration_s for r in self.rules)
        st.last_eval_ms = times[-1]

    def _batch(self, clock: Clock, t_ms: int) -> bool:
        """Whether the evaluation at ``t_ms`` (now) may be put off; otherwise the times put
        off so far must be evaluated first. Not when another sleeper wakes at this instant
        after the group (it may write samples stamped ``t_ms``), nor before the ``for``
        restore, nor with a reload's series to mark stale, nor off the chunk's grid."""
        if not self.batched or self.should_restore or self._stale:
            return False
        if not isinstance(clock, VirtualClock) or clock.next_deadline_ms == t_ms:
            return False
        pending = self._pending
        return not pending or t_ms == pending[-1] + self.interval_ms

    def _evaluate_rule(self, i: int, rule: Rule, t_ms: int, query: QueryAPI) -> int:
        started = self.options.clock.monotonic_ns()
        st = self.stats
        st.evaluations_total += 1
        offset = self.query_offset_ms
        try:
            try:
                vec = rule.evaluate(t_ms, offset, query, self.limit)
            # The edge where a rule's failure becomes its health: whatever went wrong, the
            # other rules still run (Prometheus logs and goes on).
            except Exception as err:
                rule.health, rule.last_error = RuleHealth.ERR, str(err)
                st.evaluation_failures_total += 1
                log.warning(
                    "evaluating rule failed group=%s rule=%s err=%s", self.name, rule.name, err
                )
                return 0
            rule.health, rule.last_error = RuleHealth.OK, ""
            if isinstance(rule, AlertingRule):
                self._send(rule, t_ms)
            self._append(i, rule, vec, t_ms - offset)
            return len(vec)
        finally:
            rule.eval_duration_s = elapsed_s(self.options.clock, started)
            rule.last_eval_ms = t_ms
            st.rule_eval_seconds_sum += rule.eval_duration_s

    def _send(self, rule: AlertingRule, t_ms: int) -> None:
        o = self.options
        alerts = rule.alerts_to_send(t_ms, o.resend_delay_ms, self.interval_ms)
        if alerts and o.notify is not None:
            o.notify(rule.query_text, alerts)

    def _drop_dead_refs(self, app: Appender) -> None:
        """After the store collected series, forget the refs that died with them."""
        epoch = app.series_epoch()
        if epoch == self._epoch:
            return
        self._epoch = epoch
        for cache in self._refs:
            if cache:
                refs = np.fromiter(cache.values(), np.int64, len(cache))
                for lab, ok in zip(list(cache), app.live(refs).tolist(), strict=True):
                    if not ok:
                        del cache[lab]
        self._prev = [p[app.live(p)] if p.size else p for p in self._prev]
        self._stale = [s[app.live(s)] for s in self._stale if s.size]

    def _append(self, i: int, rule: Rule, vec: Vector, t_ms: int) -> None:
        if not len(vec) and not self._prev[i].size:
            return  # nothing to write and nothing to mark stale
        app = self.options.appender()
        self._drop_dead_refs(app)
        cache = self._refs[i]
        if len(cache) > 2 * len(vec) + _REF_CACHE_SLACK:
            cache.clear()
        refs = np.empty(len(vec), dtype=np.int64)
        for k, lab in enumerate(vec.labels):
            ref = cache.get(lab)
            if ref is None:
                ref = cache[lab] = app.ref(lab)
            refs[k] = ref
        stats = AppendStats()
        stats.add(app.append(t_ms, refs, vec.values))
        prev = self._prev[i]
        # The same series as last time (the usual case) leave none behind.
        same = prev.size == refs.size and np.array_equal(prev, refs)
        gone = _EMPTY_REFS if same else np.setdiff1d(prev, refs)
        if gone.size:
            # Rejections of staleness markers are expected (the series may have newer data).
            app.append(t_ms, gone, np.full(gone.size, STALE_NAN))
        memo = self._memo
        before = memo.before_commit() if memo is not None else 0
        commit = app.commit()
        if memo is not None:
            # The series written and the ones marked stale (earlier outputs) carry the
            # rule's output names.
            memo.committed(before, rule.output_names())
        self._prev[i] = refs
        rejected = (
            ("out of order sample", stats.out_of_order + commit.out_of_order),
            ("duplicate sample for timestamp", stats.duplicate + commit.duplicate),
            ("out of bounds", stats.out_of_bounds + commit.out_of_bounds),
        )
        for what, n in rejected:
            if n:
                rule.health, rule.last_error = RuleHealth.ERR, what
                log.warning(
                    "rule evaluation result discarded group=%s rule=%s err=%s count=%d",
                    self.name,
                    rule.name,
                    what,
                    n,
                )

    def _append_stale(self, refs: I64Array, t_ms: int) -> None:
        app = self.options.appender()
        app.append(t_ms, np.unique(refs), np.full(np.unique(refs).size, STALE_NAN))
        app.commit()

    def mark_all_stale(self, t_ms: int) -> None:
        """End every series the group wrote (it was removed from the configuration)."""
        refs = [*self._prev, *self._stale]
        self._prev = [_EMPTY_REFS for _ in self.rules]
        self._stale = []
        if refs:
            self._append_stale(np.concatenate(refs), t_ms - self.query_offset_ms)

    # ---- for-state restore -----------------------------------------------------------------
    def restore_for_state(self, now_ms: int) -> None:
        """Give alerts that were pending or firing before a restart their old ``activeAt``
        from the newest ``ALERTS_FOR_STATE`` sample within the outage tolerance."""
        started = self.options.clock.monotonic_ns()
        o = self.options
        try:
            if o.querier is None:
                return
            querier = o.querier()
            for rule in self.rules:
                if isinstance(rule, AlertingRule):
                    self._restore_rule(rule, querier, now_ms)
                    rule.restored = True
        finally:
            self.should_restore = False
            for rule in self.rules:
                if isinstance(rule, AlertingRule):
                    rule.restored = True
            self.stats.last_restore_duration_s = elapsed_s(self.options.clock, started)

    def _restore_rule(self, rule: AlertingRule, querier: Querier, now_ms: int) -> None:
        o = self.options
        if rule.for_ms < o.for_grace_period_ms:
            return
        matchers = [Matcher(MatchType.EQUAL, n, v) for n, v in rule.for_state_matchers().items()]
        found = querier.select(matchers, now_ms - o.outage_tolerance_ms, now_ms)
        last: dict[Labels, tuple[int, float]] = {}
        for s in found:
            if len(s.t):
                last[s.labels.without(METRIC_NAME)] = (int(s.t[-1]), float(s.v[-1]))
        for alert in rule.active.values():
            sample = last.get(alert.labels)
            if sample is None or is_stale(sample[1]):
                continue
            down_ms = sample[0] // 1000 * 1000  # Go keeps whole seconds here
            active_ms = int(sample[1]) * 1000
            remaining = rule.for_ms - (down_ms - active_ms)
            if remaining <= 0:
                pass
            elif remaining < o.for_grace_period_ms:
                active_ms = now_ms + o.for_grace_period_ms - rule.for_ms
            else:
                active_ms += now_ms - down_ms
            alert.active_at_ms = active_ms
            log.debug("'for' state restored alert=%s labels=%s", rule.name, alert.labels)

    # ---- reload ----------------------------------------------------------------------------
    def equals(self, other: Group) -> bool:
        """Same definition: a reload keeps the running group (``Group.Equals``)."""
        return (
            (self.name, self.file, self.interval_ms, self.limit, self.query_offset_ms_setting)
            == (
                other.name,
                other.file,
                other.interval_ms,
                other.limit,
                other.query_offset_ms_setting,
            )
            and len(self.rules) == len(other.rules)
            and all(a.same_definition(b) for a, b in zip(self.rules, other.rules, strict=True))
        )

    def copy_state(self, old: Group) -> None:
        """Take over what ``old`` (the same group before a reload) knew (``CopyState``):
        series of each rule that still exists and active alerts; series of rules that went
        away are marked stale at the next evaluation."""
        self.stats.last_duration_s = old.stats.last_duration_s
        self.stats.last_eval_ms = old.stats.last_eval_ms
        by_key: dict[str, list[int]] = {}
        for fi, r in enumerate(old.rules):
            by_key.setdefault(r.key, []).append(fi)
        for i, rule in enumerate(self.rules):
            indexes = by_key.get(rule.key)
            if not indexes:
                continue
            fi = indexes.pop(0)
            self._prev[i], self._refs[i] = old._prev[fi], old._refs[fi]
            old_rule = old.rules[fi]
            if isinstance(rule, AlertingRule) and isinstance(old_rule, AlertingRule):
                rule.active.update(old_rule.active)
        self._stale = list(old._stale)
        for indexes in by_key.values():
            self._stale += [old._prev[fi] for fi in indexes]

    # ---- the loop --------------------------------------------------------------------------
    async def run(self, clock: Clock, executor: Executor = inline) -> None:
        """Evaluate on schedule until :meth:`stop`; restore ``for`` state after the second
        iteration when ``should_restore`` (as Prometheus does after a restart)."""
        iv = self.interval_ms
        t = self.eval_timestamp(clock.now_ms()) + iv
        if not await self._sleep_until(clock, t):
            return
        await executor(functools.partial(self.evaluate, t))
        try:
            while True:
                if not await self._sleep_until(clock, t + iv):
                    return
                missed = (clock.now_ms() - t) // iv - 1
                if missed > 0:
                    self.stats.iterations_missed_total += missed
                    self.stats.iterations_total += missed
                t += (max(missed, 0) + 1) * iv
                if self._batch(clock, t):
                    self._pending.append(t)
                    pending = self._pending
                    if len(pending) >= self._chunk_steps or t - pending[0] >= MAX_CHUNK_SPAN_MS:
                        await executor(self.flush)
                    continue
                if self._pending:
                    await executor(self.flush)
                await executor(functools.partial(self.evaluate, t))
                if self.should_restore:
                    self.restore_for_state(clock.now_ms())
        finally:
            if self._pending:
                await executor(self.flush)

    @property
    def _chunk_steps(self) -> int:
        b = self.options.batching
        return b.steps if b is not None else 1

    async def _sleep_until(self, clock: Clock, t_ms: int) -> bool:
        """Sleep until ``t_ms``; False when stopped first."""
        if self._stop.is_set():
            return False
        sleeper = asyncio.ensure_future(clock.sleep_until_ms(t_ms))
        stopper = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()
        return not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
