"""``kubeprom test rules`` against Debian's promtool 2.42 on the kubernetes-mixin unit tests.

Runs both on ``tests/*.yaml`` of ``../shared/conformance/rules/kubernetes-mixin`` (from that
directory: the files name ``../prometheus_*.yaml``), alternating, ``--rounds`` times each,
each a fresh process (so kubeprom's interpreter start-up and imports are counted), and prints
the median wall time and CPU time (user + system of the process) of each and their ratio
(kubeprom / promtool), plus each tool's exit code and, for kubeprom, its verdict line.

    KUBEPROM_SHARED=/work/shared python benchmarks/bench_test_rules.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MIXIN = SHARED / "conformance" / "rules" / "kubernetes-mixin"


def timed(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds of the child, exit code, last line of its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    p = subprocess.run(argv, cwd=MIXIN, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    return wall, cpu, p.returncode, lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    args = ap.parse_args()
    files = sorted(str(p.relative_to(MIXIN)) for p in (MIXIN / "tests").glob("*.yaml"))
    kubeprom = [sys.executable, "-m", "kubeprom.cli.main", "test", "rules", *files]
    promtool = [args.promtool, "test", "rules", *files]
    runs: dict[str, list[tuple[float, float, int, str]]] = {"kubeprom": [], "promtool": []}
    for i in range(args.rounds):
        order = [("kubeprom", kubeprom), ("promtool", promtool)]
        for name, argv in order if i % 2 == 0 else order[::-1]:
            runs[name].append(timed(argv))
            w, c, rc, _ = runs[name][-1]
            print(f"round {i + 1} {name}: wall {w:.2f}s cpu {c:.2f}s exit {rc}", flush=True)
    med = {
        n: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
        for n, v in runs.items()
    }
    print()
    print(f"files: {len(files)} (kubernetes-mixin tests/*.yaml), rounds: {args.rounds}")
    for name in ("promtool", "kubeprom"):
        wall, cpu = med[name]
        print(f"{name:9} median wall {wall:6.2f}s  cpu {cpu:6.2f}s  exit {runs[name][-1][2]}")
    print(
        f"ratio kubeprom/promtool: wall {med['kubeprom'][0] / med['promtool'][0]:.3f}x, "
        f"cpu {med['kubeprom'][1] / med['promtool'][1]:.3f}x"
    )
    print(f"kubeprom: {runs['kubeprom'][-1][3]}")


if __name__ == "__main__":
    main()
