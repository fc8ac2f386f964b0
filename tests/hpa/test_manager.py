"""Autoscalers: the controller over many HPAs, its step and loop, and one bad HPA among good."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from kubeprom.clock import VirtualClock
from kubeprom.config.hpa import load_hpa_text
from kubeprom.config.hpa_spec import CrossVersionObjectReference, HorizontalPodAutoscaler
from kubeprom.errors import StatusError
from kubeprom.hpa import (
    Container,
    MetricFailure,
    Pod,
    PodList,
    PodTemplate,
    PodUsage,
    Scale,
    ScaleFailure,
    StaticMetricsSource,
)
from kubeprom.hpa.manager import Autoscaler, Autoscalers
from kubeprom.hpa.source import MetricsSource, Report
from kubeprom.model.events import EventLog

T0 = 1_700_000_000_000
ONE_CPU = PodTemplate((Container("app", (("cpu", 1000),)),))


def _hpas(text: str) -> list[HorizontalPodAutoscaler]:
    return [h.hpa for h in load_hpa_text(text, "test.yml")]


def manifest(name: str, target: str, *, metric: str = "", max_replicas: int = 10) -> str:
    metric = metric or (
        "{type: Resource, resource: {name: cpu, target: {type: Utilization, "
        "averageUtilization: 50}}}"
    )
    return (
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}, "
        f"minReplicas: 1, maxReplicas: {max_replicas}, metrics: [{metric}]}}\n"
    )


@dataclass
class FakeWorkloads:
    """Deployments as replica counts; every pod uses ``cpu_milli`` of its 1-CPU request."""

    replicas: dict[str, int]
    selectors: dict[str, str] = field(default_factory=dict)
    synced: list[int] = field(default_factory=list)
    observed: list[list[str]] = field(default_factory=list)
    refuse_writes: bool = False
    explode: set[str] = field(default_factory=set)

    def sync(self, now_ms: int) -> None:
        self.synced.append(now_ms)

    def scale(self, namespace: str, ref: CrossVersionObjectReference) -> Scale | ScaleFailure:
        if ref.name in self.explode:
            raise RuntimeError(f"the cluster broke reading {ref.name}")
        if ref.name not in self.replicas:
            return ScaleFailure(f'deployments.apps "{ref.name}" not found')
        n = self.replicas[ref.name]
        return Scale(n, n, self.selectors.get(ref.name, f"app={ref.name}"))

    def pods(self, namespace: str, selector: str) -> PodList:
        name = selector.split("=", 1)[1]
        return PodList.of(
            [
                Pod(f"{name}-{i}", ONE_CPU, start_ms=T0 - 3_600_000)
                for i in range(self.replicas[name])
            ]
        )

    def write_scale(
        self, namespace: str, ref: CrossVersionObjectReference, replicas: int
    ) -> str | None:
        if self.refuse_writes:
            return "the server is not accepting writes"
        self.replicas[ref.name] = replicas
        return None

    def observe(self, autoscalers: Sequence[Autoscaler]) -> None:
        self.observed.append([a.key for a in autoscalers])


def cpu_source(workloads: FakeWorkloads, milli: int) -> StaticMetricsSource:
    usage = {
        f"{name}-{i}": PodUsage((("app", (("cpu", milli),)),), T0)
        for name, n in workloads.replicas.items()
        for i in range(n)
    }
    return StaticMetricsSource(resources={"cpu": usage})


@dataclass(frozen=True, slots=True)
class CPUMetrics:
    """A :class:`MetricsProvider` whose pods all use ``milli`` CPU."""

    workloads: FakeWorkloads
    milli: int

    def source(
        self,
        pods: PodList,
        t_ms: int,
        *,
        spec_replicas: int | None = None,
        report: Report | None = None,
    ) -> MetricsSource:
        return cpu_source(self.workloads, self.milli)

    def sync(self, now_ms: int) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def _world(
    replicas: dict[str, int], text: str, milli: int = 900
) -> tuple[FakeWorkloads, Autoscalers, EventLog]:
    workloads = FakeWorkloads(dict(replicas))
    events = EventLog()
    hpas = Autoscalers(workloads, CPUMetrics(workloads, milli), events)
    hpas.apply_config(_hpas(text), T0)
    return workloads, hpas, events


def _reasons(events: EventLog, name: str) -> list[tuple[str, int]]:
    return [(e.reason, e.count) for e in events.events(name=name)]


def test_reconcile_all_scales_every_hpa_and_publishes_them() -> None:
    text = manifest("web", "web") + manifest("api", "api", max_replicas=3)
    workloads, hpas, events = _world({"web": 2, "api": 2}, text)
    hpas.reconcile_all(T0)
    # 90% against 50%: web doubles at most (4), api is held at 3 by its max.
    assert workloads.replicas == {"web": 4, "api": 3}
    assert workloads.synced == [T0]
    assert workloads.observed[-1] == ["default/api", "default/web"]
    web = hpas.get("default", "web")
    assert (web.state.status.current_replicas, web.state.status.desired_replicas) == (2, 4)
    assert web.last_sync_ms == T0
    assert [(s.t_ms, s.current, s.desired) for s in hpas.history("default/web")] == [(T0, 2, 4)]
    assert [d.scaled_to for d in hpas.decisions("default/web")] == [4]
    assert _reasons(events, "web") == [("SuccessfulRescale", 1)]
    (event,) = events.events(name="web")
    assert event.message == (
        "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    )
    assert event.involved.uid == web.uid
    assert event.source == "horizontal-pod-autoscaler"


def test_a_missing_deployment_fails_get_scale_and_the_others_scale() -> None:
    text = manifest("ghost", "nope") + manifest("web", "web")
    workloads, hpas, events = _world({"web": 2}, text)
    for i in range(3):
        hpas.reconcile_all(T0 + i * 15_000)
    ghost = hpas.get("default", "ghost").state.status
    (able,) = ghost.conditions
    assert (able.type, able.status, able.reason) == ("AbleToScale", False, "FailedGetScale")
    assert able.message == (
        "the HPA controller was unable to get the target's current scale: "
        'deployments.apps "nope" not found'
    )
    assert _reasons(events, "ghost") == [("FailedGetScale", 3)]
    assert hpas.get("default", "ghost").last_error == (
        'failed to query scale subresource for Deployment/default/nope: deployments.apps "nope" '
        "not found"
    )
    assert workloads.replicas["web"] > 2


def test_a_sync_that_raises_stays_with_its_hpa() -> None:
    text = manifest("broken", "broken") + manifest("web", "web")
    workloads, hpas, events = _world({"web": 2, "broken": 2}, text)
    workloads.explode = {"broken"}
    before = hpas.get("default", "broken")
    hpas.reconcile_all(T0)
    broken = hpas.get("default", "broken")
    assert broken.last_error == "the cluster broke reading broken"
    assert broken.state == before.state
    assert workloads.replicas["web"] == 4
    assert _reasons(events, "broken") == []


def test_a_metrics_backend_that_raises_fails_the_metrics_not_the_controller() -> None:
    workloads, hpas, _events = _world({"web": 2}, manifest("web", "web"))

    class Down:
        def source(
            self,
            pods: PodList,
            t_ms: int,
            *,
            spec_replicas: int | None = None,
            report: Report | None = None,
        ) -> MetricsSource:
            raise ConnectionError("connection refused")

        def sync(self, now_ms: int) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext()

    hpas.metrics = Down()
    hpas.reconcile_all(T0)
    active = hpas.get("default", "web").state.status.condition("ScalingActive")
    assert active is not None
    assert (active.status, active.reason) == (False, "FailedGetResourceMetric")
    assert "unable to fetch metrics: connection refused" in active.message
    assert workloads.replicas == {"web": 2}


def test_a_failing_metric_on_one_hpa_leaves_the_others_alone() -> None:
    """As a KEDA or adapter query that fails: a MetricFailure for one HPA's metric."""
    external = (
        "{type: External, external: {metric: {name: queue_depth}, target: {type: Value, "
        "value: '10'}}}"
    )
    text = manifest("worker", "worker", metric=external) + manifest("web", "web")
    workloads, hpas, _events = _world({"web": 2, "worker": 2}, text)

    class Failing(StaticMetricsSource):
        def external(self, namespace, metric, metric_selector):
            return MetricFailure(
                'query "sum(queue_depth)" returned 2 series; a KEDA prometheus trigger needs '
                "one (ScaledObject default/worker, triggers[0].metadata.query)"
            )

    class FailingMetrics:
        def source(
            self,
            pods: PodList,
            t_ms: int,
            *,
            spec_replicas: int | None = None,
            report: Report | None = None,
        ) -> MetricsSource:
            return Failing(resources=cpu_source(workloads, 900).resources)

        def sync(self, now_ms: int) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext()

    hpas.metrics = FailingMetrics()
    hpas.reconcile_all(T0)
    worker = hpas.get("default", "worker").state.status.condition("ScalingActive")
    assert worker is not None
    assert (worker.status, worker.reason) == (False, "FailedGetExternalMetric")
    assert "returned 2 series" in worker.message
    assert "ScaledObject default/worker, triggers[0].metadata.query" in worker.message
    assert workloads.replicas == {"web": 4, "worker": 2}


def test_two_hpas_on_one_deployment_are_ambiguous() -> None:
    text = manifest("a", "web") + manifest("b", "web")
    workloads, hpas, _events = _world({"web": 2}, text)
    hpas.reconcile_all(T0)
    for name in ("a", "b"):
        active = hpas.get("default", name).state.status.condition("ScalingActive")
        assert active is not None
        assert (active.status, active.reason) == (False, "AmbiguousSelector")
        assert active.message == (
            "pods by selector app=web are controlled by multiple HPAs: [default/a default/b]"
        )
    assert workloads.replicas == {"web": 2}


def test_a_refused_write_is_reported() -> None:
    workloads, hpas, events = _world({"web": 2}, manifest("web", "web"))
    workloads.refuse_writes = True
    hpas.reconcile_all(T0)
    able = hpas.get("default", "web").state.status.condition("AbleToScale")
    assert able is not None
    assert (able.status, able.reason) == (False, "FailedUpdateScale")
    assert _reasons(events, "web") == [("FailedRescale", 1)]


def test_objects_create_delete_and_config_reload() -> None:
    workloads, hpas, _events = _world({"web": 2}, manifest("web", "web"))
    (made,) = _hpas(manifest("api", "api"))
    created = hpas.create(made, T0 + 5)
    assert (created.origin, created.created_ms) == ("api", T0 + 5)
    with pytest.raises(StatusError, match=r'horizontalpodautoscalers\.autoscaling "api" already'):
        hpas.create(made, T0 + 6)
    version = hpas.resource_version
    # A reload that changes web's spec: a new generation, the state kept; api stays.
    hpas.reconcile_all(T0 + 15_000)
    state = hpas.get("default", "web").state
    hpas.apply_config(_hpas(manifest("web", "web", max_replicas=3)), T0 + 20_000)
    web = hpas.get("default", "web")
    assert (web.generation, web.hpa.spec.max_replicas, web.state) == (2, 3, state)
    assert web.resource_version > version
    # A reload without web deletes it (a config HPA), not the API's.
    hpas.apply_config([], T0 + 30_000)
    assert [a.key for a in hpas.autoscalers()] == ["default/api"]
    with pytest.raises(StatusError, match=r"^horizontalpodautoscalers.autoscaling \"web\" not"):
        hpas.get("default", "web")
    hpas.delete("default", "api")
    assert hpas.autoscalers() == []
    assert workloads.observed[-1] == []


async def test_the_loop_syncs_every_period_on_the_clock() -> None:
    workloads, hpas, _events = _world({"web": 2}, manifest("web", "web"), milli=500)
    clock = VirtualClock(T0 + 1)
    task = asyncio.create_task(hpas.run(clock))
    await clock.set_ms(T0 + 60_000)
    hpas.stop()
    await clock.advance_ms(15_000)
    await task
    # On the sync period's grid (multiples of 15 s since the epoch; T0 is 5 s past one).
    assert workloads.synced == [T0 + 10_000 + 15_000 * i for i in range(4)]
