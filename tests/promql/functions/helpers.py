"""Building RangeWindows the way the evaluator does, and loading promqltest series."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.promql.types import RangeWindows

Samples = Sequence[tuple[int, float]]


def make_windows(
    series: Sequence[Samples], step_times: Sequence[int], range_ms: int
) -> RangeWindows:
    """Windows ``(t - range_ms, t]`` over each series' (t_ms, value) samples (t increasing)."""
    ts = [np.array([t for t, _ in s], dtype=np.int64) for s in series]
    vs = [np.array([v for _, v in s], dtype=np.float64) for s in series]
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in ts])
    steps = np.asarray(step_times, dtype=np.int64)
    lo = np.zeros((len(series), steps.size), dtype=np.int64)
    hi = np.zeros_like(lo)
    for i, t in enumerate(ts):
        lo[i] = offsets[i] + np.searchsorted(t, steps - range_ms, side="right")
        hi[i] = offsets[i] + np.searchsorted(t, steps, side="right")
    return RangeWindows(
        labels=[Labels([("i", str(i))]) for i in range(len(series))],
        t=np.concatenate(ts) if ts else np.zeros(0, dtype=np.int64),
        v=np.concatenate(vs) if vs else np.zeros(0),
        offsets=offsets,
        lo=lo,
        hi=hi,
        step_times=steps,
        range_ms=range_ms,
    )


def scalar(value: float, steps: int) -> F64Array:
    return np.full(steps, value, dtype=np.float64)


_UNSIGNED = r"(?:[iI][nN][fF]|[nN][aA][nN]|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_ITEM = re.compile(rf"(?P<a>[+-]?{_UNSIGNED})(?:(?P<op>[+-])(?P<b>{_UNSIGNED}))?(?:x(?P<n>\d+))?")


def expand_values(text: str) -> list[float | None]:
    """promqltest series notation (``0+10x3 _ 5 NaN _x2``); ``None`` is an empty slot.

    ``a+bxN`` is expanded by repeated addition, as upstream does.
    """
    out: list[float | None] = []
    for item in text.split():
        if item.startswith("_"):
            out.extend([None] * (int(item[2:]) if item.startswith("_x") else 1))
            continue
        m = _ITEM.fullmatch(item)
        if m is None:
            raise ValueError(f"cannot parse series item {item!r}")
        start = float(m["a"])
        times = int(m["n"]) if m["n"] else 0
        if m["op"] is None:
            out.extend([start] * (times + 1))
            continue
        step = float(m["b"]) * (1 if m["op"] == "+" else -1)
        value = start
        for _ in range(times + 1):
            out.append(value)
            value += step
    return out


def load(interval: str, text: str) -> Samples:
    """One promqltest load line's values as (t_ms, value) samples."""
    every = parse_duration_ms(interval)
    return [(i * every, v) for i, v in enumerate(expand_values(text)) if v is not None]
