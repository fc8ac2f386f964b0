"""Differential PromQL run: kubeprom against Prometheus 2.42 on the bench dataset.

Run from the repository root::

    python -m benchmarks.promql_diff --seeds 1,2,3 --queries 700 [--series 2000 --hours 2]

Steps (each reused when its output exists under ``--work``): generate the dataset with
``gen_dataset.py``; backfill it with ``promtool tsdb create-blocks-from openmetrics`` and
import it with ``kubeprom tsdb import``; start Prometheus on loopback over the blocks; read
the schema from its ``/api/v1/series``; then per seed generate the queries and classify
each (``run.py``), with a progress line. Prints the summary by class per seed and in all,
the disagreements, and writes every outcome as JSON lines to ``--work/outcomes.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.promql_diff.generator import Generator
from benchmarks.promql_diff.kubeprom_engine import (
    KubepromEngine,
    compat_engines,
    import_openmetrics,
)
from benchmarks.promql_diff.prometheus import HTTPEngine, backfill, serve
from benchmarks.promql_diff.run import DISAGREE, Outcome, Progress, run_batch, summarize
from benchmarks.promql_diff.schema import Schema

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    env = os.environ.get("KUBEPROM_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def prepare_dataset(shared: Path, work: Path, series: int, hours: int) -> Path:
    ds = work / f"ds_{series}_{hours}h"
    if not (ds / "dataset.json").exists():
        subprocess.run(
            [sys.executable, str(shared / "bench" / "gen_dataset.py"), "--series", str(series),
             "--hours", str(hours), "--out", str(ds), "--formats", "openmetrics"],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return ds


def schema_of(url: str, ds: Path) -> Schema:
    meta = json.loads((ds / "dataset.json").read_text())
    engine = HTTPEngine(url)
    return Schema.from_series(
        engine.series(meta["start_ms"], meta["end_ms"]), meta["start_ms"], meta["end_ms"]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.promql_diff", description=__doc__)
    p.add_argument("--seeds", default="1", help="comma-separated generator seeds")
    p.add_argument("--queries", type=int, default=500, help="queries per seed")
    p.add_argument("--series", type=int, default=2000)
    p.add_argument("--hours", type=int, default=2)
    p.add_argument("--work", default="/tmp/promql_diff")
    p.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    p.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    p.add_argument("--show", type=int, default=40, help="disagreements to print")
    args = p.parse_args(argv)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ds = prepare_dataset(shared_dir(), work, args.series, args.hours)
    prom_dir = work / f"prom_{args.series}_{args.hours}h"
    kp_dir = work / f"kp_{args.series}_{args.hours}h"
    backfill(args.promtool, ds / "data.om.txt", prom_dir)
    import_openmetrics(ds / "data.om.txt", kp_dir)
    db = KubepromEngine.open(kp_dir)
    tested = KubepromEngine(db)
    compat = compat_engines(db)
    outcomes: list[Outcome] = []
    tty = sys.stderr.isatty()
    try:
        with serve(args.prometheus, prom_dir, work / "prometheus.log") as url:
            schema = schema_of(url, ds)
            reference = HTTPEngine(url)
            for seed in (int(s) for s in args.seeds.split(",")):
                gen = Generator(schema, seed)
                progress = Progress(f"seed {seed}", args.queries, sys.stderr.write, tty)
                batch = run_batch(gen.queries(args.queries), seed, reference, tested, compat,
                                  progress)  # fmt: skip
                outcomes += batch
                print(f"-- seed {seed}: " + "\n".join(summarize(batch)))
    finally:
        db.close()
    with open(work / "outcomes.jsonl", "w") as f:
        for o in outcomes:
            f.write(o.to_json() + "\n")
    print("-- all seeds: " + "\n".join(summarize(outcomes)))
    bad = [o for o in outcomes if o.cls.startswith(DISAGREE)]
    for o in bad[: args.show]:
        print(f"\n[{o.cls}] seed {o.seed} #{o.index}: {o.query.describe()}\n    {o.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
