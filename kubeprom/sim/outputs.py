"""A simulation's files, under stable names, byte for byte the same for the same run.

* ``timeline.csv``: a row per Deployment and step (:class:`~kubeprom.sim.record.Row`), with
  ``metric_N``, ``value_N``, ``target_N`` for each of its HPA's metrics;
* ``events.csv``: every event occurrence (HPA, Deployment, ReplicaSet, scheduler) and every
  alert state change the rules made (``kind`` ``Alert``, reasons ``AlertPending``,
  ``AlertFiring``, ``AlertResolved``), by time;
* ``decisions.jsonl``: one JSON object per HPA sync (:class:`~kubeprom.hpa.decision.Decision`
  with its traces, and the conditions the sync left);
* ``summary.json``: :func:`summarize`'s figures per Deployment and for the whole cluster.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from kubeprom.hpa.controller import Condition
from kubeprom.hpa.decision import Decision
from kubeprom.model.timeutil import format_rfc3339
from kubeprom.sim.record import Occurrence, Row

TIMELINE = "timeline.csv"
EVENTS = "events.csv"
DECISIONS = "decisions.jsonl"
SUMMARY = "summary.json"
_HPA_KIND = "HorizontalPodAutoscaler"


def number(x: float | int) -> str:
    """A number as the CSV writes it: integers bare, floats to 10 significant digits, NaN
    empty."""
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return ""
    text = format(x, ".10g")
    return "0" if text == "-0" else text


def jsonable(x: object) -> Any:
    """Dataclasses, enums, numpy arrays and scalars as JSON values (NaN as null)."""
    # The common cases first, by exact type (a decision trace is thousands of values per
    # sync); anything else (enums, numpy scalars, subclasses) takes the general path.
    t = type(x)
    if t is float:
        return x if math.isfinite(cast(float, x)) else None
    if t in _PLAIN:
        return x
    if t is list or t is tuple:
        return [jsonable(v) for v in cast(Sequence[object], x)]
    if t is np.ndarray:
        return _array(cast(np.ndarray[Any, Any], x))
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, enum.Enum):
        return jsonable(x.value)
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


_PLAIN = frozenset({int, str, bool, type(None)})


def _array(a: np.ndarray[Any, Any]) -> list[Any]:
    values = a.tolist()
    if a.ndim == 1 and a.dtype.kind in "iub":
        return cast(list[Any], values)
    if a.ndim == 1 and a.dtype.kind == "f":
        if bool(np.isfinite(a).all()):
            return cast(list[Any], values)
        return [v if math.isfinite(v) else None for v in values]
    return [jsonable(v) for v in values]


def write_timeline(path: Path, rows: Sequence[Row], start_ms: int) -> None:
    width = max((len(r.metrics) for r in rows), default=0)
    header = [
        "time",
        "t_s",
        "namespace",
        "deployment",
        "hpa",
        "spec_replicas",
        "desired_replicas",
        "current_replicas",
        "ready_replicas",
        "pending_pods",
        "load_rps",
        "cpu_cores",
        "cpu_demand_cores",
        "memory_bytes",
        "throttled",
    ]
    # Only runs with a queue worker have the column, so other runs' files stay as they were.
    queues = any(r.queue_messages is not None for r in rows)
    header += ["queue_messages"] if queues else []
    for i in range(1, width + 1):
        header += [f"metric_{i}", f"value_{i}", f"target_{i}"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            line = [
                format_rfc3339(r.t_ms),
                number((r.t_ms - start_ms) / 1000),
                r.namespace,
                r.deployment,
                r.hpa,
                *(
                    number(v)
                    for v in (
                        r.spec_replicas,
                        r.desired_replicas,
                        r.current_replicas,
                        r.ready_replicas,
                        r.pending_pods,
                        r.load_rps,
                        r.cpu_cores,
                        r.cpu_demand_cores,
                        r.memory_bytes,
                        r.throttled,
                    )
                ),
            ]
            if queues:
                line.append(number(r.queue_messages) if r.queue_messages is not None else "")
            for m in r.metrics:
                line += [m.name, number(m.value), number(m.target)]
            line += [""] * (len(header) - len(line))
            w.writerow(line)


def write_events(path: Path, events: Iterable[Occurrence]) -> None:
    ordered = sorted(events, key=lambda e: e.t_ms)  # stable: same-instant events keep order
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["time", "kind", "namespace", "name", "type", "reason", "message", "source"])
        for e in ordered:
            w.writerow(
                [
                    format_rfc3339(e.t_ms),
                    e.kind,
                    e.namespace,
                    e.name,
                    e.type,
                    e.reason,
                    e.message,
                    e.source,
                ]
            )


def write_decisions(
    path: Path, decisions: Iterable[tuple[Decision, tuple[Condition, ...] | None]]
) -> None:
    with path.open("w", encoding="utf-8") as f:
        for decision, conditions in decisions:
            record = jsonable(decision)
            record["time"] = format_rfc3339(decision.t_ms)
            record["conditions"] = jsonable(conditions)
            f.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")


@dataclass(frozen=True, slots=True)
class Figures:
    """One Deployment's summary (or the cluster's, summed, with ``deployment`` ``*``)."""

    namespace: str
    deployment: str
    hpa: str
    pod_hours: float
    peak_replicas: int
    above_target_minutes: float
    unserved_load_minutes: float
    scale_events: int
    direction_changes: int


def _direction_changes(replicas: np.ndarray[Any, np.dtype[np.int64]]) -> int:
    moves = np.sign(np.diff(replicas))
    moves = moves[moves != 0]
    return int(np.count_nonzero(np.diff(moves)))


def summarize(rows: Sequence[Row], step_ms: int, events: Iterable[Occurrence]) -> list[Figures]:
    """Per Deployment (configuration order), then the whole cluster:

    * ``pod_hours``: pods (``current_replicas``) times hours, step by step (the cost);
    * ``peak_replicas``: the most pods at any step;
    * ``above_target_minutes``: minutes where any HPA metric was above its target;
    * ``unserved_load_minutes``: minutes of load ready pods could not serve (all of it
      without a ready pod, else the share of CPU demand the limits throttled);
    * ``scale_events``: the HPA's ``SuccessfulRescale`` events;
    * ``direction_changes``: how often scaling turned from up to down or back (flapping).
    """
    rescales: dict[tuple[str, str], int] = {}
    for e in events:
        if e.kind == _HPA_KIND and e.reason == "SuccessfulRescale":
            rescales[(e.namespace, e.name)] = rescales.get((e.namespace, e.name), 0) + 1
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.namespace, r.deployment), []).append(r)
    step_h = step_ms / 3_600_000
    out: list[Figures] = []
    for (namespace, name), rs in groups.items():
        replicas = np.array([r.spec_replicas for r in rs], dtype=np.int64)
        pods = np.array([r.current_replicas for r in rs], dtype=np.float64)
        above = np.array([any(m.value > m.target for m in r.metrics) for r in rs], dtype=np.float64)
        unserved = np.array([r.unserved for r in rs], dtype=np.float64)
        hpa = rs[0].hpa
        out.append(
            Figures(
                namespace,
                name,
                hpa,
                pod_hours=round(float(pods.sum()) * step_h, 6),
                peak_replicas=int(pods.max()) if len(pods) else 0,
                above_target_minutes=round(float(above.sum()) * step_h * 60, 6),
                unserved_load_minutes=round(float(unserved.sum()) * step_h * 60, 6),
                scale_events=rescales.get((namespace, hpa), 0) if hpa else 0,
                direction_changes=_direction_changes(replicas),
            )
        )
    out.append(
        Figures(
            "*",
            "*",
            "*",
            pod_hours=round(sum(f.pod_hours for f in out), 6),
            peak_replicas=_peak_total(rows),
            above_target_minutes=round(sum(f.above_target_minutes for f in out), 6),
            unserved_load_minutes=round(sum(f.unserved_load_minutes for f in out), 6),
            scale_events=sum(f.scale_events for f in out),
            direction_changes=sum(f.direction_changes for f in out),
        )
    )
    return out


def _peak_total(rows: Sequence[Row]) -> int:
    per_step: dict[int, int] = {}
    for r in rows:
        per_step[r.t_ms] = per_step.get(r.t_ms, 0) + r.current_replicas
    return max(per_step.values(), default=0)


def write_summary(path: Path, figures: Sequence[Figures], meta: dict[str, Any]) -> None:
    record = {
        **meta,
        "deployments": [jsonable(f) for f in figures[:-1]],
        "total": jsonable(figures[-1]),
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


_COLUMNS: tuple[tuple[str, Callable[[Figures], str]], ...] = (
    ("DEPLOYMENT", lambda f: f.deployment if f.namespace != "*" else "(all)"),
    ("HPA", lambda f: f.hpa if f.hpa != "*" else ""),
    ("POD-HOURS", lambda f: f"{f.pod_hours:.2f}"),
    ("PEAK", lambda f: str(f.peak_replicas)),
    ("ABOVE-TARGET", lambda f: f"{f.above_target_minutes:.1f}m"),
    ("UNSERVED", lambda f: f"{f.unserved_load_minutes:.1f}m"),
    ("SCALINGS", lambda f: str(f.scale_events)),
    ("FLAPS", lambda f: str(f.direction_changes)),
)


def summary_table(figures: Sequence[Figures]) -> str:
    """The summary as a table for the terminal (kubectl-style columns)."""
    cells = [[name for name, _ in _COLUMNS]]
    cells += [[get(f) for _, get in _COLUMNS] for f in figures]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
