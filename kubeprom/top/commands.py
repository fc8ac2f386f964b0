"""``top node`` and ``top pod`` as kubectl runs them (``pkg/cmd/top/top_node.go``,
``top_pod.go``), over a :class:`~kubeprom.top.source.MetricsSource`.

The checks and their order are kubectl's, so are the errors (:class:`~kubeprom.errors.TopError`,
:class:`~kubeprom.errors.NotFound`):

* a NAME and a selector together: ``only one of NAME or --selector can be provided``;
* ``top node NAME``: ``nodes "x" not found`` when the cluster has no such node,
  ``nodemetrics.metrics.k8s.io "x" not found`` when it has but there are no metrics;
* no node metrics at all: ``metrics not available yet``;
* ``top pod NAME``: ``pods "x" not found`` / ``podmetrics.metrics.k8s.io "ns/x" not found``;
* no pod metrics: if pods exist and one is older than two minutes,
  ``Metrics not available for pod ns/x, age: 5m0s``; if all are younger,
  ``metrics not available yet``; if there are none, the notice
  ``No resources found in ns namespace.`` (not an error).

Where the cluster's objects come from: nodes and pods from kube-state-metrics; a node label
selector matches the node labels the kubelet's scrape target carries (``labelmap`` of the
node's labels, as kubeprom's default scrape config does); a pod label selector needs
kube-state-metrics' ``kube_pod_labels`` and says so when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeprom.errors import NotFound, TopError
from kubeprom.model.gofmt import quote
from kubeprom.model.timeutil import NS_PER_MS, format_go_duration
from kubeprom.top.model import Available, NodeMetrics, PodMetrics, RequestsLimits, SortBy
from kubeprom.top.selectors import (
    field_matchers,
    label_matchers,
    parse_field_selector,
    parse_label_selector,
)
from kubeprom.top.source import MetricsSource

METRICS_NOT_AVAILABLE = "metrics not available yet"
#: kubectl's metricsCreationDelay: a pod younger than this may have no metrics yet.
METRICS_CREATION_DELAY_MS = 2 * 60_000
#: kube-state-metrics' prefix of pod label names in kube_pod_labels.
POD_LABEL_PREFIX = "label_"


def parse_sort_by(text: str) -> SortBy:
    """``--sort-by``; raises kubectl's "--sort-by accepts only cpu or memory"."""
    try:
        return SortBy(text)
    except ValueError:
        raise TopError("--sort-by accepts only cpu or memory") from None


@dataclass(frozen=True, slots=True)
class NodeRequest:
    """``allocated`` also reads the requests and limits of each node's pods (``-o wide``)."""

    name: str = ""
    selector: str = ""
    show_capacity: bool = False
    allocated: bool = False


@dataclass(frozen=True, slots=True)
class NodeResult:
    """Node metrics and every listed node's available resources (nodes without metrics
    print as ``<unknown>``); ``allocated`` when asked for."""

    metrics: list[NodeMetrics]
    available: dict[str, Available]
    allocated: dict[str, RequestsLimits] = field(default_factory=dict)


def top_node(source: MetricsSource, req: NodeRequest) -> NodeResult:
    """kubectl's ``RunTopNode``; raises :class:`TopError`."""
    if req.name and req.selector:
        raise TopError("only one of NAME or --selector can be provided")
    selector = label_matchers(parse_label_selector(req.selector))
    name_matchers = [f"node={quote(req.name)}"] if req.name else []
    metrics = source.node_metrics(name_matchers or selector)
    if req.name and not metrics:
        if not source.nodes(name_matchers):
            raise NotFound("nodes", req.name)
        raise NotFound("nodemetrics.metrics.k8s.io", req.name)
    if not metrics:
        raise TopError(METRICS_NOT_AVAILABLE)
    listed = source.nodes(name_matchers)
    if selector:
        # Only the kubelet's scrape target carries the node's labels: its `up` series
        # exists whether or not the scrape succeeds.
        up = source.vector(f"up{{{', '.join([source.queries.sources.kubelet, *selector])}}}")
        listed &= {labels.get("node") for labels, _ in up}
    available = source.available(capacity=req.show_capacity)
    allocated = source.node_allocated() if req.allocated else {}
    return NodeResult(
        metrics, {name: available.get(name, Available()) for name in listed}, allocated
    )


@dataclass(frozen=True, slots=True)
class PodRequest:
    """``resources`` also reads each container's requests and limits (``-o wide``,
    ``--utilization``)."""

    name: str = ""
    namespace: str = "default"
    all_namespaces: bool = False
    selector: str = ""
    field_selector: str = ""
    resources: bool = False


@dataclass(frozen=True, slots=True)
class PodResult:
    """Pod metrics, kubectl's stderr notice when there are none, and the containers'
    requests and limits when asked for."""

    metrics: list[PodMetrics]
    notice: str | None = None
    resources: dict[tuple[str, str, str], RequestsLimits] = field(default_factory=dict)


def top_pod(source: MetricsSource, req: PodRequest) -> PodResult:
    """kubectl's ``RunTopPod``; raises :class:`TopError`."""
    if req.name and (req.selector or req.field_selector):
        raise TopError("only one of NAME or selector can be provided")
    labels = parse_label_selector(req.selector)
    fields = field_matchers(parse_field_selector(req.field_selector))
    namespace = [] if req.all_namespaces else [f"namespace={quote(req.namespace)}"]
    name = [f"pod={quote(req.name)}"] if req.name else []
    keep: set[tuple[str, str]] | None = None
    if labels:
        if not source.pod_labels_exported():
            raise TopError(
                "cannot select pods by label: kube-state-metrics exports no kube_pod_labels "
                "(run it with --metric-labels-allowlist=pods=[*])"
            )
        keep = source.labelled_pods([*namespace, *label_matchers(labels, POD_LABEL_PREFIX)])
    metrics = [
        m
        for m in source.pod_metrics([*namespace, *name, *fields])
        if keep is None or (m.namespace, m.name) in keep
    ]
    if req.name and not metrics:
        found = source.pods([*namespace, *name])
        if not found:
            raise NotFound("pods", req.name)
        raise NotFound("podmetrics.metrics.k8s.io", f"{found[0].namespace}/{req.name}")
    if metrics:
        return PodResult(metrics, None, source.container_resources() if req.resources else {})
    # kubectl's verifyEmptyMetrics, which lists the pods of the current namespace even
    # with -A.
    pods = [
        p
        for p in source.pods([f"namespace={quote(req.namespace)}", *fields])
        if keep is None or (p.namespace, p.name) in keep
    ]
    if not pods:
        if req.all_namespaces:
            return PodResult([], "No resources found")
        return PodResult([], f"No resources found in {req.namespace} namespace.")
    for p in pods:
        if p.created_s is None:
            continue
        age_ms = source.t_ms - round(p.created_s * 1000)
        if age_ms > METRICS_CREATION_DELAY_MS:
            age = format_go_duration(age_ms * NS_PER_MS)  # kubectl prints age.String()
            raise TopError(f"Metrics not available for pod {p.namespace}/{p.name}, age: {age}")
    raise TopError(METRICS_NOT_AVAILABLE)
