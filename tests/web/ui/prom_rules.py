"""Rule groups in every state from a real Prometheus, for the Rules and Alerts pages' tests.

:func:`capture` runs Debian's ``prometheus`` with :data:`RULES` (evaluated every second)
until each alerting rule has reached its state, and returns what ``/api/v1/rules``,
``/api/v1/rules?type=alert`` and ``/api/v1/alerts`` answered. ``testdata/rules_api.json``
holds one such capture (``python -m tests.web.ui.prom_rules`` writes a new one);
``test_rules_fixture.py`` checks that a live capture still has its shape.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.procs import free_port, require_binary, running

FIXTURE = Path(__file__).parent / "testdata" / "rules_api.json"

RULES = """\
groups:
  - name: cluster
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetUp
        expr: up == 1
        labels: {severity: info}
        annotations:
          summary: "{{ $labels.job }} is up"
          description: "value {{ $value }}"
      - alert: SlowBurn
        expr: vector(42)
        for: 1h
        keep_firing_for: 5m
        labels: {severity: warning}
        annotations: {summary: burning slowly}
      - alert: NeverFires
        expr: vector(0) > 1
        labels: {severity: page}
  - name: broken
    interval: 1s
    rules:
      - record: broken:duplicate
        expr: >-
          vector(1) + on() group_left()
          (vector(1) or label_replace(vector(2), "a", "b", "", ""))
"""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _settled(rules: Any) -> bool:
    states = {
        r["name"]: r.get("state")
        for g in rules["data"]["groups"]
        for r in g["rules"]
        if r["lastEvaluation"] != "0001-01-01T00:00:00Z"
    }
    return (
        states.get("TargetUp") == "firing"
        and states.get("SlowBurn") == "pending"
        and ("broken:duplicate" in states)
    )


def capture(workdir: Path, timeout_s: float = 60.0) -> dict[str, Any]:
    """``{"rules": ..., "alert_rules": ..., "alerts": ...}``: the three answers, verbatim."""
    binary = require_binary("prometheus")
    port = free_port()
    (workdir / "rules.yml").write_text(RULES)
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    base = f"http://127.0.0.1:{port}"
    argv = [
        binary, f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    with running(argv, f"{base}/-/ready", workdir / "prometheus.log"):
        deadline = time.monotonic() + timeout_s
        while True:
            rules = _get(f"{base}/api/v1/rules")
            if _settled(rules):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"rules did not settle in {timeout_s}s: {rules}")
            time.sleep(0.2)  # polling a server that evaluates every second
        return {
            "rules": rules,
            "alert_rules": _get(f"{base}/api/v1/rules?type=alert"),
            "alerts": _get(f"{base}/api/v1/alerts"),
        }


def shape(value: Any) -> Any:
    """The JSON value's structure: object keys and value types, lists by their items."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [shape(v) for v in value]
        return sorted({json.dumps(i, sort_keys=True) for i in items})
    return type(value).__name__


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        data = capture(Path(tmp))
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
