"""``kubeprom exporter`` as a user runs it: prints the URLs, serves them, stops on SIGTERM."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kubeprom.cli.main import main

from .helpers import NODE

STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
CONFIG = f"""\
global: {{scrape_interval: 15s}}
scrape_configs: []
cluster:
  nodes: [{NODE}]
  deployments:
    - metadata: {{name: web}}
      spec: {{replicas: 2, template: {{spec: {{containers: [{{name: app, image: nginx}}]}}}}}}
"""


def read_urls(proc: subprocess.Popen[bytes], count: int) -> list[str]:
    """The first ``count`` URLs the command prints, within the startup timeout."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = b""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while buffer.count(b"\n") < count:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                raise AssertionError(f"printed {buffer!r} within {STARTUP_TIMEOUT_S}s")
            chunk = os.read(fd, 65536)  # unbuffered: the selector sees every byte
            if not chunk:
                raise AssertionError(f"exited early ({proc.wait()}): printed {buffer!r}")
            buffer += chunk
    return [line.split()[-1].decode() for line in buffer.splitlines()[:count]]


def test_serves_prints_urls_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "kubeprom.yml"
    config.write_text(CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeprom.cli.main", "exporter", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        urls = read_urls(proc, 3)
        assert [u.split("/", 3)[-1] for u in urls] == [
            "metrics/cadvisor",
            "metrics/resource",
            "metrics",
        ]
        for url in urls:
            assert url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200
                assert b"# TYPE" in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_config_without_a_cluster_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kubeprom.yml"
    config.write_text("global: {}\nscrape_configs: []\n")
    assert main(["exporter", "--config", str(config)]) == 1
    assert capsys.readouterr().err == (
        f"kubeprom: error: {config}: no cluster: section to simulate\n"
    )


def test_a_bad_cluster_is_reported_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kubeprom.yml"
    config.write_text(CONFIG.replace("replicas: 2", "replicas: two"))
    assert main(["exporter", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kubeprom: error: {config}:7:")
    assert "cluster.deployments[0].spec.replicas: expected an integer, got 'two'" in err
