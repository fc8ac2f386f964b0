"""A month of 15 s history for ~10,000 series in a kubeprom data directory (blocks).

The series are those of the shared bench generator (``../shared/bench/gen_dataset.py``:
cAdvisor, kube-state-metrics, node-exporter, apiserver histograms, ``up``, with the
kubernetes-mixin's label conventions). Its text output for a month would be hundreds of
gigabytes, so this builds one day with its ``build()`` (values, jittered scrape times) and
writes that day 30 times, a day apart, straight into blocks with kubeprom's bulk importer:
the same day's values repeat (counters restart each day, which ``rate`` takes as resets).

    python benchmarks/month_dataset.py --out /tmp/month --series 10000 --days 30 [--resume]

``--resume`` keeps the day blocks a cut-off build already wrote and builds the rest.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.tsdb.importer import BulkImporter

DAY_MS = 86_400_000


def generator(shared: Path) -> ModuleType:
    path = shared / "bench" / "gen_dataset.py"
    spec = importlib.util.spec_from_file_location("gen_dataset", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def built_days(out: Path) -> dict[int, int]:
    """Samples per day block already in ``out`` (by its start), from a build that was cut off."""
    metas = (json.loads(p.read_text()) for p in out.glob("*/meta.json"))
    return {int(m["minTime"]): int(m["stats"]["numSamples"]) for m in metas}


def build(
    out: Path, series: int, days: int, end: str, shared: Path, resume: bool = False
) -> dict[str, object]:
    gen = generator(shared)
    args = argparse.Namespace(series=series, hours=24.0, interval="15s", seed=42, end=end)
    started = time.perf_counter()
    b, ts, info = gen.build(args)
    values = np.vstack(b.rows)  # series x steps, NaN where a series does not exist
    target = np.asarray(b.target)
    labels = [
        Labels([("__name__", name), *((k, str(v)) for k, v in lab.items())])
        for name, lab in zip(b.names, b.labels, strict=True)
    ]
    # Day-long blocks, as Prometheus' compaction would have made of a month (its first level
    # is 2h); each day is added whole and written once.
    importer = BulkImporter(out, block_range_ms=DAY_MS, max_buffer_samples=80_000_000)
    ids = np.array([importer.series_id(lab) for lab in labels], dtype=np.int64)
    times = ts[target]  # series x steps, ms
    alive = ~np.isnan(values)
    first_day = int(info["end_ms"]) - days * DAY_MS
    shift0 = first_day - int(info["start_ms"])
    per_slice = 480  # two hours of 15 s steps per add()
    samples = 0
    done = built_days(out) if resume else {}
    for day in range(days):
        lo = first_day + day * DAY_MS
        if lo in done:  # its block was written whole before the build stopped
            samples += done[lo]
            continue
        for a in range(0, values.shape[1], per_slice):
            sl = slice(a, a + per_slice)
            rows, cols = np.nonzero(alive[:, sl])
            t = times[:, sl][rows, cols] + shift0 + day * DAY_MS
            # A few jittered scrapes fall over midnight: keep each day inside its block.
            keep = (t >= lo) & (t < lo + DAY_MS)
            importer.add(ids[rows][keep], t[keep], values[:, sl][rows, cols][keep])
            samples += int(keep.sum())
        print(f"day {day + 1}/{days}: {samples:,} samples", file=sys.stderr, flush=True)
    importer.finish()
    meta: dict[str, object] = {
        "series": len(labels),
        "samples": samples,
        "start_ms": first_day,
        "end_ms": int(info["end_ms"]),
        "days": days,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "month.json").write_text(json.dumps(meta, indent=1))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--end", default="2026-11-01T00:00:00Z")
    ap.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("KUBEPROM_SHARED", "../shared"))
    )
    ap.add_argument("--resume", action="store_true", help="keep the day blocks already in --out")
    args = ap.parse_args()
    meta = build(args.out, args.series, args.days, args.end, args.shared, args.resume)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
