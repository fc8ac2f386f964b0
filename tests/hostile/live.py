"""A live ``kubeprom run`` for the hostile suite: start, ask, measure, and the bounds every
hostile test asserts.

Bounds (stated once, asserted by every test):

* ``UP_LATENCY_S``: an ``up`` query answers within 2 s while the hostile input runs. Its
  normal latency is a few milliseconds; the failures of issue 11 were stalls of 6 to 23 s
  and timeouts, and 2 s leaves room for a loaded CI machine.
* ``PEAK_RSS_BYTES``: the server's peak resident memory (``VmHWM``) stays under 1 GiB; idle it
  is about 90 MB, and the largest input here is a gzip bomb inflating up to kubeprom's
  default body bound of 256 MiB (issue 11 reported 1.3 to 12 GiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.procs import free_port, stop, wait_http

# Every live server scrapes itself each second; the tests add their jobs below it.
SELF_SCRAPE = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: self
    static_configs: [{targets: ["{self}"]}]
"""
UP_LATENCY_S = 2.0
PEAK_RSS_BYTES = 1 << 30
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Live:
    """A running server: its process, base URL and log."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    data: Path

    def get(
        self, path: str, params: dict[str, str] | None = None, timeout_s: float = 30.0
    ) -> tuple[int, Any]:
        """(status, JSON body, or text when it is not JSON). Parameters longer than a
        request line may be go in a form body (POST), as clients do."""
        query = urllib.parse.urlencode(params) if params else ""
        if len(query) > 32 << 10:
            req = urllib.request.Request(self.base + path, data=query.encode(), method="POST")
        else:
            req = urllib.request.Request(self.base + path + ("?" + query if query else ""))
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def query(self, q: str, timeout_s: float = 30.0, **params: str) -> tuple[int, Any]:
        return self.get("/api/v1/query", {"query": q, **params}, timeout_s)

    def vector(self, q: str) -> dict[str, float]:
        """An instant query's series as ``{labels text: value}``."""
        status, body = self.query(q)
        assert status == 200, body
        return {
            json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
            for r in body["data"]["result"]
        }

    def metric(self, name: str) -> float:
        """A sample of the server's own /metrics, by exposition name."""
        _, text = self.get("/metrics")
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in /metrics")

    def up_latency_s(self) -> float:
        started = time.perf_counter()
        status, body = self.query("up", timeout_s=UP_LATENCY_S * 5)
        elapsed = time.perf_counter() - started
        assert status == 200, body
        return elapsed

    def _status(self, field_name: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"{field_name} not in /proc/{self.proc.pid}/status")

    def peak_rss_bytes(self) -> int:
        return self._status("VmHWM")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def assert_healthy(self) -> None:
        """The bounds every hostile test ends with."""
        assert self.alive(), self.log.read_text()[-3000:]
        assert self.up_latency_s() < UP_LATENCY_S
        assert self.peak_rss_bytes() < PEAK_RSS_BYTES, self.peak_rss_bytes()


@dataclass
class UpWatch:
    """``up`` latencies sampled in a thread while a block runs."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    at: list[float] = field(default_factory=list)  # monotonic start of each ask

    @property
    def worst_s(self) -> float:
        return max(self.latencies, default=0.0)


@contextmanager
def watching_up(live: Live, every_s: float = 0.1) -> Iterator[UpWatch]:
    """Ask ``up`` every ``every_s`` during the block; afterwards assert every answer came
    within UP_LATENCY_S."""
    watch = UpWatch()
    done = threading.Event()

    def run() -> None:
        while not done.is_set():
            try:
                started = time.monotonic()
                latency = live.up_latency_s()
                watch.at.append(started)
                watch.latencies.append(latency)
            except (OSError, AssertionError) as err:
                watch.errors.append(repr(err))
            done.wait(every_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        done.set()
        thread.join(UP_LATENCY_S * 10)
    assert watch.errors == []
    assert len(watch.latencies) >= 1
    slow = [
        (round(t - watch.at[0], 2), round(x, 3))
        for t, x in zip(watch.at, watch.latencies, strict=True)
    ]
    assert watch.worst_s < UP_LATENCY_S, [p for p in slow if p[1] > 0.2]


def kubeprom_argv(config: Path, data: Path, port: int, *flags: str) -> list[str]:
    return [
        sys.executable, "-m", "kubeprom.cli.main", "run", "--config", str(config),
        "--data", str(data), "--listen", f"127.0.0.1:{port}", *flags,
    ]  # fmt: skip


@contextmanager
def live_server(
    directory: Path, config: str, flags: Sequence[str] = (), data: Path | None = None
) -> Iterator[Live]:
    """``kubeprom run`` with ``config`` (``{self}`` is replaced by its own address) until
    the block ends (SIGTERM, then SIGKILL if it hangs)."""
    port = free_port()
    path = directory / "kubeprom.yml"
    path.write_text(config.replace("{self}", f"127.0.0.1:{port}"))
    data = data or directory / "data"
    log = directory / f"kubeprom-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            kubeprom_argv(path, data, port, *flags), stdout=out, stderr=out, cwd=REPO
        )
    live = Live(proc, f"http://127.0.0.1:{port}", log, data)
    try:
        wait_http(f"{live.base}/-/ready", proc, log, timeout_s=60)
        # The first query builds the parser's tables (seconds); "normal latency" is after.
        assert live.query("vector(1)", timeout_s=120)[0] == 200
        yield live
    finally:
        stop(proc)


@contextmanager
def target_process(directory: Path, bodies: Sequence[str] = ()) -> Iterator[str]:
    """The hostile targets (``tests.hostile.targets``), with only ``bodies`` of the large
    ones built (all when empty); yields their ``host:port``."""
    port = free_port()
    log = directory / "targets.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.targets", str(port), *bodies],
            stdout=out,
            stderr=out,
            cwd=REPO,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/normal", proc, log, timeout_s=120)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def wait_until(what: str, check: Any, timeout_s: float = 60.0, every_s: float = 0.2) -> Any:
    """Poll ``check()`` until it returns a truthy value (a condition of the live server's
    state, not a timing: the timeout only bounds a broken run)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {timeout_s}s (last: {last!r})")
