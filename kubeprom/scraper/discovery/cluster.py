"""Discovery of the simulated cluster's exporters, shaped like Prometheus' kubernetes_sd.

Roles: ``node`` yields one target per node (its kubelet; the job's ``metrics_path`` picks
``/metrics/cadvisor`` or ``/metrics/resource``), with ``__meta_kubernetes_node_*`` labels;
``kube-state-metrics`` (also ``endpoints`` / ``service``) yields the kube-state-metrics target
with ``__meta_kubernetes_namespace`` / ``__meta_kubernetes_service_name`` labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kubeprom.scraper.discovery.group import TargetGroup

_KSM_ROLES = ("kube-state-metrics", "endpoints", "service")


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
    if role in _KSM_ROLES:
        return [
            TargetGroup(f"cluster/{role}", [t.discovery_labels()], {})
            for t in targets
            if t.node is None
        ]
    return []
