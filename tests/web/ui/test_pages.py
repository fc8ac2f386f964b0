"""Targets, Rules, Alerts, Status, TSDB, Flags, Config, Top and HPA pages in chromium, each
checked against the API answer it was drawn from; no request leaves the host; keyboard,
themes, a narrow window, and the web config's TLS and basic auth."""

from __future__ import annotations

import base64
import json
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest

from kubeprom.web.ui import NAV
from tests.support.certs import self_signed
from tests.support.procs import free_port
from tests.web.ui.conftest import Recorder, Server, fast_config, new_context, screenshot
from tests.web.ui.prom_rules import FIXTURE


def open_page(page: Any, server: Server, path: str, api: str) -> Any:
    """Load ``path`` and return the JSON of the ``api`` answer the page drew."""
    with page.expect_response(lambda r: r.url.split("?")[0].endswith(api)) as answer:
        page.goto(server.base + path)
    page.wait_for_selector("body[data-ready]")
    return answer.value.json()["data"]


def cells(table: Any) -> list[list[str]]:
    return [row.locator("td").all_inner_texts() for row in table.locator("tbody tr").all()]


def test_targets(page: Any, server: Server) -> None:
    data = open_page(page, server, "/targets", "/api/v1/targets")
    targets = data["activeTargets"]
    assert len(targets) == 7
    for pool in ("cadvisor", "kubelet", "kube-state-metrics"):
        mine = sorted(t["scrapeUrl"] for t in targets if t["scrapePool"] == pool)
        rows = cells(page.locator(f"table[data-targets='{pool}']"))
        assert sorted(r[0] for r in rows) == mine
        assert {r[2] for r in rows} == {"up"}
        assert all(r[3].endswith("ago") for r in rows)
    (ksm,) = [t for t in targets if t["scrapePool"] == "kube-state-metrics"]
    labels = page.locator("table[data-targets='kube-state-metrics'] .label").all_inner_texts()
    assert labels == [f'{k}="{v}"' for k, v in sorted(ksm["labels"].items())]
    screenshot(page, "targets")
    page.get_by_label("Health").select_option("down")
    assert page.locator(".alert.info").inner_text() == "No target matches the filter."
    assert "health=down" in page.url
    page.get_by_label("Health").select_option("")
    page.get_by_label("Filter targets").fill("kubelet")
    assert page.locator("details[data-pool]").count() == 1
    assert page.locator("table[data-targets='kubelet'] tbody tr").count() == 3


@pytest.fixture
def rules_fixture(page: Any) -> dict[str, Any]:
    """The rules and alerts a real Prometheus answered (kubeprom serves none yet)."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text())

    def rules(route: Any) -> None:
        key = "alert_rules" if "type=alert" in route.request.url else "rules"
        route.fulfill(json=data[key])

    page.route("**/api/v1/rules*", rules)
    page.route("**/api/v1/alerts", lambda route: route.fulfill(json=data["alerts"]))
    return data


def test_alerts_by_state(page: Any, server: Server, rules_fixture: dict[str, Any]) -> None:
    page.goto(server.base + "/alerts")
    page.wait_for_selector("body[data-ready]")
    boxes = page.locator("label:has(input[type=checkbox])").all_inner_texts()
    assert [b.strip() for b in boxes] == ["firing (1)", "pending (1)", "inactive (1)"]
    firing = page.locator("details[data-alertname=TargetUp]")
    assert firing.get_attribute("data-state") == "firing"
    (alert,) = [
        a
        for a in rules_fixture["alerts"]["data"]["alerts"]
        if a["labels"]["alertname"] == "TargetUp"
    ]
    row = cells(firing.locator("table[data-alerts]"))[0]
    assert row[0].split() == [f'{k}="{v}"' for k, v in sorted(alert["labels"].items())]
    assert row[1] == "firing"
    assert row[2].endswith("ago")
    assert row[3] == alert["value"] == "1e+00"
    assert row[4].split("\n") == ["description", "value 1", "summary", "prometheus is up"]
    pending = page.locator("details[data-alertname=SlowBurn]")
    assert "for: 1h" in pending.locator("pre").inner_text()
    assert "keep_firing_for: 5m" in pending.locator("pre").inner_text()
    assert page.locator("details[data-alertname=NeverFires]").get_attribute("open") is None
    screenshot(page, "alerts")
    page.get_by_label("firing").uncheck()
    assert page.locator("details[data-alertname=TargetUp]").count() == 0
    page.get_by_label("View").select_option("list")
    assert [r[1] for r in cells(page.locator("table[data-alerts]"))] == ["pending"]


def test_rules_with_health_and_errors(page: Any, server: Server, rules_fixture: Any) -> None:
    page.goto(server.base + "/rules")
    page.wait_for_selector("body[data-ready]")
    groups = rules_fixture["rules"]["data"]["groups"]
    assert page.locator("details[data-group]").count() == len(groups) == 2
    broken = page.locator("li[data-rule='broken:duplicate']")
    assert broken.locator(".badge.err").inner_text() == "err"
    assert (
        "found duplicate series for the match group" in broken.locator(".alert.error").inner_text()
    )
    record = page.locator("li[data-rule='job:up:sum']")
    assert record.locator("pre a").inner_text() == "sum by (job) (up)"
    assert (
        record.locator("pre a").get_attribute("href")
        == "/query?g0.expr=sum%20by%20(job)%20(up)&g0.tab=table"
    )
    screenshot(page, "rules")
    page.get_by_label("Health").select_option("err")
    assert page.locator("li[data-rule]").count() == 1


def test_rules_and_alerts_without_rules(page: Any, server: Server) -> None:
    page.goto(server.base + "/rules")
    page.wait_for_selector("body[data-ready]")
    assert page.locator(".alert.info").inner_text() == "No rule groups are loaded."
    page.goto(server.base + "/alerts")
    page.wait_for_selector("body[data-ready]")
    assert page.locator(".alert.info").inner_text() == "No alerting rules are loaded."


def test_status(page: Any, server: Server) -> None:
    with page.expect_response(lambda r: "buildinfo" in r.url) as build:
        page.goto(server.base + "/status")
    page.wait_for_selector("body[data-ready]")
    info = build.value.json()["data"]
    text = page.locator("main").inner_text()
    assert f"version\n{info['version']}" in text
    assert f"goVersion\n{info['goVersion']}" in text
    assert "Configuration reload\nSuccessful" in text
    screenshot(page, "status")


def test_tsdb_status(page: Any, server: Server) -> None:
    data = open_page(page, server, "/tsdb-status", "/api/v1/status/tsdb")
    text = page.locator("main").inner_text()
    assert f"Series\n{data['headStats']['numSeries']:,}" in text
    rows = cells(page.locator("section[data-stat=seriesCountByMetricName] table"))
    assert rows == [[s["name"], f"{s['value']:,}"] for s in data["seriesCountByMetricName"]]
    assert len(rows) == 10
    screenshot(page, "tsdb-status")


def test_flags(page: Any, server: Server) -> None:
    data = open_page(page, server, "/flags", "/api/v1/status/flags")
    rows = cells(page.locator("table"))
    assert rows == [[f"--{k}", v] for k, v in sorted(data.items())]
    page.get_by_label("Filter flags").fill("listen")
    assert cells(page.locator("table")) == [["--web.listen-address", data["web.listen-address"]]]
    screenshot(page, "flags")


def test_config(page: Any, server: Server) -> None:
    data = open_page(page, server, "/config", "/api/v1/status/config")
    assert page.locator("#config-yaml").text_content() == data["yaml"]
    assert "cluster_sd_configs" in data["yaml"]
    screenshot(page, "config")


def test_top_is_kubeprom_top(page: Any, server: Server) -> None:
    with (
        page.expect_response(lambda r: "resource=node" in r.url) as nodes,
        page.expect_response(lambda r: "resource=pod" in r.url) as pods,
    ):
        page.goto(server.base + "/top")
    page.wait_for_selector("body[data-ready]")
    for answer, kind in ((nodes, "node"), (pods, "pod")):
        data = answer.value.json()["data"]
        table = page.locator(f"table[data-top={kind}]")
        assert table.locator("th").all_inner_texts() == data["columns"]
        assert cells(table) == data["rows"]
    node_rows = nodes.value.json()["data"]["rows"]
    assert [r[0] for r in node_rows] == ["node-1", "node-2", "node-3"]
    pod_rows = pods.value.json()["data"]["rows"]
    assert {r[0] for r in pod_rows} == {"batch", "default", "shop"}
    screenshot(page, "top")
    with page.expect_response(lambda r: "containers=1" in r.url):
        page.get_by_label("containers").check()
    assert page.locator("table[data-top=pod] th").all_inner_texts()[:3] == [
        "NAMESPACE",
        "POD",
        "NAME",
    ]


HPAS = "/kubeprom/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
# min = max = the Deployment's replicas: the HPA syncs and decides, the cluster (shared by the
# session's other tests) keeps its pods.
API_HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "api", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        "minReplicas": 2,
        "maxReplicas": 2,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "100Mi"},
                },
            },
        ],
    },
}


def call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def synced_hpa(base: str) -> dict[str, Any]:
    """The HPA as /ui/api/hpa serves it once it has synced twice (the server syncs every
    second); polls the server as the fixtures do."""
    deadline = time.monotonic() + 60
    while True:
        (hpa,) = call("GET", base + "/ui/api/hpa")["data"]["hpas"]
        if len(hpa["history"]) >= 2 and hpa["metrics"][0]["current"] is not None:
            return hpa  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, hpa
        time.sleep(0.2)


def test_hpa_page(page: Any, server: Server) -> None:
    data = open_page(page, server, "/hpa", "/ui/api/hpa")
    assert data["hpas"] == []
    assert "No HorizontalPodAutoscaler" in page.locator(".alert.info").inner_text()
    call("POST", server.base + HPAS, API_HPA)
    try:
        synced_hpa(server.base)
        data = open_page(page, server, "/hpa", "/ui/api/hpa")
        (hpa,) = data["hpas"]
        section = page.locator("section[data-hpa='default/api']")
        assert section.locator("h2").inner_text() == "default/api Deployment/api"
        assert section.locator("[data-targets]").inner_text() == hpa["targets"]
        assert re.fullmatch(r"cpu: \d+%/50%, memory: \d+(Mi|Ki|)/100Mi", hpa["targets"])
        metrics = cells(section.locator("table[data-metrics]"))
        # (HTML collapses describe's double space)
        assert metrics == [
            [" ".join(m["name"].split()), m["text"], "Resource"] for m in hpa["metrics"]
        ]
        assert [m["name"] for m in hpa["metrics"]] == [
            "resource cpu on pods  (as a percentage of request)",
            "resource memory on pods",
        ]
        conditions = cells(section.locator("table[data-conditions]"))
        assert [r[:3] for r in conditions] == [
            [c["type"], c["status"], c["reason"]] for c in hpa["conditions"]
        ]
        assert [r[0] for r in conditions] == ["AbleToScale", "ScalingActive", "ScalingLimited"]
        # Replicas over time: the current and desired series, drawn by uPlot.
        plot = section.locator("[data-replicas='api']")
        plot.locator("canvas").first.wait_for()
        assert plot.get_attribute("data-series") == "2"
        assert plot.locator(".legend button").all_inner_texts() == [
            "current replicas",
            "desired replicas",
        ]
        assert section.locator("dd").nth(2).inner_text() == "2 current, 2 desired"
        # The decisions, newest first, each with the decision record's lines.
        shown = section.locator("details[data-decision]")
        assert shown.count() == len(hpa["decisions"]) > 0
        newest = hpa["decisions"][-1]
        assert shown.first.get_attribute("data-decision") == str(newest["t_ms"])
        assert shown.first.locator("pre").inner_text() == "\n".join(newest["lines"])
        scale = section.locator("dl.kv").nth(1).inner_text()
        assert "Deployment replicas\n2 (spec 2, ready 2, terminating 0)" in scale
        screenshot(page, "hpa")
    finally:
        call("DELETE", server.base + HPAS + "/api")


def test_no_request_leaves_the_host(page: Any, server: Server, recorder: Recorder) -> None:
    for path in NAV:
        page.goto(server.base + path + ("?g0.expr=up&g0.tab=graph" if path == "/query" else ""))
        page.wait_for_selector("body[data-ready]")
    assert len(recorder.urls) > 3 * len(NAV)
    assert recorder.foreign(server.base) == []
    assert any(re.search(r"/ui/vendor/\w+/uPlot.iife.min.js$", u) for u in recorder.urls)


def test_pages_opened_again_take_their_files_from_the_cache(page: Any, server: Server) -> None:
    files = """() => performance.getEntriesByType('resource')
        .filter((e) => /[/]ui[/](static|vendor)[/]/.test(e.name))
        .map((e) => [new URL(e.name).pathname, e.transferSize])"""
    for path in ["/query?g0.expr=up&g0.tab=graph", "/alerts"]:
        page.goto(server.base + path)
        page.wait_for_selector("body[data-ready]")
        first = page.evaluate(files)
        # The page's script comes from the server; /alerts shares the rest with /query.
        assert len(first) >= 3  # style, favicon, the page's script (+ uPlot)
        assert any(size > 0 for _, size in first), first
        for reload in (False, True):
            if reload:
                page.reload()
            else:
                page.goto(server.base + path)
            page.wait_for_selector("body[data-ready]")
            assert sorted(page.evaluate(files)) == sorted([name, 0] for name, _ in first)


def test_keyboard_navigation(page: Any, server: Server) -> None:
    page.goto(server.base + "/targets")
    page.wait_for_selector("body[data-ready]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "kubeprom"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Filter targets"
    page.goto(server.base + "/query")
    page.wait_for_selector("body[data-ready]")
    page.keyboard.type("count(up)")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    assert page.locator("table[data-result=vector] td.num").inner_text() == "7"
    page.keyboard.press("Tab")  # the Execute button
    page.keyboard.press("Tab")  # the Table tab
    page.keyboard.press("Tab")  # the Graph tab
    page.keyboard.press("Enter")
    page.locator(".graph[data-series='1']").wait_for()


def test_dark_theme_in_a_narrow_window(page: Any, server: Server) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.base + "/query?g0.expr=up&g0.tab=graph")
    page.wait_for_selector("body[data-ready]")
    page.get_by_label("Theme").select_option("dark")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(20, 23, 28)"
    page.locator(".graph[data-series='7']").wait_for()
    # Nothing is wider than the window: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    width = page.evaluate("document.querySelector('.graph canvas').getBoundingClientRect().width")
    assert 300 <= width <= 390
    screenshot(page, "query-graph-dark-narrow")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
    page.goto(server.base + "/targets")
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "targets-dark-narrow")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kubeprom run`` behind TLS and basic auth (user ann, password pw)."""
    tmp = tmp_path_factory.mktemp("ui-tls")
    self_signed(tmp)
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    (tmp / "web.yml").write_text(
        "tls_server_config: {cert_file: s.crt, key_file: s.key}\n"
        f"basic_auth_users: {{ann: {hashed}}}\n"
    )
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    argv = [
        sys.executable, "-m", "kubeprom.cli.main", "run",
        "--config", str(fast_config(tmp / "kubeprom.yml")), "--data", str(tmp / "data"),
        "--listen", f"127.0.0.1:{port}", "--web.config.file", str(tmp / "web.yml"),
    ]  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(tmp / "s.crt"))
    token = base64.b64encode(b"ann:pw").decode()
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            req = urllib.request.Request(f"{base}/ui/api/top?resource=node")
            req.add_header("Authorization", f"Basic {token}")
            try:
                with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass  # not listening yet, or no rates yet (422)
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)  # polling the server until its scrapes have landed
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_behind_tls_and_basic_auth(browser: Any, secured: str) -> None:
    recorder = Recorder()
    anonymous = new_context(browser, recorder, ignore_https_errors=True)
    for path in ("/query", "/ui/static/app.js", "/api/v1/query?query=up"):
        assert anonymous.request.get(f"{secured}{path}").status == 401
    anonymous.close()
    ctx = new_context(
        browser,
        recorder,
        ignore_https_errors=True,
        http_credentials={"username": "ann", "password": "pw"},
    )
    pg = ctx.new_page()
    pg.goto(f"{secured}/query?g0.expr=up&g0.tab=graph")
    pg.wait_for_selector("body[data-ready]")
    pg.locator(".graph[data-series='7']").wait_for()
    pg.goto(f"{secured}/top")
    pg.wait_for_selector("body[data-ready]")
    assert pg.locator("table[data-top=node] tbody tr").count() == 3
    ctx.close()
    assert recorder.foreign(secured) == []
    assert {u.split(":")[0] for u in recorder.urls} == {"https"}
