"""Parse errors of generated malformed queries: kubeprom against Prometheus 2.42.

Run from the repository root::

    python -m benchmarks.parse_errors --seed 1 --queries 5000 [--show 40] [--out FILE]

Starts Debian's ``prometheus`` on loopback over an empty TSDB, generates the queries
(``generator.py``) from the corpus in the shared directory (``KUBEPROM_SHARED`` or
``../shared``), classifies each (``run.py``) and prints the agreement and the classes, then
up to ``--show`` disagreements. ``--out`` writes every outcome as JSON lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.parse_errors import corpus
from benchmarks.parse_errors.generator import Generator
from benchmarks.parse_errors.run import run, summarize
from benchmarks.promql_diff.prometheus import serve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--show", type=int, default=40)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    args = ap.parse_args()
    shared = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).parents[2].parent / "shared"))
    queries = list(Generator(corpus.load(shared), args.seed).queries(args.queries))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        with serve(args.prometheus, data, Path(tmp) / "prometheus.log") as url:
            outcomes = run(url, queries)
    print("\n".join(summarize(outcomes)))
    bad = [o for o in outcomes if o.cls not in ("agree", "valid") and not o.cls.startswith("v3:")]
    for o in bad[: args.show]:
        print(f"\n[{o.cls}] {o.query!r}\n  prometheus: {o.reference}\n  kubeprom:   {o.kubeprom}")
    if args.out:
        with open(args.out, "w") as f:
            for o in outcomes:
                f.write(json.dumps(dataclasses.asdict(o)) + "\n")


if __name__ == "__main__":
    main()
