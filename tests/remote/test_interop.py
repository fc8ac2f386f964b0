"""Remote write against real receivers: VictoriaMetrics 1.79 and Prometheus 2.42.

kubeprom scrapes itself every second and remote-writes; after a clean stop every sample
in its store must be in the receiver with the same labels (plus the external labels),
timestamp and value. VictoriaMetrics keeps values as decimals, so values are compared
with a relative tolerance of 1e-12 there, exactly with Prometheus.

The outage test stops the receiver for ``KUBEPROM_RW_OUTAGE_S`` seconds (default 20; the
issue's two minutes with ``KUBEPROM_RW_OUTAGE_S=120``): long enough for many failed
attempts with backoff and for more samples than the shards hold to wait in the WAL.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.remote.peers import (
    caught_up,
    env_seconds,
    metric_value,
    missing,
    prometheus_samples,
    serving,
    start_kubeprom,
    start_prometheus,
    start_vm,
    stored_samples,
    vm_missing,
    vm_samples,
    wait_until,
)
from tests.support.procs import free_port

pytestmark = pytest.mark.slow

EXTERNAL = {"replica": "a"}


def kubeprom_config(path: Path, self_port: int, write_url: str, **queue: object) -> Path:
    q = {
        "batch_send_deadline": "1s",
        "capacity": 500,
        "max_samples_per_send": 200,
        "max_backoff": "2s",
        **queue,
    }
    queue_yaml = ", ".join(f"{k}: {v}" for k, v in q.items())
    path.write_text(
        f"""
global:
  scrape_interval: 1s
  external_labels: {{replica: a}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{self_port}"]}}]
remote_write:
  - url: {write_url}
    queue_config: {{{queue_yaml}}}
"""
    )
    return path


def appended(base: str) -> float:
    return metric_value(base, "prometheus_tsdb_head_samples_appended_total")


def test_victoria_metrics_gets_every_sample(tmp_path: Path) -> None:
    with serving(start_vm(tmp_path / "vm", tmp_path / "vm.log")) as vm:
        port = free_port()
        config = kubeprom_config(tmp_path / "kp.yml", port, vm.url + "/api/v1/write")
        kp = start_kubeprom(config, tmp_path / "kp", tmp_path / "kp.log", port=port)
        with serving(kp):
            wait_until(lambda: appended(kp.url) > 2000, 60, "kubeprom to scrape")
            wait_until(caught_up(kp.url), 60, "remote write to catch up")
        assert kp.proc.returncode == 0
        want = stored_samples(tmp_path / "kp", EXTERNAL)
        assert vm_missing(want, vm.url) == []
        assert {s[0].get("replica") for s in vm_samples(vm.url)} == {"a"}
    assert len(want) > 2000


def test_prometheus_receiver_gets_every_sample_exactly(tmp_path: Path) -> None:
    prom_cfg = tmp_path / "prom.yml"
    prom_cfg.write_text("global: {}\n")
    with serving(
        start_prometheus(
            prom_cfg, tmp_path / "prom", tmp_path / "prom.log", "--web.enable-remote-write-receiver"
        )
    ) as prom:
        port = free_port()
        config = kubeprom_config(tmp_path / "kp.yml", port, prom.url + "/api/v1/write")
        kp = start_kubeprom(config, tmp_path / "kp", tmp_path / "kp.log", port=port)
        with serving(kp):
            wait_until(lambda: appended(kp.url) > 2000, 60, "kubeprom to scrape")
            wait_until(caught_up(kp.url), 60, "remote write to catch up")
        want = stored_samples(tmp_path / "kp", EXTERNAL)
        newest = max(t for _, t, _ in want) / 1000
        have = prometheus_samples(prom.url, newest)
    assert missing(want, have) == []
    assert want == have


OUTAGE_S = env_seconds("KUBEPROM_RW_OUTAGE_S", 20)


@pytest.mark.timeout(int(3 * OUTAGE_S + 240))
def test_an_outage_of_the_receiver_leaves_no_gap(tmp_path: Path) -> None:
    outage_s = OUTAGE_S
    vm_port = free_port()
    port = free_port()
    config = kubeprom_config(tmp_path / "kp.yml", port, f"http://127.0.0.1:{vm_port}/api/v1/write")
    vm = start_vm(tmp_path / "vm", tmp_path / "vm.log", port=vm_port)
    kp = start_kubeprom(config, tmp_path / "kp", tmp_path / "kp.log", port=port)
    try:
        wait_until(caught_up(kp.url), 60, "the first samples to be sent")
        vm.stop()
        down_at = appended(kp.url)
        wait_until(lambda: appended(kp.url) > down_at + outage_s * 150, outage_s * 3, "the outage")
        retried = metric_value(kp.url, "prometheus_remote_storage_samples_retried_total")
        pending = metric_value(kp.url, "prometheus_remote_storage_samples_pending")
        backlog = appended(kp.url) - down_at
        assert retried > 0
        assert backlog > pending  # the rest waits in the WAL, not in memory
        assert pending <= 500 + 300  # one shard's capacity plus one WAL record
        vm = start_vm(tmp_path / "vm", tmp_path / "vm.log", port=vm_port)
        wait_until(caught_up(kp.url), 120, "remote write to catch up after the outage")
        kp.stop()
        assert kp.proc.returncode == 0
        want = stored_samples(tmp_path / "kp", EXTERNAL)
        assert vm_missing(want, vm.url) == []
    finally:
        kp.stop()
        vm.stop()


def test_killed_mid_send_resumes_with_nothing_missing(tmp_path: Path) -> None:
    vm_port = free_port()
    port = free_port()
    config = kubeprom_config(tmp_path / "kp.yml", port, f"http://127.0.0.1:{vm_port}/api/v1/write")
    vm = start_vm(tmp_path / "vm", tmp_path / "vm.log", port=vm_port)
    kp = start_kubeprom(config, tmp_path / "kp", tmp_path / "kp.log", port=port)
    try:
        wait_until(caught_up(kp.url), 60, "the first samples to be sent")
        vm.stop()  # sends now fail and retry: kubeprom is killed in the middle of them
        down_at = appended(kp.url)
        wait_until(lambda: appended(kp.url) > down_at + 1500, 60, "a backlog")
        kp.stop(signal.SIGKILL)
        vm = start_vm(tmp_path / "vm", tmp_path / "vm.log", port=vm_port)
        kp = start_kubeprom(config, tmp_path / "kp", tmp_path / "kp.log", port=port)
        restarted_at = appended(kp.url)
        wait_until(lambda: appended(kp.url) > restarted_at + 1000, 60, "scrapes after the restart")
        wait_until(caught_up(kp.url), 120, "remote write to catch up after the restart")
        kp.stop()
        want = stored_samples(tmp_path / "kp", EXTERNAL)
        assert len(want) > 2500  # before the kill, the backlog, and after the restart
        assert vm_missing(want, vm.url) == []
    finally:
        kp.stop()
        vm.stop()
