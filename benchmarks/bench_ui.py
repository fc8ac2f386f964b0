"""The web UI in Debian's chromium: page load times, and a graph of 100 series x 11,000 points.

Run from the repository root::

    python -m benchmarks.bench_ui [--loads 10] [--series 100] [--points 11000] [--no-peer]

A data directory gets ``--series`` series of ``--points`` samples 15 s apart, ending now
(``bench_ui{i="0"}`` ...), then ``kubeprom run`` serves it with the embedded configuration
(the simulated cluster is scraped too, so Targets and Top have content). The peer is Debian's
Prometheus 2.42 (``prometheus`` on PATH) serving its classic UI (``/classic/graph``,
``/classic/alerts``, ...: server-rendered pages with jQuery and Bootstrap), scraping itself.
Chromium (headless, through playwright) then:

* loads every page ``--loads`` times in a fresh browser context (cold: nothing cached) and
  as many times by reloading (warm), each kubeprom load followed (or preceded, alternately)
  by the same load of the peer's page, and reports the navigation timing's ``loadEventEnd``
  and the time the page marked itself ready (``kubeprom:ready``: its first API answers
  drawn), median and worst, the median ratio of each kubeprom load to the peer's load next
  to it, and the 1-minute load average over the page's loads;
* opens the query page with the whole range at a 15 s step (one 11,000-point range query of
  ``--series`` series) and reports the range query's fetch time, the chart's render time and
  the response size; then moves the mouse across the chart 60 times and reports the time
  from each move to the next frame (the hover tooltip follows the cursor), the long tasks
  (>50 ms) seen meanwhile, and the time a legend click (isolate one series) takes to redraw.

Caveats: chromium, both servers and this script share the machine's cores, so every figure
includes waiting for one (the load average says how much); the range query's time is mostly
the server encoding about 30 MB of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.tsdb import DB, Options
from kubeprom.web.ui import NAV

STEP_S = 15
READY_TIMEOUT_S = 60.0
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(data: Path, series: int, points: int, end_s: int) -> None:
    """``series`` random walks of ``points`` samples, STEP_S apart, the last at ``end_s``."""
    db = DB.open(data, Options(retention_ms=None))
    try:
        app = db.appender()
        refs = np.array(
            [app.ref(Labels([("__name__", "bench_ui"), ("i", str(i))])) for i in range(series)],
            dtype=np.int64,
        )
        rng = np.random.default_rng(15)
        walk = np.cumsum(rng.normal(0, 1, (points, series)), axis=0) + np.arange(series) * 10
        start_ms = (end_s - (points - 1) * STEP_S) * 1000
        for k in range(points):
            app.append(start_ms + k * STEP_S * 1000, refs, walk[k])
            if k % 1000 == 999:
                app.commit()
                app = db.appender()
        app.commit()
    finally:
        db.close()


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kubeprom exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready:\n{log.read_text()[-3000:]}")


TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const ready = performance.getEntriesByName('kubeprom:ready')[0];
  return {load: nav.loadEventEnd, ready: ready ? ready.startTime : null};
}"""

# kubeprom's pages and the peer's: Prometheus 2.42's classic UI has no TSDB, Top or HPA page.
PEER_PAGES = {
    "/query": "/classic/graph?g0.expr=up&g0.tab=0&g0.range_input=1h",
    "/alerts": "/classic/alerts",
    "/rules": "/classic/rules",
    "/targets": "/classic/targets",
    "/status": "/classic/status",
    "/flags": "/classic/flags",
    "/config": "/classic/config",
}


def _load(browser: Any, url: str, ready: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cold load in a fresh context, then a warm one (reload); their timings."""
    ctx = browser.new_context()
    pg = ctx.new_page()
    out = []
    for go in (lambda: pg.goto(url, wait_until="load"), lambda: pg.reload(wait_until="load")):
        go()
        if ready:
            pg.wait_for_selector("body[data-ready]")
        out.append(pg.evaluate(TIMING))
    ctx.close()
    return out[0], out[1]


def page_loads(
    browser: Any, base: str, peer: str | None, loads: int
) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for path in NAV:
        url = base + path + ("?g0.expr=up&g0.tab=graph" if path == "/query" else "")
        peer_url = peer + PEER_PAGES[path] if peer is not None and path in PEER_PAGES else None
        t: dict[str, list[float]] = {
            k: []
            for k in ("cold_load", "cold_ready", "warm_load", "warm_ready", "peer_cold",
                      "peer_warm", "cold_ratio", "warm_ratio", "loadavg")
        }  # fmt: skip
        for k in range(loads):
            t["loadavg"].append(os.getloadavg()[0])
            if peer_url is not None and k % 2 == 1:
                p_cold, p_warm = _load(browser, peer_url, ready=False)
            cold, warm = _load(browser, url, ready=True)
            if peer_url is not None and k % 2 == 0:
                p_cold, p_warm = _load(browser, peer_url, ready=False)
            for kind, timing in (("cold", cold), ("warm", warm)):
                t[f"{kind}_load"].append(timing["load"])
                t[f"{kind}_ready"].append(timing["ready"])
            if peer_url is not None:
                t["peer_cold"].append(p_cold["load"])
                t["peer_warm"].append(p_warm["load"])
                t["cold_ratio"].append(cold["load"] / p_cold["load"])
                t["warm_ratio"].append(warm["load"] / p_warm["load"])
        t["loadavg"].append(os.getloadavg()[0])
        out[path] = t
    return out


def start_peer(tmp: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """Debian's Prometheus scraping itself; None when it is not installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        print("prometheus is not installed: no peer (apt-get install prometheus)")
        return None
    port = _free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 10s}\nscrape_configs:\n  - job_name: prometheus\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    log = tmp / "prometheus.log"
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'prom'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/-/ready", proc, log)
    return proc, base


HOVER = """async ([moves]) => {
  const over = document.querySelector('.u-over');
  const r = over.getBoundingClientRect();
  const long = [];
  const obs = new PerformanceObserver((l) => l.getEntries().forEach((e) => long.push(e.duration)));
  obs.observe({type: 'longtask', buffered: false});
  const times = [];
  for (let k = 0; k < moves; k++) {
    const x = r.left + 5 + (r.width - 10) * k / (moves - 1);
    const y = r.top + r.height * (0.2 + 0.6 * ((k * 7) % 10) / 10);
    const t0 = performance.now();
    over.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, bubbles: true}));
    await new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
    times.push(performance.now() - t0);
  }
  const tip = !document.querySelector('.tooltip').hidden;
  const t0 = performance.now();
  document.querySelectorAll('.legend button')[3].click();
  await new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
  const isolate = performance.now() - t0;
  obs.disconnect();
  return {times, long, tip, isolate};
}"""


def big_graph(browser: Any, base: str, series: int, points: int, end_s: int) -> dict[str, Any]:
    range_s = (points - 1) * STEP_S
    end = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end_s))
    url = (
        f"{base}/query?g0.expr=bench_ui&g0.tab=graph&g0.range_input={range_s}s"
        f"&g0.end_input={end.replace(' ', '%20')}&g0.res_type=fixed&g0.res_step={STEP_S}"
    )
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    with pg.expect_response(lambda r: "query_range" in r.url) as answer:
        pg.goto(url)
    pg.wait_for_selector("body[data-ready]", timeout=120_000)
    size = int(answer.value.headers.get("content-length", "0"))
    shown = int(pg.locator(".graph").get_attribute("data-series") or 0)
    query = urllib.parse.urlencode(
        {"query": "bench_ui", "start": end_s - range_s, "end": end_s, "step": STEP_S}
    )
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{query}", timeout=120) as r:
        result = json.loads(r.read())["data"]["result"]
    stats = pg.locator(".output .stats").first.inner_text()
    hover = pg.evaluate(HOVER, [60])
    timing = pg.evaluate(TIMING)
    ctx.close()
    return {
        "series": shown,
        "points_per_series": len(result[0]["values"]),
        "bytes": size,
        "stats": stats,
        "ready_ms": timing["ready"],
        "hover": hover,
    }


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} / {max(values):.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", type=int, default=10)
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--points", type=int, default=11000)
    ap.add_argument("--no-peer", action="store_true", help="no Prometheus to compare with")
    args = ap.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    end_s = int(time.time()) // STEP_S * STEP_S
    t0 = time.perf_counter()
    fill(tmp / "data", args.series, args.points, end_s)
    print(f"filled {args.series} x {args.points} samples in {time.perf_counter() - t0:.1f}s")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    argv = [sys.executable, "-m", "kubeprom.cli.main", "run", "--data", str(tmp / "data"),
            "--listen", f"127.0.0.1:{port}"]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    peer = None
    try:
        _wait(f"{base}/-/ready", proc, log)
        peer = None if args.no_peer else start_peer(tmp)
        time.sleep(12)  # two scrapes of the simulated cluster, so Top has rates
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            loads = page_loads(browser, base, peer[1] if peer else None, args.loads)
            graph = big_graph(browser, base, args.series, args.points, end_s)
            browser.close()
    finally:
        for p in (proc, peer[0] if peer else None):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\npage loads (loadEventEnd), ms, median / worst of {args.loads} (cold: new context; "
        "warm: reload); x peer: median of each load over the peer's load next to it"
    )
    print(
        "| page | cold load | x peer | warm load | x peer | cold ready | warm ready "
        "| peer cold | peer warm | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path, t in loads.items():
        peer_page = path in PEER_PAGES and bool(t["peer_cold"])

        def ratio(key: str, t: dict[str, list[float]] = t, on: bool = peer_page) -> str:
            return f"{statistics.median(t[key]):.2f}" if on else "-"

        def peer_ms(key: str, t: dict[str, list[float]] = t, on: bool = peer_page) -> str:
            return _ms(t[key]) if on else "-"

        print(
            f"| `{path}` | {_ms(t['cold_load'])} | {ratio('cold_ratio')} "
            f"| {_ms(t['warm_load'])} | {ratio('warm_ratio')} "
            f"| {_ms(t['cold_ready'])} | {_ms(t['warm_ready'])} "
            f"| {peer_ms('peer_cold')} | {peer_ms('peer_warm')} "
            f"| {min(t['loadavg']):.1f}-{max(t['loadavg']):.1f} |"
        )
    h = graph["hover"]
    moves = sorted(h["times"])
    print(
        f"\ngraph: {graph['series']} series x {graph['points_per_series']} points, "
        f"{graph['bytes'] / 1e6:.1f} MB of JSON; {graph['stats']}; "
        f"ready at {graph['ready_ms']:.0f} ms"
    )
    print(
        f"hover, move to next frame: median {statistics.median(moves):.1f} ms, "
        f"p95 {moves[int(0.95 * len(moves))]:.1f} ms, worst {moves[-1]:.1f} ms over "
        f"{len(moves)} moves; tooltip shown: {h['tip']}; long tasks: "
        f"{[round(x) for x in h['long']]}; legend isolate: {h['isolate']:.0f} ms"
    )
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
