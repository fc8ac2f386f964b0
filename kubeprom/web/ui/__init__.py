"""The web UI: pages at Prometheus 3.x's paths (``/query``, ``/targets``, ``/alerts``, ...)
plus ``/top`` and ``/hpa``, drawn in the browser from the HTTP API with plain JavaScript
modules (``static/``) and uPlot from an installed distribution (:mod:`.assets`)."""

from kubeprom.web.ui.pages import NAV, PAGES, Page
from kubeprom.web.ui.routes import UI

__all__ = ["NAV", "PAGES", "UI", "Page"]
