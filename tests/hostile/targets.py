"""Hostile scrape targets, served by a process of their own for the live tests and the soak.

``python -m tests.hostile.targets PORT [BODY...]`` serves (all ``text/plain`` 0.0.4):

* ``/normal``  50 gauges and 50 counters that go up by one per scrape (the healthy target)
* ``/future``  one sample stamped ten years ahead and one without a timestamp
* ``/huge``    10^6 series (about 30 MB), for a job with ``sample_limit: 1000``
* ``/bomb``    a gzip member that inflates to 320 MiB of ``#`` (a comment line)
* ``/dups``    one series repeated 100,000 times
* ``/ingest``  200 counters whose value is the number of times this URL was scraped
* ``/arrivals`` JSON: the wall-clock times (s) at which ``/normal`` and ``/ingest`` were asked
  for, so a soak can measure scrape lateness from the target's side

The large bodies (``huge``, ``bomb``, ``dups``) are built at start, only those named when
any are (they take seconds); it then serves until killed.
"""

from __future__ import annotations

import sys
import time
import zlib

from aiohttp import web

TEXT = "text/plain; version=0.0.4"
YEAR_MS = 365 * 24 * 3_600_000
HUGE_SERIES = 1_000_000
BOMB_BYTES = 320 << 20
DUPLICATES = 100_000


def _bomb() -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"#" * (1 << 20)
    return b"".join([*(z.compress(chunk) for _ in range(BOMB_BYTES >> 20)), z.flush()])


class Targets:
    def __init__(self, bodies: set[str]) -> None:
        self.huge = self.bomb = self.dups = b""
        if "huge" in bodies:
            self.huge = "".join(
                f'huge_metric{{i="{i}"}} {i}\n' for i in range(HUGE_SERIES)
            ).encode()
        if "bomb" in bodies:
            self.bomb = _bomb()
        if "dups" in bodies:
            self.dups = "".join(f"dup_metric {k}\n" for k in range(DUPLICATES)).encode()
        self.scrapes = {"normal": 0, "ingest": 0}
        self.arrived: dict[str, list[float]] = {"normal": [], "ingest": []}

    async def normal(self, request: web.Request) -> web.Response:
        self.scrapes["normal"] += 1
        self.arrived["normal"].append(time.time())
        n = self.scrapes["normal"]
        lines = [f'normal_gauge{{i="{i}"}} {i}' for i in range(50)]
        lines += [f'normal_total{{i="{i}"}} {n * (i + 1)}' for i in range(50)]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def future(self, request: web.Request) -> web.Response:
        t = int(time.time() * 1000) + 10 * YEAR_MS
        return web.Response(text=f"future_metric 1 {t}\npresent_metric 1\n")

    async def huge_body(self, request: web.Request) -> web.Response:
        return web.Response(body=self.huge, headers={"Content-Type": TEXT})

    async def bomb_body(self, request: web.Request) -> web.Response:
        headers = {"Content-Type": TEXT, "Content-Encoding": "gzip"}
        return web.Response(body=self.bomb, headers=headers)

    async def dups_body(self, request: web.Request) -> web.Response:
        return web.Response(body=self.dups, headers={"Content-Type": TEXT})

    async def ingest(self, request: web.Request) -> web.Response:
        self.scrapes["ingest"] += 1
        self.arrived["ingest"].append(time.time())
        n = self.scrapes["ingest"]
        text = "".join(f'ingest_total{{i="{i}"}} {n}\n' for i in range(200))
        return web.Response(text=text, content_type="text/plain")

    async def arrivals(self, request: web.Request) -> web.Response:
        return web.json_response(self.arrived)


def main() -> None:
    port = int(sys.argv[1])
    t = Targets(set(sys.argv[2:]) or {"huge", "bomb", "dups"})
    app = web.Application()
    for path, handler in (
        ("/normal", t.normal),
        ("/future", t.future),
        ("/huge", t.huge_body),
        ("/bomb", t.bomb_body),
        ("/dups", t.dups_body),
        ("/ingest", t.ingest),
        ("/arrivals", t.arrivals),
    ):
        app.router.add_get(path, handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
