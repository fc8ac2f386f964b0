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

from prometheus_client.core import Metric

from kubeprom.exporters.families import counter, gauge
from kubeprom.exporters.views import ClusterView

_STABLE = "[STABLE] "
_CONTAINER = ("container", "namespace", "pod")
_POD = ("namespace", "pod")
_SCRAPE_ERROR_HELP = "1 if there was an error while getting container metrics, 0 otherwise"


class ResourceMetricsCollector:
    """Resource metrics of node ``node`` of ``cluster``, stamped with ``cluster.now_s``."""

    def __init__(self, cluster: ClusterView, node: str) -> None:
        self.cluster = cluster
        self.node = node

    def collect(self) -> Iterator[Metric]:
        now = self.cluster.now_s
        node = self.cluster.node(self.node)
        start = gauge(
            "container_start_time_seconds",
            _STABLE + "Start time of the container since unix epoch in seconds",
            _CONTAINER,
        )
        c_cpu = counter(
            "container_cpu_usage_seconds_total",
            _STABLE + "Cumulative cpu time consumed by the container in core-seconds",
            _CONTAINER,
        )
        c_mem = gauge(
            "container_memory_working_set_bytes",
            _STABLE + "Current working set of the container in bytes",
            _CONTAINER,
        )
        p_cpu = counter(
            "pod_cpu_usage_seconds_total",
            _STABLE + "Cumulative cpu time consumed by the pod in core-seconds",
            _POD,
        )
        p_mem = gauge(
            "pod_memory_working_set_bytes",
            _STABLE + "Current working set of the pod in bytes",
            _POD,
        )
        for pod in self.cluster.pods(node=self.node):
            if pod.started_s is None:
                continue
            for c in pod.containers:
                if not c.running or c.started_s is None:
                    continue
                labels = [c.name, pod.namespace, pod.name]
                start.add_metric(labels, c.started_s)
                c_cpu.add_metric(labels, c.usage.cpu_seconds, timestamp=now)
                c_mem.add_metric(labels, c.usage.memory_working_set_bytes, timestamp=now)
            p_cpu.add_metric([pod.namespace, pod.name], pod.usage.cpu_seconds, timestamp=now)
            p_mem.add_metric(
                [pod.namespace, pod.name], pod.usage.memory_working_set_bytes, timestamp=now
            )
        n_cpu = counter(
            "node_cpu_usage_seconds_total",
            _STABLE + "Cumulative cpu time consumed by the node in core-seconds",
        )
        n_cpu.add_metric([], node.usage.cpu_seconds, timestamp=now)
        n_mem = gauge(
            "node_memory_working_set_bytes", _STABLE + "Current working set of the node in bytes"
        )
        n_mem.add_metric([], node.usage.memory_working_set_bytes, timestamp=now)
        # scrape_error is deprecated since 1.29 in favour of resource_scrape_error.
        scrape_error = gauge(
            "scrape_error", "[ALPHA] (Deprecated since 1.29.0) " + _SCRAPE_ERROR_HELP
        )
        scrape_error.add_metric([], 0.0)
        resource_error = gauge("resource_scrape_error", _STABLE + _SCRAPE_ERROR_HELP)
        resource_error.add_metric([], 0.0)
        yield from (start, c_cpu, c_mem, n_cpu, n_mem, p_cpu, p_mem, scrape_error, resource_error)
