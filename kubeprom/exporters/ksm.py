"""kube-state-metrics' ``/metrics`` for the simulated cluster, as a prometheus-client collector.

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
from itertools import chain

from prometheus_client.core import GaugeMetricFamily, Metric

from kubeprom.exporters.columns import Columns, concat, from_metrics, to_metrics
from kubeprom.exporters.families import gauge
from kubeprom.exporters.ksm_pods import PodColumns
from kubeprom.exporters.views import ClusterView

_S = "[STABLE] "
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_DEP = ("namespace", "deployment")
_HPA = ("namespace", "horizontalpodautoscaler")
_RS = ("namespace", "replicaset")
_POD = ("namespace", "pod", "uid")
_CONTAINER = (*_POD, "container")
_RESOURCE = (*_CONTAINER, "node", "resource", "unit")
_STATUSES = ("true", "false", "unknown")
_NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
#: The exit code of a container killed by SIGKILL (128 + 9), as the OOM killer leaves it.
_OOM_EXIT_CODE = 137


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


class KubeStateMetricsCollector:
    """kube-state-metrics for every object of ``cluster``."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster
        self._pods = PodColumns(cluster)

    def collect(self) -> Iterator[Metric]:
        yield from to_metrics(self.columns())

    def columns(self) -> Columns:
        """Pods (most of the series) as cached columns; the few other objects' families
        are read sample by sample."""
        return concat(
            [
                from_metrics(chain(self._deployments(), self._hpas(), self._nodes())),
                self._pods.columns(),
                from_metrics(self._replicasets()),
            ]
        )

    def _deployments(self) -> Iterator[Metric]:
        fams: dict[str, GaugeMetricFamily] = {}
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
        ):
            fams[name] = gauge(f"kube_deployment_{name}", _S + doc, _DEP)
        condition = gauge(
            "kube_deployment_status_condition",
            _S + "The current status conditions of a deployment.",
            (*_DEP, "reason", "condition", "status"),
        )
        for d in self.cluster.deployments():
            key = [d.namespace, d.name]
            for name, value in (
                ("created", d.created_s),
                ("metadata_generation", d.generation),
                ("spec_paused", 0.0),
                ("spec_replicas", d.spec_replicas),
                ("status_observed_generation", d.observed_generation),
                ("status_replicas", d.replicas),
                ("status_replicas_available", d.available_replicas),
                ("status_replicas_ready", d.ready_replicas),
                ("status_replicas_unavailable", d.unavailable_replicas),
                ("status_replicas_updated", d.updated_replicas),
            ):
                fams[name].add_metric(key, float(value))
            available = d.available_replicas >= d.spec_replicas
            reason = "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"
            conditions = [
                ("Available", available, reason),
                ("Progressing", True, "NewReplicaSetAvailable"),
            ]
            if d.replica_failure is not None:
                # FailedCreate is not among kube-state-metrics' allowed reasons: "unknown".
                conditions.append(("ReplicaFailure", True, "unknown"))
            for cond, state, why in conditions:
                for status in _STATUSES:
                    value = _flag(status == ("true" if state else "false"))
                    condition.add_metric([*key, why, cond, status], value)
        yield from fams.values()
        yield condition

    def _hpas(self) -> Iterator[Metric]:
        """``internal/store/horizontalpodautoscaler.go``, in its family order; labels as
        with ``--metric-labels-allowlist=horizontalpodautoscalers=[*]``, no annotations."""
        prefix = "kube_horizontalpodautoscaler_"
        info = gauge(
            prefix + "info",
            "Information about this autoscaler.",
            (*_HPA, "scaletargetref_api_version", "scaletargetref_kind", "scaletargetref_name"),
        )
        plain = {
            name: gauge(prefix + name, help_, _HPA)
            for name, help_ in (
                (
                    "metadata_generation",
                    _S + "The generation observed by the HorizontalPodAutoscaler controller.",
                ),
                (
                    "spec_max_replicas",
                    _S + "Upper limit for the number of pods that can be set by the autoscaler; "
                    "cannot be smaller than MinReplicas.",
                ),
                (
                    "spec_min_replicas",
                    _S + "Lower limit for the number of pods that can be set by the autoscaler, "
                    "default 1.",
                ),
            )
        }
        target = ("metric_name", "metric_target_type", "container")
        spec_metric = gauge(
            prefix + "spec_target_metric",
            "The metric specifications used by this autoscaler when calculating the desired "
            "replica count.",
            (*_HPA, *target),
        )
        tolerance = {
            direction: gauge(
                f"{prefix}spec_behavior_scale_{direction}_tolerance",
                "The tolerance on the ratio between the current and desired metric value below "
                f"which no scale {direction} occurs.",
                _HPA,
            )
            for direction in ("down", "up")
        }
        status_metric = gauge(
            prefix + "status_target_metric",
            _S + "The current metric status used by this autoscaler when calculating the "
            "desired replica count.",
            (*_HPA, *target),
        )
        current = gauge(
            prefix + "status_current_replicas",
            _S + "Current number of replicas of pods managed by this autoscaler.",
            _HPA,
        )
        desired = gauge(
            prefix + "status_desired_replicas",
            _S + "Desired number of replicas of pods managed by this autoscaler.",
            _HPA,
        )
        labels = GaugeMetricFamily(
            prefix + "labels", _S + "Kubernetes labels converted to Prometheus labels."
        )
        condition = gauge(
            prefix + "status_condition",
            _S + "The condition of this autoscaler.",
            (*_HPA, "condition", "status"),
        )
        created = gauge(prefix + "created", "Unix creation timestamp", _HPA)
        for h in self.cluster.hpas():
            key = [h.namespace, h.name]
            info.add_metric([*key, h.target_api_version, h.target_kind, h.target_name], 1.0)
            plain["metadata_generation"].add_metric(key, float(h.generation))
            plain["spec_max_replicas"].add_metric(key, float(h.max_replicas))
            plain["spec_min_replicas"].add_metric(key, float(h.min_replicas))
            for m in h.spec_metrics:
                spec_metric.add_metric([*key, m.metric_name, m.target_type, m.container], m.value)
            if h.scale_down_tolerance is not None:
                tolerance["down"].add_metric(key, h.scale_down_tolerance)
            if h.scale_up_tolerance is not None:
                tolerance["up"].add_metric(key, h.scale_up_tolerance)
            for m in h.status_metrics:
                status_metric.add_metric([*key, m.metric_name, m.target_type, m.container], m.value)
            current.add_metric(key, float(h.current_replicas))
            desired.add_metric(key, float(h.desired_replicas))
            if h.labels:
                extra = {
                    f"label_{_LABEL_UNSAFE.sub('_', k)}": v for k, v in sorted(h.labels.items())
                }
                labels.add_sample(prefix + "labels", dict(zip(_HPA, key, strict=True)) | extra, 1.0)
            for type_, status in h.conditions:
                for s in _STATUSES:
                    condition.add_metric([*key, type_, s], _flag(s == status))
            if h.created_s is not None:
                created.add_metric(key, h.created_s)
        yield from (info, *plain.values(), spec_metric, tolerance["down"], tolerance["up"])
        yield from (status_metric, current, desired, labels, condition, created)

    def _nodes(self) -> Iterator[Metric]:
        info = gauge(
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
        )
        created = gauge("kube_node_created", _S + "Unix creation timestamp", ("node",))
        unschedulable = gauge(
            "kube_node_spec_unschedulable", _S + "Whether a node can schedule new pods.", ("node",)
        )
        resource = ("node", "resource", "unit")
        allocatable = gauge(
            "kube_node_status_allocatable",
            _S + "The allocatable for different resources of a node that are available for "
            "scheduling.",
            resource,
        )
        capacity = gauge(
            "kube_node_status_capacity",
            _S + "The capacity for different resources of a node.",
            resource,
        )
        condition = gauge(
            "kube_node_status_condition",
            _S + "The condition of a cluster node.",
            ("node", "condition", "status"),
        )
        for n in self.cluster.nodes():
            info.add_metric(
                [
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
                ],
                1.0,
            )
            created.add_metric([n.name], n.created_s)
            unschedulable.add_metric([n.name], 0.0)
            for fam, res in ((allocatable, n.allocatable), (capacity, n.capacity)):
                fam.add_metric([n.name, "cpu", "core"], res.cpu or 0.0)
                fam.add_metric([n.name, "memory", "byte"], res.memory or 0.0)
                fam.add_metric([n.name, "pods", "integer"], float(res.pods or 0))
            for cond in _NODE_CONDITIONS:
                healthy = n.ready if cond == "Ready" else not n.ready
                for status in _STATUSES:
                    value = _flag(status == ("true" if healthy else "false"))
                    condition.add_metric([n.name, cond, status], value)
        yield from (info, created, unschedulable, allocatable, capacity, condition)

    def _replicasets(self) -> Iterator[Metric]:
        owner = gauge(
            "kube_replicaset_owner",
            _S + "Information about the ReplicaSet's owner.",
            (*_RS, "owner_kind", "owner_name", "owner_is_controller"),
        )
        spec = gauge(
            "kube_replicaset_spec_replicas", _S + "Number of desired pods for a ReplicaSet.", _RS
        )
        status = gauge(
            "kube_replicaset_status_replicas", _S + "The number of replicas per ReplicaSet.", _RS
        )
        ready = gauge(
            "kube_replicaset_status_ready_replicas",
            _S + "The number of ready replicas per ReplicaSet.",
            _RS,
        )
        for d in self.cluster.deployments():
            key = [d.namespace, d.replicaset]
            owner.add_metric([*key, "Deployment", d.name, "true"], 1.0)
            spec.add_metric(key, float(d.spec_replicas))
            status.add_metric(key, float(d.replicas))
            ready.add_metric(key, float(d.ready_replicas))
        yield from (owner, spec, status, ready)
