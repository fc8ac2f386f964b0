"""Reading what ``top`` shows through the query seam, at one evaluation time.

:class:`MetricsSource` runs the queries of :mod:`kubeprom.top.queries` with
:meth:`QueryAPI.instant <kubeprom.promql.api.QueryAPI.instant>` at ``t_ms`` and turns the
vectors into :mod:`kubeprom.top.model` values in metrics-server's integer units. It never
touches a store: the same code runs over the local engine and over any Prometheus-compatible
HTTP API. Errors of the query API (``PromQLError``, an unreachable server) propagate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubeprom.model.labels import Labels
from kubeprom.promql.api import QueryAPI
from kubeprom.top.model import (
    Available,
    ContainerMetrics,
    NodeMetrics,
    PodMetrics,
    PodRecord,
    Quantities,
    RequestsLimits,
    Usage,
)
from kubeprom.top.quantity import (
    MILLI_PER_UNIT,
    cpu_milli_of_cores,
    cpu_nanocores,
    memory_bytes,
)
from kubeprom.top.queries import Queries, UsageQueries

Key = tuple[str, ...]


@dataclass(slots=True)
class _Sample:
    """One node's or container's usage, as the four usage queries return it."""

    labels: Labels
    cpu: float | None = None
    window_s: float | None = None
    timestamp_s: float | None = None
    memory: float | None = None

    @property
    def complete(self) -> bool:
        return self.cpu is not None and self.memory is not None

    @property
    def usage(self) -> Usage:
        return Usage(cpu_nanocores(self.cpu or 0.0), memory_bytes(self.memory or 0.0))

    @property
    def timestamp_ms(self) -> int:
        return round(self.timestamp_s * 1000) if self.timestamp_s is not None else 0


def _node_key(labels: Labels) -> Key:
    # A kubelet scraped without a `node` target label is named by its instance.
    return (labels.get("node") or labels.get("instance"),)


def _container_key(labels: Labels) -> Key:
    return (labels.get("namespace"), labels.get("pod"), labels.get("container"))


class MetricsSource:
    """NodeMetrics, PodMetrics and the objects kubectl lists, read at ``t_ms``."""

    def __init__(self, api: QueryAPI, t_ms: int, queries: Queries | None = None) -> None:
        self.api = api
        self.t_ms = t_ms
        self.queries = queries or Queries()

    def vector(self, expr: str) -> list[tuple[Labels, float]]:
        """The ``(labels, value)`` of each series of an instant query, in result order."""
        result = self.api.instant(expr, self.t_ms)
        return [(labels, float(v[-1])) for labels, _, v in result.series() if len(v)]

    def _usage(self, q: UsageQueries, key: Callable[[Labels], Key]) -> dict[Key, _Sample]:
        samples: dict[Key, _Sample] = {}

        def put(expr: str, attr: str) -> None:
            for labels, value in self.vector(expr):
                sample = samples.setdefault(key(labels), _Sample(labels))
                if getattr(sample, attr) is None:
                    setattr(sample, attr, value)

        put(q.cpu, "cpu")
        put(q.memory, "memory")
        put(q.timestamp, "timestamp_s")
        if q.window is not None:
            put(q.window, "window_s")
        return {k: s for k, s in samples.items() if s.complete}

    def _window_ms(self, s: _Sample) -> int | None:
        if self.queries.window_ms is not None:
            return self.queries.window_ms
        if s.window_s is None or not math.isfinite(s.window_s) or s.window_s <= 0:
            return None  # the counter did not move (or reset): the span is not known
        return round(s.window_s * 1000)

    def node_metrics(self, matchers: Sequence[str] = ()) -> list[NodeMetrics]:
        """Nodes whose kubelet series match ``matchers``, in no particular order."""
        samples = self._usage(self.queries.node_usage(matchers), _node_key)
        return [
            NodeMetrics(k[0], s.usage, s.timestamp_ms, self._window_ms(s))
            for k, s in samples.items()
        ]

    def pod_metrics(self, matchers: Sequence[str] = ()) -> list[PodMetrics]:
        """Pods whose container series match ``matchers`` (labels ``namespace``, ``pod``,
        ``container``, ``node``). As metrics-server, a pod's timestamp and window are those
        of its container with the earliest sample."""
        samples = self._usage(self.queries.container_usage(matchers), _container_key)
        by_pod: dict[tuple[str, str], list[_Sample]] = {}
        for (ns, pod, _), s in samples.items():
            by_pod.setdefault((ns, pod), []).append(s)
        out = []
        for (ns, pod), group in by_pod.items():
            earliest = min(group, key=lambda s: s.timestamp_ms)
            containers = tuple(
                ContainerMetrics(s.labels.get("container"), s.usage)
                for s in sorted(group, key=lambda s: s.labels.get("container"))
            )
            node = earliest.labels.get("node")
            out.append(
                PodMetrics(
                    ns, pod, node, earliest.timestamp_ms, self._window_ms(earliest), containers
                )
            )
        return out

    def nodes(self, matchers: Sequence[str] = ()) -> set[str]:
        """Names of the nodes kube-state-metrics knows."""
        return {labels.get("node") for labels, _ in self.vector(self.queries.nodes(matchers))}

    def available(self, *, capacity: bool = False) -> dict[str, Available]:
        """Each node's allocatable (or capacity) CPU and memory, as milli-values."""
        cpu: dict[str, int] = {}
        memory: dict[str, int] = {}
        for labels, value in self.vector(self.queries.node_resources(capacity=capacity)):
            node = labels.get("node")
            if not math.isfinite(value):
                continue
            if labels.get("resource") == "cpu":
                cpu.setdefault(node, cpu_milli_of_cores(value))
            else:
                memory.setdefault(node, round(value) * MILLI_PER_UNIT)
        return {n: Available(cpu.get(n), memory.get(n)) for n in sorted(cpu.keys() | memory)}

    def pods(self, matchers: Sequence[str] = ()) -> list[PodRecord]:
        """Pods kube-state-metrics knows, matching ``matchers`` (labels ``namespace``,
        ``pod``, ``node``), sorted by namespace and name."""
        created = {
            (labels.get("namespace"), labels.get("pod")): value
            for labels, value in self.vector(self.queries.pod_created())
        }
        found: dict[tuple[str, str], PodRecord] = {}
        for labels, _ in self.vector(self.queries.pod_info(matchers)):
            key = (labels.get("namespace"), labels.get("pod"))
            found.setdefault(key, PodRecord(*key, labels.get("node"), created.get(key)))
        return [found[k] for k in sorted(found)]

    def container_resources(self) -> dict[tuple[str, str, str], RequestsLimits]:
        """Each container's requests and limits, by ``(namespace, pod, container)``."""
        return {k: v for k, (_, v) in self._resources().items()}

    def node_allocated(self) -> dict[str, RequestsLimits]:
        """The sum of the requests and limits of the pods bound to each node."""
        by_node: dict[str, list[RequestsLimits]] = {}
        for node, spec in self._resources().values():
            if node:
                by_node.setdefault(node, []).append(spec)
        return {node: RequestsLimits.total(specs) for node, specs in by_node.items()}

    def _resources(self) -> dict[tuple[str, str, str], tuple[str, RequestsLimits]]:
        values: dict[tuple[str, str, str], dict[str, int]] = {}
        nodes: dict[tuple[str, str, str], str] = {}
        for kind in ("requests", "limits"):
            expr = self.queries.container_resources(limits=kind == "limits")
            for labels, value in self.vector(expr):
                if not math.isfinite(value):
                    continue
                key = (labels.get("namespace"), labels.get("pod"), labels.get("container"))
                nodes.setdefault(key, labels.get("node"))
                if labels.get("resource") == "cpu":
                    values.setdefault(key, {})[f"{kind}.cpu"] = cpu_milli_of_cores(value)
                else:
                    values.setdefault(key, {})[f"{kind}.memory"] = round(value)
        return {
            key: (
                nodes[key],
                RequestsLimits(
                    Quantities(v.get("requests.cpu"), v.get("requests.memory")),
                    Quantities(v.get("limits.cpu"), v.get("limits.memory")),
                ),
            )
            for key, v in values.items()
        }

    def pod_labels_exported(self) -> bool:
        """Whether kube-state-metrics exports ``kube_pod_labels`` at all."""
        return bool(self.vector(f"count({self.queries.pod_labels()})"))

    def labelled_pods(self, matchers: Sequence[str]) -> set[tuple[str, str]]:
        """``(namespace, pod)`` of the pods whose ``kube_pod_labels`` match ``matchers``."""
        return {
            (labels.get("namespace"), labels.get("pod"))
            for labels, _ in self.vector(self.queries.pod_labels(matchers))
        }
