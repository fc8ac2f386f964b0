"""The HPA controller live on the simulated cluster, in virtual time: scaling with readiness
and load spread, quota and node capacity holding it back, kube-state-metrics' HPA series,
and kubernetes-mixin's HPA alerts firing on them."""

from __future__ import annotations

import textwrap

from kubeprom.exporters.targets import KSM_TARGET, ClusterExporters
from kubeprom.rules.group import GroupOptions
from kubeprom.rules.manager import RuleManager, settings_from
from tests.exporters.helpers import parse
from tests.support.hpa_live import SCRAPE, T0_MS, Live, live
from tests.support.shared import shared_path


def deployment(name: str, *, replicas: int, load: str, resources: str, readiness: int = 5) -> str:
    """One ``deployments:`` item, indented for :func:`config`."""
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
                        resources: {resources}
                        readinessProbe: {{initialDelaySeconds: {readiness}}}
              load: {load}
            """
        ),
        "    ",
    )


def config(
    deployments: str,
    hpas: str,
    *,
    nodes: str = "count: 2, capacity: {cpu: '4', memory: 16Gi}",
    quotas: str = "",
    scrape: str = SCRAPE,
) -> str:
    """A kubeprom.yml: ``scrape``, the HPAs (inline list items), the cluster."""
    text = f"{scrape}horizontal_pod_autoscalers:\n{hpas}"
    text += f"cluster:\n  seed: 7\n  nodes: [{{{nodes}}}]\n  deployments:\n{deployments}"
    if quotas:
        text += f"  resource_quotas: {quotas}\n"
    return text


def hpa(name: str, target: str, *, min_r: int = 1, max_r: int = 10, util: int = 50) -> str:
    """One ``horizontal_pod_autoscalers:`` item: CPU utilization ``util`` on ``target``."""
    return (
        f"  - {{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler,"
        f" metadata: {{name: {name}}},"
        f" spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}},"
        f" minReplicas: {min_r}, maxReplicas: {max_r}, metrics: [{{type: Resource, resource:"
        f" {{name: cpu, target: {{type: Utilization, averageUtilization: {util}}}}}}}]}}}}\n"
    )


CPU_100M = "{requests: {cpu: 100m, memory: 64Mi}}"


async def test_scales_up_under_load_then_down_when_it_passes() -> None:
    load = "{type: step, at: 20m, from: 40, to: 5, cpu_per_request: 5m, baseline_cpu: 0}"
    text = config(deployment("web", replicas=2, load=load, resources=CPU_100M), hpa("web", "web"))
    async with live(text) as w:
        await w.minutes(19)
        await _scales_up_then_down(w)


async def _scales_up_then_down(w: Live) -> None:
    c, hpas, events = w.cluster, w.hpas, w.events
    # 40 rps x 5m = 200m over pods of 100m at 50%: four pods.
    web = c.deployment("default", "web")
    assert (web.spec_replicas, web.replicas, web.ready_replicas) == (4, 4, 4)
    status = hpas.get("default", "web").state.status
    assert (status.current_replicas, status.desired_replicas) == (4, 4)
    (cpu,) = [m for m in status.current_metrics if m is not None]
    assert cpu.average_utilization == 50
    # New pods took their share only once ready: no scale-up beyond what the load needs.
    assert max(s.desired for s in hpas.history("default/web")) == 4
    # The load drops at 20m; after the 5 minute stabilization window the HPA scales down
    # to one pod (5 rps x 5m = 25m = 25% of one pod), and the removed pods terminate.
    await w.minutes(12)
    web = c.deployment("default", "web")
    assert web.spec_replicas == 1
    rescales = [
        e.message
        for e in events.events(kind="HorizontalPodAutoscaler")
        if e.reason == "SuccessfulRescale"
    ]
    assert rescales[-1] == "New size: 1; reason: All metrics below target"


async def test_a_quota_holds_the_hpa_back_and_says_so() -> None:
    load = "{type: constant, rps: 80, cpu_per_request: 5m, baseline_cpu: 0}"
    quota = "[{metadata: {name: small}, spec: {hard: {pods: '3'}}}]"
    text = config(
        deployment("web", replicas=2, load=load, resources=CPU_100M),
        hpa("web", "web", max_r=8),
        quotas=quota,
    )
    async with live(text) as w:
        await w.minutes(5)
    c, hpas, events = w.cluster, w.hpas, w.events
    web = c.deployment("default", "web")
    # The HPA asked for more; the ReplicaSet could create one more pod only.
    assert web.spec_replicas > 3
    assert web.replicas == 3
    assert web.replica_failure is not None
    assert "exceeded quota: small, requested: pods=1, used: pods=3, limited: pods=3" in (
        web.replica_failure
    )
    failed = [e for e in events.events(kind="ReplicaSet") if e.reason == "FailedCreate"]
    assert failed
    assert failed[0].message.startswith(f'Error creating: pods "{web.replicaset}-"')
    # The HPA's current replicas are the scale's spec, as upstream counts them.
    status = hpas.get("default", "web").state.status
    assert status.current_replicas == web.spec_replicas


async def test_pods_that_fit_no_node_stay_pending_with_the_reason() -> None:
    load = "{type: constant, rps: 80, cpu_per_request: 5m, baseline_cpu: 0}"
    big = "{requests: {cpu: '1', memory: 64Mi}}"
    text = config(
        deployment("web", replicas=2, load=load, resources=big),
        hpa("web", "web", util=10),
        nodes="count: 1, capacity: {cpu: '3', memory: 16Gi}",
    )
    async with live(text) as w:
        await w.minutes(3)
    c, hpas = w.cluster, w.hpas
    pending = [p for p in c.pods() if p.node is None]
    assert pending
    assert {p.schedule_message for p in pending} == {
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod."
    }
    assert len([p for p in c.pods() if p.node is not None]) == 3
    # Pending pods count as not ready for the HPA: it does not scale up on their account.
    decision = hpas.decisions("default/web")[-1]
    (metric,) = decision.metrics
    assert metric.trace is not None
    assert metric.trace.groups is not None
    assert len(metric.trace.groups.unready) == len(pending)


async def test_kube_state_metrics_exports_the_hpa_as_kube_state_metrics_names_it() -> None:
    load = "{type: constant, rps: 10, cpu_per_request: 5m, baseline_cpu: 0}"
    text = config(
        deployment("web", replicas=2, load=load, resources=CPU_100M),
        hpa("web", "web", min_r=2, max_r=5),
    )
    async with live(text) as w:
        await w.minutes(2)
    c = w.cluster
    body, _ = ClusterExporters(c).render(KSM_TARGET, accept_openmetrics=False)
    samples = [s for s in parse(body) if s.name.startswith("kube_horizontalpodautoscaler_")]
    key: dict[str, str] = {"namespace": "default", "horizontalpodautoscaler": "web"}
    got: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
        (s.name, tuple(sorted(set(s.labels.items()) - set(key.items())))): s.value for s in samples
    }
    want: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
        (
            "kube_horizontalpodautoscaler_info",
            (
                ("scaletargetref_api_version", "apps/v1"),
                ("scaletargetref_kind", "Deployment"),
                ("scaletargetref_name", "web"),
            ),
        ): 1.0,
        ("kube_horizontalpodautoscaler_metadata_generation", ()): 1.0,
        ("kube_horizontalpodautoscaler_spec_max_replicas", ()): 5.0,
        ("kube_horizontalpodautoscaler_spec_min_replicas", ()): 2.0,
        (
            "kube_horizontalpodautoscaler_spec_target_metric",
            (("metric_name", "cpu"), ("metric_target_type", "utilization")),
        ): 50.0,
        (
            "kube_horizontalpodautoscaler_status_target_metric",
            (("metric_name", "cpu"), ("metric_target_type", "average")),
        ): 0.025,
        (
            "kube_horizontalpodautoscaler_status_target_metric",
            (("metric_name", "cpu"), ("metric_target_type", "utilization")),
        ): 25.0,
        ("kube_horizontalpodautoscaler_status_current_replicas", ()): 2.0,
        ("kube_horizontalpodautoscaler_status_desired_replicas", ()): 2.0,
        **{
            (
                "kube_horizontalpodautoscaler_status_condition",
                (("condition", cond), ("status", status)),
            ): float(status == truth)
            for cond, truth in (
                ("AbleToScale", "true"),
                ("ScalingActive", "true"),
                ("ScalingLimited", "false"),
            )
            for status in ("true", "false", "unknown")
        },
        ("kube_horizontalpodautoscaler_created", ()): float(T0_MS // 1000),
    }
    assert got == want


async def test_kubernetes_mixin_hpa_alerts_fire_in_virtual_time() -> None:
    """KubeHpaMaxedOut for an HPA at its maximum 15 minutes; KubeHpaReplicasMismatch for
    one whose metrics fail (no CPU request): desired stays 0 while 2 replicas run; nothing
    for one that scales within its range."""
    alerts = shared_path("conformance", "rules", "kubernetes-mixin", "prometheus_alerts.yaml")
    hot = "{type: constant, rps: 200, cpu_per_request: 5m, baseline_cpu: 0}"
    no_request = "{requests: {memory: 64Mi}}"
    text = config(
        deployment("web", replicas=2, load=hot, resources=CPU_100M)
        + deployment("worker", replicas=2, load=hot, resources=no_request)
        + deployment("calm", replicas=2, load=hot.replace("200", "10"), resources=CPU_100M),
        hpa("web", "web", max_r=4)
        + hpa("worker", "worker", max_r=5)
        + hpa("calm", "calm", max_r=5),
        nodes="count: 3, capacity: {cpu: '8', memory: 16Gi}",
    )
    firing: dict[str, int] = {}
    async with live(text) as w:
        store = w.store
        api = w.api
        rules = RuleManager(
            GroupOptions(query=api, appender=store.appender, querier=lambda: store), w.clock
        )
        await rules.update(settings_from([str(alerts)], evaluation_interval_ms=30_000))
        try:
            for minute in range(1, 26):
                await w.until(T0_MS + minute * 60_000)
                res = api.instant(
                    'ALERTS{alertstate="firing", alertname=~"KubeHpa.*"}', w.clock.now_ms()
                )
                for lab in res.labels:
                    firing.setdefault(
                        f"{lab.get('alertname')}/{lab.get('horizontalpodautoscaler')}", minute
                    )
        finally:
            await rules.stop()
    hpas = w.hpas
    assert set(firing) == {"KubeHpaMaxedOut/web", "KubeHpaReplicasMismatch/worker"}
    # Both hold from the first scrapes on (changes() over less than 15 minutes of data is
    # 0), then 15 minutes pending.
    assert 16 <= firing["KubeHpaMaxedOut/web"] <= 19
    assert 16 <= firing["KubeHpaReplicasMismatch/worker"] <= 19
    worker = hpas.get("default", "worker").state.status.condition("ScalingActive")
    assert worker is not None
    assert worker.reason == "FailedGetResourceMetric"
    assert "missing request for cpu in container app of Pod worker-" in worker.message
