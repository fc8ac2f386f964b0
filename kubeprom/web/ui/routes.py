"""The UI's routes: pages, their static files, the chart library, and two small JSON
endpoints of the UI's own (``/ui/api/words`` for completion, ``/ui/api/top``).

Everything else a page shows it reads from the Prometheus-compatible ``/api/v1``. Pages and
files pass through the same middlewares as the API, so the web config's basic auth and TLS
cover them. Pages carry a Content-Security-Policy that lets them load and connect only to
this server.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kubeprom.clock import Clock, RealClock
from kubeprom.promql.api import QueryAPI
from kubeprom.web.envelope import success
from kubeprom.web.ui.assets import (
    CONTENT_TYPES,
    STATIC_DIR,
    VENDOR,
    bundle,
    content_type,
    static_files,
    vendor_file,
)
from kubeprom.web.ui.files import IMMUTABLE, REVALIDATE, File, answer, held, tree_version
from kubeprom.web.ui.pages import BUNDLE_DIR, PAGES, STATIC_PREFIX, VENDOR_PREFIX, Links, shell
from kubeprom.web.ui.top import TopHandler
from kubeprom.web.ui.words import words_json

log = logging.getLogger(__name__)

HOME = "/query"

# Same-origin only: no CDN, nothing leaves the server. uPlot and the pages set element
# styles from script, which style-src must allow; the one inline script (the theme, run
# before the first paint) is allowed by its hash.
_CSP = (
    "default-src 'self'; script-src 'self' '{theme}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
THEME_SCRIPT = (STATIC_DIR / "theme.js").read_text(encoding="utf-8")
CSP = _CSP.format(
    theme="sha256-" + base64.b64encode(hashlib.sha256(THEME_SCRIPT.encode()).digest()).decode()
)
# The versioned prefix of the static tree: /ui/static/v/<version>/...
VERSIONED = STATIC_PREFIX + "v/"


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound(HOME)


async def graph(request: web.Request) -> web.Response:
    """Prometheus 2.x's ``/graph`` links open the query page with their panels."""
    qs = request.query_string
    raise web.HTTPFound(HOME + (f"?{qs}" if qs else ""))


def page_handler(body: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    page = held(body.encode(), "text/html; charset=utf-8")
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}

    async def handle(request: web.Request) -> web.Response:
        return answer(request, page, REVALIDATE, headers)

    return handle


def _vendor_files() -> dict[str, File]:
    out = {}
    for name in VENDOR:
        path = vendor_file(name)
        if path is not None:
            out[name] = held(path.read_bytes(), content_type(path))
    return out


class UI:
    """The UI's routes. ``top_api`` is the query seam the Top page's tables are computed
    over (None: the Top page reports that there is no query API). The files are read once,
    here."""

    def __init__(self, top_api: QueryAPI | None = None, clock: Clock | None = None) -> None:
        self.top = TopHandler(top_api, clock or RealClock()) if top_api is not None else None
        paths = static_files()
        self.files = {
            name: held(path.read_bytes(), content_type(path)) for name, path in paths.items()
        }
        self.version = tree_version(self.files)  # the bundles derive from these files
        modules = {name: path.read_text(encoding="utf-8") for name, path in paths.items()}
        for page in PAGES.values():
            joined = bundle(modules, f"pages/{page.module}.js")
            self.files[f"{BUNDLE_DIR}{page.module}.js"] = held(
                joined.encode(), CONTENT_TYPES[".js"]
            )
        self.vendor_files = _vendor_files()
        missing = [name for name in VENDOR if name not in self.vendor_files]
        if missing:
            log.warning(
                "chart library not installed, graphs will not draw missing=%s", ",".join(missing)
            )

    def links(self) -> Links:
        vendor = {
            name: (
                f"{VENDOR_PREFIX}{f.digest}/{name}"
                if (f := self.vendor_files.get(name)) is not None
                else VENDOR_PREFIX + name  # answers 404 naming the distribution to install
            )
            for name in VENDOR
        }
        return Links(f"{VERSIONED}{self.version}/", vendor, THEME_SCRIPT)

    async def static(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["path"])
        if file is None:
            raise web.HTTPNotFound()
        return answer(request, file, REVALIDATE)

    async def versioned(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["path"])
        if file is None or request.match_info["version"] != self.version:
            raise web.HTTPNotFound()
        return answer(request, file, IMMUTABLE)

    async def vendor(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        file = self.vendor_files.get(name)
        if file is None:
            dist = VENDOR[name].distribution if name in VENDOR else "?"
            raise web.HTTPNotFound(text=f"{name!r} is not installed (pip package {dist!r})\n")
        if "version" not in request.match_info:
            return answer(request, file, REVALIDATE)
        if request.match_info["version"] != file.digest:
            raise web.HTTPNotFound()
        return answer(request, file, IMMUTABLE)

    async def words(self, request: web.Request) -> web.Response:
        return success(words_json())

    async def top_table(self, request: web.Request) -> web.Response:
        if self.top is None:
            raise web.HTTPNotFound(text="no query API: top is not served\n")
        return await self.top.handle(request)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", home)
        app.router.add_get("/graph", graph)
        links = self.links()
        for path in PAGES:
            app.router.add_get(path, page_handler(shell(path, links)))
        app.router.add_get(VERSIONED + "{version}/{path:.+}", self.versioned)
        app.router.add_get(STATIC_PREFIX + "{path:.+}", self.static)
        app.router.add_get(VENDOR_PREFIX + "{version}/{name}", self.vendor)
        app.router.add_get(VENDOR_PREFIX + "{name}", self.vendor)
        app.router.add_get("/ui/api/words", self.words)
        app.router.add_get("/ui/api/top", self.top_table)
