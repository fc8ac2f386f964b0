"""HPAs in ``kubeprom run``: from kubeprom.yml (files and inline objects, validated with
positions), the "hpa" part syncing on the clock, reloads, and bad input that never takes
the server or the other HPAs down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubeprom.cli.check_cmd import check_config
from kubeprom.cli.main import build_parser
from kubeprom.cli.run_cmd import settings_of
from kubeprom.cli.server import Server
from kubeprom.cli.settings import RemoteFlags, ServerSettings
from kubeprom.clock import VirtualClock
from kubeprom.config.hpa import load_hpa_config
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.config.load import parse_main_config
from kubeprom.errors import ConfigError, KubepromError
from kubeprom.hpa import ControllerConfig
from kubeprom.lifecycle import ReloadError
from kubeprom.tsdb import Options

T0_MS = 1_800_000_000_000
# The HPA reads resource metrics from the kubelets' /metrics/resource scrapes.
SCRAPE = """\
global: {scrape_interval: 15s, scrape_timeout: 10s}
scrape_configs:
  - job_name: kubelet
    metrics_path: /metrics/resource
    cluster_sd_configs: [{role: node}]
"""
CLUSTER = """
cluster:
  seed: 5
  nodes: [{count: 2, capacity: {cpu: "4", memory: 16Gi}}]
  deployments:
    - metadata: {name: web, labels: {app: web}}
      spec:
        replicas: 2
        template:
          spec:
            containers:
              - {name: app, image: nginx, resources: {requests: {cpu: 100m, memory: 64Mi}}}
      load: {type: constant, rps: 60, cpu_per_request: 5m, baseline_cpu: 0}
"""
GOOD = """
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      maxReplicas: 8
      metrics:
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""
MISSING = """
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: ghost}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: gone}
      maxReplicas: 3
"""


def _write(tmp_path: Path, hpas: str, name: str = "kubeprom.yml") -> str:
    path = tmp_path / name
    path.write_text(SCRAPE + "horizontal_pod_autoscalers:" + hpas + CLUSTER)
    return str(path)


def _load(text: str, tmp_path: Path) -> list[str]:
    cfg = parse_main_config(text, "kubeprom.yml", str(tmp_path))
    return [h.hpa.key for h in load_hpa_config(cfg.hpa_node, cfg.source, cfg.base_dir)]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "\n  - apiVersion: autoscaling/v2\n    kind: HorizontalPodAutoscaler\n"
            "    metadata: {name: web}\n    spec: {maxReplica: 3}\n",
            "kubeprom.yml:6:12: horizontal_pod_autoscalers[0].spec.maxReplica: field "
            "maxReplica not found in type v2.HorizontalPodAutoscalerSpec",
        ),
        (
            "\n  - apiVersion: autoscaling/v2\n    kind: HorizontalPodAutoscaler\n"
            "    metadata: {name: web}\n"
            "    spec: {scaleTargetRef: {kind: Deployment, name: web}, maxReplicas: 0}\n",
            "kubeprom.yml:6:72: horizontal_pod_autoscalers[0].spec.maxReplicas: Invalid value: "
            "0: must be greater than 0 (and 1 more)",
        ),
        (
            " [7]\n",
            "kubeprom.yml:2:30: horizontal_pod_autoscalers[0]: expected a manifest file name "
            "or an HPA object",
        ),
        (
            " hpa.yml\n",
            "kubeprom.yml:2:29: horizontal_pod_autoscalers: expected a list of manifest files "
            "or objects",
        ),
    ],
    ids=["unknown-field", "invalid-value", "not-an-object", "not-a-list"],
)
def test_inline_errors_name_kubeprom_yml_and_the_field(
    tmp_path: Path, section: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load("scrape_configs: []\nhorizontal_pod_autoscalers:" + section, tmp_path)
    assert str(info.value).startswith(message)


def test_manifest_files_by_glob_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "hpa").mkdir()
    (tmp_path / "hpa" / "a.yml").write_text(GOOD.replace("  - ", "", 1).replace("\n    ", "\n"))
    keys = _load("horizontal_pod_autoscalers: [hpa/*.yml, hpa/none-*.yml]\n", tmp_path)
    assert keys == ["default/web"]
    (tmp_path / "hpa" / "b.yml").write_text(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: b}\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: b}\n  maxReplicas: 2\n"
        "  minReplicas: 3\n"
    )
    with pytest.raises(ConfigError) as info:
        _load("horizontal_pod_autoscalers: [hpa/*.yml]\n", tmp_path)
    assert str(info.value) == (
        f"{tmp_path}/hpa/b.yml:6:16: spec.maxReplicas: Invalid value: 2: must be greater than "
        "or equal to `minReplicas`"
    )
    with pytest.raises(ConfigError) as info:
        _load("horizontal_pod_autoscalers: [hpa/missing.yml]\n", tmp_path)
    assert str(info.value) == (
        "kubeprom.yml:1:30: horizontal_pod_autoscalers[0]: cannot read HPA manifest "
        f"{str(tmp_path / 'hpa' / 'missing.yml')!r}: No such file or directory"
    )


def test_two_hpas_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load("horizontal_pod_autoscalers:" + GOOD + GOOD, tmp_path)
    assert str(info.value) == (
        "kubeprom.yml:12:5: horizontal_pod_autoscalers[1]: duplicate HorizontalPodAutoscaler "
        "'default/web' (kubeprom.yml:14; first at kubeprom.yml:4)"
    )


def test_check_config_checks_the_hpas(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("maxReplicas: 8", "maxReplicas: -1"))
    with pytest.raises(ConfigError, match=r"spec\.maxReplicas: Invalid value: -1"):
        check_config(path)


def _settings(tmp_path: Path, config: str) -> ServerSettings:
    return ServerSettings(
        config_path=config, data=str(tmp_path / "data"), port=0, store=Options(retention_ms=None)
    )


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Server, VirtualClock, Path]]:
    clock = VirtualClock(T0_MS)
    server = Server(_settings(tmp_path, _write(tmp_path, GOOD + MISSING)), clock)
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


async def test_the_hpa_part_scales_while_a_broken_hpa_reports_its_target_missing(
    running: tuple[Server, VirtualClock, Path],
) -> None:
    server, clock, _ = running
    await clock.advance_ms(3 * 60_000)  # twelve syncs
    assert server.autoscaling is not None
    cluster = server.autoscaling.cluster
    assert cluster is not None
    # 300m over pods of 100m at 50% is six; a sync whose CPU window (the kubelet's two
    # newest scrapes) still holds the fewer pods' busier past overshoots, as a real HPA
    # does. The exporters are served over real sockets here, so which scrapes a sync sees
    # depends on the sockets' timing against the virtual clock (seen: six, seven, eight).
    # Its exact sequence is pinned where the scrapes are in process (tests/sim, tests/hpa);
    # here it must have scaled, and never past maxReplicas.
    assert 6 <= cluster.deployment("default", "web").spec_replicas <= 8
    ghost = await _get(
        server, "/kubeprom/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/ghost"
    )
    (able,) = ghost["status"]["conditions"]
    assert (able["type"], able["status"], able["reason"]) == (
        "AbleToScale",
        "False",
        "FailedGetScale",
    )
    assert able["message"] == (
        "the HPA controller was unable to get the target's current scale: "
        'deployments.apps "gone" not found'
    )
    # kube-state-metrics publishes both.
    names = sorted(h.name for h in cluster.hpas())
    assert names == ["ghost", "web"]


async def test_a_reload_with_a_bad_hpa_keeps_the_running_ones(
    running: tuple[Server, VirtualClock, Path],
) -> None:
    server, clock, tmp_path = running
    _write(tmp_path, GOOD.replace("maxReplicas: 8", "maxReplicas: 0"))
    with pytest.raises(ReloadError, match=r"hpa: .*spec\.maxReplicas: Invalid value: 0"):
        await server.reload()
    assert server.autoscaling is not None
    assert [a.key for a in server.autoscaling.manager.autoscalers()] == [
        "default/ghost",
        "default/web",
    ]
    _write(tmp_path, GOOD)  # the ghost goes, web stays with its state
    await server.reload()
    assert [a.key for a in server.autoscaling.manager.autoscalers()] == ["default/web"]
    await clock.advance_ms(60_000)
    view = await _get(server, "/ui/api/hpa")
    assert [h["name"] for h in view["data"]["hpas"]] == ["web"]


def test_a_bad_hpa_at_startup_fails_before_anything_starts(tmp_path: Path) -> None:
    config = _write(tmp_path, GOOD.replace("name: web}", "name: web, extra: 1}", 1))
    with pytest.raises(ConfigError, match=r"horizontal_pod_autoscalers\[0\]\.metadata\.extra"):
        Server(_settings(tmp_path, config), VirtualClock(T0_MS))
    assert not (tmp_path / "data").exists()


def test_kube_controller_managers_flags_set_the_controller() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--horizontal-pod-autoscaler-sync-period=30s",
            "--horizontal-pod-autoscaler-tolerance=0.05",
            "--horizontal-pod-autoscaler-downscale-stabilization=1m",
            "--horizontal-pod-autoscaler-cpu-initialization-period=2m",
            "--horizontal-pod-autoscaler-initial-readiness-delay=10s",
            "--feature-gates=HPAScaleToZero=true,HPAConfigurableTolerance=false",
        ]
    )
    settings = settings_of(args)
    assert settings.hpa == ControllerConfig(
        tolerance=0.05,
        cpu_initialization_period_ms=120_000,
        initial_readiness_delay_ms=10_000,
        downscale_stabilization_window_ms=60_000,
        sync_period_ms=30_000,
        configurable_tolerance=False,
        pod_level_resources=True,
    )
    assert settings.feature_gates == FeatureGates(
        hpa_scale_to_zero=True, hpa_configurable_tolerance=False
    )
    assert settings.flags["horizontal-pod-autoscaler-sync-period"] == "30s"
    defaults = settings_of(build_parser().parse_args(["run"]))
    assert (defaults.hpa, defaults.feature_gates) == (ControllerConfig(), FeatureGates())


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--feature-gates=Foo=true", "--feature-gates: unrecognized feature gate: Foo"),
        (
            "--feature-gates=HPAScaleToZero=yes",
            "--feature-gates: invalid value of HPAScaleToZero=yes, err: strconv.ParseBool: "
            'parsing "yes": invalid syntax',
        ),
        (
            "--horizontal-pod-autoscaler-sync-period=0s",
            "--horizontal-pod-autoscaler-sync-period: must be positive",
        ),
    ],
)
def test_bad_controller_flags_are_refused(flag: str, message: str) -> None:
    with pytest.raises(KubepromError) as info:
        settings_of(build_parser().parse_args(["run", flag]))
    assert str(info.value) == message


def test_agent_mode_refuses_hpas(tmp_path: Path) -> None:
    # The HPA API is served beside the query API, which an agent has not.
    path = tmp_path / "kp.yml"
    path.write_text("scrape_configs: []\nhorizontal_pod_autoscalers:" + GOOD)
    with pytest.raises(KubepromError, match=r"^parsing YAML file ") as err:
        Server(
            ServerSettings(str(path), str(tmp_path / "d"), remote=RemoteFlags(agent=True)),
            VirtualClock(T0_MS),
        )
    assert str(err.value) == (
        f"parsing YAML file {path}: field horizontal_pod_autoscalers is not allowed in agent mode"
    )
    assert not (tmp_path / "d").exists()
