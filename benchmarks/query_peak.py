"""Peak memory of one PromQL query in a fresh process (issue 11: what one query bounded by
``--query.max-samples`` can reach).

    python -m benchmarks.query_peak 'count_over_time(vector(1)[12h:1ms])' [--untuned]

An in-memory store with one series ``x`` (8 h of 15 s samples); the query is evaluated at
its newest sample with the default engine options (max-samples 50,000,000), after
``kubeprom run``'s allocator settings unless ``--untuned``. Prints the outcome, the time and
the peak resident memory (``VmHWM``) before and after.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kubeprom.errors import KubepromError
from kubeprom.model import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import MemStore

T0_MS = 1_700_000_000_000


def _status_mib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("query")
    p.add_argument("--untuned", action="store_true", help="glibc's default malloc settings")
    args = p.parse_args()
    if not args.untuned:
        from kubeprom.cli.run_cmd import tune_malloc  # here: older trees lack it

        tune_malloc()
    store = MemStore()
    app = store.appender()
    ref = app.ref(Labels.from_dict({"__name__": "x"}))
    ts = np.arange(T0_MS, T0_MS + 8 * 3_600_000, 15_000)
    for t in ts.tolist():
        app.append(t, np.array([ref]), np.array([float(t)]))
    app.commit()
    api = LocalQueryAPI(store.querier)
    before = _status_mib("VmHWM")
    started = time.perf_counter()
    try:
        result = api.instant(args.query, int(ts[-1]))
        outcome = f"ok ({len(result.labels)} series)"
    except KubepromError as err:
        outcome = f"{type(err).__name__}: {err}"
    elapsed = time.perf_counter() - started
    peak = _status_mib("VmHWM")
    print(
        f"{args.query!r}: {outcome} in {elapsed:.1f} s; peak RSS {before} -> {peak} MiB "
        f"(+{peak - before}); RSS after {_status_mib('VmRSS')} MiB"
    )


if __name__ == "__main__":
    main()
