"""The kubelet's ``/metrics/resource`` endpoint for one node (what metrics-server scrapes).

Names, HELP texts (with the ``[STABLE]`` / ``[ALPHA]`` prefix of Kubernetes' component-base
metrics) and labels follow ``pkg/kubelet/metrics/collectors/resource_metrics.go``. As there,
CPU and memory samples carry an explicit timestamp (milliseconds in the text format): the
time the stats were taken, which is the model's current time, so a scrape with
``honor_timestamps: true`` stores them at that time. ``container_start_time_seconds`` and the
scrape-error gauges have no timestamp. Only running containers of pods bound to the node
are reported; the collector never advances the model.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from prometheus_client.core import Metric

from kubeprom.exporters.columns import (
    Block,
    BlockBuilder,
    BlockCache,
    Columns,
    FamilySpec,
    to_metrics,
)
from kubeprom.exporters.views import ClusterView

_STABLE = "[STABLE] "
_CONTAINER = ("container", "namespace", "pod")
_POD = ("namespace", "pod")
_SCRAPE_ERROR_HELP = "1 if there was an error while getting container metrics, 0 otherwise"


_FAMILIES = (
    FamilySpec(
        "container_start_time_seconds",
        "gauge",
        _STABLE + "Start time of the container since unix epoch in seconds",
        _CONTAINER,
    ),
    FamilySpec(
        "container_cpu_usage_seconds_total",
        "counter",
        _STABLE + "Cumulative cpu time consumed by the container in core-seconds",
        _CONTAINER,
        stamped=True,
    ),
    FamilySpec(
        "container_memory_working_set_bytes",
        "gauge",
        _STABLE + "Current working set of the container in bytes",
        _CONTAINER,
        stamped=True,
    ),
    FamilySpec(
        "node_cpu_usage_seconds_total",
        "counter",
        _STABLE + "Cumulative cpu time consumed by the node in core-seconds",
        stamped=True,
    ),
    FamilySpec(
        "node_memory_working_set_bytes",
        "gauge",
        _STABLE + "Current working set of the node in bytes",
        stamped=True,
    ),
    FamilySpec(
        "pod_cpu_usage_seconds_total",
        "counter",
        _STABLE + "Cumulative cpu time consumed by the pod in core-seconds",
        _POD,
        stamped=True,
    ),
    FamilySpec(
        "pod_memory_working_set_bytes",
        "gauge",
        _STABLE + "Current working set of the pod in bytes",
        _POD,
        stamped=True,
    ),
    # scrape_error is deprecated since 1.29 in favour of resource_scrape_error.
    FamilySpec("scrape_error", "gauge", "[ALPHA] (Deprecated since 1.29.0) " + _SCRAPE_ERROR_HELP),
    FamilySpec("resource_scrape_error", "gauge", _STABLE + _SCRAPE_ERROR_HELP),
)
_F_START, _F_C_CPU, _F_C_MEM, _F_N_CPU, _F_N_MEM, _F_P_CPU, _F_P_MEM, _F_ERR, _F_RES_ERR = range(
    len(_FAMILIES)
)
# The columns of an object's value row (a container, a pod or the node).
_START, _CPU, _MEM, _ZERO = range(4)


class ResourceMetricsCollector:
    """Resource metrics of node ``node`` of ``cluster``, stamped with ``cluster.now_s``."""

    def __init__(self, cluster: ClusterView, node: str) -> None:
        self.cluster = cluster
        self.node = node
        self._blocks = BlockCache()

    def collect(self) -> Iterator[Metric]:
        yield from to_metrics(self.columns())

    def columns(self) -> Columns:
        node = self.cluster.node(self.node)
        blocks: list[Block] = []
        rows: list[tuple[float, float, float, float]] = []
        for pod in self.cluster.pods(node=self.node):
            if pod.started_s is None:
                continue
            for c in pod.containers:
                if not c.running or c.started_s is None:
                    continue
                u = c.usage
                blocks.append(self._block(_CONTAINER_SERIES, (c.name, pod.namespace, pod.name)))
                rows.append((c.started_s, u.cpu_seconds, u.memory_working_set_bytes, 0.0))
            u = pod.usage
            blocks.append(self._block(_POD_SERIES, (pod.namespace, pod.name)))
            rows.append((0.0, u.cpu_seconds, u.memory_working_set_bytes, 0.0))
        u = node.usage
        blocks.append(self._block(_NODE_SERIES, ()))
        rows.append((0.0, u.cpu_seconds, u.memory_working_set_bytes, 0.0))
        self._blocks.end_collection()
        return Columns(_FAMILIES, blocks, np.array(rows, dtype=np.float64), self.cluster.now_s)

    def _block(self, series: tuple[tuple[int, int], ...], labels: tuple[str, ...]) -> Block:
        block = self._blocks.get((series, labels))
        if block is not None:
            return block
        b = BlockBuilder(_FAMILIES)
        for family, column in series:
            b.add(family, column, labels)
        return self._blocks.put((series, labels), b.build())


# (family, value column) of each kind of object's series.
_CONTAINER_SERIES = ((_F_START, _START), (_F_C_CPU, _CPU), (_F_C_MEM, _MEM))
_POD_SERIES = ((_F_P_CPU, _CPU), (_F_P_MEM, _MEM))
_NODE_SERIES = ((_F_N_CPU, _CPU), (_F_N_MEM, _MEM), (_F_ERR, _ZERO), (_F_RES_ERR, _ZERO))
