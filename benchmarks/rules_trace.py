"""Where a live rule group's wall time goes: ``kubeprom run`` with each evaluation traced.

Run as kubeprom's entry point (``python benchmarks/rules_trace.py run ...``, what
``bench_rules.py --trace FILE`` does): every group evaluation appends one JSON line to
``$KUBEPROM_RULES_TRACE`` with its wall time, the rule thread's CPU time, its voluntary
context switches (blocking: waiting for the GIL or I/O) and involuntary ones (the OS
preempting it), the time its garbage collections took, and the CPU the process' other
threads used meanwhile; every scrape adds its
wall interval, so evaluations that overlap a scrape can be told apart.
``$KUBEPROM_SWITCH_INTERVAL`` (seconds) replaces ``kubeprom run``'s GIL switch interval.
``bench_rules.py`` prints the per-group table.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_GC = threading.local()  # per thread: ns spent in collections, and how many of generation 2


def _on_gc(phase: str, info: dict[str, int]) -> None:
    now = time.perf_counter_ns()
    if phase == "start":
        _GC.started = now
    elif hasattr(_GC, "started"):
        _GC.ns = getattr(_GC, "ns", 0) + now - _GC.started
        _GC.full = getattr(_GC, "full", 0) + (info["generation"] == 2)


def _thread_cpu_ns() -> dict[str, int]:
    """CPU time of every thread but the caller, by name."""
    me = threading.get_ident()
    out = {}
    for t in threading.enumerate():
        if t.ident is not None and t.ident != me:
            try:
                out[t.name] = time.clock_gettime_ns(time.pthread_getcpuclockid(t.ident))
            except OSError:  # the thread ended meanwhile
                continue
    return out


def install(path: Path) -> None:
    """Wrap group evaluation and scraping to log to ``path``."""
    from kubeprom.rules.group import Group
    from kubeprom.scraper.loop import ScrapeLoop

    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the life of the process

    def write(record: dict[str, Any]) -> None:
        with _LOCK:
            out.write(json.dumps(record) + "\n")

    evaluate = Group.evaluate

    def traced_evaluate(self: Group, t_ms: int) -> None:
        others = _thread_cpu_ns()
        _GC.ns = _GC.full = 0
        ru = resource.getrusage(resource.RUSAGE_THREAD)
        start, cpu = time.perf_counter_ns(), time.thread_time_ns()
        evaluate(self, t_ms)
        wall, cpu = time.perf_counter_ns() - start, time.thread_time_ns() - cpu
        ru2 = resource.getrusage(resource.RUSAGE_THREAD)
        after = _thread_cpu_ns()
        write(
            {
                "kind": "group",
                "group": self.name,
                "start_ns": start,
                "wall_ns": wall,
                "cpu_ns": cpu,
                "reported_s": self.stats.last_duration_s,
                "voluntary": ru2.ru_nvcsw - ru.ru_nvcsw,
                "involuntary": ru2.ru_nivcsw - ru.ru_nivcsw,
                "others_cpu_ns": sum(after[k] - others[k] for k in after.keys() & others.keys()),
                "gc_ns": _GC.ns,
                "gc_full": _GC.full,
            }
        )

    scrape_once = ScrapeLoop.scrape_once

    async def traced_scrape(self: ScrapeLoop, t_ms: int) -> None:
        start = time.perf_counter_ns()
        try:
            await scrape_once(self, t_ms)
        finally:
            write({"kind": "scrape", "start_ns": start, "wall_ns": time.perf_counter_ns() - start})

    gc.callbacks.append(_on_gc)
    Group.evaluate = traced_evaluate  # type: ignore[method-assign]
    ScrapeLoop.scrape_once = traced_scrape  # type: ignore[method-assign]


def main() -> int:
    import kubeprom.cli.run_cmd as run_cmd
    from kubeprom.cli.main import main as kubeprom_main

    install(Path(os.environ["KUBEPROM_RULES_TRACE"]))
    switch = os.environ.get("KUBEPROM_SWITCH_INTERVAL")
    if switch:
        run_cmd.GIL_SWITCH_INTERVAL_S = float(switch)
    return kubeprom_main()


if __name__ == "__main__":
    sys.exit(main())
