"""The UI's routes without a browser: pages, files, the chart library, completion words and
the Top page's tables, behind the same middlewares as the API."""

from __future__ import annotations

import base64
import re
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
from kubeprom.web.ui.assets import VENDOR, static_files, vendor_file
from kubeprom.web.ui.routes import CSP
from kubeprom.web.webconfig import WebConfig
from tests.top.cluster import END_MS, scrape_cluster
from tests.top.test_golden import NODES

Client = TestClient  # type: ignore[type-arg]

PROMETHEUS_3_PATHS = ["/query", "/alerts", "/rules", "/targets", "/status", "/tsdb-status",
                      "/flags", "/config"]  # fmt: skip


@pytest.fixture
async def client() -> Client:
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
    module = f"/ui/static/pages/{PAGES[path].module}.js"
    assert f'<script type="module" src="{module}"></script>' in body
    assert f'<a href="{path}" aria-current=page>' in body
    assert f"<title>{PAGES[path].title.replace('&', '&amp;')} - kubeprom</title>" in body
    # Every URL the page names is this server's.
    urls = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert [u for u in urls if not re.match(r"^(/[^/]|#)", u)] == []
    static = await client.get(module)
    assert static.status == 200


async def test_a_page_preloads_every_module_it_imports(client: Client) -> None:
    body = await (await client.get("/query")).text()
    preloaded = re.findall(r'<link rel="modulepreload" href="/ui/static/([^"]+)">', body)
    assert sorted(preloaded) == sorted(
        ["app.js", "api.js", "dom.js", "format.js"]
        + [
            f"query/{m}.js"
            for m in ("complete", "errors", "expr", "graph", "history", "table", "url")
        ]
    )
    body = await (await client.get("/hpa")).text()
    assert re.findall(r'rel="modulepreload" href="/ui/static/([^"]+)"', body) == [
        "app.js",
        "api.js",
        "dom.js",
        "format.js",
        "query/graph.js",
    ]
    assert '<script defer src="/ui/vendor/uPlot.iife.min.js">' in body  # the replicas chart


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
