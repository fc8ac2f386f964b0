"""The UI's routes: pages, their static files, the chart library, and two small JSON
endpoints of the UI's own (``/ui/api/words`` for completion, ``/ui/api/top``).

Everything else a page shows it reads from the Prometheus-compatible ``/api/v1``. Pages and
files pass through the same middlewares as the API, so the web config's basic auth and TLS
cover them. Pages carry a Content-Security-Policy that lets them load and connect only to
this server.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kubeprom.clock import Clock, RealClock
from kubeprom.promql.api import QueryAPI
from kubeprom.web.envelope import success
from kubeprom.web.ui.assets import (
    VENDOR,
    content_type,
    module_imports,
    static_files,
    vendor_file,
)
from kubeprom.web.ui.pages import PAGES, STATIC_PREFIX, VENDOR_PREFIX, shell
from kubeprom.web.ui.top import TopHandler
from kubeprom.web.ui.words import words_json

log = logging.getLogger(__name__)

HOME = "/query"

# Same-origin only: no CDN, nothing leaves the server. uPlot and the pages set element
# styles from script, which style-src must allow.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_NO_CACHE = {"Cache-Control": "no-cache"}  # revalidate: an upgraded server serves new files


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound(HOME)


async def graph(request: web.Request) -> web.Response:
    """Prometheus 2.x's ``/graph`` links open the query page with their panels."""
    qs = request.query_string
    raise web.HTTPFound(HOME + (f"?{qs}" if qs else ""))


def page_handler(
    path: str, preload: tuple[str, ...]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    body = shell(path, preload)
    headers = {**_NO_CACHE, "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html", headers=headers)

    return handle


class UI:
    """The UI's routes. ``top_api`` is the query seam the Top page's tables are computed
    over (None: the Top page reports that there is no query API)."""

    def __init__(self, top_api: QueryAPI | None = None, clock: Clock | None = None) -> None:
        self.top = TopHandler(top_api, clock or RealClock()) if top_api is not None else None
        self.files = static_files()
        missing = [name for name in VENDOR if vendor_file(name) is None]
        if missing:
            log.warning(
                "chart library not installed, graphs will not draw missing=%s", ",".join(missing)
            )

    async def static(self, request: web.Request) -> web.StreamResponse:
        path = self.files.get(request.match_info["path"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={**_NO_CACHE, "Content-Type": content_type(path)})

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = vendor_file(name)
        if path is None:
            dist = VENDOR[name].distribution if name in VENDOR else "?"
            raise web.HTTPNotFound(text=f"{name!r} is not installed (pip package {dist!r})\n")
        return web.FileResponse(path, headers={**_NO_CACHE, "Content-Type": content_type(path)})

    async def words(self, request: web.Request) -> web.Response:
        return success(words_json())

    async def top_table(self, request: web.Request) -> web.Response:
        if self.top is None:
            raise web.HTTPNotFound(text="no query API: top is not served\n")
        return await self.top.handle(request)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", home)
        app.router.add_get("/graph", graph)
        for path, page in PAGES.items():
            module = f"pages/{page.module}.js"
            app.router.add_get(path, page_handler(path, tuple(module_imports(self.files, module))))
        app.router.add_get(STATIC_PREFIX + "{path:.+}", self.static)
        app.router.add_get(VENDOR_PREFIX + "{name}", self.vendor)
        app.router.add_get("/ui/api/words", self.words)
        app.router.add_get("/ui/api/top", self.top_table)
