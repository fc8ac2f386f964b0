"""The fixed cost of a request: cheap queries back to back, kubeprom beside Prometheus 2.42.

Run from the repository root::

    KUBEPROM_SHARED=../shared python -m benchmarks.bench_http_cost --series 2000 --hours 2 \
        [--requests 2000] [--rounds 2] [--work DIR]

Both servers serve the bench dataset as ``bench_query_set`` prepares and starts them. One
keep-alive client (``http.client``, as ``run_queries.py``) sends each path ``--requests``
times back to back, kubeprom and Prometheus taking turns for ``--rounds`` rounds. Per path:
the median latency and the server's CPU time per request (its utime + stime over the loop,
all threads), the better round of each. The CPU figure is the steadier one on a shared
machine: latency there is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

from benchmarks.bench_query_set import add_dataset_arguments, prepare, start_servers, stop

PATHS = (
    "/-/healthy",
    "vector(1)",
    'absent(up{job="etcd"})',
    "up",
    'predict_linear(node_filesystem_avail_bytes{job="node-exporter",fstype!=""}[1h], 4 * 3600)',
    '1 - avg by (node) (rate(node_cpu_seconds_total{job="node-exporter",mode="idle"}[5m]))',
)
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def loop(base: str, pid: int, path: str, n: int) -> tuple[float, float]:
    """(median latency ms, server CPU µs per request) of ``n`` GETs of ``path``."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port)
    headers = {"Accept-Encoding": "identity"}
    for _ in range(50):  # warm-up: parse cache, the inline decision, connection
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    lat = []
    cpu0 = cpu_s(pid)
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        lat.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise SystemExit(f"{base}{path}: HTTP {resp.status}")
    cpu = (cpu_s(pid) - cpu0) / n * 1e6
    conn.close()
    return statistics.median(lat) * 1e3, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataset_arguments(parser)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ds, kp, prom = prepare(args)
    t_s = json.loads((ds / "dataset.json").read_text())["end_ms"] / 1000 - 1
    paths = [
        p
        if p.startswith("/")
        else f"/api/v1/query?{urllib.parse.urlencode({'query': p})}&time={t_s:.3f}"
        for p in PATHS
    ]
    servers, _logs = start_servers(Path(args.work), kp, prom)
    best: dict[tuple[str, str], tuple[float, float]] = {}
    load = [os.getloadavg()[0]]
    try:
        for _ in range(args.rounds):
            for name, (base, proc) in servers.items():
                for label, path in zip(PATHS, paths, strict=True):
                    ms, cpu = loop(base, proc.pid, path, args.requests)
                    old = best.get((name, label), (ms, cpu))
                    best[name, label] = (min(ms, old[0]), min(cpu, old[1]))
        load.append(os.getloadavg()[0])
    finally:
        for _, proc in servers.values():
            stop(proc)
    print(f"load average (1 min) {load[0]:.2f} -> {load[-1]:.2f}\n")
    print("| path or query | kubeprom ms / CPU µs | Prometheus ms / CPU µs | ratio ms / CPU |")
    print("|---|---|---|---|")
    for label in PATHS:
        (km, kc), (pm, pc) = best["kubeprom", label], best["prometheus", label]
        print(
            f"| `{label}` | {km:.3f} / {kc:.0f} | {pm:.3f} / {pc:.0f} "
            f"| {km / pm:.2f} / {kc / pc:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
