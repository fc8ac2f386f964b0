"""Rule evaluation time: kubeprom vs Prometheus 2.42 on the same targets, in the same run.

Serves the default simulated cluster's exporters, starts Debian's Prometheus and
``kubeprom run`` with the same scrape configuration and the kubernetes-mixin rule files of
``../shared/conformance/rules``, lets both evaluate for a while, and samples
``prometheus_rule_group_last_duration_seconds`` from both ``/metrics`` every few seconds.
Prints, per group, the median duration on each side and their ratio (kubeprom /
Prometheus), and the geometric mean of the ratios; also the recorded series counts and
the firing/pending alert label sets of both servers, which must agree. At every sample it
also times an instant query of ``up`` on each server (the API's latency while both scrape
and evaluate).

``--trace FILE`` runs kubeprom through ``rules_trace.py`` and prints where each group's wall
time went (rule thread CPU, context switches, overlap with scrapes); ``--switch-interval S``
(with it) replaces kubeprom's GIL switch interval.

    KUBEPROM_SHARED=/work/shared python benchmarks/bench_rules.py [--seconds 180] \
        [--trace /tmp/trace.jsonl [--switch-interval 0.005]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
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


def query_latency_ms(base: str) -> float:
    started = time.perf_counter()
    query(base, "up")
    return (time.perf_counter() - started) * 1000


def summarize_trace(path: Path, warmup: int = 3) -> None:
    """Per group (first ``warmup`` evaluations skipped): median wall and CPU time, their
    ratio, median context switches and other threads' CPU, mean garbage collection time,
    and how many evaluations overlapped a scrape; then wall/CPU with and without an
    overlapping scrape, and the collections' total."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    scrapes = [
        (r["start_ns"], r["start_ns"] + r["wall_ns"]) for r in records if r["kind"] == "scrape"
    ]

    def overlaps(r: dict[str, Any]) -> bool:
        a, b = r["start_ns"], r["start_ns"] + r["wall_ns"]
        return any(s < b and e > a for s, e in scrapes)

    by_group: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["kind"] == "group":
            by_group.setdefault(r["group"], []).append(r)
    print(
        f"{'group':<46} {'wall ms':>8} {'cpu ms':>7} {'wall/cpu':>8} {'vol':>4} {'invol':>5}"
        f" {'others ms':>9} {'gc ms':>6} {'w/ scrape':>9}"
    )
    ratios: tuple[list[float], list[float]] = ([], [])
    sums = [0.0, 0.0]
    for name, rs in sorted(by_group.items()):
        rs = rs[warmup:]
        if not rs:
            continue
        wall = statistics.median(r["wall_ns"] for r in rs) / 1e6
        cpu = statistics.median(r["cpu_ns"] for r in rs) / 1e6
        sums[0] += wall
        sums[1] += cpu
        n_over = 0
        for r in rs:
            over = overlaps(r)
            n_over += over
            ratios[over].append(r["wall_ns"] / max(r["cpu_ns"], 1))
        print(
            f"{name:<46} {wall:8.2f} {cpu:7.2f} {wall / cpu:8.2f}"
            f" {statistics.median(r['voluntary'] for r in rs):4.0f}"
            f" {statistics.median(r['involuntary'] for r in rs):5.0f}"
            f" {statistics.median(r['others_cpu_ns'] for r in rs) / 1e6:9.2f}"
            f" {statistics.fmean(r.get('gc_ns', 0) for r in rs) / 1e6:6.2f}"
            f" {n_over:>4}/{len(rs):<4}"
        )
    print(f"sum of medians: wall {sums[0]:.1f} ms, rule thread CPU {sums[1]:.1f} ms")
    evaluations = [r for r in records if r["kind"] == "group"]
    gc_ms = sum(r.get("gc_ns", 0) for r in evaluations) / 1e6
    cpu_ms = sum(r["cpu_ns"] for r in evaluations) / 1e6
    full = sum(r.get("gc_full", 0) for r in evaluations)
    print(
        f"garbage collection during evaluations: {gc_ms:.1f} ms of {cpu_ms:.1f} ms rule thread"
        f" CPU, {full} full collections"
    )
    for over, label in ((False, "no scrape running"), (True, "a scrape running")):
        if ratios[over]:
            print(
                f"wall/cpu per evaluation, {label}: median {statistics.median(ratios[over]):.2f}"
                f" (n={len(ratios[over])})"
            )


def start(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out, env=env)


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
    ap.add_argument("--trace", type=Path, default=None, help="trace kubeprom's evaluations here")
    ap.add_argument(
        "--switch-interval", type=float, default=None, help="kubeprom's GIL switch interval (s)"
    )
    args = ap.parse_args()
    if args.switch_interval is not None and args.trace is None:
        ap.error("--switch-interval needs --trace")
    kubeprom_env = dict(os.environ)
    if args.trace is not None:
        args.trace.unlink(missing_ok=True)
        kubeprom_env["KUBEPROM_RULES_TRACE"] = str(args.trace)
        if args.switch_interval is not None:
            kubeprom_env["KUBEPROM_SWITCH_INTERVAL"] = str(args.switch_interval)
        entry = [str(Path(__file__).with_name("rules_trace.py"))]
    else:
        entry = ["-m", "kubeprom.cli.main"]
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
        for argv, log, env in (
            (
                ["prometheus", f"--config.file={tmp / 'config.yml'}",
                 f"--storage.tsdb.path={tmp / 'prom'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                tmp / "prom.log",
                dict(os.environ),
            ),
            (
                [sys.executable, *entry, "--log-level=error", "run",
                 "--config", str(tmp / "config.yml"), "--data", str(tmp / "kp"),
                 "--listen", f"127.0.0.1:{kp_port}"],
                tmp / "kp.log",
                kubeprom_env,
            ),
        ):  # fmt: skip
            procs.append((start(argv, log, env), log))
        try:
            for (proc, log), base in zip(procs, (prom, kp), strict=True):
                await asyncio.to_thread(wait_ready, base, proc, log)
            samples: dict[str, tuple[list[float], list[float]]] = {}
            latency: tuple[list[float], list[float]] = ([], [])
            end = time.monotonic() + args.seconds
            warmup = time.monotonic() + min(60.0, args.seconds / 3)
            while time.monotonic() < end:
                await asyncio.sleep(2.5)
                if time.monotonic() < warmup:
                    continue
                p, k = group_durations(prom), group_durations(kp)
                latency[0].append(query_latency_ms(prom))
                latency[1].append(query_latency_ms(kp))
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
        except BaseException:
            print(f"bench_rules: configs, logs and data kept in {tmp}", file=sys.stderr)
            raise
        finally:
            for proc, _ in procs:
                proc.terminate()
                proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)  # both servers have stopped
    rows = []
    for g, (ps, ks) in sorted(samples.items()):
        prom_s, kp_s = statistics.median(ps), statistics.median(ks)
        rows.append((g, kp_s * 1000, prom_s * 1000, kp_s / prom_s))
    print(f"{'group':<70} {'kubeprom ms':>12} {'prom ms':>9} {'ratio':>7}")
    for g, kp_ms, prom_ms, ratio in rows:
        print(f"{g:<70} {kp_ms:12.2f} {prom_ms:9.2f} {ratio:7.2f}")
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
    if latency[0]:
        print(
            "instant query of up, median / max: prometheus "
            f"{statistics.median(latency[0]):.1f} / {max(latency[0]):.1f} ms, kubeprom "
            f"{statistics.median(latency[1]):.1f} / {max(latency[1]):.1f} ms"
        )
    if args.trace is not None:
        summarize_trace(args.trace)
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "geomean": geo, "alerts": alerts, "recorded": recorded})
        )


if __name__ == "__main__":
    asyncio.run(main())
