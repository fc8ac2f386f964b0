"""The HTTP server: Prometheus-compatible endpoints over aiohttp."""

from kubeprom.web.app import build_app

__all__ = ["build_app"]
