"""``kubeprom run --agent``: the WAL-only store, and the server answering as Prometheus' agent."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kubeprom.model import Labels
from kubeprom.tsdb.agent import AgentDB
from tests.remote.peers import (
    caught_up,
    metric_value,
    serving,
    start_kubeprom,
    start_vm,
    stored_samples,
    vm_missing,
    wait_until,
)
from tests.support.procs import free_port

T0 = 1_700_000_000_000


def commit(db: AgentDB, t: int, names: list[str], values: list[float]) -> tuple[int, int]:
    app = db.appender()
    refs = np.array([app.ref(Labels.from_dict({"__name__": n})) for n in names])
    stats = app.append(t, refs, np.array(values))
    app.commit()
    return stats.appended, stats.out_of_order


def test_agent_store_appends_rejects_and_survives_a_restart(tmp_path: Path) -> None:
    db = AgentDB.open(tmp_path)
    assert commit(db, T0, ["a", "b"], [1.0, 2.0]) == (2, 0)
    assert commit(db, T0 + 10, ["a"], [3.0]) == (1, 0)
    assert commit(db, T0 + 5, ["a", "b"], [9.0, 9.0]) == (1, 1)  # a is behind, b is not
    db.truncate()  # a checkpoint: series and newest samples
    assert commit(db, T0 + 20, ["c"], [1.0]) == (1, 0)
    db.close()
    again = AgentDB.open(tmp_path)
    assert again.num_series == 3
    assert again.maxt == T0 + 20
    # a's newest is T0+10, b's T0+5, c's T0+20: only b takes T0+6
    assert commit(again, T0 + 6, ["a", "b", "c"], [0.0, 0.0, 0.0]) == (1, 2)
    assert commit(again, T0 + 30, ["a", "b", "c"], [0.0, 0.0, 0.0]) == (3, 0)
    again.close()


def test_agent_truncation_keeps_what_remote_write_has_not_read(tmp_path: Path) -> None:
    db = AgentDB.open(tmp_path)
    db.wal.keep_segments_from(lambda: 1)
    commit(db, T0, ["a"], [1.0])
    db.truncate()
    assert db.wal.segments == [1, 2]  # segment 1 is held for remote write
    db.wal.keep_segments_from(lambda: None)
    db.truncate()
    assert db.wal.segments == [3]
    db.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.slow
def test_agent_scrapes_and_remote_writes_but_answers_no_queries(tmp_path: Path) -> None:
    with serving(start_vm(tmp_path / "vm", tmp_path / "vm.log")) as vm:
        port = free_port()
        (tmp_path / "kp.yml").write_text(
            f"""
global: {{scrape_interval: 1s, external_labels: {{replica: agent}}}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {vm.url}/api/v1/write
    queue_config: {{batch_send_deadline: 1s}}
"""
        )
        kp = start_kubeprom(
            tmp_path / "kp.yml", tmp_path / "kp", tmp_path / "kp.log", "--agent", port=port
        )
        with serving(kp):
            unavailable = {
                "status": "error",
                "errorType": "execution",
                "error": "unavailable with Prometheus Agent",
            }
            for path in (
                "/api/v1/query?query=up",
                "/api/v1/series?match[]=up",
                "/api/v1/labels",
                "/api/v1/status/tsdb",
            ):
                status, text = _get(kp.url + path)
                assert (status, json.loads(text)) == (422, unavailable), path
            assert _get(kp.url + "/api/v1/targets")[0] == 200
            wait_until(
                lambda: metric_value(kp.url, "prometheus_agent_samples_appended_total") > 1000,
                60,
                "scrapes",
            )
            assert metric_value(kp.url, "prometheus_agent_active_series") > 50
            wait_until(caught_up(kp.url), 60, "remote write to catch up")
        want = stored_samples(tmp_path / "kp", {"replica": "agent"})  # the agent's WAL, replayed
        assert len(want) > 1000
        assert vm_missing(want, vm.url) == []


def test_agent_mode_refuses_rule_files(tmp_path: Path) -> None:
    (tmp_path / "kp.yml").write_text("rule_files: [r.yml]\nscrape_configs: []\n")
    proc = subprocess.run(
        [sys.executable, "-m", "kubeprom.cli.main", "run", "--agent",
         "--config", str(tmp_path / "kp.yml"), "--data", str(tmp_path / "d"),
         "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        f"parsing YAML file {tmp_path / 'kp.yml'}: field rule_files is not allowed in agent mode"
    )
