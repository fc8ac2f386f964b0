"""``PrometheusClient`` and ``kubeprom query*`` against a real Prometheus (Debian's 2.42)
behind its own ``--web.config.file`` (TLS with a private certificate, bcrypt basic auth).
(Debian's promtool 2.42 has no ``query --http.config.file`` yet; tests/config/
test_http_client.py checks the file format against its ``check config`` instead.)
In CI a missing tool fails these tests instead of skipping them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from kubeprom.cli.main import main
from kubeprom.config.http_client import load_http_config
from kubeprom.config.http_transport import ClientTransport
from kubeprom.errors import ParseError, QueryAPIUnavailable
from kubeprom.web.client import PrometheusClient
from tests.support.certs import self_signed
from tests.support.procs import free_port, require_binary, running

pytestmark = pytest.mark.slow

T0 = 1_700_000_000  # seconds; the backfilled samples start here


@dataclass(frozen=True)
class Prometheus:
    url: str
    http_yml: Path  # TLS trust + credentials


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary, promtool = require_binary("prometheus"), require_binary("promtool")
    d = tmp_path_factory.mktemp("prom-tls")
    crt, key = self_signed(d)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    (d / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n"
        f"basic_auth_users:\n  alice: {hashed}\n"
    )
    lines = ["# TYPE up gauge"]
    for k in range(4):
        lines.append(f'up{{instance="x:1",job="a"}} 1 {T0 + 15 * k}')
        lines.append(f'up{{instance="y:2",job="b"}} 0 {T0 + 15 * k}')
    (d / "in.om").write_text("\n".join([*lines, "# EOF"]) + "\n")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(d / "in.om"), str(d / "data")],
        check=True,
        capture_output=True,
    )
    (d / "prometheus.yml").write_text("scrape_configs: []\n")
    (d / "http.yml").write_text(
        f"tls_config:\n  ca_file: {crt}\nbasic_auth:\n  username: alice\n  password: s3cret\n"
    )
    port = free_port()
    argv = [
        binary, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={d / 'web.yml'}",
        "--storage.tsdb.retention.time=100y",
    ]  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    transport = ClientTransport(load_http_config(str(d / "http.yml")))
    with running(argv, f"{url}/-/ready", d / "prometheus.log", transport=transport):
        yield Prometheus(url, d / "http.yml")


def _flags(p: Prometheus) -> list[str]:
    return ["--server", p.url, "--http.config.file", str(p.http_yml)]


def test_kubeprom_query_commands(
    prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "up", "--time", str(T0 + 30), *_flags(prometheus)]) == 0
    assert capsys.readouterr().out == (
        "SERIES                        VALUE\n"
        'up{instance="x:1", job="a"}   1\n'
        'up{instance="y:2", job="b"}   0\n'
    )
    window = ["--start", str(T0 - 60), "--end", str(T0 + 60)]
    assert main(["query-series", "--match", 'up{job="b"}', *window, *_flags(prometheus)]) == 0
    assert capsys.readouterr().out == 'SERIES\nup{instance="y:2", job="b"}\n'
    # label values: an endpoint Prometheus serves on GET only
    assert main(["query-labels", "job", *window, *_flags(prometheus)]) == 0
    assert capsys.readouterr().out == "VALUE\na\nb\n"
    assert main(["query-labels", "--match", "up", *window, *_flags(prometheus)]) == 0
    assert capsys.readouterr().out == "NAME\n__name__\ninstance\njob\n"


def test_the_client_as_a_query_api(prometheus: Prometheus) -> None:
    client = PrometheusClient(prometheus.url, load_http_config(str(prometheus.http_yml)))
    r = client.range("sum(up)", T0 * 1000, (T0 + 45) * 1000, 15_000)
    assert [(str(lab), t.tolist(), v.tolist()) for lab, t, v in r.series()] == [
        ("{}", [T0 * 1000 + 15_000 * k for k in range(4)], [1.0] * 4)
    ]
    with pytest.raises(ParseError, match=r"^1:5: parse error: unclosed left parenthesis$") as info:
        client.instant("sum(", T0 * 1000)
    assert info.value.start == 4


def test_errors_from_the_real_server(
    prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "sum(", *_flags(prometheus)]) == 1
    assert capsys.readouterr().err == (
        'kubeprom: error: bad_data: invalid parameter "query": 1:5: parse error: '
        "unclosed left parenthesis\n"
    )
    anonymous = PrometheusClient(prometheus.url)  # the system's roots, no credentials
    with pytest.raises(QueryAPIUnavailable, match="certificate verify failed"):
        anonymous.instant("up", T0 * 1000)
