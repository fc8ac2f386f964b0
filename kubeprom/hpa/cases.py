"""The adapter between the HPA conformance case schema and the controller.

``run_case(kind, config, input) -> dict`` is the contract of
``conformance/hpa/cases.yaml``: ``input`` is a case's input verbatim (plain YAML data),
``config`` the controller settings merged over the defaults; the result has the keys of the
kind's ``expect`` section. This module turns that schema into the controller's types (pods,
samples, metric specs with milli-values, the history with ages turned into times before
``NOW_MS``) and runs the real code paths: the replica calculator, ``group_pods``, the
normalizers, ``store_scale_event`` and ``reconcile``. The dicts stay inside this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from kubeprom.config.hpa_parse import go_json_float
from kubeprom.config.hpa_spec import (
    DEFAULT_METRIC,
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPAScalingPolicy,
    HPAScalingRules,
    HPASpec,
    LabelSelector,
    LabelSelectorRequirement,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricSource,
    PodsMetricSource,
    ResourceMetricSource,
    default_behavior,
)
from kubeprom.hpa.behavior import (
    History,
    Recommendations,
    ScaleEvents,
    normalize_legacy,
    normalize_with_behavior,
    store_scale_event,
)
from kubeprom.hpa.compute import Failed, compute_metric
from kubeprom.hpa.controller import (
    Condition,
    ControllerConfig,
    HPAState,
    HPAStatus,
    Scale,
    ScaleFailure,
    SyncInputs,
    reconcile,
)
from kubeprom.hpa.pods import PHASES, Container, Pod, PodList, PodTemplate, Ready, group_pods
from kubeprom.hpa.replicas import ReplicaCalculator, Tolerances
from kubeprom.hpa.source import (
    MetricFailure,
    PodUsage,
    StaticMetricsSource,
    empty_samples,
    resource_samples,
)
from kubeprom.model.quantity import Quantity, from_milli, parse_quantity

Data = Mapping[str, Any]

NOW_MS = 1_000_000_000_000  # the sync time every case's ages count back from
DEFAULTS: dict[str, Any] = {
    "tolerance": 0.1,
    "cpu_initialization_period_s": 300,
    "initial_readiness_delay_s": 30,
    "downscale_stabilization_window_s": 300,
    "scale_up_limit_factor": 2.0,
    "scale_up_limit_minimum": 4.0,
    "sync_period_s": 15,
    "configurable_tolerance": True,
}
SELECTOR = "app=web"
_SELECTORS = {"valid": SELECTOR, "missing": "", "unparsable": "app in (web", "ambiguous": SELECTOR}
NAMESPACE = "default"


def controller_config(config: Data) -> ControllerConfig:
    c = {**DEFAULTS, **config}
    return ControllerConfig(
        tolerance=float(c["tolerance"]),
        cpu_initialization_period_ms=int(c["cpu_initialization_period_s"] * 1000),
        initial_readiness_delay_ms=int(c["initial_readiness_delay_s"] * 1000),
        downscale_stabilization_window_ms=int(c["downscale_stabilization_window_s"] * 1000),
        scale_up_limit_factor=float(c["scale_up_limit_factor"]),
        scale_up_limit_minimum=float(c["scale_up_limit_minimum"]),
        sync_period_ms=int(c["sync_period_s"] * 1000),
        configurable_tolerance=bool(c["configurable_tolerance"]),
    )


def _at(age_s: float | None) -> int | None:
    return None if age_s is None else NOW_MS - round(age_s * 1000)


# ---- pods and samples -------------------------------------------------------------------
def _containers(items: Sequence[Data], sidecars: bool) -> tuple[Container, ...]:
    out = []
    for c in items:
        if sidecars and c.get("restartPolicy") != "Always":
            continue  # a plain init container's requests never count
        requests = tuple(sorted((k, int(v)) for k, v in (c.get("requests") or {}).items()))
        out.append(Container(str(c["name"]), requests, sidecar=sidecars))
    return tuple(out)


def build_pods(items: Sequence[Data], defaults: Data | None = None) -> PodList:
    pods = []
    for raw in items:
        p = {**(defaults or {}), **raw}
        containers = _containers(p.get("containers") or [{"name": "app"}], sidecars=False)
        containers += _containers(p.get("initContainers") or [], sidecars=True)
        pod_requests = tuple(sorted((k, int(v)) for k, v in (p.get("podRequests") or {}).items()))
        started = p.get("started_age_s", 3600)
        transition = p.get("ready_transition_age_s", started)
        ready = p.get("ready", True)
        pods.append(
            Pod(
                name=str(p["name"]),
                template=PodTemplate(containers, pod_requests),
                phase=PHASES[str(p.get("phase", "Running"))],
                deleting=bool(p.get("deleting", False)),
                ready=Ready.ABSENT if ready is None else Ready.TRUE if ready else Ready.FALSE,
                start_ms=_at(started),
                ready_transition_ms=_at(transition),
            )
        )
    return PodList.of(pods)


def _usage(block: Data, first_container: Mapping[str, str], resource: str) -> dict[str, PodUsage]:
    age = block.get("timestamp_age_s", 0)
    window = block.get("window_s", 60)
    out = {}
    for pod, entry in (block.get("pods") or {}).items():
        ts, win = age, window
        if isinstance(entry, Mapping) and "usage" in entry:
            ts = entry.get("timestamp_age_s", age)
            win = entry.get("window_s", window)
            entry = entry["usage"]
        if isinstance(entry, Mapping):
            containers = tuple((str(c), ((resource, int(v)),)) for c, v in entry.items())
        else:
            containers = ((first_container.get(pod, "app"), ((resource, int(entry)),)),)
        out[str(pod)] = PodUsage(containers, _at(ts) or 0, int(win * 1000))
    return out


def build_source(samples: Data | None, pods: Sequence[Data]) -> StaticMetricsSource:
    samples = samples or {}
    first = {
        str(p["name"]): str((p.get("containers") or [{"name": "app"}])[0]["name"]) for p in pods
    }
    resources = {
        str(r): _usage(block or {}, first, str(r))
        for r, block in (samples.get("resource") or {}).items()
    }
    pods_metrics = {
        str(m): {str(p): (int(v), NOW_MS, 60_000) for p, v in (values or {}).items()}
        for m, values in (samples.get("pods") or {}).items()
    }
    objects = {}
    for key, value in (samples.get("object") or {}).items():
        kind, name, metric = str(key).split("/", 2)
        objects[(kind, name, metric)] = int(value)
    externals = {str(m): [int(v) for v in vs] for m, vs in (samples.get("external") or {}).items()}
    return StaticMetricsSource(resources, pods_metrics, objects, externals)


# ---- specs ------------------------------------------------------------------------------
def _q(value: Any) -> Quantity | None:
    return None if value is None else from_milli(int(value))


def _target(t: Data | None) -> MetricTarget:
    t = t or {}
    return MetricTarget(
        type=str(t.get("type", "")),
        value=_q(t.get("value_m")),
        average_value=_q(t.get("averageValue_m")),
        average_utilization=t.get("averageUtilization"),
    )


def _selector(s: Data | None) -> LabelSelector | None:
    if s is None:
        return None
    exprs = tuple(
        LabelSelectorRequirement(str(e["key"]), str(e["operator"]), tuple(e.get("values") or ()))
        for e in s.get("matchExpressions") or ()
    )
    labels = tuple(sorted((str(k), str(v)) for k, v in (s.get("matchLabels") or {}).items()))
    return LabelSelector(labels, exprs)


def _identifier(m: Data | None) -> MetricIdentifier:
    m = m or {}
    return MetricIdentifier(str(m.get("name", "")), _selector(m.get("selector")))


def build_metric(m: Data) -> MetricSpec:
    spec = MetricSpec(type=str(m.get("type", "")))
    if (r := m.get("resource")) is not None:
        spec = _replace(
            spec, resource=ResourceMetricSource(str(r["name"]), _target(r.get("target")))
        )
    if (c := m.get("containerResource")) is not None:
        source = ContainerResourceMetricSource(
            str(c["name"]), str(c["container"]), _target(c.get("target"))
        )
        spec = _replace(spec, container_resource=source)
    if (p := m.get("pods")) is not None:
        spec = _replace(
            spec, pods=PodsMetricSource(_identifier(p.get("metric")), _target(p.get("target")))
        )
    if (o := m.get("object")) is not None:
        d = o.get("describedObject") or {}
        ref = CrossVersionObjectReference(
            str(d.get("kind", "")), str(d.get("name", "")), str(d.get("apiVersion", ""))
        )
        source_o = ObjectMetricSource(ref, _identifier(o.get("metric")), _target(o.get("target")))
        spec = _replace(spec, object=source_o)
    if (e := m.get("external")) is not None:
        spec = _replace(
            spec,
            external=ExternalMetricSource(_identifier(e.get("metric")), _target(e.get("target"))),
        )
    return spec


def _replace(spec: MetricSpec, **parts: Any) -> MetricSpec:
    return replace(spec, **parts)


def _tolerance(value: Any) -> Quantity | None:
    if value is None:
        return None
    text = go_json_float(value) if isinstance(value, float) else str(value)
    return parse_quantity(text)


def _rules(r: Data | None) -> HPAScalingRules | None:
    if r is None:
        return None
    policies = r.get("policies")
    return HPAScalingRules(
        stabilization_window_seconds=r.get("stabilizationWindowSeconds"),
        select_policy=r.get("selectPolicy"),
        policies=None
        if policies is None
        else tuple(
            HPAScalingPolicy(str(p["type"]), int(p["value"]), int(p["periodSeconds"]))
            for p in policies
        ),
        tolerance=_tolerance(r.get("tolerance")),
    )


def build_behavior(b: Data | None) -> HPABehavior | None:
    """A behavior as written, defaulted as the API server defaults it."""
    if b is None:
        return None
    return default_behavior(HPABehavior(_rules(b.get("scaleUp")), _rules(b.get("scaleDown"))))


def build_history(h: Data | None) -> History:
    h = h or {}
    recs = h.get("recommendations")
    return History(
        None
        if recs is None
        else Recommendations.of([(int(r["replicas"]), _at(r["age_s"]) or 0) for r in recs]),
        _events(h.get("scaleUpEvents")),
        _events(h.get("scaleDownEvents")),
    )


def _events(items: Sequence[Data] | None) -> ScaleEvents:
    return ScaleEvents.of([(int(e["change"]), _at(e["age_s"]) or 0) for e in items or ()])


def _events_out(events: ScaleEvents) -> list[dict[str, Any]]:
    return [
        {"change": int(c), "outdated": bool(o)}
        for c, o in zip(events.change, events.outdated, strict=True)
    ]


def _recs_out(history: History) -> list[int]:
    recs = history.recommendations
    return [] if recs is None else [int(r) for r in recs.replicas]


# ---- kinds ------------------------------------------------------------------------------
def _tolerances(value: Data | None, config: ControllerConfig) -> Tolerances:
    value = value or {}
    return Tolerances(
        scale_down=float(value.get("scaleDown", config.tolerance)),
        scale_up=float(value.get("scaleUp", config.tolerance)),
    )


def _calculator(inp: Data, config: ControllerConfig) -> ReplicaCalculator:
    pods_in = inp.get("pods") or []
    return ReplicaCalculator(
        source=build_source(inp.get("samples"), pods_in),
        pods=build_pods(pods_in, inp.get("pod_defaults")),
        namespace=NAMESPACE,
        selector=SELECTOR,
        now_ms=NOW_MS,
        cpu_initialization_period_ms=config.cpu_initialization_period_ms,
        initial_readiness_delay_ms=config.initial_readiness_delay_ms,
    )


def replica_calc(inp: Data, config: ControllerConfig) -> dict[str, Any]:
    spec_replicas = int(inp["specReplicas"])
    status_replicas = int(inp.get("statusReplicas", spec_replicas))
    result = compute_metric(
        _calculator(inp, config),
        build_metric(inp["metric"]),
        spec_replicas,
        status_replicas,
        _tolerances(inp.get("tolerance"), config),
        NAMESPACE,
    )
    if isinstance(result, Failed):
        return {"error": result.error}
    proposal, _, _ = result
    out: dict[str, Any] = {"replicas": proposal.replicas, "usage_m": proposal.usage}
    if proposal.trace.method == "utilization":
        out.update(utilization=proposal.usage, usage_m=proposal.raw_usage)
    return out


def classify_pods(inp: Data, config: ControllerConfig) -> dict[str, Any]:
    resource = str(inp["resource"])
    pods_in = inp.get("pods") or []
    pods = build_pods(pods_in, inp.get("pod_defaults"))
    source = build_source(inp.get("samples"), pods_in)
    fetched = resource_samples(NAMESPACE, source.resources.get(resource, {}), resource, "")
    samples = empty_samples() if isinstance(fetched, MetricFailure) else fetched
    g = group_pods(
        pods,
        samples,
        resource,
        NOW_MS,
        config.cpu_initialization_period_ms,
        config.initial_readiness_delay_ms,
    )
    return {
        "readyCount": g.ready_count,
        "unready": [str(n) for n in pods.names[g.unready]],
        "missing": [str(n) for n in pods.names[g.missing]],
        "ignored": [str(n) for n in pods.names[g.ignored]],
    }


def normalize(inp: Data, config: ControllerConfig) -> dict[str, Any]:
    history = build_history(inp.get("history"))
    recs = history.recommendations or Recommendations()
    current = int(inp["currentReplicas"])
    proposal = int(inp["desiredReplicas"])
    low, high = int(inp["minReplicas"]), int(inp["maxReplicas"])
    behavior = build_behavior(inp.get("behavior"))
    window_s = config.downscale_stabilization_window_ms // 1000
    if behavior is None or behavior.scale_up is None or behavior.scale_down is None:
        n = normalize_legacy(
            recs,
            current,
            proposal,
            low,
            high,
            NOW_MS,
            window_s=window_s,
            scale_up_factor=config.scale_up_limit_factor,
            scale_up_minimum=config.scale_up_limit_minimum,
        )
    else:
        n = normalize_with_behavior(
            history,
            current,
            proposal,
            low,
            high,
            behavior.scale_up,
            behavior.scale_down,
            NOW_MS,
            default_down_window_s=window_s,
        )
    return {
        "stabilizedReplicas": n.trace.stabilized,
        "desiredReplicas": n.desired,
        "ableToScaleReason": n.trace.able_to_scale[0],
        "limited": n.trace.limited,
        "limitedReason": n.trace.limited_reason[0],
        "recommendationsAfter": [int(r) for r in n.recommendations.replicas],
    }


def store_event(inp: Data, config: ControllerConfig) -> dict[str, Any]:
    behavior = build_behavior(inp.get("behavior"))
    prev, new = int(inp["prevReplicas"]), int(inp["newReplicas"])
    events = _events(inp.get("events"))
    before = events.change_in_period(int(inp["countPeriod_s"]), NOW_MS)
    up = new > prev
    history = History(None, events, ScaleEvents()) if up else History(None, ScaleEvents(), events)
    after = store_scale_event(
        history,
        behavior.scale_up if behavior else None,
        behavior.scale_down if behavior else None,
        prev,
        new,
        NOW_MS,
    )
    return {
        "changeInPeriodBefore": before,
        "eventsAfter": _events_out(after.scale_up if up else after.scale_down),
    }


def _hpa(h: Data, metrics: tuple[MetricSpec, ...] | None = None) -> HorizontalPodAutoscaler:
    raw_metrics = h.get("metrics")
    if metrics is None:
        metrics = tuple(build_metric(m) for m in raw_metrics) if raw_metrics else (DEFAULT_METRIC,)
    spec = HPASpec(
        scale_target_ref=CrossVersionObjectReference("Deployment", "web", "apps/v1"),
        max_replicas=int(h["maxReplicas"]),
        min_replicas=int(h.get("minReplicas", 1)),
        metrics=metrics,
        behavior=build_behavior(h.get("behavior")),
    )
    return HorizontalPodAutoscaler(name="web", namespace=NAMESPACE, spec=spec)


@dataclass(frozen=True, slots=True)
class _FailingWrites:
    def update(self, replicas: int) -> str | None:
        return "the server rejected the update (injected fault)"


def reconcile_case(inp: Data, config: ControllerConfig) -> dict[str, Any]:
    hpa = _hpa(inp["hpa"])
    target = inp.get("target") or {}
    spec_replicas = int(target["specReplicas"])
    selector_kind = str(target.get("selector", "valid"))
    faults = inp.get("faults") or {}
    status_in = inp.get("status") or {}
    conditions = tuple(
        Condition(str(t), str(c["status"]) == "True", str(c["reason"]), "", NOW_MS)
        for t, c in (status_in.get("conditions") or {}).items()
    )
    status = HPAStatus(
        current_replicas=spec_replicas,
        desired_replicas=int(status_in.get("desiredReplicas", spec_replicas)),
        conditions=conditions,
    )
    scale: Scale | ScaleFailure = Scale(
        spec_replicas, int(target.get("statusReplicas", spec_replicas)), _SELECTORS[selector_kind]
    )
    if faults.get("getScale"):
        scale = ScaleFailure('deployments.apps "web" not found (injected fault)')
    pods_in = inp.get("pods") or []
    inputs = SyncInputs(
        scale=scale,
        pods=build_pods(pods_in, inp.get("pod_defaults")),
        metrics=build_source(inp.get("samples"), pods_in),
        selecting_hpas=("default/web", "default/other")
        if selector_kind == "ambiguous"
        else ("default/web",),
        **({"writer": _FailingWrites()} if faults.get("updateScale") else {}),
    )
    result = reconcile(
        hpa, HPAState(status, build_history(inp.get("history"))), inputs, NOW_MS, config
    )
    st = result.state.status
    return {
        "desiredReplicas": st.desired_replicas,
        "scaledTo": result.scaled_to,
        "conditions": {
            str(c.type): {"status": "True" if c.status else "False", "reason": c.reason}
            for c in st.conditions
        },
        "currentMetrics": [
            None
            if m is None
            else {
                "averageUtilization": m.average_utilization,
                "averageValue_m": m.average_value_m,
                "value_m": m.value_m,
            }
            for m in st.current_metrics
        ],
        "error": result.error is not None,
        "recommendationsAfter": _recs_out(result.state.history),
        "scaleUpEventsAfter": _events_out(result.state.history.scale_up),
        "scaleDownEventsAfter": _events_out(result.state.history.scale_down),
        "events": [f"{e.type} {e.reason}: {e.message}" for e in result.events],
    }


def sequence(inp: Data, config: ControllerConfig) -> dict[str, Any]:
    """Successive reconciles fed with ready proposals: an External AverageValue metric with a
    1m target and the proposal as its value, at tolerance 0, proposes exactly that count."""
    metric = MetricSpec(
        "External",
        external=ExternalMetricSource(
            MetricIdentifier("proposal"), MetricTarget("AverageValue", average_value=from_milli(1))
        ),
    )
    raw = {k: inp.get(k) for k in ("minReplicas", "maxReplicas", "behavior")}
    behavior = raw.get("behavior")
    if isinstance(behavior, Mapping):  # tolerances would blur the proposals
        raw["behavior"] = {k: {**(v or {}), "tolerance": None} for k, v in behavior.items()}
    hpa = _hpa(raw, (metric,))
    exact = ControllerConfig(**{**_fields(config), "tolerance": 0.0})
    replicas = int(inp["initialReplicas"])
    state = HPAState(HPAStatus(replicas, replicas), build_history(inp.get("history")))
    out, reasons = [], []
    for step in inp["steps"]:
        now = NOW_MS + round(float(step["t_s"]) * 1000)
        source = StaticMetricsSource(externals={"proposal": [int(step["desiredReplicas"])]})
        inputs = SyncInputs(Scale(replicas, replicas, SELECTOR), PodList.of([]), source)
        result = reconcile(hpa, state, inputs, now, exact)
        state = result.state
        if result.scaled_to is not None and result.error is None:
            replicas = result.scaled_to
        out.append(replicas)
        limited = state.status.condition("ScalingLimited")
        reasons.append(limited.reason if limited else None)
    return {"replicas": out, "limitedReasons": reasons}


def _fields(config: ControllerConfig) -> dict[str, Any]:
    return asdict(config)


KINDS = {
    "classify_pods": classify_pods,
    "normalize": normalize,
    "reconcile": reconcile_case,
    "replica_calc": replica_calc,
    "sequence": sequence,
    "store_scale_event": store_event,
}


def run_case(kind: str, config: Data, input: Data) -> dict[str, Any]:
    """The conformance contract: one case's result; NotImplementedError for an unknown kind."""
    handler = KINDS.get(kind)
    if handler is None:
        raise NotImplementedError(f"case kind {kind!r} is not supported")
    return handler(input, controller_config(config))
