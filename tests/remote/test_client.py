"""The HTTP sender: Prometheus' headers, its error classes, and auth/TLS through http_config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from kubeprom.config.load import parse_main_config
from kubeprom.errors import RecoverableWriteError, RemoteWriteError
from kubeprom.model import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.remote.client import HTTPWriteClient, retry_after_ms
from kubeprom.remote.protocol import SeriesEncoder, compress
from kubeprom.tsdb import DB, Options
from kubeprom.web import build_app, load_web_config, start_server
from kubeprom.web.remote import RemoteWriteReceiver
from tests.support.certs import self_signed
from tests.support.procs import free_port

T0 = 1_700_000_000_000


def body() -> bytes:
    enc = SeriesEncoder()
    enc.set(0, Labels.from_dict({"__name__": "up", "job": "a"}))
    return compress(
        enc.write_request(np.array([0, 0]), np.array([T0, T0 + 1]), np.array([1.0, 0.0]))
    )


def remote_write_config(base_dir: Path, text: str):  # type: ignore[no-untyped-def]
    cfg = parse_main_config(f"remote_write:\n{text}", str(base_dir / "k.yml"), str(base_dir))
    return cfg.remote_write[0]


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[str, DB]]:
    self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
        f"basic_auth_users:\n  writer: {hashed}\n"
    )
    web_config = load_web_config(str(tmp_path / "web.yml"))
    db = DB.open(tmp_path / "data", Options(retention_ms=None))
    app = build_app(
        CollectorRegistry(), remote_write=RemoteWriteReceiver(db.appender), web_config=web_config
    )
    port = free_port()
    runner = await start_server(app, "127.0.0.1", port, web_config=web_config)
    try:
        yield f"https://127.0.0.1:{port}/api/v1/write", db
    finally:
        await runner.cleanup()
        db.close()


async def test_basic_auth_and_tls_through_the_shared_http_config(
    tmp_path: Path, tls_receiver: tuple[str, DB]
) -> None:
    url, db = tls_receiver
    (tmp_path / "pw.txt").write_text("pw\n")
    cfg = remote_write_config(
        tmp_path,
        f"  - url: {url}\n    basic_auth: {{username: writer, password_file: pw.txt}}\n"
        "    tls_config: {ca_file: s.crt}\n",
    )
    client = HTTPWriteClient(cfg)
    try:
        await client.store(body())
    finally:
        await client.close()
    ss = db.querier().select([Matcher(MatchType.EQUAL, "__name__", "up")], 0, 2**62)
    assert ss.t.tolist() == [T0, T0 + 1]


async def test_wrong_credentials_and_unknown_ca_fail(
    tmp_path: Path, tls_receiver: tuple[str, DB]
) -> None:
    url, _ = tls_receiver
    wrong = remote_write_config(
        tmp_path,
        f"  - url: {url}\n    basic_auth: {{username: writer, password: nope}}\n"
        "    tls_config: {ca_file: s.crt}\n",
    )
    client = HTTPWriteClient(wrong)
    with pytest.raises(RemoteWriteError, match="server returned HTTP status 401 Unauthorized"):
        await client.store(body())
    await client.close()
    untrusted = remote_write_config(tmp_path, f"  - url: {url}\n")
    client = HTTPWriteClient(untrusted)
    with pytest.raises(RecoverableWriteError, match="CERTIFICATE_VERIFY_FAILED"):
        await client.store(body())
    await client.close()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[str, list[web.Request], list[web.Response]]]:
    seen: list[web.Request] = []
    answers: list[web.Response] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request)
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/w", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/w", seen, answers
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "headers", "retry_429", "error", "retry_after"),
    [
        (503, {}, False, RecoverableWriteError, None),
        (500, {}, False, RecoverableWriteError, None),
        (429, {"Retry-After": "3"}, True, RecoverableWriteError, 3000),
        (429, {"Retry-After": "3"}, False, RemoteWriteError, None),
        (400, {}, True, RemoteWriteError, None),
        (404, {}, False, RemoteWriteError, None),
    ],
    ids=["503", "500", "429-retry", "429-no-retry", "400", "404"],
)
async def test_statuses_map_to_prometheus_error_classes(
    tmp_path: Path,
    scripted: tuple[str, list[web.Request], list[web.Response]],
    status: int,
    headers: dict[str, str],
    retry_429: bool,
    error: type[Exception],
    retry_after: int | None,
) -> None:
    url, seen, answers = scripted
    answers.append(web.Response(status=status, text="first line\nsecond", headers=headers))
    cfg = remote_write_config(
        tmp_path,
        f"  - url: {url}\n    headers: {{X-Scope-OrgID: t1}}\n"
        f"    queue_config: {{retry_on_http_429: {str(retry_429).lower()}}}\n",
    )
    client = HTTPWriteClient(cfg)
    with pytest.raises(
        error, match=f"server returned HTTP status {status} .*: first line$"
    ) as info:
        await client.store(body())
    await client.close()
    if isinstance(info.value, RecoverableWriteError):
        assert info.value.retry_after_ms == retry_after
    sent = seen[0].headers
    assert sent["Content-Encoding"] == "snappy"
    assert sent["Content-Type"] == "application/x-protobuf"
    assert sent["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert sent["User-Agent"].startswith("kubeprom/")
    assert sent["X-Scope-OrgID"] == "t1"


async def test_a_refused_connection_is_recoverable(tmp_path: Path) -> None:
    cfg = remote_write_config(tmp_path, f"  - url: http://127.0.0.1:{free_port()}/w\n")
    client = HTTPWriteClient(cfg)
    with pytest.raises(RecoverableWriteError, match="cannot send to"):
        await client.store(body())
    await client.close()


def test_retry_after_forms() -> None:
    assert retry_after_ms("120", 0.0) == 120_000
    assert retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10_000
    assert retry_after_ms("soon", 0.0) is None
    assert retry_after_ms(None, 0.0) is None
