"""The kubelet's ``/metrics/cadvisor`` endpoint for one node, as a prometheus-client collector.

Names, types, HELP texts and label names are cAdvisor's (kubelet 1.29 with containerd and the
cgroupfs driver). Three kinds of cgroup are reported, as real cAdvisor does:

* the root cgroup ``id="/"`` (the whole node; every other label empty);
* each pod cgroup ``id="/kubepods/<qos>/pod<uid>"`` with ``container=""``, ``image=""`` and
  ``name=""`` (this is where the pod's network counters live, ``interface="eth0"``);
* each running container ``id="<pod cgroup>/<container id>"`` with ``container``, ``image``
  and ``name`` (the container id) set.

CFS metrics and ``container_spec_cpu_quota`` exist only for cgroups with a CPU quota (a
container with a CPU limit; a pod whose containers all have one). Samples carry no
timestamps. The collector rebuilds its families on every ``collect()`` from the cluster view;
it never advances the model.
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
from kubeprom.exporters.snapshot import CACHE_FRACTION, INACTIVE_FILE_FRACTION, RSS_FRACTION
from kubeprom.exporters.state import CFS_PERIOD_S, CPU, PERIODS, THROTTLED_PERIODS, THROTTLED_S
from kubeprom.exporters.views import Cgroup, ClusterView, NodeCgroups, Usage

_BASE = ("container", "id", "image", "name", "namespace", "pod")
_CPU = ("container", "cpu", "id", "image", "name", "namespace", "pod")
_NET = ("container", "id", "image", "interface", "name", "namespace", "pod")
_MACHINE = ("boot_id", "machine_id", "system_uuid")
_PERIOD_US = CFS_PERIOD_S * 1e6
# The kernel's cpu.shares for a request: 1024 per core, at least 2 (Kubernetes' MinShares).
_SHARES_PER_CORE = 1024.0
_MIN_SHARES = 2.0


@dataclass(frozen=True, slots=True)
class _Cgroup:
    """One reported cgroup: its base label values and what it uses and may use."""

    labels: tuple[str, str, str, str, str, str]
    start_s: float | None
    cpu_quota: float | None  # cores
    cpu_request: float
    memory_limit: float  # bytes, 0 when unlimited (as cAdvisor reports it)
    is_pod: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class _Shape:
    """What a node's collection keeps while its cgroups hold: the cgroup views it was built
    from (held, so identity cannot be a reused address), the root, the blocks and the value
    rows' fixed columns (the usage columns are filled per collection)."""

    created_s: float
    machine: tuple[str, str, str]
    cgroups: tuple[Cgroup, ...]
    root: _Cgroup
    blocks: list[Block]
    rows: NDArray[np.float64]


_FAMILIES = (
    FamilySpec(
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
        _CPU,
    ),
    FamilySpec(
        "container_cpu_cfs_periods_total",
        "counter",
        "Number of elapsed enforcement period intervals.",
        _BASE,
    ),
    FamilySpec(
        "container_cpu_cfs_throttled_periods_total",
        "counter",
        "Number of throttled period intervals.",
        _BASE,
    ),
    FamilySpec(
        "container_cpu_cfs_throttled_seconds_total",
        "counter",
        "Total time duration the container has been throttled.",
        _BASE,
    ),
    FamilySpec("container_memory_cache", "gauge", "Number of bytes of page cache memory.", _BASE),
    FamilySpec("container_memory_rss", "gauge", "Size of RSS in bytes.", _BASE),
    FamilySpec("container_memory_swap", "gauge", "Container swap usage in bytes.", _BASE),
    FamilySpec(
        "container_memory_usage_bytes",
        "gauge",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        _BASE,
    ),
    FamilySpec(
        "container_memory_working_set_bytes", "gauge", "Current working set in bytes.", _BASE
    ),
    FamilySpec(
        "container_network_receive_bytes_total",
        "counter",
        "Cumulative count of bytes received",
        _NET,
    ),
    FamilySpec(
        "container_network_transmit_bytes_total",
        "counter",
        "Cumulative count of bytes transmitted",
        _NET,
    ),
    FamilySpec("container_spec_cpu_period", "gauge", "CPU period of the container.", _BASE),
    FamilySpec("container_spec_cpu_quota", "gauge", "CPU quota of the container.", _BASE),
    FamilySpec("container_spec_cpu_shares", "gauge", "CPU share of the container.", _BASE),
    FamilySpec(
        "container_spec_memory_limit_bytes", "gauge", "Memory limit for the container.", _BASE
    ),
    FamilySpec(
        "container_start_time_seconds",
        "gauge",
        "Start time of the container since unix epoch in seconds.",
        _BASE,
    ),
    FamilySpec("machine_cpu_cores", "gauge", "Number of logical CPU cores.", _MACHINE),
    FamilySpec(
        "machine_memory_bytes", "gauge", "Amount of memory installed on the machine.", _MACHINE
    ),
)
(
    _F_CPU,
    _F_PERIODS,
    _F_THROTTLED,
    _F_THROTTLED_S,
    _F_CACHE,
    _F_RSS,
    _F_SWAP,
    _F_USAGE,
    _F_WORKING,
    _F_RX,
    _F_TX,
    _F_PERIOD,
    _F_QUOTA,
    _F_SHARES,
    _F_MEM_LIMIT,
    _F_START,
    _F_CORES,
    _F_MEMORY,
) = range(len(_FAMILIES))
# The columns of a cgroup's value row, one per family; each series reads its family's column.
_WIDTH = len(_FAMILIES)


class CadvisorCollector:
    """cAdvisor metrics of node ``node`` of ``cluster``."""

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
        shape = self._shape(
            node.created_s, (node.boot_id, node.machine_id, node.system_uuid), groups
        )
        rows = shape.rows.copy()
        rows[0] = _row(shape.root, node.usage)
        _usage_rows(rows[1:-1], groups)
        rows[-1, _F_CORES] = node.capacity.cpu or 0.0
        rows[-1, _F_MEMORY] = node.capacity.memory or 0.0
        return Columns(_FAMILIES, shape.blocks, rows)

    def _shape(
        self, created_s: float, machine: tuple[str, str, str], groups: NodeCgroups
    ) -> _Shape:
        """The blocks and fixed columns of a collection, kept while the node's cgroups are
        the very same views (they change with the pods and container instances)."""
        last = self._last
        if (
            last is not None
            and last.created_s == created_s
            and last.machine == machine
            and same_objects(last.cgroups, groups.cgroups)
        ):
            return last
        root = _Cgroup(("", "/", "", "", "", ""), created_s, None, 0.0, 0.0)
        cgroups = [root, *map(_cgroup, groups.cgroups)]
        blocks = [self._block(g) for g in cgroups]
        blocks.append(self._machine_block(machine))
        rows = np.zeros((len(cgroups) + 1, _WIDTH), dtype=np.float64)
        rows[1:-1, _F_PERIOD] = _PERIOD_US
        rows[1:-1, _F_QUOTA] = [_quota(g.cpu_quota) for g in cgroups[1:]]
        rows[1:-1, _F_SHARES] = [_shares(g.cpu_request) for g in cgroups[1:]]
        rows[1:-1, _F_MEM_LIMIT] = [g.memory_limit for g in cgroups[1:]]
        rows[1:-1, _F_START] = [g.start_s or 0.0 for g in cgroups[1:]]
        self._blocks.end_collection()
        self._last = _Shape(created_s, machine, groups.cgroups, root, blocks, rows)
        return self._last

    def _block(self, g: _Cgroup) -> Block:
        root = g.labels[1] == "/"
        signature = (g.labels, g.is_pod, g.start_s is not None, g.cpu_quota is not None, root)
        block = self._blocks.get(signature)
        if block is not None:
            return block
        b = BlockBuilder(_FAMILIES)
        c, i, img, n, ns, p = g.labels
        b.add(_F_CPU, _F_CPU, [c, "total", i, img, n, ns, p])
        for f in (_F_CACHE, _F_RSS, _F_SWAP, _F_USAGE, _F_WORKING):
            b.add(f, f, g.labels)
        if g.is_pod:
            b.add(_F_RX, _F_RX, [c, i, img, "eth0", n, ns, p])
            b.add(_F_TX, _F_TX, [c, i, img, "eth0", n, ns, p])
        if g.start_s is not None:
            b.add(_F_START, _F_START, g.labels)
        if not root:  # the root cgroup has no spec of its own
            if g.cpu_quota is not None:
                for f in (_F_PERIODS, _F_THROTTLED, _F_THROTTLED_S, _F_QUOTA):
                    b.add(f, f, g.labels)
            for f in (_F_PERIOD, _F_SHARES, _F_MEM_LIMIT):
                b.add(f, f, g.labels)
        return self._blocks.put(signature, b.build())

    def _machine_block(self, machine: tuple[str, str, str]) -> Block:
        block = self._blocks.get(machine)
        if block is not None:
            return block
        b = BlockBuilder(_FAMILIES)
        b.add(_F_CORES, _F_CORES, machine)
        b.add(_F_MEMORY, _F_MEMORY, machine)
        return self._blocks.put(machine, b.build())


def _quota(cpu_quota: float | None) -> float:
    return round(cpu_quota * _PERIOD_US) if cpu_quota is not None else 0.0


def _shares(cpu_request: float) -> float:
    return max(round(cpu_request * _SHARES_PER_CORE), _MIN_SHARES)


def _row(g: _Cgroup, u: Usage) -> list[float]:
    """A cgroup's values from its usage, one column per family (0 where the cgroup has no
    such series)."""
    row = [0.0] * _WIDTH
    row[_F_CPU] = u.cpu_seconds
    row[_F_PERIODS] = u.cfs_periods
    row[_F_THROTTLED] = u.cfs_throttled_periods
    row[_F_THROTTLED_S] = u.cfs_throttled_seconds
    row[_F_CACHE] = u.memory_cache_bytes
    row[_F_RSS] = u.memory_rss_bytes
    row[_F_USAGE] = u.memory_usage_bytes
    row[_F_WORKING] = u.memory_working_set_bytes
    row[_F_RX] = u.network_rx_bytes
    row[_F_TX] = u.network_tx_bytes
    row[_F_PERIOD] = _PERIOD_US
    row[_F_QUOTA] = _quota(g.cpu_quota)
    row[_F_SHARES] = _shares(g.cpu_request)
    row[_F_MEM_LIMIT] = g.memory_limit
    row[_F_START] = g.start_s or 0.0
    return row


def _usage_rows(out: NDArray[np.float64], groups: NodeCgroups) -> None:
    """The usage columns of ``groups``' rows, as :func:`~kubeprom.exporters.snapshot.usage`
    derives a :class:`Usage` (the same products, so the same bits)."""
    memory = groups.memory
    out[:, _F_CPU] = groups.counters[:, CPU]
    out[:, _F_PERIODS] = groups.counters[:, PERIODS]
    out[:, _F_THROTTLED] = groups.counters[:, THROTTLED_PERIODS]
    out[:, _F_THROTTLED_S] = groups.counters[:, THROTTLED_S]
    out[:, _F_CACHE] = memory * CACHE_FRACTION
    out[:, _F_RSS] = memory * RSS_FRACTION
    out[:, _F_USAGE] = memory * (1.0 + INACTIVE_FILE_FRACTION)
    out[:, _F_WORKING] = memory
    out[:, _F_RX] = groups.rx
    out[:, _F_TX] = groups.tx


def _cgroup(g: Cgroup) -> _Cgroup:
    """A pod's (``container`` "") or running container's cgroup with its labels."""
    labels = (g.container, g.path, g.image, g.container_id, g.namespace, g.pod)
    return _Cgroup(labels, g.started_s, g.cpu_quota, g.cpu_request, g.memory_limit, not g.container)
