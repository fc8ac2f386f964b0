"""The public surface of kubeprom.exporters, pinned."""

from __future__ import annotations

import kubeprom.exporters

EXPORTS = [
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


def test_exported_members() -> None:
    assert kubeprom.exporters.__all__ == EXPORTS
    assert [n for n in EXPORTS if not hasattr(kubeprom.exporters, n)] == []
