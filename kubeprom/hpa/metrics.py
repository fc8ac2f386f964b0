"""The metrics APIs of a cluster, computed with PromQL: the sources the controller reads.

:class:`MetricsBackends` is what a cluster has installed: metrics-server
(``metrics.k8s.io``, always, :mod:`.metrics_resource`), prometheus-adapter
(``custom.metrics.k8s.io`` and ``external.metrics.k8s.io`` from its rules, :mod:`.adapter`)
and KEDA (``external.metrics.k8s.io`` for its ScaledObjects, :mod:`.keda`). As in a cluster,
one provider serves external metrics: KEDA when it is installed, else the adapter. A backend
that is not installed answers as the missing API does.

:meth:`MetricsBackends.source` gives the :class:`~kubeprom.hpa.source.MetricsSource` of one
sync: the pods the scale target selects, the sync time and the target's replica count
(KEDA's fallback reads it). With a ``record`` list each metrics API call is appended as a
:class:`FetchRecord` (the queries it ran, their answers, notes, the values), which is what
``kubeprom hpa render`` prints. Inside :meth:`MetricsBackends.sync` (one sync of every
HPA) the HPAs of one namespace share metrics-server's reading of it (the kubelet queries and
what follows from them before the pod list applies). The backends keep state across syncs
(the adapter's discovery, KEDA's health and activity): make one per controller and reuse it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from kubeprom.config.hpa_spec import CrossVersionObjectReference, LabelSelector
from kubeprom.config.keda import OWNER_LABEL, LoadedScaledObject
from kubeprom.hpa.adapter import PrometheusAdapter
from kubeprom.hpa.adapter_naming import CompiledAdapter
from kubeprom.hpa.keda import KedaOperator
from kubeprom.hpa.metrics_resource import (
    KubeletPoints,
    MetricsServerConfig,
    ResourceReading,
    read_kubelet_points,
    serve,
)
from kubeprom.hpa.pods import PodList, PodSamples
from kubeprom.hpa.promread import QueryRecord, RecordingQueryAPI
from kubeprom.hpa.source import BackendProblem, MetricFailure, Report
from kubeprom.promql.api import QueryAPI

NO_CUSTOM_API = (
    "unable to fetch metrics from custom metrics API: no custom metrics API "
    "(custom.metrics.k8s.io) registered"
)

ADAPTER = "prometheus-adapter"
ADAPTER_REASON = "FailedMetricsQuery"  # the adapter only logs it: kubeprom's reason
KEDA = "keda-operator"
KEDA_REASON = "KEDAScalerFailed"  # KEDA's event reason for a failing scaler

FetchResult = PodSamples | int | Sequence[int] | MetricFailure


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One metrics API call of a sync: which API and metric, the PromQL it ran (with the
    answers or errors), the backend's notes, and what the HPA got back."""

    api: str  # "resource", "pods", "object" or "external"
    metric: str
    result: FetchResult
    queries: tuple[QueryRecord, ...] = ()
    notes: tuple[str, ...] = ()
    reading: ResourceReading | None = None


class MetricsBackends:
    """The installed metrics APIs over one :class:`QueryAPI`. Not task-safe."""

    def __init__(
        self,
        api: QueryAPI,
        *,
        metrics_server: MetricsServerConfig | None = None,
        adapter: CompiledAdapter | None = None,
        scaled_objects: Sequence[LoadedScaledObject] = (),
        created_ms: int = 0,
        adapter_relist_interval_ms: int | None = None,
    ) -> None:
        """``adapter`` is a compiled prometheus-adapter config (none: no adapter);
        ``scaled_objects`` installs KEDA for them, created at ``created_ms``. Raises
        :class:`~kubeprom.errors.ConfigError` when KEDA's HPA for one is invalid."""
        self.recorder = RecordingQueryAPI(api, records=None)
        self._points: dict[tuple[str, int], KubeletPoints] | None = None
        self.metrics_server = metrics_server or MetricsServerConfig()
        self.adapter: PrometheusAdapter | None = None
        if adapter is not None:
            kwargs = {}
            if adapter_relist_interval_ms is not None:
                kwargs["relist_interval_ms"] = adapter_relist_interval_ms
            self.adapter = PrometheusAdapter(adapter, self.recorder, **kwargs)
        self.keda: KedaOperator | None = None
        if scaled_objects:
            self.keda = KedaOperator(scaled_objects, self.recorder, created_ms)

    @contextmanager
    def sync(self, now_ms: int) -> Iterator[None]:
        """One sync of every HPA at ``now_ms``: the HPAs of a namespace share its kubelet
        points (the store does not change during the synchronous pass). Not for recorded
        sources: an HPA reading shared points runs no query of its own."""
        self._points = {}
        try:
            yield
        finally:
            self._points = None

    def kubelet_points(self, namespace: str, t_ms: int) -> KubeletPoints:
        """metrics-server's points of ``namespace`` at ``t_ms``, read once per sync."""
        key = (namespace, t_ms)
        if self._points is not None and key in self._points:
            return self._points[key]
        points = read_kubelet_points(self.recorder, namespace, t_ms, self.metrics_server)
        if self._points is not None:
            self._points[key] = points
        return points

    def source(
        self,
        pods: PodList,
        t_ms: int,
        *,
        spec_replicas: int | None = None,
        record: list[FetchRecord] | None = None,
        report: Report | None = None,
    ) -> PromQLMetricsSource:
        """The metrics source of one sync at ``t_ms`` of a target selecting ``pods``;
        ``report`` receives the adapter's and KEDA's failed queries at their fields."""
        return PromQLMetricsSource(self, pods, t_ms, spec_replicas, record, report)


@dataclass(slots=True)
class PromQLMetricsSource:
    """:class:`MetricsSource` of one sync; resource readings are cached per namespace."""

    backends: MetricsBackends
    pods_list: PodList
    t_ms: int
    spec_replicas: int | None = None
    record: list[FetchRecord] | None = None
    report: Report | None = None
    _readings: dict[str, ResourceReading] = field(default_factory=dict)

    def _begin(self) -> None:
        if self.record is not None:
            self.backends.recorder.records = []

    def _end(
        self,
        api: str,
        metric: str,
        result: FetchResult,
        notes: Sequence[str] = (),
        reading: ResourceReading | None = None,
    ) -> None:
        if self.record is None:
            return
        queries = tuple(self.backends.recorder.records or ())
        self.backends.recorder.records = None
        self.record.append(FetchRecord(api, metric, result, queries, tuple(notes), reading))

    def _tell(self, component: str, reason: str, problems: Sequence[str]) -> None:
        if self.report is not None:
            for message in problems:
                self.report(BackendProblem(component, reason, message))

    def resource(
        self, namespace: str, selector: str, resource: str, container: str
    ) -> PodSamples | MetricFailure:
        self._begin()
        cached = namespace in self._readings
        if not cached:
            points = self.backends.kubelet_points(namespace, self.t_ms)
            self._readings[namespace] = serve(points, self.pods_list)
        reading = self._readings[namespace]
        result = reading.samples(namespace, resource, container)
        notes = ["the readings of this sync's first resource metric"] if cached else []
        if reading.error is not None:
            notes.append(reading.error)
        self._end("resource", resource, result, notes, reading)
        return result

    def pods(
        self, namespace: str, selector: str, metric: str, metric_selector: LabelSelector | None
    ) -> PodSamples | MetricFailure:
        self._begin()
        adapter = self.backends.adapter
        if adapter is None:
            result: PodSamples | MetricFailure = MetricFailure(NO_CUSTOM_API)
            notes: list[str] = ["no prometheus-adapter configured"]
        else:
            names = [str(n) for n in self.pods_list.names]
            result = adapter.pods(namespace, names, metric, metric_selector, self.t_ms)
            notes = list(adapter.notes)
            self._tell(ADAPTER, ADAPTER_REASON, adapter.problems)
        self._end("pods", metric, result, notes)
        return result

    def object(
        self,
        namespace: str,
        described_object: CrossVersionObjectReference,
        metric: str,
        metric_selector: LabelSelector | None,
    ) -> int | MetricFailure:
        self._begin()
        adapter = self.backends.adapter
        if adapter is None:
            result: int | MetricFailure = MetricFailure(NO_CUSTOM_API)
            notes: list[str] = ["no prometheus-adapter configured"]
        else:
            result = adapter.object(namespace, described_object, metric, metric_selector, self.t_ms)
            notes = list(adapter.notes)
            self._tell(ADAPTER, ADAPTER_REASON, adapter.problems)
        self._end("object", metric, result, notes)
        return result

    def external(
        self, namespace: str, metric: str, metric_selector: LabelSelector | None
    ) -> Sequence[int] | MetricFailure:
        self._begin()
        keda = self.backends.keda
        adapter = self.backends.adapter
        notes: list[str] = []
        result: Sequence[int] | MetricFailure
        if keda is not None:
            owner = (
                dict(metric_selector.match_labels).get(OWNER_LABEL, "") if metric_selector else ""
            )
            key = f"{namespace}/{owner}"
            result = keda.external(
                namespace,
                metric,
                metric_selector,
                self.t_ms,
                spec_replicas=self.spec_replicas,
                pods=self.pods_list,
            )
            if keda.has(key):
                notes = keda.notes(key)
                self._tell(KEDA, KEDA_REASON, keda.problems(key))
        elif adapter is not None:
            result = adapter.external(namespace, metric, metric_selector, self.t_ms)
            notes = list(adapter.notes)
            self._tell(ADAPTER, ADAPTER_REASON, adapter.problems)
        else:
            result = MetricFailure(
                "unable to fetch metrics from external metrics API: the server could not find "
                f"the requested resource (get {metric}.external.metrics.k8s.io)"
            )
            notes = ["neither prometheus-adapter nor KEDA is configured"]
        self._end("external", metric, result, notes)
        return result


__all__ = ["FetchRecord", "MetricsBackends", "PromQLMetricsSource"]
