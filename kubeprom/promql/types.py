"""Values the evaluator passes around, vectorised over series x steps.

An expression evaluated over ``n_steps`` evaluation times (an instant query has one step)
becomes one of these. Every array is indexed ``[series, step]``. A real NaN sample is a
value (``present`` True, ``values`` NaN); absence is ``present`` False.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array

BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class InstantSteps:
    """An instant vector at every step: ``values``/``present`` of shape (series, steps).

    This is what an instant-vector expression evaluates to over a query's steps, not a
    range vector (PromQL's "matrix" is :class:`RangeWindows`). Row ``i`` is one label set;
    a step where it has no sample has ``present`` False. The helpers that reshape rows
    (``compact``, ``merge_same_labels``, ``cleanup``) live in :mod:`kubeprom.promql.steps`.

    ``drop_name[i]`` marks series whose ``__name__`` is to be removed when the result is
    returned (Prometheus 3 removes the metric name lazily, after the outermost function or
    operator that changes the meaning of the value).
    """

    labels: list[Labels]
    values: F64Array
    present: BoolArray
    drop_name: BoolArray

    @staticmethod
    def empty(n_steps: int) -> InstantSteps:
        return InstantSteps(
            [], np.empty((0, n_steps)), np.empty((0, n_steps), dtype=bool), np.empty(0, dtype=bool)
        )


@dataclass(slots=True)
class Scalar:
    """A scalar at every step: shape (steps,)."""

    values: F64Array


@dataclass(slots=True)
class String:
    value: str


@dataclass(slots=True)
class RangeWindows:
    """A range vector at every step, as windows over CSR samples.

    Series ``i`` owns ``t[offsets[i]:offsets[i+1]]`` / ``v[...]`` (``t`` strictly increasing,
    StaleNaN markers already removed). At step ``j`` (evaluation time ``step_times[j]``) its
    window holds the absolute sample indices ``lo[i, j] <= k < hi[i, j]``, i.e. the samples
    with ``step_times[j] - range_ms < t <= step_times[j]`` (left-open, Prometheus 3).
    ``range_ms`` is the selector's range; for subqueries it is the subquery range.
    """

    labels: list[Labels]
    t: I64Array
    v: F64Array
    offsets: I64Array
    lo: I64Array  # (series, steps)
    hi: I64Array  # (series, steps)
    step_times: I64Array  # (steps,) evaluation time of each step, ms, after @/offset
    range_ms: int


Value = InstantSteps | Scalar | String | RangeWindows


def type_name(v: Value) -> str:
    """Prometheus' name of a value's type (``parser.ValueType``), for error messages."""
    if isinstance(v, InstantSteps):
        return "vector"
    if isinstance(v, RangeWindows):
        return "matrix"
    return "scalar" if isinstance(v, Scalar) else "string"


@dataclass(slots=True)
class Annotations:
    """Warnings and infos collected while evaluating a query, in Prometheus' wording.

    They travel with the result (HTTP ``warnings`` / ``infos``) and are never raised.
    Duplicates are kept once, in first-seen order.
    """

    warnings: list[str]
    infos: list[str]
    noted: int = 0  # warn/info calls, duplicates included (a shared node value needs none)

    @staticmethod
    def new() -> Annotations:
        return Annotations([], [])

    def warn(self, text: str) -> None:
        self.noted += 1
        if text not in self.warnings:
            self.warnings.append(text)

    def info(self, text: str) -> None:
        self.noted += 1
        if text not in self.infos:
            self.infos.append(text)
