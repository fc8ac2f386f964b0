"""``kubeprom run`` flags of the HTTP server: web config, admin API, reload, query limits."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt

from kubeprom.config.http_client import load_http_config
from kubeprom.web.client import PrometheusClient
from tests.support.certs import self_signed
from tests.support.procs import free_port

READY_TIMEOUT_S = 30.0


def _request(
    url: str, *, method: str = "GET", auth: tuple[str, str] | None = None, ctx: Any = None
) -> tuple[int, str]:
    req = urllib.request.Request(url, method=method, data=b"" if method != "GET" else None)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_tls_basic_auth_admin_and_reload(tmp_path: Path) -> None:
    self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
        f"basic_auth_users:\n  admin: {hashed}\n"
    )
    config = tmp_path / "kubeprom.yml"
    config.write_text("scrape_configs: []\n")
    port = free_port()
    argv = [
        sys.executable, "-m", "kubeprom.cli.main", "run", "--config", str(config),
        "--data", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}",
        "--web.config.file", str(tmp_path / "web.yml"), "--enable-admin-api",
        "--query.max-concurrency", "4",
    ]  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(tmp_path / "s.crt"))
    auth = ("admin", "pw")
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        status = 0
        while time.monotonic() < deadline and status != 200:
            assert proc.poll() is None, log.read_text()
            try:
                status, _ = _request(f"{base}/-/ready", auth=auth, ctx=ctx)
            except OSError:
                time.sleep(0.1)
        assert status == 200, log.read_text()

        assert _request(f"{base}/api/v1/labels", ctx=ctx) == (401, "Unauthorized\n")
        assert _request(f"{base}/api/v1/labels", auth=("admin", "no"), ctx=ctx)[0] == 401
        # kubeprom's own client, as `kubeprom query --http.config.file` builds it
        (tmp_path / "http.yml").write_text(
            "tls_config: {ca_file: s.crt}\nbasic_auth: {username: admin, password: pw}\n"
        )
        client = PrometheusClient(base, load_http_config(str(tmp_path / "http.yml")))
        assert client.instant("vector(7)", 0).v.tolist() == [7.0]
        status, body = _request(f"{base}/api/v1/status/flags", auth=auth, ctx=ctx)
        flags = json.loads(body)["data"]
        assert flags["web.enable-admin-api"] == "true"
        assert flags["query.max-concurrency"] == "4"
        assert flags["web.config.file"] == str(tmp_path / "web.yml")

        status, body = _request(
            f"{base}/api/v1/admin/tsdb/snapshot", method="POST", auth=auth, ctx=ctx
        )
        assert status == 200, body
        name = json.loads(body)["data"]["name"]
        assert (tmp_path / "data" / "snapshots" / name).is_dir()

        config.write_text("scrape_configs: [{job_name: x, unknown: 1}]\n")
        status, body = _request(f"{base}/-/reload", method="POST", auth=auth, ctx=ctx)
        assert status == 500
        assert body.startswith(f"failed to reload config: {config}:1:")
        info = json.loads(_request(f"{base}/api/v1/status/runtimeinfo", auth=auth, ctx=ctx)[1])
        assert info["data"]["reloadConfigSuccess"] is False
        config.write_text("scrape_configs: []\n")
        assert _request(f"{base}/-/reload", method="POST", auth=auth, ctx=ctx) == (200, "")
        info = json.loads(_request(f"{base}/api/v1/status/runtimeinfo", auth=auth, ctx=ctx)[1])
        assert info["data"]["reloadConfigSuccess"] is True
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, log.read_text()


def test_bad_web_config_exits_1_naming_the_position(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  admin: secret\n")
    proc = subprocess.run(
        [sys.executable, "-m", "kubeprom.cli.main", "run", "--data", str(tmp_path / "data"),
         "--listen", f"127.0.0.1:{free_port()}", "--web.config.file", str(tmp_path / "web.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"kubeprom: error: {tmp_path / 'web.yml'}:2:10: basic_auth_users.admin: "
        "expected a bcrypt hash ($2y$...), got another value"
    )
    assert not (tmp_path / "data").exists()
