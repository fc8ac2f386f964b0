"""Whether two answers to one query agree, and if not, how they differ first.

Agreement: both errors (the wording is compared elsewhere), or the same result type, the
same label sets, the same timestamps and values within a relative tolerance (NaN equals
NaN, infinities exactly). Series order counts only where Prometheus defines it: an instant
query whose outermost operation orders its output (``sort``, ``sort_desc``, and ``topk`` /
``bottomk`` without grouping); there the sequence of values must match, which is what the
order means when values tie. Everything else is compared as a set of series.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from benchmarks.promql_diff.answers import Answer, Query, Series, same_float

DEFAULT_RTOL = 1e-9

_ORDERED = re.compile(r"^\s*(sort|sort_desc)\s*\(|^\s*(topk|bottomk)\s*\(")


@dataclass(frozen=True, slots=True)
class Verdict:
    agree: bool
    kind: str = ""  # first difference: error, result-type, labels, timestamps, values, order
    detail: str = ""


AGREE = Verdict(True)


def is_ordered(q: Query) -> bool:
    """Whether Prometheus defines the order of ``q``'s result (see the module docstring)."""
    return not q.is_range and _ORDERED.search(q.expr) is not None


def _fmt(labels: tuple[tuple[str, str], ...]) -> str:
    name = dict(labels).get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return f"{name}{{{rest}}}"


def compare(q: Query, want: Answer, got: Answer, rtol: float = DEFAULT_RTOL) -> Verdict:
    """``want`` is the reference engine's answer, ``got`` the one under test."""
    if want.error is not None or got.error is not None:
        if want.error is not None and got.error is not None:
            return AGREE
        if want.error is not None:
            return Verdict(False, "error", f"reference error {want.error!r}; got a result")
        return Verdict(False, "error", f"reference gave a result; got error {got.error!r}")
    if want.result_type != got.result_type:
        return Verdict(False, "result-type", f"{want.result_type} != {got.result_type}")
    a = {s.labels: s for s in want.series}
    b = {s.labels: s for s in got.series}
    if len(a) != len(want.series) or len(b) != len(got.series):
        return Verdict(False, "labels", "duplicate label sets in a result")
    if a.keys() != b.keys():
        missing = sorted(a.keys() - b.keys())
        extra = sorted(b.keys() - a.keys())
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {_fmt(missing[0])}")
        if extra:
            parts.append(f"{len(extra)} extra, e.g. {_fmt(extra[0])}")
        return Verdict(False, "labels", "; ".join(parts))
    for labels, sa in a.items():
        v = _compare_series(sa, b[labels], rtol)
        if v is not None:
            return Verdict(False, v.kind, f"{_fmt(labels)}: {v.detail}")
    if is_ordered(q):
        va = [s.v[0] if s.v else math.nan for s in want.series]
        vb = [s.v[0] if s.v else math.nan for s in got.series]
        if not all(same_float(x, y, rtol) for x, y in zip(va, vb, strict=True)):
            return Verdict(False, "order", f"values in order {va[:5]} != {vb[:5]}")
    return AGREE


def _compare_series(a: Series, b: Series, rtol: float) -> Verdict | None:
    if a.t != b.t:
        only_a = sorted(set(a.t) - set(b.t))
        only_b = sorted(set(b.t) - set(a.t))
        return Verdict(
            False,
            "timestamps",
            f"{len(a.t)} vs {len(b.t)} points; only reference at {only_a[:3]}, "
            f"only tested at {only_b[:3]}",
        )
    for t, x, y in zip(a.t, a.v, b.v, strict=True):
        if not same_float(x, y, rtol):
            return Verdict(False, "values", f"at {t / 1000:.3f}: {x!r} != {y!r}")
    return None
