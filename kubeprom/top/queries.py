"""The PromQL ``top`` runs: metrics-server's arithmetic over the scraped series.

Series used (kubernetes-mixin job names, changeable through :class:`Sources`):

* the kubelet's ``/metrics/resource`` (``job="kubelet"``): ``node_cpu_usage_seconds_total``,
  ``node_memory_working_set_bytes``, ``container_cpu_usage_seconds_total``,
  ``container_memory_working_set_bytes`` with explicit timestamps, and the target label
  ``node`` naming the node (plus the node's labels, ``labelmap``-ped);
* kube-state-metrics (``job="kube-state-metrics"``): ``kube_node_info``,
  ``kube_node_status_allocatable`` / ``_capacity``, ``kube_pod_info``, ``kube_pod_created``,
  ``kube_pod_container_resource_requests`` / ``_limits`` (``-o wide``, ``--utilization``)
  and, when kube-state-metrics exports pod labels, ``kube_pod_labels``.

CPU usage is what metrics-server computes, the rate between the two newest samples of the
cumulative counter: ``irate(...[lookback])``. ``and <selector>`` drops series that went
stale (a deleted pod, a node whose kubelet stopped answering), which metrics-server would no
longer serve. The window of that rate is ``idelta / irate`` (NaN when the counter did not
move). Memory is the working set's newest sample. With a window (``--window 5m``) CPU is
``rate`` and memory ``avg_over_time`` over it instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubeprom.model.timeutil import format_duration_ms

#: How far back irate looks for the two newest samples: Prometheus' lookback delta, so any
#: series an instant query would still show has a rate when it has two samples.
DEFAULT_LOOKBACK_MS = 5 * 60_000

KUBELET_MATCHERS = 'job="kubelet"'
KSM_MATCHERS = 'job="kube-state-metrics"'
NODE_CPU = "node_cpu_usage_seconds_total"
NODE_MEMORY = "node_memory_working_set_bytes"
CONTAINER_CPU = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY = "container_memory_working_set_bytes"


@dataclass(frozen=True, slots=True)
class Sources:
    """Matchers that pick each exporter's series (PromQL matcher text)."""

    kubelet: str = KUBELET_MATCHERS
    kube_state_metrics: str = KSM_MATCHERS


def selector(metric: str, matchers: Sequence[str]) -> str:
    """``metric{m1, m2}`` (empty matchers skipped)."""
    inner = ", ".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}"


@dataclass(frozen=True, slots=True)
class UsageQueries:
    """The four queries of one kind of usage (node or container)."""

    cpu: str
    window: str | None  # seconds; None when the window is the fixed averaging window
    timestamp: str
    memory: str


@dataclass(frozen=True, slots=True)
class Queries:
    """Builds every query ``top`` runs. ``window_ms`` switches from the last two samples to
    an average over that window."""

    sources: Sources = Sources()
    lookback_ms: int = DEFAULT_LOOKBACK_MS
    window_ms: int | None = None

    def _usage(self, cpu_metric: str, memory_metric: str, matchers: Sequence[str]) -> UsageQueries:
        cpu = selector(cpu_metric, [self.sources.kubelet, *matchers])
        memory = selector(memory_metric, [self.sources.kubelet, *matchers])
        if self.window_ms is not None:
            w = format_duration_ms(self.window_ms)
            return UsageQueries(
                cpu=f"rate({cpu}[{w}]) and {cpu}",
                window=None,
                timestamp=f"timestamp({cpu})",
                memory=f"avg_over_time({memory}[{w}]) and {memory}",
            )
        r = format_duration_ms(self.lookback_ms)
        return UsageQueries(
            cpu=f"irate({cpu}[{r}]) and {cpu}",
            window=f"(idelta({cpu}[{r}]) / irate({cpu}[{r}])) and {cpu}",
            timestamp=f"timestamp({cpu})",
            memory=memory,
        )

    def node_usage(self, matchers: Sequence[str] = ()) -> UsageQueries:
        """Per node (label ``node``)."""
        return self._usage(NODE_CPU, NODE_MEMORY, matchers)

    def container_usage(self, matchers: Sequence[str] = ()) -> UsageQueries:
        """Per container (labels ``namespace``, ``pod``, ``container``, ``node``)."""
        return self._usage(CONTAINER_CPU, CONTAINER_MEMORY, ['container!=""', *matchers])

    def node_resources(self, *, capacity: bool = False) -> str:
        """CPU (cores) and memory (bytes) per node, label ``resource``."""
        metric = "kube_node_status_capacity" if capacity else "kube_node_status_allocatable"
        return selector(metric, [self.sources.kube_state_metrics, 'resource=~"cpu|memory"'])

    def nodes(self, matchers: Sequence[str] = ()) -> str:
        """One series per node the cluster has (label ``node``)."""
        return selector("kube_node_info", [self.sources.kube_state_metrics, *matchers])

    def pod_info(self, matchers: Sequence[str] = ()) -> str:
        """One series per pod, with the ``node`` it is bound to ("" while pending)."""
        return selector("kube_pod_info", [self.sources.kube_state_metrics, *matchers])

    def pod_created(self, matchers: Sequence[str] = ()) -> str:
        """Each pod's creation time (Unix seconds)."""
        return selector("kube_pod_created", [self.sources.kube_state_metrics, *matchers])

    def container_resources(self, *, limits: bool = False) -> str:
        """Each container's CPU (cores) and memory (bytes) requests or limits, labels
        ``namespace``, ``pod``, ``container``, ``node``, ``resource``."""
        kind = "limits" if limits else "requests"
        return selector(
            f"kube_pod_container_resource_{kind}",
            [self.sources.kube_state_metrics, 'resource=~"cpu|memory"'],
        )

    def pod_labels(self, matchers: Sequence[str] = ()) -> str:
        """Pods whose labels match (``kube_pod_labels`` with ``label_<key>`` labels)."""
        return selector("kube_pod_labels", [self.sources.kube_state_metrics, *matchers])
