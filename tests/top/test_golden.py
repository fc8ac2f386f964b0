"""``kubeprom top`` over five minutes of a simulated cluster with constant load, against
tables computed by hand from the load model (see tests/top/cluster.py for the arithmetic).

Node figures, by hand: node-a runs its 100m/512Mi overhead plus one pod of each Deployment,
100 + 240 (web: 2 containers x 120m) + 22 (api) + 16 (worker) = 378m of 3800m allocatable
(9.94% -> 9%), 512 + 240 + 60 + 201.5 = 1013.5Mi -> 1013Mi of 7Gi (14.1% -> 14%); node-b
50 + 278 = 328m of 1900m (17.2% -> 17%), 256 + 501.5 = 757.5Mi -> 757Mi of 3Gi (24.6% -> 24%).
Against capacity (4 cores / 8Gi, 2 cores / 4Gi): 9%, 12%, 16%, 18%.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kubeprom.cli.main import main
from kubeprom.exporters import SimulatedCluster
from tests.support.procs import free_port
from tests.top.cluster import NO_KUBELET_CONFIG, START_S, scrape_cluster


@dataclass(frozen=True)
class Scraped:
    data: Path
    cluster: SimulatedCluster

    def pod(self, deployment: str, node: str) -> str:
        (name,) = [
            p.name for p in self.cluster.pods() if p.deployment == deployment and p.node == node
        ]
        return name


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Scraped:
    data = tmp_path_factory.mktemp("top-data")
    return Scraped(data, scrape_cluster(data))


@pytest.fixture(scope="module")
def no_kubelet(tmp_path_factory: pytest.TempPathFactory) -> Scraped:
    data = tmp_path_factory.mktemp("top-no-kubelet")
    return Scraped(data, scrape_cluster(data, config_yaml=NO_KUBELET_CONFIG))


def top(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["top", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = top(capsys, *argv)
    assert (code, err) == (0, ""), err
    return out


NODES = (
    "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n"
    "node-a   378m         9%       1013Mi          14%         \n"
    "node-b   328m         17%      757Mi           24%         \n"
)


def test_top_node(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    assert ok(capsys, "node", "--data", str(scraped.data)) == NODES
    kubelet = 'job="kubelet", metrics_path!="/metrics/cadvisor"'  # kube-prometheus style
    assert ok(capsys, "node", "--kubelet-matchers", kubelet, "--data", str(scraped.data)) == NODES


def test_top_node_show_capacity(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    assert ok(capsys, "nodes", "--data", str(scraped.data), "--show-capacity") == (
        "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n"
        "node-a   378m         9%       1013Mi          12%         \n"
        "node-b   328m         16%      757Mi           18%         \n"
    )


def test_top_node_by_name_and_by_selector(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    node_b = (
        "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n"
        "node-b   328m         17%      757Mi           24%         \n"
    )
    assert ok(capsys, "no", "node-b", "--data", str(scraped.data)) == node_b
    zone_b = ["-l", "topology.kubernetes.io/zone=b"]
    assert ok(capsys, "node", *zone_b, "--data", str(scraped.data)) == node_b
    assert ok(
        capsys, "node", "-l", "topology.kubernetes.io/zone notin (b)", "--data", str(scraped.data)
    ) == (
        "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n"
        "node-a   378m         9%       1013Mi          14%         \n"
    )


def test_top_node_sorted_without_headers(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ok(capsys, "node", "--data", str(scraped.data), "--sort-by=memory", "--no-headers")
    assert out == ("node-a   378m   9%    1013Mi   14%   \nnode-b   328m   17%   757Mi    24%   \n")


def test_top_pod_default_namespace(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    api = sorted([scraped.pod("api", "node-a"), scraped.pod("api", "node-b")])
    web = sorted([scraped.pod("web", "node-a"), scraped.pod("web", "node-b")])
    assert [len(n) for n in api + web] == [20] * 4  # <deployment>-<10 hash>-<5 suffix>
    assert ok(capsys, "pod", "--data", str(scraped.data)) == (
        "NAME                   CPU(cores)   MEMORY(bytes)   \n"
        f"{api[0]}   22m          60Mi            \n"
        f"{api[1]}   22m          60Mi            \n"
        f"{web[0]}   240m         240Mi           \n"
        f"{web[1]}   240m         240Mi           \n"
    )


def test_top_pod_label_selector_uses_kube_pod_labels(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    web = sorted([scraped.pod("web", "node-a"), scraped.pod("web", "node-b")])
    assert ok(capsys, "pod", "-l", "app=web", "--data", str(scraped.data)) == (
        "NAME                   CPU(cores)   MEMORY(bytes)   \n"
        f"{web[0]}   240m         240Mi           \n"
        f"{web[1]}   240m         240Mi           \n"
    )
    assert (
        ok(
            capsys,
            "pod",
            "-l",
            "app in (api,worker)",
            "-A",
            "--no-headers",
            "--data",
            str(scraped.data),
        ).count("\n")
        == 4
    )


def test_top_pod_all_namespaces_sorted_by_cpu(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = sorted([scraped.pod("worker", "node-a"), scraped.pod("worker", "node-b")])
    api = sorted([scraped.pod("api", "node-a"), scraped.pod("api", "node-b")])
    web = sorted([scraped.pod("web", "node-a"), scraped.pod("web", "node-b")])
    out = ok(capsys, "pods", "-A", "--sort-by", "cpu", "--data", str(scraped.data))
    assert out == (
        "NAMESPACE   NAME                      CPU(cores)   MEMORY(bytes)   \n"
        f"default     {web[0]}      240m         240Mi           \n"
        f"default     {web[1]}      240m         240Mi           \n"
        f"default     {api[0]}      22m          60Mi            \n"
        f"default     {api[1]}      22m          60Mi            \n"
        f"batch       {worker[0]}   16m          201Mi           \n"
        f"batch       {worker[1]}   16m          201Mi           \n"
    )


def test_top_pod_containers_with_sum(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    web_b = scraped.pod("web", "node-b")
    api_b = scraped.pod("api", "node-b")
    worker_b = scraped.pod("worker", "node-b")
    argv = ["po", "-A", "--containers", "--sum", "--field-selector", "spec.nodeName=node-b"]
    assert ok(capsys, *argv, "--data", str(scraped.data)) == (
        "NAMESPACE   POD                       NAME      CPU(cores)   MEMORY(bytes)   \n"
        f"batch       {worker_b}   worker    16m          201Mi           \n"
        f"default     {api_b}      api       22m          60Mi            \n"
        f"default     {web_b}      nginx     120m         120Mi           \n"
        f"default     {web_b}      sidecar   120m         120Mi           \n"
        "                                                ________     ________        \n"
        "                                                278m         501Mi           \n"
    )


def test_top_pod_by_name(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    worker = scraped.pod("worker", "node-a")
    argv = ["pod", worker, "-n", "batch", "--containers", "--data", str(scraped.data)]
    assert ok(capsys, *argv) == (
        "POD                       NAME     CPU(cores)   MEMORY(bytes)   \n"
        f"{worker}   worker   16m          201Mi           \n"
    )


def test_json_is_a_pod_metrics_list(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "pod", "-n", "batch", "-o", "json", "--data", str(scraped.data))
    doc = json.loads(out)
    assert list(doc) == ["kind", "apiVersion", "metadata", "items"]
    assert (doc["kind"], doc["apiVersion"], doc["metadata"]) == (
        "PodMetricsList",
        "metrics.k8s.io/v1beta1",
        {},
    )
    names = sorted([scraped.pod("worker", "node-a"), scraped.pod("worker", "node-b")])
    assert [i["metadata"]["name"] for i in doc["items"]] == names
    item = doc["items"][0]
    assert item["metadata"]["namespace"] == "batch"
    # 201.5Mi is not a whole number of Mi: the canonical quantity is in Ki.
    assert item["containers"] == [{"name": "worker", "usage": {"cpu": "16m", "memory": "206336Ki"}}]
    assert item["window"] == "10s"  # the scrape interval: the two newest samples
    assert item["timestamp"].startswith("2027-01-15T08:04:")
    assert item["timestamp"].endswith("Z")
    as_yaml = ok(capsys, "pod", "-n", "batch", "-o", "yaml", "--data", str(scraped.data))
    assert yaml.safe_load(as_yaml) == doc


def test_json_is_a_node_metrics_list(scraped: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(ok(capsys, "node", "-o", "json", "--data", str(scraped.data)))
    assert doc["kind"] == "NodeMetricsList"
    assert [(i["metadata"]["name"], i["usage"], i["window"]) for i in doc["items"]] == [
        ("node-a", {"cpu": "378m", "memory": "1037824Ki"}, "10s"),  # 1013.5Mi = 1013.5 * 1024 Ki
        ("node-b", {"cpu": "328m", "memory": "775680Ki"}, "10s"),  # 757.5Mi
    ]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["node", "node-z"], 'Error from server (NotFound): nodes "node-z" not found'),
        (["pod", "web-x"], 'Error from server (NotFound): pods "web-x" not found'),
        (["pod", "--sort-by", "name"], "error: --sort-by accepts only cpu or memory"),
        (
            ["node", "node-a", "-l", "a=b"],
            "error: only one of NAME or --selector can be provided",
        ),
        (
            ["pod", "x", "--field-selector", "spec.nodeName=a"],
            "error: only one of NAME or selector can be provided",
        ),
        (
            ["pod", "--field-selector", "status.phase=Running"],
            "Error from server (BadRequest): field label not supported: status.phase",
        ),
        (["node", "-l", "a=b=c"], "error: unable to parse requirement: cannot parse 'a=b=c'"),
        (
            ["node", "--time", str(START_S - 60)],
            "error: metrics not available yet",
        ),
        (
            ["node", "--kubelet-matchers", 'job="not-the-kubelet"'],
            "error: metrics not available yet",
        ),
    ],
    ids=[
        "unknown-node",
        "unknown-pod",
        "bad-sort-by",
        "name-and-selector",
        "pod-name-and-field-selector",
        "unsupported-field",
        "bad-selector",
        "before-any-data",
        "other-kubelet-job",
    ],
)
def test_errors_are_one_kubectl_line(
    scraped: Scraped, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    assert top(capsys, *argv, "--data", str(scraped.data)) == (1, "", line + "\n")


def test_an_empty_namespace_is_a_notice(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = top(capsys, "pod", "-n", "nothing", "--data", str(scraped.data))
    assert (code, out, err) == (0, "", "No resources found in nothing namespace.\n")


def test_pods_without_metrics(no_kubelet: Scraped, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(no_kubelet.data)
    assert top(capsys, "node", "--data", data) == (1, "", "error: metrics not available yet\n")
    batch = [p.name for p in no_kubelet.cluster.pods() if p.namespace == "batch"]
    worker = min(batch)  # kubectl reports the first pod it lists
    code, out, err = top(capsys, "pod", "-n", "batch", "--data", data)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: Metrics not available for pod batch/{worker}, age: ")
    assert top(capsys, "pod", worker, "-n", "batch", "--data", data) == (
        1,
        "",
        f'Error from server (NotFound): podmetrics.metrics.k8s.io "batch/{worker}" not found\n',
    )


def test_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert top(capsys, "node", "--server", f"http://127.0.0.1:{port}") == (
        1,
        "",
        f"The connection to the server 127.0.0.1:{port} was refused - "
        "did you specify the right host or port?\n",
    )


def test_missing_data_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert top(capsys, "pod", "--data", str(missing)) == (
        1,
        "",
        f"error: data directory {str(missing)!r} does not exist\n",
    )
    assert not missing.exists()
