"""Hostile-input soak (issue 11): ``kubeprom run`` with hostile targets and hostile queries
beside the normal ones, for a while (10 minutes by default).

    python -m benchmarks.soak [--duration 10m] [--work DIR] [--json OUT] [--max-rss MIB]

The server scrapes the embedded simulated cluster (cAdvisor, kubelet, kube-state-metrics,
with the kubernetes-mixin rules) and a healthy target every second, beside the hostile
targets of ``tests/hostile/targets.py``: samples stamped ten years ahead, 10^6 series under
``sample_limit: 1000``, a gzip bomb with no ``body_size_limit``, one series repeated 100,000
times. Three days of imported history sit in its store. Clients ask normal queries (``up``,
rates, aggregations, range queries, labels, series, federation) while others send hostile
ones: oversized subqueries, queries nested and chained thousands deep, a 4 MiB query,
parameters out of range, six slow queries at once, and seeded random queries.

Reported (progress every 10 s on the terminal, a table at the end):

* crashes: times the server process died (it is restarted on the same data); must be 0
* API latency: p50 / p99 / max of the normal requests, and of ``up`` alone
* envelope failures: hostile or normal answers that are not Prometheus' JSON envelope or
  are a 500; must be 0
* scrape lateness: from the healthy target's side, how much later than one interval after
  the previous one each scrape arrived (p99, max) and scrapes missed
* peak RSS of the server (``VmHWM``), and its RSS at the end (``VmRSS``); the soak fails
  (exit 1) when the peak reaches ``--max-rss`` MiB (default 1,024: the bound every live
  test of ``tests/hostile`` asserts, ``PEAK_RSS_BYTES``)
* samples lost: samples a query once returned (a 200-series counter scraped every 200 ms,
  and the imported history) that a later query no longer returns; must be 0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kubeprom.model import Labels
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.tsdb import BulkImporter

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "kubeprom" / "config" / "kubeprom.yml"
HOUR_MS = 3_600_000
NORMAL_INTERVAL_S = 1.0
INGEST_SERIES = 200
# The stated memory bound: the server's peak RSS under every hostile input at once, the
# same 1 GiB each live test of tests/hostile asserts for one input (live.PEAK_RSS_BYTES).
DEFAULT_MAX_RSS_MIB = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(targets: str, self_address: str, *, hostile: bool) -> str:
    """The embedded default configuration plus the soak's jobs (the hostile ones too)."""
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["rule_files"] = [str(DEFAULT_CONFIG.parent / "rules" / "*.yml")]

    def job(name: str, path: str, interval: str = "1s", **extra: Any) -> dict[str, Any]:
        timeout = "4s" if interval == "5s" else interval
        return {
            "job_name": name,
            "metrics_path": path,
            "scrape_interval": interval,
            "scrape_timeout": timeout,
            "static_configs": [{"targets": [targets]}],
            **extra,
        }

    cfg["scrape_configs"] += [
        {"job_name": "self", "static_configs": [{"targets": [self_address]}]},
        job("normal", "/normal"),
        job("ingest", "/ingest", "200ms"),
    ]
    if hostile:
        cfg["scrape_configs"] += [
            job("future", "/future"),
            job("huge", "/huge", "5s", sample_limit=1000),
            job("bomb", "/bomb", "5s"),
            job("dups", "/dups", "5s"),
        ]
    return yaml.safe_dump(cfg, sort_keys=False)


def import_history(data: Path, now_ms: int) -> tuple[int, int]:
    """Three days of 10-second samples of 10 counters ending 3 h ago, in 2 h blocks;
    returns (samples, end ms)."""
    imp = BulkImporter(data)
    names = [Labels.from_dict({"__name__": "history", "i": str(i)}) for i in range(10)]
    ids = [imp.series_id(n) for n in names]
    end = (now_ms - 3 * HOUR_MS) // (2 * HOUR_MS) * (2 * HOUR_MS)
    t = np.arange(end - 72 * HOUR_MS, end, 10_000, dtype=np.int64)
    values = np.arange(len(t), dtype=np.float64)
    imp.add(np.repeat(ids, len(t)), np.tile(t, len(ids)), np.tile(values, len(ids)))
    imp.finish()
    return len(ids) * len(t), end


# ---- the server and its measurements ------------------------------------------------------
@dataclass
class Server:
    argv: list[str]
    log: Path
    base: str
    proc: subprocess.Popen[bytes] | None = None
    crashes: list[str] = field(default_factory=list)
    peak_rss: int = 0
    rss: int = 0  # VmRSS at the last check: a peak that falls back is not a leak
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out, cwd=REPO)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"kubeprom exited at start:\n{self.log.read_text()[-3000:]}")
            if request(self.base + "/-/ready", timeout_s=1)[0] == 200:
                request(self.base + "/api/v1/query?query=vector(1)", timeout_s=120)  # warm
                return
            time.sleep(0.2)
        raise SystemExit("kubeprom did not become ready within 120 s")

    def check(self) -> None:
        """Record a crash (and restart on the same data) or the peak RSS so far."""
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            with self.lock:
                self.crashes.append(f"exit code {code}; log tail: {self.log.read_text()[-500:]}")
                self.start()
            return
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)
                elif line.startswith("VmRSS:"):
                    self.rss = int(line.split()[1]) * 1024

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def request(url: str, data: bytes | None = None, timeout_s: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, TimeoutError) as err:
        return 0, repr(err).encode()


@dataclass
class Tally:
    """Latencies and answers of one kind of request; thread-safe."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bad_envelopes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency: float, status: int, problem: str | None) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if problem is not None:
                self.bad_envelopes.append(problem)

    def quantiles(self) -> tuple[float, float, float]:
        with self.lock:
            xs = sorted(self.latencies)
        if not xs:
            return 0.0, 0.0, 0.0
        return xs[len(xs) // 2], xs[min(len(xs) - 1, int(len(xs) * 0.99))], xs[-1]


def envelope_problem(path: str, status: int, body: bytes, *, json_api: bool) -> str | None:
    """Why an answer is not what Prometheus would give (None: it is)."""
    if status == 0:
        return f"{path}: no answer ({body[:200]!r})"
    if status == 500:
        return f"{path}: 500 {body[:300]!r}"
    if not json_api:
        return None if status == 200 else f"{path}: {status} {body[:200]!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{path}: {status} not JSON {body[:200]!r}"
    if status == 200 and doc.get("status") == "success":
        return None
    if status in (400, 422, 503) and doc.get("status") == "error" and "errorType" in doc:
        return None
    return f"{path}: {status} {body[:300]!r}"


# ---- clients ------------------------------------------------------------------------------
NORMAL_QUERIES = [
    "up",
    "sum by (i) (rate(normal_total[1m]))",
    "normal_gauge",
    "sum(rate(container_cpu_usage_seconds_total[1m])) by (namespace)",
    "count(kube_pod_info)",
    "topk(3, rate(ingest_total[30s]))",
]
NORMAL_PATHS = [
    "/api/v1/labels",
    "/api/v1/series?match[]=up",
    "/api/v1/label/job/values",
    "/federate?match[]=up",
]


def hostile_requests(rng: random.Random, now_s: float) -> list[tuple[str, dict[str, str]]]:
    """One round of hostile requests: the issue's cases and seeded random ones."""
    big = 'up{job=~"' + "a|" * (2 << 20) + 'b"}'
    cases: list[tuple[str, dict[str, str]]] = [
        ("query", {"query": "count_over_time(vector(1)[100y:1ms])"}),
        ("query", {"query": "+".join(["1"] * 5000)}),
        ("query_range", {"query": "+".join(["1"] * 3000), "start": "0", "end": "9", "step": "1"}),
        ("format_query", {"query": "(" * 5000 + "1" + ")" * 5000}),
        ("query", {"query": "abs(" * 3000 + "up" + ")" * 3000}),
        ("query", {"query": big}),
        ("query", {"query": "up", "time": "1e400"}),
        ("query", {"query": "up", "time": "99999999999999999999"}),
        ("query_range", {"query": "up", "start": "0", "end": "60", "step": "Inf"}),
        ("query", {"query": 'count_values("v", normal_gauge * 1e9 + time())'}),
        ("query", {"query": '{__name__=~".+"}'}),
        (
            "query_range",
            {
                "query": 'count_values("v", rate(ingest_total[1m]) * 1e6)',
                "start": str(now_s - 600),
                "end": str(now_s),
                "step": "1",
            },
        ),
    ]
    tokens = [
        "up", "normal_total", "(", ")", "[", "]", "{", "}", "=~", '".*"', "5m", "1ms", ":",
        "rate", "sum", "by", "+", "/", "and", "offset", "@", "1e308", "NaN", "#", "\u00e9",
    ]  # fmt: skip
    for _ in range(8):
        query = " ".join(rng.choice(tokens) for _ in range(rng.randint(1, 30)))
        params = {"query": query}
        if rng.random() < 0.5:
            params["time"] = rng.choice(["-1e400", "NaN", "abc", "1", str(now_s), "1y"])
        cases.append((rng.choice(["query", "query_range", "format_query"]), params))
    return cases


def slow_query(at_s: float) -> dict[str, str]:
    """The issue's slow query, over an hour of history: minutes of work unless stopped."""
    return {"query": 'sum_over_time(rate(history{i="0"}[1m])[1h:1ms])', "time": str(at_s)}


@dataclass
class Soak:
    server: Server
    targets: str
    duration_s: float
    normal: Tally = field(default_factory=Tally)
    up: Tally = field(default_factory=Tally)
    hostile: Tally = field(default_factory=Tally)
    seen_ingest: set[tuple[str, float]] = field(default_factory=set)
    history: int = 0
    history_end_s: float = 0.0
    history_seen: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def ask(self, tally: Tally, path: str, params: dict[str, str] | None = None) -> None:
        query = urllib.parse.urlencode(params or {})
        url = self.server.base + path
        started = time.perf_counter()
        if len(query) > 32 << 10:
            status, body = request(url, query.encode(), timeout_s=60)
        else:
            status, body = request(url + ("?" + query if query else ""), timeout_s=60)
        problem = envelope_problem(path, status, body, json_api=path.startswith("/api/"))
        tally.add(time.perf_counter() - started, status, problem)

    def normal_client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            if rng.random() < 0.7:
                params = {"query": rng.choice(NORMAL_QUERIES)}
                if rng.random() < 0.3:
                    now = time.time()
                    params |= {"start": str(now - 600), "end": str(now), "step": "15"}
                    self.ask(self.normal, "/api/v1/query_range", params)
                else:
                    self.ask(self.normal, "/api/v1/query", params)
            else:
                path = rng.choice(NORMAL_PATHS)
                self.ask(
                    self.normal,
                    path.split("?")[0],
                    dict(urllib.parse.parse_qsl(path.partition("?")[2])),
                )
            self.stop.wait(0.2)

    def up_client(self) -> None:
        while not self.stop.is_set():
            self.ask(self.up, "/api/v1/query", {"query": "up"})
            self.stop.wait(0.5)

    def hostile_client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            for endpoint, params in hostile_requests(rng, time.time()):
                if self.stop.is_set():
                    return
                self.ask(self.hostile, f"/api/v1/{endpoint}", params)
                self.stop.wait(0.5)

    def slow_burst_client(self) -> None:
        """Six slow queries at once, every 60 s (they time out after --query.timeout)."""
        while not self.stop.wait(20):
            threads = [
                threading.Thread(
                    target=self.ask,
                    args=(self.hostile, "/api/v1/query", slow_query(self.history_end_s)),
                )
                for _ in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.stop.wait(40)

    def snapshot_samples(self) -> tuple[set[tuple[str, float]], int]:
        """Every ingest sample of series i=0..4 a query returns now, and the history count."""
        status, body = request(
            self.server.base
            + "/api/v1/query?"
            + urllib.parse.urlencode({"query": 'ingest_total{i=~"[0-4]"}[2h]'})
        )
        points: set[tuple[str, float]] = set()
        if status == 200:
            for r in json.loads(body)["data"]["result"]:
                points.update((r["metric"]["i"], float(t)) for t, _ in r["values"])
        status, body = request(
            self.server.base
            + "/api/v1/query?"
            + urllib.parse.urlencode({"query": "sum(count_over_time(history[5d]))"})
        )
        history = 0
        if status == 200:
            result = json.loads(body)["data"]["result"]
            history = int(float(result[0]["value"][1])) if result else 0
        return points, history

    def lateness(self) -> tuple[float, float, int, int]:
        """(p99, max) of how late each healthy scrape arrived, missed scrapes, scrapes."""
        status, body = request(f"http://{self.targets}/arrivals")
        times = json.loads(body)["normal"] if status == 200 else []
        gaps = np.diff(np.asarray(times, dtype=np.float64))
        if gaps.size == 0:
            return 0.0, 0.0, 0, len(times)
        late = np.maximum(gaps - NORMAL_INTERVAL_S, 0.0)
        # A gap under half an interval (a scrape early after a late one) misses nothing.
        missed = int(np.sum(np.maximum(np.floor(gaps / NORMAL_INTERVAL_S + 0.5) - 1, 0)))
        return float(np.quantile(late, 0.99)), float(late.max()), missed, len(times)


def run(
    duration_s: float,
    work: Path,
    out: Path | None,
    *,
    hostile: bool = True,
    probe: list[str] | None = None,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    history, history_end = import_history(data, int(time.time() * 1000))
    target_port = free_port()
    targets = f"127.0.0.1:{target_port}"
    target_log = open(work / "targets.log", "wb")  # noqa: SIM115 (closed in the finally)
    target_proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile.targets", str(target_port)],
        stdout=target_log, stderr=target_log, cwd=REPO,
    )  # fmt: skip
    port = free_port()
    config = work / "kubeprom.yml"
    config.write_text(config_text(targets, f"127.0.0.1:{port}", hostile=hostile))
    # With --probe the server runs under benchmarks.memprobe (its options, then "--").
    prefix = ["-m", "benchmarks.memprobe", *probe, "--"] if probe else ["-m", "kubeprom.cli.main"]
    argv = [
        sys.executable, *prefix, "run", "--config", str(config),
        "--data", str(data), "--listen", f"127.0.0.1:{port}", "--query.timeout", "5s",
        "--retention-time", "15d",
    ]  # fmt: skip
    server = Server(argv, work / "kubeprom.log", f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 180
        while request(f"http://{targets}/arrivals", timeout_s=1)[0] != 200:
            if time.monotonic() > deadline or target_proc.poll() is not None:
                raise SystemExit(f"targets did not start:\n{(work / 'targets.log').read_text()}")
            time.sleep(0.2)
        server.start()
        soak = Soak(server, targets, duration_s, history=history, history_end_s=history_end / 1000)
        clients: list[Callable[[], None]] = [
            *(lambda s=s: soak.normal_client(s) for s in range(4)),
            soak.up_client,
        ]
        if hostile:
            clients += [
                *(lambda s=s: soak.hostile_client(100 + s) for s in range(2)),
                soak.slow_burst_client,
            ]
        threads = [threading.Thread(target=c, daemon=True) for c in clients]
        for t in threads:
            t.start()
        started = time.monotonic()
        last_print = 0.0
        while (elapsed := time.monotonic() - started) < duration_s:
            time.sleep(1.0)
            server.check()
            if elapsed - last_print >= 10:
                last_print = elapsed
                points, hist = soak.snapshot_samples()
                soak.seen_ingest |= points
                soak.history_seen.append(hist)
                print(progress(soak, elapsed), flush=True)
        soak.stop.set()
        for t in threads:
            t.join(90)
        server.check()
        final, hist = soak.snapshot_samples()
        summary = summarize(soak, final, hist)
    finally:
        server.stop()
        target_proc.terminate()
        target_proc.wait(timeout=30)
        target_log.close()
    print(table(summary), flush=True)
    if out is not None:
        out.write_text(json.dumps(summary, indent=1))
    return summary


def bad_envelopes(soak: Soak) -> list[str]:
    return soak.normal.bad_envelopes + soak.hostile.bad_envelopes + soak.up.bad_envelopes


def progress(soak: Soak, elapsed: float) -> str:
    _, up99, _ = soak.up.quantiles()
    _, api99, _ = soak.normal.quantiles()
    late99, late_max, missed, _ = soak.lateness()
    return " ".join(
        [
            f"[{elapsed:5.0f}s/{soak.duration_s:.0f}s]",
            f"crashes={len(soak.server.crashes)}",
            f"up_p99={up99:.3f}s api_p99={api99:.3f}s",
            f"normal={len(soak.normal.latencies)} hostile={len(soak.hostile.latencies)}",
            f"bad_envelopes={len(bad_envelopes(soak))}",
            f"lateness_p99={late99:.3f}s max={late_max:.3f}s missed={missed}",
            f"peak_rss={soak.server.peak_rss >> 20}MiB rss={soak.server.rss >> 20}MiB",
            f"ingest_seen={len(soak.seen_ingest)}",
        ]
    )


def summarize(soak: Soak, final: set[tuple[str, float]], history: int) -> dict[str, Any]:
    late99, late_max, missed, scrapes = soak.lateness()
    n50, n99, nmax = soak.normal.quantiles()
    u50, u99, umax = soak.up.quantiles()
    lost_ingest = len(soak.seen_ingest - final)
    return {
        "duration_s": soak.duration_s,
        "crashes": len(soak.server.crashes),
        "crash_details": soak.server.crashes,
        "api_normal_requests": len(soak.normal.latencies),
        "api_p50_s": n50,
        "api_p99_s": n99,
        "api_max_s": nmax,
        "up_requests": len(soak.up.latencies),
        "up_p50_s": u50,
        "up_p99_s": u99,
        "up_max_s": umax,
        "hostile_requests": len(soak.hostile.latencies),
        "hostile_statuses": soak.hostile.statuses,
        "bad_envelopes": bad_envelopes(soak),
        "scrapes_of_healthy_target": scrapes,
        "scrape_lateness_p99_s": late99,
        "scrape_lateness_max_s": late_max,
        "scrapes_missed": missed,
        "peak_rss_bytes": soak.server.peak_rss,
        "final_rss_bytes": soak.server.rss,
        "ingest_samples_seen": len(soak.seen_ingest),
        "ingest_samples_lost": lost_ingest,
        "history_samples_imported": soak.history,
        "history_samples_final": history,
        "samples_lost": lost_ingest + max(0, soak.history - history),
    }


def table(s: dict[str, Any]) -> str:
    def trio(prefix: str) -> str:
        return " / ".join(f"{s[f'{prefix}_{q}_s']:.3f}" for q in ("p50", "p99", "max")) + " s"

    statuses = dict(sorted(s["hostile_statuses"].items()))
    lateness = f"{s['scrape_lateness_p99_s']:.3f} / {s['scrape_lateness_max_s']:.3f} s"
    lost = (
        f"{s['samples_lost']} (ingest: {s['ingest_samples_lost']} of "
        f"{s['ingest_samples_seen']:,} seen; history: {s['history_samples_final']:,} of "
        f"{s['history_samples_imported']:,} imported)"
    )
    rows = [
        ("duration", f"{s['duration_s']:.0f} s"),
        ("crashes (must be 0)", str(s["crashes"])),
        ("normal API requests: p50 / p99 / max", f"{s['api_normal_requests']:,}: {trio('api')}"),
        ("`up` queries: p50 / p99 / max", f"{s['up_requests']:,}: {trio('up')}"),
        ("hostile requests, by HTTP status", f"{s['hostile_requests']:,} {statuses}"),
        ("answers outside the JSON envelope, or 500s (must be 0)", str(len(s["bad_envelopes"]))),
        (
            "healthy 1 s target: scrapes, lateness p99 / max, missed",
            f"{s['scrapes_of_healthy_target']:,}: {lateness}, {s['scrapes_missed']} missed",
        ),
        (
            "RSS: peak / at the end",
            f"{s['peak_rss_bytes'] / 2**20:.0f} / {s['final_rss_bytes'] / 2**20:.0f} MiB",
        ),
        ("samples lost (must be 0)", lost),
    ]
    return "\n".join(["| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", default="10m", help="how long to soak (default: 10m)")
    p.add_argument(
        "--work", type=Path, default=None, help="working directory (default: a temp dir)"
    )
    p.add_argument("--json", type=Path, default=None, help="write the summary as JSON here")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="the normal targets and clients alone, no hostile input (for comparison)",
    )
    p.add_argument(
        "--max-rss",
        type=int,
        default=DEFAULT_MAX_RSS_MIB,
        metavar="MIB",
        help="the server's peak RSS (VmHWM) must stay under this; above it the soak fails "
        f"(default: {DEFAULT_MAX_RSS_MIB}, the hostile suite's bound)",
    )
    p.add_argument(
        "--probe",
        default=None,
        help="run the server under benchmarks.memprobe with these options, e.g. "
        "'--out DIR --every 15 --tracemalloc'",
    )
    args = p.parse_args(argv)
    probe = args.probe.split() if args.probe else None
    duration_s = parse_duration_ms(args.duration) / 1000
    hostile = not args.baseline
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="kubeprom-soak-") as tmp:
            summary = run(duration_s, Path(tmp), args.json, hostile=hostile, probe=probe)
    else:
        summary = run(duration_s, args.work, args.json, hostile=hostile, probe=probe)
    bound = args.max_rss << 20
    peak = summary["peak_rss_bytes"]
    over = peak >= bound
    print(
        f"peak RSS {peak / 2**20:.0f} MiB against a bound of {args.max_rss} MiB: "
        + ("OVER the bound" if over else "under it")
    )
    failed = summary["crashes"] or summary["samples_lost"] or summary["bad_envelopes"] or over
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
