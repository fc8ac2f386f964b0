"""``kubeprom rules backtest``: the same history in a kubeprom data directory (``--data``)
and in Debian's Prometheus 2.42 (``--server``, both backfilled from one OpenMetrics file)
gives the same alert episodes; the table, JSON and the timeline PNG; a failing rule exits 1.

The history has jittered scrape times, so no sample sits exactly on a window's edge and the
2.x-vs-3.x window change does not show; it has no staleness markers (backfilled data has
none), which the HTTP API could not return anyway.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kubeprom.cli.main import main
from tests.support.procs import free_port, require_binary, running

T0 = 1_700_000_000  # seconds: the history starts here
HOURS = 3

RULES = """\
groups:
- name: recording
  rules:
  - record: instance:cpu:rate1m
    expr: rate(cpu_seconds_total[1m])
- name: alerts
  rules:
  - alert: Busy
    expr: instance:cpu:rate1m > 0.8
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: '{{ $labels.instance }} at {{ $value | humanizePercentage }}'
  - alert: MemoryHigh
    expr: memory_used_ratio > 0.9
    keep_firing_for: 10m
    annotations:
      summary: '{{ $labels.instance }}'
"""


def history(path: Path) -> None:
    rng = np.random.default_rng(7)
    lines = ["# TYPE cpu_seconds_total counter", "# TYPE memory_used_ratio gauge"]
    n = HOURS * 240
    for inst in ("a", "b", "c"):
        t = T0 + 15 * np.arange(n) + rng.integers(1, 14) + rng.integers(0, 50, n) / 1000
        busy = np.clip(0.5 + np.cumsum(rng.normal(0, 0.04, n)), 0.05, 1.0)
        cpu = np.cumsum(busy * 15)
        mem = np.clip(0.8 + np.cumsum(rng.normal(0, 0.01, n)), 0, 1)
        for k in range(n):
            lines.append(f'cpu_seconds_total{{instance="{inst}"}} {cpu[k]:.3f} {t[k]:.3f}')
            lines.append(f'memory_used_ratio{{instance="{inst}"}} {mem[k]:.4f} {t[k]:.3f}')
    # OpenMetrics wants a metric's samples together
    cpu_lines = [x for x in lines[2:] if x.startswith("cpu")]
    mem_lines = [x for x in lines[2:] if x.startswith("memory")]
    path.write_text("\n".join([lines[0], *cpu_lines, lines[1], *mem_lines, "# EOF"]) + "\n")


def backtest(capsys: pytest.CaptureFixture[str], *where: str, extra: tuple[str, ...] = ()) -> Any:
    argv = [
        "rules",
        "backtest",
        *where,
        "--start",
        str(T0 + 600),
        "--end",
        str(T0 + HOURS * 3600 - 60),
    ]
    code = main([*argv, "-o", "json", *extra])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    return out


def episodes(report: Any) -> list[Any]:
    return sorted(
        (
            r["name"],
            json.dumps(e["labels"], sort_keys=True),
            e["pending_at"],
            e["fired_at"],
            e["resolved_at"],
            e["annotations"]["summary"],
        )
        for r in report["rules"]
        if r["type"] == "alerting"
        for e in r["episodes"]
    )


@pytest.mark.slow
def test_data_dir_and_real_prometheus_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus, promtool = require_binary("prometheus"), require_binary("promtool")
    history(tmp_path / "in.om")
    (tmp_path / "rules.yml").write_text(RULES)
    assert main(["tsdb", "import", "--data", str(tmp_path / "kp"), str(tmp_path / "in.om")]) == 0
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(tmp_path / "in.om"),
            str(tmp_path / "prom"),
        ],
        check=True,
        capture_output=True,
    )
    (tmp_path / "prometheus.yml").write_text("scrape_configs: []\n")
    capsys.readouterr()
    local = backtest(capsys, str(tmp_path / "rules.yml"), "--data", str(tmp_path / "kp"))
    port = free_port()
    argv = [
        prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running(argv, f"{url}/-/ready", tmp_path / "prometheus.log"):
        remote = backtest(capsys, str(tmp_path / "rules.yml"), "--server", url)
    got = episodes(local)
    assert got == episodes(remote)
    assert {e[0] for e in got} == {"Busy", "MemoryHigh"}
    assert any(e[3] is not None for e in got)  # something fired


def test_table_json_plot_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history(tmp_path / "in.om")
    (tmp_path / "rules.yml").write_text(RULES)
    assert main(["tsdb", "import", "--data", str(tmp_path / "kp"), str(tmp_path / "in.om")]) == 0
    capsys.readouterr()
    window = ["--start", str(T0 + 600), "--end", str(T0 + HOURS * 3600 - 60)]
    png = tmp_path / "timeline.png"
    code = main(
        [
            "rules",
            "backtest",
            str(tmp_path / "rules.yml"),
            "--data",
            str(tmp_path / "kp"),
            *window,
            "--plot",
            str(png),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ALERT", "LABELS", "PENDING", "FIRING", "RESOLVED", "FIRED", "FOR"]
    assert any(line.startswith("Busy ") for line in lines)
    assert "2 alerting rules, 2 ever active" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert err == f"wrote {png} (2 alerts)\n"
    report = backtest(
        capsys, str(tmp_path / "rules.yml"), "--data", str(tmp_path / "kp"), extra=("--step", "30s")
    )
    assert {r["interval"] for r in report["rules"]} == {"30s"}
    (tmp_path / "bad.yml").write_text(
        "groups:\n- name: g\n  rules:\n  - record: x\n"
        "    expr: memory_used_ratio * 0\n    labels: {instance: same}\n"
    )
    code = main(
        ["rules", "backtest", str(tmp_path / "bad.yml"), "--data", str(tmp_path / "kp"), *window]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert (
        f"error: {tmp_path / 'bad.yml'}: group 'g', rule 'x': "
        "duplicate label sets after applying rule labels" in out
    )
