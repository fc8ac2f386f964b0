"""What a simulation records while it runs: a row per Deployment and step, every event
occurrence, every HPA decision.

:class:`EventTape` is the cluster's event log that also keeps each occurrence (the log
aggregates repeats and expires old ones, as the API server does). :class:`Recorder` is
called once per step, after the loop's parts ran up to that instant; it reads the cluster
(vectorised per-Deployment sums), the HPAs' status and their new decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kubeprom.exporters import MetricValue, SimulatedCluster
from kubeprom.exporters.rabbitmq import whole_messages
from kubeprom.hpa.controller import Condition
from kubeprom.hpa.decision import Decision
from kubeprom.hpa.manager import Autoscaler, Autoscalers
from kubeprom.model.events import Event, EventLog, ObjectRef
from kubeprom.sim.workloads import hpa_status


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One event occurrence (the log's aggregated event at that moment)."""

    t_ms: int
    kind: str
    namespace: str
    name: str
    type: str
    reason: str
    message: str
    source: str


class EventTape(EventLog):
    """An :class:`EventLog` that also keeps every occurrence, in order, for ``events.csv``."""

    def __init__(self) -> None:
        super().__init__()
        self.tape: list[Occurrence] = []

    def record(
        self,
        t_ms: int,
        involved: ObjectRef,
        type_: str,
        reason: str,
        message: str,
        source: str,
    ) -> Event:
        self.tape.append(
            Occurrence(
                t_ms,
                involved.kind,
                involved.namespace,
                involved.name,
                type_,
                reason,
                message,
                source,
            )
        )
        return super().record(t_ms, involved, type_, reason, message, source)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One HPA metric at a step: its name (``cpu/utilization``), current value and target;
    NaN where the controller had no value."""

    name: str
    value: float
    target: float


@dataclass(frozen=True, slots=True)
class Row:
    """One Deployment at one step."""

    t_ms: int
    namespace: str
    deployment: str
    hpa: str
    spec_replicas: int
    desired_replicas: int
    current_replicas: int
    ready_replicas: int
    pending_pods: int
    load_rps: float
    cpu_cores: float
    cpu_demand_cores: float
    memory_bytes: float
    metrics: tuple[MetricPoint, ...] = ()
    queue_messages: float | None = None  # a queue worker's backlog, as the broker shows it

    @property
    def throttled(self) -> float:
        """The share of CPU demand the limits cut off."""
        if self.cpu_demand_cores <= 0:
            return 0.0
        return max(0.0, 1.0 - self.cpu_cores / self.cpu_demand_cores)

    @property
    def unserved(self) -> float:
        """The share of the load ready pods could not serve: all of it without a ready
        pod, else the share of CPU demand throttled away."""
        if self.load_rps <= 0:
            return 0.0
        return 1.0 if self.ready_replicas == 0 else self.throttled


def _metric_name(v: MetricValue) -> str:
    container = f"[{v.container}]" if v.container else ""
    return f"{v.metric_name}{container}/{v.target_type}"


def metric_points(a: Autoscaler) -> tuple[MetricPoint, ...]:
    """An HPA's metrics as kube-state-metrics shows them: each spec target with the status
    value of the same metric and target type."""
    status = hpa_status(a)
    current = {_metric_name(v): v.value for v in status.status_metrics}
    return tuple(
        MetricPoint(_metric_name(t), current.get(_metric_name(t), math.nan), t.value)
        for t in status.spec_metrics
    )


@dataclass(slots=True)
class Recorder:
    """Collects rows and decisions at each step; see the module docstring."""

    cluster: SimulatedCluster
    autoscalers: Autoscalers
    rows: list[Row] = field(default_factory=list)
    decisions: list[tuple[Decision, tuple[Condition, ...] | None]] = field(default_factory=list)
    _seen_ms: dict[str, int] = field(default_factory=dict)

    def step(self, t_ms: int) -> None:
        cluster = self.cluster
        cluster.advance_to(t_ms / 1000)
        usage = cluster.deployment_usage()
        by_target: dict[tuple[str, str], Autoscaler] = {}
        for a in self.autoscalers.autoscalers():
            ref = a.hpa.spec.scale_target_ref
            if ref.kind == "Deployment":
                by_target.setdefault((a.hpa.namespace, ref.name), a)
            last = self._seen_ms.get(a.key, -1)
            new = [d for d in self.autoscalers.decisions(a.key) if d.t_ms > last]
            if new:
                # The status now is what the last of them left.
                self.decisions.extend((d, None) for d in new[:-1])
                self.decisions.append((new[-1], tuple(a.state.status.conditions)))
                self._seen_ms[a.key] = new[-1].t_ms
        backlog = {(q.namespace, q.deployment): q.messages_ready for q in cluster.queues()}
        for i, spec in enumerate(cluster.spec.deployments):
            waiting = backlog.get((spec.namespace, spec.name))
            info = cluster.deployment(spec.namespace, spec.name)
            owner = by_target.get((spec.namespace, spec.name))
            status = owner.state.status if owner is not None else None
            self.rows.append(
                Row(
                    t_ms=t_ms,
                    namespace=spec.namespace,
                    deployment=spec.name,
                    hpa=owner.hpa.name if owner is not None else "",
                    spec_replicas=info.spec_replicas,
                    desired_replicas=status.desired_replicas if status else info.spec_replicas,
                    current_replicas=info.replicas,
                    ready_replicas=info.ready_replicas,
                    pending_pods=int(usage.pending_pods[i]),
                    load_rps=cluster.load_rps(spec.namespace, spec.name),
                    cpu_cores=float(usage.cpu_cores[i]),
                    cpu_demand_cores=float(usage.cpu_demand_cores[i]),
                    memory_bytes=float(usage.memory_bytes[i]),
                    metrics=metric_points(owner) if owner is not None else (),
                    queue_messages=whole_messages(waiting) if waiting is not None else None,
                )
            )
