"""Rule groups' CPU per iteration, in process, over a store filled from the default cluster.

Scrapes the default simulated cluster (the embedded configuration's jobs, every 10 s) for
``--minutes`` of virtual time into a fresh store while the kubernetes-mixin rule files of
``../shared/conformance/rules`` are evaluated on the same virtual clock, then evaluates the
chosen groups (``--group`` substrings; default all) ``--iterations`` more times, 1 ms apart,
and prints each group's CPU per iteration. ``--profile`` runs those iterations under cProfile
and prints the top functions by cumulative and by own time. ``--cold`` writes a 64 MiB array
before each evaluation, evicting the CPU caches as the 10 s between a live server's
iterations do (closer to a live group's CPU time than the warm figures). ``--no-memo``
evaluates every rule afresh (no shared selections or sub-expressions); ``--ab ROUNDS``
alternates rounds of ``--iterations`` with and without them in one process.

    KUBEPROM_SHARED=/work/shared python benchmarks/profile_rules.py \
        [--group kubernetes-resources] [--iterations 50] [--profile] [--cold] [--no-memo]
        [--ab 6]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from kubeprom.clock import VirtualClock
from kubeprom.config import load_main_config
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.rules.group import Group, GroupOptions
from kubeprom.rules.manager import RuleManager, RuleSettings
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.tsdb import DB, Options

SHARED = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MIXIN = SHARED / "conformance" / "rules" / "kubernetes-mixin"
START_S = 1_800_000_000.0
INTERVAL_MS = 10_000
EVICT_BYTES = 64 << 20  # more than the last-level cache


async def fill(data: Path, minutes: float, *, memo: bool = True) -> tuple[DB, list[Group], int]:
    """Scrape and evaluate rules for ``minutes``; returns the store, groups and end time."""
    spec = load_cluster_config(None)
    assert spec is not None
    clock = VirtualClock(round(START_S * 1000))
    fetch = InProcessFetch(SimulatedCluster(spec, start_s=START_S), clock)
    db = DB.open(data, Options(retention_ms=None))
    service = ScrapeService(db.appender, clock, fetch, cluster=fetch.discover)
    service.apply(load_main_config(None))
    options = GroupOptions(
        query=LocalQueryAPI(db.querier, clock=clock),
        appender=db.appender,
        clock=clock,
        default_interval_ms=INTERVAL_MS,
        store_changes=db.changes if memo else None,
    )
    manager = RuleManager(options, clock)
    files = (str(MIXIN / "prometheus_rules.yaml"), str(MIXIN / "prometheus_alerts.yaml"))
    await manager.update(RuleSettings(files=files, evaluation_interval_ms=INTERVAL_MS))
    service.start()
    try:
        await clock.advance_ms(round(minutes * 60_000))
    finally:
        await service.stop()
        groups = manager.groups()
        await manager.stop()
    return db, groups, clock.now_ms()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0, help="virtual minutes scraped")
    ap.add_argument("--group", action="append", default=[], help="group name substring")
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--profile", action="store_true", help="cProfile the iterations")
    ap.add_argument("--top", type=int, default=30, help="functions listed per profile table")
    ap.add_argument("--cold", action="store_true", help="evict CPU caches between evaluations")
    ap.add_argument(
        "--no-memo", action="store_true", help="evaluate every rule afresh (no QueryMemo)"
    )
    ap.add_argument(
        "--ab",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="in one process, alternate rounds with and without the QueryMemo",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile_rules_") as tmp:
        db, groups, end_ms = asyncio.run(fill(Path(tmp), args.minutes, memo=not args.no_memo))
        chosen = [g for g in groups if not args.group or any(s in g.name for s in args.group)]
        if args.ab:
            memo_ab(db, chosen, end_ms, args.ab, args.iterations)
            db.close()
            return
        times = {g.name: 0.0 for g in chosen}
        prof = cProfile.Profile() if args.profile else None
        evict = np.zeros(EVICT_BYTES // 8) if args.cold else None
        for k in range(1, args.iterations + 1):
            for g in chosen:
                if evict is not None:
                    evict += 1.0
                started = time.process_time()
                if prof is not None:
                    prof.enable()
                g.evaluate(end_ms + k)
                if prof is not None:
                    prof.disable()
                times[g.name] += time.process_time() - started
        db.close()
    total = 0.0
    for name, cpu in sorted(times.items(), key=lambda kv: -kv[1]):
        per = cpu / args.iterations * 1000
        total += per
        print(f"{name:<60} {per:8.2f} ms CPU / iteration")
    print(f"{'all chosen groups (' + str(len(chosen)) + ')':<60} {total:8.2f} ms CPU / iteration")
    if prof is not None:
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)


def memo_ab(db: DB, groups: list[Group], end_ms: int, rounds: int, iterations: int) -> None:
    """CPU per iteration with and without the QueryMemo, rounds alternating in order."""
    per: dict[str, dict[str, list[float]]] = {"memo": {}, "no memo": {}}
    t = end_ms
    for r in range(rounds):
        modes = ("memo", "no memo") if r % 2 == 0 else ("no memo", "memo")
        for mode in modes:
            changes = db.changes if mode == "memo" else None
            for g in groups:
                g.options = replace(g.options, store_changes=changes)
            times = dict.fromkeys((g.name for g in groups), 0.0)
            for _ in range(iterations):
                t += 1
                for g in groups:
                    started = time.process_time()
                    g.evaluate(t)
                    times[g.name] += time.process_time() - started
            for name, cpu in times.items():
                per[mode].setdefault(name, []).append(cpu / iterations * 1000)
        on = sum(v[-1] for v in per["memo"].values())
        off = sum(v[-1] for v in per["no memo"].values())
        print(f"round {r + 1}: memo {on:7.2f} ms, no memo {off:7.2f} ms CPU / iteration")
    print(f"{'median over rounds, ms CPU / iteration':<52} {'memo':>8} {'no memo':>8} ratio")
    rows = [
        (name, statistics.median(per["memo"][name]), statistics.median(per["no memo"][name]))
        for name in per["memo"]
    ]
    for name, on, off in sorted(rows, key=lambda row: -row[2]):
        print(f"{name:<52} {on:8.2f} {off:8.2f} {on / off:5.2f}")
    on = statistics.median(sum(v[r] for v in per["memo"].values()) for r in range(rounds))
    off = statistics.median(sum(v[r] for v in per["no memo"].values()) for r in range(rounds))
    print(
        f"{'all chosen groups (' + str(len(groups)) + ')':<52} {on:8.2f} {off:8.2f} {on / off:5.2f}"
    )


if __name__ == "__main__":
    main()
