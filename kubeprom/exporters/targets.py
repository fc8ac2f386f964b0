"""The scrape targets of a simulated cluster, and rendering them in process.

A cluster exposes, like a real one, per node a kubelet with two endpoints and one
kube-state-metrics:

=============================  ===================  =====================  ==============
target id                      suggested job         metrics path            timestamps
=============================  ===================  =====================  ==============
``kubelet/<node>/cadvisor``    ``cadvisor``          ``/metrics/cadvisor``   no
``kubelet/<node>/resource``    ``kubelet``           ``/metrics/resource``   yes (ms)
``kube-state-metrics``         ``kube-state-metrics``  ``/metrics``          no
``rabbitmq``                   ``rabbitmq``          ``/metrics/per-object`` no
=============================  ===================  =====================  ==============

The RabbitMQ broker (:mod:`.rabbitmq`) is there only when a Deployment consumes a queue.

The job names are kubernetes-mixin's defaults (``job="cadvisor"``, ``job="kubelet"``,
``job="kube-state-metrics"``), so its rules work on the scraped series unchanged.

:class:`ClusterExporters` holds one prometheus-client registry per target and renders a
target's body without HTTP (for virtual-time simulations): the caller advances the cluster
first (``cluster.advance_to(now)``), then calls :meth:`ClusterExporters.render`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

from kubeprom.errors import KubepromError
from kubeprom.exporters import rabbitmq
from kubeprom.exporters.cadvisor import CadvisorCollector
from kubeprom.exporters.columns import Columns, columns_of
from kubeprom.exporters.ksm import KubeStateMetricsCollector
from kubeprom.exporters.kubelet import ResourceMetricsCollector
from kubeprom.exporters.views import ClusterView

KSM_TARGET = "kube-state-metrics"
RABBITMQ_TARGET = "rabbitmq"
CADVISOR_PATH = "/metrics/cadvisor"
RESOURCE_PATH = "/metrics/resource"
KSM_PATH = "/metrics"
#: The kubelet's and kube-state-metrics' usual ports, used for in-process addresses.
KUBELET_PORT = 10250
KSM_PORT = 8080
KSM_NAMESPACE = "kube-system"
OPENMETRICS_CONTENT_TYPE = openmetrics.CONTENT_TYPE_LATEST
TEXT_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def cadvisor_target(node: str) -> str:
    return f"kubelet/{node}/cadvisor"


def resource_target(node: str) -> str:
    return f"kubelet/{node}/resource"


@dataclass(frozen=True, slots=True)
class ServedTarget:
    """One scrape target: where it is served and what a discovery should label it with."""

    target_id: str
    job: str
    address: str
    metrics_path: str
    node: str | None = None
    internal_ip: str | None = None
    node_labels: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    honor_timestamps: bool = True
    # The Service (and port name) a target without a node is discovered through.
    service: str = KSM_TARGET
    namespace: str = KSM_NAMESPACE
    port_name: str = "http-metrics"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}{self.metrics_path}"

    def discovery_labels(self) -> dict[str, str]:
        """The target labels a kubernetes_sd-like discovery gives it, before relabelling:
        ``__address__``, ``__metrics_path__``, ``__scheme__`` and ``__meta_kubernetes_*``
        (role ``node`` for kubelets, role ``endpoints`` for kube-state-metrics and the
        broker)."""
        out = {
            "__address__": self.address,
            "__metrics_path__": self.metrics_path,
            "__scheme__": self.scheme,
        }
        if self.node is not None:
            out["__meta_kubernetes_node_name"] = self.node
            out["__meta_kubernetes_node_address_Hostname"] = self.node
            if self.internal_ip:
                out["__meta_kubernetes_node_address_InternalIP"] = self.internal_ip
            for key, value in self.node_labels.items():
                name = _UNSAFE.sub("_", key)
                out[f"__meta_kubernetes_node_label_{name}"] = value
                out[f"__meta_kubernetes_node_labelpresent_{name}"] = "true"
        else:
            out["__meta_kubernetes_namespace"] = self.namespace
            out["__meta_kubernetes_service_name"] = self.service
            out["__meta_kubernetes_endpoint_port_name"] = self.port_name
        return out


class ClusterExporters:
    """Every exporter of one cluster: a registry per target id and in-process rendering.

    Collectors read the cluster on each render and never advance it. Not thread-safe.
    """

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster
        self._registries: dict[str, CollectorRegistry] = {}
        self._collectors: dict[str, Collector] = {}
        for node in cluster.nodes():
            self._register(cadvisor_target(node.name), CadvisorCollector(cluster, node.name))
            self._register(resource_target(node.name), ResourceMetricsCollector(cluster, node.name))
        self._register(KSM_TARGET, KubeStateMetricsCollector(cluster))
        if cluster.queues():
            self._register(RABBITMQ_TARGET, rabbitmq.RabbitMQCollector(cluster))

    def _register(self, target_id: str, collector: Collector) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        self._registries[target_id] = registry
        self._collectors[target_id] = collector

    def registry(self, target_id: str) -> CollectorRegistry:
        try:
            return self._registries[target_id]
        except KeyError:
            raise KubepromError(f"unknown exporter target {target_id!r}") from None

    def columns(self, target_id: str) -> Columns:
        """What a target exposes, as columns (:mod:`kubeprom.exporters.columns`): the
        samples its body would carry, without the text. Raises KubepromError for an unknown
        target id."""
        self.registry(target_id)
        return columns_of(self._collectors[target_id])

    def render(self, target_id: str, accept_openmetrics: bool) -> tuple[bytes, str]:
        """A target's exposition body and its Content-Type: OpenMetrics 1.0 when asked for,
        else the text format 0.0.4. Raises KubepromError for an unknown target id."""
        registry = self.registry(target_id)
        if accept_openmetrics:
            # prometheus-client ships this function without annotations.
            body: bytes = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
            return body, OPENMETRICS_CONTENT_TYPE
        return generate_latest(registry), TEXT_CONTENT_TYPE

    def targets(self, addresses: Mapping[str, str] | None = None) -> list[ServedTarget]:
        """Every target, kubelets in node order, kube-state-metrics, then the broker.

        ``addresses`` maps a node name (or :data:`KSM_TARGET`, :data:`RABBITMQ_TARGET`) to
        ``host:port``; without it the addresses are in-cluster style
        (``<internal ip>:10250``, ``kube-state-metrics.kube-system.svc:8080``,
        ``rabbitmq.default.svc:15692``), for in-process fetching.
        """
        addresses = addresses or {}
        out: list[ServedTarget] = []
        for node in self.cluster.nodes():
            address = addresses.get(node.name, f"{node.internal_ip}:{KUBELET_PORT}")
            for target_id, job, path in (
                (cadvisor_target(node.name), "cadvisor", CADVISOR_PATH),
                (resource_target(node.name), "kubelet", RESOURCE_PATH),
            ):
                out.append(
                    ServedTarget(
                        target_id, job, address, path, node.name, node.internal_ip, node.labels
                    )
                )
        ksm_address = addresses.get(KSM_TARGET, f"{KSM_TARGET}.{KSM_NAMESPACE}.svc:{KSM_PORT}")
        out.append(ServedTarget(KSM_TARGET, KSM_TARGET, ksm_address, KSM_PATH))
        if RABBITMQ_TARGET in self._registries:
            default = f"{rabbitmq.SERVICE}.{rabbitmq.NAMESPACE}.svc:{rabbitmq.PORT}"
            out.append(
                ServedTarget(
                    RABBITMQ_TARGET,
                    RABBITMQ_TARGET,
                    addresses.get(RABBITMQ_TARGET, default),
                    rabbitmq.PATH,
                    service=rabbitmq.SERVICE,
                    namespace=rabbitmq.NAMESPACE,
                    port_name="prometheus",
                )
            )
        return out


def wants_openmetrics(accept: str | None) -> bool:
    """Whether an Accept header prefers OpenMetrics to the text format (by q-value; ties go
    to OpenMetrics, as Prometheus lists it first)."""
    best_om = best_text = 0.0
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == "application/openmetrics-text":
            best_om = max(best_om, q)
        elif media in ("text/plain", "text/*", "*/*"):
            best_text = max(best_text, q)
    return best_om > 0 and best_om >= best_text
