"""Bulk import and bytes per sample: kubeprom vs promtool on the same OpenMetrics file.

    python benchmarks/bench_import.py DATASET_DIR [--work /tmp/bench_work] [--out F.json]

DATASET_DIR is the output of ../shared/bench/gen_dataset.py (``data.om.txt`` +
``dataset.json``). In one run, on the same file, it times
``promtool tsdb create-blocks-from openmetrics`` (Debian ``prometheus``) and
``kubeprom tsdb import``, then measures bytes per sample as the harness does:
``du -sb`` of the resulting data directory divided by the dataset's sample count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def du_sb(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def timed(cmd: list[str]) -> dict[str, float]:
    """Wall time, CPU time and peak RSS of one child process (os.wait4: its own rusage)."""
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if status != 0:
            log.seek(0)
            raise SystemExit(f"{cmd[0]} failed ({status}): {log.read()[-2000:].decode()}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--work", default="/tmp/bench_work")
    ap.add_argument("--out", default=None)
    ap.add_argument("--skip-promtool", action="store_true")
    args = ap.parse_args()
    ds = Path(args.dataset)
    meta = json.loads((ds / "dataset.json").read_text())
    samples = int(meta["samples"])
    src = ds / "data.om.txt"
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    runs = [
        (
            "kubeprom",
            [
                sys.executable,
                "-m",
                "kubeprom.cli.main",
                "tsdb",
                "import",
                str(src),
                "--data",
                "{dir}",
                "--quiet",
            ],
        )
    ]
    if not args.skip_promtool:
        runs.insert(
            0,
            (
                "promtool",
                ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(src), "{dir}"],
            ),
        )
    for name, cmd in runs:
        target = work / f"import_{name}_{ds.name}"
        shutil.rmtree(target, ignore_errors=True)
        r = timed([c.replace("{dir}", str(target)) for c in cmd])
        r["bytes"] = du_sb(target)
        r["bytes_per_sample"] = r["bytes"] / samples
        r["samples_per_s"] = samples / r["wall_s"]
        results[name] = r
    print(
        f"dataset {ds.name}: {meta['series_total']:,} series, {samples:,} samples, "
        f"{src.stat().st_size:,} bytes of OpenMetrics"
    )
    print(
        f"{'engine':<10}{'wall s':>9}{'cpu s':>9}{'samples/s':>12}{'bytes':>14}"
        f"{'bytes/sample':>14}{'max RSS MiB':>13}"
    )
    for name, r in results.items():
        print(
            f"{name:<10}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}{r['samples_per_s']:>12,.0f}"
            f"{int(r['bytes']):>14,}{r['bytes_per_sample']:>14.3f}{r['maxrss_kb'] / 1024:>13.0f}"
        )
    if "promtool" in results:
        k, p = results["kubeprom"], results["promtool"]
        print(
            f"kubeprom/promtool: import rate x{k['samples_per_s'] / p['samples_per_s']:.2f}, "
            f"bytes/sample x{k['bytes_per_sample'] / p['bytes_per_sample']:.3f}"
        )
    if args.out:
        Path(args.out).write_text(
            json.dumps({"dataset": meta | {"per_metric": None}, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()
