"""Run a seeded batch of generated queries through two engines and classify each outcome.

Every query gets exactly one class (none is dropped):

* ``agree`` / ``agree (both errors)``: the answers match (``compare.py``).
* ``3.x: CHANGE``: the answers differ, and the engine under test, re-run with one
  Prometheus 2.x behaviour that 3.x changed (``compat``: an engine per change, tried in
  turn; then one with all of them), matches the reference. The difference is that
  documented change. CHANGE names it (``2.x-windows``: range selectors, lookback and
  subqueries closed on the left; ``2.x-rate``: rate's zero-point cap before the
  extrapolation threshold; ``2.x-atan2-name``: atan2 keeping the name).
* ``reference range != its instants``: a range query whose answer from the reference
  differs from the reference's own instant queries at each step (which is what a range
  query means), while the tested engine's range answer equals those instant answers: a
  bug of the reference (Prometheus 2.42 loses points of ``predict_linear(x[1m] @ t, ...)``
  in range queries).
* ``disagree: KIND``: anything else (KIND is the first difference: error, result-type,
  labels, timestamps, values, order). These are the bugs to fix.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from benchmarks.promql_diff.answers import Answer, Engine, Labels, Query, Series
from benchmarks.promql_diff.compare import compare

AGREE = "agree"
AGREE_ERRORS = "agree (both errors)"
THREE_X = "3.x: "
SELF_INCONSISTENT = "reference range != its instants"
DISAGREE = "disagree"


@dataclass(frozen=True, slots=True)
class Outcome:
    seed: int
    index: int
    query: Query
    cls: str
    detail: str = ""
    reference_error: str | None = None
    tested_error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def classify(
    q: Query, reference: Engine, tested: Engine, compat: Sequence[Engine]
) -> tuple[str, str, str | None, str | None]:
    """``compat`` engines are named by the change they undo; the first that agrees wins."""
    want = reference.answer(q)
    got = tested.answer(q)
    v = compare(q, want, got)
    if v.agree:
        return (AGREE_ERRORS if want.error is not None else AGREE), "", want.error, got.error
    for engine in compat:
        if compare(q, want, engine.answer(q)).agree:
            return THREE_X + engine.name, f"{v.kind}: {v.detail}", want.error, got.error
    if q.is_range and want.ok:
        stepwise = instants(q, reference)
        if stepwise is not None and compare(q, stepwise, got).agree:
            return SELF_INCONSISTENT, f"{v.kind}: {v.detail}", want.error, got.error
    return f"{DISAGREE}: {v.kind}", v.detail, want.error, got.error


def instants(q: Query, engine: Engine) -> Answer | None:
    """The range query ``q`` answered as one instant query per step, as a matrix; ``None``
    when a step fails."""
    points: dict[Labels, tuple[list[int], list[float]]] = {}
    for t in range(q.start_ms, q.end_ms + 1, q.step_ms):
        a = engine.answer(Query(q.expr, t, t))
        if a.error is not None or a.result_type == "string":
            return None
        for s in a.series:
            labels = () if a.result_type == "scalar" else s.labels
            ts, vs = points.setdefault(labels, ([], []))
            ts.append(t)
            vs.extend(s.v)
    series = tuple(Series(k, tuple(ts), tuple(vs)) for k, (ts, vs) in points.items())
    return Answer(None, "matrix", series)


def run_batch(
    queries: Iterable[Query],
    seed: int,
    reference: Engine,
    tested: Engine,
    compat: Sequence[Engine],
    progress: Callable[[int, Counter[str]], None] | None = None,
) -> list[Outcome]:
    out: list[Outcome] = []
    counts: Counter[str] = Counter()
    for i, q in enumerate(queries):
        cls, detail, e1, e2 = classify(q, reference, tested, compat)
        out.append(Outcome(seed, i, q, cls, detail, e1, e2))
        counts[cls] += 1
        if progress is not None:
            progress(i + 1, counts)
    return out


def summarize(outcomes: list[Outcome]) -> list[str]:
    counts = Counter(o.cls for o in outcomes)
    lines = [f"{len(outcomes)} queries"]
    for cls, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {n:6d}  {cls}")
    bad = sum(n for c, n in counts.items() if c.startswith(DISAGREE))
    lines.append(f"{bad} disagreements outside the documented 3.x differences")
    return lines


class Progress:
    """A one-line progress display on a terminal (``\\r``), plain lines otherwise."""

    def __init__(self, label: str, total: int, write: Callable[[str], object], tty: bool) -> None:
        self.label, self.total, self.write, self.tty = label, total, write, tty
        self.t0 = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, counts: Counter[str]) -> None:
        now = time.monotonic()
        if done < self.total and now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        bad = sum(n for c, n in counts.items() if c.startswith(DISAGREE))
        three = sum(n for c, n in counts.items() if c.startswith(THREE_X) or c == SELF_INCONSISTENT)
        line = (
            f"{self.label}: {done}/{self.total}  agree {counts[AGREE] + counts[AGREE_ERRORS]}"
            f"  classified {three}  disagree {bad}  {now - self.t0:.0f}s"
        )
        end = "\n" if done == self.total or not self.tty else ""
        self.write(("\r" if self.tty else "") + line + end)
