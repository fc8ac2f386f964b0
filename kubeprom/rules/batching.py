"""Rule groups evaluated a chunk of evaluation times at a time, in virtual time.

In ``kubeprom simulate`` the rules run on a :class:`~kubeprom.clock.VirtualClock`, inline,
and the group's evaluations are the only place its outputs are made. When nothing reads
those outputs while the run goes on, the group may wake at each of its scheduled times as
``kubeprom run`` does, note the time, and evaluate every ``steps`` of them at once
(:meth:`~kubeprom.rules.group.Group.flush`): per rule, one range query over the chunk's
times answers what the instant query at each of them would have (a range query is the
instant query at each step, when the expression reads nothing after its evaluation time),
and the rule's own ``evaluate`` and the group's own append then run at each time in order,
with those answers. So the state machine of alerts (``for``, ``keep_firing_for``), the
staleness markers, the limits and every error are the same code as step by step; the rules
go rule by rule over the chunk instead of time by time, which gives every series the same
samples because:

- the store holds, when the chunk is evaluated, every sample with a timestamp at or before
  each of the chunk's times that it held at that time (the other writers, scrapes, stamp
  samples with the instant they write them; an evaluation time shared with another sleeper
  of the clock is evaluated at once, as is everything after a restart's ``for`` restore);
- an earlier rule of the group has written its whole chunk before a later rule reads it,
  and an instant query at ``t`` reads nothing after ``t`` (no ``@``, no negative offset);
- no rule reads what it or a later rule of its group writes, no other group reads what the
  group writes or writes what it reads, and nothing outside the rules (the HPA's
  metrics-server, adapter and KEDA queries: ``outside``) selects a metric the group writes.

:func:`why_step_by_step` decides this by the expressions' selectors, conservatively: an
unknown reader (``outside`` None, an ``info()`` call, a template that queries) keeps the
group step by step. ``kubeprom run`` (real time) never batches: its outputs are read live.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array
from kubeprom.promql.api import QueryAPI, QueryResult, ResultType
from kubeprom.rules.alerting import AlertingRule
from kubeprom.rules.exprinfo import reads, reads_output
from kubeprom.rules.rangeeval import Grid, points, step_vectors
from kubeprom.rules.recording import RecordingRule
from kubeprom.rules.rule import Rule

DEFAULT_STEPS = 40
# A chunk is evaluated at most this long after its first time: the store cuts a block only
# when its head spans 1.5 block ranges, so the newest half range (1 h by default) stays
# appendable and a chunk's oldest samples are never out of bounds.
MAX_CHUNK_SPAN_MS = 15 * 60_000


@dataclass(frozen=True, slots=True)
class Batching:
    """``steps``: evaluations per chunk; ``outside``: the metric names something besides
    the rules may select from the store while the run goes on (None: unknown, so no group
    is batched)."""

    steps: int = DEFAULT_STEPS
    outside: frozenset[str] | None = None


def _writes(rule: Rule) -> tuple[str, str]:
    """(record, alert): the names :func:`reads_output` takes."""
    if isinstance(rule, AlertingRule):
        return "", rule.name
    return rule.name, ""


def _queries_in_templates(rule: Rule) -> bool:
    if not isinstance(rule, AlertingRule):
        return False
    return any("query" in v for _, v in (*rule.labels, *rule.annotations))


def why_step_by_step(
    rules: Sequence[Rule], others: Sequence[Sequence[Rule]], batching: Batching
) -> str:
    """Why a group of ``rules`` must be evaluated step by step beside the groups
    ``others``, or "" when it may be batched (see the module docstring)."""
    if batching.steps < 2:
        return "chunks of one evaluation"
    if batching.outside is None:
        return "what reads the store besides the rules is not known"
    for i, rule in enumerate(rules):
        if not isinstance(rule, RecordingRule | AlertingRule):
            return f"rule {rule.name!r} is of an unknown kind"
        info = reads(rule.expr)
        if info.looks_ahead or info.opaque:
            return f"rule {rule.name!r} reads outside (.., t] or series no selector names"
        if _queries_in_templates(rule):
            return f"rule {rule.name!r} queries from a template"
        record, alert = _writes(rule)
        names = rule.output_names() or frozenset()
        if names & batching.outside:
            return f"rule {rule.name!r} writes a metric read outside the rules"
        for later in rules[i:]:
            if reads_output(info, *_writes(later)):
                return f"rule {rule.name!r} reads what rule {later.name!r} writes"
        for group in others:
            for other in group:
                if reads_output(reads(other.expr), record, alert):
                    return f"rule {other.name!r} of another group reads rule {rule.name!r}"
                if reads_output(info, *_writes(other)):
                    return f"rule {rule.name!r} reads rule {other.name!r} of another group"
    return ""


class ChunkAnswers:
    """A query API that answers one expression's instant queries at a chunk's times from
    one range query over them, and passes every other query to ``base``."""

    def __init__(self, base: QueryAPI, expr: str, grid: Grid, result: QueryResult) -> None:
        self.base = base
        self.expr = expr
        self.grid = grid
        self._steps: Mapping[int, tuple[list[Labels], F64Array]] = step_vectors(
            points(result, grid), grid.n
        )

    def _step(self, t_ms: int) -> int | None:
        g = self.grid
        k, rem = divmod(t_ms - g.start_ms, g.step_ms)
        return k if rem == 0 and 0 <= k < g.n else None

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        k = self._step(t_ms) if expr == self.expr else None
        if k is None:
            return self.base.instant(expr, t_ms)
        labels, values = self._steps.get(k, ([], np.empty(0, dtype=np.float64)))
        n = len(labels)
        return QueryResult(
            ResultType.VECTOR,
            list(labels),
            np.full(n, t_ms, dtype=np.int64),
            values,
            np.arange(n + 1, dtype=np.int64),
        )

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        return self.base.range(expr, start_ms, end_ms, step_ms)
