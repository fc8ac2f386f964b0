"""kubectl's top logic over hand-written series (an in-memory store behind LocalQueryAPI):
label selectors through kube_pod_labels, staleness, counter resets, NotFound wording."""

from __future__ import annotations

import numpy as np
import pytest

from kubeprom.model import STALE_NAN, Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.top import (
    MetricsSource,
    NodeRequest,
    NotFound,
    PodRequest,
    TopError,
    top_node,
    top_pod,
)
from kubeprom.tsdb.memstore import MemStore

T_MS = 60_000
KUBELET = {"job": "kubelet"}
KSM = {"job": "kube-state-metrics"}
MI = 1024 * 1024


def series(
    store: MemStore, name: str, labels: dict[str, str], points: list[tuple[int, float]]
) -> None:
    t = np.array([p[0] for p in points], dtype=np.int64)
    v = np.array([p[1] for p in points], dtype=np.float64)
    store.add(Labels.from_dict({"__name__": name, **labels}), t, v)


def container(
    store: MemStore, ns: str, pod: str, node: str, cores: float, mib: int, *, last_s: int = 50
) -> None:
    labels = {**KUBELET, "namespace": ns, "pod": pod, "container": "app", "node": node}
    cpu = [(s * 1000, cores * s) for s in range(0, last_s + 1, 10)]
    series(store, "container_cpu_usage_seconds_total", labels, cpu)
    memory = [(s * 1000, float(mib * MI)) for s in range(0, last_s + 1, 10)]
    series(store, "container_memory_working_set_bytes", labels, memory)


@pytest.fixture
def store() -> MemStore:
    s = MemStore()
    container(s, "default", "web-1", "n1", 0.25, 100)
    container(s, "default", "web-2", "n2", 0.5, 200)
    container(s, "default", "db-1", "n1", 1.0, 300)
    for pod, app in (("web-1", "web"), ("web-2", "web"), ("db-1", "db")):
        labels = {**KSM, "namespace": "default", "pod": pod, "label_app": app}
        series(s, "kube_pod_labels", labels, [(50_000, 1.0)])
    for node in ("n1", "n2", "n3"):
        series(s, "kube_node_info", {**KSM, "node": node}, [(50_000, 1.0)])
    for node, cores in (("n1", 0.5), ("n2", 1.0)):
        cpu = [(t * 1000, cores * t) for t in range(0, 51, 10)]
        series(s, "node_cpu_usage_seconds_total", {**KUBELET, "node": node}, cpu)
        memory = [(t * 1000, float(MI)) for t in range(0, 51, 10)]
        series(s, "node_memory_working_set_bytes", {**KUBELET, "node": node}, memory)
    return s


def source(store: MemStore) -> MetricsSource:
    return MetricsSource(LocalQueryAPI(lambda: store), T_MS)


@pytest.mark.parametrize(
    ("selector", "pods"),
    [
        ("app=web", ["web-1", "web-2"]),
        ("app==db", ["db-1"]),
        ("app!=web", ["db-1"]),
        ("app in (db, web)", ["db-1", "web-1", "web-2"]),
        ("app notin (web)", ["db-1"]),
        ("app", ["db-1", "web-1", "web-2"]),
        ("!app", []),
        ("app=web,app!=web", []),
    ],
)
def test_label_selectors_use_kube_pod_labels(
    store: MemStore, selector: str, pods: list[str]
) -> None:
    result = top_pod(source(store), PodRequest(selector=selector))
    assert sorted(m.name for m in result.metrics) == pods
    assert (result.notice is None) == bool(pods)


def test_pod_usage_in_metrics_server_units(store: MemStore) -> None:
    result = top_pod(source(store), PodRequest(field_selector="spec.nodeName=n1"))
    usage = {m.name: (m.usage.cpu_nano, m.usage.memory_bytes, m.window_ms) for m in result.metrics}
    assert usage == {
        "web-1": (250_000_000, 100 * MI, 10_000),
        "db-1": (1_000_000_000, 300 * MI, 10_000),
    }


@pytest.mark.parametrize(
    "stale",
    [
        ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"),
        ("container_cpu_usage_seconds_total",),
    ],
    ids=["deleted-pod", "cpu-only"],
)
def test_stale_pods_are_gone(store: MemStore, stale: tuple[str, ...]) -> None:
    """A deleted pod's series end in a staleness marker: metrics-server no longer serves it,
    though irate over five minutes would still find two samples."""
    for name in stale:
        labels = {**KUBELET, "namespace": "default", "pod": "db-1", "container": "app"}
        series(store, name, {**labels, "node": "n1"}, [(55_000, STALE_NAN)])
    result = top_pod(source(store), PodRequest())
    assert sorted(m.name for m in result.metrics) == ["web-1", "web-2"]


def test_a_counter_reset_leaves_the_window_unknown(store: MemStore) -> None:
    labels = {**KUBELET, "namespace": "default", "pod": "web-1", "container": "app", "node": "n1"}
    # The counter read 12.5 at 50s; at 60s it has restarted from zero.
    series(store, "container_cpu_usage_seconds_total", labels, [(60_000, 0.5)])
    (web_1,) = [m for m in top_pod(source(store), PodRequest()).metrics if m.name == "web-1"]
    assert web_1.window_ms is None
    assert web_1.usage.cpu_nano == 50_000_000  # irate after a reset: 0.5 core-s over 10s


def test_nodes_listed_without_metrics_and_not_found(store: MemStore) -> None:
    result = top_node(source(store), NodeRequest())
    assert sorted(m.name for m in result.metrics) == ["n1", "n2"]
    assert sorted(result.available) == ["n1", "n2", "n3"]  # n3 prints as <unknown>
    with pytest.raises(NotFound) as info:
        top_node(source(store), NodeRequest(name="n3"))
    assert (
        info.value.line == 'Error from server (NotFound): nodemetrics.metrics.k8s.io "n3" not found'
    )
    with pytest.raises(NotFound) as info:
        top_node(source(store), NodeRequest(name="n4"))
    assert info.value.line == 'Error from server (NotFound): nodes "n4" not found'


def test_no_pod_information_at_all(store: MemStore) -> None:
    empty = MemStore()
    with pytest.raises(TopError, match=r"^metrics not available yet$"):
        top_node(source(empty), NodeRequest())
    result = top_pod(source(empty), PodRequest(namespace="kube-system"))
    assert (result.metrics, result.notice) == ([], "No resources found in kube-system namespace.")
    all_ns = top_pod(source(empty), PodRequest(all_namespaces=True))
    assert all_ns.notice == "No resources found"
