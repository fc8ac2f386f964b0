"""Rule evaluation time: kubeprom vs Prometheus 2.42 on the same targets, in the same run.

Serves the default simulated cluster's exporters, starts Debian's Prometheus and
``kubeprom run`` with the same scrape configuration and the kubernetes-mixin rule files of
``../shared/conformance/rules``, lets both evaluate for a while, and samples
``prometheus_rule_group_last_duration_seconds`` from both ``/metrics`` every few seconds.
Prints, per group, the median duration on each side and their ratio (kubeprom /
Prometheus), and the geometric mean of the ratios; also the recorded series counts and
the firing/pending alert label sets of both servers, which must agree.

    KUBEPROM_SHARED=/work/shared python benchmarks/bench_rules.py [--seconds 180]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from kubeprom.clock import RealClock
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.server import ExporterServer

SHARED = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MIXIN = SHARED / "conformance" / "rules" / "kubernetes-mixin"
METRIC = "prometheus_rule_group_last_duration_seconds"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_durations(base: str) -> dict[str, float]:
    """``rule_group`` (file;name, file reduced to its base name) -> last duration (s)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(METRIC + "{"):
            labels, value = line.rsplit(" ", 1)
            group = labels.split('rule_group="', 1)[1].split('"', 1)[0]
            file, _, name = group.partition(";")
            out[f"{Path(file).name};{name}"] = float(value)
    return out


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as r:
        data: list[dict[str, Any]] = json.loads(r.read())["data"]["result"]
    return data


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{base} not ready")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=180.0, help="how long both evaluate")
    ap.add_argument("--interval", default="10s", help="scrape and evaluation interval")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    spec = load_cluster_config(None)
    assert spec is not None
    clock = RealClock()
    tmp = Path(tempfile.mkdtemp(prefix="bench_rules_"))
    cluster = SimulatedCluster(spec, start_s=clock.now_ms() / 1000)
    async with ExporterServer(cluster, clock=clock) as server:
        jobs: dict[tuple[str, str], list[str]] = {}
        for t in server.targets():
            jobs.setdefault((t.job, t.metrics_path), []).append(t.address)
        config = {
            "global": {"scrape_interval": args.interval, "evaluation_interval": args.interval},
            "rule_files": [
                str(MIXIN / "prometheus_rules.yaml"),
                str(MIXIN / "prometheus_alerts.yaml"),
            ],
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": path,
                    "honor_labels": job == "kube-state-metrics",
                    "static_configs": [{"targets": addrs}],
                }
                for (job, path), addrs in jobs.items()
            ],
        }
        (tmp / "config.yml").write_text(yaml.safe_dump(config))
        prom_port, kp_port = free_port(), free_port()
        prom, kp = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{kp_port}"
        procs = []
        for argv, log in (
            (
                ["prometheus", f"--config.file={tmp / 'config.yml'}",
                 f"--storage.tsdb.path={tmp / 'prom'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                tmp / "prom.log",
            ),
            (
                [sys.executable, "-m", "kubeprom.cli.main", "--log-level=error", "run",
                 "--config", str(tmp / "config.yml"), "--data", str(tmp / "kp"),
                 "--listen", f"127.0.0.1:{kp_port}"],
                tmp / "kp.log",
            ),
        ):  # fmt: skip
            procs.append((start(argv, log), log))
        try:
            for (proc, log), base in zip(procs, (prom, kp), strict=True):
                await asyncio.to_thread(wait_ready, base, proc, log)
            samples: dict[str, tuple[list[float], list[float]]] = {}
            end = time.monotonic() + args.seconds
            warmup = time.monotonic() + min(60.0, args.seconds / 3)
            while time.monotonic() < end:
                await asyncio.sleep(2.5)
                if time.monotonic() < warmup:
                    continue
                p, k = group_durations(prom), group_durations(kp)
                for g in p.keys() & k.keys():
                    if p[g] > 0 and k[g] > 0:
                        ps, ks = samples.setdefault(g, ([], []))
                        ps.append(p[g])
                        ks.append(k[g])
            alerts = {
                name: sorted(json.dumps(r["metric"], sort_keys=True) for r in query(base, "ALERTS"))
                for name, base in (("prometheus", prom), ("kubeprom", kp))
            }
            recorded = {
                name: {
                    r["metric"]["__name__"]: int(r["value"][1])
                    for r in query(base, 'count by (__name__) ({__name__=~".+:.+"})')
                }
                for name, base in (("prometheus", prom), ("kubeprom", kp))
            }
        finally:
            for proc, _ in procs:
                proc.terminate()
                proc.wait(timeout=30)
    rows = []
    for g, (ps, ks) in sorted(samples.items()):
        p, k = statistics.median(ps), statistics.median(ks)
        rows.append((g, k * 1000, p * 1000, k / p))
    print(f"{'group':<70} {'kubeprom ms':>12} {'prom ms':>9} {'ratio':>7}")
    for g, k, p, ratio in rows:
        print(f"{g:<70} {k:12.2f} {p:9.2f} {ratio:7.2f}")
    geo = math.exp(statistics.fmean(math.log(r[3]) for r in rows)) if rows else float("nan")
    total_k = sum(r[1] for r in rows)
    total_p = sum(r[2] for r in rows)
    print(f"groups: {len(rows)}  geomean ratio: {geo:.2f}  worst: {max(r[3] for r in rows):.2f}")
    print(f"sum of group durations: kubeprom {total_k:.1f} ms, prometheus {total_p:.1f} ms")
    same_alerts = alerts["prometheus"] == alerts["kubeprom"]
    print(
        f"ALERTS series: prometheus {len(alerts['prometheus'])}, kubeprom "
        f"{len(alerts['kubeprom'])}, same label sets: {same_alerts}"
    )
    print(
        f"recorded series (count by name) equal: {recorded['prometheus'] == recorded['kubeprom']}"
    )
    if not same_alerts:
        print("  only prometheus:", sorted(set(alerts["prometheus"]) - set(alerts["kubeprom"])))
        print("  only kubeprom:", sorted(set(alerts["kubeprom"]) - set(alerts["prometheus"])))
    if recorded["prometheus"] != recorded["kubeprom"]:
        for n in sorted(recorded["prometheus"].keys() | recorded["kubeprom"].keys()):
            a, b = recorded["prometheus"].get(n), recorded["kubeprom"].get(n)
            if a != b:
                print(f"  {n}: prometheus {a}, kubeprom {b}")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "geomean": geo, "alerts": alerts, "recorded": recorded})
        )


if __name__ == "__main__":
    asyncio.run(main())
