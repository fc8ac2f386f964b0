"""``kubeprom simulate --sweep``: a grid of variants in worker processes, the side-by-side
table and CSV with figures the HPA arithmetic predicts, and sweep errors with positions."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kubeprom.cli.main import main
from kubeprom.errors import ConfigError
from kubeprom.sim.scenario import parse_scenario
from kubeprom.sim.sweep import parse_sweep, split_path, variants
from tests.cli.test_simulate import CONSTANT

# 1 core of demand over pods requesting 200m: a 40 % target settles at ceil(1 / 0.08) = 13
# pods, 80 % at ceil(1 / 0.16) = 7; either steady state is within both tolerances. With
# the legacy limit max(2 x current, 4) and the first CPU reading at the third sync (two
# kubelet scrapes needed): 2, 2, 4, 8, then 13 (40 %), or 2, 2, 4, then 7 (80 %), so over 41
# steps of 15 s: (2 + 2 + 4 + 8 + 37 x 13) / 240 = 2.07 and (2 + 2 + 4 + 38 x 7) / 240 = 1.14
# pod-hours.
SWEEP = """\
parameters:
  horizontal_pod_autoscalers[0].spec.metrics[0].resource.target.averageUtilization: [40, 80]
  simulation.controller.tolerance: [0.05, 0.2]
jobs: 2
"""


def test_a_sweep_runs_every_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "scenario.yaml").write_text(CONSTANT)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    out = tmp_path / "out"
    argv = ["--log-level=warn", "simulate", str(tmp_path / "scenario.yaml")]
    assert main([*argv, "--sweep", str(tmp_path / "sweep.yaml"), "--out", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["VARIANT", "AVERAGEUTILIZATION", "TOLERANCE"]
    assert [line.split()[:5] for line in table[1:]] == [
        ["v1", "40", "0.05", "2.07", "13"],
        ["v2", "40", "0.2", "2.07", "13"],
        ["v3", "80", "0.05", "1.14", "7"],
        ["v4", "80", "0.2", "1.14", "7"],
    ]
    with (out / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["peak_replicas"] for r in rows] == ["13", "13", "7", "7"]
    assert [r["simulation.controller.tolerance"] for r in rows] == ["0.05", "0.2", "0.05", "0.2"]
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("v1", "v2", "v3", "v4"):
        assert (out / name / "timeline.csv").exists()
        assert (out / name / "data").is_dir()
    assert "averageUtilization: 80" in (out / "v3" / "scenario.yaml").read_text()
    # A variant is the same run as the scenario file it wrote, run on its own.
    alone = tmp_path / "alone"
    assert (
        main(
            ["--log-level=warn", "simulate", str(out / "v3" / "scenario.yaml"), "--out", str(alone)]
        )
        == 0
    )
    assert (alone / "timeline.csv").read_bytes() == (out / "v3" / "timeline.csv").read_bytes()


def test_field_paths() -> None:
    assert split_path("a.b[0].c") == ("a", "b", 0, "c")
    assert split_path("horizontal_pod_autoscalers[1].spec.minReplicas") == (
        "horizontal_pod_autoscalers",
        1,
        "spec",
        "minReplicas",
    )
    assert split_path("a..b") is None
    assert split_path("[0]") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "parameters: {simulation.duration: 1h}\n",
            r"sweep\.yaml:1:35: parameters\.simulation\.duration: expected a list of values",
        ),
        ("parameters: {'a..b': [1]}\n", r"sweep\.yaml:1:14: parameters\.a\.\.b: not a field path"),
        ("parameters: {}\n", r"sweep\.yaml:1:13: parameters: a sweep needs parameters"),
        ("parameters: {a: [1]}\njobs: 0\n", r"sweep\.yaml:2:7: jobs: must be positive"),
        ("params: {a: [1]}\n", r"sweep\.yaml:1:1: params: field params not found"),
    ],
)
def test_sweep_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        parse_sweep(str(path))


def test_a_missing_list_item_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("parameters: {'horizontal_pod_autoscalers[3].spec.minReplicas': [1]}\n")
    with pytest.raises(ConfigError, match=r"cannot set horizontal_pod_autoscalers\[3\]"):
        variants(parse_sweep(str(path)), CONSTANT, "scenario.yaml")


def test_a_variant_keeps_the_scenarios_text_times(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("parameters: {simulation.duration: [5m, 1h]}\n")
    text = CONSTANT.replace("  duration: 10m\n", "  duration: 10m\n  start: 2027-03-01T06:00:00Z\n")
    found = variants(parse_sweep(str(path)), text, "scenario.yaml")
    assert [v.settings for v in found] == [
        (("simulation.duration", "5m"),),
        (("simulation.duration", "1h"),),
    ]
    variant = parse_scenario(found[1].text, "scenario.yaml[v2]", str(tmp_path))
    assert variant.simulation.start_ms == 1_803_880_800_000  # 2027-03-01T06:00:00Z
    assert variant.simulation.duration_ms == 3_600_000
