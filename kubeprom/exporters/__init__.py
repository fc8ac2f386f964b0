"""The simulated cluster and its cAdvisor / kubelet / kube-state-metrics exporters.

* :class:`SimulatedCluster` — the model: ``advance_to(t)``, ``scale(ns, name, n)``,
  ``set_hpa(status)`` and read-only snapshots (``nodes()``, ``pods()``, ``deployments()``,
  the queue workers' ``queues()``).
* :class:`ClusterExporters` — one prometheus-client registry per scrape target and
  ``render(target_id, accept_openmetrics)`` for in-process (virtual-time) scraping.
* :class:`ExporterServer` — the same targets over HTTP (aiohttp), with their addresses as
  :class:`ServedTarget` for discovery.

This package never imports the store or the query engine.
"""

from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.server import ExporterServer
from kubeprom.exporters.targets import (
    KSM_TARGET,
    ClusterExporters,
    ServedTarget,
    cadvisor_target,
    resource_target,
    wants_openmetrics,
)
from kubeprom.exporters.views import (
    ClusterView,
    ContainerInfo,
    ContainerUsage,
    DeploymentInfo,
    DeploymentUsage,
    HPAStatus,
    MetricValue,
    NodeInfo,
    PodInfo,
    PodPhase,
    PodState,
    QoSClass,
    QueueInfo,
    Usage,
)

__all__ = [
    "KSM_TARGET",
    "ClusterExporters",
    "ClusterView",
    "ContainerInfo",
    "ContainerUsage",
    "DeploymentInfo",
    "DeploymentUsage",
    "ExporterServer",
    "HPAStatus",
    "MetricValue",
    "NodeInfo",
    "PodInfo",
    "PodPhase",
    "PodState",
    "QoSClass",
    "QueueInfo",
    "ServedTarget",
    "SimulatedCluster",
    "Usage",
    "cadvisor_target",
    "resource_target",
    "wants_openmetrics",
]
