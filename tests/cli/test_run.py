"""``kubeprom run`` as a user starts it: serves, persists, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.procs import free_port, running


def test_run_serves_health_and_metrics_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "kubeprom.cli.main",
        "run",
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(tmp_path / "data"),
    ]
    with running(argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "server.log") as proc:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=5) as r:
            assert r.read() == b"kubeprom is Healthy.\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert "prometheus_tsdb_head_samples_appended_total" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert (tmp_path / "data" / "wal").is_dir()


def test_run_rejects_a_bad_listen_address(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeprom.cli.main",
            "run",
            "--listen",
            "nowhere",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert out.stderr.strip() == "kubeprom: error: --listen: expected HOST:PORT, got 'nowhere'"
