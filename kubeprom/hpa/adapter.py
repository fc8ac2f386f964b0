"""prometheus-adapter: ``custom.metrics.k8s.io`` and ``external.metrics.k8s.io`` from PromQL.

:class:`PrometheusAdapter` does what the adapter does for the HPA's three custom and external
calls. Discovery (``updateMetrics``) lists the series of each rule's ``seriesQuery`` seen in
the last ``--metrics-max-age``, filters and names them, and registers one metric per
(group-resource the series' labels name, API name): later rules and series win, as upstream
map writes do. Discovery runs at the first call and again once ``--metrics-relist-interval``
has passed (10 minutes, in the caller's time); a failed discovery keeps the previous
registry. A request builds the rule's metrics query for the namespace, the metric selector
and the object names (the pods the scale target selects, or the described object), runs it
as an instant query at the request time and matches the result to names by the resource's
label.

Values become quantities as upstream converts them, ``NewMilliQuantity(int64(v * 1000))``.
A NaN or infinite value fails the metric (where upstream would serve 0 or an undefined
integer). The errors the HPA sees are the adapter's, as its client words them: a metric not
registered is ``the server could not find the metric M for pods``, a query that fails or
returns something other than a vector is ``Internal error occurred: unable to fetch
metrics``. The PromQL error is kept for the dry run (:attr:`PrometheusAdapter.notes`) and,
at the rule's field in the config file, in :attr:`PrometheusAdapter.problems` (the adapter
would log it; ``kubeprom run`` records it on the HPA that asked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kubeprom.config.hpa_spec import CrossVersionObjectReference, LabelSelector
from kubeprom.config.k8s_resources import (
    NAMESPACES,
    PODS,
    GroupResource,
    NoMatch,
    is_namespaced,
    resource_for_kind,
)
from kubeprom.errors import KubepromError
from kubeprom.hpa.adapter_naming import AdapterError, CompiledAdapter, Namer
from kubeprom.hpa.pods import PodSamples
from kubeprom.hpa.source import MetricFailure, selector_requirements
from kubeprom.model.goarith import INT64_MIN
from kubeprom.model.gofmt import format_g, quote
from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.promql.api import QueryAPI, QueryResult, ResultType

RELIST_INTERVAL_MS = 10 * 60_000  # --metrics-relist-interval
CUSTOM_WINDOW_MS = 60_000  # the HPA's default window: the adapter sets none
CUSTOM = "unable to fetch metrics from custom metrics API: "
EXTERNAL = "unable to fetch metrics from external metrics API: "
INTERNAL = "Internal error occurred: unable to fetch metrics"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """``provider.CustomMetricInfo``."""

    resource: GroupResource
    namespaced: bool
    metric: str


@dataclass(frozen=True, slots=True)
class Registration:
    """What serves one metric: the Prometheus series name and its rule's namer."""

    series: str
    namer: Namer


@dataclass(frozen=True, slots=True)
class Registry:
    """One discovery's result; ``error`` says why discovery failed (nothing registered)."""

    t_ms: int
    custom: dict[MetricInfo, Registration] = field(default_factory=dict)
    external: dict[str, Registration] = field(default_factory=dict)
    error: str | None = None


def go_milli(values: np.ndarray) -> np.ndarray:
    """``int64(v * 1000.0)`` on amd64: truncation, the most negative int64 when out of range."""
    scaled = np.asarray(values, dtype=np.float64) * 1000.0
    inside = np.isfinite(scaled) & (scaled >= -(2.0**63)) & (scaled < 2.0**63)
    return np.where(inside, np.trunc(np.where(inside, scaled, 0.0)), INT64_MIN).astype(np.int64)


def register(
    compiled: CompiledAdapter, listed: Mapping[str, Sequence[Labels]], t_ms: int
) -> Registry:
    """``SetSeries`` of both registries: ``listed`` maps each series query to the series it
    found. Every series a rule keeps registers its API name for every group-resource its
    labels name; a later rule or series overwrites an earlier one."""
    custom: dict[MetricInfo, Registration] = {}
    for n in compiled.custom:
        for labels in listed.get(n.series_query, ()):
            name = labels.name
            api_name = n.metric_name(name) if n.keep(name) else None
            if api_name is None:
                continue
            for res in n.converter.resources_for(labels):
                info = MetricInfo(res, is_namespaced(res), api_name)
                custom[info] = Registration(name, n)
    external: dict[str, Registration] = {}
    for n in compiled.external:
        for labels in listed.get(n.series_query, ()):
            name = labels.name
            api_name = n.metric_name(name) if n.keep(name) else None
            if api_name is not None:
                external[api_name] = Registration(name, n)
    return Registry(t_ms, custom, external)


class PrometheusAdapter:
    """The adapter over ``api``; ``series_api`` lists series (default: through ``api``).

    Not task-safe: one controller (or one dry run) drives it.
    """

    def __init__(
        self,
        compiled: CompiledAdapter,
        api: QueryAPI,
        *,
        relist_interval_ms: int = RELIST_INTERVAL_MS,
        max_age_ms: int | None = None,
    ) -> None:
        self.compiled = compiled
        self.api = api
        self.relist_interval_ms = relist_interval_ms
        self.max_age_ms = max_age_ms or relist_interval_ms
        self.registry: Registry | None = None
        self.notes: list[str] = []  # what the last request did, for dry runs
        self.problems: list[str] = []  # the last request's failed queries, at their fields

    # ---- discovery --------------------------------------------------------------------------
    def _series(self, selector: str, t_ms: int) -> list[Labels]:
        """The series ``/api/v1/series`` would list for the last max-age, through the query
        seam: a range selector's answer carries every series with a sample in the range."""
        result = self.api.instant(f"{selector}[{format_duration_ms(self.max_age_ms)}]", t_ms)
        return list(result.labels)

    def discover(self, t_ms: int) -> Registry:
        """Relist when due (``updateMetrics``); returns the registry in force."""
        if self.registry is not None and t_ms - self.registry.t_ms < self.relist_interval_ms:
            return self.registry
        namers = self.compiled.custom + self.compiled.external
        listed: dict[str, list[Labels]] = {}
        try:
            for n in namers:
                if n.series_query not in listed:
                    listed[n.series_query] = self._series(n.series_query, t_ms)
        except KubepromError as err:
            self._problem(n.rule.path, "seriesQuery", n.series_query, err)
            failed = Registry(
                t_ms,
                error="unable to update list of all metrics: unable to fetch metrics for query "
                f"{quote(n.series_query)}: {err}",
            )
            if self.registry is None or self.registry.error is not None:
                self.registry = failed
            else:  # the previous list stays in force; try again next interval
                self.registry = Registry(t_ms, self.registry.custom, self.registry.external)
            return self.registry
        self.registry = register(self.compiled, listed, t_ms)
        return self.registry

    def _problem(self, rule: str, key: str, query: str, err: KubepromError) -> None:
        where = self.compiled.config.error(f"{rule}.{key}", f"query {quote(query)} failed: {err}")
        self.problems.append(str(where))

    def _begin(self) -> None:
        self.notes = []
        self.problems = []

    # ---- requests ---------------------------------------------------------------------------
    def _query(self, namer: Namer, query: str, t_ms: int) -> QueryResult | None:
        try:
            return self.api.instant(query, t_ms)
        except KubepromError as err:
            self.notes.append(f"query failed: {err}")
            self._problem(namer.rule.path, "metricsQuery", query, err)
            return None

    def _custom_query(
        self,
        info: MetricInfo,
        namespace: str,
        metric_selector: LabelSelector | None,
        names: Sequence[str],
        t_ms: int,
    ) -> tuple[Registration, dict[str, float]] | str:
        """``buildQuery`` + ``MatchValuesToNames``: the values by object name, or the error."""
        not_found = f"the server could not find the metric {info.metric} for {info.resource}"
        registry = self.discover(t_ms)
        reg = registry.custom.get(info)
        if reg is None or not names:
            self.notes.append(
                "no rule registers this metric" if reg is None else "no objects to query"
            )
            return not_found
        try:
            query = reg.namer.build(
                reg.series,
                info.resource,
                namespace,
                selector_requirements(metric_selector),
                names,
            )
        except (AdapterError, ValueError) as err:
            self.notes.append(f"cannot build the query: {err}")
            return not_found
        self.notes.append(f"{reg.namer.rule.path}: series {reg.series}")
        result = self._query(reg.namer, query, t_ms)
        if result is None:
            return INTERNAL
        if result.result_type is not ResultType.VECTOR:
            self.notes.append(f"the query returned a {result.result_type}, not a vector")
            return INTERNAL
        label = reg.namer.converter.label_for(info.resource)
        values: dict[str, float] = {}
        for lab, _, v in result.series():
            values[lab.get(label)] = float(v[-1])
        return reg, values

    def pods(
        self,
        namespace: str,
        names: Sequence[str],
        metric: str,
        metric_selector: LabelSelector | None,
        t_ms: int,
    ) -> PodSamples | MetricFailure:
        """``GetMetricBySelector`` for pods, as the HPA's ``GetRawMetric`` reads it."""
        self._begin()
        info = MetricInfo(PODS, True, metric)
        found = self._custom_query(info, namespace, metric_selector, names, t_ms)
        if isinstance(found, str):
            return MetricFailure(CUSTOM + found)
        _, values = found
        served = [n for n in names if n in values]
        raw = np.array([values[n] for n in served], dtype=np.float64)
        bad = ~np.isfinite(raw)
        if bad.any():
            pod = served[int(np.argmax(bad))]
            return MetricFailure(
                f"{CUSTOM}the value of metric {metric} for pod {namespace}/{pod} is "
                f"{format_g(float(raw[int(np.argmax(bad))]))}"
            )
        if not served:
            return MetricFailure("no metrics returned from custom metrics API")
        n = len(served)
        return PodSamples(
            np.array(served, dtype=np.str_),
            go_milli(raw),
            np.full(n, t_ms, dtype=np.int64),
            np.full(n, CUSTOM_WINDOW_MS, dtype=np.int64),
        )

    def object(
        self,
        namespace: str,
        obj: CrossVersionObjectReference,
        metric: str,
        metric_selector: LabelSelector | None,
        t_ms: int,
    ) -> int | MetricFailure:
        """``GetMetricByName``, as the HPA's ``GetObjectMetric`` reads it."""
        self._begin()
        group = obj.api_version.split("/", 1)[0] if "/" in obj.api_version else ""
        try:
            resource = resource_for_kind(group, obj.kind)
        except NoMatch as err:
            return MetricFailure(f"{CUSTOM}{err}")
        if resource == NAMESPACES:
            info, name, ns = MetricInfo(NAMESPACES, False, metric), namespace, ""
        else:
            info, name, ns = MetricInfo(resource, True, metric), obj.name, namespace
        found = self._custom_query(info, ns, metric_selector, [name], t_ms)
        if isinstance(found, str):
            return MetricFailure(CUSTOM + found)
        _, values = found
        if name not in values:
            return MetricFailure(
                f"{CUSTOM}the server could not find the metric {metric} for {resource} {name}"
            )
        value = values[name]
        if not np.isfinite(value):
            return MetricFailure(
                f"{CUSTOM}the value of metric {metric} for {name} is {format_g(value)}"
            )
        return int(go_milli(np.array([value]))[0])

    def external(
        self, namespace: str, metric: str, metric_selector: LabelSelector | None, t_ms: int
    ) -> list[int] | MetricFailure:
        """``GetExternalMetric``, as the HPA's ``GetExternalMetric`` reads it."""
        self._begin()
        registry = self.discover(t_ms)
        reg = registry.external.get(metric)
        if reg is None:
            scope = str(NAMESPACES) if namespace == "default" else ""
            self.notes.append("no external rule registers this metric")
            return MetricFailure(
                f"{EXTERNAL}the server could not find the metric {metric} for {scope}"
            )
        try:
            query = reg.namer.build_external(
                reg.series, namespace, selector_requirements(metric_selector)
            )
        except (AdapterError, ValueError) as err:
            self.notes.append(f"cannot build the query: {err}")
            return MetricFailure(EXTERNAL + INTERNAL)
        self.notes.append(f"{reg.namer.rule.path}: series {reg.series}")
        result = self._query(reg.namer, query, t_ms)
        if result is None or result.result_type is ResultType.STRING:
            return MetricFailure(EXTERNAL + INTERNAL)
        if result.result_type is ResultType.MATRIX:
            return MetricFailure(EXTERNAL + "encountered an unexpected query result type")
        raw = np.array([float(v[-1]) for _, _, v in result.series()], dtype=np.float64)
        if not np.isfinite(raw).all():
            bad = float(raw[~np.isfinite(raw)][0])
            return MetricFailure(f"{EXTERNAL}the value of metric {metric} is {format_g(bad)}")
        if raw.size == 0:
            return MetricFailure("no metrics returned from external metrics API")
        return [int(x) for x in go_milli(raw)]
