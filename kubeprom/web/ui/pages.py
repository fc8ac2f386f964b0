"""The UI's pages: one literal registry of paths (Prometheus 3.x's, plus ``/top`` and
``/hpa``), and the HTML shell every page is served as.

Each page is the same small shell (navigation, theme, an empty ``<main>``) naming its
JavaScript module under ``static/pages/``, served joined with the modules it imports
(:func:`.assets.bundle`); the module draws the page from the HTTP API. The shell holds no
data, so it is cheap to serve and never stale.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

STATIC_PREFIX = "/ui/static/"
VENDOR_PREFIX = "/ui/vendor/"
BUNDLE_DIR = "bundle/"  # under the static prefix: each page's modules joined


@dataclass(frozen=True, slots=True)
class Page:
    """``module`` is ``static/pages/<module>.js``; ``vendor`` names files of :data:`VENDOR`
    (:mod:`.assets`) the page loads before its module."""

    title: str
    module: str
    nav: str
    vendor: tuple[str, ...] = ()


UPLOT = ("uPlot.min.css", "uPlot.iife.min.js")

PAGES = {
    "/alerts": Page("Alerts", "alerts", "Alerts"),
    "/config": Page("Configuration", "config", "Config"),
    "/flags": Page("Command-line flags", "flags", "Flags"),
    "/hpa": Page("Horizontal Pod Autoscalers", "hpa", "HPAs", UPLOT),
    "/query": Page("Query", "query", "Query", UPLOT),
    "/rules": Page("Rule health", "rules", "Rules"),
    "/status": Page("Runtime & build information", "status", "Status"),
    "/targets": Page("Target health", "targets", "Targets"),
    "/top": Page("Top", "top", "Top"),
    "/tsdb-status": Page("TSDB status", "tsdb", "TSDB"),
}

#: The navigation bar's order.
NAV = (
    "/query",
    "/alerts",
    "/rules",
    "/targets",
    "/top",
    "/hpa",
    "/status",
    "/tsdb-status",
    "/flags",
    "/config",
)

_THEMES = (("auto", "Auto"), ("light", "Light"), ("dark", "Dark"))


def _vendor_tag(url: str) -> str:
    url = html.escape(url)
    if url.endswith(".css"):
        return f'<link rel="stylesheet" href="{url}">'
    return f'<script defer src="{url}"></script>'


@dataclass(frozen=True, slots=True)
class Links:
    """Where a page finds its files: ``static`` is the prefix of the files under
    ``static/`` (versioned, see :mod:`.files`), ``vendor`` the URL of each file of
    :data:`VENDOR` (:mod:`.assets`), ``head_script`` the script run before the page paints
    (inline: it would otherwise be one more request the parser waits for)."""

    static: str
    vendor: Mapping[str, str]
    head_script: str


def shell(path: str, links: Links) -> str:
    """The HTML of the page at ``path`` (a key of :data:`PAGES`); its script is its module
    joined with those it imports (:func:`.assets.bundle`), at ``bundle/<module>.js``."""
    page = PAGES[path]
    nav = "".join(
        f'<a href="{p}"{" aria-current=page" if p == path else ""}>{html.escape(PAGES[p].nav)}</a>'
        for p in NAV
    )
    themes = "".join(f'<option value="{v}">{t}</option>' for v, t in _THEMES)
    vendor = "".join(_vendor_tag(links.vendor[name]) for name in page.vendor)
    static = html.escape(links.static)
    module = f"{static}{BUNDLE_DIR}{page.module}.js"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(page.title)} - kubeprom</title>"
        f'<link rel="icon" href="{static}favicon.svg" type="image/svg+xml">'
        f'<link rel="stylesheet" href="{static}style.css">'
        f"<script>{links.head_script}</script>"
        f"{vendor}"
        f'<script type="module" src="{module}"></script>'
        "</head>"
        f'<body data-page="{page.module}">'
        '<a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><a class="brand" href="/query">kubeprom</a>'
        f'<nav aria-label="Pages">{nav}</nav>'
        '<label class="theme">Theme <select id="theme-select">'
        f"{themes}</select></label></header>"
        f'<main id="main" tabindex="-1"><h1>{html.escape(page.title)}</h1>'
        '<div id="page" aria-live="polite"><p class="muted">Loading…</p></div></main>'
        "</body></html>\n"
    )
