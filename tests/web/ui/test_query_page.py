"""The query page in Debian's chromium against a running ``kubeprom run``: typing with
completion, Table and Graph against the API, errors with positions, panels in the URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.ui.conftest import Server, screenshot


def params(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def ready(page: Any, path: str, server: Server) -> None:
    page.goto(server.base + path)
    page.wait_for_selector("body[data-ready]")


def test_type_a_query_see_the_table_then_the_graph(page: Any, server: Server) -> None:
    ready(page, "/query", server)
    assert page.evaluate("document.activeElement.classList.contains('expr')")
    page.keyboard.type("u")
    option = page.locator(".complete li[data-kind=metric]", has_text="up").first
    option.wait_for()
    assert page.locator(".complete li", has_text="up").count() >= 1
    page.keyboard.type("p")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    table = page.locator("table[data-result=vector]")
    table.wait_for()
    api = server.api("/api/v1/query", query="up")["result"]
    assert len(api) == 7
    assert table.locator("tbody tr").count() == len(api)
    shown = sorted(table.locator("tbody tr td:first-child").all_inner_texts())
    assert all(s.startswith("up{") for s in shown)
    jobs = {r.split('job="')[1].split('"')[0] for r in shown}
    assert jobs == {"cadvisor", "kubelet", "kube-state-metrics"}
    assert params(page)["g0.expr"] == ["up"]
    assert params(page)["g0.tab"] == ["table"]
    screenshot(page, "query-table")

    page.get_by_role("tab", name="Graph").click()
    graph = page.locator(".graph[data-series]")
    graph.wait_for()
    assert graph.get_attribute("data-series") == str(len(api))
    assert page.locator(".legend button").count() == len(api)
    assert page.locator(".graph canvas").count() == 1
    # Something was drawn: the canvas is not blank.
    drawn = page.evaluate(
        """() => { const c = document.querySelector('.graph canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert drawn > 1000
    assert params(page)["g0.tab"] == ["graph"]
    assert params(page)["g0.range_input"] == ["1h"]
    screenshot(page, "query-graph")


def test_hover_shows_values_and_a_selection_zooms(page: Any, server: Server) -> None:
    ready(page, "/query?g0.expr=up&g0.tab=graph&g0.range_input=20s", server)
    over = page.locator(".u-over")
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 5, box["y"] + box["height"] / 2)
    tip = page.locator(".tooltip")
    tip.wait_for(state="visible")
    assert "up{" in tip.inner_text()
    assert tip.locator("strong").inner_text() == "1"
    screenshot(page, "query-hover")
    # The last few seconds: the server has scraped every second since it started.
    page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.99, box["y"] + 20, steps=5)
    page.mouse.up()
    page.wait_for_function("new URL(location.href).searchParams.has('g0.end_input')")
    zoomed = params(page)
    seconds = re.fullmatch(r"(\d+)s(?:(\d+)ms)?", zoomed["g0.range_input"][0])
    assert seconds is not None
    assert 2 <= int(seconds[1]) <= 3  # 14% of 20s
    page.locator(".graph[data-series='7']").wait_for()


def test_legend_click_isolates_a_series(page: Any, server: Server) -> None:
    ready(page, "/query?g0.expr=up&g0.tab=graph&g0.range_input=5m", server)
    buttons = page.locator(".legend button")
    buttons.nth(2).click()
    assert [b.get_attribute("aria-pressed") for b in buttons.all()] == [
        "true" if i == 2 else "false" for i in range(7)
    ]
    buttons.nth(2).click()
    assert {b.get_attribute("aria-pressed") for b in buttons.all()} == {"true"}
    buttons.nth(0).click(modifiers=["Control"])
    assert buttons.nth(0).get_attribute("aria-pressed") == "false"


def test_a_parse_error_shows_its_position(page: Any, server: Server) -> None:
    ready(page, "/query", server)
    page.locator("textarea.expr").fill("sum(rate(up[5m])")
    page.locator("textarea.expr").press("Enter")
    err = page.locator(".alert.error")
    err.wait_for()
    # Prometheus reports an unclosed parenthesis where the input ends.
    assert "1:17: parse error: unclosed left parenthesis" in err.inner_text()
    assert page.locator("pre.position").inner_text() == "sum(rate(up[5m])\n" + " " * 16 + "^"
    assert page.locator("textarea.expr").get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name="Go to 1:17").click()
    assert page.evaluate("document.activeElement.selectionStart") == 16
    screenshot(page, "query-error")


def test_warnings_are_shown(page: Any, server: Server) -> None:
    ready(page, "/query?g0.expr=" + "rate(up[1m])", server)
    info = page.locator(".alert.info")
    info.wait_for()
    assert "metric might not be a counter" in info.inner_text()


def test_several_panels_come_from_and_go_to_the_url(page: Any, server: Server) -> None:
    url = (
        "/query?g0.expr=up&g0.tab=graph&g0.range_input=30m&g0.display_mode=stacked"
        "&g1.expr=count(up)&g1.tab=1"
    )
    ready(page, url, server)
    assert page.locator("section.panel").count() == 2
    assert page.locator(".graph[data-series='7']").count() == 1
    second = page.locator("section.panel").nth(1)
    assert second.locator("table[data-result=vector] td.num").inner_text() == "7"
    page.get_by_role("button", name="Add panel").click()
    page.keyboard.type("count(up) by (job)")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.locator("section.panel").nth(2).locator("table[data-result=vector]").wait_for()
    p = params(page)
    assert p["g0.display_mode"] == ["stacked"]
    assert p["g0.range_input"] == ["30m"]
    assert p["g1.tab"] == ["table"]
    assert p["g2.expr"] == ["count(up) by (job)"]
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert page.locator("section.panel").count() == 3
    screenshot(page, "query-panels")


def test_history_is_offered_in_an_empty_box(page: Any, server: Server) -> None:
    ready(page, "/query", server)
    box = page.locator("textarea.expr")
    for expr in ["count(up)", "sum(up)"]:
        box.fill(expr)
        box.press("Enter")
        page.locator("table[data-result]").wait_for()
    box.fill("")
    box.press("ArrowDown")
    items = page.locator(".complete li[data-kind=history]")
    items.first.wait_for()
    assert items.all_inner_texts()[:2] == ["sum(up)\nhistory", "count(up)\nhistory"]
    box.press("ArrowDown")
    box.press("Tab")
    assert box.input_value() == "count(up)"


LABEL_VALUE_QUERY = 'up{job="'


def test_label_names_and_values_complete(page: Any, server: Server) -> None:
    ready(page, "/query", server)
    box = page.locator("textarea.expr")
    box.focus()
    page.keyboard.type("up{")
    names = page.locator(".complete li[data-kind=label]")
    names.first.wait_for()
    assert set(names.all_inner_texts()) >= {"instance\nlabel", "job\nlabel", "node\nlabel"}
    page.keyboard.type('job="ku')
    values = page.locator(".complete li[data-kind=value]")
    values.first.wait_for()
    assert [v.split("\n")[0] for v in values.all_inner_texts()] == ["kube-state-metrics", "kubelet"]
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert box.input_value() == 'up{job="kubelet"'
    page.keyboard.type("}")
    page.keyboard.press("Enter")
    page.locator("table[data-result=vector] tbody tr").first.wait_for()
    assert page.locator("table[data-result=vector] tbody tr").count() == 3


# (text before the cursor, expected context fields): completionContext() in complete.js
CONTEXTS = [
    ("", {"kind": "expr", "prefix": ""}),
    ("ra", {"kind": "expr", "prefix": "ra", "from": 0}),
    ("sum(rate(http_req", {"kind": "expr", "prefix": "http_req", "from": 9}),
    ("up{", {"kind": "label_name", "metric": "up", "prefix": ""}),
    ('up{job="x", ins', {"kind": "label_name", "metric": "up", "prefix": "ins", "from": 12}),
    ("{job", {"kind": "label_name", "metric": None, "prefix": "job"}),
    ('up{job="kub', {"kind": "label_value", "label": "job", "metric": "up", "quote": '"'}),
    ("up{job=~'a|b", {"kind": "label_value", "label": "job", "prefix": "a|b", "quote": "'"}),
    ("up{job!=", {"kind": "label_value", "label": "job", "quote": None}),
    ('up{job="a"}', {"kind": "expr", "prefix": "", "afterOperand": True}),
    ('up{job="a"', {"kind": "none"}),
    ("rate(up[", {"kind": "duration", "prefix": ""}),
    ("rate(up[5", {"kind": "duration", "prefix": "5"}),
    ("sum by (jo", {"kind": "label_name", "metric": None, "prefix": "jo"}),
    ("sum without (a, ", {"kind": "label_name", "prefix": ""}),
    ("a / on(x) group_left(", {"kind": "label_name"}),
    ("sum by (job) (", {"kind": "expr", "prefix": ""}),
    ("up an", {"kind": "expr", "prefix": "an", "afterOperand": True}),
    ('label_replace(up, "a', {"kind": "none"}),
    ("up # a comment", {"kind": "none"}),
    ("up{a='x\\'y", {"kind": "label_value", "prefix": "x\\'y"}),
]


@pytest.fixture(scope="module")
def modules(browser: Any, server: Server) -> Iterator[Any]:
    """One page for calling the UI's JavaScript modules' pure functions."""
    ctx = browser.new_context()
    pg = ctx.new_page()
    ready(pg, "/hpa", server)
    yield pg
    ctx.close()


@pytest.mark.parametrize(("text", "want"), CONTEXTS, ids=[t or "empty" for t, _ in CONTEXTS])
def test_completion_context(modules: Any, text: str, want: dict[str, Any]) -> None:
    got = modules.evaluate(
        "async ([t]) => (await import('/ui/static/query/complete.js'))"
        ".completionContext(t, t.length)",
        [text],
    )
    assert {k: got.get(k) for k in want} == want


HIGH = {"type": "auto", "density": "high"}
FIXED_30S = {"type": "fixed", "stepMs": 30000}
# Prometheus 3.x's urlStateEncoding tests, decoded by url.js.
URLS = [
    ("g0.expr=up&g0.tab=0", {"expr": "up", "tab": "graph"}),
    ("g0.expr=up&g0.tab=1", {"tab": "table"}),
    ("g0.expr=rate(http_requests_total%5B5m%5D)", {"expr": "rate(http_requests_total[5m])"}),
    ("g0.expr=up&g0.stacked=1", {"displayMode": "stacked"}),
    ("g0.expr=up&g0.display_mode=stacked", {"displayMode": "stacked"}),
    ("g0.expr=up&g0.range_input=2h", {"rangeMs": 7_200_000}),
    ("g0.expr=up&g0.end_input=2024-01-15%2012%3A30%3A45", {"endMs": 1_705_321_845_000}),
    ("g0.expr=up&g0.moment_input=2024-01-15%2012%3A30%3A45", {"endMs": 1_705_321_845_000}),
    ("g0.expr=up&g0.step_input=15", {"resolution": {"type": "custom", "stepMs": 15000}}),
    ("g0.expr=up&g0.step_input=0", {"resolution": {"type": "auto", "density": "medium"}}),
    ("g0.expr=up&g0.res_type=auto&g0.res_density=high", {"resolution": HIGH}),
    ("g0.expr=up&g0.res_type=fixed&g0.res_step=30", {"resolution": FIXED_30S}),
]


@pytest.mark.parametrize(("query", "want"), URLS, ids=[q for q, _ in URLS])
def test_url_decoding_as_prometheus(modules: Any, query: str, want: dict[str, Any]) -> None:
    got = modules.evaluate(
        """async ([q]) => { const u = await import('/ui/static/query/url.js');
        const ps = u.decodePanels(q); return [ps[0], u.encodePanels(ps).toString()]; }""",
        [query],
    )
    panel, encoded = got
    assert {k: panel[k] for k in want} == want
    again = modules.evaluate(
        "async ([q]) => (await import('/ui/static/query/url.js')).decodePanels(q)[0]", [encoded]
    )
    assert again == panel


def test_auto_resolution_is_prometheus(modules: Any) -> None:
    steps = modules.evaluate(
        """async () => { const u = await import('/ui/static/query/url.js');
        return ['low', 'medium', 'high'].map((d) => u.effectiveStepMs({rangeMs: 3600000,
          resolution: {type: 'auto', density: d}})); }"""
    )
    assert steps == [36000, 14400, 4800]
