"""The UI's routes without a browser: pages, files, the chart library, completion words and
the Top page's tables, behind the same middlewares as the API."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.clock import VirtualClock
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, Options
from kubeprom.web import build_app
from kubeprom.web.app import api_errors
from kubeprom.web.ui import NAV, PAGES, UI
from kubeprom.web.ui.assets import VENDOR, bundle, static_files, vendor_file
from kubeprom.web.ui.routes import CSP
from kubeprom.web.webconfig import WebConfig
from tests.top.cluster import END_MS, scrape_cluster
from tests.top.test_golden import NODES

Client = TestClient[web.Request, web.Application]

PROMETHEUS_3_PATHS = ["/query", "/alerts", "/rules", "/targets", "/status", "/tsdb-status",
                      "/flags", "/config"]  # fmt: skip


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(CollectorRegistry()))) as c:
        yield c


async def test_root_and_graph_redirect_to_query(client: Client) -> None:
    r = await client.get("/", allow_redirects=False)
    assert (r.status, r.headers["Location"]) == (302, "/query")
    r = await client.get("/graph?g0.expr=up&g0.tab=0", allow_redirects=False)
    assert (r.status, r.headers["Location"]) == (302, "/query?g0.expr=up&g0.tab=0")


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_every_page_is_a_shell_naming_its_module(client: Client, path: str) -> None:
    r = await client.get(path, params={"g0.expr": "up"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == CSP
    body = await r.text()
    module = f"/ui/static/v/{UI().version}/bundle/{PAGES[path].module}.js"
    assert f'<script type="module" src="{module}"></script>' in body
    assert f'<a href="{path}" aria-current=page>' in body
    assert f"<title>{PAGES[path].title.replace('&', '&amp;')} - kubeprom</title>" in body
    # Every URL the page names is this server's.
    urls = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert [u for u in urls if not re.match(r"^(/[^/]|#)", u)] == []
    static = await client.get(module)
    assert static.status == 200


async def test_a_page_is_one_script_of_its_module_and_every_module_it_imports(
    client: Client,
) -> None:
    body = await (await client.get("/query")).text()
    (src,) = re.findall(r'<script type="module" src="([^"]+)">', body)
    joined = await (await client.get(src)).text()
    # Imports first, depth first, as the browser evaluates them.
    assert re.findall(r"^// (\S+)$", joined, re.MULTILINE) == [
        "dom.js", "app.js", "api.js", "format.js", "query/complete.js", "query/errors.js",
        "query/history.js", "query/expr.js", "query/graph.js", "query/table.js",
        "query/url.js", "pages/query.js",
    ]  # fmt: skip
    body = await (await client.get("/hpa")).text()
    (src,) = re.findall(r'<script type="module" src="([^"]+)">', body)
    joined = await (await client.get(src)).text()
    assert re.findall(r"^// (\S+)$", joined, re.MULTILINE) == [
        "dom.js", "app.js", "api.js", "format.js", "query/graph.js", "pages/hpa.js",
    ]  # fmt: skip
    # the replicas chart
    assert re.search(r'<script defer src="/ui/vendor/\w{20}/uPlot.iife.min.js">', body)


def test_bundle_scopes_each_module_and_passes_its_exports() -> None:
    sources = {
        "a.js": "const x = 1;\nexport function f() { return x; }\nexport const K = 2;\n",
        "b/c.js": 'import { f, K } from "../a.js";\nconst x = 3;\nexport class C {}\n',
        "b/d.js": 'import { C } from "./c.js";\nimport { K } from "../a.js";\nnew C(K);\n',
    }
    assert bundle(sources, "b/d.js") == (
        "// a.js\nconst m0 = (() => {\nconst x = 1;\nfunction f() { return x; }\n"
        "const K = 2;\nreturn { f, K };\n})();\n"
        "// b/c.js\nconst m1 = (() => {\nconst {f, K} = m0;\nconst x = 3;\nclass C {}\n"
        "return { C };\n})();\n"
        "// b/d.js\nconst m2 = (() => {\nconst {C} = m1;\nconst {K} = m0;\nnew C(K);\n"
        "return {  };\n})();\n"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("const a = 1;\nexport default a;\n", "x.js:2: cannot join 'export default a;'"),
        ('import * as a from "./a.js";\n', "x.js:1: cannot join 'import \\* as a"),
        ('import { a as b } from "./a.js";\n', "x.js:1: cannot join 'import { a as b }"),
        ('const m = import("./a.js");\n', "x.js:1: cannot join 'import\\(\"./a.js\"\\);'"),
        ('import { x } from "./x.js";\n', "import cycle through 'x.js'"),
        ('import { y } from "./y.js";\n', "no module 'y.js'"),
    ],
)
def test_bundle_refuses_what_it_cannot_join(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        bundle({"x.js": text}, "x.js")


def test_the_pages_are_prometheus_paths_plus_top_and_hpa() -> None:
    assert set(PAGES) == {*PROMETHEUS_3_PATHS, "/top", "/hpa"}
    assert sorted(NAV) == sorted(PAGES)


async def test_every_static_file_is_served_with_its_type(client: Client) -> None:
    files = static_files()
    assert {"app.js", "style.css", "pages/query.js", "query/graph.js"} <= set(files)
    for name, path in files.items():
        r = await client.get(f"/ui/static/{name}")
        assert r.status == 200, name
        assert await r.read() == path.read_bytes()
        want = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        assert r.headers["Content-Type"] == want[path.suffix]
        assert r.headers["Cache-Control"] == "no-cache"


async def test_pages_name_versioned_files_kept_for_a_year(client: Client) -> None:
    body = await (await client.get("/query")).text()
    urls = re.findall(r'(?:src|href)="(/ui/[^"]+)"', body)
    version = UI().version
    assert f"/ui/static/v/{version}/style.css" in urls
    assert len(urls) == 5  # icon, style, uPlot's css and js, the page's script
    for url in urls:
        r = await client.get(url)
        assert r.status == 200, url
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
    # Another version (an older server's page) is not answered with this one's files.
    assert (await client.get("/ui/static/v/000000000000/app.js")).status == 404
    uplot = next(u for u in urls if u.endswith("uPlot.iife.min.js"))
    assert (await client.get(uplot.replace("/vendor/", "/vendor/0"))).status == 404


async def test_files_revalidate_with_their_etag(client: Client) -> None:
    plain = {"Accept-Encoding": "identity"}
    for url in ["/ui/static/app.js", f"/ui/static/v/{UI().version}/app.js", "/query"]:
        r = await client.get(url, headers=plain)
        etag = r.headers["ETag"]
        assert re.fullmatch(r'"\w{20}"', etag), url
        again = await client.get(url, headers={**plain, "If-None-Match": f'"nope", W/{etag}'})
        assert (again.status, await again.read()) == (304, b""), url
        other = await client.get(url, headers={**plain, "If-None-Match": '"nope"'})
        assert other.status == 200, url


async def test_files_come_gzipped_to_who_takes_it(client: Client) -> None:
    path = static_files()["pages/query.js"]
    r = await client.get("/ui/static/pages/query.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert r.headers["ETag"].endswith('-gzip"')
    assert int(r.headers["Content-Length"]) < path.stat().st_size / 2
    assert await r.read() == path.read_bytes()  # the client inflates it
    r = await client.get("/ui/static/pages/query.js", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in r.headers
    assert int(r.headers["Content-Length"]) == path.stat().st_size


async def test_the_theme_script_runs_inline_allowed_by_its_hash(client: Client) -> None:
    body = await (await client.get("/alerts")).text()
    script = re.findall(r"<script>(.*?)</script>", body, re.DOTALL)
    assert script == [(static_files()["theme.js"]).read_text()]
    digest = base64.b64encode(hashlib.sha256(script[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in CSP


@pytest.mark.parametrize(
    "path", ["/ui/static/../routes.py", "/ui/static/no.js", "/ui/static/pages"]
)
async def test_only_listed_static_files(client: Client, path: str) -> None:
    assert (await client.get(path)).status == 404


async def test_the_chart_library_comes_from_its_distribution(client: Client) -> None:
    for name in VENDOR:
        path = vendor_file(name)
        assert path is not None, f"{name}: install metaflow-card-uplot"
        r = await client.get(f"/ui/vendor/{name}")
        assert r.status == 200
        assert await r.read() == path.read_bytes()
    r = await client.get("/ui/vendor/uPlot.iife.min.js")
    assert (await r.text()).startswith("/*! https://github.com/leeoniya/uPlot (v1.6.")
    r = await client.get("/ui/vendor/jquery.js")
    assert r.status == 404


async def test_words_for_completion(client: Client) -> None:
    r = await client.get("/ui/api/words")
    data = (await r.json())["data"]
    functions = {f["name"]: f["args"] for f in data["functions"]}
    assert functions["rate"] == "v range-vector"
    assert functions["clamp"] == "v instant-vector, min scalar, max scalar"
    assert {a["name"] for a in data["aggregations"]} >= {"sum", "topk", "count_values"}
    assert "group_left" in data["keywords"]


async def test_top_without_a_query_api_is_not_found(client: Client) -> None:
    r = await client.get("/ui/api/top", params={"resource": "node"})
    assert r.status == 404


async def test_pages_and_files_need_the_api_credentials() -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4))
    app = build_app(CollectorRegistry(), web_config=WebConfig(basic_auth_users={"ann": hashed}))
    token = base64.b64encode(b"ann:pw").decode()
    async with TestClient(TestServer(app)) as c:
        for path in ["/query", "/ui/static/app.js", "/ui/vendor/uPlot.min.css", "/ui/api/words"]:
            r = await c.get(path)
            assert (r.status, await r.text()) == (401, "Unauthorized\n"), path
            r = await c.get(path, headers={"Authorization": f"Basic {token}"})
            assert r.status == 200, path


@pytest.fixture(scope="module")
def cluster_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("ui-top")
    scrape_cluster(data)
    return data


async def test_top_tables_are_the_commands(cluster_data: Path) -> None:
    db = DB.open(cluster_data, Options(retention_ms=None))
    try:
        app = web.Application(middlewares=[api_errors])
        UI(LocalQueryAPI(db.querier), VirtualClock(END_MS)).add_routes(app)
        async with TestClient(TestServer(app)) as c:
            r = await c.get("/ui/api/top", params={"resource": "node"})
            data = (await r.json())["data"]
            lines = [data["columns"], *data["rows"]]
            assert [" ".join(cells) for cells in lines] == [
                " ".join(line.split()) for line in NODES.splitlines()
            ]
            assert data["time"] == END_MS / 1000
            assert data["queries"][0].startswith("irate(node_cpu_usage_seconds_total{")

            r = await c.get("/ui/api/top", params={"resource": "pod", "sort_by": "cpu"})
            data = (await r.json())["data"]
            assert data["columns"] == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
            cpu = [int(row[2].removesuffix("m")) for row in data["rows"]]
            assert cpu == sorted(cpu, reverse=True)
            assert len(cpu) == 6

            r = await c.get("/ui/api/top", params={"resource": "pod", "namespace": "nope"})
            assert (r.status, (await r.json())["data"]["notice"]) == (
                200,
                "No resources found in nope namespace.",
            )
            r = await c.get("/ui/api/top", params={"resource": "node", "name": "node-z"})
            assert (r.status, await r.json()) == (
                422,
                {
                    "status": "error",
                    "errorType": "execution",
                    "error": 'Error from server (NotFound): nodes "node-z" not found',
                },
            )
            r = await c.get("/ui/api/top", params={"resource": "volume"})
            assert r.status == 400
    finally:
        db.close()
