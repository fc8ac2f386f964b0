"""The aiohttp application: the Prometheus-compatible routes over small role protocols."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubeprom.web.envelope import APIError, error
from kubeprom.web.query import QueryHandlers
from kubeprom.web.targets import TargetsView, targets_handler

REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="kubeprom is Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="kubeprom is Ready.\n")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render APIError in Prometheus' error envelope; the only place errors become HTTP."""
    try:
        return await handler(request)
    except APIError as err:
        return error(err.kind, err.message)


def build_app(
    registry: CollectorRegistry,
    *,
    targets: TargetsView | None = None,
    query: QueryHandlers | None = None,
) -> web.Application:
    """The server's routes; ``registry`` holds the collectors served on ``/metrics``."""
    app = web.Application(middlewares=[api_errors])
    app[REGISTRY_KEY] = registry
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/metrics", metrics)
    if targets is not None:
        app.router.add_get("/api/v1/targets", targets_handler(targets))
    if query is not None:
        query.add_routes(app)
    return app
