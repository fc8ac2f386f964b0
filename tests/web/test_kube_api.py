"""The Kubernetes-shaped API under /kubeprom and the UI's /ui/api/hpa, over a simulated
cluster and its HPA controller in virtual time."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import bcrypt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.clock import VirtualClock
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.model.events import EventLog
from kubeprom.web import WebConfig, build_app
from kubeprom.web.hpa_view import HPAView
from kubeprom.web.kube import KubeHandlers
from tests.support.hpa_cluster import T0, synced

HPAS = "/kubeprom/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
SCALE = "/kubeprom/apis/apps/v1/namespaces/default/deployments/web/scale"
WEB_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, labels: {team: a}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 6
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""


@dataclass
class World:
    client: TestClient[Any, Any]
    clock: VirtualClock
    cluster: SimulatedCluster
    hpas: Autoscalers


def _world_parts() -> tuple[SimulatedCluster, Autoscalers, EventLog]:
    return synced(WEB_HPA)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    c, hpas, events = _world_parts()
    clock = VirtualClock(T0 + 120_000)
    app = build_app(
        CollectorRegistry(),
        clock=clock,
        kube=KubeHandlers(hpas, c, events),
        hpa_view=HPAView(hpas, c, events),
    )
    async with TestClient(TestServer(app)) as client:
        yield World(client, clock, c, hpas)


async def _json(world: World, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    r = await world.client.request(method, path, **kw)
    return r.status, await r.json()


async def test_list_and_get_answer_as_the_api_server(world: World) -> None:
    status, body = await _json(world, "GET", HPAS)
    assert status == 200
    assert (body["kind"], body["apiVersion"]) == ("HorizontalPodAutoscalerList", "autoscaling/v2")
    (item,) = body["items"]
    assert item["metadata"] == {
        "name": "web",
        "namespace": "default",
        "uid": world.hpas.get("default", "web").uid,
        "resourceVersion": str(world.hpas.get("default", "web").resource_version),
        "generation": 1,
        "creationTimestamp": "2027-01-15T08:00:00Z",
        "labels": {"team": "a"},
    }
    assert item["spec"] == {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 1,
        "maxReplicas": 6,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            }
        ],
    }
    st = item["status"]
    assert (st["currentReplicas"], st["desiredReplicas"]) == (4, 4)
    assert st["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageValue": "250m", "averageUtilization": 50},
            },
        }
    ]
    assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
        ("AbleToScale", "True", "ReadyForNewScale"),
        ("ScalingActive", "True", "ValidMetricFound"),
        ("ScalingLimited", "False", "DesiredWithinRange"),
    ]
    status, single = await _json(world, "GET", f"{HPAS}/web")
    assert (status, single) == (200, item)
    status, everywhere = await _json(
        world, "GET", "/kubeprom/apis/autoscaling/v2/horizontalpodautoscalers"
    )
    assert everywhere["items"] == [item]


async def test_missing_objects_are_status_not_found(world: World) -> None:
    status, body = await _json(world, "GET", f"{HPAS}/nope")
    assert (status, body) == (
        404,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'horizontalpodautoscalers.autoscaling "nope" not found',
            "reason": "NotFound",
            "code": 404,
        },
    )
    path = "/kubeprom/apis/apps/v1/namespaces/default/deployments/nope/scale"
    status, body = await _json(world, "GET", path)
    assert (status, body["message"]) == (404, 'deployments.apps "nope" not found')


API_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: %s
"""


async def test_create_validates_and_refuses_duplicates(world: World) -> None:
    status, dry = await _json(world, "POST", f"{HPAS}?dryRun=All", data=API_HPA % 3)
    assert status == 201
    assert dry["metadata"]["name"] == "api"
    assert [a.key for a in world.hpas.autoscalers()] == ["default/web"]
    status, made = await _json(world, "POST", HPAS, data=API_HPA % 3)
    assert status == 201
    assert made["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    assert made["status"] == {"desiredReplicas": 0, "currentMetrics": None}
    assert world.hpas.get("default", "api").origin == "api"
    status, body = await _json(world, "POST", HPAS, data=API_HPA % 3)
    assert (status, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'horizontalpodautoscalers.autoscaling "api" already exists',
    )
    status, body = await _json(
        world, "POST", HPAS, data=API_HPA.replace("{name: api}", "{name: b}") % 0
    )
    assert (status, body["reason"], body["message"]) == (
        422,
        "Invalid",
        'HorizontalPodAutoscaler.autoscaling "b" is invalid: spec.maxReplicas: Invalid value: '
        "0: must be greater than 0 (and 1 more)",
    )
    status, body = await _json(
        world, "POST", HPAS, data=API_HPA.replace("maxReplicas", "maxReplica") % 3
    )
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"].startswith("request body:7:3: spec.maxReplica: ")
    other = API_HPA.replace("{name: api}", "{name: c, namespace: other}") % 3
    status, body = await _json(world, "POST", HPAS, data=other)
    assert (status, body["message"]) == (
        400,
        "the namespace of the provided object does not match the namespace sent on the request",
    )
    as_json = (
        '{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", '
        '"metadata": {"name": "j"}, "spec": {"scaleTargetRef": {"kind": "Deployment", '
        '"name": "web"}, "maxReplicas": 2}}'
    )
    status, made = await _json(world, "POST", HPAS, data=as_json)
    assert (status, made["metadata"]["name"]) == (201, "j")


async def test_delete_then_not_found(world: World) -> None:
    uid = world.hpas.get("default", "web").uid
    status, body = await _json(world, "DELETE", f"{HPAS}/web")
    assert (status, body["status"], body["details"]) == (
        200,
        "Success",
        {"name": "web", "group": "autoscaling", "kind": "horizontalpodautoscalers", "uid": uid},
    )
    status, body = await _json(world, "DELETE", f"{HPAS}/web")
    assert (status, body["reason"]) == (404, "NotFound")


async def test_the_scale_subresource_reads_and_writes_replicas(world: World) -> None:
    status, scale = await _json(world, "GET", SCALE)
    assert status == 200
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert (scale["spec"], scale["status"]) == (
        {"replicas": 4},
        {"replicas": 4, "selector": "app=web"},
    )
    status, scale = await _json(world, "PATCH", SCALE, data='{"spec": {"replicas": 1}}')
    assert (status, scale["spec"]) == (200, {"replicas": 1})
    assert world.cluster.deployment("default", "web").spec_replicas == 1
    status, body = await _json(world, "PATCH", SCALE, data='{"spec": {"replicas": -1}}')
    assert (status, body["message"]) == (
        422,
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0",
    )
    status, deployment = await _json(world, "GET", SCALE.removesuffix("/scale"))
    assert deployment["spec"] == {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}


async def test_events_by_field_selector(world: World) -> None:
    uid = world.hpas.get("default", "web").uid
    selector = (
        "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=web,"
        f"involvedObject.uid={uid}"
    )
    status, body = await _json(
        world,
        "GET",
        "/kubeprom/api/v1/namespaces/default/events",
        params={"fieldSelector": selector},
    )
    assert status == 200
    assert [(e["type"], e["reason"], e["count"]) for e in body["items"]] == [
        # T0 and T0+15s: before two kubelet scrapes are stored
        ("Warning", "FailedGetResourceMetric", 2),
        ("Warning", "FailedComputeMetricsReplicas", 2),
        ("Normal", "SuccessfulRescale", 1),
    ]
    first = body["items"][0]
    assert first["involvedObject"] == {
        "kind": "HorizontalPodAutoscaler",
        "namespace": "default",
        "name": "web",
        "uid": uid,
        "apiVersion": "autoscaling/v2",
    }
    assert first["source"] == {"component": "horizontal-pod-autoscaler"}
    status, body = await _json(
        world, "GET", "/kubeprom/api/v1/events", params={"fieldSelector": "reason=x"}
    )
    assert (status, body["message"]) == (400, "field label not supported: reason")


async def test_the_ui_view(world: World) -> None:
    status, body = await _json(world, "GET", "/ui/api/hpa")
    assert (status, body["status"]) == (200, "success")
    (view,) = body["data"]["hpas"]
    assert view["targets"] == "cpu: 50%/50%"
    assert view["reference"] == "Deployment/web"
    assert view["metrics"] == [
        {
            "type": "Resource",
            "name": "resource cpu on pods  (as a percentage of request)",
            "text": "50% (250m) / 50%",
            "current": 50,
            "target": 50,
            "unit": "%",
        }
    ]
    assert view["history"][-1] == [T0 + 105_000, 4, 4]
    assert len(view["decisions"]) == 8
    assert (
        view["decisions"][-1]["lines"][0] == f"default/web at {(T0 + 105_000) / 1000:g}s: metrics"
    )
    assert [e["reason"] for e in view["events"]][-1] == "SuccessfulRescale"
    assert view["target"] == {
        "replicas": 4,
        "specReplicas": 4,
        "readyReplicas": 4,
        "terminatingReplicas": 0,
        "replicaFailure": None,
        "unschedulable": [],
    }
    assert view["lastError"] is None


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_the_routes_sit_behind_basic_auth() -> None:
    c, hpas, events = _world_parts()
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4))
    app = build_app(
        CollectorRegistry(),
        kube=KubeHandlers(hpas, c, events),
        hpa_view=HPAView(hpas, c, events),
        web_config=WebConfig(basic_auth_users={"alice": hashed}),
    )
    async with TestClient(TestServer(app)) as client:
        for path in (HPAS, "/ui/api/hpa", SCALE):
            assert (await client.get(path)).status == 401
            assert (await client.get(path, headers=_auth("alice", "s3cret"))).status == 200
