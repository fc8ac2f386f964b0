"""metrics-server over the simulated kubelets: the resource metrics API the HPA reads.

:class:`MetricsServer` takes a reading of every running container at each call (as
metrics-server scrapes the kubelets' ``/metrics/resource`` every ``--metric-resolution``)
and serves ``metrics.k8s.io`` from the two newest readings, as metrics-server's storage
does:

* CPU is the rate between the two readings of a container, in nanocores
  (``(cpu2 - cpu1) / (t2 - t1)``); a container started less than a resolution ago (and at
  least 10 s ago) is read from its start with zero use; one without two readings has no
  value yet. Memory is the newest working set.
* A pod is served only when every one of its containers has a value; its ``timestamp`` and
  ``window`` are the earliest container's (the HPA's CPU readiness rule reads them).
* Values become milli-units as the HPA's client reads them: ``MilliValue()`` of the nano
  quantity (rounded up) for CPU, bytes x 1000 for memory.

Selectors are applied per namespace; custom and external metrics are not served (no
adapter), so such metrics fail as they do in a cluster without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.hpa_spec import CrossVersionObjectReference, LabelSelector
from kubeprom.exporters import ContainerUsage, SimulatedCluster
from kubeprom.hpa import MetricFailure, PodSamples, PodUsage, StaticMetricsSource, resource_samples
from kubeprom.model.selectors import matches, parse_label_selector

DEFAULT_RESOLUTION_MS = 15_000  # metrics-server --metric-resolution
FRESH_CONTAINER_MIN_MS = 10_000  # freshContainerMinMetricsResolution
_NANO = 1_000_000_000


@dataclass(frozen=True, slots=True, eq=False)
class _Reading:
    usage: ContainerUsage
    order: NDArray[np.intp]  # argsort of the container keys
    t_ms: int


class MetricsServer:
    """See the module docstring. Call it (a :data:`kubeprom.hpa.manager.MetricsProvider`)
    once per sync, after the cluster was brought to ``now_ms``."""

    def __init__(
        self, cluster: SimulatedCluster | None, *, resolution_ms: int = DEFAULT_RESOLUTION_MS
    ) -> None:
        self.cluster = cluster
        self.resolution_ms = resolution_ms
        self._last: _Reading | None = None

    def __call__(self, now_ms: int) -> ResourceMetrics:
        if self.cluster is None:
            return ResourceMetrics({}, {})
        usage = self.cluster.container_usage()
        reading = _Reading(usage, np.argsort(usage.key, kind="stable"), now_ms)
        previous, self._last = self._last, reading
        items = self._items(reading, previous)
        labels = {
            (p.namespace, p.name): p.labels
            for namespace in {ns for ns, _ in items}
            for p in self.cluster.pod_states(namespace)
        }
        return ResourceMetrics(items, labels)

    def _items(self, now: _Reading, before: _Reading | None) -> dict[tuple[str, str], PodUsage]:
        u = now.usage
        n = len(u.key)
        prev_cpu = np.zeros(n)
        prev_t = np.full(n, np.nan)
        if before is not None and len(before.usage.key):
            sorted_keys = before.usage.key[before.order]
            pos = np.minimum(np.searchsorted(sorted_keys, u.key), len(sorted_keys) - 1)
            found = sorted_keys[pos] == u.key
            idx = before.order[pos]
            prev_cpu = np.where(found, before.usage.cpu_seconds[idx], 0.0)
            prev_t = np.where(found, float(before.t_ms), np.nan)
        start_ms = u.started_s * 1000
        age = now.t_ms - start_ms
        fresh = np.isnan(prev_t) & (age < self.resolution_ms) & (age >= FRESH_CONTAINER_MIN_MS)
        prev_t = np.where(fresh, start_ms, prev_t)
        prev_cpu = np.where(fresh, 0.0, prev_cpu)
        valid = ~np.isnan(prev_t)
        since = np.where(valid, prev_t, float(now.t_ms))
        has = valid & (now.t_ms > since)
        window = now.t_ms - since
        nanocores = np.where(
            has, (u.cpu_seconds - prev_cpu) * _NANO / np.maximum(window / 1000, 1e-9), 0.0
        ).astype(np.int64)
        cpu_milli = -(-nanocores // 1_000_000)  # MilliValue() of a nano quantity: ceil
        memory_milli = u.memory_bytes.astype(np.int64) * 1000
        pods: dict[tuple[str, str], list[int]] = {}
        for i, (ns, pod) in enumerate(zip(u.namespace.tolist(), u.pod.tolist(), strict=True)):
            pods.setdefault((ns, pod), []).append(i)
        items: dict[tuple[str, str], PodUsage] = {}
        for key, rows in pods.items():
            if not all(has[rows]):
                continue  # a container without two readings: the pod is not served
            # All containers are read at once: the pod's timestamp is theirs; its window is
            # the first container's (metrics-server keeps the earliest, the first on ties).
            first = rows[0]
            containers = tuple(
                (
                    str(u.container[r]),
                    (("cpu", int(cpu_milli[r])), ("memory", int(memory_milli[r]))),
                )
                for r in rows
            )
            items[key] = PodUsage(containers, now.t_ms, int(window[first]))
        return items


@dataclass(frozen=True, slots=True)
class ResourceMetrics:
    """``metrics.k8s.io`` at one time: pod usage by (namespace, pod), and the pods' labels
    for selectors. Implements :class:`kubeprom.hpa.MetricsSource`."""

    items: Mapping[tuple[str, str], PodUsage]
    labels: Mapping[tuple[str, str], Mapping[str, str]]
    others: StaticMetricsSource = field(default_factory=StaticMetricsSource)

    def resource(
        self, namespace: str, selector: str, resource: str, container: str
    ) -> PodSamples | MetricFailure:
        try:
            requirements = parse_label_selector(selector)
        except ValueError as err:
            return MetricFailure(f"unable to fetch metrics from resource metrics API: {err}")
        selected = {
            pod: usage
            for (ns, pod), usage in self.items.items()
            if ns == namespace and matches(requirements, self.labels.get((ns, pod), {}))
        }
        return resource_samples(namespace, selected, resource, container)

    def pods(
        self, namespace: str, selector: str, metric: str, metric_selector: LabelSelector | None
    ) -> PodSamples | MetricFailure:
        return self.others.pods(namespace, selector, metric, metric_selector)

    def object(
        self,
        namespace: str,
        described_object: CrossVersionObjectReference,
        metric: str,
        metric_selector: LabelSelector | None,
    ) -> int | MetricFailure:
        return self.others.object(namespace, described_object, metric, metric_selector)

    def external(
        self, namespace: str, metric: str, metric_selector: LabelSelector | None
    ) -> Sequence[int] | MetricFailure:
        return self.others.external(namespace, metric, metric_selector)
