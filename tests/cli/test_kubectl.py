"""``kubeprom autoscale|get|describe|delete|scale`` against a served HPA controller and
simulated cluster: kubectl's output, byte for byte, and its errors."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from kubeprom.cli import kubectl_cmd
from kubeprom.cli.main import build_parser
from kubeprom.clock import VirtualClock
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.web import build_app
from kubeprom.web.kube import KubeHandlers
from tests.support.hpa_cluster import SYNCED_MS, T0, Running
from tests.support.procs import free_port

HPAS = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, labels: {team: a}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 6
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ghost}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: gone}
  minReplicas: 2
  maxReplicas: 3
"""


@dataclass
class Served:
    url: str
    cluster: SimulatedCluster
    hpas: Autoscalers
    clock: VirtualClock  # the CLI's "now" (ages)
    world: Running


@pytest.fixture
def served() -> Iterator[Served]:
    world = Running(HPAS)
    world.advance(T0 + SYNCED_MS)
    c, hpas, events = world.world.cluster, world.world.hpas, world.world.events
    server_clock = VirtualClock(T0 + 120_000)
    app = build_app(CollectorRegistry(), clock=server_clock, kube=KubeHandlers(hpas, c, events))
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{port}", c, hpas, VirtualClock(T0 + 150_000), world)
    finally:
        world.close()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def run(served: Served, *argv: str, **kw: object) -> tuple[int, str, str]:
    args = build_parser().parse_args([*argv, "--server", served.url])
    out, err = io.StringIO(), io.StringIO()
    fn = args.func
    extra = {"clock": served.clock} if fn in (kubectl_cmd.run_get, kubectl_cmd.run_describe) else {}
    code = fn(args, out, err, **extra, **kw)
    return code, out.getvalue(), err.getvalue()


def test_get_hpa_prints_kubectls_table(served: Served) -> None:
    assert run(served, "get", "hpa") == (
        0,
        "NAME    REFERENCE         TARGETS              MINPODS   MAXPODS   REPLICAS   AGE\n"
        "ghost   Deployment/gone   cpu: <unknown>/80%   2         3         0          2m30s\n"
        "web     Deployment/web    cpu: 50%/50%         1         6         4          2m30s\n",
        "",
    )
    _code, out, _ = run(served, "get", "hpa/web", "-A", "--no-headers")
    assert out == "default   web   Deployment/web   cpu: 50%/50%   1     6     4     2m30s\n"
    assert run(served, "get", "hpa", "-n", "other") == (
        0,
        "",
        "No resources found in other namespace.\n",
    )


def test_get_hpa_outputs(served: Served) -> None:
    code, out, _ = run(served, "get", "horizontalpodautoscaler", "ghost", "-o", "yaml")
    uid = served.hpas.get("default", "ghost").uid
    version = served.hpas.get("default", "ghost").resource_version
    assert out == (
        "apiVersion: autoscaling/v2\n"
        "kind: HorizontalPodAutoscaler\n"
        "metadata:\n"
        '  creationTimestamp: "2027-01-15T08:00:00Z"\n'
        "  generation: 1\n"
        "  name: ghost\n"
        "  namespace: default\n"
        f'  resourceVersion: "{version}"\n'
        f"  uid: {uid}\n"
        "spec:\n"
        "  maxReplicas: 3\n"
        "  metrics:\n"
        "  - resource:\n"
        "      name: cpu\n"
        "      target:\n"
        "        averageUtilization: 80\n"
        "        type: Utilization\n"
        "    type: Resource\n"
        "  minReplicas: 2\n"
        "  scaleTargetRef:\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        "    name: gone\n"
        "status:\n"
        "  conditions:\n"
        '  - lastTransitionTime: "2027-01-15T08:00:00Z"\n'
        "    message: 'the HPA controller was unable to get the target''s current scale: "
        "deployments.apps\n"
        '      "gone" not found\'\n'
        "    reason: FailedGetScale\n"
        '    status: "False"\n'
        "    type: AbleToScale\n"
        "  currentMetrics: null\n"
        "  desiredReplicas: 0\n"
    )
    code, out, _ = run(served, "get", "hpa", "-o", "name")
    assert code == 0
    assert out == (
        "horizontalpodautoscaler.autoscaling/ghost\nhorizontalpodautoscaler.autoscaling/web\n"
    )
    _code, out, _ = run(served, "get", "hpa", "-o", "json")
    assert out.startswith('{\n    "apiVersion": "v1",\n    "items": [\n        {\n')
    assert out.endswith(
        '    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n'
    )


def test_get_and_describe_of_a_missing_hpa_are_not_found(served: Served) -> None:
    line = 'Error from server (NotFound): horizontalpodautoscalers.autoscaling "nope" not found\n'
    assert run(served, "get", "hpa", "nope") == (1, "", line)
    assert run(served, "describe", "hpa", "nope") == (1, "", line)
    assert run(served, "get", "pods") == (
        1,
        "",
        'error: the server doesn\'t have a resource type "pods"\n',
    )


def test_describe_hpa_prints_kubectls_text(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    code, out, err = run(served, "describe", "hpa", "web")
    assert (code, err) == (0, "")
    # As Go's tabwriter lays it out: a line without a tab ends a column block, so the
    # behavior's policy lines and "Deployment pods:" share one; the events are a flush apart.
    assert out == (
        "Name:                                                  web\n"
        "Namespace:                                             default\n"
        "Labels:                                                team=a\n"
        "Annotations:                                           <none>\n"
        "CreationTimestamp:                                     Fri, 15 Jan 2027 08:00:00 +0000\n"
        "Reference:                                             Deployment/web\n"
        "Metrics:                                               ( current / target )\n"
        "  resource cpu on pods  (as a percentage of request):  50% (250m) / 50%\n"
        "Min replicas:                                          1\n"
        "Max replicas:                                          6\n"
        "Behavior:\n"
        "  Scale Up:\n"
        "    Stabilization Window: 0 seconds\n"
        "    Select Policy: Max\n"
        "    Policies:\n"
        "      - Type: Pods     Value: 4    Period: 15 seconds\n"
        "      - Type: Percent  Value: 100  Period: 15 seconds\n"
        "  Scale Down:\n"
        "    Stabilization Window: 60 seconds\n"
        "    Select Policy: Max\n"
        "    Policies:\n"
        "      - Type: Percent  Value: 100  Period: 15 seconds\n"
        "Deployment pods:       4 current / 4 desired\n"
        "Conditions:\n"
        "  Type            Status  Reason              Message\n"
        "  ----            ------  ------              -------\n"
        "  AbleToScale     True    ReadyForNewScale    recommended size matches current size\n"
        "  ScalingActive   True    ValidMetricFound    the HPA was able to successfully calculate "
        "a replica count from cpu resource utilization (percentage of request)\n"
        "  ScalingLimited  False   DesiredWithinRange  the desired count is within the "
        "acceptable range\n"
        "Events:\n"
        # The first two syncs (T0, T0+15s) come before two kubelet scrapes are stored.
        "  Type     Reason                        Age                    From                 "
        "      Message\n"
        "  ----     ------                        ----                   ----                 "
        "      -------\n"
        "  Warning  FailedGetResourceMetric       2m15s (x2 over 2m30s)  horizontal-pod-autoscaler"
        "  failed to get cpu utilization: unable to get metrics for resource cpu: no metrics "
        "returned from resource metrics API\n"
        "  Warning  FailedComputeMetricsReplicas  2m15s (x2 over 2m30s)  horizontal-pod-autoscaler"
        "  invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource "
        "metric value: failed to get cpu utilization: unable to get metrics for resource cpu: "
        "no metrics returned from resource metrics API\n"
        "  Normal   SuccessfulRescale             2m                     horizontal-pod-autoscaler"
        "  New size: 4; reason: cpu resource utilization (percentage of request) above target\n"
    )


def test_describe_shows_repeated_events_with_their_count(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    _code, out, _ = run(served, "describe", "hpa", "ghost")
    assert out.endswith(
        "Events:\n"
        "  Type     Reason          Age                  From                       Message\n"
        "  ----     ------          ----                 ----                       -------\n"
        "  Warning  FailedGetScale  45s (x8 over 2m30s)  horizontal-pod-autoscaler  "
        'deployments.apps "gone" not found\n'
    )
    assert "  AbleToScale  False   FailedGetScale  the HPA controller was unable to get the " in out


def test_autoscale_dry_run_prints_the_manifest_as_kubectl(served: Served) -> None:
    code, out, err = run(
        served,
        "autoscale",
        "deployment",
        "web",
        "--cpu-percent=50",
        "--min=1",
        "--max=10",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    assert (code, err) == (
        0,
        "Flag --cpu-percent has been deprecated, Use --cpu with percentage or resource quantity "
        "format (e.g., '70%' for utilization or '500m' for milliCPU).\n",
    )
    assert out == (
        "apiVersion: autoscaling/v2\n"
        "kind: HorizontalPodAutoscaler\n"
        "metadata:\n"
        "  name: web\n"
        "spec:\n"
        "  maxReplicas: 10\n"
        "  metrics:\n"
        "  - resource:\n"
        "      name: cpu\n"
        "      target:\n"
        "        averageUtilization: 50\n"
        "        type: Utilization\n"
        "    type: Resource\n"
        "  minReplicas: 1\n"
        "  scaleTargetRef:\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        "    name: web\n"
        "status:\n"
        "  currentMetrics: null\n"
        "  desiredReplicas: 0\n"
    )
    code, out, _ = run(
        served,
        "autoscale",
        "deployment",
        "web",
        "--max=3",
        "--cpu=500m",
        "--memory=200",
        "-n",
        "default",
        "--name",
        "web-avg",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    assert "metadata:\n  name: web-avg\n  namespace: default\n" in out
    assert (
        "  - resource:\n      name: cpu\n      target:\n        averageValue: 500m\n"
        "        type: AverageValue\n    type: Resource\n"
        "  - resource:\n      name: memory\n      target:\n        averageValue: 200Mi\n"
    ) in out
    assert "minReplicas" not in out
    assert run(served, "autoscale", "deployment", "web", "--max=3", "--dry-run=client") == (
        0,
        "horizontalpodautoscaler.autoscaling/web created (dry run)\n",
        "",
    )


def test_autoscale_creates_and_refuses_as_kubectl(served: Served) -> None:
    argv = ("autoscale", "deployment", "web", "--cpu=70%", "--max=4", "--name=web2")
    assert run(served, *argv) == (0, "horizontalpodautoscaler.autoscaling/web2 autoscaled\n", "")
    made = served.hpas.get("default", "web2")
    assert (made.origin, made.hpa.spec.max_replicas) == ("api", 4)
    assert run(served, *argv)[2] == (
        'Error from server (AlreadyExists): horizontalpodautoscalers.autoscaling "web2" already '
        "exists\n"
    )
    assert run(served, "autoscale", "deployment", "gone", "--max=3") == (
        1,
        "",
        'Error from server (NotFound): deployments.apps "gone" not found\n',
    )
    assert run(served, "autoscale", "deployment", "web", "--max=0")[2] == (
        "error: --max=MAXPODS is required and must be at least 1, max: 0\n"
    )
    assert run(served, "autoscale", "deployment", "web", "--min=5", "--max=3")[2] == (
        "error: --max=MAXPODS must be larger or equal to --min=MINPODS, max: 3, min: 5\n"
    )
    assert run(served, "autoscale", "deployment", "web", "--max=3", "--cpu=x%")[2] == (
        "error: invalid percentage value: x\n"
    )
    assert run(served, "autoscale", "deployment", "web", "--max=3", "--cpu=lots")[2] == (
        "error: invalid resource cpu value: lots\n"
    )


def test_scale_and_delete(served: Served) -> None:
    assert run(served, "scale", "deployment", "web", "--replicas=1") == (
        0,
        "deployment.apps/web scaled\n",
        "",
    )
    assert served.cluster.deployment("default", "web").spec_replicas == 1
    assert run(served, "scale", "deploy/gone", "--replicas=1") == (
        1,
        "",
        'Error from server (NotFound): deployments.apps "gone" not found\n',
    )
    assert run(served, "delete", "hpa", "ghost") == (
        0,
        'horizontalpodautoscaler.autoscaling "ghost" deleted\n',
        "",
    )
    assert run(served, "delete", "hpa", "ghost")[2] == (
        'Error from server (NotFound): horizontalpodautoscalers.autoscaling "ghost" not found\n'
    )


def test_watch_prints_rows_as_they_change(served: Served) -> None:
    syncs = iter(range(8, 20))

    def sleep(seconds: float) -> None:
        served.world.advance(T0 + next(syncs) * 15_000)

    served.cluster.scale("default", "web", 1)
    _code, out, _ = run(served, "get", "hpa", "web", "--watch", sleep=sleep, polls=3)
    # Each row as its HPA changes; columns only widen (kubectl's remembered widths).
    assert out == (
        "NAME   REFERENCE        TARGETS        MINPODS   MAXPODS   REPLICAS   AGE\n"
        "web    Deployment/web   cpu: 50%/50%   1         6         4          2m30s\n"
        # The first sync after the scale to one reads a CPU window that straddles it.
        "web    Deployment/web   cpu: 84%/50%   1         6         1          2m30s\n"
        "web    Deployment/web   cpu: 200%/50%   1         6         2          2m30s\n"
        "web    Deployment/web   cpu: 185%/50%   1         6         4          2m30s\n"
    )


def test_an_unreachable_server_is_one_line() -> None:
    port = free_port()
    args = build_parser().parse_args(["get", "hpa", "--server", f"http://127.0.0.1:{port}"])
    out, err = io.StringIO(), io.StringIO()
    assert kubectl_cmd.run_get(args, out, err) == 1
    assert err.getvalue() == (
        f"error: cannot query http://127.0.0.1:{port}/kubeprom/apis/autoscaling/v2/namespaces/"
        "default/horizontalpodautoscalers: Connection refused\n"
    )
