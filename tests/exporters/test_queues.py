"""Queue workers: the backlog a Deployment's queue keeps (with and without consumers), the
CPU its pods spend on what they take, and the RabbitMQ endpoint that exports the queue."""

from __future__ import annotations

import subprocess

import pytest

from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.rabbitmq import whole_messages
from kubeprom.exporters.targets import KSM_TARGET, RABBITMQ_TARGET, ClusterExporters
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.exposition import parse_text
from tests.support.procs import require_binary

from .helpers import cluster, deployment, one, parse

T0 = 1_700_000_000.0
# 3 messages/s published, 10 waiting at the start; a ready pod takes 5 a second at 100m of
# CPU each (0.5 cores when busy), nothing when idle.
WORKER_LOAD = "{type: constant, rps: 3, cpu_per_request: 100m, baseline_cpu: '0'}"


def _worker(
    replicas: int = 0, queue: str = "{name: orders, consume_rate: 5, initial_messages: 10}"
):
    return cluster(
        deployment(
            "worker",
            replicas=replicas,
            resources="{requests: {cpu: 100m, memory: 64Mi}}",
            load=WORKER_LOAD,
            extra=f", startup_delay: 2s, queue: {queue}",
        ),
        deployment("web"),
    )


def _ready(c: SimulatedCluster) -> float:
    (q,) = c.queues()
    return q.messages_ready


def test_the_backlog_grows_without_consumers_and_drains_with_them() -> None:
    c = SimulatedCluster(_worker(), start_s=T0)
    c.advance_to(T0 + 10.5)  # 10 + 3/s x 10.5 s, read between ticks
    assert _ready(c) == pytest.approx(41.5)
    c.advance_to(T0 + 20)
    assert _ready(c) == pytest.approx(70.0)
    c.scale("default", "worker", 1)  # running and consuming 2 s later: -2/s net
    c.advance_to(T0 + 22)
    assert _ready(c) == pytest.approx(76.0)
    c.advance_to(T0 + 40)
    (q,) = c.queues()
    assert (q.messages_ready, q.messages_unacked, q.consumers) == pytest.approx((40.0, 1.0, 1))
    # The busy pod's CPU: 5 messages/s x 100m.
    assert c.deployment_usage().cpu_cores[0] == pytest.approx(0.5)
    # Drained at 42 + 40 / 2 = 62 s exactly; then the pod takes the 3/s as they come.
    c.advance_to(T0 + 62)
    assert _ready(c) == pytest.approx(0.0, abs=1e-9)
    c.advance_to(T0 + 100)
    (q,) = c.queues()
    assert (q.messages_ready, q.messages_unacked) == pytest.approx((0.0, 0.6))
    assert c.deployment_usage().cpu_cores[0] == pytest.approx(0.3)


def test_going_back_to_zero_pods_leaves_the_messages_waiting() -> None:
    c = SimulatedCluster(_worker(replicas=2), start_s=T0)  # warm: consuming from the start
    c.advance_to(T0 + 30)
    assert _ready(c) == pytest.approx(0.0, abs=1e-9)
    c.scale("default", "worker", 0)
    c.advance_to(T0 + 40)
    (q,) = c.queues()
    assert q.messages_ready == pytest.approx(30.0)
    assert q.consumers == 0


def test_the_broker_exports_whole_messages_per_queue_with_no_pod_running() -> None:
    c = SimulatedCluster(_worker(), start_s=T0)
    c.advance_to(T0 + 10.5)  # 41.5 messages: 41 whole ones
    samples = parse(ClusterExporters(c).render(RABBITMQ_TARGET, False)[0])
    labels = {"vhost": "/", "queue": "orders"}
    assert one(samples, "rabbitmq_queue_messages_ready", **labels).labels == labels
    values = {
        name: one(samples, name).value
        for name in (
            "rabbitmq_queue_messages_ready",
            "rabbitmq_queue_messages_unacked",
            "rabbitmq_queue_messages",
            "rabbitmq_queue_consumers",
            "rabbitmq_queues",
            "rabbitmq_consumers",
        )
    }
    assert values == {
        "rabbitmq_queue_messages_ready": 41.0,
        "rabbitmq_queue_messages_unacked": 0.0,
        "rabbitmq_queue_messages": 41.0,
        "rabbitmq_queue_consumers": 0.0,
        "rabbitmq_queues": 1.0,
        "rabbitmq_consumers": 0.0,
    }
    meta = parse_text(ClusterExporters(c).render(RABBITMQ_TARGET, False)[0]).metadata
    assert meta["rabbitmq_queue_messages_ready"].help == (
        "Messages ready to be delivered to consumers"
    )
    assert meta["rabbitmq_queue_messages_ready"].type.value == "gauge"


@pytest.mark.parametrize(
    ("amount", "whole"), [(0.0, 0.0), (41.5, 41.0), (2.9999999999999996, 3.0), (0.4, 0.0)]
)
def test_whole_messages(amount: float, whole: float) -> None:
    assert whole_messages(amount) == whole


def test_the_broker_is_a_target_only_with_a_queue_and_has_its_own_role() -> None:
    plain = ClusterExporters(SimulatedCluster(cluster(deployment("web")), start_s=T0))
    assert [t.target_id for t in plain.targets()][-1] == KSM_TARGET
    exporters = ClusterExporters(SimulatedCluster(_worker(), start_s=T0))
    targets = exporters.targets()
    broker = targets[-1]
    assert (broker.target_id, broker.url) == (
        RABBITMQ_TARGET,
        "http://rabbitmq.default.svc:15692/metrics/per-object",
    )
    (group,) = cluster_groups(targets, "rabbitmq")
    assert group.targets[0]["__meta_kubernetes_service_name"] == "rabbitmq"
    assert group.targets[0]["__meta_kubernetes_endpoint_port_name"] == "prometheus"
    (ksm,) = cluster_groups(targets, "kube-state-metrics")
    assert ksm.targets[0]["__meta_kubernetes_service_name"] == KSM_TARGET
    services = [
        g.targets[0]["__meta_kubernetes_service_name"] for g in cluster_groups(targets, "endpoints")
    ]
    assert services == [KSM_TARGET, "rabbitmq"]


def test_promtool_check_metrics_passes_on_the_broker() -> None:
    promtool = require_binary("promtool")  # in CI (CI=true) a missing promtool fails
    c = SimulatedCluster(_worker(replicas=1), start_s=T0)
    c.advance_to(T0 + 30)
    body, _ = ClusterExporters(c).render(RABBITMQ_TARGET, False)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_a_change_between_ticks_fixes_the_rates_for_the_rest_of_the_tick() -> None:
    # 3 warm pods take 15/s of 3/s + 10 waiting: all 13 the first tick, 10 net -> 5 at 0.5 s.
    c = SimulatedCluster(_worker(replicas=3), start_s=T0)
    c.advance_to(T0 + 0.5)
    assert _ready(c) == pytest.approx(5.0)
    # Two pods leave the endpoints: 10/s for the last half second, against 3/s + 5 / 0.5 s
    # (what would empty the queue by the tick's end): -7/s, 1.5 left at 1 s.
    c.scale("default", "worker", 2)
    c.advance_to(T0 + 1)
    assert _ready(c) == pytest.approx(1.5)
    c.advance_to(T0 + 2)  # 3/s + 1.5 is under 10/s: drained exactly
    assert _ready(c) == pytest.approx(0.0, abs=1e-9)
