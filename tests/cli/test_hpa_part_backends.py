"""prometheus-adapter's rules and KEDA's ScaledObjects in ``kubeprom run``: read from
kubeprom.yml beside the HPAs (files or inline, errors at file:line:col and field), wired into
the running server's HPA controller, swapped on reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubeprom.cli.check_cmd import check_config
from kubeprom.cli.hpa_backends import load_autoscaling_parts
from kubeprom.cli.server import Server
from kubeprom.cli.settings import RemoteFlags, ServerSettings
from kubeprom.clock import VirtualClock
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.config.load import parse_main_config
from kubeprom.errors import ConfigError, KubepromError
from kubeprom.tsdb import Options

T0_MS = 1_800_000_000_000
SO = (
    "{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, metadata: {name: w}, spec: "
    "{scaleTargetRef: {name: w}, triggers: [{type: prometheus, metadata: {serverAddress: x, "
    "query: up, threshold: '1'}}]}}"
)


def _load(text: str, base: Path) -> Any:
    return load_autoscaling_parts(
        parse_main_config(text, "kubeprom.yml", str(base)), FeatureGates()
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "prometheus_adapter:\n  rules:\n    - {seriesQury: 'x'}\n",
            "kubeprom.yml:3:8: prometheus_adapter.rules[0].seriesQury: field seriesQury not "
            "found in type config.DiscoveryRule",
        ),
        (
            "prometheus_adapter:\n  rules:\n    - seriesQuery: 'x{pod!=\"\"}'\n"
            "      name: {matches: '(', as: y}\n",
            "kubeprom.yml:4:23: prometheus_adapter.rules[0].name.matches: unable to generate "
            "series name filter from name rules associated with series query "
            '"x{pod!=\\"\\"}": unable to compile series filter "(": error parsing regexp: '
            "missing closing ): `(`",
        ),
        (
            "prometheus_adapter: [1]\n",
            "kubeprom.yml:1:21: prometheus_adapter: expected a config file name or the config "
            "itself",
        ),
        (
            "scaled_objects:\n  - " + SO.replace("triggers:", "extra: 1, triggers:") + "\n",
            "kubeprom.yml:2:111: scaled_objects[0].spec.extra: field extra not found in type "
            "v1alpha1.ScaledObjectSpec",
        ),
        (
            "scaled_objects:\n  - " + SO.replace("'1'", "'-1'") + "\n",
            "kubeprom.yml:2:192: scaled_objects[0].spec.triggers[0].metadata.threshold: the HPA "
            "KEDA creates is invalid: spec.metrics[0].external.target.averageValue: Invalid "
            'value: "0": must be positive',
        ),
        (
            f"scaled_objects:\n  - {SO}\n  - {SO}\n",
            "kubeprom.yml:3:5: scaled_objects[1]: duplicate ScaledObject 'default/w' "
            "(kubeprom.yml:3; first at kubeprom.yml:2)",
        ),
        (
            "horizontal_pod_autoscalers:\n  - {apiVersion: autoscaling/v2, kind: "
            "HorizontalPodAutoscaler, metadata: {name: keda-hpa-w}, spec: {scaleTargetRef: "
            f"{{kind: Deployment, name: w}}, maxReplicas: 2}}}}\nscaled_objects:\n  - {SO}\n",
            "kubeprom.yml:4:73: scaled_objects[0].metadata.name: the HPA KEDA creates, "
            "default/keda-hpa-w, is already configured (kubeprom.yml:2)",
        ),
        (
            "scaled_objects: 7\n",
            "kubeprom.yml:1:17: scaled_objects: expected a list of manifest files or objects",
        ),
    ],
    ids=[
        "adapter-unknown-field",
        "adapter-bad-regex",
        "adapter-not-a-config",
        "so-unknown-field",
        "so-invalid-hpa",
        "so-duplicate",
        "so-clashes-with-an-hpa",
        "so-not-a-list",
    ],
)
def test_inline_errors_name_kubeprom_yml_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(text, tmp_path)
    assert str(info.value) == message


def test_files_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "adapter.yml").write_text(
        "rules:\n  - seriesQuery: 'up'\n    metricsQuery: 'sum(<<.Series>>)'\n"
        "    resources: {template: '<<.Resource>>'}\n"
    )
    (tmp_path / "so").mkdir()
    (tmp_path / "so" / "w.yml").write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n"
        "  scaleTargetRef: {name: w}\n  triggers:\n    - type: prometheus\n      metadata: "
        "{serverAddress: x, query: up, threshold: '2'}\n"
    )
    loaded = _load(
        "prometheus_adapter: adapter.yml\nscaled_objects: [so/*.yml, so/none-*.yml]\n", tmp_path
    )
    assert loaded.adapter is not None
    assert [r.series_query for r in loaded.config.adapter.rules] == ["up"]
    assert [h.key for h in loaded.hpas] == ["default/keda-hpa-w"]
    (tmp_path / "so" / "w.yml").write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n"
        "  scaleTargetRef: {name: w}\n  pollingInterval: -1\n  triggers:\n    - type: "
        "prometheus\n      metadata: {serverAddress: x, query: up, threshold: '2'}\n"
    )
    with pytest.raises(ConfigError) as info:
        _load("scaled_objects: [so/*.yml]\n", tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/so/w.yml:6:20: spec.pollingInterval: ")
    (tmp_path / "adapter.yml").write_text("rules: [{bogus: 1}]\n")
    with pytest.raises(ConfigError) as info:
        _load("prometheus_adapter: adapter.yml\n", tmp_path)
    assert str(info.value) == (
        f"{tmp_path}/adapter.yml:1:10: rules[0].bogus: field bogus not found in type "
        "config.DiscoveryRule"
    )
    with pytest.raises(ConfigError) as info:
        _load("prometheus_adapter: missing.yml\n", tmp_path)
    assert str(info.value) == (
        "kubeprom.yml:1:21: prometheus_adapter: cannot read prometheus-adapter config "
        f"{str(tmp_path / 'missing.yml')!r}: No such file or directory"
    )


def test_check_config_checks_them(tmp_path: Path) -> None:
    path = tmp_path / "kubeprom.yml"
    path.write_text("scaled_objects:\n  - " + SO.replace("'1'", "'-1'") + "\n")
    with pytest.raises(ConfigError, match=r"scaled_objects\[0\]\.spec\.triggers\[0\]"):
        check_config(str(path))


@pytest.mark.parametrize("section", ["prometheus_adapter: {rules: []}", "scaled_objects: []"])
def test_agent_mode_refuses_them(tmp_path: Path, section: str) -> None:
    path = tmp_path / "kp.yml"
    path.write_text(f"scrape_configs: []\n{section}\n")
    with pytest.raises(KubepromError) as err:
        Server(
            ServerSettings(str(path), str(tmp_path / "d"), remote=RemoteFlags(agent=True)),
            VirtualClock(T0_MS),
        )
    name = section.split(":")[0]
    assert str(err.value) == (
        f"parsing YAML file {path}: field {name} is not allowed in agent mode"
    )


CONFIG = """\
global: {scrape_interval: 15s, scrape_timeout: 10s}
scrape_configs:
  - job_name: kubelet
    metrics_path: /metrics/resource
    cluster_sd_configs: [{role: node}]
prometheus_adapter: ADAPTER
scaled_objects:
  - apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    metadata: {name: worker}
    spec:
      scaleTargetRef: {name: worker}
      pollingInterval: 10
      minReplicaCount: 1
      maxReplicaCount: 5
      triggers:
        - type: prometheus
          metadata:
            serverAddress: http://127.0.0.1:9090
            query: 'sum(rate(pod_cpu_usage_seconds_total{namespace="default"}[1m]))'
            threshold: "0.05"
cluster:
  seed: 5
  nodes: [{count: 2, capacity: {cpu: "4", memory: 16Gi}}]
  deployments:
    - metadata: {name: worker, labels: {app: worker}}
      spec:
        replicas: 1
        template:
          spec:
            containers:
              - {name: app, image: nginx, resources: {requests: {cpu: 100m, memory: 64Mi}}}
      load: {type: constant, rps: 40, cpu_per_request: 5m, baseline_cpu: 0}
"""
ADAPTER = "rules:\n  - seriesQuery: 'up'\n    resources: {template: '<<.Resource>>'}\n"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Server, VirtualClock, Path]]:
    (tmp_path / "adapter.yml").write_text(ADAPTER)
    path = tmp_path / "kubeprom.yml"
    path.write_text(CONFIG.replace("ADAPTER", "adapter.yml"))
    clock = VirtualClock(T0_MS)
    settings = ServerSettings(
        config_path=str(path),
        data=str(tmp_path / "data"),
        port=0,
        store=Options(retention_ms=None),
    )
    server = Server(settings, clock)
    await server.start()
    try:
        yield server, clock, tmp_path
    finally:
        await server.stop()


async def _get(server: Server, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.web.address + path, timeout=aiohttp.ClientTimeout(10)) as r,
    ):
        return await r.json()


async def test_kubeprom_run_scales_with_kedas_hpa_and_swaps_backends_on_reload(
    running: tuple[Server, VirtualClock, Path],
) -> None:
    server, clock, tmp_path = running
    await clock.advance_ms(3 * 60_000)
    listed = await _get(
        server, "/kubeprom/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
    )
    (keda,) = listed["items"]
    assert keda["metadata"]["name"] == "keda-hpa-worker"
    assert keda["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "keda-operator"
    assert server.autoscaling is not None
    cluster = server.autoscaling.cluster
    assert cluster is not None
    # 40 rps x 5m = 200m of CPU against 50m a pod: four workers. (The exporters are served
    # over real sockets here, so which scrapes a sync sees depends on the sockets' timing; a
    # sync whose window straddles a scale may overshoot by one, as in a cluster.)
    assert cluster.deployment("default", "worker").spec_replicas in (4, 5)
    manager = server.autoscaling.manager
    before = manager.metrics
    (tmp_path / "adapter.yml").write_text(ADAPTER.replace("'up'", "'up{job=\"kubelet\"}'"))
    await server.reload()
    assert manager.metrics is not before  # the adapter changed: fresh backends
    assert server.autoscaling.keda is not None
    current = manager.metrics
    await server.reload()  # nothing changed: KEDA's and the adapter's state stay
    assert manager.metrics is current
    await clock.advance_ms(60_000)
    assert cluster.deployment("default", "worker").spec_replicas in (4, 5)
    (active,) = [
        c
        for c in manager.get("default", "keda-hpa-worker").state.status.conditions
        if c.type == "ScalingActive"
    ]
    assert (active.status, active.reason) == (True, "ValidMetricFound")


def test_the_examples_load(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "config" / "examples"
    loaded = _load(
        f"prometheus_adapter: {examples / 'prometheus-adapter.yml'}\n"
        f"scaled_objects: [{examples / 'keda.yml'}]\n",
        tmp_path,
    )
    assert [h.key for h in loaded.hpas] == ["batch/keda-hpa-worker"]
    assert loaded.adapter is not None
    assert [n.series_query for n in loaded.adapter.custom + loaded.adapter.external] == [
        'pod_cpu_usage_seconds_total{namespace!="",pod!=""}',
        'kube_pod_container_status_restarts_total{namespace!=""}',
    ]


async def test_hpas_without_a_kubelet_job_are_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "kubeprom.yml"
    body = CONFIG.split("prometheus_adapter:")[0].replace(
        "  - job_name: kubelet", "  - job_name: k"
    )
    path.write_text(body + "scaled_objects:" + CONFIG.split("scaled_objects:")[1])
    settings = ServerSettings(
        config_path=str(path), data=str(tmp_path / "data"), port=0, store=Options()
    )
    server = Server(settings, VirtualClock(T0_MS))
    with caplog.at_level("WARNING", logger="kubeprom.cli.parts"):
        await server.start()
        await server.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "kubeprom.cli.parts"] == [
        "no scrape job named kubelet: HPAs get no resource metrics (metrics-server's are "
        "computed from its /metrics/resource series)"
    ]
