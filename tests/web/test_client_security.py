"""``PrometheusClient`` and ``ClientTransport`` against kubeprom's own server with a
``--web.config.file``: basic auth (URL or http_config), TLS with a private CA, server_name,
insecure_skip_verify, client certificates; the same transport from aiohttp; and the
``kubeprom query`` / ``kubeprom top`` flags over it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from kubeprom.cli.main import main
from kubeprom.config.http_client import load_http_config, parse_http_config
from kubeprom.config.http_transport import ClientTransport
from kubeprom.errors import ConfigError, QueryAPIUnavailable
from kubeprom.model import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, Options
from kubeprom.web import QueryHandlers, SeriesHandlers, build_app, load_web_config, start_server
from kubeprom.web.client import PrometheusClient
from tests.support.certs import self_signed
from tests.support.procs import free_port

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
T_S = 1_700_000_000


@dataclass(frozen=True)
class Served:
    url: str  # https://127.0.0.1:PORT (or http:// without TLS)
    dir: Path  # holds s.crt / s.key (the server's) and client/ (a client's)


async def _serve(tmp_path: Path, web_yml: str) -> AsyncIterator[Served]:
    self_signed(tmp_path)
    (tmp_path / "client").mkdir()
    self_signed(tmp_path / "client")
    (tmp_path / "web.yml").write_text(web_yml)
    cfg = load_web_config(str(tmp_path / "web.yml"))
    db = DB.open(tmp_path / "data", Options(retention_ms=None))
    app = db.appender()
    ref = app.ref(Labels.from_dict({"__name__": "up", "job": "api"}))
    app.append(T_S * 1000, np.array([ref]), np.array([1.0]))
    app.commit()
    web_app = build_app(
        CollectorRegistry(),
        query=QueryHandlers(LocalQueryAPI(db.querier)),
        series=SeriesHandlers(db.querier),
        web_config=cfg,
    )
    port = free_port()
    runner = await start_server(web_app, "127.0.0.1", port, web_config=cfg)
    scheme = "https" if cfg.tls is not None else "http"
    try:
        yield Served(f"{scheme}://127.0.0.1:{port}", tmp_path)
    finally:
        await runner.cleanup()
        db.close()


@pytest.fixture
async def tls_auth(tmp_path: Path) -> AsyncIterator[Served]:
    web = (
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
        f"basic_auth_users:\n  alice: {HASH}\n"
    )
    async for served in _serve(tmp_path, web):
        yield served


@pytest.fixture
async def mutual_tls(tmp_path: Path) -> AsyncIterator[Served]:
    web = (
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client/s.crt\n"
    )
    async for served in _serve(tmp_path, web):
        yield served


@pytest.fixture
async def plain_auth(tmp_path: Path) -> AsyncIterator[Served]:
    async for served in _serve(tmp_path, f"basic_auth_users:\n  alice: {HASH}\n"):
        yield served


def _client(served: Served, http_yml: str) -> PrometheusClient:
    path = served.dir / "http.yml"
    path.write_text(http_yml)
    return PrometheusClient(served.url, load_http_config(str(path)), timeout_s=10)


async def _up(client: PrometheusClient) -> list[tuple[str, list[float]]]:
    r = await asyncio.to_thread(client.instant, "up", T_S * 1000)
    return [(str(lab), v.tolist()) for lab, _, v in r.series()]


UP = [('up{job="api"}', [1.0])]
CA_AUTH = "tls_config:\n  ca_file: s.crt\nbasic_auth:\n  username: alice\n  password: s3cret\n"


async def test_tls_and_basic_auth_from_http_config(tls_auth: Served) -> None:
    client = _client(tls_auth, CA_AUTH)
    assert await _up(client) == UP
    values = await asyncio.to_thread(client.call, "label/job/values")
    assert values.data == ["api"]
    series = await asyncio.to_thread(client.call, "series", [("match[]", "up")])
    assert series.data == [{"__name__": "up", "job": "api"}]


async def test_password_from_a_file(tls_auth: Served) -> None:
    (tls_auth.dir / "pw").write_text("s3cret\n")
    client = _client(
        tls_auth,
        "tls_config:\n  ca_file: s.crt\nbasic_auth:\n  username: alice\n  password_file: pw\n",
    )
    assert await _up(client) == UP


ALICE = "basic_auth: {username: alice, password: s3cret}\n"


@pytest.mark.parametrize(
    ("http_yml", "reason"),
    [
        ("tls_config:\n  ca_file: s.crt\n", r"HTTP 401 Unauthorized$"),
        (CA_AUTH.replace("s3cret", "wrong"), r"HTTP 401 Unauthorized$"),
        (ALICE, r"certificate verify failed"),
        (
            "tls_config:\n  ca_file: s.crt\n  server_name: elsewhere.example\n" + ALICE,
            r"certificate verify failed: Hostname mismatch",
        ),
    ],
    ids=["no-credentials", "wrong-password", "unknown-ca", "wrong-server-name"],
)
async def test_refusals_are_unavailable_with_the_reason(
    tls_auth: Served, http_yml: str, reason: str
) -> None:
    with pytest.raises(QueryAPIUnavailable, match=reason):
        await _up(_client(tls_auth, http_yml))


async def test_server_name_and_insecure_skip_verify(tls_auth: Served) -> None:
    # the certificate names localhost and 127.0.0.1; the URL says 127.0.0.1
    named = CA_AUTH.replace("ca_file: s.crt\n", "ca_file: s.crt\n  server_name: localhost\n")
    assert await _up(_client(tls_auth, named)) == UP
    insecure = CA_AUTH.replace("ca_file: s.crt", "insecure_skip_verify: true")
    assert await _up(_client(tls_auth, insecure)) == UP


async def test_client_certificate(mutual_tls: Served) -> None:
    with_cert = (
        "tls_config:\n  ca_file: s.crt\n  cert_file: client/s.crt\n  key_file: client/s.key\n"
    )
    assert await _up(_client(mutual_tls, with_cert)) == UP
    with pytest.raises(QueryAPIUnavailable):
        await _up(_client(mutual_tls, "tls_config:\n  ca_file: s.crt\n"))


def test_unloadable_tls_files_are_config_errors_at_the_setting(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    (tmp_path / "http.yml").write_text("tls_config:\n  ca_file: bad.pem\n")
    with pytest.raises(
        ConfigError,
        match=r"http.yml:2:3: tls_config: unable to use specified CA cert '.*/bad.pem': ",
    ):
        PrometheusClient("https://127.0.0.1:1", load_http_config(str(tmp_path / "http.yml")))
    (tmp_path / "http.yml").write_text("tls_config:\n  cert_file: c.pem\n  key_file: k.pem\n")
    with pytest.raises(ConfigError, match=r"http.yml:2:3: tls_config: unable to load client cert"):
        PrometheusClient("https://127.0.0.1:1", load_http_config(str(tmp_path / "http.yml")))


async def test_the_transport_serves_aiohttp_too(tls_auth: Served) -> None:
    """What the notifier and remote write will do: ssl= and headers= from one transport."""
    cfg = parse_http_config(CA_AUTH, "http.yml", tls_auth.dir)
    transport = ClientTransport(cfg, user_agent="kubeprom-notifier")
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{tls_auth.url}/api/v1/label/job/values",
            headers=transport.headers(),
            ssl=transport.ssl_context,
            allow_redirects=transport.follow_redirects,
        ) as r,
    ):
        assert r.status == 200
        assert await r.json() == {"status": "success", "data": ["api"]}


async def test_credentials_in_the_url(plain_auth: Served) -> None:
    url = plain_auth.url.replace("http://", "http://alice:s3cret@")
    assert await _up(PrometheusClient(url)) == UP
    with pytest.raises(QueryAPIUnavailable, match="HTTP 401"):
        await _up(PrometheusClient(url.replace("s3cret", "nope")))


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_query_commands_take_the_http_config_file(
    tls_auth: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    (tls_auth.dir / "http.yml").write_text(CA_AUTH)
    flags = ["--server", tls_auth.url, "--http.config.file", str(tls_auth.dir / "http.yml")]
    assert await _cli("query", "up", "--time", str(T_S), *flags) == 0
    assert capsys.readouterr().out == 'SERIES          VALUE\nup{job="api"}   1\n'
    window = ["--start", str(T_S - 60), "--end", str(T_S + 60)]
    assert await _cli("query-range", "up", *window, "--step", "60s", *flags, "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)["result"][0]["values"] == [
        [T_S, "1"],
        [T_S + 60, "1"],  # within the 5m lookback
    ]
    assert await _cli("query-series", "--match", "up", *window, *flags) == 0
    assert capsys.readouterr().out == 'SERIES\nup{job="api"}\n'
    assert await _cli("query-labels", "job", *window, *flags) == 0
    assert capsys.readouterr().out == "VALUE\napi\n"
    assert await _cli("query", "up", "--server", tls_auth.url) == 1
    assert "certificate verify failed" in capsys.readouterr().err


async def test_top_takes_the_http_config_file(
    tls_auth: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store holds no kubelet series, so getting kubectl's "metrics not available" shows
    that TLS and auth went through; without credentials it cannot connect."""
    (tls_auth.dir / "http.yml").write_text(CA_AUTH)
    flags = ["--server", tls_auth.url, "--http.config.file", str(tls_auth.dir / "http.yml")]
    assert await _cli("top", "node", *flags) == 1
    assert capsys.readouterr().err == "error: metrics not available yet\n"
    (tls_auth.dir / "http.yml").write_text("tls_config:\n  ca_file: s.crt\n")
    assert await _cli("top", "node", *flags) == 1
    assert capsys.readouterr().err == "Unable to connect to the server: HTTP 401 Unauthorized\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["query", "up", "--server", "http://a:b@127.0.0.1:1"],
            "cannot set basic auth in the server URL and use --http.config.file at the same time",
        ),
        (["query", "up", "--data", "."], "--http.config.file applies to --server, not to --data"),
        (["top", "pod", "--data", "."], "--http.config.file applies to --server, not to --data"),
    ],
    ids=["url-credentials-and-file", "query-data", "top-data"],
)
def test_http_config_file_conflicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "http.yml").write_text("bearer_token: x\n")
    assert main([*argv, "--http.config.file", str(tmp_path / "http.yml")]) == 1
    assert capsys.readouterr().err == f"kubeprom: error: {message}\n"
