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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import Metric

from kubeprom.exporters.columns import (
    Block,
    BlockBuilder,
    BlockCache,
    Columns,
    FamilySpec,
    same_objects,
    to_metrics,
)
from kubeprom.exporters.state import CPU
from kubeprom.exporters.views import Cgroup, ClusterView, NodeCgroups

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
        self._last: _Shape | None = None

    def collect(self) -> Iterator[Metric]:
        yield from to_metrics(self.columns())

    def columns(self) -> Columns:
        node = self.cluster.node(self.node)
        groups = self.cluster.node_cgroups(self.node)
        shape = self._shape(groups)
        rows = shape.rows.copy()
        rows[:-1, _CPU] = groups.counters[shape.at, CPU]
        rows[:-1, _MEM] = groups.memory[shape.at]
        u = node.usage
        rows[-1, _CPU] = u.cpu_seconds
        rows[-1, _MEM] = u.memory_working_set_bytes
        return Columns(_FAMILIES, shape.blocks, rows, self.cluster.now_s)

    def _shape(self, groups: NodeCgroups) -> _Shape:
        """The blocks, the cgroups they read and the start column, kept while the node's
        cgroups are the very same views."""
        last = self._last
        if last is not None and same_objects(last.cgroups, groups.cgroups):
            return last
        blocks: list[Block] = []
        # Per cgroup in exposition order: its position in ``groups`` (the node: -1).
        order: list[int] = []
        pod_at = -1
        for i, g in enumerate(groups.cgroups):
            if not g.container:  # a pod: after its containers, which follow it in groups
                if pod_at >= 0:
                    blocks.append(self._pod_block(groups, pod_at))
                    order.append(pod_at)
                pod_at = i
            elif g.started_s is not None:
                blocks.append(self._block(_CONTAINER_SERIES, (g.container, g.namespace, g.pod)))
                order.append(i)
        if pod_at >= 0:
            blocks.append(self._pod_block(groups, pod_at))
            order.append(pod_at)
        blocks.append(self._block(_NODE_SERIES, ()))
        rows = np.zeros((len(order) + 1, 4), dtype=np.float64)
        is_pod = np.array([not groups.cgroups[i].container for i in order], dtype=bool)
        rows[:-1, _START] = np.where(
            is_pod, 0.0, [groups.cgroups[i].started_s or 0.0 for i in order]
        )
        self._blocks.end_collection()
        at = np.array(order, dtype=np.int64)
        self._last = _Shape(groups.cgroups, blocks, at, rows)
        return self._last

    def _pod_block(self, groups: NodeCgroups, i: int) -> Block:
        g = groups.cgroups[i]
        return self._block(_POD_SERIES, (g.namespace, g.pod))

    def _block(self, series: tuple[tuple[int, int], ...], labels: tuple[str, ...]) -> Block:
        block = self._blocks.get((series, labels))
        if block is not None:
            return block
        b = BlockBuilder(_FAMILIES)
        for family, column in series:
            b.add(family, column, labels)
        return self._blocks.put((series, labels), b.build())


@dataclass(frozen=True, slots=True, eq=False)
class _Shape:
    """What a node's collection keeps while its cgroups hold: the cgroup views (held, so
    identity cannot be a reused address), the blocks, the cgroup each value row reads and
    the rows' start column."""

    cgroups: tuple[Cgroup, ...]
    blocks: list[Block]
    at: NDArray[np.int64]
    rows: NDArray[np.float64]


# (family, value column) of each kind of object's series.
_CONTAINER_SERIES = ((_F_START, _START), (_F_C_CPU, _CPU), (_F_C_MEM, _MEM))
_POD_SERIES = ((_F_P_CPU, _CPU), (_F_P_MEM, _MEM))
_NODE_SERIES = ((_F_N_CPU, _CPU), (_F_N_MEM, _MEM), (_F_ERR, _ZERO), (_F_RES_ERR, _ZERO))
