"""Prometheus 2.42 as the sender (remote write into kubeprom) and as a remote-read client.

Receiver answers are checked side by side: the same crafted requests go to Prometheus'
own receiver and to kubeprom's, and must get the same status and text.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kubeprom.remote.protocol import compress, message_class
from tests.remote.peers import (
    Server,
    get_json,
    metric_value,
    missing,
    prometheus_samples,
    serving,
    start_kubeprom,
    start_prometheus,
    wait_until,
)
from tests.support.procs import free_port

pytestmark = pytest.mark.slow

T0 = 1_700_000_000_000


def post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def write_body(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    req = message_class("WriteRequest")()
    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in sorted(labels.items()):
            ts.labels.add(name=name, value=value)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    return compress(req.SerializeToString())


REQUESTS = [
    ("first", [({"__name__": "a"}, [(T0, 1.0), (T0 + 10, 2.0)])]),
    ("out-of-order", [({"__name__": "a"}, [(T0 + 5, 9.0)])]),
    ("duplicate", [({"__name__": "a"}, [(T0 + 10, 9.0)])]),
    ("identical", [({"__name__": "a"}, [(T0 + 10, 2.0)])]),
    ("new-and-out-of-order", [({"__name__": "b"}, [(T0, 1.0)]), ({"__name__": "a"}, [(T0, 3.0)])]),
    ("newer", [({"__name__": "a"}, [(T0 + 20, 4.0)]), ({"__name__": "c"}, [(T0, 0.0)])]),
]


def stored(server: Server, name: str) -> list[list[object]]:
    doc = get_json(
        server.url + "/api/v1/query",
        {"query": f"{name}[1h]", "time": f"{(T0 + 30) / 1000:.3f}"},
    )
    result = doc["data"]["result"]  # type: ignore[index]
    return result[0]["values"] if result else []


def test_receivers_answer_alike(tmp_path: Path) -> None:
    (tmp_path / "prom.yml").write_text("global: {}\n")
    (tmp_path / "kp.yml").write_text("scrape_configs: []\n")
    with (
        serving(
            start_prometheus(
                tmp_path / "prom.yml",
                tmp_path / "prom",
                tmp_path / "prom.log",
                "--web.enable-remote-write-receiver",
            )
        ) as prom,
        serving(
            start_kubeprom(
                tmp_path / "kp.yml",
                tmp_path / "kp",
                tmp_path / "kp.log",
                "--web.enable-remote-write-receiver",
            )
        ) as kp,
    ):
        for name, series in REQUESTS:
            body = write_body(series)
            want = post(prom.url + "/api/v1/write", body)
            got = post(kp.url + "/api/v1/write", body)
            assert got == want, name
        for metric in ("a", "b", "c"):
            assert stored(kp, metric) == stored(prom, metric), metric
        assert post(kp.url + "/api/v1/write", b"\xff garbage")[0] == 400
        assert post(prom.url + "/api/v1/write", b"\xff garbage")[0] == 400


def test_prometheus_remote_writes_everything_into_kubeprom(tmp_path: Path) -> None:
    kp_port, prom_port = free_port(), free_port()
    (tmp_path / "kp.yml").write_text("scrape_configs: []\n")
    (tmp_path / "prom.yml").write_text(
        f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{prom_port}"]}}]
remote_write:
  - url: http://127.0.0.1:{kp_port}/api/v1/write
    queue_config: {{batch_send_deadline: 1s}}
"""
    )
    with serving(
        start_kubeprom(
            tmp_path / "kp.yml",
            tmp_path / "kp",
            tmp_path / "kp.log",
            "--web.enable-remote-write-receiver",
            port=kp_port,
        )
    ) as kp:
        prom = start_prometheus(
            tmp_path / "prom.yml", tmp_path / "prom", tmp_path / "prom.log", port=prom_port
        )
        with serving(prom):

            def sent_s() -> float:
                return metric_value(
                    prom.url, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"
                )

            wait_until(lambda: sent_s() > 0, 60, "Prometheus to send")
            first = sent_s()
            wait_until(lambda: sent_s() >= first + 5, 60, "five more seconds of samples")
            at = sent_s()
            want = prometheus_samples(prom.url, at)
        have = prometheus_samples(kp.url, at)  # kubeprom answers the same raw-sample query
    assert len(want) > 1000
    assert missing(want, have) == []  # NaN samples (empty summaries) compare equal here
    assert missing(have, want) == []


def test_prometheus_remote_read_of_kubeprom(tmp_path: Path) -> None:
    kp_port = free_port()
    (tmp_path / "kp.yml").write_text(
        f"""
global: {{scrape_interval: 1s, external_labels: {{site: kp}}}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{kp_port}"]}}]
"""
    )
    with serving(
        start_kubeprom(tmp_path / "kp.yml", tmp_path / "kp", tmp_path / "kp.log", port=kp_port)
    ) as kp:
        wait_until(
            lambda: metric_value(kp.url, "prometheus_tsdb_head_samples_appended_total") > 1000,
            60,
            "kubeprom to scrape",
        )
        (tmp_path / "prom.yml").write_text(
            f"""
remote_read:
  - url: {kp.url}/api/v1/read
    read_recent: true
"""
        )
        with serving(
            start_prometheus(tmp_path / "prom.yml", tmp_path / "prom", tmp_path / "prom.log")
        ) as prom:
            doc = get_json(kp.url + "/api/v1/query", {"query": "max(timestamp(up))"})
            at = float(doc["data"]["result"][0]["value"][1])  # type: ignore[index]
            query = {"query": '{job="self"}[1h]', "time": f"{at:.3f}"}
            via_prometheus = get_json(prom.url + "/api/v1/query", query)
            direct = get_json(kp.url + "/api/v1/query", query)

    def by_labels(doc: object) -> dict[tuple[tuple[str, str], ...], list[list[object]]]:
        return {
            tuple(sorted(s["metric"].items())): s["values"]
            for s in doc["data"]["result"]  # type: ignore[index]
        }

    got = by_labels(via_prometheus)
    want = {
        tuple(sorted({**dict(k), "site": "kp"}.items())): v for k, v in by_labels(direct).items()
    }
    assert len(want) > 50
    assert got == want
