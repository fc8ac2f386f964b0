"""``test rules``: promtool's rule unit tests, with kubeprom's rule engine on virtual time.

:func:`run_file` runs one test file as ``promtool test rules`` 3.x does (``unittest.go``):
the rule files' groups are loaded per test group (with its external labels and URL), the
input series go into an in-memory store, every group is evaluated at each step of the file's
``evaluation_interval`` from the group's start to its latest ``eval_time``, alert tests
compare the firing alerts after the step at or before their ``eval_time`` (labels and
annotations, sorted), and expression tests run an instant query at their ``eval_time`` over
what was loaded and recorded. A rule that fails to evaluate stops the test group with
promtool's ``rule: NAME, time: T, err: ...``. Nothing sleeps: time is an argument.

Groups run in ``group_eval_order``; groups it does not name share the first place, where
promtool's order is that of a Go map (random). kubeprom orders those so that a group runs
after the groups whose output it reads, then by file and position: deterministic, and the
freshest data for every rule. The evaluation itself is :mod:`kubeprom.rules.unittest_eval`.

Results keep promtool's decision and failure text per assertion, plus a diff of only what
differs (:mod:`kubeprom.rules.unittest_diff`) and the lints (:mod:`kubeprom.rules.unittest_lint`).
"""

from __future__ import annotations

import glob
import math
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import re2

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.errors import ConfigError, KubepromError, RuleFileError
from kubeprom.model.gofmt import quote
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.model.series_notation import HIST
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.promql.api import QueryResult, ResultType
from kubeprom.promql.options import EngineOptions
from kubeprom.rules.alerting import AlertState
from kubeprom.rules.exprinfo import reads, reads_output
from kubeprom.rules.group import Group, GroupOptions
from kubeprom.rules.manager import RuleSettings, build_rule
from kubeprom.rules.rangeeval import Grid, RangeUnsupported
from kubeprom.rules.rulefmt import GroupSpec, RuleFile, load_rule_file
from kubeprom.rules.unittest_diff import (
    AlertView,
    Change,
    SampleView,
    alert_changes,
    alert_failure,
    expr_error,
    expr_failure,
    sample_changes,
)
from kubeprom.rules.unittest_eval import (
    AlertSnapshot,
    EmptyAnswers,
    GroupEvaluation,
    Schedule,
    StoreQuery,
    range_blocker,
    schedule,
)
from kubeprom.rules.unittest_file import (
    AlertTest,
    ExprTest,
    Pairs,
    Place,
    UnitTestFile,
    UnitTestGroup,
    load_test_file,
)
from kubeprom.rules.unittest_lint import LintWarning, lint_group
from kubeprom.tsdb.memstore import MemStore

ALERT_TEST = "alert_rule_test"
EXPR_TEST = "promql_expr_test"


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # not checked: the test group stopped before (rule error, bad input)


class EvalMode(StrEnum):
    AUTO = "auto"  # a whole range per rule where that equals step by step
    STEPS = "steps"  # always step by step, as promtool


@dataclass(frozen=True, slots=True)
class RunOptions:
    """``run``: regular expressions (RE2, unanchored) of test group names to run.
    ``engine``: engine settings (Prometheus 3.x by default; the 2.x-windows switch is for
    showing that a difference from promtool 2.x is that change)."""

    run: tuple[str, ...] = ()
    ignore_unknown_fields: bool = False
    engine: EngineOptions = field(default_factory=EngineOptions)
    mode: EvalMode = EvalMode.AUTO


@dataclass(frozen=True, slots=True)
class AssertionResult:
    kind: str
    index: int
    place: Place
    eval_ms: int
    subject: str
    verdict: Verdict
    message: str = ""
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One test group. ``messages`` are promtool's failure texts in promtool's order;
    ``mode`` how it was evaluated (``range``, or ``steps`` and why)."""

    index: int
    name: str
    place: Place
    assertions: tuple[AssertionResult, ...]
    messages: tuple[str, ...]
    warnings: tuple[LintWarning, ...]
    mode: str
    seconds: float

    @property
    def failed(self) -> bool:
        return bool(self.messages)


@dataclass(frozen=True, slots=True)
class FileResult:
    """One test file. ``errors`` stop the whole file (it does not parse, a repeated
    ``group_eval_order`` name); ``notices`` are promtool's warnings (unmatched globs)."""

    path: str
    groups: tuple[GroupResult, ...] = ()
    errors: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(g.failed for g in self.groups)

    @property
    def warnings(self) -> list[LintWarning]:
        return [w for g in self.groups for w in g.warnings]


class RuleSource:
    """Rule files parsed once per run (a test file's groups are rebuilt per test group)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[RuleFile, list[RuleFileError]]] = {}

    def load(self, path: str) -> tuple[RuleFile, list[RuleFileError]]:
        found = self._files.get(path)
        if found is None:
            found = self._files[path] = load_rule_file(path)
        return found


@dataclass
class Runner:
    """Runs test files; shares parsed rule files and empty-store answers between them."""

    options: RunOptions = field(default_factory=RunOptions)
    rules: RuleSource = field(default_factory=RuleSource)
    _empty: dict[EngineOptions, EmptyAnswers] = field(default_factory=dict)
    _plans: dict[tuple[tuple[str, ...], tuple[str, ...]], _Plan] = field(default_factory=dict)
    clock: Clock = field(default_factory=RealClock)  # times each group's run

    def run_file(self, path: str) -> FileResult:
        prepared = self._prepare(path)
        if isinstance(prepared, FileResult):
            return prepared
        tf, plan, notices = prepared
        groups = tuple(self.run_group(tf, tg, plan) for tg in self._selected(tf))
        return FileResult(path, groups, notices=tuple(notices))

    def evaluations(
        self, path: str, only: Container[int] | None = None
    ) -> Iterator[tuple[UnitTestGroup, GroupEvaluation, str]]:
        """Each runnable test group of a file (those whose index is in ``only``, if given)
        with its evaluation and how it was evaluated (for looking inside: the stores, the
        alert snapshots)."""
        prepared = self._prepare(path)
        if isinstance(prepared, FileResult):
            raise ConfigError("; ".join(prepared.errors), file=path)
        tf, plan, _ = prepared
        for tg in self._selected(tf):
            if (only is None or tg.index in only) and not self._problem(tg, plan):
                ev, mode = self._evaluate(tf, tg, plan)
                yield tg, ev, mode

    def _prepare(self, path: str) -> tuple[UnitTestFile, _Plan, list[str]] | FileResult:
        try:
            tf = load_test_file(path, ignore_unknown_fields=self.options.ignore_unknown_fields)
        except ConfigError as err:
            return FileResult(path, errors=(str(err),))
        except OSError as err:
            return FileResult(path, errors=(f"{path}: {err.strerror or err}",))
        except UnicodeDecodeError as err:
            return FileResult(path, errors=(f"{path}: not UTF-8 text: {err.reason}",))
        seen: set[str] = set()
        for name in tf.group_eval_order:
            if name in seen:
                return FileResult(
                    path, errors=(f"group name repeated in evaluation order: {name}",)
                )
            seen.add(name)
        files: list[str] = []
        notices = []
        for pattern in tf.rule_files:
            matched = sorted(glob.glob(pattern))
            if not matched:
                notices.append(f"no file match pattern {pattern}")
            files += matched
        return tf, self._plan(tf, files), notices

    def _selected(self, tf: UnitTestFile) -> list[UnitTestGroup]:
        if not self.options.run:
            return list(tf.tests)
        run = re2.compile("|".join(self.options.run))
        return [tg for tg in tf.tests if run.search(tg.name) is not None]

    def _plan(self, tf: UnitTestFile, files: Sequence[str]) -> _Plan:
        """The rule groups of a test file in evaluation order, analysed once for all test
        groups of the files that name the same rule files and order."""
        key = (tuple(files), tf.group_eval_order)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(tf, files)
        return plan

    def _make_plan(self, tf: UnitTestFile, files: Sequence[str]) -> _Plan:
        load_errors: list[str] = []
        specs: list[tuple[str, GroupSpec]] = []
        for path in files:
            rule_file, errs = self.rules.load(path)
            load_errors += [str(e) for e in errs]
            specs += [(path, g) for g in rule_file.groups]
        if load_errors:
            return _Plan([], Schedule((), ()), "", "\n".join(load_errors))
        ordered = order_groups(specs, tf.group_eval_order)
        rules = [r for _, g in ordered for r in g.rules]
        blocker = range_blocker(rules)
        if self.options.mode is EvalMode.STEPS:
            blocker = "asked for"
        plan = (
            Schedule((), ()) if blocker else schedule([(r.record, r.alert, r.expr) for r in rules])
        )
        return _Plan(ordered, plan, blocker or plan.cycle, "")

    # ---- one test group -------------------------------------------------------------------
    def run_group(self, tf: UnitTestFile, tg: UnitTestGroup, plan: _Plan) -> GroupResult:
        started = self.clock.monotonic_ns()
        problem = self._problem(tg, plan)
        if problem:
            return self._stopped(tg, (problem,), started)
        ev, mode = self._evaluate(tf, tg, plan)
        return self._check(tf, tg, ev, mode, started)

    @staticmethod
    def _problem(tg: UnitTestGroup, plan: _Plan) -> str:
        """What keeps a test group from being evaluated at all, or ``""``."""
        problem = tg.input_error or _missing_alertname(tg) or plan.load_error
        if not problem and any(HIST in s.items for s in tg.input_series):
            problem = "native histogram input series are not supported by kubeprom"
        return problem

    def _stopped(self, tg: UnitTestGroup, errors: tuple[str, ...], started: int) -> GroupResult:
        asserts = tuple(
            AssertionResult(
                ALERT_TEST, i, t.place, t.eval_ms, t.alertname, Verdict.ERROR, errors[0]
            )
            for i, t in enumerate(tg.alert_tests)
        ) + tuple(
            AssertionResult(EXPR_TEST, i, e.place, e.eval_ms, e.expr, Verdict.ERROR, errors[0])
            for i, e in enumerate(tg.expr_tests)
        )
        return GroupResult(
            tg.index,
            tg.display_name,
            tg.place,
            asserts,
            errors,
            (),
            "none",
            elapsed_s(self.clock, started),
        )

    def _evaluate(
        self, tf: UnitTestFile, tg: UnitTestGroup, plan: _Plan
    ) -> tuple[GroupEvaluation, str]:
        blocker = plan.blocker
        if not blocker:
            ev = self._setup(tf, tg, plan.ordered)
            try:
                ev.run_range(plan.schedule)
            except RangeUnsupported as err:
                blocker = str(err)
            else:
                return ev, "range"
        ev = self._setup(tf, tg, plan.ordered)
        ev.run_steps()
        return ev, f"steps ({blocker})"

    def _setup(
        self, tf: UnitTestFile, tg: UnitTestGroup, ordered: list[tuple[str, GroupSpec]]
    ) -> GroupEvaluation:
        start = tg.start_ms or 0
        ei = tf.evaluation_interval_ms
        grid = Grid(start, ei, tg.max_eval_ms // ei + 1)
        store = MemStore()
        inputs = _input_samples(tg, grid.end_ms)
        engine = test_engine(self.options.engine, ei)
        empty = self._empty.get(engine)
        if empty is None:
            empty = self._empty[engine] = EmptyAnswers(engine)
        query = StoreQuery(store, engine, empty)
        compare: dict[int, set[str]] = {}
        for t in tg.alert_tests:
            compare.setdefault(t.eval_ms // ei, set()).add(t.alertname)
        return GroupEvaluation(
            self._groups(tg, ordered, store, query),
            store,
            query,
            grid,
            {k: frozenset(v) for k, v in compare.items()},
            inputs=inputs,
            known=set(inputs),
        )

    def _groups(
        self,
        tg: UnitTestGroup,
        ordered: list[tuple[str, GroupSpec]],
        store: MemStore,
        query: StoreQuery,
    ) -> list[Group]:
        settings = RuleSettings(
            external_labels=dict(tg.external_labels), external_url=tg.external_url
        )
        options = GroupOptions(
            query=query, appender=store.appender, default_interval_ms=tg.interval_ms
        )
        return [
            Group(
                spec.name,
                path,
                [build_rule(spec, r, settings, restored=True) for r in spec.rules],
                options,
                interval_ms=spec.interval_ms,
                query_offset_ms=spec.query_offset_ms,
                limit=spec.limit,
            )
            for path, spec in ordered
        ]

    # ---- checking --------------------------------------------------------------------------
    def _check(
        self, tf: UnitTestFile, tg: UnitTestGroup, ev: GroupEvaluation, mode: str, started: int
    ) -> GroupResult:
        ei = tf.evaluation_interval_ms
        results: list[AssertionResult] = []
        alert_messages: list[tuple[int, int, str]] = []
        for i, t in enumerate(tg.alert_tests):
            k = t.eval_ms // ei
            if ev.error_step is not None and k >= ev.error_step:
                results.append(
                    AssertionResult(
                        ALERT_TEST,
                        i,
                        t.place,
                        t.eval_ms,
                        t.alertname,
                        Verdict.ERROR,
                        ev.errors[-1],
                    )
                )
                continue
            res = self._check_alert(tg, t, i, ev, k)
            results.append(res)
            if res.message:
                alert_messages.append((t.eval_ms, i, res.message))
        messages = [m for _, _, m in sorted(alert_messages)] + ev.errors
        for i, e in enumerate(tg.expr_tests):
            if ev.error_step is not None:
                results.append(
                    AssertionResult(
                        EXPR_TEST, i, e.place, e.eval_ms, e.expr, Verdict.ERROR, ev.errors[-1]
                    )
                )
                continue
            res = self._check_expr(tf, tg, e, i, ev)
            results.append(res)
            if res.message:
                messages.append(res.message)
        warnings = lint_group(tf, tg, ev.groups)
        return GroupResult(
            tg.index,
            tg.display_name,
            tg.place,
            tuple(results),
            tuple(messages),
            tuple(warnings),
            mode,
            elapsed_s(self.clock, started),
        )

    def _check_alert(
        self, tg: UnitTestGroup, t: AlertTest, i: int, ev: GroupEvaluation, k: int
    ) -> AssertionResult:
        start = ev.grid.start_ms
        found = ev.snapshots.get((k, t.alertname), [])
        got = sorted(
            (_view(a, start) for a in found if a.state is AlertState.FIRING), key=_alert_key
        )
        others = [_view(a, start) for a in found if a.state is not AlertState.FIRING]
        exp = sorted(
            (
                AlertView(
                    tuple(sorted({**dict(a.labels), "alertname": t.alertname}.items())),
                    a.annotations,
                )
                for a in t.exp_alerts
            ),
            key=_alert_key,
        )
        if [a.key for a in exp] == [a.key for a in got]:
            return AssertionResult(ALERT_TEST, i, t.place, t.eval_ms, t.alertname, Verdict.PASSED)
        return AssertionResult(
            ALERT_TEST,
            i,
            t.place,
            t.eval_ms,
            t.alertname,
            Verdict.FAILED,
            alert_failure(tg.name, t.alertname, t.eval_ms, exp, got),
            tuple(alert_changes(exp, got, others)),
        )

    def _check_expr(
        self, tf: UnitTestFile, tg: UnitTestGroup, e: ExprTest, i: int, ev: GroupEvaluation
    ) -> AssertionResult:
        def fail(message: str, changes: Sequence[Change] = ()) -> AssertionResult:
            return AssertionResult(
                EXPR_TEST, i, e.place, e.eval_ms, e.expr, Verdict.FAILED, message, tuple(changes)
            )

        try:
            res = ev.query.instant(e.expr, ev.grid.start_ms + e.eval_ms)
        except KubepromError as err:
            return fail(expr_error(e.expr, e.eval_ms, str(err)))
        got_samples = _samples(res)
        if got_samples is None:
            return fail(expr_error(e.expr, e.eval_ms, "rule result is not a vector or scalar"))
        for s in e.exp_samples:
            if s.labels is None:
                return fail(
                    expr_error(e.expr, e.eval_ms, f"labels {quote(s.labels_text)}: {s.error}")
                )
        exp = sorted(
            (
                SampleView(_pairs(s.labels), s.value, s.histogram)
                for s in e.exp_samples
                if s.labels is not None
            ),
            key=lambda s: s.labels,
        )
        got = sorted(got_samples, key=lambda s: s.labels)
        if len(exp) == len(got) and all(
            a.labels == b.labels
            and a.histogram == b.histogram
            and _same_float(a.value, b.value, fuzzy=tf.fuzzy_compare)
            for a, b in zip(exp, got, strict=True)
        ):
            return AssertionResult(EXPR_TEST, i, e.place, e.eval_ms, e.expr, Verdict.PASSED)
        matched = {
            (a.labels, a.value)
            for a in exp
            for b in got
            if a.labels == b.labels and _same_float(a.value, b.value, fuzzy=tf.fuzzy_compare)
        }
        changes = sample_changes(
            [a for a in exp if (a.labels, a.value) not in matched],
            [b for b in got if not any(b.labels == lab for lab, _ in matched)],
        )
        return fail(expr_failure(e.expr, e.eval_ms, exp, got), changes)


def test_engine(base: EngineOptions, evaluation_interval_ms: int) -> EngineOptions:
    """promtool's test engine: subqueries without a step use the evaluation interval;
    negative offsets and ``@`` are on (they always are in kubeprom)."""
    return replace(base, subquery_step_ms=evaluation_interval_ms)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A test file's rule groups in evaluation order and how to evaluate them: ``blocker``
    says why not a rule at a time over the whole range; ``load_error`` a rule file that
    does not load (every test group fails with it)."""

    ordered: list[tuple[str, GroupSpec]]
    schedule: Schedule
    blocker: str
    load_error: str


def _missing_alertname(tg: UnitTestGroup) -> str:
    for t in tg.alert_tests:
        if not t.alertname:
            where = f" (in UnitTestGroup {tg.name})" if tg.name else ""
            return (
                "an item under alert_rule_test misses required attribute alertname at "
                f"eval_time {format_duration_ms(t.eval_ms)}{where}"
            )
    return ""


def _input_samples(tg: UnitTestGroup, till_ms: int) -> dict[Labels, tuple[I64Array, F64Array]]:
    """Each input series' samples at or before ``till_ms`` (a later series of the same
    labels replaces an earlier one)."""
    out: dict[Labels, tuple[I64Array, F64Array]] = {}
    start = tg.start_ms or 0
    for s in tg.input_series:
        pos = [i for i, v in enumerate(s.items) if isinstance(v, float)]
        t = start + tg.interval_ms * np.asarray(pos, dtype=np.int64)
        v = np.asarray([s.items[i] for i in pos], dtype=np.float64)
        keep = t <= till_ms
        out[s.labels] = (t[keep], v[keep])
    return out


def order_groups(
    specs: Sequence[tuple[str, GroupSpec]], order: Sequence[str]
) -> list[tuple[str, GroupSpec]]:
    """Groups in evaluation order: by ``group_eval_order`` position (unnamed groups share the
    first), equal positions so that a group follows those whose output it reads (when they
    do not read each other), then in file order."""
    rank = {name: i for i, name in enumerate(order)}
    by_rank: dict[int, list[int]] = {}
    for i, (_, g) in enumerate(specs):
        by_rank.setdefault(rank.get(g.name, 0), []).append(i)
    out: list[tuple[str, GroupSpec]] = []
    for r in sorted(by_rank):
        members = by_rank[r]
        needs = {
            i: {j for j in members if j != i and _reads(specs[i][1], specs[j][1])} for i in members
        }
        done: set[int] = set()
        while len(done) < len(members):
            ready = [i for i in members if i not in done and needs[i] <= done]
            pick = ready[0] if ready else next(i for i in members if i not in done)
            done.add(pick)
            out.append(specs[pick])
    return out


def _reads(reader: GroupSpec, writer: GroupSpec) -> bool:
    return any(
        reads_output(reads(r.expr), w.record, w.alert) for r in reader.rules for w in writer.rules
    )


def _pairs(labels: Labels) -> Pairs:
    return tuple(labels)


def _view(a: AlertSnapshot, start_ms: int) -> AlertView:
    return AlertView(
        tuple(a.labels), tuple(a.annotations), a.state.value, a.active_at_ms - start_ms, a.for_ms
    )


def _alert_key(a: AlertView) -> tuple[Pairs, Pairs]:
    return a.key


def _samples(res: QueryResult) -> list[SampleView] | None:
    if res.result_type is ResultType.SCALAR:
        return [SampleView((), float(res.v[0]))]
    if res.result_type is not ResultType.VECTOR:
        return None
    return [SampleView(tuple(lab), float(v[-1])) for lab, _, v in res.series()]


def _same_float(a: float, b: float, *, fuzzy: bool) -> bool:
    if a == b:
        return True
    return fuzzy and (math.nextafter(a, -math.inf) == b or math.nextafter(a, math.inf) == b)
