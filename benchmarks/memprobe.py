"""Where a process' memory is: the kernel's view, glibc's view and Python's view, and what
``malloc_trim(0)`` gives back (issue 11's soak, issue 17's churn).

    python -m benchmarks.memprobe --out DIR [--every 30] [--tracemalloc] -- run ARGS...

runs ``kubeprom ARGS...`` (e.g. ``run --config ...``) in this process with a sampler
thread: every ``--every`` seconds it appends one JSON line to ``DIR/mem.jsonl`` with

* ``/proc/self/smaps_rollup`` and ``status``: RSS split into anonymous and file pages,
  the peak (VmHWM);
* glibc's ``mallinfo2``: bytes malloc has handed out and not had back (``in_use``), bytes
  it holds free (``free``, in its heap and arenas), and in mmap'd chunks (``mmap``);
* the RSS after ``malloc_trim(0)`` (with ``--trim``): what the allocator retained and
  could return, as opposed to live memory;
* with ``--tracemalloc``: the 25 source lines whose Python allocations grew most since the
  first sample (``DIR/tracemalloc-N.txt``).

``SIGUSR1`` takes a sample at once. The soak runs its server under it with
``--probe "--out DIR --every 15 ..."``; ``bench_hpa_churn.py`` imports the functions.
``--default-arenas``, ``--mmap-threshold`` and ``--switch-interval`` change ``kubeprom run``'s
allocator and GIL settings, to measure what they do.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_M_MMAP_THRESHOLD = -3  # malloc.h


class _Mallinfo2(ctypes.Structure):
    # glibc >= 2.33, malloc.h: struct mallinfo2 (all size_t)
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def mallinfo() -> dict[str, int]:
    """glibc's allocator state in bytes (empty without glibc >= 2.33)."""
    libc = _libc()
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return {}
    fn.restype = _Mallinfo2
    m = fn()
    return {
        "malloc_in_use": int(m.uordblks) + int(m.hblkhd),  # handed out (heap + mmap'd)
        "malloc_free": int(m.fordblks),  # free in the heaps and arenas, retained
        "malloc_mmap": int(m.hblkhd),
        "malloc_arena": int(m.arena),
    }


def malloc_trim() -> bool:
    libc = _libc()
    fn = getattr(libc, "malloc_trim", None)
    return bool(fn(0)) if fn is not None else False


def proc_memory(pid: int | str = "self") -> dict[str, int]:
    """RSS, its anonymous and file parts, and the peak, in bytes."""
    out: dict[str, int] = {}
    base = Path(f"/proc/{pid}")
    for line in (base / "status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "VmData"):
            out[key] = int(rest.split()[0]) * 1024
    try:
        for line in (base / "smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            if key in ("Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean"):
                out["smaps_" + key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


def sample(trim: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"t": time.time(), **proc_memory(), **mallinfo()}
    if trim:
        started = time.perf_counter()
        malloc_trim()
        row["trim_s"] = time.perf_counter() - started
        after = proc_memory()
        row["VmRSS_after_trim"] = after["VmRSS"]
        row |= {k + "_after_trim": v for k, v in mallinfo().items() if k == "malloc_free"}
    return row


class Sampler:
    """Samples into ``out/mem.jsonl`` every ``every_s`` seconds and on SIGUSR1."""

    def __init__(self, out: Path, every_s: float, *, trim: bool, traced: bool) -> None:
        self.out, self.every_s, self.trim, self.traced = out, every_s, trim, traced
        self.first: tracemalloc.Snapshot | None = None
        self.n = 0
        self.lock = threading.Lock()
        self.wake = threading.Event()

    def take(self) -> None:
        with self.lock:
            row = sample(self.trim)
            row["n"] = self.n
            if self.traced:
                snap = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(False, tracemalloc.__file__)]
                )
                row["traced"] = tracemalloc.get_traced_memory()[0]
                if self.first is None:
                    self.first = snap
                stats = snap.compare_to(self.first, "lineno")
                lines = [str(s) for s in stats[:25]]
                top = snap.statistics("lineno")[:25]
                lines += ["", "largest now:"] + [str(s) for s in top]
                (self.out / f"tracemalloc-{self.n}.txt").write_text("\n".join(lines) + "\n")
            with (self.out / "mem.jsonl").open("a") as f:
                f.write(json.dumps(row) + "\n")
            self.n += 1

    def loop(self) -> None:
        while True:
            self.wake.wait(self.every_s)
            self.wake.clear()
            self.take()


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--every", type=float, default=30.0)
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--trim", action="store_true", help="malloc_trim(0) at every sample")
    p.add_argument(
        "--default-arenas",
        action="store_true",
        help="leave glibc's arenas and mmap threshold at their defaults (kubeprom run sets "
        "one arena and a 1 MiB threshold; --mmap-threshold still applies)",
    )
    p.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="the GIL switch interval in seconds (kubeprom run sets 0.001)",
    )
    p.add_argument(
        "--mmap-threshold",
        type=int,
        default=None,
        help="mallopt(M_MMAP_THRESHOLD, N): allocations from N bytes up get their own mmap",
    )
    args = p.parse_args(argv[:split])
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tracemalloc:
        tracemalloc.start(1)
    sampler = Sampler(args.out, args.every, trim=args.trim, traced=args.tracemalloc)
    signal.signal(signal.SIGUSR1, lambda *_: sampler.wake.set())
    threading.Thread(target=sampler.loop, daemon=True).start()
    from kubeprom.cli import run_cmd
    from kubeprom.cli.main import main as kubeprom_main

    if args.default_arenas:
        run_cmd.tune_malloc = lambda: False
    if args.mmap_threshold is not None:
        if args.default_arenas:
            libc = _libc()
            assert libc is not None
            libc.mallopt(_M_MMAP_THRESHOLD, args.mmap_threshold)
        run_cmd.MMAP_THRESHOLD_BYTES = args.mmap_threshold
    if args.switch_interval is not None:
        run_cmd.GIL_SWITCH_INTERVAL_S = args.switch_interval

    return int(kubeprom_main(argv[split + 1 :]) or 0)


if __name__ == "__main__":
    sys.exit(main())
