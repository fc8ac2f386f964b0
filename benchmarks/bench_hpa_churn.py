"""A day of HPA churn on ``kubeprom run``'s parts, in virtual time: memory and head series.

    python benchmarks/bench_hpa_churn.py [--hours 24] [--rules] [--out benchmarks/hpa_churn]

The parts ``kubeprom run`` assembles, on a virtual clock: the simulated cluster (three
Deployments whose load spikes every few minutes), its exporters scraped in process every
15 s (cAdvisor, kubelet resource metrics, kube-state-metrics: the embedded configuration's
jobs), the store on disk with its WAL and a compaction every minute, the HPA controller
syncing every 15 s (scaling each Deployment up and down every few minutes, so pods and
their series come and go), and with ``--rules`` the embedded rule files. Every 10 minutes
of cluster time it records the process' resident memory, the head's series and samples,
the series created and collected so far, and the pods. Writes ``OUT.csv`` and ``OUT.png``
and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from kubeprom.cli.run_cmd import tune_malloc
from kubeprom.clock import VirtualClock
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.hpa import load_hpa_text
from kubeprom.config.load import load_main_config, parse_main_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.metrics_resource import MetricsServerConfig
from kubeprom.model.events import EventLog
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.rules.group import GroupOptions
from kubeprom.rules.manager import RuleManager, settings_from
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.sim.workloads import ClusterWorkloads
from kubeprom.tsdb import DB, Options

try:
    from benchmarks.memprobe import mallinfo, malloc_trim, proc_memory
except ImportError:  # run as a script: benchmarks/ is sys.path[0]
    from memprobe import (  # type: ignore[import-not-found,no-redef]
        mallinfo,
        malloc_trim,
        proc_memory,
    )

T0_MS = 1_800_000_000_000
MINUTE = 60_000
SAMPLE_EVERY_MIN = 10

SCRAPE = """
global: {scrape_interval: 15s, scrape_timeout: 10s, evaluation_interval: 15s}
scrape_configs:
  - job_name: cadvisor
    metrics_path: /metrics/cadvisor
    cluster_sd_configs: [{role: node}]
    relabel_configs:
      - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}
      - {source_labels: [__meta_kubernetes_node_name], target_label: node}
  - job_name: kubelet
    metrics_path: /metrics/resource
    cluster_sd_configs: [{role: node}]
    relabel_configs:
      - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}
      - {source_labels: [__meta_kubernetes_node_name], target_label: node}
  - job_name: kube-state-metrics
    honor_labels: true
    cluster_sd_configs: [{role: kube-state-metrics}]
"""


def _deployment(name: str, every: str, duration: str, factor: int) -> str:
    return f"""
    - metadata: {{name: {name}, labels: {{app: {name}}}}}
      spec:
        replicas: 2
        template:
          spec:
            terminationGracePeriodSeconds: 15
            containers:
              - name: app
                image: example/{name}:1
                resources: {{requests: {{cpu: 200m, memory: 128Mi}}, limits: {{cpu: "1"}}}}
                readinessProbe: {{initialDelaySeconds: 10}}
      load:
        type: spike
        base_rps: 20
        at: 1m
        duration: {duration}
        factor: {factor}
        every: {every}
        cpu_per_request: 5m
        baseline_cpu: 10m
        baseline_memory: 64Mi
        noise: 0.05
"""


CLUSTER = (
    """
cluster:
  seed: 17
  nodes: [{count: 3, capacity: {cpu: "8", memory: 32Gi}}]
  deployments:"""
    + _deployment("web", "8m", "4m", 6)
    + _deployment("api", "12m", "5m", 4)
    + _deployment("worker", "6m", "3m", 8)
)


def _hpa(name: str) -> str:
    return f"""
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 1
  maxReplicas: 20
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 60}}}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60
      policies: [{{type: Percent, value: 100, periodSeconds: 15}}]
"""


def _block_index_mib(db: DB) -> float:
    """What the open blocks keep in the heap of their indexes (arrays not mapped from the
    file, decoded symbols), MiB."""
    total = sum(b.index_memory_bytes for b in db.blocks_snapshot())
    return total / 2**20


def _rss_mib() -> float:
    """Resident memory now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory_columns() -> dict[str, float]:
    """Anonymous RSS and glibc's view (in use, held free), MiB."""
    mem = proc_memory() | mallinfo()
    return {
        "anon_mib": mem.get("RssAnon", 0) / 2**20,
        "malloc_in_use_mib": mem.get("malloc_in_use", 0) / 2**20,
        "malloc_free_mib": mem.get("malloc_free", 0) / 2**20,
    }


async def run(
    hours: float, with_rules: bool, data: Path, *, trim: bool = False, traced: Path | None = None
) -> list[dict[str, float]]:
    spec = parse_cluster_config(CLUSTER, "churn.yml")
    assert spec is not None
    clock = VirtualClock(T0_MS)
    events = EventLog()
    cluster = SimulatedCluster(spec, start_s=T0_MS / 1000, events=events)
    db = DB.open(data, Options(retention_ms=None), clock=clock)
    fetch = InProcessFetch(cluster, clock)
    scraping = ScrapeService(db.appender, clock, fetch, cluster=fetch.discover)
    scraping.apply(parse_main_config(SCRAPE, "churn.yml"))
    # As kubeprom run reads them: PromQL over the store (the kubelet job's scrapes).
    backends = MetricsBackends(
        LocalQueryAPI(db.querier, clock=clock),
        metrics_server=MetricsServerConfig(metric_resolution_ms=15_000),
    )
    hpas = Autoscalers(ClusterWorkloads(cluster), backends, events)
    manifests = "".join(_hpa(n) for n in ("web", "api", "worker"))
    hpas.apply_config([h.hpa for h in load_hpa_text(manifests, "hpa.yml")], T0_MS)
    rules = None
    if with_rules:
        default = load_main_config(None)
        rules = RuleManager(
            GroupOptions(
                query=LocalQueryAPI(db.querier, clock=clock),
                appender=db.appender,
                querier=db.querier,
            ),
            clock,
        )
        await rules.update(settings_from(default.rule_files, evaluation_interval_ms=15_000))
    scraping.start()
    loop = asyncio.create_task(hpas.run(clock))
    rows: list[dict[str, float]] = []
    wall = time.monotonic()
    try:
        for minute in range(1, int(hours * 60) + 1):
            await clock.set_ms(T0_MS + minute * MINUTE)
            db.compact()  # the compaction part runs once a minute
            if trim:
                malloc_trim()
            if minute % SAMPLE_EVERY_MIN == 0:
                head = db.head
                deployments = cluster.deployments()
                replicas = {d.name: d.replicas for d in deployments}
                rows.append(
                    {
                        "hours": minute / 60,
                        "rss_mib": _rss_mib(),
                        **_memory_columns(),
                        "head_series": head.num_series,
                        "head_samples": head.num_samples,
                        "series_created": db.stats.series_created,
                        "series_collected": head.removed_series,
                        "blocks": len(db.blocks_snapshot()),
                        "block_index_mib": _block_index_mib(db),
                        "blocks_disk_mib": sum(b.size_bytes for b in db.blocks_snapshot()) / 2**20,
                        "frame_cache_mib": (
                            db.frame_cache.size_bytes / 2**20 if db.frame_cache else 0.0
                        ),
                        "pods": len(cluster.pods()),
                        # Every change of a Deployment's replicas bumps its generation.
                        "scale_changes": sum(d.generation - 1 for d in deployments),
                        "events": len(events),
                        **{f"replicas_{k}": float(v) for k, v in sorted(replicas.items())},
                        "wall_s": time.monotonic() - wall,
                    }
                )
                r = rows[-1]
                if traced is not None and minute % 120 == 0:
                    _trace_diff(traced, minute)
                print(
                    f"{r['hours']:5.2f}h rss={r['rss_mib']:.0f}MiB "
                    f"malloc_in_use={r['malloc_in_use_mib']:.0f}MiB "
                    f"malloc_free={r['malloc_free_mib']:.0f}MiB head_series="
                    f"{r['head_series']:.0f} created={r['series_created']:.0f} collected="
                    f"{r['series_collected']:.0f} pods={r['pods']:.0f} scale_changes="
                    f"{r['scale_changes']:.0f} wall={r['wall_s']:.0f}s",
                    flush=True,
                )
    finally:
        hpas.stop()
        loop.cancel()
        await scraping.stop()
        if rules is not None:
            await rules.stop()
        db.close()
    return rows


_FIRST: list[tracemalloc.Snapshot] = []


def _trace_diff(out: Path, minute: int) -> None:
    """Python allocations by source line: growth since the first snapshot (hour 2)."""
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    if not _FIRST:
        _FIRST.append(snap)
    lines = [str(s) for s in snap.compare_to(_FIRST[0], "lineno")[:30]]
    lines += ["", "largest now:"] + [str(s) for s in snap.statistics("lineno")[:30]]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"tracemalloc-{minute // 60:02d}h.txt").write_text("\n".join(lines) + "\n")


def plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r["hours"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    ax = axes[0]
    ax.plot(hours, [r["rss_mib"] for r in rows], color="tab:red", label="resident memory")
    ax.plot(
        hours,
        [r["block_index_mib"] for r in rows],
        color="tab:orange",
        label="of it, the blocks' indexes",
    )
    ax.plot(
        hours,
        [r["malloc_in_use_mib"] for r in rows],
        color="tab:purple",
        label="malloc'd and live (numpy arrays, large objects)",
    )
    ax.plot(
        hours,
        [r["frame_cache_mib"] for r in rows],
        color="tab:brown",
        label="of it, the decoded-frame cache",
    )
    ax.legend(loc="lower right")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.set_title(f"kubeprom run's parts, {hours[-1]:g} h of HPA churn in virtual time")
    ax = axes[1]
    ax.plot(hours, [r["head_series"] for r in rows], label="head series")
    ax.plot(hours, [r["series_created"] for r in rows], label="series created (total)")
    ax.plot(hours, [r["series_collected"] for r in rows], label="series collected (total)")
    ax.set_ylabel("series")
    ax.legend(loc="upper left")
    ax = axes[2]
    ax.plot(hours, [r["scale_changes"] for r in rows], color="tab:green", label="scale changes")
    ax.plot(hours, [r["pods"] for r in rows], color="tab:gray", label="pods (sampled)")
    ax.set_ylabel("HPA scale changes (total)")
    ax.set_xlabel("virtual hours")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--rules", action="store_true", help="also evaluate the embedded rules")
    p.add_argument("--out", default="benchmarks/hpa_churn", help="OUT.csv and OUT.png")
    p.add_argument("--trim", action="store_true", help="malloc_trim(0) after every compaction")
    p.add_argument(
        "--tracemalloc",
        type=Path,
        default=None,
        help="trace Python allocations; write their growth by line every 2 h into this dir",
    )
    args = p.parse_args()
    tune_malloc()  # as kubeprom run does
    if args.tracemalloc is not None:
        tracemalloc.start(1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(
            run(args.hours, args.rules, Path(tmp), trim=args.trim, traced=args.tracemalloc)
        )
    out = Path(args.out)
    with out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, out.with_suffix(".png"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
