"""Real peers for remote-write interop tests: kubeprom, VictoriaMetrics and Prometheus 2.42.

Every server binds 127.0.0.1 on a port picked at run time and is stopped by what started
it (by its PID). Samples are compared as (labels, timestamp, value bits) sets.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubeprom.model.labels import Labels
from kubeprom.tsdb import DB
from tests.support.procs import free_port, require_binary, wait_http

Sample = tuple[Labels, int, float]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 90) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _start(argv: list[str], url: str, ready: str, log: Path) -> Server:
    out = open(log, "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(argv, stdout=out, stderr=out)
    out.close()
    server = Server(proc, url, log)
    try:
        wait_http(url + ready, proc, log, timeout_s=60)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def start_kubeprom(
    config: Path, data: Path, log: Path, *extra: str, port: int | None = None
) -> Server:
    port = port or free_port()
    argv = [
        sys.executable,
        "-m",
        "kubeprom.cli.main",
        "run",
        "--config",
        str(config),
        "--data",
        str(data),
        "--listen",
        f"127.0.0.1:{port}",
        *extra,
    ]
    return _start(argv, f"http://127.0.0.1:{port}", "/-/ready", log)


def start_vm(data: Path, log: Path, port: int | None = None) -> Server:
    binary = require_binary("victoria-metrics")
    port = port or free_port()
    argv = [
        binary,
        f"-httpListenAddr=127.0.0.1:{port}",
        "-search.latencyOffset=0s",
        f"-storageDataPath={data}",
    ]
    return _start(argv, f"http://127.0.0.1:{port}", "/health", log)


def start_prometheus(
    config: Path, data: Path, log: Path, *extra: str, port: int | None = None
) -> Server:
    binary = require_binary("prometheus")
    port = port or free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        *extra,
    ]
    return _start(argv, f"http://127.0.0.1:{port}", "/-/ready", log)


def get_json(url: str, params: dict[str, str] | None = None) -> object:
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def metric_value(base: str, name: str) -> float:
    """Sum of a metric over its label sets on a /metrics page."""
    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def stored_samples(data: Path, external: dict[str, str]) -> set[Sample]:
    """Every sample in a stopped kubeprom's data directory, with the external labels."""
    from kubeprom.model.matchers import Matcher, MatchType

    db = DB.open_read_only(data)
    ss = db.querier().select([Matcher(MatchType.REGEX, "__name__", ".+")], -(2**62), 2**62)
    out: set[Sample] = set()
    for series in ss:
        labels = Labels({**external, **series.labels.to_dict()}.items())
        for t, v in zip(series.t.tolist(), series.v.tolist(), strict=True):
            out.add((labels, t, v))
    return out


def vm_flush(base: str) -> None:
    """Make VictoriaMetrics' recently received rows searchable now."""
    with urllib.request.urlopen(base + "/internal/force_flush", timeout=60) as r:
        r.read()


def vm_samples(base: str) -> set[Sample]:
    """Every raw sample VictoriaMetrics holds (``/api/v1/export``), after flushing its
    in-memory buffers (recent rows are otherwise searchable only about a second later)."""
    vm_flush(base)
    url = base + "/api/v1/export?" + urllib.parse.urlencode({"match[]": '{__name__=~".+"}'})
    out: set[Sample] = set()
    with urllib.request.urlopen(url, timeout=120) as r:
        for line in r.read().decode().splitlines():
            doc = json.loads(line)
            labels = Labels(doc["metric"].items())
            for t, v in zip(doc["timestamps"], doc["values"], strict=True):
                out.add((labels, int(t), float(v) if v is not None else math.nan))
    return out


def prometheus_samples(base: str, at_s: float) -> set[Sample]:
    """Every raw sample of the last hour a Prometheus holds (a range-vector instant query)."""
    doc = get_json(base + "/api/v1/query", {"query": '{__name__=~".+"}[1h]', "time": f"{at_s:.3f}"})
    out: set[Sample] = set()
    for series in doc["data"]["result"]:  # type: ignore[index]
        labels = Labels(series["metric"].items())
        for t, v in series["values"]:
            out.add((labels, round(float(t) * 1000), float(v)))
    return out


def missing(want: set[Sample], have: set[Sample], *, rtol: float = 0.0) -> list[Sample]:
    """Samples of ``want`` that ``have`` lacks; values equal within ``rtol``; NaN == NaN."""
    index: dict[tuple[Labels, int], list[float]] = {}
    for labels, t, v in have:
        index.setdefault((labels, t), []).append(v)
    out = []
    for labels, t, v in want:
        got = index.get((labels, t), [])
        if not any(
            (math.isnan(v) and math.isnan(g))
            or (v == g)
            or abs(v - g) <= rtol * max(abs(v), abs(g))
            for g in got
        ):
            out.append((labels, t, v))
    return sorted(out, key=lambda s: (str(s[0]), s[1]))


def _same(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))


def vm_missing(want: set[Sample], base: str, timeout_s: float = 30) -> list[Sample]:
    """Samples of ``want`` VictoriaMetrics does not show, polling until it shows them all:
    rows it has just received become searchable a moment later, even after a flush."""
    deadline = time.monotonic() + timeout_s
    while True:
        gone = missing(want, vm_samples(base), rtol=1e-12)
        if not gone or time.monotonic() > deadline:
            return gone
        time.sleep(0.5)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def caught_up(base: str) -> Callable[[], bool]:
    """A check that a kubeprom's remote-write queues have sent everything it had appended
    when the check first ran (it keeps scraping meanwhile).

    Waiting for "nothing pending and the newest sample sent" instead never ends when the
    scrape interval equals batch_send_deadline: each batch's remainder leaves at the moment
    the next scrape appends, so at low load the two stay in phase for minutes.
    """
    target = 0.0

    def check() -> bool:
        nonlocal target
        if target <= 0:
            target = metric_value(base, "prometheus_remote_storage_highest_timestamp_in_seconds")
            if target <= 0:
                return False
        sent = metric_value(base, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
        return sent >= target

    return check


def env_seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))
