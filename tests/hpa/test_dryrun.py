"""``kubeprom hpa render``: the dry run over a data directory written by a simulated cluster.

* The decision of a one-sync dry run equals the decision of the controller fed directly: the
  pods as the simulated cluster has them and the metrics as an independent metrics-server
  (the kubelet bodies decoded and stored as metrics-server does) serves them.
* The text of three dry runs (resource metrics with behavior; custom, object and external
  metrics through a prometheus-adapter config; a KEDA ScaledObject) is pinned by golden
  files under ``testdata/render`` (``*.txt``), through the command line with ``--data``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubeprom.cli.main import main
from kubeprom.config.hpa import load_hpa_file
from kubeprom.hpa.controller import HPAState, Scale, SyncInputs, reconcile
from kubeprom.hpa.dryrun import dry_run
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.pods import Container, Phase, Pod, PodList, PodTemplate, Ready
from kubeprom.hpa.source import PodUsage, StaticMetricsSource
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, Options
from tests.hpa.simrun import CONFIG, Sim, simulate
from tests.hpa.test_metrics_resource import metrics_server

TESTDATA = Path(__file__).parent / "testdata" / "render"
END_MS = 600_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Sim]:
    """Ten minutes of the test cluster in a data directory; "web" scaled 3 -> 4 at 5 min."""
    path = tmp_path_factory.mktemp("data")
    db = DB.open(path, Options(retention_ms=None))
    checkpoints = [(300_000, lambda s: s.cluster.scale("default", "web", 4)), (END_MS, None)]
    sim = asyncio.run(simulate(CONFIG, checkpoints, store=db))
    db.close()
    return path, sim


def _cluster_pods(sim: Sim, deployment: str) -> PodList:
    rows = []
    for p in sim.cluster.pods():
        if p.deployment != deployment:
            continue
        containers = tuple(
            Container(
                c.name,
                (
                    ("cpu", round((c.requests.cpu or 0) * 1000)),
                    ("memory", round(c.requests.memory or 0) * 1000),
                ),
            )
            for c in sorted(p.containers, key=lambda c: c.name)
        )
        rows.append(
            Pod(
                p.name,
                PodTemplate(containers),
                phase=Phase[p.phase.name],
                ready=Ready.TRUE if p.ready else Ready.FALSE,
                start_ms=round(p.started_s * 1000) if p.started_s is not None else None,
            )
        )
    return PodList.of(rows)


def _independent_source(sim: Sim, pods: PodList, t_ms: int) -> StaticMetricsSource:
    nodes = metrics_server(sim.kubelet_bodies, t_ms)
    items = {}
    for name in pods.names.tolist():
        for storage in nodes.values():
            got = storage.get(f"default/{name}")
            if got is None:
                continue
            ts, window, usage = got
            containers = tuple(
                (c, (("cpu", -(-nc // 1_000_000)), ("memory", mem * 1000)))
                for c, (nc, mem) in sorted(usage.items())
            )
            items[name] = PodUsage(containers, ts // 1_000_000, -(-window // 1_000_000))
            break
    return StaticMetricsSource(resources={"cpu": items, "memory": items})


def test_one_sync_matches_the_controller_fed_directly(data: tuple[Path, Sim]) -> None:
    path, sim = data
    t = sim.clock.now_ms()
    [loaded] = load_hpa_file(TESTDATA / "web-hpa.yml")
    hpa = loaded.hpa
    db = DB.open_read_only(path)
    try:
        api = LocalQueryAPI(db.querier)
        run = dry_run(hpa, api, t, MetricsBackends(api), history_ms=0)
    finally:
        db.close()
    pods = _cluster_pods(sim, "web")
    inputs = SyncInputs(
        Scale(4, 4, "app=web"), pods, _independent_source(sim, pods, t), selecting_hpas=(hpa.key,)
    )
    direct = reconcile(hpa, HPAState(), inputs, t)
    got, want = run.final.result, direct
    assert [m.proposal for m in got.decision.metrics] == [m.proposal for m in want.decision.metrics]
    assert got.state.status == want.state.status
    assert (got.scaled_to, got.events) == (want.scaled_to, want.events)
    assert got.decision.metrics[0].proposal == 8  # 4 pods at about 71% of their cpu requests


@pytest.mark.parametrize(
    ("manifest", "extra"),
    [
        ("web-hpa", []),
        ("leaky-adapter", ["--adapter-config", str(TESTDATA / "adapter.yml")]),
        ("web-keda", []),
    ],
)
def test_render_golden(
    data: tuple[Path, Sim], manifest: str, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, sim = data
    t_s = str(sim.clock.now_ms() / 1000)
    args = ["hpa", "render", str(TESTDATA / f"{manifest}.yml"), "--data", str(path), "--time", t_s]
    assert main([*args, *extra]) == 0
    out = capsys.readouterr().out
    assert out == (TESTDATA / f"{manifest}.txt").read_text()


def test_render_defaults_to_the_newest_sample(
    data: tuple[Path, Sim], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = data
    assert main(["hpa", "render", str(TESTDATA / "web-hpa.yml"), "--data", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    # the last kubelet scrape, 7 s before the end of the run
    assert first == "HorizontalPodAutoscaler default/web at 2027-01-15T08:09:53Z (dry run)"


def test_render_errors_are_one_line(
    data: tuple[Path, Sim], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = data
    text = (TESTDATA / "web-hpa.yml").read_text()
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace("maxReplicas: 12", "maxReplicas: 0"))
    assert main(["hpa", "render", str(bad), "--data", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"kubeprom: error: {bad}:7:16: spec.maxReplicas: Invalid value: 0: must be greater "
        "than 0 (and 1 more)\n"
    )
    missing = tmp_path / "missing.yml"
    missing.write_text(text.replace("name: web}", "name: nope}"))
    assert main(["hpa", "render", str(missing), "--data", str(path), "--history", "0"]) == 0
    out = capsys.readouterr().out
    assert 'scale target Deployment/nope: deployments.apps "nope" not found\n' in out
    assert (
        "  AbleToScale False FailedGetScale: the HPA controller was unable to get the target's "
        'current scale: deployments.apps "nope" not found\n'
    ) in out
