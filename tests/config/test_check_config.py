"""``kubeprom check config``: promtool's output lines and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.cli.main import main

TESTDATA = Path(__file__).parent / "testdata"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", "config", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    minimal = str(TESTDATA / "minimal.good.yml")
    timeouts = str(TESTDATA / "global_timeout.good.yml")
    code, out, err = run(capsys, minimal, timeouts)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"Checking {minimal}",
        f" SUCCESS: {minimal} is valid prometheus config file syntax",
        "",
        f"Checking {timeouts}",
        f" SUCCESS: {timeouts} is valid prometheus config file syntax",
        "",
    ]


def test_bad_file_fails_with_its_position(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(TESTDATA / "bad_duration.bad.yml")
    good = str(TESTDATA / "minimal.good.yml")
    code, out, err = run(capsys, bad, good)
    assert code == 1
    assert out.splitlines() == [
        f"Checking {bad}",
        "",
        f"Checking {good}",
        f" SUCCESS: {good} is valid prometheus config file syntax",
        "",
    ]
    assert err.splitlines() == [
        f"  FAILED: {bad}:3:22: scrape_configs[0].scrape_interval: "
        'unknown unit "x" in duration "5x"'
    ]


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yml")
    code, _, err = run(capsys, missing)
    assert code == 1
    assert err == f"  FAILED: {missing}: cannot read config: No such file or directory\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.rules.yml").write_text("groups: []\n")
    (tmp_path / "rules" / "b.rules.yml").write_text("groups: []\n")
    (tmp_path / "first.rules").write_text("groups: []\n")
    (tmp_path / "sd").mkdir()
    (tmp_path / "sd" / "nodes.yml").write_text("- targets: [a:9100]\n")
    return tmp_path


CONFIG = """\
rule_files:
  - first.rules
  - rules/*.rules.yml
  - none/*.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [localhost:9100]
    file_sd_configs:
      - files: [sd/*.yml, missing/*.json]
"""


def test_rule_files_and_file_sd_are_resolved_from_the_config_directory(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    cfg = project / "prometheus.yml"
    cfg.write_text(CONFIG)
    code, out, err = run(capsys, str(cfg))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"Checking {cfg}",
        f"  WARNING: file '{project}/missing/*.json' for file_sd in scrape job 'node' does not "
        "exist",
        "  SUCCESS: 3 rule files found",
        f" SUCCESS: {cfg} is valid prometheus config file syntax",
        "",
        # then each rule file is checked, as promtool does
        f"Checking {project}/first.rules",
        "  SUCCESS: 0 rules found",
        "",
        f"Checking {project}/rules/a.rules.yml",
        "  SUCCESS: 0 rules found",
        "",
        f"Checking {project}/rules/b.rules.yml",
        "  SUCCESS: 0 rules found",
        "",
    ]


def test_a_named_rule_file_must_exist(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    cfg = project / "prometheus.yml"
    cfg.write_text("rule_files: [gone.rules]\n")
    code, _, err = run(capsys, str(cfg))
    assert code == 1
    assert err == f"  FAILED: {cfg}: '{project}/gone.rules' does not point to an existing file\n"
    # --syntax-only does not look at the files.
    assert run(capsys, "--syntax-only", str(cfg))[0] == 0


def test_bad_file_sd_file_fails(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "sd" / "nodes.yml").write_text("- targets: [a:9100]\n  lables: {}\n")
    cfg = project / "prometheus.yml"
    cfg.write_text(CONFIG)
    code, _, err = run(capsys, str(cfg))
    assert code == 1
    assert err == (
        f"  FAILED: {project}/sd/nodes.yml:2:3: [0].lables: "
        "field lables not found in type targetgroup.Group\n"
    )


def test_targets_that_cannot_be_built_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "scrape_configs:\n"
        "  - job_name: web\n"
        "    static_configs: [{targets: [a]}]\n"
        "    relabel_configs:\n"
        "      - target_label: __address__\n"
        "        replacement: http://a/metrics\n"
    )
    code, _, err = run(capsys, str(cfg))
    assert code == 1
    assert err == (
        f"  FAILED: {cfg}: scrape job 'web': instance 0 in group 0: "
        "'http://a/metrics' is not a valid hostname\n"
    )
