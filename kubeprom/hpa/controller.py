"""One sync of one HPA: upstream's ``reconcileAutoscaler`` as a pure step.

``reconcile(hpa, state, inputs, now_ms)`` takes the HPA (defaulted, as the API server stores
it), the controller's state for it (the HPA status and the in-memory history), what the
cluster answers at this sync (the scale subresource, the selected pods, a
:class:`~kubeprom.hpa.source.MetricsSource`, a :class:`ScaleWriter`) and the time, and
returns the new state, the events, what was written and a
:class:`~kubeprom.hpa.decision.Decision`. It reads no clock and keeps nothing between calls:
a live loop or a simulation feeds the state back at the next sync. The order of steps, the
conditions with their reasons and messages, and the event texts are kube-controller-manager's
(ALGORITHM.md sections 2, 6 and 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from kubeprom.config.hpa_spec import HorizontalPodAutoscaler, default_behavior
from kubeprom.hpa.behavior import (
    History,
    Normalized,
    Recommendations,
    initial_recommendations,
    normalize_legacy,
    normalize_with_behavior,
    store_scale_event,
)
from kubeprom.hpa.compute import Combined, MetricStatus, compute_metrics
from kubeprom.hpa.decision import Branch, Decision
from kubeprom.hpa.pods import PodList
from kubeprom.hpa.replicas import ReplicaCalculator, Tolerances
from kubeprom.hpa.source import MetricsSource
from kubeprom.model.selectors import parse_label_selector


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """kube-controller-manager's HPA settings (flags and feature gates), with its defaults."""

    tolerance: float = 0.1  # --horizontal-pod-autoscaler-tolerance
    cpu_initialization_period_ms: int = 300_000
    initial_readiness_delay_ms: int = 30_000
    downscale_stabilization_window_ms: int = 300_000
    scale_up_limit_factor: float = 2.0  # legacy path: max(factor x current, minimum)
    scale_up_limit_minimum: float = 4.0
    sync_period_ms: int = 15_000
    configurable_tolerance: bool = True  # HPAConfigurableTolerance
    pod_level_resources: bool = True  # PodLevelResources


class ConditionType(StrEnum):
    ABLE_TO_SCALE = "AbleToScale"
    SCALING_ACTIVE = "ScalingActive"
    SCALING_LIMITED = "ScalingLimited"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str
    last_transition_ms: int


@dataclass(frozen=True, slots=True)
class HPAStatus:
    """``HorizontalPodAutoscalerStatus``; a metric entry is None when it has no status."""

    current_replicas: int = 0
    desired_replicas: int = 0
    current_metrics: tuple[MetricStatus | None, ...] = ()
    conditions: tuple[Condition, ...] = ()
    last_scale_time_ms: int | None = None

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes event the controller records on the HPA."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Scale:
    """The target's scale subresource: ``spec.replicas``, ``status.replicas`` and
    ``status.selector`` (``labels.Parse`` syntax)."""

    spec_replicas: int
    status_replicas: int
    selector: str


@dataclass(frozen=True, slots=True)
class ScaleFailure:
    """Reading the scale subresource failed."""

    message: str


class ScaleWriter(Protocol):
    """Writes ``spec.replicas`` of the scale subresource; returns the error text or None."""

    def update(self, replicas: int) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AcceptWrites:
    """A :class:`ScaleWriter` whose writes always succeed (the caller applies them)."""

    def update(self, replicas: int) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class SyncInputs:
    """What the cluster answers at one sync.

    ``pods`` are the pods the scale's selector matches; ``selecting_hpas`` lists the keys of
    the HPAs whose selectors select any of them (this one included), as the controller's
    selector registry knows them: more than one is an ambiguous selector.
    """

    scale: Scale | ScaleFailure
    pods: PodList
    metrics: MetricsSource
    selecting_hpas: tuple[str, ...] = ()
    writer: ScaleWriter = field(default_factory=AcceptWrites)


@dataclass(frozen=True, slots=True)
class HPAState:
    """What carries over from one sync to the next: the status and the controller's memory."""

    status: HPAStatus = HPAStatus()
    history: History = field(default_factory=History)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The outcome of a sync. ``scaled_to`` is the count written (or tried), None when nothing
    was written; ``error`` is what ``reconcileAutoscaler`` returns (the sync may have scaled
    and still report one); ``status_changed`` says whether the status would be written."""

    state: HPAState
    events: tuple[Event, ...]
    scaled_to: int | None
    error: str | None
    status_changed: bool
    decision: Decision


def tolerances_for(hpa: HorizontalPodAutoscaler, config: ControllerConfig) -> Tolerances:
    """The cluster tolerance, replaced per direction by the HPA's own (section 8.4)."""
    up = down = config.tolerance
    behavior = hpa.spec.behavior
    if behavior is not None and config.configurable_tolerance:
        if behavior.scale_down is not None and behavior.scale_down.tolerance is not None:
            down = behavior.scale_down.tolerance.approximate_float()
        if behavior.scale_up is not None and behavior.scale_up.tolerance is not None:
            up = behavior.scale_up.tolerance.approximate_float()
    return Tolerances(scale_down=down, scale_up=up)


class _Sync:
    """The mutable working copy of one sync (upstream mutates its HPA copy the same way)."""

    def __init__(self, hpa: HorizontalPodAutoscaler, state: HPAState, now_ms: int) -> None:
        self.hpa = hpa
        self.now_ms = now_ms
        self.status = state.status
        self.history = state.history
        self.events: list[Event] = []

    def condition(self, type_: str, status: bool, reason: str, message: str) -> None:
        """``setCondition``: replace or append; the transition time moves when status does."""
        conditions = list(self.status.conditions)
        for i, c in enumerate(conditions):
            if c.type == type_:
                moved = self.now_ms if c.status != status else c.last_transition_ms
                conditions[i] = Condition(type_, status, reason, message, moved)
                break
        else:
            conditions.append(Condition(type_, status, reason, message, self.now_ms))
        self.status = replace(self.status, conditions=tuple(conditions))

    def event(self, type_: EventType, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))


def _selector_error(sync: _Sync, inputs: SyncInputs, selector: str) -> str | None:
    """``validateAndParseSelector``: sets ScalingActive=False and returns the error, or None."""
    if selector == "":
        sync.event(EventType.WARNING, "SelectorRequired", "selector is required")
        message = "the HPA target's scale is missing a selector"
        sync.condition(ConditionType.SCALING_ACTIVE, False, "InvalidSelector", message)
        return "selector is required"
    try:
        parse_label_selector(selector)
    except ValueError as err:
        message = f"couldn't convert selector into a corresponding internal selector object: {err}"
        sync.event(EventType.WARNING, "InvalidSelector", message)
        sync.condition(ConditionType.SCALING_ACTIVE, False, "InvalidSelector", message)
        return message
    if len(inputs.selecting_hpas) > 1:
        # selectors.Key prints as namespace/name (kubectl describe shows
        # "[default/a default/b]").
        hpas = " ".join(inputs.selecting_hpas)
        message = f"pods by selector {selector} are controlled by multiple HPAs: [{hpas}]"
        sync.event(EventType.WARNING, "AmbiguousSelector", message)
        sync.condition(ConditionType.SCALING_ACTIVE, False, "AmbiguousSelector", message)
        return message
    return None


def reconcile(
    hpa: HorizontalPodAutoscaler,
    state: HPAState,
    inputs: SyncInputs,
    now_ms: int,
    config: ControllerConfig | None = None,
) -> SyncResult:
    """One sync of ``hpa`` at ``now_ms`` (ALGORITHM.md section 2)."""
    config = config or ControllerConfig()
    sync = _Sync(hpa, state, now_ms)
    spec = hpa.spec
    min_replicas = 1 if spec.min_replicas is None else spec.min_replicas
    kind, name = spec.scale_target_ref.kind, spec.scale_target_ref.name
    reference = f"{kind}/{hpa.namespace}/{name}"
    base = Decision(
        now_ms, hpa.key, Branch.METRICS, min_replicas=min_replicas, max_replicas=spec.max_replicas
    )

    def finish(decision: Decision, scaled_to: int | None, error: str | None) -> SyncResult:
        new_state = HPAState(sync.status, sync.history)
        changed = sync.status != state.status
        decision = replace(decision, scaled_to=scaled_to, error=error)
        return SyncResult(new_state, tuple(sync.events), scaled_to, error, changed, decision)

    scale = inputs.scale
    if isinstance(scale, ScaleFailure):
        sync.event(EventType.WARNING, "FailedGetScale", scale.message)
        message = (
            f"the HPA controller was unable to get the target's current scale: {scale.message}"
        )
        sync.condition(ConditionType.ABLE_TO_SCALE, False, "FailedGetScale", message)
        error = f"failed to query scale subresource for {reference}: {scale.message}"
        return finish(replace(base, branch=Branch.FAILED_GET_SCALE), None, error)
    message = "the HPA controller was able to get the target's current scale"
    sync.condition(ConditionType.ABLE_TO_SCALE, True, "SucceededGetScale", message)
    current = scale.spec_replicas
    sync.history = initial_recommendations(sync.history, current, now_ms)
    tolerances = tolerances_for(hpa, config)
    base = replace(base, current=current, tolerances=tolerances)

    statuses: tuple[MetricStatus | None, ...] = ()
    desired = 0
    reason = ""
    rescale = True
    retained_error: str | None = None
    decision = base
    if current == 0 and min_replicas != 0:
        rescale = False
        message = "scaling is disabled since the replica count of the target is zero"
        sync.condition(ConditionType.SCALING_ACTIVE, False, "ScalingDisabled", message)
        decision = replace(base, branch=Branch.SCALING_DISABLED)
    elif current > spec.max_replicas:
        reason = "Current number of replicas above Spec.MaxReplicas"
        desired = spec.max_replicas
        decision = replace(base, branch=Branch.ABOVE_MAX)
    elif current < min_replicas:
        reason = "Current number of replicas below Spec.MinReplicas"
        desired = min_replicas
        decision = replace(base, branch=Branch.BELOW_MIN)
    else:
        combined, selector_error = _metrics(sync, inputs, scale, tolerances, config, now_ms)
        statuses = combined.statuses
        decision = replace(
            base,
            selector_error=selector_error,
            metrics=combined.decisions,
            invalid_metrics=len(combined.failures),
            proposal=combined.replicas,
            proposal_metric=combined.metric,
        )
        metrics_error = selector_error or combined.error
        if metrics_error is not None and combined.stop:
            sync.status = _status(sync.status, current, sync.status.desired_replicas, statuses)
            sync.event(EventType.WARNING, "FailedComputeMetricsReplicas", metrics_error)
            stopped = (
                f"failed to compute desired number of replicas based on listed metrics for "
                f"{reference}: {metrics_error}"
            )
            return finish(decision, None, stopped)
        retained_error = metrics_error
        metric = ""
        if combined.replicas > desired:
            desired, metric = combined.replicas, combined.metric
        if desired > current:
            reason = f"{metric} above target"
        if desired < current:
            reason = "All metrics below target"
        normalized = _normalize(sync, current, desired, min_replicas, config, now_ms)
        desired = normalized.desired
        decision = replace(decision, normalization=normalized.trace)
        rescale = desired != current

    decision = replace(decision, desired=desired, rescale_reason=reason)
    if rescale:
        failure = inputs.writer.update(desired)
        if failure is not None:
            sync.event(
                EventType.WARNING,
                "FailedRescale",
                f"New size: {desired}; reason: {reason}; error: {failure}",
            )
            message = f"the HPA controller was unable to update the target scale: {failure}"
            sync.condition(ConditionType.ABLE_TO_SCALE, False, "FailedUpdateScale", message)
            sync.status = _status(sync.status, current, sync.status.desired_replicas, statuses)
            decision = replace(decision, write_error=failure)
            return finish(decision, desired, f"failed to rescale {reference}: {failure}")
        message = f"the HPA controller was able to update the target scale to {desired}"
        sync.condition(ConditionType.ABLE_TO_SCALE, True, "SucceededRescale", message)
        sync.event(EventType.NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        behavior = default_behavior(spec.behavior)
        sync.history = store_scale_event(
            sync.history,
            behavior.scale_up if behavior else None,
            behavior.scale_down if behavior else None,
            current,
            desired,
            now_ms,
        )
    else:
        desired = current
    sync.status = _status(sync.status, current, desired, statuses)
    if rescale:
        sync.status = replace(sync.status, last_scale_time_ms=now_ms)
    return finish(decision, desired if rescale else None, retained_error)


def _status(
    status: HPAStatus, current: int, desired: int, metrics: tuple[MetricStatus | None, ...]
) -> HPAStatus:
    """``setStatus``: conditions and lastScaleTime carry over."""
    return replace(
        status, current_replicas=current, desired_replicas=desired, current_metrics=metrics
    )


def _metrics(
    sync: _Sync,
    inputs: SyncInputs,
    scale: Scale,
    tolerances: Tolerances,
    config: ControllerConfig,
    now_ms: int,
) -> tuple[Combined, str | None]:
    """``computeReplicasForMetrics``, selector check and conditions included."""
    hpa = sync.hpa
    error = _selector_error(sync, inputs, scale.selector)
    if error is not None:
        return Combined(-1, "", (), ()), error
    calc = ReplicaCalculator(
        source=inputs.metrics,
        pods=inputs.pods,
        namespace=hpa.namespace,
        selector=scale.selector,
        now_ms=now_ms,
        cpu_initialization_period_ms=config.cpu_initialization_period_ms,
        initial_readiness_delay_ms=config.initial_readiness_delay_ms,
        pod_level_resources=config.pod_level_resources,
    )
    combined = compute_metrics(
        calc,
        hpa.spec.metrics,
        scale.spec_replicas,
        scale.status_replicas,
        tolerances,
        hpa.namespace,
    )
    for failed in combined.failures:
        sync.event(EventType.WARNING, failed.reason, failed.event_message)
    if combined.stop:
        if combined.failures:
            first = combined.failures[0]
            sync.condition(
                ConditionType.SCALING_ACTIVE, False, first.reason, first.condition_message
            )
        return combined, None
    message = f"the HPA was able to successfully calculate a replica count from {combined.metric}"
    sync.condition(ConditionType.SCALING_ACTIVE, True, "ValidMetricFound", message)
    return combined, None


def _normalize(
    sync: _Sync,
    current: int,
    proposal: int,
    min_replicas: int,
    config: ControllerConfig,
    now_ms: int,
) -> Normalized:
    """Stabilization and limits, legacy or with behavior; sets AbleToScale and ScalingLimited."""
    hpa = sync.hpa
    recs = sync.history.recommendations or Recommendations()
    behavior = default_behavior(hpa.spec.behavior)
    window_s = config.downscale_stabilization_window_ms // 1000
    if behavior is None or behavior.scale_up is None or behavior.scale_down is None:
        normalized = normalize_legacy(
            recs,
            current,
            proposal,
            min_replicas,
            hpa.spec.max_replicas,
            now_ms,
            window_s=window_s,
            scale_up_factor=config.scale_up_limit_factor,
            scale_up_minimum=config.scale_up_limit_minimum,
        )
    else:
        normalized = normalize_with_behavior(
            sync.history,
            current,
            proposal,
            min_replicas,
            hpa.spec.max_replicas,
            behavior.scale_up,
            behavior.scale_down,
            now_ms,
            default_down_window_s=window_s,
        )
    sync.history = History(
        normalized.recommendations, sync.history.scale_up, sync.history.scale_down
    )
    trace = normalized.trace
    sync.condition(ConditionType.ABLE_TO_SCALE, True, *trace.able_to_scale)
    sync.condition(ConditionType.SCALING_LIMITED, trace.limited, *trace.limited_reason)
    return normalized
