"""The decision record of one sync: every intermediate, and its text rendering.

:class:`Decision` is what :func:`~kubeprom.hpa.controller.reconcile` decided and why: the
branch taken, each metric's proposal with its :class:`~kubeprom.hpa.replicas.CalcTrace`
(per-pod values, readiness groups, ratio, tolerance verdict, rebalancing), the combined
proposal, the stabilization window contents, the rate-limit policies and the clamp
(:class:`~kubeprom.hpa.behavior.NormalizeTrace`), and what was written. Simulations write it
as their decision trace; :func:`render` prints it for people (``kubeprom hpa render``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from kubeprom.hpa.behavior import NormalizeTrace
from kubeprom.hpa.replicas import CalcTrace, PodGroups, Tolerances
from kubeprom.model.quantity import milli_text


class Branch(StrEnum):
    """Which way a sync went (ALGORITHM.md section 2)."""

    FAILED_GET_SCALE = "failed to read the scale"
    SCALING_DISABLED = "scaling disabled (0 replicas)"
    ABOVE_MAX = "above maxReplicas"
    BELOW_MIN = "below minReplicas"
    METRICS = "metrics"


@dataclass(frozen=True, slots=True, eq=False)
class MetricDecision:
    """One metric spec's outcome: a proposal (with ``name``, upstream's description of the
    metric) or an error with the condition reason it would set."""

    index: int
    type: str
    name: str = ""
    proposal: int | None = None
    error: str | None = None
    reason: str | None = None
    trace: CalcTrace | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Decision:
    """Everything one sync decided. ``proposal`` is the metrics' combined proposal (-1 when
    the metrics stopped the sync); ``desired`` is what the sync settled on; ``scaled_to`` is
    the count written (or tried), None when nothing was written."""

    t_ms: int
    hpa: str
    branch: Branch
    current: int | None = None
    min_replicas: int = 1
    max_replicas: int = 0
    tolerances: Tolerances | None = None
    selector_error: str | None = None
    metrics: tuple[MetricDecision, ...] = ()
    invalid_metrics: int = 0
    proposal: int | None = None
    proposal_metric: str = ""
    normalization: NormalizeTrace | None = None
    desired: int | None = None
    rescale_reason: str = ""
    scaled_to: int | None = None
    write_error: str | None = None
    error: str | None = None


_MAX_LISTED = 20


def _names(names: NDArray[np.str_]) -> str:
    shown = ", ".join(str(n) for n in names[:_MAX_LISTED])
    more = f", ... ({len(names)} in all)" if len(names) > _MAX_LISTED else ""
    return shown + more if len(names) else "-"


def _groups(groups: PodGroups) -> list[str]:
    out = [
        f"ready: {len(groups.ready)} ({_names(groups.ready)})",
        f"unready: {_names(groups.unready)}",
        f"missing: {_names(groups.missing)}",
        f"ignored: {_names(groups.ignored)}",
    ]
    if len(groups.superfluous):
        out.append(f"superfluous samples: {_names(groups.superfluous)}")
    return out


def _value(trace: CalcTrace, value: int) -> str:
    return f"{value}%" if trace.method == "utilization" else milli_text(value)


def render_trace(trace: CalcTrace) -> list[str]:
    """The lines of one metric's calculation."""
    out = []
    target = _value(trace, trace.target)
    if trace.groups is not None:
        out += _groups(trace.groups)
        shown = zip(trace.sample_pods[:_MAX_LISTED], trace.sample_values[:_MAX_LISTED], strict=True)
        values = ", ".join(f"{p or '(superfluous)'}={milli_text(int(v))}" for p, v in shown)
        if len(trace.sample_values) > _MAX_LISTED:
            values += f", ... ({len(trace.sample_values)} in all)"
        out.append(f"samples: {values or '-'}")
    if trace.method == "utilization":
        out.append(
            f"utilization: {trace.usage}% of request (sum {milli_text(trace.usage_total or 0)} / "
            f"requests {milli_text(trace.requests_total or 0)}), raw average "
            f"{milli_text(trace.raw_average or 0)}; target {target}"
        )
    elif trace.method == "per-pod":
        out.append(
            f"value {milli_text(trace.usage_total or 0)} over {trace.multiplier} replicas = "
            f"{milli_text(trace.usage or 0)} per pod; target {target} per pod"
        )
    else:
        label = "average" if trace.method == "average" else "value"
        out.append(f"{label}: {milli_text(trace.usage or 0)}; target {target}")
    t = trace.tolerances
    verdict = {True: "within", False: "outside", None: "not tested"}[trace.within_tolerance]
    out.append(
        f"ratio: {trace.ratio!r}; tolerance [{1 - t.scale_down!r}, {1 + t.scale_up!r}]: {verdict}"
    )
    if trace.rebalance is not None:
        r = trace.rebalance
        usage = _value(trace, r.usage)
        out.append(
            f"rebalanced (missing as {r.missing_as}, unready as "
            f"{'0' if r.unready_as_zero else 'left out'}): {usage} over {r.count} samples, "
            f"ratio {r.ratio!r} -> {r.proposal}"
        )
    elif trace.multiplier is not None and trace.method != "per-pod" and not trace.kept_current:
        out.append(f"ceil({trace.ratio!r} x {trace.multiplier} pods) = {trace.proposal}")
    if trace.kept_current:
        out.append(f"kept the current count: {trace.kept_current}")
    return out


def render_normalization(n: NormalizeTrace) -> list[str]:
    """The lines of stabilization and limits."""
    out = []
    ages = ", ".join(
        f"{int(r)}@{int(a) / 1000:g}s{'*' if (u or d) else ''}"
        for r, a, u, d in zip(
            n.window_replicas, n.window_age_ms, n.window_up, n.window_down, strict=True
        )
    )
    if n.legacy:
        out.append(f"recommendations (* = within {n.down_window_s}s): {ages or '-'}")
        out.append(f"stabilized: max({n.proposal}, window) = {n.stabilized}")
    else:
        out.append(
            f"recommendations (* = within the up {n.up_window_s}s or down {n.down_window_s}s "
            f"window): {ages or '-'}"
        )
        out.append(
            f"stabilized: {n.current} moved into [{n.up_bound}, {n.down_bound}] = {n.stabilized}"
        )
    out.append(f"AbleToScale: {n.able_to_scale[0]}")
    for p in n.policies:
        out.append(
            f"policy {p.type} {p.value} per {p.period_seconds}s: period start {p.period_start}, "
            f"allows {p.allowed}"
        )
    if n.legacy:
        out.append(
            f"limits: [{n.bound if n.stabilized < n.desired else '-'}] scale-up cap {n.limit}"
        )
    elif n.limit is not None:
        out.append(f"selectPolicy {n.select_policy}: limit {n.limit}, bound {n.bound}")
    flag = "True" if n.limited else "False"
    out.append(f"desired: {n.desired} (ScalingLimited {flag}/{n.limited_reason[0]})")
    return out


def render(decision: Decision) -> list[str]:
    """A decision as indented text lines."""
    d = decision
    out = [f"{d.hpa} at {d.t_ms / 1000:g}s: {d.branch}"]
    if d.current is not None:
        out.append(f"  current {d.current}, min {d.min_replicas}, max {d.max_replicas}")
    if d.selector_error:
        out.append(f"  selector: {d.selector_error}")
    for m in d.metrics:
        head = f"  metric {m.index} ({m.type})"
        if m.error is not None:
            out.append(f"{head}: {m.reason}: {m.error}")
            continue
        out.append(f"{head} {m.name}: proposes {m.proposal}")
        if m.trace is not None:
            out += [f"    {line}" for line in render_trace(m.trace)]
    if d.proposal is not None and d.branch is Branch.METRICS:
        invalid = f" ({d.invalid_metrics} invalid)" if d.invalid_metrics else ""
        out.append(f"  proposal: {d.proposal}{invalid}")
    if d.normalization is not None:
        out += [f"  {line}" for line in render_normalization(d.normalization)]
    if d.scaled_to is not None:
        result = f"failed: {d.write_error}" if d.write_error else "ok"
        out.append(f"  scale to {d.scaled_to} ({d.rescale_reason}): {result}")
    elif d.desired is not None:
        out.append(f"  no change ({d.desired})")
    if d.error:
        out.append(f"  error: {d.error}")
    return out
