"""Discovery of the simulated cluster's exporters, shaped like Prometheus' kubernetes_sd.

Roles: ``node`` yields one target per node (its kubelet; the job's ``metrics_path`` picks
``/metrics/cadvisor`` or ``/metrics/resource``), with ``__meta_kubernetes_node_*`` labels;
``kube-state-metrics`` yields the kube-state-metrics target and ``rabbitmq`` the RabbitMQ
broker's (when the cluster has queues), with ``__meta_kubernetes_namespace`` /
``__meta_kubernetes_service_name`` labels; ``endpoints`` / ``service`` yield both, as
kubernetes_sd lists every Service's endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kubeprom.scraper.discovery.group import TargetGroup

_SERVICE_ROLES = ("endpoints", "service")
#: Roles that name one Service's targets.
_ONE_SERVICE_ROLES = ("kube-state-metrics", "rabbitmq")
_SERVICE_LABEL = "__meta_kubernetes_service_name"


class DiscoverableTarget(Protocol):
    """A served exporter target (kubeprom.exporters.ServedTarget satisfies it)."""

    @property
    def node(self) -> str | None: ...

    @property
    def metrics_path(self) -> str: ...

    def discovery_labels(self) -> dict[str, str]: ...


def cluster_groups(targets: Sequence[DiscoverableTarget], role: str) -> list[TargetGroup]:
    """Target groups for one ``cluster_sd_configs`` role (unknown roles yield none)."""
    if role == "node":
        seen: dict[str, dict[str, str]] = {}
        for t in targets:
            if t.node is not None and t.node not in seen:
                labels = t.discovery_labels()
                labels.pop("__metrics_path__", None)  # the job's metrics_path decides
                seen[t.node] = labels
        return [TargetGroup(f"cluster/node/{n}", [lab], {}) for n, lab in sorted(seen.items())]
    if role in _SERVICE_ROLES or role in _ONE_SERVICE_ROLES:
        groups = []
        for t in targets:
            if t.node is not None:
                continue
            labels = t.discovery_labels()
            service = labels.get(_SERVICE_LABEL, "")
            if role in _SERVICE_ROLES or service == role:
                source = f"cluster/{role}" if service == role else f"cluster/{role}/{service}"
                groups.append(TargetGroup(source, [labels], {}))
        return groups
    return []
