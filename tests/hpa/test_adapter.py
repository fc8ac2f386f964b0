"""prometheus-adapter as the HPA's custom and external metrics APIs, over stored series.

Values are checked against numbers worked out by hand from upstream's conversion
(``NewMilliQuantity(int64(v * 1000))``: truncation toward zero), errors against the texts the
adapter and the HPA's metrics client produce.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubeprom.config.adapter import load_adapter_text
from kubeprom.config.hpa_spec import CrossVersionObjectReference, LabelSelector
from kubeprom.config.k8s_resources import PODS
from kubeprom.errors import QueryTimeout
from kubeprom.hpa.adapter import MetricInfo, PrometheusAdapter
from kubeprom.hpa.adapter_naming import compile_adapter
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.pods import Pod, PodList, PodSamples
from kubeprom.hpa.source import MetricFailure
from kubeprom.model.labels import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb.memstore import MemStore

T0 = 1_800_000_000_000
T = T0 + 300_000

CONFIG = """
rules:
  - seriesQuery: '{__name__=~"^http_.*",namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name: {matches: "^http_(.*)$", as: "${1}"}
    metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
  - seriesQuery: '{__name__=~"^app_.*",namespace!=""}'
    resources: {template: <<.Resource>>}
    metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
  - seriesQuery: 'broken_gauge{namespace!="",pod!=""}'
    resources: {template: <<.Resource>>}
    metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>) +
externalRules:
  - seriesQuery: '{__name__=~"^queue_.*"}'
    resources: {namespaced: false}
    metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)
  - seriesQuery: 'jobs_waiting{namespace!=""}'
    resources: {overrides: {namespace: {resource: namespace}}}
    metricsQuery: <<.Series>>{<<.LabelMatchers>>}
  - seriesQuery: 'scalar_thing'
    resources: {namespaced: false}
    metricsQuery: scalar(sum(<<.Series>>))
  - seriesQuery: 'ranged_thing'
    resources: {namespaced: false}
    metricsQuery: <<.Series>>[1m]
  - seriesQuery: 'unmapped_thing'
    metricsQuery: <<.Series>>
"""


def _load(store: MemStore, name: str, value: float, end: int = T, **labels: str) -> None:
    ts = np.arange(T0, end + 1, 15_000, dtype=np.int64)
    store.load({Labels.from_dict({"__name__": name, **labels}): (ts, np.full(ts.size, value))})


@pytest.fixture
def store() -> MemStore:
    s = MemStore()
    d = {"namespace": "default"}
    _load(s, "http_inflight", 1.5, pod="web-1", **d)
    _load(s, "http_inflight", 0.0015, pod="web-2", **d)
    _load(s, "http_inflight", 2.9999, pod="web-3", **d)
    _load(s, "http_inflight", 7.0, pod="other-1", **d)
    _load(s, "http_backlog", -0.0015, pod="web-1", **d)
    _load(s, "http_latency", math.nan, pod="web-1", **d)
    _load(s, "app_queue_depth", 42.25, deployment="worker", **d)
    _load(s, "app_queue_depth", 3.0, deployment="web", **d)
    _load(s, "app_errors", 0.5, **d)
    _load(s, "queue_messages_ready", 120.0, queue="orders", shard="a")
    _load(s, "queue_messages_ready", 30.5, queue="orders", shard="b")
    _load(s, "queue_messages_ready", 7.0, queue="mail", shard="a")
    _load(s, "jobs_waiting", 9.0, namespace="default", kind="batch")
    _load(s, "jobs_waiting", 4.0, namespace="other", kind="batch")
    _load(s, "scalar_thing", 2.5)
    _load(s, "ranged_thing", 1.0)
    _load(s, "unmapped_thing", 1.0)
    _load(s, "broken_gauge", 1.0, pod="web-1", **d)
    return s


@pytest.fixture
def adapter(store: MemStore) -> PrometheusAdapter:
    compiled = compile_adapter(load_adapter_text(CONFIG, "adapter.yml"))
    return PrometheusAdapter(compiled, LocalQueryAPI(lambda: store))


WEB = ["web-1", "web-2", "web-3", "web-4"]


def _values(samples: PodSamples | MetricFailure) -> dict[str, int]:
    assert isinstance(samples, PodSamples), samples
    return dict(zip(samples.names.tolist(), samples.values.tolist(), strict=True))


def test_pods_metric_values_truncate_to_milli(adapter: PrometheusAdapter) -> None:
    got = adapter.pods("default", WEB, "inflight", None, T)
    # 1.5 -> 1500m; 0.0015 * 1000 = 1.5 -> 1m; 2.9999 * 1000 = 2999.9 -> 2999m; web-4 has none
    assert _values(got) == {"web-1": 1500, "web-2": 1, "web-3": 2999}
    assert isinstance(got, PodSamples)
    assert got.timestamp_ms.tolist() == [T] * 3  # the adapter stamps the request time
    assert got.window_ms.tolist() == [60_000] * 3  # no window: the HPA's default minute
    negative = adapter.pods("default", WEB, "backlog", None, T)
    assert _values(negative) == {"web-1": -1}  # truncation toward zero


def test_pods_query_as_built(adapter: PrometheusAdapter, store: MemStore) -> None:
    backends = MetricsBackends(LocalQueryAPI(lambda: store), adapter=adapter.compiled)
    record: list = []
    source = backends.source(PodList.of([Pod(n) for n in WEB]), T, record=record)
    selector = LabelSelector(match_labels=(("tier", "front"),))
    source.pods("default", "app=web", "inflight", selector)
    queries = [q.expr for q in record[0].queries]
    assert queries[0] == '{__name__=~"^http_.*",namespace!="",pod!=""}[10m]'  # discovery
    assert queries[-1] == (
        'sum(http_inflight{tier="front",namespace="default",pod=~"web-1|web-2|web-3|web-4"}) '
        "by (pod)"
    )
    assert record[0].notes == ("rules[0]: series http_inflight",)


def test_pods_metric_failures(adapter: PrometheusAdapter) -> None:
    nan = adapter.pods("default", WEB, "latency", None, T)
    assert nan == MetricFailure(
        "unable to fetch metrics from custom metrics API: the value of metric latency for pod "
        "default/web-1 is NaN"
    )
    missing = adapter.pods("default", WEB, "nope", None, T)
    assert missing == MetricFailure(
        "unable to fetch metrics from custom metrics API: the server could not find the metric "
        "nope for pods"
    )
    none = adapter.pods("default", ["web-9"], "inflight", None, T)
    assert none == MetricFailure("no metrics returned from custom metrics API")
    no_pods = adapter.pods("default", [], "inflight", None, T)
    assert no_pods == MetricFailure(missing.message.replace("nope", "inflight"))
    broken = adapter.pods("default", WEB, "broken_gauge", None, T)
    assert broken == MetricFailure(
        "unable to fetch metrics from custom metrics API: Internal error occurred: unable to "
        "fetch metrics"
    )
    assert adapter.notes[-1].startswith("query failed: ")
    other_tier = LabelSelector(match_labels=(("tier", "x"),))
    assert adapter.pods("default", WEB, "inflight", other_tier, T) == MetricFailure(
        "no metrics returned from custom metrics API"
    )


def test_object_metrics(adapter: PrometheusAdapter) -> None:
    worker = CrossVersionObjectReference("Deployment", "worker", "apps/v1")
    assert adapter.object("default", worker, "app_queue_depth", None, T) == 42250
    ns = CrossVersionObjectReference("Namespace", "ignored", "v1")
    assert adapter.object("default", ns, "app_errors", None, T) == 500
    gone = CrossVersionObjectReference("Deployment", "gone", "apps/v1")
    assert adapter.object("default", gone, "app_queue_depth", None, T) == MetricFailure(
        "unable to fetch metrics from custom metrics API: the server could not find the metric "
        "app_queue_depth for deployments.apps gone"
    )
    no_group = CrossVersionObjectReference("Deployment", "worker", "v1")
    assert adapter.object("default", no_group, "app_queue_depth", None, T) == MetricFailure(
        'unable to fetch metrics from custom metrics API: no matches for kind "Deployment" in '
        'group ""'
    )


def test_external_metrics(adapter: PrometheusAdapter) -> None:
    orders = LabelSelector(match_labels=(("queue", "orders"),))
    # not namespaced: the namespace does not narrow; one value per series of the result
    assert adapter.external("default", "queue_messages_ready", orders, T) == [150500]
    assert sorted(adapter.external("default", "queue_messages_ready", None, T)) == [7000, 150500]
    assert adapter.external("default", "jobs_waiting", None, T) == [9000]
    assert adapter.external("default", "scalar_thing", None, T) == [2500]
    assert adapter.external("default", "ranged_thing", None, T) == MetricFailure(
        "unable to fetch metrics from external metrics API: encountered an unexpected query "
        "result type"
    )
    # a namespaced rule (the default) needs a label for namespaces: without one, no query
    assert adapter.external("default", "unmapped_thing", None, T) == MetricFailure(
        "unable to fetch metrics from external metrics API: Internal error occurred: unable to "
        "fetch metrics"
    )
    assert adapter.notes[-1] == (
        "cannot build the query: unable to convert resource namespaces into label: no generic "
        "resource label form specified for this metric"
    )
    nothing = LabelSelector(match_labels=(("queue", "none"),))
    assert adapter.external("default", "queue_messages_ready", nothing, T) == MetricFailure(
        "no metrics returned from external metrics API"
    )
    # upstream names the namespaces resource only for the default namespace
    assert adapter.external("default", "nope", None, T) == MetricFailure(
        "unable to fetch metrics from external metrics API: the server could not find the "
        "metric nope for namespaces"
    )
    assert adapter.external("prod", "nope", None, T) == MetricFailure(
        "unable to fetch metrics from external metrics API: the server could not find the "
        "metric nope for "
    )


def test_discovery_is_relisted_every_interval(store: MemStore) -> None:
    compiled = compile_adapter(load_adapter_text(CONFIG, "adapter.yml"))
    adapter = PrometheusAdapter(compiled, LocalQueryAPI(lambda: store), relist_interval_ms=60_000)
    first = adapter.discover(T)
    assert adapter.discover(T + 59_999) is first
    _load(store, "http_fresh", 1.0, T + 60_000, namespace="default", pod="web-1")
    assert adapter.pods("default", WEB, "fresh", None, T + 59_999) == MetricFailure(
        "unable to fetch metrics from custom metrics API: the server could not find the metric "
        "fresh for pods"
    )
    assert _values(adapter.pods("default", WEB, "fresh", None, T + 60_000)) == {"web-1": 1000}


def test_a_failed_discovery_keeps_the_last_list(store: MemStore) -> None:
    compiled = compile_adapter(load_adapter_text(CONFIG, "adapter.yml"))
    api = LocalQueryAPI(lambda: store)

    class Flaky:
        fail = False

        def instant(self, expr: str, t_ms: int):  # type: ignore[no-untyped-def]
            if self.fail:
                raise QueryTimeout("query timed out in expression evaluation")
            return api.instant(expr, t_ms)

        def range(self, *args: int):  # type: ignore[no-untyped-def]
            raise AssertionError("not used")

    flaky = Flaky()
    adapter = PrometheusAdapter(compiled, flaky, relist_interval_ms=1)  # type: ignore[arg-type]
    assert _values(adapter.pods("default", WEB, "inflight", None, T))["web-1"] == 1500
    flaky.fail = True
    registry = adapter.discover(T + 10)
    assert registry.error is None  # the previous list stays in force
    assert MetricInfo(PODS, True, "inflight") in registry.custom
    fresh = PrometheusAdapter(compiled, flaky, relist_interval_ms=1)  # type: ignore[arg-type]
    failed = fresh.discover(T)
    assert failed.error == (
        "unable to update list of all metrics: unable to fetch metrics for query "
        '"{__name__=~\\"^http_.*\\",namespace!=\\"\\",pod!=\\"\\"}": query timed out in '
        "expression evaluation"
    )


def test_without_an_adapter_the_custom_api_is_missing(store: MemStore) -> None:
    source = MetricsBackends(LocalQueryAPI(lambda: store)).source(PodList.of([]), T)
    assert source.pods("default", "a=b", "x", None) == MetricFailure(
        "unable to fetch metrics from custom metrics API: no custom metrics API "
        "(custom.metrics.k8s.io) registered"
    )
    assert source.external("default", "x", None) == MetricFailure(
        "unable to fetch metrics from external metrics API: the server could not find the "
        "requested resource (get x.external.metrics.k8s.io)"
    )
