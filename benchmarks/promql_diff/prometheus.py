"""Real Prometheus as the reference engine: backfill with promtool, serve on loopback.

``backfill(promtool, openmetrics_file, dir)`` runs ``promtool tsdb create-blocks-from
openmetrics``; ``serve(prometheus, dir, log)`` starts a server on 127.0.0.1 on a free port
over those blocks (no scrape targets) and stops it when the block ends. ``HTTPEngine``
asks any Prometheus-compatible ``/api/v1/query`` and ``/api/v1/query_range``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.promql_diff.answers import Answer, Query, from_prometheus_json

READY_TIMEOUT_S = 60.0
QUERY_TIMEOUT_S = 120.0


def backfill(promtool: str, openmetrics: Path, out: Path) -> None:
    if (out / "done").exists():
        return
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(out)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    (out / "done").write_text("ok\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(prometheus: str, data: Path, log: Path) -> Iterator[str]:
    """A Prometheus server over ``data`` on loopback; yields its base URL."""
    config = data.parent / "prometheus-empty.yml"
    config.write_text("global: {}\nscrape_configs: []\n")
    port = free_port()
    argv = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y",
        "--query.max-samples=500000000",
    ]
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited early:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError as err:
                if time.monotonic() > deadline:
                    msg = f"prometheus not ready:\n{log.read_text()[-2000:]}"
                    raise RuntimeError(msg) from err
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def get_json(url: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    """POST ``params`` to ``url + path``; the JSON body, for error statuses too."""
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(f"{url}{path}", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=QUERY_TIMEOUT_S) as r:
            body: dict[str, Any] = json.load(r)
    except urllib.error.HTTPError as err:
        body = json.load(err)
    return body


class HTTPEngine:
    """An engine behind Prometheus' HTTP API."""

    def __init__(self, url: str, name: str = "prometheus") -> None:
        self.url = url
        self.name = name

    def answer(self, q: Query) -> Answer:
        if q.is_range:
            params = {
                "query": q.expr,
                "start": f"{q.start_ms / 1000:.3f}",
                "end": f"{q.end_ms / 1000:.3f}",
                "step": f"{q.step_ms / 1000:.3f}",
            }
            return from_prometheus_json(get_json(self.url, "/api/v1/query_range", params))
        params = {"query": q.expr, "time": f"{q.start_ms / 1000:.3f}"}
        return from_prometheus_json(get_json(self.url, "/api/v1/query", params))

    def series(self, start_ms: int, end_ms: int) -> list[dict[str, str]]:
        """Every series in ``[start_ms, end_ms]``, as label dicts."""
        body = get_json(
            self.url,
            "/api/v1/series",
            {
                "match[]": '{__name__=~".+"}',
                "start": f"{start_ms / 1000:.3f}",
                "end": f"{end_ms / 1000:.3f}",
            },
        )
        return list(body["data"])
