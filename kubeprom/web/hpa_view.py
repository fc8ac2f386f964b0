"""``GET /ui/api/hpa``: what the web UI's /hpa page shows, in Prometheus' JSON envelope.

``data.hpas`` lists every HPA (``?namespace=NS`` narrows it), each with:

* ``namespace``, ``name``, ``uid``, ``creationTimestamp``, ``reference`` (``Deployment/web``),
  ``minReplicas``, ``maxReplicas``, ``currentReplicas``, ``desiredReplicas``,
  ``lastScaleTime`` (or null), ``targets`` (kubectl's TARGETS text);
* ``metrics``: per metric spec, kubectl describe's ``name`` and ``current / target`` text,
  and the numbers behind them when known (``current``, ``target``, ``unit`` ``%`` for
  utilization, ``""`` otherwise; values in the metric's own units);
* ``conditions``: type, status (``True``/``False``), reason, message, lastTransitionTime;
* ``events``: the HPA's recent events (type, reason, message, count, first and last
  time in ms), oldest first;
* ``history``: ``[t_ms, currentReplicas, desiredReplicas]`` of the recent syncs;
* ``decisions``: the last syncs' decisions: ``t_ms``, ``branch``, ``current``,
  ``proposal``, ``desired``, ``scaledTo``, ``reason``, ``error`` and ``lines`` (the decision
  record as text, the same as ``kubeprom hpa render`` prints);
* ``target``: the scaled Deployment as the cluster has it (null when it is missing):
  ``replicas``, ``readyReplicas``, ``terminatingReplicas``, ``replicaFailure`` (quota
  refusal) and ``unschedulable`` (pending pods and the scheduler's reason), so the page
  can say what holds an HPA back;
* ``lastSyncMs`` and ``lastError`` (a sync that failed as a whole).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubeprom.hpa.decision import Decision, render
from kubeprom.hpa.manager import Autoscaler, Autoscalers
from kubeprom.hpa.objects import hpa_json
from kubeprom.hpa.printing import describe_metrics, targets
from kubeprom.model.events import EventLog
from kubeprom.web.envelope import success
from kubeprom.web.keys import request_clock
from kubeprom.web.kube import DeploymentsView

JSON = dict[str, Any]
PATH = "/ui/api/hpa"


def _metric_numbers(spec: JSON, status: JSON | None) -> JSON:
    """The numbers behind one metric: utilization in %, else the value or average."""
    body = next((v for k, v in spec.items() if k != "type" and isinstance(v, dict)), {})
    target = body.get("target") or {}
    current: JSON = {}
    if status is not None:
        inner = next((v for k, v in status.items() if k != "type" and isinstance(v, dict)), {})
        current = inner.get("current") or {}
    if target.get("averageUtilization") is not None:
        return {
            "current": current.get("averageUtilization"),
            "target": target["averageUtilization"],
            "unit": "%",
        }
    key = "averageValue" if target.get("averageValue") is not None else "value"
    return {"current": current.get(key), "target": target.get(key), "unit": ""}


def _decision(d: Decision) -> JSON:
    return {
        "t_ms": d.t_ms,
        "branch": str(d.branch),
        "current": d.current,
        "proposal": d.proposal,
        "desired": d.desired,
        "scaledTo": d.scaled_to,
        "reason": d.rescale_reason,
        "error": d.error,
        "lines": render(d),
    }


class HPAView:
    """The handler of :data:`PATH`."""

    def __init__(
        self, autoscalers: Autoscalers, cluster: DeploymentsView | None, events: EventLog
    ) -> None:
        self.autoscalers = autoscalers
        self.cluster = cluster
        self.events = events

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.events.expire(request_clock(request).now_ms())
        namespace = request.query.get("namespace") or None
        return success({"hpas": [self.one(a) for a in self.autoscalers.autoscalers(namespace)]})

    def one(self, a: Autoscaler) -> JSON:
        obj = hpa_json(a)
        spec, status = obj["spec"], obj["status"]
        statuses = status.get("currentMetrics") or []
        metrics = []
        for i, ((_, name, text), m) in enumerate(
            zip(describe_metrics(obj), spec.get("metrics") or [], strict=True)
        ):
            current = statuses[i] if i < len(statuses) else None
            metrics.append(
                {"type": m["type"], "name": name.rstrip(":"), "text": text}
                | _metric_numbers(m, current)
            )
        ref = spec["scaleTargetRef"]
        return {
            "namespace": a.hpa.namespace,
            "name": a.hpa.name,
            "uid": a.uid,
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
            "reference": f"{ref['kind']}/{ref['name']}",
            "minReplicas": spec.get("minReplicas"),
            "maxReplicas": spec["maxReplicas"],
            "currentReplicas": status.get("currentReplicas", 0),
            "desiredReplicas": status["desiredReplicas"],
            "lastScaleTime": status.get("lastScaleTime"),
            "targets": targets(obj),
            "metrics": metrics,
            "conditions": status.get("conditions", []),
            "events": [
                {
                    "type": e.type,
                    "reason": e.reason,
                    "message": e.message,
                    "count": e.count,
                    "first_ms": e.first_ms,
                    "last_ms": e.last_ms,
                }
                for e in self.events.events(
                    namespace=a.hpa.namespace,
                    kind="HorizontalPodAutoscaler",
                    name=a.hpa.name,
                    uid=a.uid,
                )
            ],
            "history": [[s.t_ms, s.current, s.desired] for s in self.autoscalers.history(a.key)],
            "decisions": [_decision(d) for d in self.autoscalers.decisions(a.key)],
            "target": self._target(a),
            "lastSyncMs": a.last_sync_ms,
            "lastError": a.last_error,
        }

    def _target(self, a: Autoscaler) -> JSON | None:
        ref = a.hpa.spec.scale_target_ref
        namespace = a.hpa.namespace
        cluster = self.cluster
        if ref.kind != "Deployment" or cluster is None:
            return None
        if not cluster.has_deployment(namespace, ref.name):
            return None
        d = cluster.deployment(namespace, ref.name)
        pending = [
            {"pod": p.name, "message": p.schedule_message}
            for p in cluster.pods()
            if p.namespace == namespace and p.deployment == ref.name and p.unschedulable
        ]
        return {
            "replicas": d.replicas,
            "specReplicas": d.spec_replicas,
            "readyReplicas": d.ready_replicas,
            "terminatingReplicas": d.terminating_replicas,
            "replicaFailure": d.replica_failure,
            "unschedulable": pending,
        }
