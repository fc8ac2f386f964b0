"""HPA objects as the API server returns them: autoscaling/v2 JSON, fields in Go's order.

:func:`hpa_json` renders an :class:`~kubeprom.hpa.manager.Autoscaler` (object and status)
the way ``GET /apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers/NAME`` answers:
``metadata`` with uid, resourceVersion (a string), generation and creationTimestamp; the
defaulted ``spec`` with quantities in their canonical text (``0.5`` -> ``500m``); the
``status`` with ``currentMetrics`` (``null`` before the first sync; a metric without a value
is an entry of ``type: ""``, as upstream's zero ``MetricStatus``), ``desiredReplicas``
always, ``currentReplicas`` and ``lastScaleTime`` only when set, conditions with ``True`` /
``False`` and RFC 3339 times. Current values are ``NewMilliQuantity`` texts, as upstream
builds them.
"""

from __future__ import annotations

from typing import Any

from kubeprom.config.hpa_spec import (
    CrossVersionObjectReference,
    HPABehavior,
    HPAScalingRules,
    HPASpec,
    LabelSelector,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
)
from kubeprom.hpa.compute import MetricStatus
from kubeprom.hpa.controller import HPAStatus
from kubeprom.hpa.manager import API_VERSION, KIND, Autoscaler
from kubeprom.model.quantity import canonical_text, milli_text
from kubeprom.model.timeutil import format_rfc3339

JSON = dict[str, Any]


def reference_json(ref: CrossVersionObjectReference) -> JSON:
    out: JSON = {"kind": ref.kind, "name": ref.name}
    if ref.api_version:
        out["apiVersion"] = ref.api_version
    return out


def selector_json(selector: LabelSelector) -> JSON:
    out: JSON = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        out["matchExpressions"] = [
            {
                "key": e.key,
                "operator": e.operator,
                **({"values": list(e.values)} if e.values else {}),
            }
            for e in selector.match_expressions
        ]
    return out


def _identifier(m: MetricIdentifier) -> JSON:
    out: JSON = {"name": m.name}
    if m.selector is not None:
        out["selector"] = selector_json(m.selector)
    return out


def target_json(t: MetricTarget) -> JSON:
    out: JSON = {"type": t.type}
    if t.value is not None:
        out["value"] = canonical_text(t.value)
    if t.average_value is not None:
        out["averageValue"] = canonical_text(t.average_value)
    if t.average_utilization is not None:
        out["averageUtilization"] = t.average_utilization
    return out


def metric_spec_json(m: MetricSpec) -> JSON:
    out: JSON = {"type": m.type}
    if m.object is not None:
        o = m.object
        out["object"] = {
            "describedObject": reference_json(o.described_object),
            "metric": _identifier(o.metric),
            "target": target_json(o.target),
        }
    if m.pods is not None:
        out["pods"] = {"metric": _identifier(m.pods.metric), "target": target_json(m.pods.target)}
    if m.resource is not None:
        out["resource"] = {"name": m.resource.name, "target": target_json(m.resource.target)}
    if m.container_resource is not None:
        cr = m.container_resource
        out["containerResource"] = {
            "name": cr.name,
            "target": target_json(cr.target),
            "container": cr.container,
        }
    if m.external is not None:
        out["external"] = {
            "metric": _identifier(m.external.metric),
            "target": target_json(m.external.target),
        }
    return out


def _rules(r: HPAScalingRules) -> JSON:
    out: JSON = {}
    if r.stabilization_window_seconds is not None:
        out["stabilizationWindowSeconds"] = r.stabilization_window_seconds
    if r.select_policy is not None:
        out["selectPolicy"] = r.select_policy
    if r.policies is not None:
        out["policies"] = [
            {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds}
            for p in r.policies
        ]
    if r.tolerance is not None:
        out["tolerance"] = canonical_text(r.tolerance)
    return out


def _behavior(b: HPABehavior) -> JSON:
    out: JSON = {}
    if b.scale_up is not None:
        out["scaleUp"] = _rules(b.scale_up)
    if b.scale_down is not None:
        out["scaleDown"] = _rules(b.scale_down)
    return out


def spec_json(spec: HPASpec) -> JSON:
    out: JSON = {"scaleTargetRef": reference_json(spec.scale_target_ref)}
    if spec.min_replicas is not None:
        out["minReplicas"] = spec.min_replicas
    out["maxReplicas"] = spec.max_replicas
    if spec.metrics:
        out["metrics"] = [metric_spec_json(m) for m in spec.metrics]
    if spec.behavior is not None:
        out["behavior"] = _behavior(spec.behavior)
    return out


def _current(s: MetricStatus) -> JSON:
    out: JSON = {}
    if s.value_m is not None:
        out["value"] = milli_text(s.value_m)
    if s.average_value_m is not None:
        out["averageValue"] = milli_text(s.average_value_m)
    if s.average_utilization is not None:
        out["averageUtilization"] = s.average_utilization
    return out


def metric_status_json(s: MetricStatus | None, spec: MetricSpec | None) -> JSON:
    """One ``currentMetrics`` entry; ``spec`` (the metric it reports on) supplies the metric
    identifier and described object upstream copies into it."""
    if s is None:
        return {"type": ""}
    current = _current(s)
    out: JSON = {"type": s.type}
    if s.type == "Object" and spec is not None and spec.object is not None:
        o = spec.object
        out["object"] = {
            "metric": _identifier(o.metric),
            "current": current,
            "describedObject": reference_json(o.described_object),
        }
    elif s.type == "Pods":
        selector = spec.pods.metric.selector if spec and spec.pods else None
        out["pods"] = {
            "metric": _identifier(MetricIdentifier(s.name, selector)),
            "current": current,
        }
    elif s.type == "Resource":
        out["resource"] = {"name": s.name, "current": current}
    elif s.type == "ContainerResource":
        out["containerResource"] = {"name": s.name, "current": current, "container": s.container}
    elif s.type == "External":
        selector = spec.external.metric.selector if spec and spec.external else None
        out["external"] = {
            "metric": _identifier(MetricIdentifier(s.name, selector)),
            "current": current,
        }
    return out


def status_json(status: HPAStatus, metrics: tuple[MetricSpec, ...], synced: bool) -> JSON:
    out: JSON = {}
    if status.last_scale_time_ms is not None:
        out["lastScaleTime"] = format_rfc3339(status.last_scale_time_ms)
    if status.current_replicas:
        out["currentReplicas"] = status.current_replicas
    out["desiredReplicas"] = status.desired_replicas
    out["currentMetrics"] = (
        [
            metric_status_json(s, metrics[i] if i < len(metrics) else None)
            for i, s in enumerate(status.current_metrics)
        ]
        if synced and status.current_metrics
        else None
    )
    if status.conditions:
        out["conditions"] = [
            {
                "type": str(c.type),
                "status": "True" if c.status else "False",
                "lastTransitionTime": format_rfc3339(c.last_transition_ms),
                "reason": c.reason,
                "message": c.message,
            }
            for c in status.conditions
        ]
    return out


def metadata_json(a: Autoscaler) -> JSON:
    hpa = a.hpa
    out: JSON = {
        "name": hpa.name,
        "namespace": hpa.namespace,
        "uid": a.uid,
        "resourceVersion": str(a.resource_version),
        "generation": a.generation,
        "creationTimestamp": format_rfc3339(a.created_ms),
    }
    if hpa.labels:
        out["labels"] = dict(hpa.labels)
    if hpa.annotations:
        out["annotations"] = dict(hpa.annotations)
    return out


def hpa_json(a: Autoscaler) -> JSON:
    """The whole object, as the API server returns it."""
    return {
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": metadata_json(a),
        "spec": spec_json(a.hpa.spec),
        "status": status_json(a.state.status, a.hpa.spec.metrics, a.last_sync_ms is not None),
    }


def hpa_list_json(items: list[Autoscaler], resource_version: int) -> JSON:
    """``HorizontalPodAutoscalerList``."""
    return {
        "kind": "HorizontalPodAutoscalerList",
        "apiVersion": API_VERSION,
        "metadata": {"resourceVersion": str(resource_version)},
        "items": [hpa_json(a) for a in items],
    }
