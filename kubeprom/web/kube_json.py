"""Kubernetes API objects of the simulated cluster as JSON: Deployments, Scales, Events,
Status; fields in the order the API server writes them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubeprom.exporters import DeploymentInfo
from kubeprom.model.events import Event
from kubeprom.model.selectors import Op, parse_label_selector
from kubeprom.model.timeutil import format_rfc3339

JSON = dict[str, Any]
CONTENT_TYPE = "application/json"


def respond(obj: JSON, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status)


def status_json(reason: str, code: int, message: str, details: JSON | None = None) -> JSON:
    """``metav1.Status`` of a failure."""
    out: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details:
        out["details"] = details
    out["code"] = code
    return out


def success_json(details: JSON) -> JSON:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _seconds_ms(t_s: float) -> int:
    return round(t_s * 1000)


def label_selector_json(selector: str) -> JSON:
    """A ``labels.Selector`` string back into ``metav1.LabelSelector`` form."""
    match_labels: dict[str, str] = {}
    expressions: list[JSON] = []
    operators = {
        Op.IN: "In",
        Op.NOT_IN: "NotIn",
        Op.EXISTS: "Exists",
        Op.DOES_NOT_EXIST: "DoesNotExist",
    }
    for r in parse_label_selector(selector):
        if r.op is Op.EQUALS:
            match_labels[r.key] = r.values[0]
        elif r.op in operators:
            expr: JSON = {"key": r.key, "operator": operators[r.op]}
            if r.values:
                expr["values"] = sorted(r.values)
            expressions.append(expr)
    out: JSON = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if expressions:
        out["matchExpressions"] = expressions
    return out


def deployment_json(d: DeploymentInfo) -> JSON:
    """``apps/v1`` Deployment (what the simulated one has of it)."""
    created = format_rfc3339(_seconds_ms(d.created_s))
    available = d.available_replicas >= d.spec_replicas
    conditions: list[JSON] = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "{d.replicaset}" has successfully progressed.',
        },
    ]
    if d.replica_failure is not None:
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": format_rfc3339(_seconds_ms(d.replica_failure_s or 0.0)),
                "reason": "FailedCreate",
                "message": d.replica_failure,
            }
        )
    status: JSON = {"observedGeneration": d.observed_generation}
    for key, value in (
        ("replicas", d.replicas),
        ("updatedReplicas", d.updated_replicas),
        ("readyReplicas", d.ready_replicas),
        ("availableReplicas", d.available_replicas),
        ("unavailableReplicas", d.unavailable_replicas),
    ):
        if value:
            status[key] = value
    status["conditions"] = conditions
    metadata: JSON = {
        "name": d.name,
        "namespace": d.namespace,
        "uid": d.uid,
        "generation": d.generation,
        "creationTimestamp": created,
    }
    if d.labels:
        metadata["labels"] = dict(d.labels)
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": metadata,
        "spec": {"replicas": d.spec_replicas, "selector": label_selector_json(d.selector)},
        "status": status,
    }


def scale_json(d: DeploymentInfo) -> JSON:
    """The Deployment's ``autoscaling/v1`` Scale subresource."""
    spec: JSON = {}
    if d.spec_replicas:
        spec["replicas"] = d.spec_replicas
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": d.name,
            "namespace": d.namespace,
            "uid": d.uid,
            "resourceVersion": str(d.generation),
            "creationTimestamp": format_rfc3339(_seconds_ms(d.created_s)),
        },
        "spec": spec,
        "status": {"replicas": d.replicas, "selector": d.selector},
    }


def event_json(e: Event) -> JSON:
    """``core/v1`` Event."""
    ref = e.involved
    involved: JSON = {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name}
    if ref.uid:
        involved["uid"] = ref.uid
    if ref.api_version:
        involved["apiVersion"] = ref.api_version
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": e.name,
            "namespace": ref.namespace,
            "creationTimestamp": format_rfc3339(e.first_ms),
        },
        "involvedObject": involved,
        "reason": e.reason,
        "message": e.message,
        "source": {"component": e.source},
        "firstTimestamp": format_rfc3339(e.first_ms),
        "lastTimestamp": format_rfc3339(e.last_ms),
        "count": e.count,
        "type": e.type,
        "eventTime": None,
        "reportingComponent": "",
        "reportingInstance": "",
    }


def list_json(kind: str, api_version: str, items: list[JSON], resource_version: str = "") -> JSON:
    return {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": resource_version},
        "items": items,
    }
