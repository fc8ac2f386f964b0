"""The web UI's page loads from two (or more) checkouts of kubeprom, by turns, in one window.

Run from the repository root::

    python -m benchmarks.bench_ui_ab old=/path/to/old/checkout new=. [--rounds 4]
        [--pages /query,/alerts]

Each checkout is served by its own ``kubeprom run`` (this interpreter, with the checkout as
its working directory, so its own ``kubeprom`` package is imported) over an empty data
directory with the embedded configuration. Chromium loads every page once per round on each
server in turn (cold: a fresh context; warm: a reload), alternating which goes first, so a
busy moment of a shared machine falls on both. The report gives, per page, each server's
median ``loadEventEnd`` and ready time, the median ratio of each pair of loads to the first
checkout's, their geometric mean over the pages, and the load average.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_ui import CHROMIUM_ARGS, TIMING, _free_port, _wait
from kubeprom.web.ui import NAV

KINDS = ("cold_load", "cold_ready", "warm_load", "warm_ready")


def _serve(name: str, checkout: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = tmp / f"{name}.log"
    argv = [sys.executable, "-m", "kubeprom.cli.main", "run", "--data", str(tmp / name),
            "--listen", f"127.0.0.1:{port}"]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=checkout, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/-/ready", proc, log)
    return proc, base


def _load(browser: Any, url: str) -> dict[str, float]:
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.goto(url)
    pg.wait_for_selector("body[data-ready]")
    cold = pg.evaluate(TIMING)
    pg.reload()
    pg.wait_for_selector("body[data-ready]")
    warm = pg.evaluate(TIMING)
    ctx.close()
    return {
        "cold_load": cold["load"],
        "cold_ready": cold["ready"],
        "warm_load": warm["load"],
        "warm_ready": warm["ready"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkouts", nargs="+", help="NAME=PATH, the first is the baseline")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pages", default=",".join(NAV))
    args = ap.parse_args()
    checkouts = {}
    for spec in args.checkouts:
        name, sep, path = spec.partition("=")
        if not sep or not (Path(path) / "kubeprom" / "__init__.py").is_file():
            raise SystemExit(f"{spec!r}: want NAME=PATH of a kubeprom checkout")
        checkouts[name] = Path(path).resolve()
    names = list(checkouts)
    pages = args.pages.split(",")
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-ab-"))
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    got: dict[str, dict[str, dict[str, list[float]]]] = {
        n: {p: {k: [] for k in KINDS} for p in pages} for n in names
    }
    loadavg = [os.getloadavg()[0]]
    try:
        for name, path in checkouts.items():
            servers[name] = _serve(name, path, tmp)
        time.sleep(12)  # two scrapes of the simulated cluster, so Top has rates
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for r in range(args.rounds):
                for page in pages:
                    query = "?g0.expr=up&g0.tab=graph" if page == "/query" else ""
                    for name in names if r % 2 == 0 else names[::-1]:
                        timing = _load(browser, servers[name][1] + page + query)
                        for k in KINDS:
                            got[name][page][k].append(timing[k])
                loadavg.append(os.getloadavg()[0])
            browser.close()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    base = names[0]
    print(f"median ms over {args.rounds} rounds; x{base}: median of each load over {base}'s")
    for name in names[1:]:
        print(f"\n{name} against {base}")
        print("| page | " + " | ".join(f"{k} ({base} / {name}, x{base})" for k in KINDS) + " |")
        print("|---|" + "---|" * len(KINDS))
        ratios: dict[str, list[float]] = {k: [] for k in KINDS}
        for page in pages:
            cells = []
            for k in KINDS:
                a, b = got[base][page][k], got[name][page][k]
                ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
                ratios[k].append(ratio)
                cells.append(
                    f"{statistics.median(a):.0f} / {statistics.median(b):.0f}, {ratio:.2f}"
                )
            print(f"| `{page}` | " + " | ".join(cells) + " |")
        geo = {k: math.exp(statistics.fmean(math.log(x) for x in v)) for k, v in ratios.items()}
        print("| geometric mean | " + " | ".join(f"{geo[k]:.2f}" for k in KINDS) + " |")
    print(f"\nload average (1 min) over the rounds: {min(loadavg):.1f}-{max(loadavg):.1f}")


if __name__ == "__main__":
    main()
