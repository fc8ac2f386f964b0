"""Proposals for every metric of an HPA, combined (ALGORITHM.md sections 5.5 and 6).

Upstream's ``computeReplicasForMetrics`` / ``computeReplicasForMetric`` /
``computeStatusFor*Metric``: which calculation each metric spec takes, the status it
reports, how its description reads in conditions and events (``cpu resource utilization
(percentage of request)``, ``pods metric qps``, ``Deployment metric qps``, ``external
metric qps(&LabelSelector{...})``), how a failure is worded at each level, and how the
valid proposals combine (the largest wins; failures block a scale-down).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeprom.config.hpa_spec import (
    MetricSourceType,
    MetricSpec,
    MetricTarget,
    MetricTargetType,
)
from kubeprom.hpa.decision import MetricDecision
from kubeprom.hpa.replicas import CalcError, Proposal, ReplicaCalculator, Tolerances
from kubeprom.hpa.source import describe_selector, selector_requirements
from kubeprom.model.quantity import Quantity


@dataclass(frozen=True, slots=True)
class MetricStatus:
    """``autoscaling/v2`` ``MetricStatus``: the current value of one metric, in milli-units
    (``average_utilization`` in percent). ``name`` is the resource or metric name."""

    type: str
    name: str
    container: str = ""
    average_utilization: int | None = None
    average_value_m: int | None = None
    value_m: int | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A metric that failed: the condition reason and message, the event text, the error."""

    reason: str
    condition_message: str
    event_message: str
    error: str


@dataclass(frozen=True, slots=True)
class Combined:
    """``computeReplicasForMetrics``: the proposal (-1 when the sync must stop), the metric
    that won, per-spec statuses and decisions, and the failures."""

    replicas: int
    metric: str
    statuses: tuple[MetricStatus | None, ...]
    decisions: tuple[MetricDecision, ...]
    failures: tuple[Failed, ...] = field(default=())
    error: str | None = None

    @property
    def stop(self) -> bool:
        return self.replicas == -1


def _milli(q: Quantity | None) -> int:
    return q.milli_value() if q is not None else 0


def _unable(reason: str, err: str) -> Failed:
    """``getUnableComputeReplicaCountCondition`` (its event carries the bare error)."""
    message = f"the HPA was unable to compute the replica count: {err}"
    return Failed(reason, message, err, err)


def _resource_generic(
    calc: ReplicaCalculator,
    current: int,
    target: MetricTarget,
    resource: str,
    container: str,
    tolerances: Tolerances,
    container_metric: bool,
) -> tuple[Proposal, str, MetricStatus]:
    """``computeStatusForResourceMetricGeneric``; raises CalcError with its wrapping."""
    if target.average_value is not None:
        try:
            p = calc.raw_resource_replicas(
                current, _milli(target.average_value), resource, tolerances, container
            )
        except CalcError as err:
            raise CalcError(f"failed to get {resource} usage: {err}") from None
        status = MetricStatus("", resource, container, average_value_m=p.usage)
        return p, f"{resource} resource", status
    if target.average_utilization is None:
        raise CalcError(
            "invalid resource metric source: neither an average utilization target nor an "
            "average value (usage) target was set"
        )
    try:
        p = calc.resource_replicas(
            current, target.average_utilization, resource, tolerances, container
        )
    except CalcError as err:
        raise CalcError(f"failed to get {resource} utilization: {err}") from None
    kind = "container resource" if container_metric else "resource"
    name = f"{resource} {kind} utilization (percentage of request)"
    status = MetricStatus(
        "", resource, container, average_utilization=p.usage, average_value_m=p.raw_usage
    )
    return p, name, status


def compute_metric(
    calc: ReplicaCalculator,
    spec: MetricSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: Tolerances,
    namespace: str,
) -> tuple[Proposal, str, MetricStatus] | Failed:
    """``computeReplicasForMetric``: one spec's proposal, description and status, or why not."""
    t = spec.type
    if t == MetricSourceType.RESOURCE and spec.resource is not None:
        r = spec.resource
        try:
            p, name, status = _resource_generic(
                calc, spec_replicas, r.target, r.name, "", tolerances, False
            )
        except CalcError as err:
            f = _unable("FailedGetResourceMetric", str(err))
            return _wrap(f, f"failed to get {r.name} resource metric value: {err}")
        return (
            p,
            name,
            MetricStatus(t, r.name, "", status.average_utilization, status.average_value_m),
        )
    if t == MetricSourceType.CONTAINER_RESOURCE and spec.container_resource is not None:
        c = spec.container_resource
        try:
            p, name, status = _resource_generic(
                calc, spec_replicas, c.target, c.name, c.container, tolerances, True
            )
        except CalcError as err:
            f = _unable("FailedGetContainerResourceMetric", str(err))
            return _wrap(f, f"failed to get {c.container} container metric value: {err}")
        return (
            p,
            name,
            MetricStatus(
                t, c.name, c.container, status.average_utilization, status.average_value_m
            ),
        )
    if t == MetricSourceType.PODS and spec.pods is not None:
        pm = spec.pods
        try:
            selector_requirements(pm.metric.selector)
            p = calc.metric_replicas(
                spec_replicas,
                _milli(pm.target.average_value),
                pm.metric.name,
                tolerances,
                pm.metric.selector,
            )
        except (CalcError, ValueError) as err:
            f = _unable("FailedGetPodsMetric", str(err))
            return _wrap(f, f"failed to get pods metric value: {err}")
        status = MetricStatus(t, pm.metric.name, average_value_m=p.usage)
        return p, f"pods metric {pm.metric.name}", status
    if t == MetricSourceType.OBJECT and spec.object is not None:
        return _object(calc, spec, spec_replicas, status_replicas, tolerances)
    if t == MetricSourceType.EXTERNAL and spec.external is not None:
        return _external(calc, spec, spec_replicas, status_replicas, tolerances)
    if t in tuple(MetricSourceType):
        # Validation makes the source present; upstream would dereference nil here.
        return _unable("InvalidMetricSourceType", f"{t} metric source is not set")
    return _unable("InvalidMetricSourceType", f'unknown metric source type "{t}"')


def _wrap(failed: Failed, error: str) -> Failed:
    return Failed(failed.reason, failed.condition_message, failed.event_message, error)


def _object(
    calc: ReplicaCalculator,
    spec: MetricSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: Tolerances,
) -> tuple[Proposal, str, MetricStatus] | Failed:
    o = spec.object
    if o is None:  # pragma: no cover - checked by the caller
        raise ValueError("no object metric")
    outer = "failed to get object metric value: {}"
    try:
        selector_requirements(o.metric.selector)
    except ValueError as err:
        return _wrap(_unable("FailedGetObjectMetric", str(err)), outer.format(err))
    target = o.target
    if target.type == MetricTargetType.VALUE and target.value is not None:
        try:
            p = calc.object_replicas(
                spec_replicas,
                target.value.milli_value(),
                o.metric.name,
                tolerances,
                o.described_object,
                o.metric.selector,
            )
        except CalcError as err:
            return _wrap(_unable("FailedGetObjectMetric", str(err)), outer.format(err))
        status = MetricStatus(spec.type, o.metric.name, value_m=p.usage)
        return p, f"{o.described_object.kind} metric {o.metric.name}", status
    if target.type == MetricTargetType.AVERAGE_VALUE and target.average_value is not None:
        try:
            p = calc.object_per_pod_replicas(
                status_replicas,
                target.average_value.milli_value(),
                o.metric.name,
                tolerances,
                o.described_object,
                o.metric.selector,
            )
        except CalcError as err:
            inner = f"failed to get {o.metric.name} object metric: {err}"
            return _wrap(_unable("FailedGetObjectMetric", str(err)), outer.format(inner))
        status = MetricStatus(spec.type, o.metric.name, average_value_m=p.usage)
        # Upstream calls this one an external metric; events and conditions say so.
        name = f"external metric {o.metric.name}({describe_selector(o.metric.selector)})"
        return p, name, status
    bad = "invalid object metric source: neither a value target nor an average value target was set"
    return _wrap(_unable("FailedGetObjectMetric", bad), outer.format(bad))


def _external(
    calc: ReplicaCalculator,
    spec: MetricSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: Tolerances,
) -> tuple[Proposal, str, MetricStatus] | Failed:
    e = spec.external
    if e is None:  # pragma: no cover - checked by the caller
        raise ValueError("no external metric")
    metric = e.metric.name
    outer = f"failed to get {metric} external metric value: {{}}"
    name = f"external metric {metric}({describe_selector(e.metric.selector)})"
    if e.target.average_value is not None:
        try:
            p = calc.external_per_pod_replicas(
                status_replicas,
                e.target.average_value.milli_value(),
                metric,
                tolerances,
                e.metric.selector,
            )
        except CalcError as err:
            inner = f"failed to get {metric} external metric: {err}"
            return _wrap(_unable("FailedGetExternalMetric", str(err)), outer.format(inner))
        return p, name, MetricStatus(spec.type, metric, average_value_m=p.usage)
    if e.target.value is not None:
        try:
            p = calc.external_replicas(
                spec_replicas, e.target.value.milli_value(), metric, tolerances, e.metric.selector
            )
        except CalcError as err:
            inner = f"failed to get external metric {metric}: {err}"
            return _wrap(_unable("FailedGetExternalMetric", str(err)), outer.format(inner))
        return p, name, MetricStatus(spec.type, metric, value_m=p.usage)
    bad = (
        "invalid external metric source: neither a value target nor an average value target was set"
    )
    return _wrap(_unable("FailedGetExternalMetric", bad), outer.format(bad))


def compute_metrics(
    calc: ReplicaCalculator,
    specs: tuple[MetricSpec, ...],
    spec_replicas: int,
    status_replicas: int,
    tolerances: Tolerances,
    namespace: str,
) -> Combined:
    """``computeReplicasForMetrics`` after the selector check: the largest valid proposal;
    -1 when every metric failed or a failure would let the count go down."""
    replicas = 0
    metric = ""
    statuses: list[MetricStatus | None] = []
    decisions = []
    failures: list[Failed] = []
    for i, spec in enumerate(specs):
        result = compute_metric(calc, spec, spec_replicas, status_replicas, tolerances, namespace)
        if isinstance(result, Failed):
            failures.append(result)
            statuses.append(None)
            decisions.append(MetricDecision(i, spec.type, error=result.error, reason=result.reason))
            continue
        proposal, name, status = result
        statuses.append(status)
        decisions.append(
            MetricDecision(i, spec.type, name, proposal.replicas, trace=proposal.trace)
        )
        if replicas == 0 or proposal.replicas > replicas:
            replicas, metric = proposal.replicas, name
    error = None
    if failures:
        error = (
            f"invalid metrics ({len(failures)} invalid out of {len(specs)}), first error is: "
            f"{failures[0].error}"
        )
    stop = len(failures) >= len(specs) or (bool(failures) and replicas < spec_replicas)
    return Combined(
        -1 if stop else replicas,
        "" if stop else metric,
        tuple(statuses),
        tuple(decisions),
        tuple(failures),
        error,
    )
