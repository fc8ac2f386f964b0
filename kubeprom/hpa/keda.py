"""KEDA for ScaledObjects with ``prometheus`` triggers: the HPA it makes, the external metrics
it serves, and its 0 <-> 1 activation loop.

* :func:`generated_hpa` is the ``HorizontalPodAutoscaler`` KEDA creates
  (``controllers/keda/hpa.go``): ``keda-hpa-<name>``, minReplicas ``minReplicaCount`` or 1,
  maxReplicas ``maxReplicaCount`` or 100, one External metric per trigger named
  ``s<index>-prometheus`` selected by ``scaledobject.keda.sh/name``, its target the threshold
  as a quantity, and the ``advanced`` behavior. The API server validates it as any HPA.
* :class:`KedaOperator` holds each ScaledObject's status (the per-metric health that drives
  ``fallback``, ``lastActiveTime``, conditions). :meth:`KedaOperator.external` answers the
  HPA's external metric requests as KEDA's metrics server does (``GetScaledObjectMetrics``:
  the query, the fallback once failures pass ``failureThreshold``, the error text the HPA
  sees); :meth:`KedaOperator.poll` is one turn of the scale loop (``checkScalers`` +
  ``RequestScale``): activation above ``activationThreshold``, ``0 -> 1`` (or
  ``minReplicaCount``), ``idleReplicaCount``, ``cooldownPeriod`` and
  ``initialCooldownPeriod`` before scaling back in. Both count failures, as in KEDA. The
  caller runs :meth:`poll` every ``pollingInterval`` and applies the replica count it returns.

A query is run as the Prometheus scaler runs it (``ExecutePromQuery``): an empty vector is 0
with ``ignoreNullValues`` and an error without it, more than one series is an error, NaN and
infinities are 0 with ``ignoreNullValues``; values become quantities through ``%.3f`` with
negatives as 0 (``quantityFromFloat64``). Behaviour follows KEDA's main branch (after 2.20).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from kubeprom.config.hpa_spec import (
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscaler,
    HPASpec,
    LabelSelector,
    MetricIdentifier,
    MetricSourceType,
    MetricSpec,
    MetricTarget,
    MetricTargetType,
    apply_defaults,
)
from kubeprom.config.hpa_validate import validate
from kubeprom.config.keda import OWNER_LABEL, LoadedScaledObject, PrometheusTrigger, ScaledObject
from kubeprom.errors import (
    EvalError,
    KubepromError,
    ParseError,
    QueryCanceled,
    QueryTimeout,
    TooManySamples,
)
from kubeprom.hpa.controller import Event, EventType
from kubeprom.hpa.pods import PodList, ready_running_count
from kubeprom.hpa.source import MetricFailure
from kubeprom.model.gofmt import format_f
from kubeprom.model.quantity import Quantity, parse_quantity
from kubeprom.promql.api import QueryAPI, ResultType

EXTERNAL = "unable to fetch metrics from external metrics API: "
RPC = "rpc error: code = Unknown desc = error when getting metric values "
READY_MESSAGE = "ScaledObject is defined correctly and is ready for scaling"
_RESULT_STRUCT = (
    'struct { Metric struct {} "json:\\"metric\\""; Value []interface {} "json:\\"value\\"" }'
)


def quantity_of(value: float) -> Quantity:
    """``quantityFromFloat64``: ``%.3f`` of the value, NaN, infinities and negatives as 0."""
    if math.isnan(value) or math.isinf(value) or value < 0:
        return parse_quantity("0")
    return parse_quantity(f"{value:.3f}")


def generated_hpa(so: ScaledObject) -> HorizontalPodAutoscaler:
    """The HPA KEDA creates for ``so``."""
    metrics = []
    for t in so.triggers:
        target_type = t.metric_type
        q = quantity_of(t.threshold)
        if target_type == MetricTargetType.AVERAGE_VALUE:
            target = MetricTarget(target_type, average_value=q)
        else:
            target = MetricTarget(target_type, value=q)
        selector = LabelSelector(match_labels=((OWNER_LABEL, so.name),))
        metrics.append(
            MetricSpec(
                MetricSourceType.EXTERNAL,
                external=ExternalMetricSource(MetricIdentifier(t.metric_name, selector), target),
            )
        )
    spec = HPASpec(
        scale_target_ref=CrossVersionObjectReference(
            so.target_kind, so.target_name, so.target_api_version
        ),
        max_replicas=so.hpa_max_replicas,
        min_replicas=so.hpa_min_replicas,
        metrics=tuple(metrics),
        behavior=so.behavior,
    )
    return HorizontalPodAutoscaler(
        so.generated_hpa_name,
        spec,
        namespace=so.namespace,
        labels=(
            ("app.kubernetes.io/managed-by", "keda-operator"),
            ("app.kubernetes.io/name", so.generated_hpa_name[:63]),
            ("app.kubernetes.io/part-of", so.name),
            *so.labels,
        ),
    )


def check_generated_hpa(loaded: LoadedScaledObject) -> HorizontalPodAutoscaler:
    """The generated HPA, validated as the API server validates it; an error is reported at
    the ScaledObject field it comes from (a threshold, the behavior)."""
    hpa = apply_defaults(generated_hpa(loaded.scaled_object))
    errs = validate(hpa)
    if errs:
        first = errs[0]
        path = first.path.replace(
            "spec.behavior", "spec.advanced.horizontalPodAutoscalerConfig.behavior"
        )
        if first.path.startswith("spec.metrics["):
            index = first.path[len("spec.metrics[") :].split("]", 1)[0]
            path = f"spec.triggers[{index}].metadata.threshold"
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise loaded.error(path, f"the HPA KEDA creates is invalid: {first}{more}")
    return hpa


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """One trigger's query at one time: the value (milli) and activity, or the error."""

    value: float | None = None
    milli: int | None = None
    active: bool = False
    error: str | None = None
    query_error: str | None = None  # the PromQL error behind an HTTP status, for dry runs


@dataclass(frozen=True, slots=True)
class Health:
    failures: int = 0
    failing: bool = False


@dataclass(frozen=True, slots=True)
class KedaCondition:
    type: str
    status: str  # "True" / "False" / "Unknown"
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class KedaStatus:
    """What KEDA keeps of a ScaledObject between loops (its status subresource)."""

    created_ms: int
    last_active_ms: int | None = None
    health: tuple[tuple[str, Health], ...] = ()
    conditions: tuple[KedaCondition, ...] = ()
    cache: tuple[tuple[str, TriggerResult, bool], ...] = ()  # useCachedMetrics records

    def health_of(self, metric: str) -> Health:
        return dict(self.health).get(metric, Health())

    def condition(self, type_: str) -> KedaCondition | None:
        return next((c for c in self.conditions if c.type == type_), None)


@dataclass(frozen=True, slots=True)
class PollResult:
    """One turn of the scale loop: the replica count to set (None: leave it), the events,
    whether the triggers were active or failed, each trigger's result."""

    scale_to: int | None
    events: tuple[Event, ...]
    active: bool
    error: bool
    triggers: tuple[TriggerResult, ...]


def _http_status(err: KubepromError) -> int | None:
    if isinstance(err, ParseError):
        return 400
    if isinstance(err, EvalError | TooManySamples):
        return 422
    if isinstance(err, QueryTimeout):
        return 503
    if isinstance(err, QueryCanceled):
        return 499
    return None


def run_trigger(api: QueryAPI, trigger: PrometheusTrigger, t_ms: int) -> TriggerResult:
    """``ExecutePromQuery`` + ``GetMetricsAndActivity`` at ``t_ms``."""
    try:
        result = api.instant(trigger.query, t_ms)
    except KubepromError as err:
        status = _http_status(err)
        if status is None:
            return TriggerResult(error=str(err))
        return TriggerResult(
            error=f"prometheus query api returned error. status: {status}", query_error=str(err)
        )
    if result.result_type in (ResultType.SCALAR, ResultType.STRING):
        kind = "number" if result.result_type is ResultType.SCALAR else "string"
        return TriggerResult(
            error=f"json: cannot unmarshal {kind} into Go struct field promQueryResult.data.result "
            f"of type {_RESULT_STRUCT}"
        )
    series = list(result.series())
    empty = len(series) == 0
    if result.result_type is ResultType.MATRIX and len(series) == 1:
        empty = True  # a matrix element has "values", not "value": the value list is empty
    if len(series) > 1:
        return TriggerResult(error=f"prometheus query {trigger.query} returned multiple elements")
    if empty:
        if trigger.ignore_null_values:
            return _value(trigger, 0.0)
        what = "result is empty" if not series else "value list is empty"
        return TriggerResult(
            error=f"prometheus metrics 'prometheus' target may be lost, the {what}"
        )
    value = float(series[0][2][-1])
    if math.isnan(value) or math.isinf(value):
        if trigger.ignore_null_values:
            return _value(trigger, 0.0)
        return TriggerResult(error=f"prometheus query returns {format_f(value, 6)}")
    return _value(trigger, value)


def _value(trigger: PrometheusTrigger, value: float) -> TriggerResult:
    return TriggerResult(
        value=value,
        milli=quantity_of(value).milli_value(),
        active=value > trigger.activation_threshold,
    )


@dataclass(slots=True)
class _Object:
    loaded: LoadedScaledObject
    hpa: HorizontalPodAutoscaler
    status: KedaStatus
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failed triggers, at their fields

    def begin(self) -> None:
        self.notes = []
        self.problems = []

    def failed(self, trigger: PrometheusTrigger, err: str) -> None:
        path = f"spec.triggers[{trigger.index}].metadata.query"
        self.problems.append(str(self.loaded.error(path, err)))


class KedaOperator:
    """KEDA's operator and metrics server for a set of ScaledObjects, over ``api``.

    Each ScaledObject's status lives here and changes with every call; not task-safe.
    """

    def __init__(
        self, objects: Sequence[LoadedScaledObject], api: QueryAPI, created_ms: int
    ) -> None:
        self.api = api
        self._objects: dict[str, _Object] = {}
        for loaded in objects:
            so = loaded.scaled_object
            hpa = check_generated_hpa(loaded)
            self._objects[so.key] = _Object(loaded, hpa, KedaStatus(created_ms))

    def hpas(self) -> list[HorizontalPodAutoscaler]:
        """The HPAs KEDA created, defaulted and validated."""
        return [o.hpa for o in self._objects.values()]

    def keys(self) -> list[str]:
        """``namespace/name`` of every ScaledObject."""
        return list(self._objects)

    def has(self, key: str) -> bool:
        return key in self._objects

    def scaled_object(self, key: str) -> ScaledObject:
        return self._objects[key].loaded.scaled_object

    def status(self, key: str) -> KedaStatus:
        return self._objects[key].status

    def notes(self, key: str) -> list[str]:
        """What the last :meth:`external` or :meth:`poll` call of ``key`` explained."""
        return self._objects[key].notes

    def problems(self, key: str) -> list[str]:
        """The triggers that failed in the last :meth:`external` or :meth:`poll` call of
        ``key``: KEDA's error at the trigger's query in the ScaledObject's file."""
        return self._objects[key].problems

    def due(self, key: str, last_poll_ms: int | None, now_ms: int) -> bool:
        """Whether the scale loop runs at ``now_ms`` (every ``pollingInterval``)."""
        so = self.scaled_object(key)
        return last_poll_ms is None or now_ms - last_poll_ms >= so.polling_interval_ms

    # ---- fallback ---------------------------------------------------------------------------
    def _with_fallback(
        self,
        obj: _Object,
        trigger: PrometheusTrigger,
        result: TriggerResult,
        spec_replicas: int | None,
        pods: PodList | None,
    ) -> tuple[int | None, bool, str | None]:
        """``GetMetricsWithFallback``: (milli value, fallback active, error)."""
        so = obj.loaded.scaled_object
        metric = trigger.metric_name
        fb = so.fallback
        if result.error is None:
            if fb is not None:
                self._set_health(obj, metric, Health(0, False))
            return result.milli, False, None
        if fb is None:
            return None, False, result.error
        health = obj.status.health_of(metric)
        health = Health(health.failures + 1, True)
        self._set_health(obj, metric, health)
        if health.failures <= fb.failure_threshold:
            return None, False, result.error
        current = spec_replicas if spec_replicas is not None else 0
        if fb.behavior != "static" and spec_replicas is None:
            return None, False, result.error
        replicas = float(fb.replicas)
        if fb.behavior == "currentReplicas":
            replicas = float(current)
        elif fb.behavior == "currentReplicasIfHigher":
            replicas = float(max(current, fb.replicas))
        elif fb.behavior == "currentReplicasIfLower":
            replicas = float(min(current, fb.replicas))
        target = quantity_of(trigger.threshold).approximate_float()
        if trigger.metric_type == MetricTargetType.VALUE:
            ready = ready_running_count(pods) if pods is not None else 0
            if ready == 0:
                obj.notes.append("fallback for a Value metric needs ready replicas: none")
                return None, False, "error performing fallback"
            replicas /= float(ready)
        obj.notes.append(
            f"{metric}: fallback to {replicas:g} replicas after {health.failures} failures"
        )
        return int(target * 1000 * replicas), True, None

    def _set_health(self, obj: _Object, metric: str, health: Health) -> None:
        entries = dict(obj.status.health)
        entries[metric] = health
        fb = obj.loaded.scaled_object.fallback
        conditions = list(obj.status.conditions)
        if fb is not None:
            exceeded = any(
                h.failing and h.failures > fb.failure_threshold for h in entries.values()
            )
            fallback = (
                KedaCondition(
                    "Fallback",
                    "True",
                    "FallbackExists",
                    "At least one trigger is falling back on this scaled object",
                )
                if exceeded
                else KedaCondition(
                    "Fallback",
                    "False",
                    "NoFallbackFound",
                    "No fallbacks are active on this scaled object",
                )
            )
            conditions = [c for c in conditions if c.type != "Fallback"] + [fallback]
        obj.status = replace(
            obj.status, health=tuple(sorted(entries.items())), conditions=tuple(conditions)
        )

    # ---- the metrics server -----------------------------------------------------------------
    def external(
        self,
        namespace: str,
        metric: str,
        metric_selector: LabelSelector | None,
        t_ms: int,
        *,
        spec_replicas: int | None = None,
        pods: PodList | None = None,
    ) -> list[int] | MetricFailure:
        """``GetExternalMetric`` -> ``GetScaledObjectMetrics``, as the HPA reads it."""
        labels = dict(metric_selector.match_labels) if metric_selector is not None else {}
        name = labels.get(OWNER_LABEL, "")
        if not name:
            return MetricFailure(EXTERNAL + "scaledObject name is not specified")
        obj = self._objects.get(f"{namespace}/{name}")
        if obj is None:
            return MetricFailure(
                f'{EXTERNAL}{RPC}error getting scalers scaledobjects.keda.sh "{name}" not found'
            )
        obj.begin()
        so = obj.loaded.scaled_object
        matching = [t for t in so.triggers if t.metric_name == metric]
        if not matching:
            return MetricFailure(f"{EXTERNAL}{RPC}no matching metrics found for {metric}")
        values: list[int] = []
        failed = False
        fallback = False
        for t in matching:
            cached = {m: r for m, r, _ in obj.status.cache} if t.use_cached_metrics else {}
            result = cached.get(metric) or run_trigger(self.api, t, t_ms)
            if result.query_error:
                obj.notes.append(f"{metric}: {result.query_error}")
            value, active_fallback, err = self._with_fallback(obj, t, result, spec_replicas, pods)
            fallback |= active_fallback
            if err is not None:
                obj.notes.append(f"{metric}: {err}")
                obj.failed(t, err)
                failed = True
                continue
            if value is not None:
                values.append(value)
        if failed and not fallback:
            return MetricFailure(f"{EXTERNAL}{RPC}metric:{metric} encountered error")
        if not values:
            return MetricFailure(f"{EXTERNAL}{RPC}no matching metrics found for {metric}")
        return values

    # ---- the scale loop ---------------------------------------------------------------------
    def poll(
        self, key: str, now_ms: int, spec_replicas: int | None, pods: PodList | None = None
    ) -> PollResult:
        """One ``checkScalers``: query every trigger, then ``RequestScale``. ``spec_replicas``
        None means the scale target could not be read."""
        obj = self._objects[key]
        obj.begin()
        so = obj.loaded.scaled_object
        results = []
        active = False
        error = False
        active_triggers: list[str] = []
        cache = []
        for t in so.triggers:
            result = run_trigger(self.api, t, now_ms)
            results.append(result)
            _, fallback, err = self._with_fallback(obj, t, result, spec_replicas, pods)
            is_active = fallback or (result.error is None and result.active)
            if t.use_cached_metrics:
                cache.append((t.metric_name, result, is_active))
            if err is not None:
                obj.failed(t, err)
                error = True
                continue
            if is_active:
                active = True
                active_triggers.append(t.metric_name)
        obj.status = replace(obj.status, cache=tuple(cache))
        scale_to, events = self._request_scale(
            obj, now_ms, spec_replicas, active, error, active_triggers
        )
        return PollResult(scale_to, tuple(events), active, error, tuple(results))

    def _set(
        self, obj: _Object, *conditions: KedaCondition, last_active_ms: int | None = None
    ) -> None:
        kept = [c for c in obj.status.conditions if c.type not in {x.type for x in conditions}]
        status = replace(obj.status, conditions=tuple(kept + list(conditions)))
        if last_active_ms is not None:
            status = replace(status, last_active_ms=last_active_ms)
        obj.status = status

    def _request_scale(
        self,
        obj: _Object,
        now_ms: int,
        current: int | None,
        active: bool,
        error: bool,
        active_triggers: list[str],
    ) -> tuple[int | None, list[Event]]:
        """``RequestScale`` for a ScaledObject."""
        so = obj.loaded.scaled_object
        ready = KedaCondition("Ready", "True", "ScaledObjectReady", READY_MESSAGE)
        if current is None:
            message = "Error getting current replicas count for ScaleTarget"
            self._set(obj, KedaCondition("Ready", "False", "ErrorGettingCurrentReplicas", message))
            return None, []
        target = f"{so.target_kind_string} {so.namespace}/{so.target_name}"
        min_replicas = so.min_replica_count or 0
        idle = so.idle_replica_count
        if active:
            on = KedaCondition(
                "Active", "True", "ScalerActive", "Scaling is performed because triggers are active"
            )
            if (idle is not None and current < min_replicas) or current == 0:
                to = min_replicas if min_replicas > 0 else 1
                by = ";".join(active_triggers)
                message = f"Scaled {target} from {current} to {to}, triggered by {by}"
                self._set(obj, ready, on, last_active_ms=now_ms)
                return to, [Event(EventType.NORMAL, "KEDAScaleTargetActivated", message)]
            if error:
                partial = KedaCondition(
                    "Ready",
                    "Unknown",
                    "PartialTriggerError",
                    "Some triggers defined in ScaledObject are not working correctly",
                )
                self._set(obj, partial, on)
                return None, []
            self._set(obj, ready, on, last_active_ms=now_ms)
            return None, []
        off = KedaCondition(
            "Active",
            "False",
            "ScalerNotActive",
            "Scaling is not performed because triggers are not active",
        )
        fb = so.fallback
        if error and fb is not None and fb.replicas != 0:
            self._set(obj, ready, off)
            return None, []
        if error and fb is None:
            broken = KedaCondition(
                "Ready",
                "False",
                "TriggerError",
                "Triggers defined in ScaledObject are not working correctly",
            )
            self._set(obj, broken, off)
            return None, []
        if (idle is not None and current > idle) or (current > 0 and min_replicas == 0):
            last = obj.status.last_active_ms
            cooled = (
                last is None and obj.status.created_ms + so.initial_cooldown_period_ms < now_ms
            ) or (last is not None and last + so.cooldown_period_ms < now_ms)
            if cooled:
                to = idle if idle is not None else min_replicas
                message = f"Deactivated {target} from {current} to {to}"
                self._set(obj, ready, off)
                return to, [Event(EventType.NORMAL, "KEDAScaleTargetDeactivated", message)]
            cooling = KedaCondition(
                "Active",
                "False",
                "ScalerCooldown",
                "Scaler cooling down because triggers are not active",
            )
            self._set(obj, ready, cooling)
            return None, []
        if idle is None and current < min_replicas:
            self._set(obj, ready, off)
            return min_replicas, []
        self._set(obj, ready, off)
        return None, []
