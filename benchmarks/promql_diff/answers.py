"""What an engine answered, in one shape for every engine, and the engine seam.

Times are ms since the epoch. A query is an instant query (``start_ms == end_ms`` and
``step_ms == 0``) or a range query. An answer is either an error (its text) or a result:
the result type and the series, each with its label dict and its points in the order the
engine returned them; a scalar is one series with no labels and one point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    start_ms: int
    end_ms: int
    step_ms: int = 0

    @property
    def is_range(self) -> bool:
        return self.step_ms > 0

    def describe(self) -> str:
        if self.is_range:
            return (
                f"range {self.expr}  start={self.start_ms / 1000:.3f} end={self.end_ms / 1000:.3f}"
                f" step={self.step_ms / 1000:g}s"
            )
        return f"instant {self.expr}  time={self.start_ms / 1000:.3f}"


Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Series:
    labels: Labels
    t: tuple[int, ...]
    v: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    error: str | None = None
    result_type: str = ""
    series: tuple[Series, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None


class Engine(Protocol):
    name: str

    def answer(self, q: Query) -> Answer: ...


def parse_value(text: str) -> float:
    """A sample value as Prometheus' JSON spells it (``"NaN"``, ``"+Inf"``, ``"1e+06"``)."""
    return float(text)


def from_prometheus_json(body: dict[str, Any]) -> Answer:
    """An :class:`Answer` from a Prometheus HTTP API response body (success or error)."""
    if body.get("status") != "success":
        return Answer(error=str(body.get("error", "unknown error")))
    data = body["data"]
    kind = data["resultType"]
    result = data["result"]
    if kind == "scalar":
        t, v = result
        return Answer(None, kind, (Series((), (round(float(t) * 1000),), (parse_value(v),)),))
    if kind == "string":
        return Answer(None, kind, (Series((("", str(result[1])),), (), ()),))
    out = []
    for s in result:
        labels = tuple(sorted(s["metric"].items()))
        points = s["values"] if "values" in s else [s["value"]]
        out.append(
            Series(
                labels,
                tuple(round(float(t) * 1000) for t, _ in points),
                tuple(parse_value(v) for _, v in points),
            )
        )
    return Answer(None, kind, tuple(out))


def same_float(a: float, b: float, rtol: float) -> bool:
    """Equal as PromQL values: NaN equals NaN, infinities exactly, others within ``rtol``
    relative (or ``rtol`` absolute around zero, where relative error means nothing)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-3)
