"""Runs Prometheus' promqltest files against the engine (``kubeprom test promql``).

Each file gets a fresh in-memory store; ``load`` adds samples, ``clear`` empties it, every
``eval`` is checked as upstream's ``promql/promqltest/test.go`` checks it: the result,
failures, annotations, order, and for instant evals the ``@``-modifier variants and the
same query run in range mode, compared at the middle step (``runInstantQuery``).

An eval is *skipped*, with its reason counted, when it needs what kubeprom leaves out:
native histograms (expected ``{{...}}`` results, or a selector matching series loaded with
histogram samples), start timestamps (``@st`` data), or syntax Prometheus 3.x accepts
only behind a feature flag (anchored/smoothed selectors, duration expressions, ...). An
expression promql-parser rejects for any other reason is not skipped: its eval fails
(unless it expects a failure).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kubeprom.errors import FormatError, KubepromError, ParseError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array, is_stale
from kubeprom.promql import ast
from kubeprom.promql.api import LocalQueryAPI, QueryResult, ResultType
from kubeprom.promql.options import EngineOptions
from kubeprom.promql.parse import parse
from kubeprom.promql.promqltest_format import (
    HIST,
    Clear,
    Eval,
    Load,
    parse_file,
)
from kubeprom.tsdb.memstore import MemStore

EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308
_MAX_FLOAT = 1.7976931348623157e308
# Functions whose result depends on the evaluation time even with @ on every selector.
AT_UNSAFE = frozenset(
    {
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "end",
        "hour",
        "minute",
        "month",
        "year",
        "predict_linear",
        "range",
        "start",
        "step",
        "time",
        "timestamp",
    }
)
_QUERY_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")


class EvalFailure(Exception):
    """One eval did not give what the file expects."""


@dataclass(frozen=True, slots=True)
class Outcome:
    file: str
    line: int
    expr: str
    status: str  # passed | failed | skipped
    detail: str = ""


@dataclass
class FileReport:
    path: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True, slots=True)
class Options:
    """Runner settings: upstream's harness uses 5m lookback and a 1m subquery step."""

    at_variants: bool = True
    range_mode: bool = True
    # Upstream's promqltest runs with delayed name removal (promqltest/test.go).
    engine: EngineOptions = field(default_factory=lambda: EngineOptions(delayed_name_removal=True))


def almost_equal(a: float, b: float, epsilon: float = EPSILON) -> bool:
    """Prometheus' ``util/almost.Equal``: StaleNaN only equals StaleNaN, NaN equals NaN."""
    if is_stale(a) or is_stale(b):
        return is_stale(a) and is_stale(b)
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, _MAX_FLOAT) < epsilon


# ---- skips ----------------------------------------------------------------------------------

_DURATION_EXPR = re.compile(
    r"\[[^\]]*(?:[-+*/%^]\s*\(|\(|[a-z0-9]\s*[-+*/%^]\s*[0-9(])[^\]]*\]"
    r"|offset\s*[-+]?\s*\(|\b(?:step|range|min_of|max_of)\s*\(",
    re.IGNORECASE,
)


def parse_skip_reason(expr: str, err: ParseError) -> str | None:
    """Why an eval whose expression promql-parser rejects is skipped: only syntax that
    Prometheus 3.x itself accepts only behind a feature flag (or for native histograms).
    ``None`` for anything else: that eval runs, and fails unless it expects a failure."""
    if re.search(r"\b(anchored|smoothed)\b", expr):
        return "anchored/smoothed range selectors (feature flag promql-extended-range-selectors)"
    if "</" in expr or ">/" in expr:
        return "native histogram trim operators </ >/"
    if _DURATION_EXPR.search(expr):
        return "duration expressions (feature flag promql-duration-expr)"
    if re.search(r"\binfo\s*\(", expr) and "non-empty matcher" in err.message:
        return (
            "info() with an empty-matching selector "
            "(feature flag promql-experimental-functions; promql-parser rejects)"
        )
    return None


@dataclass
class _Store:
    querier: MemStore = field(default_factory=MemStore)
    histogram_series: set[Labels] = field(default_factory=set)
    start_ts_series: set[Labels] = field(default_factory=set)

    def clear(self) -> None:
        self.querier.clear()
        self.histogram_series.clear()
        self.start_ts_series.clear()

    def load(self, cmd: Load) -> None:
        floats: dict[Labels, tuple[I64Array, F64Array]] = {}
        for labels, items in cmd.series.items():
            t = [i * cmd.interval_ms for i, v in enumerate(items) if isinstance(v, float)]
            v = [x for x in items if isinstance(x, float)]
            if t:
                floats[labels] = (np.array(t, dtype=np.int64), np.array(v, dtype=np.float64))
            if any(x is HIST for x in items):
                self.histogram_series.add(labels)
            if cmd.with_nhcb:
                base = _nhcb_base(labels)
                if base is not None:
                    self.histogram_series.add(base)
        self.querier.load(floats)
        self.start_ts_series |= cmd.start_ts_series

    def selects(self, tree: ast.Expr, series: set[Labels]) -> bool:
        for node in ast.walk(tree):
            if isinstance(node, ast.VectorSel) and any(
                all(m.matches(lab.get(m.name)) for m in node.matchers) for lab in series
            ):
                return True
        return False


def _nhcb_base(labels: Labels) -> Labels | None:
    name = labels.name
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return labels.without("le").with_labels({"__name__": name[: -len(suffix)]})
    return None


def skip_reason(store: _Store, ev: Eval) -> str | None:
    try:
        tree = parse(ev.expr)
    except ParseError as err:
        return parse_skip_reason(ev.expr, err)  # None: run it, and let it fail
    if ev.expects_histogram:
        return "native histograms (expected histogram result)"
    if store.selects(tree, store.histogram_series):
        return "native histograms (selects histogram series)"
    if store.start_ts_series and store.selects(tree, store.start_ts_series):
        return "start timestamps (@st data)"
    if any(isinstance(n, ast.Call) and n.func == "start_timestamp" for n in ast.walk(tree)):
        return "start timestamps (start_timestamp function)"
    return None


# ---- checking -------------------------------------------------------------------------------


def with_at(tree: ast.Expr, t_ms: int) -> ast.Expr:
    """``tree`` with ``@ t_ms`` on every selector and subquery that has none; selectors
    inside a subquery are left alone (the subquery gets the ``@``)."""
    at = ast.At(ast.AtKind.AT, t_ms)
    if isinstance(tree, ast.VectorSel):
        return tree if tree.at is not None else dataclasses.replace(tree, at=at)
    if isinstance(tree, ast.MatrixSel):
        sel = tree.selector
        return (
            tree
            if sel.at is not None
            else dataclasses.replace(tree, selector=dataclasses.replace(sel, at=at))
        )
    if isinstance(tree, ast.Subquery):
        return tree if tree.at is not None else dataclasses.replace(tree, at=at)
    if isinstance(tree, ast.Paren | ast.Unary):
        return dataclasses.replace(tree, expr=with_at(tree.expr, t_ms))
    if isinstance(tree, ast.Call):
        return dataclasses.replace(tree, args=tuple(with_at(a, t_ms) for a in tree.args))
    if isinstance(tree, ast.Aggregate):
        param = with_at(tree.param, t_ms) if tree.param is not None else None
        return dataclasses.replace(tree, expr=with_at(tree.expr, t_ms), param=param)
    if isinstance(tree, ast.Binary):
        return dataclasses.replace(tree, lhs=with_at(tree.lhs, t_ms), rhs=with_at(tree.rhs, t_ms))
    return tree


def at_variants(tree: ast.Expr, t_ms: int) -> list[tuple[ast.Expr, int]]:
    if any(isinstance(n, ast.Call) and n.func in AT_UNSAFE for n in ast.walk(tree)):
        return []
    fixed = with_at(tree, t_ms)
    times = [-1000, 0, 1000] if t_ms == 0 else [-10 * t_ms, 0, t_ms // 5, t_ms, 10 * t_ms]
    return [(fixed, t) for t in times]


def check_failure(ev: Eval, err: Exception) -> None:
    text = _error_text(err)
    if ev.fail_message is not None and ev.fail_message != text:
        raise EvalFailure(f"expected error {ev.fail_message!r}, got {text!r}")
    if ev.fail_regexp is not None and not re.search(ev.fail_regexp, text):
        raise EvalFailure(f"expected error matching {ev.fail_regexp!r}, got {text!r}")
    fails = ev.expects_of("fail")
    if fails and not fails[0].matches(text):
        want = fails[0].message if fails[0].message is not None else fails[0].regex
        raise EvalFailure(f"expected error matching {want!r}, got {text!r}")


def _error_text(err: Exception) -> str:
    return str(err)


def check_annotations(ev: Eval, res: QueryResult) -> None:
    warnings, infos = list(res.warnings), list(res.infos)
    if ev.warn and not warnings:
        raise EvalFailure("expected warnings but got none")
    if ev.info and not infos:
        raise EvalFailure("expected info annotations but got none")
    for kind, got in (("warn", warnings), ("info", infos)):
        want = ev.expects_of(kind)
        if not want:
            continue
        if not got:
            raise EvalFailure(f"expected {kind} annotations but none were found")
        for x in want:
            if not any(x.matches(g) for g in got):
                what = x.message if x.message is not None else x.regex
                raise EvalFailure(f"expected {kind} annotation {what!r}, found: {got}")
        for g in got:
            if not any(x.matches(g) for x in want):
                raise EvalFailure(f"unexpected {kind} annotation {g!r}")
    if ev.expects_of("no_warn") and warnings:
        raise EvalFailure(f"unexpected warning annotations: {warnings}")
    if ev.expects_of("no_info") and infos:
        raise EvalFailure(f"unexpected info annotations: {infos}")


def _fmt(items: Sequence[float]) -> str:
    return "[" + " ".join(repr(float(x)) for x in items) + "]"


def compare(ev: Eval, res: QueryResult, *, start_ms: int, step_ms: int, end_ms: int) -> None:
    """test.go ``compareResult``."""
    kind = res.result_type
    if kind is ResultType.MATRIX:
        if ev.is_ordered:
            raise EvalFailure("expected ordered result, but query returned a matrix")
        if ev.scalar is not None:
            raise EvalFailure("expected scalar result, but got matrix")
        _assert_sorted(res.labels)
        seen = set()
        for labels, t, v in res.series():
            if labels not in ev.expected:
                raise EvalFailure(f"unexpected metric {labels} in result, has {_fmt(v.tolist())}")
            seen.add(labels)
            items = ev.expected[labels][1]
            exp_t, exp_v = [], []
            for i, item in enumerate(items):
                ts = start_ms + i * step_ms
                if ts > end_ms:
                    raise EvalFailure(
                        f"expected {len(items)} points for {labels}, but query "
                        "time range cannot return this many points"
                    )
                if isinstance(item, float):
                    exp_t.append(ts)
                    exp_v.append(item)
            if len(exp_t) != len(t):
                raise EvalFailure(
                    f"expected {len(exp_t)} float points for {labels}, got {len(t)}: "
                    f"{_fmt(v.tolist())} at {t.tolist()}"
                )
            for i, (et, evl) in enumerate(zip(exp_t, exp_v, strict=True)):
                if et != int(t[i]):
                    raise EvalFailure(
                        f"expected point {i} of {labels} at t={et}, got t={int(t[i])}"
                    )
                if not almost_equal(evl, float(v[i])):
                    raise EvalFailure(
                        f"expected {evl!r} at t={et} for {labels}, got {float(v[i])!r} "
                        f"(all: {_fmt(v.tolist())})"
                    )
        missing = [lab for lab in ev.expected if lab not in seen]
        if missing:
            raise EvalFailure(f"expected metric {missing[0]} not found")
        return
    if kind is ResultType.VECTOR:
        if ev.scalar is not None:
            raise EvalFailure(f"expected scalar result, but got vector of {len(res)} series")
        seen = set()
        for pos, (labels, _, v) in enumerate(res.series()):
            if labels not in ev.expected:
                raise EvalFailure(
                    f"unexpected metric {labels} in result, has value {float(v[0])!r}"
                )
            exp_pos, items = ev.expected[labels]
            if ev.is_ordered and exp_pos != pos + 1:
                raise EvalFailure(
                    f"expected metric {labels} at position {exp_pos} but was at {pos + 1}"
                )
            want = items[0]
            if not isinstance(want, float) or not almost_equal(want, float(v[0])):
                raise EvalFailure(f"expected {want!r} for {labels} but got {float(v[0])!r}")
            seen.add(labels)
        missing = [lab for lab in ev.expected if lab not in seen]
        if missing:
            raise EvalFailure(f"expected metric {missing[0]} not found")
        return
    if kind is ResultType.SCALAR:
        if ev.scalar is None:
            raise EvalFailure(f"expected vector or matrix result, but got scalar {res.scalar!r}")
        if not almost_equal(ev.scalar, res.scalar):
            raise EvalFailure(f"expected scalar {ev.scalar!r} but got {res.scalar!r}")
        return
    want_s = ev.expected_string or ""
    if res.string != want_s:
        raise EvalFailure(f'expected string "{want_s}" but got "{res.string}"')


def _assert_sorted(labels: list[Labels]) -> None:
    for a, b in itertools.pairwise(labels):
        if b < a:
            raise EvalFailure(f"matrix results should always be sorted by labels: {b} after {a}")


# ---- running --------------------------------------------------------------------------------


class _Runner:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.store = _Store()
        self.api = LocalQueryAPI(lambda: self.store.querier, options.engine)

    def run_eval(self, ev: Eval) -> None:
        if not ev.instant:
            self._range_eval(ev)
            return
        tree = parse(ev.expr)
        queries = [(tree, ev.eval_ms)]
        if self.options.at_variants:
            queries += at_variants(tree, ev.eval_ms)
        for q, t in queries:
            self._instant_query(ev, q, t)

    def _range_eval(self, ev: Eval) -> None:
        try:
            res = self.api.range(ev.expr, ev.start_ms, ev.end_ms, ev.step_ms)
        except KubepromError as err:
            if ev.is_fail:
                check_failure(ev, err)
                return
            raise EvalFailure(f"error evaluating query: {err}") from err
        if ev.is_fail:
            raise EvalFailure("expected error evaluating query but got none")
        check_annotations(ev, res)
        compare(ev, res, start_ms=ev.start_ms, step_ms=ev.step_ms, end_ms=ev.end_ms)

    def _instant_query(self, ev: Eval, tree: ast.Expr, t_ms: int) -> None:
        try:
            res = self.api.instant_tree(tree, ev.expr, t_ms)
        except KubepromError as err:
            if ev.is_fail:
                check_failure(ev, err)
                return
            raise EvalFailure(f"error evaluating query at t={t_ms}: {err}") from err
        if ev.is_fail:
            raise EvalFailure("expected error evaluating query but got none")
        check_annotations(ev, res)
        try:
            compare(ev, res, start_ms=ev.start_ms, step_ms=ev.step_ms, end_ms=ev.end_ms)
        except EvalFailure as err:
            raise EvalFailure(f"at t={t_ms}: {err}") from None
        excluded = ev.range_vector or ev.expected_string is not None
        if excluded or not self.options.range_mode or _QUERY_CONTEXT_FUNCS.search(ev.expr):
            return
        try:
            rng = self.api.range_tree(tree, ev.expr, t_ms - 60_000, t_ms + 60_000, 60_000)
        except KubepromError as err:
            raise EvalFailure(f"error evaluating query in range mode: {err}") from err
        if ev.is_ordered:
            return
        _assert_sorted(rng.labels)
        labels, values = [], []
        for lab, t, v in rng.series():
            hit = np.nonzero(t == t_ms)[0]
            if len(hit):
                labels.append(lab)
                values.append(float(v[hit[0]]))
        if res.result_type is ResultType.SCALAR:
            mid = QueryResult(ResultType.SCALAR, [], v=np.array(values[:1]))
        else:
            mid = _vector(labels, values, t_ms)
        try:
            compare(ev, mid, start_ms=ev.start_ms, step_ms=ev.step_ms, end_ms=ev.end_ms)
        except EvalFailure as err:
            raise EvalFailure(f"range mode at t={t_ms}: {err}") from None


def _vector(labels: list[Labels], values: list[float], t_ms: int) -> QueryResult:
    n = len(labels)
    return QueryResult(
        ResultType.VECTOR,
        labels,
        np.full(n, t_ms, dtype=np.int64),
        np.array(values, dtype=np.float64),
        np.arange(n + 1, dtype=np.int64),
    )


def run_file(path: Path, options: Options | None = None) -> FileReport:
    report = FileReport(str(path))
    try:
        commands = parse_file(path.read_text(encoding="utf-8"), path.name)
    except FormatError as err:
        report.error = str(err)
        return report
    runner = _Runner(options or Options())
    for cmd in commands:
        if isinstance(cmd, Clear):
            runner.store.clear()
        elif isinstance(cmd, Load):
            runner.store.load(cmd)
        else:
            report.outcomes.append(_run_one(runner, path.name, cmd))
    return report


def _run_one(runner: _Runner, name: str, ev: Eval) -> Outcome:
    reason = skip_reason(runner.store, ev)
    if reason is not None:
        return Outcome(name, ev.line, ev.expr, "skipped", reason)
    try:
        runner.run_eval(ev)
    except EvalFailure as err:
        return Outcome(name, ev.line, ev.expr, "failed", str(err))
    except Exception as err:
        return Outcome(name, ev.line, ev.expr, "failed", f"internal error: {err!r}")
    return Outcome(name, ev.line, ev.expr, "passed")


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """The ``.test`` files named, directories expanded (sorted); missing paths raise."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.glob("*.test"))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(2, "no such file or directory", str(p))
    return out


@dataclass
class Summary:
    passed: int
    failed: int
    skipped: int
    malformed: int
    skip_reasons: Counter[str]

    @property
    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"

    @property
    def pass_ratio(self) -> float:
        run = self.passed + self.failed
        return self.passed / run if run else 1.0


def summarize(reports: Sequence[FileReport]) -> Summary:
    outcomes = [o for r in reports for o in r.outcomes]
    reasons = Counter(o.detail for o in outcomes if o.status == "skipped")
    return Summary(
        sum(o.status == "passed" for o in outcomes),
        sum(o.status == "failed" for o in outcomes),
        sum(o.status == "skipped" for o in outcomes),
        sum(r.error is not None for r in reports),
        reasons,
    )


def render(reports: Sequence[FileReport], *, verbose: bool = True) -> list[str]:
    """Report lines: failures (``file:line``), per-file counts, skip reasons, the total."""
    lines: list[str] = []
    for r in reports:
        name = Path(r.path).name
        if r.error is not None:
            lines.append(f"{r.path}: malformed: {r.error}")
            continue
        if verbose:
            for o in r.outcomes:
                if o.status == "failed":
                    lines.append(f"FAIL {o.file}:{o.line}: {o.expr}\n     {o.detail}")
        lines.append(
            f"{name}: {r.count('passed')} passed, {r.count('failed')} failed, "
            f"{r.count('skipped')} skipped"
        )
    s = summarize(reports)
    if s.skip_reasons:
        lines.append("skipped:")
        for reason, n in sorted(s.skip_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {n:5d}  {reason}")
    lines.append(s.line)
    return lines
