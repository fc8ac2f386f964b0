"""HTTP overhead: a small instant query at 16 concurrent clients, kubeprom beside Prometheus.

Run from the repository root::

    python -m benchmarks.bench_http [--clients 16] [--seconds 10] [--warmup 2]

Both servers get the same tiny data (a few series imported from one OpenMetrics file:
``kubeprom tsdb import`` and ``promtool tsdb create-blocks-from openmetrics``) and serve it
on loopback ports; ``kubeprom run`` with a serve-only configuration (no scraping). Each
server in turn gets ``--clients`` aiohttp clients in this process, each sending
``GET /api/v1/query?query=sum by (job) (up)&time=...`` back to back for ``--seconds`` after
``--warmup`` seconds. Every answer is checked (status 200, two series). The table gives
requests/s, p50 and p99 latency, and the ratio of p99s.

Caveats: the load generator is Python and shares this machine's two cores with the server
under test, so absolute numbers are lower than a C load generator would show, for both
servers alike; Prometheus is the Debian package (2.42).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

T0 = 1_700_000_000
QUERY = "sum by (job) (up)"
READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openmetrics() -> str:
    lines = ["# TYPE up gauge"]
    for k in range(40):
        t = T0 + 15 * k
        for i in range(4):
            lines.append(f'up{{instance="host-{i}:9100",job="{"node" if i < 2 else "api"}"}} 1 {t}')
    return "\n".join([*lines, "# EOF"]) + "\n"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready in {READY_TIMEOUT_S}s:\n{log.read_text()[-2000:]}")


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_s: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        lat = sorted(self.latencies_s)
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")


async def _load(name: str, base: str, clients: int, seconds: float, warmup: float) -> Result:
    params = {"query": QUERY, "time": str(T0 + 300)}
    url = f"{base}/api/v1/query"
    latencies: list[float] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=conn) as session:
        measure_from = time.perf_counter() + warmup
        stop_at = measure_from + seconds

        async def client() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < stop_at:
                async with session.get(url, params=params) as r:
                    body = await r.json()
                done = time.perf_counter()
                ok = r.status == 200 and len(body["data"]["result"]) == 2
                if now >= measure_from:
                    latencies.append(done - now)
                    errors += not ok

        await asyncio.gather(*(client() for _ in range(clients)))
    return Result(name, len(latencies), errors, seconds, latencies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    args = ap.parse_args()
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        raise SystemExit("needs the prometheus and promtool binaries (Debian package prometheus)")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench_http_") as tmp:
        work = Path(tmp)
        (work / "in.om").write_text(_openmetrics())
        (work / "serve.yml").write_text("scrape_configs: []\n")
        kp_cmd = [sys.executable, "-m", "kubeprom.cli.main"]
        subprocess.run(
            [*kp_cmd, "tsdb", "import", str(work / "in.om"), "--data", str(work / "kp"), "--quiet"],
            check=True,
        )
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "in.om"),
             str(work / "prom")],
            check=True,
            capture_output=True,
        )  # fmt: skip
        kp_port, prom_port = _free_port(), _free_port()
        servers = {
            "kubeprom": [
                *kp_cmd, "--log-level", "warn", "run", "--config", str(work / "serve.yml"),
                "--data", str(work / "kp"), "--listen", f"127.0.0.1:{kp_port}",
                "--retention-time", "100y",
            ],
            "prometheus": [
                prometheus, f"--config.file={work / 'serve.yml'}",
                f"--storage.tsdb.path={work / 'prom'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
        }  # fmt: skip
        ports = {"kubeprom": kp_port, "prometheus": prom_port}
        for name, argv in servers.items():
            log = work / f"{name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=out)
            try:
                base = f"http://127.0.0.1:{ports[name]}"
                _wait_ready(f"{base}/-/ready", proc, log)
                results.append(
                    asyncio.run(_load(name, base, args.clients, args.seconds, args.warmup))
                )
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    print(f"\nHTTP: {QUERY!r} instant query, {args.clients} concurrent clients, {args.seconds:g}s")
    print(f"{'server':<12} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r.name:<12} {r.requests:>9} {r.errors:>7} {r.rps:>9.0f} "
            f"{r.quantile(0.5) * 1000:>8.2f} {r.quantile(0.99) * 1000:>8.2f}"
        )
    kp, prom = results
    print(f"p99 ratio kubeprom/prometheus: {kp.quantile(0.99) / prom.quantile(0.99):.2f}x "
          f"(floor: under 3x); req/s ratio: {kp.rps / prom.rps:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
