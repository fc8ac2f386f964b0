"""The live HPA controller fed as a real one is: custom metrics through prometheus-adapter's
rules, KEDA ScaledObjects with prometheus triggers (0 <-> 1 beside the HPA's 1 <-> N), all
PromQL over the scraped store, in virtual time; and the bad input that stays with one HPA."""

from __future__ import annotations

import textwrap

from kubeprom.model.events import Event
from tests.support.hpa_live import SCRAPE, T0_MS, Live, live

CPU_100M = "{requests: {cpu: 100m, memory: 64Mi}}"


def deployment(name: str, *, replicas: int, load: str) -> str:
    return textwrap.indent(
        textwrap.dedent(
            f"""\
            - metadata: {{name: {name}, labels: {{app: {name}}}}}
              spec:
                replicas: {replicas}
                template:
                  spec:
                    terminationGracePeriodSeconds: 10
                    containers:
                      - name: app
                        image: nginx
                        resources: {CPU_100M}
                        readinessProbe: {{initialDelaySeconds: 5}}
              load: {load}
            """
        ),
        "    ",
    )


def cluster(deployments: str) -> str:
    return (
        "cluster:\n  seed: 11\n  nodes: [{count: 2, capacity: {cpu: '8', memory: 16Gi}}]\n"
        f"  deployments:\n{deployments}"
    )


# The kubelet's per-pod CPU counter as a custom metric: pod_cpu_usage_cores (in cores).
ADAPTER = """\
prometheus_adapter:
  rules:
    - seriesQuery: 'pod_cpu_usage_seconds_total{namespace!="",pod!=""}'
      resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
      name: {matches: "^(.*)_seconds_total$", as: "${1}_cores"}
      metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)'
"""
# A rule whose query fails when it runs: two series per pod match on no labels.
BROKEN_RULE = """\
    - seriesQuery: 'pod_cpu_usage_seconds_total{namespace!="",pod!=""}'
      resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
      name: {matches: "^(.*)_seconds_total$", as: "${1}_broken"}
      metricsQuery: '<<.Series>>{<<.LabelMatchers>>} + on() <<.Series>>{<<.LabelMatchers>>}'
"""


def pods_hpa(name: str, metric: str, average: str = "50m") -> str:
    return (
        f"  - {{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {{name: "
        f"{name}}}, spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: "
        f"{name}}}, minReplicas: 1, maxReplicas: 10, metrics: [{{type: Pods, pods: {{metric: "
        f"{{name: {metric}}}, target: {{type: AverageValue, averageValue: {average}}}}}}}]}}}}\n"
    )


def scaled_object(name: str, query: str, *, cooldown: int = 60, min_replicas: int = 0) -> str:
    return textwrap.indent(
        textwrap.dedent(
            f"""\
            - apiVersion: keda.sh/v1alpha1
              kind: ScaledObject
              metadata: {{name: {name}}}
              spec:
                scaleTargetRef: {{name: {name}}}
                pollingInterval: 10
                cooldownPeriod: {cooldown}
                minReplicaCount: {min_replicas}
                maxReplicaCount: 8
                triggers:
                  - type: prometheus
                    metadata:
                      serverAddress: http://127.0.0.1:9090
                      query: '{query}'
                      threshold: "0.05"
                      activationThreshold: "0.01"
            """
        ),
        "  ",
    )


def events(w: Live, name: str, source: str | None = None) -> list[Event]:
    return [e for e in w.events.events(name=name) if source is None or e.source == source]


PRODUCER_STEP = "{type: step, at: 3m, from: 0, to: 40, cpu_per_request: 5m, baseline_cpu: 0}"
PRODUCER_CPU = 'sum(rate(pod_cpu_usage_seconds_total{namespace="default",pod=~"producer-.*"}[1m]))'


async def test_a_pods_metric_through_an_adapter_rule_scales_a_deployment() -> None:
    load = "{type: constant, rps: 40, cpu_per_request: 5m, baseline_cpu: 0}"
    text = (
        SCRAPE
        + ADAPTER
        + "horizontal_pod_autoscalers:\n"
        + pods_hpa("web", "pod_cpu_usage_cores")
        + cluster(deployment("web", replicas=1, load=load))
    )
    async with live(text) as w:
        await w.minutes(10)
    # 40 rps x 5m = 200m of CPU; 50m a pod: four pods.
    web = w.cluster.deployment("default", "web")
    assert (web.spec_replicas, web.ready_replicas) == (4, 4)
    status = w.hpas.get("default", "web").state.status
    (metric,) = [m for m in status.current_metrics if m is not None]
    assert metric.name == "pod_cpu_usage_cores"
    assert metric.average_value_m is not None
    assert 45 <= metric.average_value_m <= 55
    active = status.condition("ScalingActive")
    assert active is not None
    assert (active.status, active.reason) == (True, "ValidMetricFound")
    assert active.message == (
        "the HPA was able to successfully calculate a replica count from pods metric "
        "pod_cpu_usage_cores"
    )


async def test_keda_activates_from_zero_and_its_hpa_scales_one_to_n() -> None:
    idle = "{type: constant, rps: 0, cpu_per_request: 5m, baseline_cpu: 0}"
    text = (
        SCRAPE
        + "scaled_objects:\n"
        + scaled_object("worker", PRODUCER_CPU)
        + cluster(
            deployment("producer", replicas=1, load=PRODUCER_STEP)
            + deployment("worker", replicas=0, load=idle)
        )
    )
    async with live(text) as w:
        await w.until(T0_MS + 2 * 60_000)
        # Nothing to do: the worker stays at zero; the HPA KEDA made says why it waits.
        assert w.cluster.deployment("default", "worker").spec_replicas == 0
        keda_hpa = w.hpas.get("default", "keda-hpa-worker")
        assert (keda_hpa.hpa.spec.min_replicas, keda_hpa.hpa.spec.max_replicas) == (1, 8)
        disabled = keda_hpa.state.status.condition("ScalingActive")
        assert disabled is not None
        assert (disabled.status, disabled.reason) == (False, "ScalingDisabled")
        await w.until(T0_MS + 10 * 60_000)
    # At 3m the producer's 200m of CPU: KEDA activates the worker (0 -> 1) at its next poll,
    # then its HPA scales 1 -> 4 (200m / 50m a pod).
    activated = [e for e in events(w, "worker", "keda-operator") if e.reason.startswith("KEDA")]
    assert [(e.reason, e.message) for e in activated] == [
        (
            "KEDAScaleTargetActivated",
            "Scaled apps/v1.Deployment default/worker from 0 to 1, triggered by s0-prometheus",
        )
    ]
    first = activated[0].first_ms - T0_MS
    assert 3 * 60_000 < first <= 4 * 60_000 + 10_000
    assert first % 10_000 == 0  # on KEDA's 10 s polling interval
    assert w.cluster.deployment("default", "worker").spec_replicas == 4
    status = w.hpas.get("default", "keda-hpa-worker").state.status
    (metric,) = [m for m in status.current_metrics if m is not None]
    assert metric.name == "s0-prometheus"
    rescales = [e.message for e in events(w, "keda-hpa-worker") if e.reason == "SuccessfulRescale"]
    assert rescales[-1] == (
        "New size: 4; reason: external metric s0-prometheus(&LabelSelector{MatchLabels:"
        "map[string]string{scaledobject.keda.sh/name: worker,},MatchExpressions:"
        "[]LabelSelectorRequirement{},}) above target"
    )


async def test_a_failing_adapter_rule_and_a_keda_query_of_several_series_stay_put() -> None:
    """Each is reported on its HPA (as Kubernetes words it, and by the backend at the rule's
    or trigger's field); the other HPAs scale, the controller and KEDA's loop go on."""
    busy = "{type: constant, rps: 40, cpu_per_request: 5m, baseline_cpu: 0}"
    several = 'pod_cpu_usage_seconds_total{namespace="default",pod=~"web-.*"}'
    text = (
        SCRAPE
        + ADAPTER
        + BROKEN_RULE
        + "horizontal_pod_autoscalers:\n"
        + pods_hpa("web", "pod_cpu_usage_cores")
        + pods_hpa("api", "pod_cpu_usage_broken")
        + "scaled_objects:\n"
        + scaled_object("worker", several, min_replicas=1)
        + cluster(
            deployment("web", replicas=2, load=busy)
            + deployment("api", replicas=2, load=busy)
            + deployment("worker", replicas=1, load=busy)
        )
    )
    async with live(text) as w:
        await w.minutes(6)
    # web scales on the good rule as if nothing else were wrong.
    assert w.cluster.deployment("default", "web").spec_replicas == 4
    # api: its rule's query fails; the HPA says so as Kubernetes does, and the adapter's
    # account names the rule's field in kubeprom.yml.
    api = w.hpas.get("default", "api")
    active = api.state.status.condition("ScalingActive")
    assert active is not None
    assert (active.status, active.reason) == (False, "FailedGetPodsMetric")
    assert active.message == (
        "the HPA was unable to compute the replica count: unable to get metric "
        "pod_cpu_usage_broken: unable to fetch metrics from custom metrics API: Internal error "
        "occurred: unable to fetch metrics"
    )
    (adapter,) = events(w, "api", "prometheus-adapter")
    assert (adapter.type, adapter.reason) == ("Warning", "FailedMetricsQuery")
    assert adapter.message.startswith(
        "kubeprom.yml:20:21: prometheus_adapter.rules[1].metricsQuery: query "
        '"pod_cpu_usage_seconds_total{'
    )
    assert "many-to-many matching not allowed" in adapter.message
    assert w.cluster.deployment("default", "api").spec_replicas == 2
    # worker: KEDA's query returns one series per web pod.
    worker = w.hpas.get("default", "keda-hpa-worker")
    active = worker.state.status.condition("ScalingActive")
    assert active is not None
    assert (active.status, active.reason) == (False, "FailedGetExternalMetric")
    assert active.message.endswith(
        "unable to fetch metrics from external metrics API: rpc error: code = Unknown desc = "
        "error when getting metric values metric:s0-prometheus encountered error"
    )
    failed = {e.message for e in events(w, "keda-hpa-worker", "keda-operator")}
    assert failed == {
        "kubeprom.yml:38:20: scaled_objects[0].spec.triggers[0].metadata.query: prometheus "
        f"query {several} returned multiple elements"
    }
    (loop_failed,) = events(w, "worker", "keda-operator")
    assert (loop_failed.reason, loop_failed.message) == ("KEDAScalerFailed", failed.pop())
    assert loop_failed.count > 10  # every 10 s poll
    assert w.cluster.deployment("default", "worker").spec_replicas == 1
