"""Scrape + remote write cost: kubeprom against Prometheus 2.42, into one VictoriaMetrics.

    python -m benchmarks.bench_remote_write [--targets 20] [--series 5000] [--duration 60]

The synthetic targets of ``../shared/bench/scrape_cost.py serve`` (every sample changes at
every scrape) are scraped every second by each engine in turn, with the same configuration:
one ``remote_write`` to the same VictoriaMetrics (default ``queue_config``). For each engine,
over the timed window after ``--warmup`` seconds:

- CPU seconds (utime + stime of the engine's process, ``/proc/PID/stat``) per million
  samples scraped, where every scraped sample is also remote-written (checked: the samples
  sent in the window are reported next to the samples scraped);
- RSS per active series.

kubeprom also runs with ``--agent`` (reported, not compared), for its memory per series.
Every process is started here, bound to loopback, and stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def shared_bench() -> Path:
    env = os.environ.get("KUBEPROM_SHARED")
    base = Path(env) if env else ROOT.parent / "shared"
    return base / "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_block(n: int) -> int:
    for base in range(21000, 31000, 97):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited early")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def config(path: Path, targets: int, base: int, vm_url: str) -> None:
    """The engines' config, and beside it ``scrape_only.yml`` without the remote_write."""
    tg = ", ".join(f"'127.0.0.1:{base + t}'" for t in range(targets))
    scrape = f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: synthetic
    static_configs:
      - targets: [{tg}]
"""
    path.with_name("scrape_only.yml").write_text(scrape)
    path.write_text(
        f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: synthetic
    static_configs:
      - targets: [{tg}]
remote_write:
  - url: {vm_url}/api/v1/write
"""
    )


ENGINES = {
    # (argv template, samples-scraped counter, active-series gauge)
    "prometheus": (
        ["prometheus", "--config.file={config}", "--storage.tsdb.path={data}",
         "--web.listen-address=127.0.0.1:{port}"],
        "prometheus_tsdb_head_samples_appended_total",
        "prometheus_tsdb_head_series",
    ),
    "kubeprom": (
        [sys.executable, "-m", "kubeprom.cli.main", "run", "--config", "{config}",
         "--data", "{data}", "--listen", "127.0.0.1:{port}"],
        "prometheus_tsdb_head_samples_appended_total",
        "prometheus_tsdb_head_series",
    ),
    "kubeprom, no remote write": (
        [sys.executable, "-m", "kubeprom.cli.main", "run", "--config", "{config_scrape_only}",
         "--data", "{data}", "--listen", "127.0.0.1:{port}"],
        "prometheus_tsdb_head_samples_appended_total",
        "prometheus_tsdb_head_series",
    ),
    "kubeprom --agent": (
        [sys.executable, "-m", "kubeprom.cli.main", "run", "--agent", "--config", "{config}",
         "--data", "{data}", "--listen", "127.0.0.1:{port}"],
        "prometheus_agent_samples_appended_total",
        "prometheus_agent_active_series",
    ),
}  # fmt: skip


def measure(
    name: str, work: Path, cfg: Path, warmup_s: float, duration_s: float
) -> dict[str, float]:
    argv_t, scraped_m, series_m = ENGINES[name]
    port = free_port()
    data = work / "".join(c if c.isalnum() else "_" for c in name)
    scrape_only = cfg.with_name("scrape_only.yml")
    argv = [
        a.format(config=cfg, config_scrape_only=scrape_only, data=data, port=port) for a in argv_t
    ]
    log = open(work / f"{data.name}.log", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/-/ready", proc)
        time.sleep(warmup_s)
        c0, s0 = cpu_s(proc.pid), metric(url, scraped_m)
        w0 = metric(url, "prometheus_remote_storage_samples_total")  # 0 when not configured
        t0 = time.monotonic()
        time.sleep(duration_s)
        c1, s1 = cpu_s(proc.pid), metric(url, scraped_m)
        w1 = metric(url, "prometheus_remote_storage_samples_total")
        elapsed = time.monotonic() - t0
        rss = rss_bytes(proc.pid)
        series = metric(url, series_m)
        failed = metric(url, "prometheus_remote_storage_samples_failed_total")
        pending = metric(url, "prometheus_remote_storage_samples_pending")
    finally:
        stop(proc)
        log.close()
    scraped, written = s1 - s0, w1 - w0
    return {
        "cpu_s_per_million": (c1 - c0) / scraped * 1e6,
        "cpu_cores": (c1 - c0) / elapsed,
        "samples_scraped": scraped,
        "samples_remote_written": written,
        "samples_failed": failed,
        "pending_at_end": pending,
        "active_series": series,
        "rss_bytes_per_series": rss / series if series else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--series", type=int, default=5000)
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument(
        "--engines",
        default="kubeprom;prometheus;kubeprom --agent;kubeprom, no remote write",
        help="engines to run, separated by ';'",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_rw_"))
    base = free_block(args.targets)
    vm_port = free_port()
    vm_url = f"http://127.0.0.1:{vm_port}"
    exporter = subprocess.Popen(
        [sys.executable, str(shared_bench() / "scrape_cost.py"), "serve", "--targets",
         str(args.targets), "--series", str(args.series), "--base-port", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    vm = subprocess.Popen(
        [shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics",
         f"-httpListenAddr=127.0.0.1:{vm_port}", "-search.latencyOffset=0s",
         f"-storageDataPath={work / 'vm'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    try:
        assert exporter.stdout is not None
        exporter.stdout.readline()  # "ready"
        wait_ready(vm_url + "/health", vm)
        cfg = work / "config.yml"
        config(cfg, args.targets, base, vm_url)
        for name in [e.strip() for e in args.engines.split(";")]:
            results[name] = measure(name, work, cfg, args.warmup, args.duration)
            print(name, json.dumps(results[name]), flush=True)
    finally:
        stop(exporter)
        stop(vm)
        shutil.rmtree(work, ignore_errors=True)
    if "kubeprom" in results and "prometheus" in results:
        k, p = results["kubeprom"], results["prometheus"]
        print(f"cpu per million samples: kubeprom {k['cpu_s_per_million']:.2f} s, "
              f"prometheus {p['cpu_s_per_million']:.2f} s, "
              f"ratio x{k['cpu_s_per_million'] / p['cpu_s_per_million']:.2f}")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
