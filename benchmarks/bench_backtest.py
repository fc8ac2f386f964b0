"""``kubeprom rules backtest`` of the kubernetes-mixin rules over a month of history.

Backtests ``prometheus_rules.yaml`` and ``prometheus_alerts.yaml`` of
``../shared/conformance/rules/kubernetes-mixin`` over the whole range of a data directory
built by ``benchmarks/month_dataset.py`` (~10,000 series, 15 s samples, 30 days), as a fresh
``kubeprom`` process, and prints its wall and CPU time, the slowest rules, and what the
backtest found (alerts ever active, episodes). To attribute a run's time it also prints user
and system CPU, page faults, the machine's ``/proc/vmstat`` deltas (compaction stalls, huge
page faults) and a memory-bandwidth probe before and after. ``--tree DIR`` runs another
source tree's kubeprom (e.g. ``git archive main`` unpacked) for a before/after pair,
``--save`` keeps the JSON report to compare answers, ``--days`` backtests a shorter range.

    python benchmarks/month_dataset.py --out /tmp/month --days 30
    KUBEPROM_SHARED=/work/shared python benchmarks/bench_backtest.py --data /tmp/month
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MIXIN = SHARED / "conformance" / "rules" / "kubernetes-mixin"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--step", default="", help="evaluation interval (default: the groups' own, 1m)")
    ap.add_argument("--days", type=float, default=0, help="backtest only the first DAYS days")
    ap.add_argument("--tree", type=Path, help="run the kubeprom of this source tree instead")
    ap.add_argument("--save", type=Path, help="write the backtest's JSON report here")
    args = ap.parse_args()
    meta = json.loads((args.data / "month.json").read_text())
    start_s = meta["start_ms"] // 1000
    end_s = meta["end_ms"] // 1000 - 60
    if args.days:
        end_s = min(end_s, start_s + int(args.days * 86400) - 60)
    argv = [
        sys.executable, "-m", "kubeprom.cli.main", "rules", "backtest",
        str(MIXIN / "prometheus_rules.yaml"), str(MIXIN / "prometheus_alerts.yaml"),
        "--data", str(args.data.resolve()),
        "--start", str(start_s), "--end", str(end_s), "-o", "json",
        *(["--step", args.step] if args.step else []),
    ]  # fmt: skip
    env = dict(os.environ)
    cwd = None
    if args.tree:
        # From the tree itself: ``python -m`` puts the working directory first on the path.
        env["PYTHONPATH"] = str(args.tree.resolve())
        cwd = args.tree.resolve()
    probe_before = _memory_probe()
    vm_before = _vmstat()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    vm = {k: v - vm_before.get(k, 0) for k, v in _vmstat().items()}
    probe_after = _memory_probe()
    user = after.ru_utime - before.ru_utime
    sys_s = after.ru_stime - before.ru_stime
    cpu = user + sys_s
    minflt = after.ru_minflt - before.ru_minflt
    majflt = after.ru_majflt - before.ru_majflt
    peak_mb = after.ru_maxrss / 1024
    if p.returncode not in (0, 1):
        raise SystemExit(p.stderr)
    report = json.loads(p.stdout)
    if args.save:
        args.save.write_text(p.stdout)
    rules = report["rules"]
    alerting = [r for r in rules if r["type"] == "alerting"]
    active = [r for r in alerting if r["episodes"]]
    episodes = sum(len(r["episodes"]) for r in alerting)
    fired = sum(1 for r in alerting for e in r["episodes"] if e["fired_at"])
    print(
        f"data: {meta['series']:,} series, {meta['samples']:,} samples over {meta['days']} days "
        f"({report['start']} to {report['end']})"
    )
    print(f"rules: {len(rules) - len(alerting)} recording, {len(alerting)} alerting")
    print(f"wall {wall:.1f}s, cpu {cpu:.1f}s, peak rss {peak_mb:.0f} MiB, exit {p.returncode}")
    print(
        f"cpu user {user:.1f}s, sys {sys_s:.1f}s; page faults minor {minflt:,}, major {majflt:,}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    # Machine-wide during the run: direct compaction stalls (huge pages for numpy's large
    # arrays on fragmented memory) cost the faulting process system time.
    print("vmstat during the run: " + ", ".join(f"{k} {v:,}" for k, v in vm.items()))
    print(
        f"memory probe (GB copied per CPU second; lower: memory contended): "
        f"before {probe_before:.2f}, after {probe_after:.2f}"
    )
    print(f"alerts ever active: {len(active)}, episodes: {episodes} ({fired} fired)")
    print("slowest rules:")
    for r in sorted(rules, key=lambda r: -r["seconds"])[:8]:
        print(f"  {r['seconds']:7.2f}s  {r['type']:9}  {r['name']}  ({r['series']} series)")
    errors = [r for r in rules if r["error"]]
    for r in errors:
        print(f"  error: {r['name']}: {r['error']}")


def _memory_probe() -> float:
    """Bytes moved per CPU second by a fixed numpy copy-add-sum over 128 MB, in GB: the
    backtest is memory-bound numpy, so its CPU time moves with this figure (other
    processes' memory traffic, on this machine or its host, slows both alike)."""
    import numpy as np

    a = np.ones(16_000_000)
    started = time.process_time()
    for _ in range(5):
        b = a.copy()
        b += 1.0
        float(b.sum())
    return 5 * 3 * a.nbytes / max(time.process_time() - started, 1e-9) / 1e9


def _vmstat() -> dict[str, int]:
    wanted = ("compact_stall", "thp_fault_alloc", "thp_fault_fallback", "pgmajfault")
    try:
        lines = Path("/proc/vmstat").read_text().split("\n")
    except OSError:
        return {}
    pairs = (line.split() for line in lines if line)
    return {k: int(v) for k, v in pairs if k in wanted}


if __name__ == "__main__":
    main()
