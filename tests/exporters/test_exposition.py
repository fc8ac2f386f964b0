"""What the exporters print: names, labels, values and timestamps, parsed back; promtool lint."""

from __future__ import annotations

import re
import subprocess

import pytest

from kubeprom.errors import KubepromError
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.targets import (
    KSM_TARGET,
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    ClusterExporters,
    cadvisor_target,
    resource_target,
    wants_openmetrics,
)
from kubeprom.exporters.views import HPAStatus, MetricValue
from kubeprom.scraper.exposition import ACCEPT_HEADER, parse_text
from tests.support.procs import require_binary
from tests.support.shared import shared_path

from .helpers import Sample, cluster, deployment, find, one, parse

T0 = 1_700_000_000.0


def _cluster() -> SimulatedCluster:
    web = deployment(
        replicas=2,
        load="{type: constant, rps: 10, cpu_per_request: 100m, baseline_cpu: 10m}",
    )  # 0.51 cores per pod against a 500m limit: throttled
    leaky = deployment(
        "leaky",
        replicas=1,
        namespace="batch",
        resources="{limits: {cpu: 200m, memory: 100Mi}}",
        load="{type: constant, rps: 0, baseline_memory: 64Mi, memory_leak_per_hour: 3600Mi}",
    )
    huge = deployment("huge", replicas=1, resources="{requests: {cpu: '64'}}")
    spec = cluster(web, leaky, huge, header="seed: 3\n  warm_start: false")
    c = SimulatedCluster(spec, start_s=T0)
    c.advance_to(T0 + 40.5)  # leaky started at +2, OOMKilled at +39 (64Mi + 37Mi > 100Mi)
    return c


@pytest.fixture(scope="module")
def sim() -> SimulatedCluster:
    return _cluster()


def _render(sim: SimulatedCluster, target: str, openmetrics: bool = False) -> list[Sample]:
    body, content_type = ClusterExporters(sim).render(target, openmetrics)
    assert content_type == (OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE)
    return parse(body, openmetrics=openmetrics)


def test_cadvisor_series_and_labels(sim: SimulatedCluster) -> None:
    samples = _render(sim, cadvisor_target("node-1"))
    pods = {p.name: p for p in sim.pods()}
    web = next(p for p in pods.values() if p.deployment == "web")
    app = web.containers[0]
    cid = app.container_id.removeprefix("containerd://")
    labels = {
        "container": "app",
        "cpu": "total",
        "id": f"/kubepods/burstable/pod{web.uid}/{cid}",
        "image": "docker.io/library/nginx:1.25",
        "name": cid,
        "namespace": "default",
        "pod": web.name,
    }
    cpu = one(samples, "container_cpu_usage_seconds_total", container="app", pod=web.name)
    assert cpu.labels == labels
    assert cpu.value == pytest.approx(app.usage.cpu_seconds)
    assert cpu.value == pytest.approx(0.5 * 38.5)  # capped at the limit since +2
    assert cpu.timestamp_ms is None
    pod_cpu = one(samples, "container_cpu_usage_seconds_total", container="", pod=web.name)
    assert pod_cpu.labels == {
        "cpu": "total",
        "id": f"/kubepods/burstable/pod{web.uid}",
        "namespace": "default",
        "pod": web.name,
    }  # the pod cgroup: container, image and name are empty, as cAdvisor prints them
    root = one(samples, "container_cpu_usage_seconds_total", id="/")
    assert root.value == pytest.approx(sim.node("node-1").usage.cpu_seconds)
    throttled = one(
        samples, "container_cpu_cfs_throttled_periods_total", container="app", pod=web.name
    )
    assert throttled.value == pytest.approx(385.0)  # every 100ms period since +2
    quota = one(samples, "container_spec_cpu_quota", container="app", pod=web.name)
    assert quota.value == 50_000.0  # 500m of a 100000us period
    assert one(samples, "container_spec_cpu_period", container="app", pod=web.name).value == 1e5
    limit = one(samples, "container_spec_memory_limit_bytes", container="app", pod=web.name)
    assert limit.value == 256 * 2**20
    ws = one(samples, "container_memory_working_set_bytes", container="app", pod=web.name)
    rss = one(samples, "container_memory_rss", container="app", pod=web.name)
    usage = one(samples, "container_memory_usage_bytes", container="app", pod=web.name)
    assert rss.value <= ws.value <= usage.value
    assert ws.value == app.usage.memory_working_set_bytes
    rx = one(samples, "container_network_receive_bytes_total", pod=web.name)
    assert rx.labels["interface"] == "eth0"
    assert "container" not in rx.labels  # network is the pod's
    assert rx.value == pytest.approx(5 * 800 * 38.5)  # 5 rps x 800 B since ready at +2
    start = one(samples, "container_start_time_seconds", container="app", pod=web.name)
    assert start.value == T0 + 2
    cores = one(samples, "machine_cpu_cores")
    assert cores.value == 4.0
    assert set(cores.labels) == {"boot_id", "machine_id", "system_uuid"}
    assert one(samples, "machine_memory_bytes").value == 16 * 2**30
    # The OOMKilled container waits to restart: no container series, the pod's remain.
    leaky = next(p for p in pods.values() if p.deployment == "leaky")
    assert find(samples, "container_cpu_usage_seconds_total", container="app", pod=leaky.name) == []
    assert len(find(samples, "container_cpu_usage_seconds_total", pod=leaky.name)) == 1
    huge = next(p for p in pods.values() if p.deployment == "huge")
    assert find(samples, "container_cpu_usage_seconds_total", pod=huge.name) == []


def test_cadvisor_cfs_series_only_where_a_quota_is_set() -> None:
    spec = cluster(deployment(resources="{requests: {cpu: 100m}}"))
    samples = _render(SimulatedCluster(spec, start_s=T0), cadvisor_target("node-1"))
    assert find(samples, "container_cpu_cfs_periods_total") == []
    assert find(samples, "container_spec_cpu_quota") == []
    assert len(find(samples, "container_spec_cpu_shares", container="app")) == 2


def test_resource_endpoint_has_explicit_timestamps(sim: SimulatedCluster) -> None:
    samples = _render(sim, resource_target("node-1"))
    now_ms = round(sim.now_s * 1000)
    stamped = {
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "pod_cpu_usage_seconds_total",
        "pod_memory_working_set_bytes",
        "node_cpu_usage_seconds_total",
        "node_memory_working_set_bytes",
    }
    for s in samples:
        assert s.timestamp_ms == (now_ms if s.name in stamped else None), s
    assert {s.name for s in samples} == stamped | {
        "container_start_time_seconds",
        "scrape_error",
        "resource_scrape_error",
    }
    web = next(p for p in sim.pods() if p.deployment == "web")
    cpu = one(samples, "container_cpu_usage_seconds_total", pod=web.name)
    assert cpu.labels == {"container": "app", "namespace": "default", "pod": web.name}
    assert cpu.value == pytest.approx(web.containers[0].usage.cpu_seconds)
    assert one(samples, "pod_memory_working_set_bytes", pod=web.name).labels == {
        "namespace": "default",
        "pod": web.name,
    }
    node = sim.node("node-1").usage
    assert one(samples, "node_cpu_usage_seconds_total").value == pytest.approx(node.cpu_seconds)
    assert one(samples, "resource_scrape_error").value == 0.0


def test_resource_timestamps_in_openmetrics(sim: SimulatedCluster) -> None:
    samples = _render(sim, resource_target("node-1"), openmetrics=True)
    node = one(samples, "node_cpu_usage_seconds_total")
    assert node.timestamp_ms == round(sim.now_s * 1000)


def test_kube_state_metrics(sim: SimulatedCluster) -> None:
    samples = _render(sim, KSM_TARGET)
    pods = {p.deployment: p for p in sim.pods()}
    web, leaky, huge = pods["web"], pods["leaky"], pods["huge"]
    info = one(samples, "kube_pod_info", pod=web.name)
    assert info.labels == {
        "namespace": "default",
        "pod": web.name,
        "uid": web.uid,
        "host_ip": sim.node("node-1").internal_ip,
        "pod_ip": web.pod_ip,
        "node": "node-1",
        "created_by_kind": "ReplicaSet",
        "created_by_name": web.owner_name,
        "host_network": "false",
    }
    phases = {
        s.labels["phase"]: s.value for s in find(samples, "kube_pod_status_phase", pod=huge.name)
    }
    assert phases == {
        "Pending": 1.0,
        "Running": 0.0,
        "Succeeded": 0.0,
        "Failed": 0.0,
        "Unknown": 0.0,
    }
    assert one(samples, "kube_pod_status_unschedulable", pod=huge.name).value == 1.0
    assert one(samples, "kube_pod_status_ready", pod=web.name, condition="true").value == 1.0
    assert one(samples, "kube_pod_status_ready", pod=leaky.name, condition="false").value == 1.0
    req = one(samples, "kube_pod_container_resource_requests", pod=web.name, resource="cpu")
    assert (req.value, req.labels["unit"], req.labels["node"]) == (0.1, "core", "node-1")
    lim = one(samples, "kube_pod_container_resource_limits", pod=web.name, resource="memory")
    assert (lim.value, lim.labels["unit"]) == (256 * 2**20, "byte")
    pending_req = one(samples, "kube_pod_container_resource_requests", pod=huge.name)
    assert pending_req.value == 64.0
    assert "node" not in pending_req.labels  # not bound yet: node=""
    assert one(samples, "kube_pod_container_status_restarts_total", pod=leaky.name).value == 1.0
    reason = one(samples, "kube_pod_container_status_last_terminated_reason", pod=leaky.name)
    assert reason.labels["reason"] == "OOMKilled"
    waiting = one(samples, "kube_pod_container_status_waiting_reason", pod=leaky.name)
    assert waiting.labels["reason"] == "CrashLoopBackOff"
    assert one(samples, "kube_pod_container_status_running", pod=leaky.name).value == 0.0
    assert one(samples, "kube_pod_container_status_waiting", pod=leaky.name).value == 1.0
    assert one(samples, "kube_pod_container_status_running", pod=web.name).value == 1.0
    owner = one(samples, "kube_pod_owner", pod=web.name)
    assert (owner.labels["owner_kind"], owner.labels["owner_name"]) == (
        "ReplicaSet",
        web.owner_name,
    )
    rs = one(samples, "kube_replicaset_owner", replicaset=web.owner_name)
    assert (rs.labels["owner_kind"], rs.labels["owner_name"]) == ("Deployment", "web")
    assert one(samples, "kube_deployment_spec_replicas", deployment="web").value == 2.0
    assert (
        one(samples, "kube_deployment_status_replicas_available", deployment="leaky").value == 0.0
    )
    assert one(samples, "kube_deployment_status_replicas_ready", deployment="web").value == 2.0
    cap = one(samples, "kube_node_status_capacity", node="node-1", resource="cpu")
    assert (cap.value, cap.labels["unit"]) == (4.0, "core")
    pods_alloc = one(samples, "kube_node_status_allocatable", resource="pods")
    assert (pods_alloc.value, pods_alloc.labels["unit"]) == (110.0, "integer")
    ready = one(samples, "kube_node_status_condition", condition="Ready", status="true")
    assert ready.value == 1.0
    assert one(samples, "kube_node_info").labels["internal_ip"] == sim.node("node-1").internal_ip
    assert not any(s.name.startswith("kube_horizontalpodautoscaler_") for s in samples)


def test_hpas_appear_once_published() -> None:
    c = _cluster()
    c.set_hpa(HPAStatus("default", "web", "web", 1, 10, 2, 4))
    samples = _render(c, KSM_TARGET)
    key = {"namespace": "default", "horizontalpodautoscaler": "web"}
    for name, value in (
        ("spec_min_replicas", 1.0),
        ("spec_max_replicas", 10.0),
        ("status_current_replicas", 2.0),
        ("status_desired_replicas", 4.0),
    ):
        sample = one(samples, f"kube_horizontalpodautoscaler_{name}")
        assert (sample.labels, sample.value) == (key, value)
    c.remove_hpa("default", "web")
    assert find(_render(c, KSM_TARGET), "kube_horizontalpodautoscaler_spec_min_replicas") == []


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def _by_series(samples: list[Sample]) -> dict[SeriesKey, tuple[str, int | None]]:
    """Each series' value (as ``float.hex``: exact, NaN equal to NaN) and timestamp."""
    out = {
        (s.name, tuple(sorted(s.labels.items()))): (s.value.hex(), s.timestamp_ms) for s in samples
    }
    assert len(out) == len(samples), "a series appears twice"
    return out


@pytest.mark.parametrize(
    ("target", "metric"),
    [
        (cadvisor_target("node-1"), "container_cpu_usage_seconds_total"),
        (resource_target("node-1"), "node_cpu_usage_seconds_total"),
        (KSM_TARGET, "kube_pod_info"),
    ],
    ids=["cadvisor", "resource", "kube-state-metrics"],
)
def test_openmetrics_and_text_carry_the_same_samples(
    sim: SimulatedCluster, target: str, metric: str
) -> None:
    text = _by_series(_render(sim, target))
    om = _by_series(_render(sim, target, openmetrics=True))
    assert any(name == metric for name, _ in text)
    # The same series in both formats, then the same value and timestamp for each: both
    # print floats as Go does (shortest round trip), so they parse back bit for bit.
    assert sorted(text) == sorted(om)
    assert text == om
    body, _ = ClusterExporters(sim).render(target, True)
    assert body.endswith(b"# EOF\n")


def test_types_and_help_are_the_real_exporters(sim: SimulatedCluster) -> None:
    exporters = ClusterExporters(sim)
    meta = {}
    for target in (cadvisor_target("node-1"), resource_target("node-1"), KSM_TARGET):
        meta[target] = parse_text(exporters.render(target, False)[0]).metadata
    cadvisor, resource, ksm = meta.values()
    assert cadvisor["container_cpu_usage_seconds_total"].type.value == "counter"
    assert (
        cadvisor["container_cpu_usage_seconds_total"].help
        == "Cumulative cpu time consumed in seconds."
    )
    assert cadvisor["container_memory_working_set_bytes"].type.value == "gauge"
    assert resource["node_cpu_usage_seconds_total"].help == (
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds"
    )
    assert ksm["kube_pod_info"].help == "[STABLE] Information about pod."
    assert ksm["kube_pod_container_status_restarts_total"].type.value == "counter"
    assert ksm["kube_pod_container_status_last_terminated_reason"].help == (
        "Describes the last reason the container was in terminated state."
    )


# Metric names kubernetes-mixin's rules and alerts use that these exporters serve.
MIXIN_NAMES = [
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_usage_seconds_total",
    "container_memory_cache",
    "container_memory_rss",
    "container_memory_swap",
    "container_memory_working_set_bytes",
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_updated",
    "kube_deployment_status_observed_generation",
    "kube_deployment_metadata_generation",
    "kube_node_info",
    "kube_node_spec_unschedulable",
    "kube_node_status_allocatable",
    "kube_node_status_capacity",
    "kube_node_status_condition",
    "kube_pod_container_resource_limits",
    "kube_pod_container_resource_requests",
    "kube_pod_container_status_waiting_reason",
    "kube_pod_info",
    "kube_pod_owner",
    "kube_pod_status_phase",
    "kube_pod_status_ready",
    "kube_replicaset_owner",
]


def test_the_names_kubernetes_mixin_uses_are_served(sim: SimulatedCluster) -> None:
    mixin = shared_path("conformance", "rules", "kubernetes-mixin")
    rules = "".join(p.read_text() for p in sorted(mixin.glob("prometheus_*.yaml")))
    if not rules:
        pytest.fail(f"no kubernetes-mixin rules found in {mixin}")
    used = set(re.findall(r"\b[a-z_]+[a-z]\b", rules))
    assert [n for n in MIXIN_NAMES if n not in used] == []
    exporters = ClusterExporters(sim)
    served = {
        s.name
        for target in (cadvisor_target("node-1"), resource_target("node-1"), KSM_TARGET)
        for s in parse(exporters.render(target, False)[0])
    }
    assert [n for n in MIXIN_NAMES if n not in served] == []
    # The mixin selects cAdvisor container series with image!="" and reads their labels.
    cpu = find(_render(sim, cadvisor_target("node-1")), "container_cpu_usage_seconds_total")
    assert any(s.labels.get("image") and s.labels.get("container") for s in cpu)


def test_unknown_targets_are_rejected(sim: SimulatedCluster) -> None:
    with pytest.raises(KubepromError, match="unknown exporter target 'kubelet/nope/cadvisor'"):
        ClusterExporters(sim).render("kubelet/nope/cadvisor", False)


@pytest.mark.parametrize(
    ("accept", "want"),
    [
        (ACCEPT_HEADER, True),
        ("application/openmetrics-text; version=1.0.0", True),
        ("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5", False),
        ("text/plain; version=0.0.4", False),
        ("*/*", False),
        (None, False),
        ("application/openmetrics-text;q=0", False),
    ],
    ids=["prometheus", "om-only", "text-preferred", "text", "any", "none", "om-refused"],
)
def test_accept_negotiation(accept: str | None, want: bool) -> None:
    assert wants_openmetrics(accept) is want


def _promtool() -> str:
    return require_binary("promtool")  # in CI (CI=true) a missing promtool fails


@pytest.mark.parametrize(
    "target", [cadvisor_target("node-1"), resource_target("node-1"), KSM_TARGET]
)
def test_promtool_check_metrics_passes(sim: SimulatedCluster, target: str) -> None:
    promtool = _promtool()
    c = _cluster()
    c.set_hpa(
        HPAStatus(
            "default",
            "web",
            "web",
            1,
            10,
            2,
            4,
            labels={"team": "a", "app.kubernetes.io/name": "web"},
            target_api_version="apps/v1",
            created_s=1_700_000_000.0,
            spec_metrics=(MetricValue("cpu", "utilization", 50.0),),
            status_metrics=(
                MetricValue("cpu", "utilization", 45.0),
                MetricValue("cpu", "average", 0.045),
            ),
            conditions=(("AbleToScale", "true"), ("ScalingActive", "false")),
            scale_up_tolerance=0.05,
            scale_down_tolerance=0.1,
        )
    )
    body, _ = ClusterExporters(c).render(target, False)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_promtool_would_catch_a_bad_exposition() -> None:
    """Guards the lint test: promtool really reads stdin and fails on findings."""
    promtool = _promtool()
    bad = b"# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=bad, capture_output=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert b"_total" in result.stdout + result.stderr
