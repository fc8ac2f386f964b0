"""Alerts from ``kubeprom run`` delivered to Debian's Alertmanager (and its webhook), resolved
on reload, re-sent after an Alertmanager outage; the rules and alerts APIs meanwhile."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.support.procs import free_port, require_binary, running

pytestmark = pytest.mark.slow

DEADLINE_S = 60.0


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def post(url: str) -> int:
    req = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something truthy (servers work on their own clocks)."""
    deadline = time.monotonic() + DEADLINE_S
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as err:
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen within {DEADLINE_S}s (last: {last!r})")


class Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook() -> Iterator[int]:
    Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


RULES = """groups:
  - name: demo
    interval: 1s
    rules:
      - alert: AlwaysOn
        expr: vector(1) {cond}
        labels: {{severity: warning}}
        annotations: {{summary: always on, runbook: "https://example.com/always"}}
"""


def test_alert_reaches_alertmanager_and_webhook_resolves_and_survives_an_outage(
    tmp_path: Path,
) -> None:
    am_bin = require_binary("prometheus-alertmanager")
    am_port, port = free_port(), free_port()
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.format(cond=""))
    (tmp_path / "kubeprom.yml").write_text(
        "global: {evaluation_interval: 1s, external_labels: {cluster: test}}\n"
        "rule_files: [rules.yml]\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
    )
    am_url = f"http://127.0.0.1:{am_port}"
    base = f"http://127.0.0.1:{port}"

    def am_argv(storage: str) -> list[str]:
        return [
            am_bin, f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
            f"--storage.path={tmp_path / storage}", f"--config.file={tmp_path / 'am.yml'}",
        ]  # fmt: skip

    def am_alerts() -> list[Any]:
        return [a for a in get_json(f"{am_url}/api/v2/alerts") if a["status"]["state"] == "active"]

    def metric(name: str) -> float:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith((name + "{", name + " ")):
                    return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not on /metrics")

    kp_argv = [
        sys.executable, "-m", "kubeprom.cli.main", "run",
        "--config", str(tmp_path / "kubeprom.yml"), "--data", str(tmp_path / "data"),
        "--listen", f"127.0.0.1:{port}", "--rules.alert.resend-delay=1s",
        "--alertmanager.notification-queue-capacity=50",
    ]  # fmt: skip
    with webhook() as hook_port:
        (tmp_path / "am.yml").write_text(
            "route: {receiver: hook, group_wait: 1s, group_interval: 1s, repeat_interval: 1h}\n"
            "receivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - {{url: 'http://127.0.0.1:{hook_port}/hook', send_resolved: true}}\n"
        )
        with running(kp_argv, f"{base}/-/ready", tmp_path / "kubeprom.log"):
            with running(am_argv("am1"), f"{am_url}/-/ready", tmp_path / "am1.log"):
                (alert,) = eventually(am_alerts, "the alert in Alertmanager")
                assert alert["labels"] == {
                    "alertname": "AlwaysOn",
                    "severity": "warning",
                    "cluster": "test",
                }
                assert alert["annotations"] == {
                    "summary": "always on",
                    "runbook": "https://example.com/always",
                }
                assert alert["generatorURL"] == "/graph?g0.expr=vector%281%29&g0.tab=1"
                hooked = eventually(lambda: Hook.received, "the webhook notification")
                assert hooked[0]["status"] == "firing"
                assert hooked[0]["alerts"][0]["labels"]["alertname"] == "AlwaysOn"

                api = get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
                assert [(a["labels"], a["state"], a["value"]) for a in api] == [
                    ({"alertname": "AlwaysOn", "severity": "warning"}, "firing", "1e+00")
                ]
                (group,) = get_json(f"{base}/api/v1/rules")["data"]["groups"]
                assert (group["name"], group["file"], group["interval"]) == (
                    "demo",
                    str(rules),
                    1.0,
                )
                assert [
                    (r["name"], r["state"], r["health"], r["type"]) for r in group["rules"]
                ] == [("AlwaysOn", "firing", "ok", "alerting")]
                assert get_json(f"{base}/api/v1/alertmanagers")["data"] == {
                    "activeAlertmanagers": [{"url": f"{am_url}/api/v2/alerts"}],
                    "droppedAlertmanagers": [],
                }
                sent_before = metric("prometheus_notifications_sent_total")
                assert sent_before >= 1

            # Alertmanager is down: sends fail and are counted, the queue stays bounded.
            errors = eventually(
                lambda: metric("prometheus_notifications_errors_total") >= 2, "send errors"
            )
            assert errors
            assert metric("prometheus_notifications_queue_length") <= 50

            # Back with empty storage: the firing alert arrives again (re-sent, not lost).
            with running(am_argv("am2"), f"{am_url}/-/ready", tmp_path / "am2.log"):
                (again,) = eventually(am_alerts, "the alert after the outage")
                assert again["labels"]["alertname"] == "AlwaysOn"

                # A broken rule file on reload: an error, and the running rules go on.
                rules.write_text("groups: [{name: demo, rules: [{alert: X}]}]\n")
                assert post(f"{base}/-/reload") == 500
                (kept,) = get_json(f"{base}/api/v1/rules")["data"]["groups"]
                assert kept["rules"][0]["name"] == "AlwaysOn"

                # The condition clears: the alert resolves in Alertmanager and at the hook.
                rules.write_text(RULES.format(cond="== 2"))
                assert post(f"{base}/-/reload") == 200
                eventually(lambda: am_alerts() == [], "the alert resolved in Alertmanager")
                eventually(
                    lambda: any(n["status"] == "resolved" for n in Hook.received),
                    "the resolved notification",
                )
                assert get_json(f"{base}/api/v1/alerts")["data"]["alerts"] == []
