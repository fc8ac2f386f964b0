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

from prometheus_client.core import Metric

from kubeprom.exporters.families import counter, gauge
from kubeprom.exporters.state import CFS_PERIOD_S
from kubeprom.exporters.views import ClusterView, PodInfo, Usage

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
    usage: Usage
    start_s: float | None
    cpu_quota: float | None  # cores
    cpu_request: float
    memory_limit: float  # bytes, 0 when unlimited (as cAdvisor reports it)
    is_pod: bool = False


class CadvisorCollector:
    """cAdvisor metrics of node ``node`` of ``cluster``."""

    def __init__(self, cluster: ClusterView, node: str) -> None:
        self.cluster = cluster
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.cluster.node(self.node)
        groups = [_Cgroup(("", "/", "", "", "", ""), node.usage, node.created_s, None, 0.0, 0.0)]
        for pod in self.cluster.pods(node=self.node):
            groups.extend(_pod_cgroups(pod))

        cpu = counter(
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            _CPU,
        )
        periods = counter(
            "container_cpu_cfs_periods_total",
            "Number of elapsed enforcement period intervals.",
            _BASE,
        )
        throttled = counter(
            "container_cpu_cfs_throttled_periods_total",
            "Number of throttled period intervals.",
            _BASE,
        )
        throttled_s = counter(
            "container_cpu_cfs_throttled_seconds_total",
            "Total time duration the container has been throttled.",
            _BASE,
        )
        cache = gauge("container_memory_cache", "Number of bytes of page cache memory.", _BASE)
        rss = gauge("container_memory_rss", "Size of RSS in bytes.", _BASE)
        swap = gauge("container_memory_swap", "Container swap usage in bytes.", _BASE)
        usage = gauge(
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of "
            "when it was accessed",
            _BASE,
        )
        working = gauge(
            "container_memory_working_set_bytes", "Current working set in bytes.", _BASE
        )
        rx = counter(
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received",
            _NET,
        )
        tx = counter(
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted",
            _NET,
        )
        period = gauge("container_spec_cpu_period", "CPU period of the container.", _BASE)
        quota = gauge("container_spec_cpu_quota", "CPU quota of the container.", _BASE)
        shares = gauge("container_spec_cpu_shares", "CPU share of the container.", _BASE)
        mem_limit = gauge(
            "container_spec_memory_limit_bytes", "Memory limit for the container.", _BASE
        )
        start = gauge(
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds.",
            _BASE,
        )
        for g in groups:
            c, i, img, n, ns, p = g.labels
            u = g.usage
            cpu.add_metric([c, "total", i, img, n, ns, p], u.cpu_seconds)
            for fam, value in (
                (cache, u.memory_cache_bytes),
                (rss, u.memory_rss_bytes),
                (swap, 0.0),
                (usage, u.memory_usage_bytes),
                (working, u.memory_working_set_bytes),
            ):
                fam.add_metric(list(g.labels), value)
            if g.is_pod:
                rx.add_metric([c, i, img, "eth0", n, ns, p], u.network_rx_bytes)
                tx.add_metric([c, i, img, "eth0", n, ns, p], u.network_tx_bytes)
            if g.start_s is not None:
                start.add_metric(list(g.labels), g.start_s)
            if i == "/":
                continue  # the root cgroup has no spec of its own
            if g.cpu_quota is not None:
                periods.add_metric(list(g.labels), u.cfs_periods)
                throttled.add_metric(list(g.labels), u.cfs_throttled_periods)
                throttled_s.add_metric(list(g.labels), u.cfs_throttled_seconds)
                quota.add_metric(list(g.labels), round(g.cpu_quota * _PERIOD_US))
            period.add_metric(list(g.labels), _PERIOD_US)
            cpu_shares = max(round(g.cpu_request * _SHARES_PER_CORE), _MIN_SHARES)
            shares.add_metric(list(g.labels), cpu_shares)
            mem_limit.add_metric(list(g.labels), g.memory_limit)
        machine = [node.boot_id, node.machine_id, node.system_uuid]
        cores = gauge("machine_cpu_cores", "Number of logical CPU cores.", _MACHINE)
        cores.add_metric(machine, node.capacity.cpu or 0.0)
        memory = gauge(
            "machine_memory_bytes",
            "Amount of memory installed on the machine.",
            _MACHINE,
        )
        memory.add_metric(machine, node.capacity.memory or 0.0)
        yield from (cpu, periods, throttled, throttled_s, cache, rss, swap, usage, working)
        yield from (rx, tx, period, quota, shares, mem_limit, start, cores, memory)


def _pod_cgroups(pod: PodInfo) -> list[_Cgroup]:
    """The pod cgroup and its running containers' cgroups (none before the pod runs)."""
    if pod.node is None or pod.started_s is None:
        return []
    limits = [c.limits for c in pod.containers]
    pod_quota = None
    if all(lim.cpu is not None for lim in limits):
        pod_quota = sum(lim.cpu or 0.0 for lim in limits)
    pod_memory = 0.0
    if all(lim.memory is not None for lim in limits):
        pod_memory = sum(lim.memory or 0.0 for lim in limits)
    pod_request = sum(c.requests.cpu or 0.0 for c in pod.containers)
    out = [
        _Cgroup(
            ("", pod.cgroup, "", "", pod.namespace, pod.name),
            pod.usage,
            pod.started_s,
            pod_quota,
            pod_request,
            pod_memory,
            is_pod=True,
        )
    ]
    for c in pod.containers:
        if not c.running:
            continue  # a container waiting to restart has no cgroup
        cid = c.container_id.rsplit("/", 1)[-1]
        out.append(
            _Cgroup(
                (c.name, c.cgroup, c.image, cid, pod.namespace, pod.name),
                c.usage,
                c.started_s,
                c.limits.cpu,
                c.requests.cpu or 0.0,
                c.limits.memory or 0.0,
            )
        )
    return out
