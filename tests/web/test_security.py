"""Web config (TLS, basic auth), request limits and the query queue."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.errors import ConfigError
from kubeprom.web import HTTPLimits, QueryHandlers, build_app, load_web_config, start_server
from kubeprom.web.webconfig import WebConfig, parse_web_config
from tests.support.blocking_api import BlockingAPI
from tests.support.certs import self_signed
from tests.support.procs import free_port

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def _auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("basic_auth_users:\n  alice: plain\n", "web.yml:2:10: basic_auth_users.alice: expected"),
        (
            "tls_server_config:\n  key_file: k\n",
            "web.yml:2:3: tls_server_config: missing cert_file",
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS99\n",
            "web.yml:4:16: tls_server_config.min_version: unknown TLS version: TLS99",
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n"
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "web.yml:4:21: tls_server_config.client_auth_type: client_ca_file is required",
        ),
        (
            "tls_server_config:\n  cipher_suites: [X]\n",
            "web.yml:2:18: tls_server_config.cipher_suites: cipher_suites is not supported",
        ),
        ("basic_auth: {}\n", "web.yml:1:1: basic_auth: field basic_auth not found in type"),
    ],
    ids=["plain-password", "no-cert", "tls-version", "client-ca", "unsupported", "unknown-field"],
)
def test_bad_web_configs_name_the_position(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_web_config(text, "web.yml", Path("/etc"))
    assert str(info.value).startswith(message)


def test_good_web_config_resolves_paths_next_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: tls/s.crt\n  key_file: /abs/s.key\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        f"basic_auth_users:\n  alice: {HASH}\n"
    )
    cfg = load_web_config(str(path))
    assert cfg.tls is not None
    assert cfg.tls.cert_file == tmp_path / "tls" / "s.crt"
    assert cfg.tls.key_file == Path("/abs/s.key")
    assert cfg.tls.min_version is ssl.TLSVersion.TLSv1_2
    assert dict(cfg.headers) == {"X-Frame-Options": "deny"}
    assert dict(cfg.basic_auth_users) == {"alice": HASH.encode()}


Client = TestClient[web.Request, web.Application]


async def test_basic_auth_rejects_without_revealing_anything() -> None:
    cfg = WebConfig(basic_auth_users={"alice": HASH.encode()}, headers={"X-Frame-Options": "deny"})
    app = build_app(CollectorRegistry(), web_config=cfg)
    async with TestClient(TestServer(app)) as c:
        for headers in (
            {},
            _auth("alice", "wrong"),
            _auth("bob", "s3cret"),
            {"Authorization": "Basic !!!"},
            {"Authorization": "Bearer s3cret"},
        ):
            r = await c.get("/metrics", headers=headers)
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == "Basic"
            assert await r.text() == "Unauthorized\n"
        for _ in range(2):  # the second request is answered from the cache of good logins
            r = await c.get("/metrics", headers=_auth("alice", "s3cret"))
            assert r.status == 200
            assert r.headers["X-Frame-Options"] == "deny"
            assert "prometheus_http_requests_total" in await r.text()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


async def test_tls_and_basic_auth_over_a_real_socket(certificate: tuple[Path, Path]) -> None:
    crt, key = certificate
    web_yml = crt.parent / "web.yml"
    web_yml.write_text(
        f"tls_server_config:\n  cert_file: {crt.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  alice: {HASH}\n"
    )
    cfg = load_web_config(str(web_yml))
    port = free_port()
    runner = await start_server(
        build_app(CollectorRegistry(), web_config=cfg), "127.0.0.1", port, web_config=cfg
    )
    try:
        trust = ssl.create_default_context(cafile=str(crt))
        async with aiohttp.ClientSession() as s:
            url = f"https://127.0.0.1:{port}/-/healthy"
            async with s.get(url, ssl=trust, headers=_auth("alice", "s3cret")) as r:
                assert r.status == 200
                assert await r.text() == "kubeprom is Healthy.\n"
            async with s.get(url, ssl=trust) as r:
                assert r.status == 401
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await s.get(url)  # the system trust store does not know the certificate
            with pytest.raises(aiohttp.ClientError):
                await s.get(f"http://127.0.0.1:{port}/-/healthy")
    finally:
        await runner.cleanup()


async def test_body_and_header_limits() -> None:
    limits = HTTPLimits(max_body_bytes=1000, max_field_bytes=200)
    port = free_port()
    runner = await start_server(
        build_app(CollectorRegistry(), limits=limits), "127.0.0.1", port, limits=limits
    )
    try:
        async with aiohttp.ClientSession() as s:
            base = f"http://127.0.0.1:{port}"
            async with s.post(f"{base}/api/v1/format_query", data={"query": "x" * 2000}) as r:
                assert r.status == 413
            async with s.get(f"{base}/-/healthy", headers={"X-Big": "y" * 500}) as r:
                assert r.status == 400
            async with s.get(f"{base}/-/healthy", headers={"X-Small": "y" * 50}) as r:
                assert r.status == 200
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("max_queued", "second"), [(0, 503), (1, 200)], ids=["full", "queued"])
async def test_queries_wait_for_a_slot_or_get_503_when_the_queue_is_full(
    max_queued: int, second: int
) -> None:
    api = BlockingAPI()
    handlers = QueryHandlers(api, max_concurrency=1, max_queued=max_queued)
    async with TestClient(TestServer(build_app(CollectorRegistry(), query=handlers))) as c:

        async def ask() -> tuple[int, dict[str, str]]:
            r = await c.get("/api/v1/query", params={"query": "1", "time": "1"})
            return r.status, await r.json()

        running = asyncio.ensure_future(ask())
        assert await asyncio.to_thread(api.started.acquire, True, 10)
        waiting = asyncio.ensure_future(ask())
        if second == 503:
            _, body = await waiting
            assert body["errorType"] == "unavailable"
            assert body["error"] == "too many queries: 1 running and 0 queued; try again later"
        api.release.set()
        assert (await running)[0] == 200
        assert (await waiting)[0] == second


async def test_query_timeout_is_503_timeout() -> None:
    api = BlockingAPI()
    handlers = QueryHandlers(api, max_concurrency=1)
    async with TestClient(TestServer(build_app(CollectorRegistry(), query=handlers))) as c:
        r = await c.get("/api/v1/query", params={"query": "1", "time": "1", "timeout": "0.05"})
        body = await r.json()
        api.release.set()
    assert r.status == 503
    assert body == {
        "status": "error",
        "errorType": "timeout",
        "error": "query timed out in expression evaluation",
    }
