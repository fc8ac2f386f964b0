"""Beyond kubectl: ``-o wide``, ``--utilization``, ``--window`` and ``--watch``.

Requests and limits, by hand from tests/top/cluster.py: web pods request 100m+50m = 150m
and 64Mi+32Mi = 96Mi, api 50m/64Mi, worker 50m/256Mi; nothing sets limits. Each node runs
one pod of each: 250m and 416Mi requested.
"""

from __future__ import annotations

import io

import pytest

from kubeprom.cli.main import main
from kubeprom.cli.top_cmd import CLEAR_SCREEN, watch_loop
from kubeprom.top.queries import Queries
from tests.top.cluster import scrape_cluster

STEP_CLUSTER = """
cluster:
  seed: 3
  nodes:
    - name: solo
      capacity: {cpu: "2", memory: 4Gi, pods: 110}
      overhead: {cpu: 100m, memory: 100Mi}
  deployments:
    # 0 rps until 4m, then 10 rps: CPU 0 -> 100m, memory 10Mi -> 20Mi.
    - metadata: {name: jobs, namespace: default}
      spec:
        replicas: 1
        template:
          spec:
            containers:
              - {name: run, image: "run:1", resources: {requests: {cpu: 100m, memory: 10Mi},
                 limits: {cpu: 400m, memory: 40Mi}}}
      load: {type: step, at: 4m, from: 0, to: 10, cpu_per_request: 10m, baseline_cpu: 0,
             memory_per_rps: 1Mi, baseline_memory: 10Mi, noise: 0}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("top-extras")
    scrape_cluster(path)
    return str(path)


@pytest.fixture(scope="module")
def step_data(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("top-step")
    scrape_cluster(path, cluster_yaml=STEP_CLUSTER)
    return str(path)


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["top", *argv])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return out


def test_wide_nodes(data: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ok(capsys, "node", "-o", "wide", "--data", data) == (
        "NAME     CPU(cores)   CPU(%)   CPU(requests)   CPU(limits)   "
        "MEMORY(bytes)   MEMORY(%)   MEMORY(requests)   MEMORY(limits)   \n"
        "node-a   378m         9%       250m            <none>        "
        "1013Mi          14%         416Mi              <none>           \n"
        "node-b   328m         17%      250m            <none>        "
        "757Mi           24%         416Mi              <none>           \n"
    )


def test_wide_pods_with_utilization(data: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "pod", "-n", "batch", "-o", "wide", "--utilization", "--data", data)
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "CPU(cores)",
        "CPU(requests)",
        "CPU(limits)",
        "CPU(%requests)",
        "CPU(%limits)",
        "MEMORY(bytes)",
        "MEMORY(requests)",
        "MEMORY(limits)",
        "MEMORY(%requests)",
        "MEMORY(%limits)",
        "NODE",
    ]
    # worker: 16m of 50m = 32%; 201.5Mi of 256Mi = 78.7% -> 78%.
    rows = sorted(line.split()[1:] for line in lines[1:])
    assert rows == [
        ["16m", "50m", "<none>", "32%", "<none>", "201Mi", "256Mi", "<none>", "78%", "<none>", n]
        for n in ("node-a", "node-b")
    ]


def test_utilization_of_containers(data: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "pod", "--containers", "--utilization", "--data", data)
    by_container = {tuple(line.split()[1:]) for line in out.splitlines()[1:]}
    # nginx 120m of 100m, 120Mi of 64Mi; sidecar 120m of 50m, 120Mi of 32Mi; api 22m of 50m.
    assert by_container == {
        ("nginx", "120m", "120%", "<none>", "120Mi", "187%", "<none>"),
        ("sidecar", "120m", "240%", "<none>", "120Mi", "375%", "<none>"),
        ("api", "22m", "44%", "<none>", "60Mi", "93%", "<none>"),
    }


def test_window_of_constant_load_is_the_same_table(
    data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = ok(capsys, "node", "--data", data)
    assert ok(capsys, "node", "--window", "2m", "--data", data) == plain
    assert '"window": "2m0s"' in ok(capsys, "node", "--window", "2m", "-o", "json", "--data", data)


def test_window_averages(step_data: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The last two scrapes see the step's 100m; two minutes, half of them before the step,
    average to about 50m (PromQL's rate extrapolates to the window's edges)."""
    now = ok(capsys, "pod", "--no-headers", "--data", step_data).split()
    assert now[1:] == ["100m", "20Mi"]
    avg = ok(capsys, "pod", "--no-headers", "--window", "2m", "--data", step_data).split()
    cpu_milli, memory_mi = int(avg[1].removesuffix("m")), int(avg[2].removesuffix("Mi"))
    assert 40 <= cpu_milli <= 60
    assert 14 <= memory_mi <= 16
    wide = ok(capsys, "pod", "-o", "wide", "--utilization", "--data", step_data).split("\n")
    # 100m of 100m requested and 400m limit; 20Mi of 10Mi requested and a 40Mi limit.
    assert wide[1].split()[1:-1] == [
        "100m", "100m", "400m", "100%", "25%", "20Mi", "10Mi", "40Mi", "200%", "50%"
    ]  # fmt: skip


def test_window_queries_average() -> None:
    q = Queries(window_ms=120_000).container_usage()
    sel = 'container_cpu_usage_seconds_total{job="kubelet", container!=""}'
    assert q.cpu == f"rate({sel}[2m]) and {sel}"
    assert q.memory.startswith("avg_over_time(container_memory_working_set_bytes{")
    assert q.window is None
    last_two = Queries().node_usage()
    assert last_two.cpu == (
        'irate(node_cpu_usage_seconds_total{job="kubelet"}[5m]) '
        'and node_cpu_usage_seconds_total{job="kubelet"}'
    )


def test_watch_redraws_in_place() -> None:
    frames = iter(["first\n", "second\n", "third\n"])
    slept: list[float] = []
    out = io.StringIO()
    watch_loop(lambda: next(frames), 2.5, out, slept.append, rounds=3)
    assert out.getvalue() == f"{CLEAR_SCREEN}first\n{CLEAR_SCREEN}second\n{CLEAR_SCREEN}third\n"
    assert slept == [2.5, 2.5]


def test_watch_needs_a_server(data: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "node", "--watch=1s", "--data", data]) == 1
    assert capsys.readouterr().err == (
        "error: --watch follows a --server at the current time: drop --data and --time\n"
    )


def test_wide_table_with_sum_lines_up_under_usage(
    data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ok(capsys, "pod", "-n", "batch", "-o", "wide", "--sum", "--data", data)
    lines = out.splitlines()
    cpu_col = lines[0].index("CPU(cores)")
    memory_col = lines[0].index("MEMORY(bytes)")
    assert lines[-2][cpu_col:].startswith("________")
    assert lines[-2][memory_col:].startswith("________")
    assert lines[-1][cpu_col:].startswith("32m ")
    assert lines[-1][memory_col:].startswith("403Mi ")
