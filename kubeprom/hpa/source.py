"""Where the controller reads metric values: the seam for metric backends.

:class:`MetricsSource` is upstream's ``MetricsClient``: one getter per metrics API
(``metrics.k8s.io`` for Resource/ContainerResource, ``custom.metrics.k8s.io`` for Pods and
Object, ``external.metrics.k8s.io`` for External). A getter returns values in milli-units,
shaped as upstream's client returns them, or a :class:`MetricFailure` whose message reads as
the client's error (``no metrics returned from resource metrics API``); the controller wraps
that message the way kube-controller-manager does. Implementations: the in-memory
:class:`StaticMetricsSource` here (tests, conformance, simulations fed with ready values);
PromQL-backed sources plug in through the same protocol.

:func:`resource_samples` turns per-container usage (what ``metrics.k8s.io`` serves) into
per-pod samples exactly as upstream's resource client does, for sources that hold usage per
container.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kubeprom.config.hpa_spec import CrossVersionObjectReference, LabelSelector
from kubeprom.hpa.pods import PodSamples
from kubeprom.model.goarith import wrap64
from kubeprom.model.selectors import Requirement

DEFAULT_WINDOW_MS = (
    60_000  # the custom metrics API's default window (metricServerDefaultMetricWindow)
)


@dataclass(frozen=True, slots=True)
class MetricFailure:
    """A metrics API call that failed; ``message`` is the client's error text."""

    message: str


@dataclass(frozen=True, slots=True)
class BackendProblem:
    """What a metrics backend tells about a failure beyond the API error the HPA sees: which
    rule or trigger failed, at its file, line and field. ``component`` is the event source
    (``prometheus-adapter``, ``keda-operator``); ``reason`` the event's."""

    component: str
    reason: str
    message: str


Report = Callable[[BackendProblem], None]


class MetricsSource(Protocol):
    """The three metrics APIs, read at one sync. All values are milli-units (int64).

    ``selector`` is the scale target's pod selector (``labels.Parse`` syntax); a
    ``metric_selector`` narrows the series of a metric (None = no narrowing). Getters must not
    raise for unavailable data: they return a :class:`MetricFailure`.
    """

    def resource(
        self, namespace: str, selector: str, resource: str, container: str
    ) -> PodSamples | MetricFailure:
        """Per-pod usage of ``resource`` (``GetResourceMetric``); ``container`` non-empty
        means that container's usage only. An empty answer is a failure."""
        ...

    def pods(
        self, namespace: str, selector: str, metric: str, metric_selector: LabelSelector | None
    ) -> PodSamples | MetricFailure:
        """Per-pod values of a custom metric (``GetRawMetric``)."""
        ...

    def object(
        self,
        namespace: str,
        described_object: CrossVersionObjectReference,
        metric: str,
        metric_selector: LabelSelector | None,
    ) -> int | MetricFailure:
        """The value of a metric describing one object (``GetObjectMetric``)."""
        ...

    def external(
        self, namespace: str, metric: str, metric_selector: LabelSelector | None
    ) -> Sequence[int] | MetricFailure:
        """Every series' value of an external metric (``GetExternalMetric``)."""
        ...


@dataclass(frozen=True, slots=True)
class PodUsage:
    """One pod's entry of ``metrics.k8s.io``: per-container usage (milli) and its timing."""

    containers: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    timestamp_ms: int
    window_ms: int = DEFAULT_WINDOW_MS


def resource_samples(
    namespace: str, items: Mapping[str, PodUsage], resource: str, container: str
) -> PodSamples | MetricFailure:
    """Per-pod samples from per-container usage, as upstream's resource client builds them.

    Without ``container`` a pod's value is the sum over its containers, and a pod whose
    containers lack the resource (or that has none) has no sample. With ``container``, a pod
    without that container fails the whole metric; one whose container lacks the resource
    has no sample.
    """
    if not items:
        return MetricFailure("no metrics returned from resource metrics API")
    rows: dict[str, tuple[int, int, int]] = {}
    for pod, usage in items.items():
        if container:
            entry = next((c for c in usage.containers if c[0] == container), None)
            if entry is None:
                return MetricFailure(
                    f"failed to get container metrics: container {container} not present in "
                    f"metrics for pod {namespace}/{pod}"
                )
            value = dict(entry[1]).get(resource)
            if value is not None:
                rows[pod] = (value, usage.timestamp_ms, usage.window_ms)
            continue
        total = 0
        missing = not usage.containers
        for _, resources in usage.containers:
            found = dict(resources).get(resource)
            if found is None:
                missing = True
                break
            total = wrap64(total + found)
        if not missing:
            rows[pod] = (total, usage.timestamp_ms, usage.window_ms)
    return PodSamples.of(rows)


@dataclass(frozen=True, slots=True)
class StaticMetricsSource:
    """Metric values given up front: what each metrics API answers at this sync.

    ``resource`` maps a resource name to the ``metrics.k8s.io`` items (a resource that is
    absent makes its fetch fail); ``pods`` maps a custom metric to per-pod
    ``(value, timestamp_ms, window_ms)``; ``objects`` maps ``(kind, name, metric)`` to a value;
    ``external`` maps a metric to the values of all its series. Selectors are not applied:
    the values are taken to be the ones that match.
    """

    resources: Mapping[str, Mapping[str, PodUsage]] = field(default_factory=dict)
    pods_metrics: Mapping[str, Mapping[str, tuple[int, int, int]]] = field(default_factory=dict)
    objects: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    externals: Mapping[str, Sequence[int]] = field(default_factory=dict)

    def resource(
        self, namespace: str, selector: str, resource: str, container: str
    ) -> PodSamples | MetricFailure:
        items = self.resources.get(resource)
        if items is None:
            return MetricFailure(
                f"unable to fetch metrics from resource metrics API: the server could not find "
                f"the requested resource (get pods.metrics.k8s.io {resource})"
            )
        return resource_samples(namespace, items, resource, container)

    def pods(
        self, namespace: str, selector: str, metric: str, metric_selector: LabelSelector | None
    ) -> PodSamples | MetricFailure:
        rows = self.pods_metrics.get(metric)
        if rows is None:
            return MetricFailure(
                f"unable to fetch metrics from custom metrics API: the server could not find "
                f"the metric {metric} for pods"
            )
        if not rows:
            return MetricFailure("no metrics returned from custom metrics API")
        return PodSamples.of(rows)

    def object(
        self,
        namespace: str,
        described_object: CrossVersionObjectReference,
        metric: str,
        metric_selector: LabelSelector | None,
    ) -> int | MetricFailure:
        key = (described_object.kind, described_object.name, metric)
        value = self.objects.get(key)
        if value is None:
            kind = described_object.kind.lower()
            return MetricFailure(
                f"unable to fetch metrics from custom metrics API: the server could not find "
                f"the metric {metric} for {kind} {described_object.name}"
            )
        return value

    def external(
        self, namespace: str, metric: str, metric_selector: LabelSelector | None
    ) -> Sequence[int] | MetricFailure:
        values = self.externals.get(metric)
        if values is None:
            return MetricFailure(
                f"unable to fetch metrics from external metrics API: the server could not find "
                f"the requested resource (get {metric}.external.metrics.k8s.io)"
            )
        if not values:
            return MetricFailure("no metrics returned from external metrics API")
        return values


def selector_requirements(selector: LabelSelector | None) -> tuple[Requirement, ...]:
    """``metav1.LabelSelectorAsSelector``: the requirements of a metric selector (none for
    no selector); raises ValueError as :meth:`LabelSelector.requirements` does."""
    return () if selector is None else selector.requirements()


def describe_selector(selector: LabelSelector | None) -> str:
    """Go's ``%+v`` of a ``*metav1.LabelSelector`` (its generated ``String()``), as it shows
    in upstream's metric names: ``&LabelSelector{MatchLabels:map[string]string{app: web,},
    MatchExpressions:[]LabelSelectorRequirement{},}``; ``nil`` for none."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted(selector.match_labels))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.key},Operator:{e.operator},"
        f"Values:[{' '.join(e.values)}],}},"
        for e in selector.match_expressions
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )


def empty_samples() -> PodSamples:
    """A sample set with no pods."""
    return PodSamples(
        np.zeros(0, dtype=np.str_),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
    )
