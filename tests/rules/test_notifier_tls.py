"""The notifier's Alertmanager ``http_config``: parsed with positions from
``alerting.alertmanagers[]``, and used to deliver to Debian's Alertmanager 0.25 behind its
``--web.config.file`` (TLS with a private certificate, bcrypt basic auth). Without the CA,
or with a wrong password, nothing is delivered and the failures are counted."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from kubeprom.clock import RealClock
from kubeprom.config.http_client import load_http_config
from kubeprom.config.http_transport import ClientTransport
from kubeprom.config.load import parse_main_config
from kubeprom.errors import ConfigError
from kubeprom.model.labels import Labels
from kubeprom.rules.notifier import HTTPPost, LoopStats, Notification, SendLoop, discover
from tests.support.certs import self_signed
from tests.support.procs import free_port, require_binary, running


def config(port: int, *, ca: Path | None) -> str:
    tls = f"\n      tls_config: {{ca_file: {ca.name}}}" if ca is not None else ""
    return (
        "alerting:\n  alertmanagers:\n"
        "    - scheme: https\n"
        f"      static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        f"      basic_auth: {{username: alice, password_file: secret}}{tls}\n"
        "      timeout: 5s\n"
    )


def test_http_config_of_an_alertmanager_is_parsed_with_positions(tmp_path: Path) -> None:
    text = (
        "alerting:\n  alertmanagers:\n"
        "    - static_configs: [{targets: ['a:9093']}]\n"
        "      authorization: {credentials_file: token}\n"
        "      tls_config: {ca_file: ca.pem, server_name: am.example}\n"
    )
    cfg = parse_main_config(text, str(tmp_path / "p.yml"), str(tmp_path))
    [am] = cfg.alerting.alertmanagers
    assert am.http.authorization is not None
    assert am.http.authorization.type == "Bearer"
    assert am.http.authorization.credentials.file == tmp_path / "token"
    assert am.http.tls.ca_file == tmp_path / "ca.pem"
    assert am.http.tls.server_name == "am.example"
    bad = text.replace(
        "authorization: {credentials_file: token}",
        "basic_auth: {username: a}\n      bearer_token: x",
    )
    with pytest.raises(
        ConfigError,
        match=r"p\.yml:4:19: alerting\.alertmanagers\[0\]\.basic_auth: at most one of basic_auth, "
        r"oauth2, bearer_token & bearer_token_file must be configured$",
    ):
        parse_main_config(bad, str(tmp_path / "p.yml"), str(tmp_path))
    with pytest.raises(ConfigError, match=r"alerting\.alertmanagers\[0\]\.oauth2: .*not supported"):
        parse_main_config(
            text + "      oauth2: {client_id: x}\n", str(tmp_path / "p.yml"), str(tmp_path)
        )


async def deliver(cfg_text: str, base: Path) -> LoopStats:
    """One batch with one alert through a send loop of the configured Alertmanager."""
    [am] = parse_main_config(cfg_text, str(base / "kubeprom.yml"), str(base)).alerting.alertmanagers
    [url], _ = discover(am)
    post = HTTPPost()
    clock = RealClock()
    loop = SendLoop(url, am, post, capacity=10, clock=clock)
    now = clock.now_ms()
    loop.add(
        [
            Notification(
                Labels([("alertname", "Secured"), ("severity", "page")]),
                Labels([("summary", "over TLS")]),
                now,
                now + 600_000,
            )
        ]
    )
    await loop.send_one_batch()
    await post.close()
    return loop.stats


@pytest.mark.slow
async def test_delivered_to_alertmanager_over_tls_with_basic_auth(tmp_path: Path) -> None:
    am_bin = require_binary("prometheus-alertmanager")
    crt, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n"
        f"basic_auth_users:\n  alice: {hashed}\n"
    )
    (tmp_path / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "client.yml").write_text(
        f"tls_config: {{ca_file: {crt}}}\nbasic_auth: {{username: alice, password: s3cret}}\n"
    )
    port = free_port()
    argv = [
        am_bin, f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        f"--storage.path={tmp_path / 'am'}", f"--config.file={tmp_path / 'am.yml'}",
        f"--web.config.file={tmp_path / 'web.yml'}",
    ]  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    transport = ClientTransport(load_http_config(str(tmp_path / "client.yml")))

    def am_alerts() -> list[Any]:
        with transport.open(urllib.request.Request(f"{url}/api/v2/alerts"), 10) as r:
            return [a["labels"]["alertname"] for a in json.loads(r.read())]

    with running(argv, f"{url}/-/ready", tmp_path / "am.log", transport=transport):
        # Without the CA: the certificate is refused, the batch counted as failed.
        stats = await deliver(config(port, ca=None), tmp_path)
        assert (stats.sent, stats.errors) == (0, 1)
        # A wrong password: Alertmanager answers 401.
        (tmp_path / "secret").write_text("wrong")
        stats = await deliver(config(port, ca=crt), tmp_path)
        assert (stats.sent, stats.errors) == (0, 1)
        assert am_alerts() == []
        # The right password (read from the file when used) and the CA: delivered.
        (tmp_path / "secret").write_text("s3cret\n")
        stats = await deliver(config(port, ca=crt), tmp_path)
        assert (stats.sent, stats.errors) == (1, 0)
        assert am_alerts() == ["Secured"]
