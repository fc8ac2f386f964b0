"""``kubeprom hpa render --server`` against a real Prometheus (Debian's 2.42) gives the decision
``--data`` gives against kubeprom's own store, both scraping the same simulated exporters.

Prometheus and ``kubeprom run`` scrape one ExporterServer every second in real time; then one
sync of each HPA (no replayed memory: the two stores scraped at different instants) runs
against each store at the same time. Everything read from kube-state-metrics, the custom and
external metrics of an adapter config and a KEDA trigger over it are exact and must agree
value for value; CPU usage is a rate over one scrape interval taken at different instants, so
its HPA is set up to be limited by maxReplicas either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import IO

import pytest
import yaml

from kubeprom.cli.main import main
from kubeprom.clock import RealClock
from kubeprom.config.adapter import load_adapter_text
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.config.keda import LoadedScaledObject, load_autoscalers_text
from kubeprom.errors import QueryAPIUnavailable
from kubeprom.exporters import ExporterServer, ServedTarget, SimulatedCluster
from kubeprom.hpa.adapter_naming import compile_adapter
from kubeprom.hpa.dryrun import DryRun, dry_run
from kubeprom.hpa.keda import check_generated_hpa
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.tsdb import DB
from kubeprom.web.client import PrometheusClient
from tests.support.procs import free_port, require_binary

DATA_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

MANIFESTS = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 1}}
    - type: Resource
      resource: {name: memory, target: {type: AverageValue, averageValue: 10Gi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 10
  metrics:
    - type: Pods
      pods: {metric: {name: pod_ready}, target: {type: AverageValue, averageValue: 400m}}
    - type: Object
      object:
        describedObject: {apiVersion: apps/v1, kind: Deployment, name: web}
        metric: {name: kube_deployment_spec_replicas}
        target: {type: Value, value: "1"}
    - type: External
      external:
        metric: {name: nodes_ready}
        target: {type: AverageValue, averageValue: "1"}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: checkout, namespace: shop}
spec:
  scaleTargetRef: {name: checkout}
  minReplicaCount: 0
  maxReplicaCount: 7
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://unused
        query: sum(kube_pod_status_ready{condition="true", namespace="shop"}) * 3
        threshold: "2"
"""
ADAPTER = """
rules:
  - seriesQuery: 'kube_pod_status_ready{namespace!="",pod!=""}'
    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
    name: {matches: "^kube_(.*)_status_ready$", as: "${1}_ready"}
    metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>,condition="true"}) by (<<.GroupBy>>)
  - seriesQuery: 'kube_deployment_spec_replicas{namespace!=""}'
    resources: {template: <<.Resource>>}
    metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
externalRules:
  - seriesQuery: 'kube_node_status_condition'
    name: {as: nodes_ready}
    resources: {namespaced: false}
    metricsQuery: sum(<<.Series>>{condition="Ready",status="true"})
"""


def scrape_config(targets: list[ServedTarget]) -> dict[str, object]:
    jobs: dict[tuple[str, str], list[dict[str, object]]] = {}
    for t in targets:
        labels = {"node": t.node} if t.node else {}
        jobs.setdefault((t.job, t.metrics_path), []).append(
            {"targets": [t.address], "labels": labels}
        )
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": path,
                "honor_labels": job == "kube-state-metrics",
                "static_configs": statics,
            }
            for (job, path), statics in jobs.items()
            if job in ("kubelet", "kube-state-metrics")
        ],
    }


def _ready(api: QueryAPI) -> bool:
    """Three kubelet scrapes of every node and kube-state-metrics scraped, from 5 s ago."""
    t = round(time.time() * 1000) - 5_000
    try:
        scrapes = api.instant('min(count_over_time(up{job="kubelet"}[10s]))', t)
        ksm = api.instant('count(kube_deployment_spec_replicas{job="kube-state-metrics"})', t)
    except QueryAPIUnavailable:
        return False
    return len(scrapes) == 1 and scrapes.scalar >= 3 and ksm.v.tolist() == [4.0]


def _runs(api: QueryAPI, t_ms: int) -> dict[str, DryRun]:
    adapter = compile_adapter(load_adapter_text(ADAPTER, "adapter.yml"))
    out = {}
    for loaded in load_autoscalers_text(MANIFESTS, "manifests.yml"):
        if isinstance(loaded, LoadedScaledObject):
            hpa = check_generated_hpa(loaded)
            backends = MetricsBackends(api, adapter=adapter, scaled_objects=[loaded])
            so = loaded.scaled_object
        else:
            hpa, so = loaded.hpa, None
            backends = MetricsBackends(api, adapter=adapter)
        out[hpa.name] = dry_run(hpa, api, t_ms, backends, history_ms=0, scaled_object=so)
    return out


def _decision(run: DryRun) -> dict[str, object]:
    result = run.final.result
    proposals = [m.proposal for m in result.decision.metrics]
    cpu = {"cpu": proposals.pop(0)} if run.hpa.name == "web" else {}
    return {
        **cpu,
        "scale": run.final.cluster.scale,
        "pods": run.final.cluster.pods.names.tolist(),
        "proposals": proposals,
        "desired": result.decision.desired,
        "scaled_to": result.scaled_to,
        "conditions": [(c.type, c.status, c.reason) for c in result.state.status.conditions],
        "events": result.events,
    }


def _log_file(path: Path) -> IO[bytes]:
    return open(path, "wb")  # the caller closes it with `with`


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.slow
async def test_render_decides_alike_on_prometheus_and_kubeprom(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = require_binary("prometheus")
    clock = RealClock()
    spec = load_cluster_config(None)
    assert spec is not None
    sim = SimulatedCluster(spec, start_s=clock.now_ms() / 1000)
    async with ExporterServer(sim, clock=clock) as exporters:
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(exporters.targets())))
        prom_port, kp_port = free_port(), free_port()
        data = tmp_path / "kubeprom-data"
        logs = [tmp_path / "prometheus.log", tmp_path / "kubeprom.log"]
        argvs = [
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            [
                sys.executable,
                "-m",
                "kubeprom.cli.main",
                "run",
                "--config",
                str(config),
                "--listen",
                f"127.0.0.1:{kp_port}",
                "--data",
                str(data),
            ],
        ]
        procs = []
        for argv, log in zip(argvs, logs, strict=True):
            with _log_file(log) as out:
                procs.append(await asyncio.create_subprocess_exec(*argv, stdout=out, stderr=out))
        try:
            prom = PrometheusClient(f"http://127.0.0.1:{prom_port}", timeout_s=10)
            kubeprom = PrometheusClient(f"http://127.0.0.1:{kp_port}", timeout_s=10)
            deadline = time.monotonic() + DATA_TIMEOUT_S
            while not (
                await asyncio.to_thread(_ready, prom) and await asyncio.to_thread(_ready, kubeprom)
            ):
                for proc, log in zip(procs, logs, strict=True):
                    assert proc.returncode is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
                await asyncio.sleep(0.25)
            t_ms = round(time.time() * 1000) - 1_500  # both have scraped up to here
            on_prometheus = await asyncio.to_thread(_runs, prom, t_ms)
            db = DB.open_read_only(data)
            try:
                on_kubeprom = await asyncio.to_thread(_runs, LocalQueryAPI(db.querier), t_ms)
            finally:
                db.close()

            assert sorted(on_prometheus) == ["api", "keda-hpa-checkout", "web"]
            for name, run in on_prometheus.items():
                here, there = _decision(run), _decision(on_kubeprom[name])
                if name == "web":
                    # cpu: a rate over one scrape interval at different instants in each store
                    cpu_here, cpu_there = here.pop("cpu"), there.pop("cpu")
                    assert isinstance(cpu_here, int)
                    assert isinstance(cpu_there, int)
                    assert abs(cpu_here - cpu_there) <= 0.2 * cpu_there, (cpu_here, cpu_there)
                assert here == there, name
            web = on_prometheus["web"].final.result
            assert [m.proposal for m in web.decision.metrics][1] == 1  # memory far below 10Gi
            assert web.decision.metrics[0].proposal is not None
            assert web.decision.metrics[0].proposal > 5  # cpu far above 1% of requests
            assert (web.scaled_to, web.state.status.condition("ScalingLimited").reason) == (  # type: ignore[union-attr]
                5,
                "TooManyReplicas",
            )
            api = on_prometheus["api"].final.result
            # pod_ready: 1 per pod vs 400m -> ceil(2.5 x 2) = 5; web's 3 replicas vs 1 -> 3 x 2
            # ready pods = 6; 3 ready nodes over 2 replicas vs 1 per pod -> 3
            assert [m.proposal for m in api.decision.metrics] == [5, 6, 3]
            checkout = on_prometheus["keda-hpa-checkout"]
            assert checkout.poll is not None
            assert checkout.poll.result.triggers[0].value == 6.0  # 2 ready pods x 3
            assert [m.proposal for m in checkout.final.result.decision.metrics] == [3]

            # and through the command line, against the running Prometheus
            manifests = tmp_path / "manifests.yml"
            manifests.write_text(MANIFESTS)
            adapter = tmp_path / "adapter.yml"
            adapter.write_text(ADAPTER)
            argv = [
                "hpa", "render", str(manifests), "--adapter-config", str(adapter),
                "--server", f"http://127.0.0.1:{prom_port}", "--time", str(t_ms / 1000),
                "--history", "0",
            ]  # fmt: skip
            code = await asyncio.to_thread(main, argv)
            out, err = capsys.readouterr()
            assert (code, err) == (0, "")
            assert out.count("(dry run)\n") == 3
            assert "would scale Deployment/web to 5: cpu resource utilization" in out
        finally:
            for proc in procs:
                await _stop(proc)
