"""reconcile: events and conditions worded as kube-controller-manager words them, status,
per-HPA tolerance, the decision record, and a run of syncs in virtual time."""

from __future__ import annotations

from dataclasses import replace

from kubeprom.config.hpa_spec import (
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPAScalingRules,
    HPASpec,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
    apply_defaults,
)
from kubeprom.hpa.controller import (
    ControllerConfig,
    EventType,
    HPAState,
    HPAStatus,
    Scale,
    ScaleWriter,
    SyncInputs,
    reconcile,
    tolerances_for,
)
from kubeprom.hpa.decision import render
from kubeprom.hpa.pods import Container, Pod, PodList, PodTemplate
from kubeprom.hpa.replicas import Tolerances
from kubeprom.hpa.source import PodUsage, StaticMetricsSource
from kubeprom.model.quantity import from_milli, parse_quantity

NOW = 1_000_000_000
CPU = MetricSpec(
    "Resource",
    resource=ResourceMetricSource("cpu", MetricTarget("Utilization", average_utilization=50)),
)
ONE_CPU = PodTemplate((Container("app", (("cpu", 1000),)),))


def hpa(
    min_r: int = 1,
    max_r: int = 10,
    behavior: HPABehavior | None = None,
    metrics: tuple[MetricSpec, ...] = (CPU,),
) -> HorizontalPodAutoscaler:
    spec = HPASpec(
        CrossVersionObjectReference("Deployment", "web", "apps/v1"), max_r, min_r, metrics, behavior
    )
    return apply_defaults(HorizontalPodAutoscaler("web", spec))


def inputs(replicas: int, cpu_milli: int, writer: ScaleWriter | None = None) -> SyncInputs:
    pods = PodList.of([Pod(f"p{i}", ONE_CPU, start_ms=NOW - 3_600_000) for i in range(replicas)])
    samples = {f"p{i}": PodUsage((("app", (("cpu", cpu_milli),)),), NOW) for i in range(replicas)}
    given = SyncInputs(
        Scale(replicas, replicas, "app=web"),
        pods,
        StaticMetricsSource(resources={"cpu": samples}),
    )
    return given if writer is None else replace(given, writer=writer)


def new_state(replicas: int) -> HPAState:
    return HPAState(HPAStatus(replicas, replicas))


def test_scale_up_event_condition_and_status() -> None:
    result = reconcile(hpa(), new_state(2), inputs(2, 900), NOW)
    assert [(e.type, e.reason, e.message) for e in result.events] == [
        (
            EventType.NORMAL,
            "SuccessfulRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target",
        )
    ]
    status = result.state.status
    assert (status.current_replicas, status.desired_replicas, status.last_scale_time_ms) == (
        2,
        4,
        NOW,
    )
    messages = {c.type: (c.reason, c.message) for c in status.conditions}
    assert messages == {
        "AbleToScale": (
            "SucceededRescale",
            "the HPA controller was able to update the target scale to 4",
        ),
        "ScalingActive": (
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource "
            "utilization (percentage of request)",
        ),
        "ScalingLimited": (
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        ),
    }
    assert status.current_metrics[0] is not None
    assert (
        status.current_metrics[0].average_utilization,
        status.current_metrics[0].average_value_m,
    ) == (90, 900)
    assert (result.scaled_to, result.error, result.status_changed) == (4, None, True)


def test_scale_down_and_a_failed_write() -> None:
    class Refuse:
        def update(self, replicas: int) -> str | None:
            return "conflict"

    state = HPAState(HPAStatus(4, 4), replace(new_state(4).history))
    result = reconcile(
        hpa(),
        state,
        inputs(4, 100, Refuse()),
        NOW,
        ControllerConfig(downscale_stabilization_window_ms=0),
    )
    assert [(e.reason, e.message) for e in result.events] == [
        ("FailedRescale", "New size: 1; reason: All metrics below target; error: conflict")
    ]
    able = result.state.status.condition("AbleToScale")
    assert able is not None
    assert (able.status, able.reason, able.message) == (
        False,
        "FailedUpdateScale",
        "the HPA controller was unable to update the target scale: conflict",
    )
    assert result.state.status.desired_replicas == 4
    assert result.error == "failed to rescale Deployment/default/web: conflict"


def test_clamp_reason_and_no_metrics_read() -> None:
    result = reconcile(hpa(max_r=3), new_state(5), inputs(5, 10_000), NOW)
    assert [e.message for e in result.events] == [
        "New size: 3; reason: Current number of replicas above Spec.MaxReplicas"
    ]
    assert result.decision.metrics == ()
    assert result.state.status.current_metrics == ()


def test_an_unchanged_sync_writes_no_status() -> None:
    first = reconcile(hpa(), new_state(2), inputs(2, 500), NOW)
    second = reconcile(hpa(), first.state, inputs(2, 500), NOW + 15_000)
    assert (first.scaled_to, second.scaled_to, second.status_changed) == (None, None, False)
    assert second.state.history.recommendations is not None
    assert second.state.history.recommendations.replicas.tolist() == [2, 2, 2]


def test_per_hpa_tolerance_goes_through_the_quantity_as_go_reads_it() -> None:
    # "0.3" reads as 3 * Pow10(-1) = 0.30000000000000004 (AsApproximateFloat64)
    behavior = HPABehavior(scale_up=HPAScalingRules(tolerance=parse_quantity("0.3")))
    h = hpa(max_r=20, behavior=behavior)
    assert tolerances_for(h, ControllerConfig()) == Tolerances(0.1, 0.30000000000000004)
    off = ControllerConfig(configurable_tolerance=False)
    assert tolerances_for(h, off) == Tolerances(0.1, 0.1)
    # 120% against 100%: outside the cluster's 10%, inside the HPA's 30%
    h = replace(h, spec=replace(h.spec, metrics=(hundred_percent(),)))
    assert reconcile(h, new_state(10), inputs(10, 1200), NOW).scaled_to is None
    assert reconcile(h, new_state(10), inputs(10, 1200), NOW, off).scaled_to == 12


def hundred_percent() -> MetricSpec:
    target = MetricTarget("Utilization", average_utilization=100)
    return MetricSpec("Resource", resource=ResourceMetricSource("cpu", target))


def test_selector_problems_stop_the_sync() -> None:
    ambiguous = replace(inputs(2, 900), selecting_hpas=("default/web", "default/other"))
    result = reconcile(hpa(), new_state(2), ambiguous, NOW)
    active = result.state.status.condition("ScalingActive")
    assert active is not None
    assert (active.reason, active.message) == (
        "AmbiguousSelector",
        "pods by selector app=web are controlled by multiple HPAs: [default/web default/other]",
    )
    bad = replace(inputs(2, 900), scale=Scale(2, 2, "app in (web"))
    result = reconcile(hpa(), new_state(2), bad, NOW)
    assert result.error is not None
    assert result.error.startswith(
        "failed to compute desired number of replicas based on listed metrics for "
        "Deployment/default/web: couldn't convert selector into a corresponding internal "
        "selector object: unable to parse requirement"
    )


def test_decision_record_renders_every_step() -> None:
    result = reconcile(hpa(), new_state(2), inputs(2, 900), NOW)
    lines = render(result.decision)
    assert lines[0] == "default/web at 1e+06s: metrics"
    assert (
        "  metric 0 (Resource) cpu resource utilization (percentage of request): proposes 4"
        in lines
    )
    assert (
        "    utilization: 90% of request (sum 1800m / requests 2), raw average 900m; target 50%"
        in lines
    )
    assert "    ceil(1.8 x 2 pods) = 4" in lines
    assert (
        lines[-1]
        == "  scale to 4 (cpu resource utilization (percentage of request) above target): ok"
    )


def test_default_behavior_doubles_every_sync_in_virtual_time() -> None:
    metric = MetricSpec(
        "External",
        external=ExternalMetricSource(
            MetricIdentifier("load"), MetricTarget("AverageValue", average_value=from_milli(1000))
        ),
    )
    h = hpa(max_r=100, behavior=HPABehavior(), metrics=(metric,))
    state, replicas, seen = new_state(1), 1, []
    for step in range(6):
        source = StaticMetricsSource(externals={"load": [100_000]})  # wants 100 pods
        sync = SyncInputs(Scale(replicas, replicas, "app=web"), PodList.of([]), source)
        result = reconcile(h, state, sync, NOW + step * 15_000)
        state, replicas = result.state, result.scaled_to or replicas
        seen.append(replicas)
    assert seen == [5, 10, 20, 40, 80, 100]
