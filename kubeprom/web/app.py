"""The aiohttp application: health, readiness and self-instrumentation endpoints."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="kubeprom is Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="kubeprom is Ready.\n")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(registry: CollectorRegistry) -> web.Application:
    """The server's routes; ``registry`` holds the collectors served on ``/metrics``."""
    app = web.Application()
    app[REGISTRY_KEY] = registry
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/metrics", metrics)
    return app
