"""Scaling the simulated cluster: termination, scheduling reasons, quotas, events, usage."""

from __future__ import annotations

import pytest

from kubeprom.errors import ConfigError
from kubeprom.exporters.cluster import RS_BACKOFF_BASE_S, SimulatedCluster

from .helpers import cluster, deployment, spec

T0 = 1_700_000_000.0
COLD = "seed: 1\n  warm_start: false"


def _events(c: SimulatedCluster, reason: str) -> list[tuple[str, str, int]]:
    return [(e.involved.name, e.message, e.count) for e in c.events.events() if e.reason == reason]


def test_a_removed_pod_terminates_for_its_grace_period_serving_nothing() -> None:
    dep = deployment(
        replicas=2,
        load="{type: constant, rps: 40, cpu_per_request: 10m, baseline_cpu: 0}",
        extra="",
    ).replace("template: {spec: {", "template: {spec: {terminationGracePeriodSeconds: 20, ")
    c = SimulatedCluster(cluster(dep), start_s=T0)
    before = {p.name: p for p in c.pods()}
    c.advance_to(T0 + 10)
    c.scale("default", "web", 1)
    c.advance_to(T0 + 11)
    pods = c.pods()
    (gone,) = [p for p in pods if p.deletion_s is not None]
    (kept,) = [p for p in pods if p.deletion_s is None]
    assert gone.deletion_s == T0 + 10
    assert c.deployment("default", "web").replicas == 1
    assert c.deployment("default", "web").terminating_replicas == 1
    # The whole load (40 rps x 10m) goes to the pod that stays; the other burns nothing.
    cpu_before = {p.name: p.usage.cpu_seconds for p in pods}
    c.advance_to(T0 + 15)
    after = {p.name: p.usage.cpu_seconds for p in c.pods()}
    assert after[kept.name] - cpu_before[kept.name] == pytest.approx(1.6)
    assert after[gone.name] - cpu_before[gone.name] == pytest.approx(0.0)
    # Still on its node until the grace period ends, then gone.
    node = c.node(gone.node or "")
    assert len(c.pods(node=node.name)) >= 1
    c.advance_to(T0 + 29)
    assert gone.name in {p.name for p in c.pods()}
    c.advance_to(T0 + 30)
    assert {p.name for p in c.pods()} == {kept.name}
    assert set(before) >= {kept.name, gone.name}
    rs = c.deployment("default", "web").replicaset
    assert _events(c, "SuccessfulDelete") == [(rs, f"Deleted pod: {gone.name}", 1)]
    assert _events(c, "ScalingReplicaSet") == [
        ("web", f"Scaled down replica set {rs} from 2 to 1", 1)
    ]


def test_a_pod_that_fits_nowhere_carries_the_schedulers_reason() -> None:
    nodes = (
        '{name: a, capacity: {cpu: "1", memory: 8Gi}}, '
        '{name: b, capacity: {cpu: "4", memory: 1Gi}}, '
        '{name: c, capacity: {cpu: "4", memory: 8Gi, pods: 1}}'
    )
    res = "{requests: {cpu: 2, memory: 2Gi}}"
    big = deployment("big", replicas=1, resources=res)
    web = deployment(replicas=1, resources=res)
    c = SimulatedCluster(cluster(big, web, nodes=nodes), start_s=T0)
    pods = c.pods()
    (pending,) = [p for p in pods if p.node is None]
    assert pending.deployment == "web"
    assert pending.unschedulable
    assert pending.schedule_message == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )
    assert _events(c, "FailedScheduling") == [(pending.name, pending.schedule_message, 1)]
    # Room appears when the bound pod terminates and leaves: the pending one is scheduled.
    c.scale("default", "big", 0)
    c.advance_to(T0 + 29)
    assert [p.node for p in c.pods() if p.deployment == "web"] == [None]
    c.advance_to(T0 + 30)
    (pod,) = c.pods()
    assert (pod.name, pod.node, pod.unschedulable) == (pending.name, "c", False)
    assert _events(c, "Scheduled")[-1] == (
        pod.name,
        f"Successfully assigned default/{pod.name} to c",
        1,
    )


QUOTA = "[{metadata: {name: compute, namespace: default}, spec: {hard: {pods: '3', %s}}}]"


def test_a_quota_holds_pods_back_and_the_deployment_reports_replica_failure() -> None:
    quota = QUOTA % "requests.cpu: 250m, limits.memory: 1Gi"
    c = SimulatedCluster(cluster(deployment(replicas=2), quotas=quota), start_s=T0)
    c.scale("default", "web", 4)
    info = c.deployment("default", "web")
    assert (info.spec_replicas, info.replicas) == (4, 2)
    message = (
        f'pods "{info.replicaset}-" is forbidden: exceeded quota: compute, requested: '
        "requests.cpu=100m, used: requests.cpu=200m, limited: requests.cpu=250m"
    )
    assert info.replica_failure == message
    assert info.replica_failure_s == T0
    assert _events(c, "FailedCreate") == [(info.replicaset, f"Error creating: {message}", 1)]
    # Retries back off: 5 ms, 10 ms, ... each refused again, counted on the one event.
    c.advance_to(T0 + 3)
    (_, _, count) = _events(c, "FailedCreate")[0]
    assert count > 2
    # The quota frees up when another pod goes: the next retry creates the third pod and
    # the fourth is refused on pods instead.
    c.scale("default", "web", 1)
    c.advance_to(T0 + 40)
    c.scale("default", "web", 4)
    info = c.deployment("default", "web")
    assert info.replicas == 2
    assert info.replica_failure is not None
    assert "exceeded quota: compute, requested: requests.cpu=100m" in info.replica_failure


def test_pods_quota_message_and_recovery_after_back_off() -> None:
    quota = "[{metadata: {name: small, namespace: default}, spec: {hard: {pods: '2'}}}]"
    web = deployment(replicas=2)
    api = deployment("api", replicas=0)
    c = SimulatedCluster(cluster(web, api, quotas=quota), start_s=T0)
    c.scale("default", "api", 1)
    info = c.deployment("default", "api")
    assert info.replica_failure == (
        f'pods "{info.replicaset}-" is forbidden: exceeded quota: small, requested: pods=1, '
        "used: pods=2, limited: pods=2"
    )
    c.scale("default", "web", 1)
    c.advance_to(T0 + 29)  # the web pod still terminates: it still counts
    assert c.deployment("default", "api").replicas == 0
    c.advance_to(T0 + 200)  # gone; the api ReplicaSet's next retry succeeds
    info = c.deployment("default", "api")
    assert (info.replicas, info.replica_failure) == (1, None)
    assert RS_BACKOFF_BASE_S == 0.005


def test_a_quota_on_limits_needs_every_container_to_set_them() -> None:
    quota = QUOTA % "limits.cpu: '4', requests.memory: 1Gi"
    res = "{requests: {cpu: 100m}}"
    c = SimulatedCluster(cluster(deployment(replicas=1, resources=res), quotas=quota), start_s=T0)
    info = c.deployment("default", "web")
    assert info.replicas == 0
    assert info.replica_failure == (
        f'pods "{info.replicaset}-" is forbidden: failed quota: compute: must specify '
        "limits.cpu for: app; requests.memory for: app"
    )


def test_memory_quantities_print_as_the_api_server_prints_them() -> None:
    quota = QUOTA % "requests.memory: 1Gi"
    res = "{requests: {cpu: 100m, memory: 384Mi}}"
    c = SimulatedCluster(cluster(deployment(replicas=3, resources=res), quotas=quota), start_s=T0)
    info = c.deployment("default", "web")
    assert info.replica_failure == (
        f'pods "{info.replicaset}-" is forbidden: exceeded quota: compute, requested: '
        "requests.memory=384Mi, used: requests.memory=768Mi, limited: requests.memory=1Gi"
    )


def test_ready_transition_times_follow_the_pod() -> None:
    c = SimulatedCluster(cluster(deployment(replicas=1, readiness=5), header=COLD), start_s=T0)
    (pod,) = c.pods()
    assert (pod.ready, pod.ready_changed_s) == (False, T0)  # bound at once: Ready=False
    c.advance_to(T0 + 10)  # started at +2, ready at +7
    (pod,) = c.pods()
    assert (pod.ready, pod.ready_changed_s) == (True, T0 + 7)


def test_container_usage_columns() -> None:
    c = SimulatedCluster(cluster(deployment(replicas=2)), start_s=T0)
    c.advance_to(T0 + 10)
    usage = c.container_usage()
    pods = c.pods()
    assert sorted(usage.pod.tolist()) == sorted(p.name for p in pods)
    assert set(usage.container.tolist()) == {"app"}
    assert set(usage.namespace.tolist()) == {"default"}
    by_pod = {p.name: p.containers[0].usage for p in pods}
    for name, cpu, mem in zip(usage.pod, usage.cpu_seconds, usage.memory_bytes, strict=True):
        assert cpu == by_pod[str(name)].cpu_seconds
        assert mem == by_pod[str(name)].memory_working_set_bytes
    assert usage.t_s == T0 + 10


def _quota_error(hard: str) -> str:
    text = f"""
        cluster:
          nodes: [{{name: n, capacity: {{cpu: "1", memory: 1Gi}}}}]
          resource_quotas:
            - metadata: {{name: q}}
              spec:
                hard: {hard}
        """
    with pytest.raises(ConfigError) as info:
        spec(text)
    return str(info.value)


@pytest.mark.parametrize(
    ("hard", "message"),
    [
        (
            "{services: '3'}",
            "test.yml:7:16: cluster.resource_quotas[0].spec.hard.services: resource "
            "'services' cannot be limited here; expected one of cpu, limits.cpu, limits.memory, "
            "memory, pods, requests.cpu, requests.memory",
        ),
        (
            "{pods: '-1'}",
            "test.yml:7:22: cluster.resource_quotas[0].spec.hard.pods: must be greater than "
            "or equal to 0, got '-1'",
        ),
        (
            "{pods: '1.5'}",
            "test.yml:7:22: cluster.resource_quotas[0].spec.hard.pods: must be an integer, "
            "got '1.5'",
        ),
        (
            "{cpu: lots}",
            "test.yml:7:21: cluster.resource_quotas[0].spec.hard.cpu: cannot parse quantity "
            "'lots': quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
    ],
    ids=["unknown-resource", "negative", "fractional-pods", "bad-quantity"],
)
def test_quota_errors_name_the_field(hard: str, message: str) -> None:
    assert _quota_error(hard) == message


def test_a_selector_must_select_the_template() -> None:
    text = """
        cluster:
          nodes: [{name: n, capacity: {cpu: "1", memory: 1Gi}}]
          deployments:
            - metadata: {name: web}
              spec:
                selector: {matchLabels: {app: api}}
                template:
                  metadata: {labels: {app: web}}
                  spec: {containers: [{name: a, image: x}]}
        """
    with pytest.raises(
        ConfigError, match=r"test\.yml:7:19: cluster\.deployments\[0\]\.spec"
    ) as info:
        spec(text)
    assert str(info.value).endswith(
        "selector: selector 'app=api' does not match the template's labels 'app=web'"
    )


def test_selector_expressions_become_the_scale_selector() -> None:
    text = """
        cluster:
          nodes: [{name: n, capacity: {cpu: "1", memory: 1Gi}}]
          deployments:
            - metadata: {name: web}
              spec:
                selector:
                  matchLabels: {app: web}
                  matchExpressions: [{key: tier, operator: In, values: [b, a]}]
                template:
                  metadata: {labels: {app: web, tier: a}}
                  spec: {containers: [{name: a, image: x}]}
        """
    c = SimulatedCluster(spec(text), start_s=T0)
    assert c.deployment("default", "web").selector == "app=web,tier in (a,b)"
