"""``kubeprom run`` as a user starts it: serves, persists, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kubeprom run exited early: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} not ready within {STARTUP_TIMEOUT_S}s")


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeprom.cli.main",
                "run",
                "--listen",
                f"127.0.0.1:{port}",
                "--data",
                str(tmp_path / "data"),
            ],
            stdout=out,
            stderr=out,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", proc, log)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_run_serves_health_and_metrics_then_stops_on_sigterm(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port, proc = server
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=5) as r:
        assert r.read() == b"kubeprom is Healthy.\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
    assert "prometheus_tsdb_head_series 0.0" in body
    assert "prometheus_tsdb_head_samples_appended_total 0.0" in body
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
