"""The ../shared/bench query set over HTTP: ``kubeprom run`` and Prometheus 2.42 in one run.

Run from the repository root::

    python -m benchmarks.bench_query_set --series 2000 --hours 2 [--rounds 3] [--reps 5]

Steps (each skipped when its output already exists under ``--work``): generate the dataset
with ``gen_dataset.py``; load it with ``kubeprom tsdb import`` and with ``promtool tsdb
create-blocks-from openmetrics``. Then both servers start on loopback over their copies,
and ``run_queries.py run`` measures each, alternating kubeprom and Prometheus for
``--rounds`` rounds (each round: a warm-up pass, then ``--reps`` timed repetitions per query,
the server's peak RSS sampled by ``--pid``). A query's latency is the median of its round
medians, so a noise burst in one round does not decide a ratio. The answers of the last round
are compared with ``run_queries.py compare --rtol 1e-6``.

Prints a Markdown table: per query the two latencies, their ratio and the answers' verdict,
then the geometric mean and the worst ratio, and both servers' peak RSS during the query
phase (VmHWM reset before it: the larger of idle and query-time RSS). Writes the raw
figures to ``--work/bench_query_set_TAG.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.bench_promql import dataset_and_store

SHARED = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
BENCH = SHARED / "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{args.series // 1000}k_{args.hours}h"
    ds, kp, prom = work / f"ds_{tag}", work / f"kp_{tag}", work / f"promtsdb_{tag}"
    dataset_and_store(BENCH, ds, kp, args.series, args.hours)
    if not prom.exists():
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics",
             str(ds / "data.om.txt"), str(prom)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    if args.drop_input:
        (ds / "data.om.txt").unlink(missing_ok=True)
    return ds, kp, prom


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{base} not ready after 300 s")


def start_servers(
    work: Path, kp: Path, prom: Path
) -> tuple[dict[str, tuple[str, subprocess.Popen[bytes]]], list[Path]]:
    cfg = work / "serve-only.yml"
    cfg.write_text("global: {}\nscrape_configs: []\n")
    kp_port, prom_port = free_port(), free_port()
    kp_log, prom_log = work / "kubeprom.log", work / "prometheus.log"
    with open(kp_log, "wb") as out:
        kp_proc = subprocess.Popen(
            [sys.executable, "-m", "kubeprom.cli.main", "run", "--config", str(cfg),
             "--data", str(kp), "--listen", f"127.0.0.1:{kp_port}", "--retention-time", "100y"],
            stdout=out, stderr=out,
        )  # fmt: skip
    with open(prom_log, "wb") as out:
        prom_proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={prom}",
             f"--web.listen-address=127.0.0.1:{prom_port}",
             "--storage.tsdb.retention.time=100y", "--query.max-samples=500000000"],
            stdout=out, stderr=out,
        )  # fmt: skip
    servers = {
        "kubeprom": (f"http://127.0.0.1:{kp_port}", kp_proc),
        "prometheus": (f"http://127.0.0.1:{prom_port}", prom_proc),
    }
    for base, proc in servers.values():
        wait_ready(base, proc)
    return servers, [kp_log, prom_log]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(args: argparse.Namespace, ds: Path, kp: Path, prom: Path, tag: str) -> dict[str, Any]:
    work = Path(args.work)
    servers, _logs = start_servers(work, kp, prom)
    runs: dict[str, list[dict[str, Any]]] = {"kubeprom": [], "prometheus": []}
    idle = {}
    try:
        time.sleep(2)
        idle = {name: rss_kb(proc.pid) for name, (_, proc) in servers.items()}
        for r in range(args.rounds):
            order = ["kubeprom", "prometheus"] if r % 2 == 0 else ["prometheus", "kubeprom"]
            for name in order:
                base, proc = servers[name]
                out = work / f"q_{tag}_{name}_r{r}.json"
                cmd = [sys.executable, str(BENCH / "run_queries.py"), "run", "--url", base,
                       "--dataset", str(ds / "dataset.json"), "--reps", str(args.reps),
                       "--pid", str(proc.pid), "--label", name, "--out", str(out)]  # fmt: skip
                if args.only:
                    cmd += ["--only", args.only]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                runs[name].append(json.loads(out.read_text()))
    finally:
        for _, proc in servers.values():
            stop(proc)
    last = {name: work / f"q_{tag}_{name}_r{args.rounds - 1}.json" for name in runs}
    cmp_out = work / f"cmp_{tag}.json"
    subprocess.run(
        [sys.executable, str(BENCH / "run_queries.py"), "compare", str(last["prometheus"]),
         str(last["kubeprom"]), "--rtol", "1e-6", "--out", str(cmp_out)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    verdicts = {(r["name"], r["mode"]): r for r in json.loads(cmp_out.read_text())["rows"]}
    rows = []
    for e in runs["kubeprom"][0]["results"]:
        key = (e["name"], e["mode"])
        med = {}
        for name in runs:
            meds = [
                x["median_ms"]
                for run in runs[name]
                for x in run["results"]
                if (x["name"], x["mode"]) == key and "median_ms" in x
            ]
            med[name] = statistics.median(meds) if meds else math.nan
        v = verdicts.get(key, {})
        rows.append({
            "name": key[0], "mode": key[1], "kubeprom_ms": med["kubeprom"],
            "prometheus_ms": med["prometheus"], "ratio": med["kubeprom"] / med["prometheus"],
            "verdict": v.get("verdict", "missing"), "max_rel": v.get("max_rel"),
            "series": v.get("series_a"), "points": v.get("points_a"),
        })  # fmt: skip
    peak = {
        name: max((run["server_process"] or {}).get("vm_hwm_kb") or 0 for run in rs)
        for name, rs in runs.items()
    }
    return {"rows": rows, "peak_rss_kb": peak, "idle_rss_kb": idle}


def report(doc: dict[str, Any]) -> str:
    lines = [
        "| query | mode | kubeprom ms | Prometheus ms | ratio | answers |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        agree = r["verdict"].lower()
        if r["verdict"] == "EQUAL~":
            agree = f"equal (max rel. diff {r['max_rel']:.0e})"
        elif r["verdict"] == "EQUAL":
            agree = "equal"
        lines.append(
            f"| {r['name']} | {r['mode']} | {r['kubeprom_ms']:.2f} | {r['prometheus_ms']:.2f} "
            f"| {r['ratio']:.2f} | {agree} |"
        )
    ratios = [r["ratio"] for r in doc["rows"]]
    geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    worst = max(doc["rows"], key=lambda r: r["ratio"])
    kp, pr = doc["peak_rss_kb"]["kubeprom"], doc["peak_rss_kb"]["prometheus"]
    ik, ip = doc["idle_rss_kb"]["kubeprom"], doc["idle_rss_kb"]["prometheus"]
    sum_k = sum(r["kubeprom_ms"] for r in doc["rows"])
    sum_p = sum(r["prometheus_ms"] for r in doc["rows"])
    lines += [
        "",
        "| summary | kubeprom | Prometheus | ratio |",
        "|---|---|---|---|",
        f"| geometric mean of the {len(ratios)} latency ratios | | | **{geo:.3f}** |",
        f"| worst query | `{worst['name']}` {worst['mode']} | | **{worst['ratio']:.2f}** |",
        f"| queries slower than Prometheus | {sum(x > 1 for x in ratios)} | | |",
        f"| sum of medians | {sum_k:.1f} ms | {sum_p:.1f} ms | {sum_k / sum_p:.2f} |",
        f"| idle RSS | {ik / 1024:.0f} MiB | {ip / 1024:.0f} MiB | {ik / ip:.2f} |",
        f"| peak RSS during the query set | {kp / 1024:.0f} MiB | {pr / 1024:.0f} MiB "
        f"| **{kp / pr:.2f}** |",
    ]
    return "\n".join(lines)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The options :func:`prepare` reads: the dataset's size and where it is kept."""
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--work", default="/tmp/bench_work")
    parser.add_argument(
        "--drop-input", action="store_true", help="delete data.om.txt once both stores are loaded"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataset_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", help="regex on query names")
    args = parser.parse_args()
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        raise SystemExit("needs Debian's prometheus and promtool on PATH")
    ds, kp, prom = prepare(args)
    tag = f"{args.series // 1000}k_{args.hours}h"
    doc = measure(args, ds, kp, prom, tag)
    doc["when_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc["args"] = vars(args)
    (Path(args.work) / f"bench_query_set_{tag}.json").write_text(json.dumps(doc, indent=1))
    print(report(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
