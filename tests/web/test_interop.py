"""Real clients against a running ``kubeprom run``: promtool, prometheus-api-client, a real
Prometheus federating from ``/federate``, and ``kubeprom query*`` over HTTP and over the
data directory. In CI a missing tool fails these tests instead of skipping them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeprom.cli.main import main as kubeprom_main
from tests.support.procs import free_port, require_binary, running

pytestmark = pytest.mark.slow

T0 = 1_700_000_000  # seconds; the imported history starts here
STEPS = 20  # samples per imported series, 15 s apart
FEDERATION_WAIT_S = 60.0


@dataclass(frozen=True)
class Server:
    url: str
    data: Path
    now_s: int  # when the "recent" series was written


def _openmetrics(now_s: int) -> str:
    lines = ["# TYPE up gauge"]
    for k in range(STEPS):
        t = T0 + 15 * k
        lines.append(f'up{{instance="x:1",job="a"}} 1 {t}')
        lines.append(f'up{{instance="y:2",job="b"}} 0 {t}')
    lines.append("# TYPE http_requests counter")
    lines += [
        f'http_requests_total{{code="200",job="a"}} {10 * k} {T0 + 15 * k}' for k in range(STEPS)
    ]
    # Recent samples: /federate serves only the last 5 minutes.
    lines.append("# TYPE fed_metric gauge")
    lines += [
        f'fed_metric{{instance="src:1",job="src"}} {40 + k} {now_s - 60 + 15 * k}' for k in range(3)
    ]
    return "\n".join([*lines, "# EOF"]) + "\n"


def _kubeprom(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubeprom.cli.main", *args]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("interop")
    now_s = int(time.time())
    (d / "in.om").write_text(_openmetrics(now_s))
    subprocess.run(
        _kubeprom("tsdb", "import", str(d / "in.om"), "--data", str(d / "data"), "--quiet"),
        check=True,
        capture_output=True,
    )
    (d / "serve.yml").write_text(
        "global:\n  external_labels:\n    source: kubeprom\nscrape_configs: []\n"
    )
    port = free_port()
    argv = _kubeprom(
        "run",
        "--config",
        str(d / "serve.yml"),
        "--data",
        str(d / "data"),
        "--listen",
        f"127.0.0.1:{port}",
        "--retention-time",
        "100y",  # the imported history is years older than the recent series
    )
    url = f"http://127.0.0.1:{port}"
    with running(argv, f"{url}/-/ready", d / "server.log"):
        yield Server(url, d / "data", now_s)


def _promtool(*args: str) -> str:
    promtool = require_binary("promtool")
    proc = subprocess.run([promtool, "query", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_promtool_query_instant(server: Server) -> None:
    out = _promtool("instant", server.url, "up", f"--time={T0 + 100}")
    assert out.splitlines() == [
        f'up{{instance="x:1", job="a"}} => 1 @[{T0 + 100}]',
        f'up{{instance="y:2", job="b"}} => 0 @[{T0 + 100}]',
    ]


def test_promtool_query_instant_json(server: Server) -> None:
    out = _promtool("instant", "-o", "json", server.url, 'up{job="a"}', f"--time={T0 + 100}")
    assert json.loads(out) == [
        {"metric": {"__name__": "up", "instance": "x:1", "job": "a"}, "value": [T0 + 100, "1"]}
    ]


def test_promtool_query_range(server: Server) -> None:
    out = _promtool(
        "range",
        server.url,
        "rate(http_requests_total[1m])",
        f"--start={T0 + 100}",
        f"--end={T0 + 160}",
        "--step=30s",
    )
    assert out.splitlines() == [
        '{code="200", job="a"} =>',
        f"0.6666666666666666 @[{T0 + 100}]",
        f"0.6666666666666666 @[{T0 + 130}]",
        f"0.6666666666666666 @[{T0 + 160}]",
    ]


def test_promtool_query_series_and_labels(server: Server) -> None:
    window = (f"--start={T0 - 1000}", f"--end={T0 + 1000}")
    out = _promtool("series", server.url, "--match=up", *window)
    assert out.splitlines() == [
        '{__name__="up", instance="x:1", job="a"}',
        '{__name__="up", instance="y:2", job="b"}',
    ]
    assert _promtool("labels", server.url, "job", *window).splitlines() == ["a", "b"]


def test_prometheus_api_client_reads_instant_and_range(server: Server) -> None:
    api_client = _api_client()
    prom = api_client.PrometheusConnect(url=server.url, disable_ssl=True)
    assert prom.check_prometheus_connection()
    got = prom.custom_query("up", params={"time": T0 + 100})
    assert got == [
        {"metric": {"__name__": "up", "instance": "x:1", "job": "a"}, "value": [T0 + 100, "1"]},
        {"metric": {"__name__": "up", "instance": "y:2", "job": "b"}, "value": [T0 + 100, "0"]},
    ]
    start = dt.datetime.fromtimestamp(T0 + 100, dt.UTC)
    end = dt.datetime.fromtimestamp(T0 + 130, dt.UTC)
    got = prom.custom_query_range('up{job="b"}', start_time=start, end_time=end, step="15")
    assert got == [
        {
            "metric": {"__name__": "up", "instance": "y:2", "job": "b"},
            "values": [[T0 + 100, "0"], [T0 + 115, "0"], [T0 + 130, "0"]],
        }
    ]
    assert prom.get_label_values("job", params={"start": T0 - 100, "end": T0 + 1000}) == [
        "a",
        "b",
    ]


def _api_client() -> Any:
    try:
        import prometheus_api_client
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus-api-client is not installed (pip install -e '.[test]')")
        pytest.skip("prometheus-api-client is not installed")
    return prometheus_api_client


@pytest.mark.parametrize("where", ["server", "data"])
def test_kubeprom_query_commands(
    server: Server, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = ["--server", server.url] if where == "server" else ["--data", str(server.data)]
    assert kubeprom_main(["query", "up", "--time", str(T0 + 100), *src]) == 0
    assert capsys.readouterr().out == (
        "SERIES                        VALUE\n"
        'up{instance="x:1", job="a"}   1\n'
        'up{instance="y:2", job="b"}   0\n'
    )
    assert kubeprom_main(["query", 'up{job="a"}', "--time", str(T0 + 100), "-o", "json", *src]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "resultType": "vector",
        "result": [
            {"metric": {"__name__": "up", "instance": "x:1", "job": "a"}, "value": [T0 + 100, "1"]}
        ],
    }
    argv = ["query-range", "http_requests_total", "--start", str(T0), "--end", str(T0 + 15)]
    assert kubeprom_main([*argv, "--step", "15s", *src]) == 0
    assert capsys.readouterr().out == (
        "SERIES                                     TIME                   VALUE\n"
        'http_requests_total{code="200", job="a"}   2023-11-14T22:13:20Z   0\n'
        'http_requests_total{code="200", job="a"}   2023-11-14T22:13:35Z   10\n'
    )
    window = ["--start", str(T0 - 100), "--end", str(T0 + 1000)]
    assert kubeprom_main(["query-series", "--match", 'up{job="b"}', *window, *src]) == 0
    assert capsys.readouterr().out == 'SERIES\nup{instance="y:2", job="b"}\n'
    assert kubeprom_main(["query-labels", "--match", "up", *window, *src]) == 0
    assert capsys.readouterr().out == "NAME\n__name__\ninstance\njob\n"
    assert kubeprom_main(["query-labels", "job", *window, "-o", "json", *src]) == 0
    assert json.loads(capsys.readouterr().out) == ["a", "b"]


@pytest.mark.parametrize("where", ["server", "data"])
def test_kubeprom_query_errors_are_one_line(
    server: Server, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = ["--server", server.url] if where == "server" else ["--data", str(server.data)]
    assert kubeprom_main(["query", "sum(", *src]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "parse error: unclosed left parenthesis" in err
    assert err.startswith("kubeprom: error: ")


def test_kubeprom_query_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert kubeprom_main(["query", "up", "--server", url]) == 1
    assert capsys.readouterr().err == (
        f"kubeprom: error: cannot query {url}/api/v1/query: Connection refused\n"
    )


def _prom_query(url: str, expr: str) -> list[dict[str, Any]]:
    q = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
        body = json.load(r)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_real_prometheus_federates_from_kubeprom(server: Server, tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    target = urllib.parse.urlsplit(server.url).netloc
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: federate\n"
        "    honor_labels: true\n"
        "    metrics_path: /federate\n"
        "    params:\n"
        "      'match[]': ['{job=\"src\"}']\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(argv, f"{url}/-/ready", tmp_path / "prometheus.log"):
        deadline = time.monotonic() + FEDERATION_WAIT_S
        got: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not got:
            got = _prom_query(url, "fed_metric")
            if not got:
                time.sleep(0.5)
        assert got, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert [(r["metric"], r["value"][1]) for r in got] == [
            (
                {
                    "__name__": "fed_metric",
                    "instance": "src:1",
                    "job": "src",
                    "source": "kubeprom",
                },
                "42",
            )
        ]
        up = _prom_query(url, 'up{job="federate"}')
        assert [r["value"][1] for r in up] == ["1"]
