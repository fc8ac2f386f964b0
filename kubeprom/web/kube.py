"""A Kubernetes-shaped API over the HPA controller and the simulated cluster.

Served under :data:`PREFIX`, shaped as the API server's paths, with its JSON and its
``Status`` errors (``kubeprom get hpa``, ``describe``, ``autoscale``, ``scale``, ``delete``
use it as kubectl uses the API server)::

    GET    /kubeprom/apis/autoscaling/v2/horizontalpodautoscalers
    GET    /kubeprom/apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers
    POST   /kubeprom/apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers  [?dryRun=All]
    GET    /kubeprom/apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers/NAME
    DELETE /kubeprom/apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers/NAME
    GET    /kubeprom/apis/apps/v1/deployments
    GET    /kubeprom/apis/apps/v1/namespaces/NS/deployments[/NAME]
    GET    /kubeprom/apis/apps/v1/namespaces/NS/deployments/NAME/scale
    PUT    /kubeprom/apis/apps/v1/namespaces/NS/deployments/NAME/scale   (a Scale)
    PATCH  /kubeprom/apis/apps/v1/namespaces/NS/deployments/NAME/scale   ({"spec": {"replicas": N}})
    GET    /kubeprom/api/v1/events, /kubeprom/api/v1/namespaces/NS/events  [?fieldSelector=...]

A POST body is an HPA manifest, YAML or JSON (one object; the URL's namespace when it
names none); it is defaulted and validated as ``kubeprom run``'s configuration is: a
document that does not parse is 400 BadRequest (the message names the line and field),
an invalid object 422 Invalid (``HorizontalPodAutoscaler.autoscaling "web" is invalid:
spec.maxReplicas: ...``), an existing name 409 AlreadyExists. The routes pass through the
server's middlewares (basic auth, headers) like every other.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from aiohttp import web

from kubeprom.config.hpa_parse import parse_manifests
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.config.hpa_validate import check
from kubeprom.errors import ConfigError, StatusError
from kubeprom.exporters import DeploymentInfo, PodInfo
from kubeprom.hpa.manager import Autoscaler, Autoscalers
from kubeprom.hpa.objects import hpa_json, hpa_list_json
from kubeprom.model.events import EventLog
from kubeprom.web.keys import request_clock
from kubeprom.web.kube_json import (
    deployment_json,
    event_json,
    list_json,
    respond,
    scale_json,
    status_json,
    success_json,
)

PREFIX = "/kubeprom"
_HPAS = f"{PREFIX}/apis/autoscaling/v2"
_APPS = f"{PREFIX}/apis/apps/v1"
_CORE = f"{PREFIX}/api/v1"
_EVENT_FIELDS = {
    "involvedObject.kind": "kind",
    "involvedObject.name": "name",
    "involvedObject.namespace": "namespace",
    "involvedObject.uid": "uid",
}


_Handler = Callable[[web.Request], Awaitable[web.Response]]


class DeploymentsView(Protocol):
    """What the API shows and changes of the cluster's Deployments
    (:class:`~kubeprom.exporters.SimulatedCluster`)."""

    def has_deployment(self, namespace: str, name: str) -> bool: ...

    def deployment(self, namespace: str, name: str) -> DeploymentInfo: ...

    def deployments(self) -> list[DeploymentInfo]: ...

    def pods(self, node: str | None = None) -> list[PodInfo]: ...

    def scale(self, namespace: str, name: str, replicas: int) -> None: ...


def _failure(err: StatusError) -> web.Response:
    return respond(status_json(err.reason, err.code, err.message), err.code)


def _deployment_not_found(name: str) -> StatusError:
    return StatusError("NotFound", 404, f'deployments.apps "{name}" not found')


class KubeHandlers:
    """The routes of the module docstring over the controller, the cluster (None: a server
    without a simulated cluster has no Deployments) and the event log."""

    def __init__(
        self,
        autoscalers: Autoscalers,
        cluster: DeploymentsView | None,
        events: EventLog,
        gates: FeatureGates | None = None,
    ) -> None:
        self.autoscalers = autoscalers
        self.cluster = cluster
        self.events = events
        self.gates = gates or FeatureGates()

    def add_routes(self, app: web.Application) -> None:
        hpas = f"{_HPAS}/namespaces/{{namespace}}/horizontalpodautoscalers"
        deployments = f"{_APPS}/namespaces/{{namespace}}/deployments"
        r = app.router
        r.add_get(f"{_HPAS}/horizontalpodautoscalers", self._guard(self.list_hpas))
        r.add_get(hpas, self._guard(self.list_hpas))
        r.add_post(hpas, self._guard(self.create_hpa))
        r.add_get(f"{hpas}/{{name}}", self._guard(self.get_hpa))
        r.add_delete(f"{hpas}/{{name}}", self._guard(self.delete_hpa))
        r.add_get(f"{_APPS}/deployments", self._guard(self.list_deployments))
        r.add_get(deployments, self._guard(self.list_deployments))
        r.add_get(f"{deployments}/{{name}}", self._guard(self.get_deployment))
        r.add_get(f"{deployments}/{{name}}/scale", self._guard(self.get_scale))
        r.add_put(f"{deployments}/{{name}}/scale", self._guard(self.update_scale))
        r.add_patch(f"{deployments}/{{name}}/scale", self._guard(self.update_scale))
        r.add_get(f"{_CORE}/events", self._guard(self.list_events))
        r.add_get(f"{_CORE}/namespaces/{{namespace}}/events", self._guard(self.list_events))

    @staticmethod
    def _guard(handler: _Handler) -> _Handler:
        """The error edge of these routes: a StatusError becomes a ``Status`` answer."""

        async def handle(request: web.Request) -> web.Response:
            try:
                response: web.Response = await handler(request)
            except StatusError as err:
                return _failure(err)
            return response

        return handle

    # ---- HorizontalPodAutoscalers ------------------------------------------------------------
    async def list_hpas(self, request: web.Request) -> web.Response:
        if request.query.get("watch") in ("true", "1"):
            raise StatusError("BadRequest", 400, "watch is not supported: poll the list")
        items = self.autoscalers.autoscalers(request.match_info.get("namespace"))
        return respond(hpa_list_json(items, self.autoscalers.resource_version))

    async def get_hpa(self, request: web.Request) -> web.Response:
        m = request.match_info
        return respond(hpa_json(self.autoscalers.get(m["namespace"], m["name"])))

    async def delete_hpa(self, request: web.Request) -> web.Response:
        m = request.match_info
        gone = self.autoscalers.delete(m["namespace"], m["name"])
        details = {
            "name": gone.hpa.name,
            "group": "autoscaling",
            "kind": "horizontalpodautoscalers",
            "uid": gone.uid,
        }
        return respond(success_json(details))

    async def create_hpa(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        text = await request.text()
        try:
            parsed = parse_manifests(text, "request body")
        except ConfigError as err:
            raise StatusError("BadRequest", 400, str(err)) from err
        if len(parsed) != 1:
            raise StatusError(
                "BadRequest", 400, f"expected one HorizontalPodAutoscaler, got {len(parsed)}"
            )
        (item,) = parsed
        if "metadata.namespace" in item.positions and item.hpa.namespace != namespace:
            raise StatusError(
                "BadRequest",
                400,
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        item = replace(item, hpa=replace(item.hpa, namespace=namespace))
        try:
            loaded = check(item, self.gates)
        except ConfigError as err:
            what = f"{err.field}: {err.message}" if err.field else err.message
            message = f'HorizontalPodAutoscaler.autoscaling "{item.hpa.name}" is invalid: {what}'
            raise StatusError("Invalid", 422, message) from err
        now_ms = request_clock(request).now_ms()
        if request.query.get("dryRun") == "All":
            if loaded.hpa.key in {a.key for a in self.autoscalers.autoscalers()}:
                name = loaded.hpa.name
                raise StatusError(
                    "AlreadyExists",
                    409,
                    f'horizontalpodautoscalers.autoscaling "{name}" already exists',
                )
            return respond(hpa_json(Autoscaler(loaded.hpa, "", now_ms, "api")), 201)
        made = self.autoscalers.create(loaded.hpa, now_ms)
        return respond(hpa_json(made), 201)

    # ---- Deployments and their scale ----------------------------------------------------------
    def _deployment(self, namespace: str, name: str) -> DeploymentInfo:
        if self.cluster is None or not self.cluster.has_deployment(namespace, name):
            raise _deployment_not_found(name)
        return self.cluster.deployment(namespace, name)

    async def list_deployments(self, request: web.Request) -> web.Response:
        namespace = request.match_info.get("namespace")
        found = self.cluster.deployments() if self.cluster is not None else []
        items = [deployment_json(d) for d in found if namespace in (None, d.namespace)]
        return respond(list_json("DeploymentList", "apps/v1", items))

    async def get_deployment(self, request: web.Request) -> web.Response:
        m = request.match_info
        return respond(deployment_json(self._deployment(m["namespace"], m["name"])))

    async def get_scale(self, request: web.Request) -> web.Response:
        m = request.match_info
        return respond(scale_json(self._deployment(m["namespace"], m["name"])))

    async def update_scale(self, request: web.Request) -> web.Response:
        m = request.match_info
        self._deployment(m["namespace"], m["name"])
        try:
            body = json.loads(await request.text())
        except ValueError as err:
            raise StatusError("BadRequest", 400, f"the body is not JSON: {err}") from err
        spec = body.get("spec") if isinstance(body, dict) else None
        replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise StatusError("BadRequest", 400, 'expected {"spec": {"replicas": <integer>}}')
        if replicas < 0:
            raise StatusError(
                "Invalid",
                422,
                f'Scale.autoscaling "{m["name"]}" is invalid: spec.replicas: Invalid value: '
                f"{replicas}: must be greater than or equal to 0",
            )
        if self.cluster is None:  # pragma: no cover - _deployment raised already
            raise _deployment_not_found(m["name"])
        self.cluster.scale(m["namespace"], m["name"], replicas)
        return respond(scale_json(self.cluster.deployment(m["namespace"], m["name"])))

    # ---- events -------------------------------------------------------------------------------
    async def list_events(self, request: web.Request) -> web.Response:
        wanted: dict[str, str] = {}
        namespace = request.match_info.get("namespace")
        if namespace is not None:
            wanted["namespace"] = namespace
        selector = request.query.get("fieldSelector", "")
        for term in filter(None, selector.split(",")):
            key, sep, value = term.partition("=")
            key = key.rstrip("=")
            value = value.lstrip("=")
            if not sep or key not in _EVENT_FIELDS:
                raise StatusError("BadRequest", 400, f"field label not supported: {key}")
            wanted[_EVENT_FIELDS[key]] = value
        self.events.expire(request_clock(request).now_ms())
        found = self.events.events(**wanted)
        return respond(list_json("EventList", "v1", [event_json(e) for e in found]))
