"""``kubeprom simulate``: a scenario whose HPA arithmetic can be done by hand, determinism
(byte-identical outputs, plots included), the run's store read back by ``query`` and
``top``, and scenario errors with their positions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kubeprom.cli.hpa_backends import load_autoscaling_parts
from kubeprom.cli.main import main
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.errors import ConfigError
from kubeprom.sim.scenario import load_scenario

# 100 requests/s at 10m core-seconds each: 1 core of demand whatever the pod count, no
# baseline, no noise, no limits. Pods request 200m; the HPA targets 50 % utilization, so
# it settles at ceil(1 / (0.5 * 0.2)) = 10 replicas. The HPA has no behavior, so the legacy
# scale-up limit max(2 x current, 4) applies: 2 -> 4 -> 8 -> 10. The controller reads CPU as
# metrics-server does, from the kubelet's series through PromQL: the sync at 0 s has no
# scrape yet and the one at 15 s has one (a rate needs two), so scaling starts at 30 s.
CONSTANT = """\
global: {scrape_interval: 15s, evaluation_interval: 15s}
cluster:
  seed: 1
  nodes: [{count: 2, capacity: {cpu: "8", memory: 32Gi}}]
  deployments:
    - metadata: {name: web, labels: {app: web}}
      spec:
        replicas: 2
        template:
          spec:
            containers:
              - name: app
                image: nginx
                resources: {requests: {cpu: 200m, memory: 128Mi}}
                readinessProbe: {initialDelaySeconds: 5}
      load: {type: constant, rps: 100, cpu_per_request: 10m, baseline_cpu: "0"}
horizontal_pod_autoscalers:
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 1
      maxReplicas: 20
      metrics:
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
simulation:
  duration: 10m
"""
OUTPUTS = (
    "timeline.csv",
    "events.csv",
    "decisions.jsonl",
    "summary.json",
    "default-web.png",
)


def simulate(tmp_path: Path, text: str, out: str, capsys: pytest.CaptureFixture[str]) -> Path:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text)
    assert main(["--log-level=warn", "simulate", str(scenario), "--out", str(tmp_path / out)]) == 0
    return tmp_path / out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("constant")
    (tmp / "scenario.yaml").write_text(CONSTANT)
    assert (
        main(["--log-level=warn", "simulate", str(tmp / "scenario.yaml"), "--out", str(tmp / "a")])
        == 0
    )
    return tmp


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "timeline.csv").open() as f:
        return list(csv.DictReader(f))


def test_constant_load_settles_where_the_arithmetic_says(run_dir: Path) -> None:
    timeline = rows(run_dir / "a")
    assert len(timeline) == 10 * 4 + 1  # every 15 s sync from 0 to 10 m
    assert [r["spec_replicas"] for r in timeline[:5]] == ["2", "2", "4", "8", "10"]
    assert {r["spec_replicas"] for r in timeline[4:]} == {"10"}
    assert {r["ready_replicas"] for r in timeline[5:]} == {"10"}
    # The load costs 1 core whatever the pods; nothing throttles without limits.
    assert {r["cpu_cores"] for r in timeline} == {"1"}
    assert {r["throttled"] for r in timeline} == {"0"}
    assert {(r["metric_1"], r["target_1"]) for r in timeline} == {("cpu/utilization", "50")}
    assert timeline[0]["value_1"] == timeline[1]["value_1"] == ""  # no two scrapes yet
    assert timeline[2]["value_1"] == "250"  # 1 core over 2 pods of 200m
    assert {r["value_1"] for r in timeline[-20:]} == {"50"}  # 1 core over 10 pods of 200m


def test_summary_figures(run_dir: Path) -> None:
    summary = json.loads((run_dir / "a" / "summary.json").read_text())
    web = summary["deployments"][0]
    # Pods per step: 2, 2, 4, 8, then 10 for the 37 remaining steps, 15 s each.
    assert web["pod_hours"] == pytest.approx((2 + 2 + 4 + 8 + 10 * 37) * 15 / 3600, abs=1e-6)
    assert web["peak_replicas"] == 10
    assert web["scale_events"] == 3
    assert web["direction_changes"] == 0
    assert web["unserved_load_minutes"] == 0
    timeline = rows(run_dir / "a")
    above = sum(1 for r in timeline if r["value_1"] and float(r["value_1"]) > 50)
    assert web["above_target_minutes"] == pytest.approx(above * 0.25)
    assert summary["total"]["pod_hours"] == web["pod_hours"]
    assert summary["seed"] == 1


def test_events_and_decisions(run_dir: Path) -> None:
    with (run_dir / "a" / "events.csv").open() as f:
        events = list(csv.DictReader(f))
    rescales = [e for e in events if e["reason"] == "SuccessfulRescale"]
    assert [e["message"] for e in rescales] == [
        "New size: 4; reason: cpu resource utilization (percentage of request) above target",
        "New size: 8; reason: cpu resource utilization (percentage of request) above target",
        # At 60 s the metric proposes 8 (4 pods unready, counted as idle: within tolerance)
        # but the window holds 10 from 45 s: the reason is left empty, as upstream does.
        "New size: 10; reason: ",
    ]
    assert [e["time"] for e in rescales] == [
        "2027-01-01T00:00:30Z",
        "2027-01-01T00:00:45Z",
        "2027-01-01T00:01:00Z",
    ]
    lines = (run_dir / "a" / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == 41  # one per sync
    second = json.loads(lines[2])  # the first sync with a reading
    assert second["time"] == "2027-01-01T00:00:30Z"
    assert second["current"] == 2
    assert second["desired"] == 4
    assert second["scaled_to"] == 4
    trace = second["metrics"][0]["trace"]
    assert trace["method"] == "utilization"
    assert trace["usage"] == 250
    assert trace["ratio"] == pytest.approx(5.0)
    assert trace["proposal"] == 10
    assert second["normalization"]["limit"] == 4  # max(2 x 2, 4)
    assert {c["type"] for c in second["conditions"]} == {
        "AbleToScale",
        "ScalingActive",
        "ScalingLimited",
    }


def test_same_scenario_same_bytes(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = simulate(tmp_path, CONSTANT, "b", capsys)
    for name in OUTPUTS:
        assert (again / name).read_bytes() == (run_dir / "a" / name).read_bytes(), name
    assert (again / "default-web.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "DEPLOYMENT",
        "HPA",
        "POD-HOURS",
        "PEAK",
        "ABOVE-TARGET",
        "UNSERVED",
        "SCALINGS",
        "FLAPS",
    ]
    assert table[1].split()[:4] == ["web", "web", "1.61", "10"]


def test_the_store_is_readable_by_query_and_top(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(run_dir / "a" / "data")
    capsys.readouterr()
    expr = 'sum(rate(container_cpu_usage_seconds_total{job="cadvisor",container="app"}[5m]))'
    assert (
        main(["query", "--data", data, "--time", "2027-01-01T00:09:00Z", "-o", "json", expr]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert float(result["result"][0]["value"][1]) == pytest.approx(1.0)
    assert main(["top", "pods", "--data", data, "--time", "2027-01-01T00:09:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11  # header + 10 pods
    assert {line.split()[1] for line in lines[1:]} == {"100m"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("  duration: 10m\n", "  duration: 0s\n"),
            r"scenario\.yaml:29:13: simulation\.duration: must be positive",
        ),
        (
            ("  duration: 10m\n", "  duration: 10m\n  durations: 1h\n"),
            r"scenario\.yaml:30:3: simulation\.durations: field durations not found",
        ),
        (
            ("  duration: 10m\n", "  duration: 10m\n  start: yesterday\n"),
            r"scenario\.yaml:30:10: simulation\.start: 'yesterday' is not an RFC 3339 time",
        ),
        (
            ("  duration: 10m\n", "  duration: 10m\n  controller: {tolerance: lots}\n"),
            r"scenario\.yaml:30:27: simulation\.controller\.tolerance: expected a number, "
            r"got 'lots'",
        ),
        (
            ("  duration: 10m\n", "  duration: 10m\n  controller: {sync_period: 5x}\n"),
            r"scenario\.yaml:30:29: simulation\.controller\.sync_period: .*unit",
        ),
        (
            ("simulation:\n  duration: 10m\n", "simulation: {start: 2027-01-01T00:00:00Z}\n"),
            r"scenario\.yaml:28:13: simulation: duration is required",
        ),
        (
            ("simulation:\n  duration: 10m\n", ""),
            r"scenario\.yaml: a scenario needs a simulation: section",
        ),
        (
            ("      maxReplicas: 20\n", "      maxReplicas: 0\n"),
            r"scenario\.yaml:\d+:\d+: horizontal_pod_autoscalers\[0\]\.spec\.maxReplicas",
        ),
        (
            ("simulation:\n", "remote_write: [{url: 'http://127.0.0.1:1/'}]\nsimulation:\n"),
            r"scenario\.yaml:28:1: remote_write: a scenario runs in virtual time and cannot have "
            r"remote_write",
        ),
        (
            ("rps: 100,", "rps: -100,"),
            r"scenario\.yaml:16:\d+: cluster\.deployments\[0\]\.load\.rps",
        ),
    ],
)
def test_scenario_errors_name_file_line_column_and_field(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    old, new = edit
    assert old in CONSTANT
    path = tmp_path / "scenario.yaml"
    path.write_text(CONSTANT.replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_scenario(str(path))


def test_a_bad_scenario_exits_1_with_the_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(CONSTANT.replace("  duration: 10m\n", "  duration: 0s\n"))
    assert main(["simulate", str(path), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == (
        f"kubeprom: error: {path}:29:13: simulation.duration: must be positive\n"
    )
    assert not (tmp_path / "out").exists()


SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "config" / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_example_scenarios_load(path: Path) -> None:
    scenario = load_scenario(str(path))
    assert scenario.simulation.duration_ms >= 3_600_000
    # HPA manifests, or the HPAs KEDA creates for ScaledObjects.
    hpas = load_autoscaling_parts(scenario.config, FeatureGates()).hpas
    assert hpas
    assert scenario.config.rule_files
    for hpa in hpas:
        target = hpa.spec.scale_target_ref.name
        assert any(d.name == target for d in scenario.cluster.deployments), target


def test_the_example_scenarios_are_there() -> None:
    assert [p.name for p in SCENARIOS] == [
        "day-24h.yaml",
        "diurnal-web.yaml",
        "flash-crowd.yaml",
        "memory-leak.yaml",
        "queue-worker.yaml",
    ]
