"""The query set of ../shared/bench on kubeprom's engine, beside real Prometheus.

Run from the repository root::

    python -m benchmarks.bench_promql [--series 10000] [--hours 6] [--reps 5] [--prometheus]

Steps (each skipped when its output already exists under ``--work``): generate the dataset
with ``gen_dataset.py``; load it with ``kubeprom tsdb import``; with ``--prometheus``, run
``anchor_prometheus.sh`` (promtool backfill, Prometheus on loopback, ``run_queries.py``).
Then every query x mode of ``queries.yaml`` runs in this process through
:class:`kubeprom.promql.LocalQueryAPI` over the imported store (median of ``--reps`` after a
warm-up), the results are written in ``run_queries.py``'s format (``kubeprom.json``) and,
when Prometheus' results are there, compared with ``run_queries.py compare --rtol 1e-6``.

The table gives per query the median latency of both, their ratio and agreement, then the
geometric mean of the ratios and this process' peak RSS. kubeprom is timed in process (no
HTTP or JSON encoding), Prometheus over HTTP: the ratios favour kubeprom by that overhead,
which is small beside the evaluation for all but the cheapest queries. ``--cpu`` times
kubeprom by this process' CPU time instead of the wall clock: on a loaded machine that
compares two versions of the engine where wall time mostly measures the scheduler.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from kubeprom.model.gofmt import format_f
from kubeprom.promql import LocalQueryAPI, QueryResult, ResultType
from kubeprom.tsdb import DB, Options

# The shared material beside the clone (../shared), or wherever KUBEPROM_SHARED points.
SHARED = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
BENCH = SHARED / "bench"


def _run_queries_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_queries", BENCH / "run_queries.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dataset_and_store(bench: Path, ds: Path, kp: Path, series: int, hours: int) -> None:
    """Generate the dataset into ``ds`` with ``bench``'s ``gen_dataset.py`` and import it into
    the kubeprom store ``kp``; each step is skipped when its output already exists."""
    if not (ds / "dataset.json").exists():
        subprocess.run(
            [sys.executable, str(bench / "gen_dataset.py"), "--series", str(series),
             "--hours", str(hours), "--out", str(ds), "--formats", "openmetrics"],
            check=True,
        )  # fmt: skip
    if not kp.exists():
        subprocess.run(
            [sys.executable, "-m", "kubeprom.cli.main", "tsdb", "import",
             str(ds / "data.om.txt"), "--data", str(kp), "--quiet"],
            check=True,
        )  # fmt: skip


def prepare(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    work = Path(args.work)
    tag = f"{args.series // 1000}k_{args.hours}h"
    ds, kp, prom = work / f"ds_{tag}", work / f"kp_{tag}", work / f"prom_{tag}"
    dataset_and_store(BENCH, ds, kp, args.series, args.hours)
    if args.prometheus and not (prom / "queries.json").exists():
        env = {"REPS": str(args.reps), "LOAD_RUNS": "1", "PATH": "/usr/bin:/bin"}
        subprocess.run(["bash", str(BENCH / "anchor_prometheus.sh"), str(ds), str(prom)],
                       check=True, env=env)  # fmt: skip
    return ds, kp, prom


def to_prometheus_json(res: QueryResult) -> dict[str, Any]:
    """The ``data`` object Prometheus' HTTP API would return for ``res``."""

    def metric(lab: Any) -> dict[str, str]:
        return dict(lab)

    if res.result_type is ResultType.SCALAR:
        return {"resultType": "scalar", "result": [float(res.t[0]) / 1000, format_f(res.scalar)]}
    if res.result_type is ResultType.STRING:
        return {"resultType": "string", "result": [0, res.string]}
    out = []
    for lab, t, v in res.series():
        pts = [[int(tt) / 1000, format_f(float(vv))] for tt, vv in zip(t, v, strict=True)]
        if res.result_type is ResultType.VECTOR:
            out.append({"metric": metric(lab), "value": pts[0]})
        else:
            out.append({"metric": metric(lab), "values": pts})
    return {"resultType": res.result_type.value, "result": out}


def run_kubeprom(args: argparse.Namespace, ds: Path, kp: Path) -> dict[str, Any]:
    rq = _run_queries_module()
    meta = json.loads((ds / "dataset.json").read_text())
    start, end = meta["start_ms"] / 1000.0, meta["end_ms"] / 1000.0
    defaults, queries = rq.load_queries(str(BENCH / "queries.yaml"))
    db = DB.open(kp, Options(retention_ms=None))
    api = LocalQueryAPI(db.querier)
    results = []
    try:
        for q in queries:
            for mode in q.get("modes", ["instant"]):
                if mode == "instant":
                    t = rq.resolve_time(q.get("time", defaults.get("time", "end")), start, end)
                    call: Callable[[], QueryResult] = functools.partial(
                        api.instant, q["expr"], round(t * 1000)
                    )
                else:
                    r = dict(defaults.get("range", {}), **q.get("range", {}))
                    s = rq.resolve_time(r["start"], start, end)
                    e_ = rq.resolve_time(r["end"], start, end)
                    step = rq.dur(r["step"])
                    call = functools.partial(
                        api.range, q["expr"], round(s * 1000), round(e_ * 1000), round(step * 1000)
                    )
                call()  # warm-up
                lat = []
                res = None
                clock = time.process_time if args.cpu else time.perf_counter
                for _ in range(args.reps):
                    t0 = clock()
                    res = call()
                    lat.append(clock() - t0)
                assert res is not None
                rt, series = rq.normalise(to_prometheus_json(res))
                results.append({
                    "name": q["name"], "mode": mode,
                    "median_ms": round(statistics.median(lat) * 1000, 3),
                    "min_ms": round(min(lat) * 1000, 3), "max_ms": round(max(lat) * 1000, 3),
                    "summary": rq.summarise(rt, series), "result": series,
                })  # fmt: skip
    finally:
        db.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"label": "kubeprom", "url": "in-process", "reps": args.reps, "results": results,
            "server_process": {"peak_rss_kib": peak_kib}}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--work", default="/tmp/bench_work")
    parser.add_argument("--cpu", action="store_true", help="time kubeprom by CPU, not wall")
    parser.add_argument("--prometheus", action="store_true", help="also run real Prometheus")
    args = parser.parse_args()
    ds, kp, prom = prepare(args)
    kp_out = run_kubeprom(args, ds, kp)
    out_path = Path(args.work) / f"kubeprom_{ds.name[3:]}.json"
    out_path.write_text(json.dumps(kp_out))
    prom_res = {}
    prom_file = prom / "queries.json"
    if prom_file.exists():
        doc = json.loads(prom_file.read_text())
        prom_res = {(e["name"], e["mode"]): e for e in doc["results"]}
    print(f"{'query':34s} {'mode':6s} {'kubeprom_ms':>11s} {'prom_ms':>9s} {'ratio':>7s}")
    ratios = []
    for e in kp_out["results"]:
        p = prom_res.get((e["name"], e["mode"]))
        pm = p.get("median_ms") if p else None
        ratio = e["median_ms"] / pm if pm else math.nan
        if pm:
            ratios.append(ratio)
        pm_text = f"{pm:9.2f}" if pm else "        -"
        print(f"{e['name']:34s} {e['mode']:6s} {e['median_ms']:11.2f} {pm_text} {ratio:7.2f}")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geometric mean ratio kubeprom/prometheus: {geo:.3f}; max {max(ratios):.2f}")
        subprocess.run([sys.executable, str(BENCH / "run_queries.py"), "compare", str(prom_file),
                        str(out_path), "--rtol", "1e-6", "-v"], check=False)  # fmt: skip
    print(f"kubeprom peak RSS: {kp_out['server_process']['peak_rss_kib'] / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
