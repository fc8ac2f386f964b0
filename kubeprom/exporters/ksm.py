"""kube-state-metrics' ``/metrics`` for the simulated cluster, as columns.

Metric names, HELP texts (``[STABLE]`` where kube-state-metrics v2 marks them) and label
names follow ``docs/metrics/*.md`` and ``internal/store/*.go`` of kube-state-metrics v2
(prometheus-client prints label pairs sorted, where kube-state-metrics keeps its own order;
the series are the same). Enum-like metrics (pod phase, ready,
node and deployment conditions) emit one sample per possible value, 1 for the current one,
as kube-state-metrics does. HorizontalPodAutoscaler metrics appear once something publishes
an HPA with :meth:`SimulatedCluster.set_hpa <kubeprom.exporters.cluster.SimulatedCluster.set_hpa>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.core import Metric

from kubeprom.exporters.columns import (
    BlockBuilder,
    Columns,
    FamilySpec,
    ObjectColumns,
    concat,
    to_metrics,
)
from kubeprom.exporters.ksm_pods import PodColumns
from kubeprom.exporters.views import (
    ClusterView,
    DeploymentInfo,
    HPAStatus,
    MetricValue,
    NodeInfo,
)

_S = "[STABLE] "
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_DEP = ("namespace", "deployment")
_HPA = ("namespace", "horizontalpodautoscaler")
_RS = ("namespace", "replicaset")
_STATUSES = ("true", "false", "unknown")
_NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> FamilySpec:
    return FamilySpec(name, "gauge", doc, labels)


# ---- Deployments (internal/store/deployment.go) ---------------------------------------------
_DEP_PLAIN = tuple(
    _gauge(f"kube_deployment_{name}", _S + doc, _DEP)
    for name, doc in (
        ("created", "Unix creation timestamp"),
        (
            "metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
        ),
        (
            "spec_paused",
            "Whether the deployment is paused and will not be processed by the deployment "
            "controller.",
        ),
        ("spec_replicas", "Number of desired pods for a deployment."),
        ("status_observed_generation", "The generation observed by the deployment controller."),
        ("status_replicas", "The number of replicas per deployment."),
        ("status_replicas_available", "The number of available replicas per deployment."),
        ("status_replicas_ready", "The number of ready replicas per deployment."),
        ("status_replicas_unavailable", "The number of unavailable replicas per deployment."),
        ("status_replicas_updated", "The number of updated replicas per deployment."),
    )
)
_DEP_CONDITION = len(_DEP_PLAIN)

# ---- HorizontalPodAutoscalers (internal/store/horizontalpodautoscaler.go) --------------------
_H = "kube_horizontalpodautoscaler_"
_TARGET = ("metric_name", "metric_target_type", "container")
_HPA_FAMILIES = (
    _gauge(
        _H + "info",
        "Information about this autoscaler.",
        (*_HPA, "scaletargetref_api_version", "scaletargetref_kind", "scaletargetref_name"),
    ),
    _gauge(
        _H + "metadata_generation",
        _S + "The generation observed by the HorizontalPodAutoscaler controller.",
        _HPA,
    ),
    _gauge(
        _H + "spec_max_replicas",
        _S + "Upper limit for the number of pods that can be set by the autoscaler; "
        "cannot be smaller than MinReplicas.",
        _HPA,
    ),
    _gauge(
        _H + "spec_min_replicas",
        _S + "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
        _HPA,
    ),
    _gauge(
        _H + "spec_target_metric",
        "The metric specifications used by this autoscaler when calculating the desired "
        "replica count.",
        (*_HPA, *_TARGET),
    ),
    *(
        _gauge(
            f"{_H}spec_behavior_scale_{direction}_tolerance",
            "The tolerance on the ratio between the current and desired metric value below "
            f"which no scale {direction} occurs.",
            _HPA,
        )
        for direction in ("down", "up")
    ),
    _gauge(
        _H + "status_target_metric",
        _S + "The current metric status used by this autoscaler when calculating the "
        "desired replica count.",
        (*_HPA, *_TARGET),
    ),
    _gauge(
        _H + "status_current_replicas",
        _S + "Current number of replicas of pods managed by this autoscaler.",
        _HPA,
    ),
    _gauge(
        _H + "status_desired_replicas",
        _S + "Desired number of replicas of pods managed by this autoscaler.",
        _HPA,
    ),
    _gauge(_H + "labels", _S + "Kubernetes labels converted to Prometheus labels."),
    _gauge(
        _H + "status_condition",
        _S + "The condition of this autoscaler.",
        (*_HPA, "condition", "status"),
    ),
    _gauge(_H + "created", "Unix creation timestamp", _HPA),
)
(
    _F_INFO,
    _F_GENERATION,
    _F_MAX,
    _F_MIN,
    _F_SPEC_METRIC,
    _F_TOL_DOWN,
    _F_TOL_UP,
    _F_STATUS_METRIC,
    _F_CURRENT,
    _F_DESIRED,
    _F_LABELS,
    _F_CONDITION,
    _F_CREATED,
) = range(len(_HPA_FAMILIES))

# ---- Nodes (internal/store/node.go) ----------------------------------------------------------
_NODE_RESOURCE = ("node", "resource", "unit")
_NODE_FAMILIES = (
    _gauge(
        "kube_node_info",
        _S + "Information about a cluster node.",
        (
            "node",
            "kernel_version",
            "os_image",
            "container_runtime_version",
            "kubelet_version",
            "kubeproxy_version",
            "provider_id",
            "pod_cidr",
            "system_uuid",
            "internal_ip",
        ),
    ),
    _gauge("kube_node_created", _S + "Unix creation timestamp", ("node",)),
    _gauge("kube_node_spec_unschedulable", _S + "Whether a node can schedule new pods.", ("node",)),
    _gauge(
        "kube_node_status_allocatable",
        _S + "The allocatable for different resources of a node that are available for scheduling.",
        _NODE_RESOURCE,
    ),
    _gauge(
        "kube_node_status_capacity",
        _S + "The capacity for different resources of a node.",
        _NODE_RESOURCE,
    ),
    _gauge(
        "kube_node_status_condition",
        _S + "The condition of a cluster node.",
        ("node", "condition", "status"),
    ),
)
_UNITS = (("cpu", "core"), ("memory", "byte"), ("pods", "integer"))

# ---- ReplicaSets (internal/store/replicaset.go) ----------------------------------------------
_RS_FAMILIES = (
    _gauge(
        "kube_replicaset_owner",
        _S + "Information about the ReplicaSet's owner.",
        (*_RS, "owner_kind", "owner_name", "owner_is_controller"),
    ),
    _gauge("kube_replicaset_spec_replicas", _S + "Number of desired pods for a ReplicaSet.", _RS),
    _gauge("kube_replicaset_status_replicas", _S + "The number of replicas per ReplicaSet.", _RS),
    _gauge(
        "kube_replicaset_status_ready_replicas",
        _S + "The number of ready replicas per ReplicaSet.",
        _RS,
    ),
)


class KubeStateMetricsCollector:
    """kube-state-metrics for every object of ``cluster``, as columns: each Deployment,
    HPA, node, pod and ReplicaSet one block of series (kept while its labels hold) and one
    row of values."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster
        self._pods = PodColumns(cluster)
        self._deployments = ObjectColumns(
            (
                *_DEP_PLAIN,
                _gauge(
                    "kube_deployment_status_condition",
                    _S + "The current status conditions of a deployment.",
                    (*_DEP, "reason", "condition", "status"),
                ),
            )
        )
        self._hpas = ObjectColumns(_HPA_FAMILIES)
        self._nodes = ObjectColumns(_NODE_FAMILIES)
        self._replicasets = ObjectColumns(_RS_FAMILIES)

    def collect(self) -> Iterator[Metric]:
        yield from to_metrics(self.columns())

    def columns(self) -> Columns:
        deployments = self.cluster.deployments()
        for d in deployments:
            _deployment(self._deployments, d)
        for h in self.cluster.hpas():
            _hpa(self._hpas, h)
        for n in self.cluster.nodes():
            _node(self._nodes, n)
        pods = self._pods.columns()
        for d in deployments:
            _replicaset(self._replicasets, d)
        return concat(
            [
                self._deployments.columns(),
                self._hpas.columns(),
                self._nodes.columns(),
                pods,
                self._replicasets.columns(),
            ]
        )


def _deployment(out: ObjectColumns, d: DeploymentInfo) -> None:
    key = (d.namespace, d.name)
    available = d.available_replicas >= d.spec_replicas
    reason = "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"
    conditions = [("Available", available, reason), ("Progressing", True, "NewReplicaSetAvailable")]
    if d.replica_failure is not None:
        # FailedCreate is not among kube-state-metrics' allowed reasons: "unknown".
        conditions.append(("ReplicaFailure", True, "unknown"))
    values = [
        d.created_s,
        d.generation,
        0.0,
        d.spec_replicas,
        d.observed_generation,
        d.replicas,
        d.available_replicas,
        d.ready_replicas,
        d.unavailable_replicas,
        d.updated_replicas,
    ]
    for _, state, _ in conditions:
        values.extend(_flag(s == ("true" if state else "false")) for s in _STATUSES)

    def series(b: BlockBuilder) -> None:
        for family in range(len(_DEP_PLAIN)):
            b.add(family, len(b), key)
        for cond, _, why in conditions:
            for status in _STATUSES:
                b.add(_DEP_CONDITION, len(b), (*key, why, cond, status))

    out.add((key, reason, len(conditions)), series, [float(v) for v in values])


def _hpa(out: ObjectColumns, h: HPAStatus) -> None:
    """Labels as with ``--metric-labels-allowlist=horizontalpodautoscalers=[*]``, no
    annotations."""
    # Label values as the text writes them: str() of the StrEnums the controller hands over.
    key = (str(h.namespace), str(h.name))
    target = (str(h.target_api_version), str(h.target_kind), str(h.target_name))
    spec = tuple(_target_labels(m) for m in h.spec_metrics)
    status = tuple(_target_labels(m) for m in h.status_metrics)
    down, up = h.scale_down_tolerance, h.scale_up_tolerance
    labels = tuple(
        (f"label_{_LABEL_UNSAFE.sub('_', k)}", str(v)) for k, v in sorted(h.labels.items())
    )
    types = tuple(str(t) for t, _ in h.conditions)
    created = h.created_s is not None
    values: list[float] = [1.0, h.generation, h.max_replicas, h.min_replicas]
    values.extend(m.value for m in h.spec_metrics)
    values.extend(v for v in (down, up) if v is not None)
    values.extend(m.value for m in h.status_metrics)
    values.extend((h.current_replicas, h.desired_replicas))
    values.extend([1.0] if labels else [])
    for _, st in h.conditions:
        values.extend(_flag(s == st) for s in _STATUSES)
    if h.created_s is not None:
        values.append(h.created_s)

    def series(b: BlockBuilder) -> None:
        b.add(_F_INFO, len(b), (*key, *target))
        for family in (_F_GENERATION, _F_MAX, _F_MIN):
            b.add(family, len(b), key)
        for m in spec:
            b.add(_F_SPEC_METRIC, len(b), (*key, *m))
        for family, tolerance in ((_F_TOL_DOWN, down), (_F_TOL_UP, up)):
            if tolerance is not None:
                b.add(family, len(b), key)
        for m in status:
            b.add(_F_STATUS_METRIC, len(b), (*key, *m))
        b.add(_F_CURRENT, len(b), key)
        b.add(_F_DESIRED, len(b), key)
        if labels:
            b.add_pairs(_F_LABELS, len(b), (*zip(_HPA, key, strict=True), *labels))
        for type_ in types:
            for s in _STATUSES:
                b.add(_F_CONDITION, len(b), (*key, type_, s))
        if created:
            b.add(_F_CREATED, len(b), key)

    signature = (key, target, spec, status, down is None, up is None, labels, types, created)
    out.add(signature, series, [float(v) for v in values])


def _target_labels(m: MetricValue) -> tuple[str, str, str]:
    return (str(m.metric_name), str(m.target_type), str(m.container))


def _node(out: ObjectColumns, n: NodeInfo) -> None:
    info = (
        n.name,
        n.kernel_version,
        n.os_image,
        n.container_runtime_version,
        n.kubelet_version,
        n.kubelet_version,
        n.provider_id,
        n.pod_cidr,
        n.system_uuid,
        n.internal_ip,
    )
    values: list[float] = [1.0, n.created_s, 0.0]
    for res in (n.allocatable, n.capacity):
        values.extend((res.cpu or 0.0, res.memory or 0.0, float(res.pods or 0)))
    for cond in _NODE_CONDITIONS:
        healthy = n.ready if cond == "Ready" else not n.ready
        values.extend(_flag(s == ("true" if healthy else "false")) for s in _STATUSES)

    def series(b: BlockBuilder) -> None:
        b.add(0, len(b), info)
        b.add(1, len(b), (n.name,))
        b.add(2, len(b), (n.name,))
        for family in (3, 4):
            for resource, unit in _UNITS:
                b.add(family, len(b), (n.name, resource, unit))
        for cond in _NODE_CONDITIONS:
            for s in _STATUSES:
                b.add(5, len(b), (n.name, cond, s))

    out.add(info, series, values)


def _replicaset(out: ObjectColumns, d: DeploymentInfo) -> None:
    key = (d.namespace, d.replicaset)

    def series(b: BlockBuilder) -> None:
        b.add(0, len(b), (*key, "Deployment", d.name, "true"))
        for family in (1, 2, 3):
            b.add(family, len(b), key)

    values = [1.0, float(d.spec_replicas), float(d.replicas), float(d.ready_replicas)]
    out.add((key, d.name), series, values)
