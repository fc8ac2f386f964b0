"""``simulation.replay``: load taken from recorded series, from a kubeprom data directory and
from a real Prometheus 2.42 over its HTTP API, with a PromQL expression per Deployment; and
replay errors with their positions."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from kubeprom.cli.main import main
from kubeprom.cli.simulate_cmd import open_source
from kubeprom.errors import ConfigError
from kubeprom.sim.scenario import load_scenario
from tests.cli.test_simulate import CONSTANT
from tests.support.procs import require_binary, running_prometheus

T0_S = 1_790_000_000  # the recorded day (2026-09-21T14:13:20Z)
RECORDED_FROM = "2026-09-21T14:13:20Z"


def recording(path: Path) -> None:
    """A counter served at 50 requests/s for 10 minutes, then 150/s, sampled every 15 s."""
    lines = ["# TYPE http_requests counter"]
    total = 0.0
    for k in range(121):  # 30 minutes
        lines.append(f'http_requests_total{{app="web"}} {total} {T0_S + 15 * k}')
        total += 15 * (50 if 15 * k < 600 else 150)
    path.write_text("\n".join([*lines, "# EOF"]) + "\n")


def scenario(tmp_path: Path, source: str, expr: str = "sum(rate(http_requests_total[1m]))") -> Path:
    replay = (
        "simulation:\n"
        "  duration: 20m\n"
        "  replay:\n"
        f"    source: {source}\n"
        f"    from: {RECORDED_FROM}\n"
        "    step: 15s\n"
        "    deployments:\n"
        f"      web: '{expr}'\n"
    )
    path = tmp_path / "replay.yaml"
    path.write_text(CONSTANT.replace("simulation:\n  duration: 10m\n", replay))
    return path


def check_run(tmp_path: Path, path: Path) -> None:
    out = tmp_path / "out"
    assert main(["--log-level=warn", "simulate", str(path), "--out", str(out)]) == 0
    with (out / "timeline.csv").open() as f:
        rows = list(csv.DictReader(f))
    load = [float(r["load_rps"]) for r in rows]
    # rate()[1m] over the recording: 50/s until 10 min, 150/s from a minute after.
    assert load[4:40] == pytest.approx([50.0] * 36)
    assert load[45:] == pytest.approx([150.0] * (len(load) - 45))
    # 50 req/s x 10m = 0.5 cores. Over 6 pods each reads 84m (83.3m: metrics-server's
    # quantities round up to whole millicores in the controller's MilliValue), 504m of 1200m
    # requested is 42 %, and ceil(6 x 42 / 50) = 6 stays. 150 req/s = 1.5 cores: 14 pods
    # read 108m each, 54 %, within the 10 % tolerance of 50 %: 14 stays.
    assert rows[39]["spec_replicas"] == "6"
    assert rows[-1]["spec_replicas"] == "14"


def test_replay_from_a_data_directory(tmp_path: Path) -> None:
    recording(tmp_path / "rec.om")
    data = tmp_path / "recorded"
    assert main(["tsdb", "import", str(tmp_path / "rec.om"), "--data", str(data), "--quiet"]) == 0
    check_run(tmp_path, scenario(tmp_path, "recorded"))  # relative to the scenario


@pytest.mark.slow
def test_replay_from_prometheus(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    recording(tmp_path / "rec.om")
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(tmp_path / "rec.om"),
            str(tmp_path / "data"),
        ],
        check=True,
        capture_output=True,
    )
    with running_prometheus(tmp_path, "scrape_configs: []\n") as url:
        check_run(tmp_path, scenario(tmp_path, url))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "http_requests_total",
            r"replay\.yaml:35:7: simulation\.replay\.deployments\.web: 'http_requests_total' "
            r"gave 0 series",
        ),
        ("sum(rate(", r"replay\.yaml:35:7: simulation\.replay\.deployments\.web: .*parse error"),
    ],
)
def test_replay_errors(tmp_path: Path, expr: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    path = scenario(tmp_path, "empty", expr)
    with pytest.raises(ConfigError, match=message):
        load_scenario(str(path), opener=open_source)


def test_a_replay_of_an_unknown_deployment(tmp_path: Path) -> None:
    path = scenario(tmp_path, "nowhere")
    path.write_text(path.read_text().replace("      web: ", "      shop: "))
    with pytest.raises(ConfigError, match=r"replay\.yaml:35:7: .*no Deployment default/shop"):
        load_scenario(str(path), opener=open_source)
