"""``kubeprom simulate`` of a queue worker scaled by KEDA, end to end, against arithmetic done
by hand: it stays at 0 below the activation threshold, activates 0 -> 1, the HPA KEDA made
scales it on the backlog, the queue drains and KEDA takes it back to 0 after the cooldown.

The worker consumes the RabbitMQ queue ``orders``: 15 messages wait at the start (below the
activation threshold of 20), 600 messages/s are published during [300 s, 310 s) (6,000),
then none. A ready pod takes 5 messages/s at 10m of CPU each; pods run and are ready 5 s
after they are created. The trigger is ``sum(rabbitmq_queue_messages_ready{queue="orders"})``
with threshold 100 (AverageValue: the HPA wants ceil(backlog / 100) pods), polled every
15 s, cooldown 60 s. KEDA's HPA has no behavior, so kube-controller-manager's legacy limits
apply: at most max(2 x current, 4) pods up per sync, a 5-minute scale-down window.

Everything runs on 15 s grids from the start (syncs, polls, scrapes, rule evaluation), except
that Prometheus offsets each target's scrapes within the interval by a hash of its labels:
the broker is scraped at ``offset`` seconds past each 15 s, read back from the run's store.
A KEDA poll or an HPA sync at ``s`` sees the scrape at ``s - 15 + offset``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
from pathlib import Path

import pytest

from kubeprom.cli.main import main
from kubeprom.exporters.rabbitmq import whole_messages

START = "2027-01-01T00:00:00Z"
START_S = 1_798_761_600
BURST = "time_s,rps\n0,0\n299,0\n300,600\n309,600\n310,0\n"
SCENARIO = """\
global: {scrape_interval: 15s, evaluation_interval: 15s}
cluster:
  seed: 3
  nodes: [{count: 2, capacity: {cpu: "16", memory: 64Gi}}]
  deployments:
    - metadata: {name: worker, labels: {app: worker}}
      spec:
        replicas: 0
        template:
          spec:
            containers:
              - name: worker
                image: example/worker:1
                resources: {requests: {cpu: 100m, memory: 64Mi}}
      startup_delay: 5s
      load: {type: csv, file: burst.csv, loop: false, cpu_per_request: 10m, baseline_cpu: "0"}
      queue: {name: orders, consume_rate: 5, initial_messages: 15}
scaled_objects:
  - apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    metadata: {name: worker}
    spec:
      scaleTargetRef: {name: worker}
      pollingInterval: 15
      cooldownPeriod: 60
      minReplicaCount: 0
      maxReplicaCount: 20
      triggers:
        - type: prometheus
          metadata:
            serverAddress: http://kubeprom:9090
            query: sum(rabbitmq_queue_messages_ready{queue="orders"})
            threshold: "100"
            activationThreshold: "20"
simulation:
  duration: 10m
"""
OUTPUTS = ("timeline.csv", "events.csv", "decisions.jsonl", "summary.json", "default-worker.png")
# Ready pods over time once activated: KEDA's 1 (created at 315 s), then the HPA's 4, 8, 16
# and 20 (created at its syncs at 330, 345, 360 and 375 s), each ready 5 s later.
READY_FROM = ((320, 1), (335, 4), (350, 8), (365, 16), (380, 20))
RATE = 5  # messages/s a pod takes


def backlog(t: float) -> float:
    """Messages waiting at ``t`` seconds after the start, by hand."""
    if t < 300:
        return 15.0
    waiting = 15.0 + 600.0 * (min(t, 310.0) - 300.0)
    bounds = [*READY_FROM, (math.inf, 0)]
    for (since, pods), (until, _) in itertools.pairwise(bounds):
        if t > since:
            waiting -= RATE * pods * (min(t, until) - since)
    return max(waiting, 0.0)


def run(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "burst.csv").write_text(BURST)
    (where / "scenario.yaml").write_text(SCENARIO)
    out = where / "out"
    args = ["--log-level=warn", "simulate", str(where / "scenario.yaml"), "--out", str(out)]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("queue") / "a")


@pytest.fixture(scope="module")
def offset_s(out: Path) -> float:
    """Where in each 15 s the broker is scraped, from the stored samples' timestamps."""
    return _query(out, "timestamp(rabbitmq_queue_messages_ready)", 300) - (START_S + 285)


def _query(out: Path, expr: str, t_s: int) -> float:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(
            ["query", "--data", str(out / "data"), "--time", str(START_S + t_s), "-o", "json", expr]
        )
    assert code == 0
    (sample,) = json.loads(buffer.getvalue())["result"]
    return float(sample["value"][1])


def _rows(out: Path) -> dict[int, dict[str, str]]:
    with (out / "timeline.csv").open(encoding="utf-8") as f:
        return {int(r["t_s"]): r for r in csv.DictReader(f)}


def test_the_broker_exports_the_backlog_while_no_pod_runs(out: Path, offset_s: float) -> None:
    # The derivation below needs the last scrape before 420 s to see messages left (> 20):
    # 3840 - 100 x (25 + offset) > 20, so offset < 13.2 s.
    assert 0 < offset_s < 13.2
    assert _query(out, 'sum(rabbitmq_queue_messages_ready{queue="orders"})', 299) == 15.0
    assert _query(out, 'rabbitmq_queue_consumers{vhost="/",queue="orders"}', 299) == 0.0


def test_replicas_and_backlog_step_by_step(out: Path) -> None:
    rows = _rows(out)
    replicas = {t: int(r["spec_replicas"]) for t, r in rows.items()}
    # 15 waiting <= activationThreshold 20: nothing happens for 5 minutes.
    assert {replicas[t] for t in range(0, 301, 15)} == {0}
    # 0 -> 1 by KEDA at 315; then the legacy limit max(2 x current, 4): 4, 8, 16, 20 (max).
    assert [replicas[t] for t in (315, 330, 345, 360, 375)] == [1, 4, 8, 16, 20]
    # Held at 20 by the HPA's 5-minute window until KEDA deactivates it at 495 (below).
    assert {replicas[t] for t in range(375, 481, 15)} == {20}
    assert {replicas[t] for t in range(495, 601, 15)} == {0}
    for t, r in rows.items():
        assert float(r["queue_messages"]) == whole_messages(backlog(t)), t
    # The queue is empty from 380 + 3840 / 100 = 418.4 s.
    assert backlog(418.4) == pytest.approx(0.0, abs=1e-9)
    # CPU follows the work: 20 busy pods x 5 messages/s x 10m; idle once drained.
    assert float(rows[390]["cpu_cores"]) == pytest.approx(1.0)
    assert float(rows[435]["cpu_cores"]) == 0.0


def test_each_sync_scales_on_the_backlog_by_the_formula(out: Path, offset_s: float) -> None:
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").read_text().splitlines()]
    by_time = {(d["t_ms"] // 1000) - START_S: d for d in decisions}
    assert {by_time[t]["branch"] for t in range(0, 316, 15)} == {"scaling disabled (0 replicas)"}
    for t in range(330, 481, 15):
        d = by_time[t]
        (metric,) = d["metrics"]
        seen = whole_messages(backlog(t - 15 + offset_s))
        assert metric["trace"]["usage_total"] == seen * 1000, t  # milli-units
        # AverageValue: ceil(backlog / threshold) wanted, whatever the current count.
        assert d["proposal"] == math.ceil(seen / 100), t
    assert [by_time[t]["desired"] for t in (330, 345, 360, 375, 390)] == [4, 8, 16, 20, 20]
    # Drained: the proposal is 0, but the scale-down window keeps the 20 pods.
    assert (by_time[435]["proposal"], by_time[435]["desired"]) == (0, 20)


def test_keda_activates_at_the_first_poll_above_and_deactivates_after_the_cooldown(
    out: Path,
) -> None:
    with (out / "events.csv").open(encoding="utf-8") as f:
        events = list(csv.DictReader(f))
    keda = [
        (e["time"], e["reason"], e["message"]) for e in events if e["source"] == "keda-operator"
    ]
    # Active at the poll at 315 (the scrape at 300 + offset saw 15 + 600 x offset > 20); last
    # active at the poll at 420 (its scrape saw 3840 - 100 x (25 + offset) > 20); inactive
    # from 435; lastActive + cooldown < now first at 495.
    assert keda == [
        (
            "2027-01-01T00:05:15Z",
            "KEDAScaleTargetActivated",
            "Scaled apps/v1.Deployment default/worker from 0 to 1, triggered by s0-prometheus",
        ),
        (
            "2027-01-01T00:08:15Z",
            "KEDAScaleTargetDeactivated",
            "Deactivated apps/v1.Deployment default/worker from 20 to 0",
        ),
    ]
    rescales = [
        (e["time"], e["message"].split(";")[0])
        for e in events
        if e["reason"] == "SuccessfulRescale"
    ]
    assert rescales == [
        ("2027-01-01T00:05:30Z", "New size: 4"),
        ("2027-01-01T00:05:45Z", "New size: 8"),
        ("2027-01-01T00:06:00Z", "New size: 16"),
        ("2027-01-01T00:06:15Z", "New size: 20"),
    ]


def test_the_same_run_gives_the_same_bytes(out: Path, tmp_path: Path) -> None:
    again = run(tmp_path / "b")
    for name in OUTPUTS:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
