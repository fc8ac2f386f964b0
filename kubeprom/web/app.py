"""The aiohttp application: the Prometheus-compatible routes over small role protocols.

Middlewares, outermost first: HTTP metrics (every request is counted, rejected ones too),
basic authentication (when the web config has users), then the error edge that renders
:class:`APIError` and unknown ``/api/v1`` paths in Prometheus' JSON envelope.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubeprom.clock import Clock, RealClock
from kubeprom.errors import APIError, ErrorType, KubepromError
from kubeprom.web import status as status_routes
from kubeprom.web.admin import AdminHandlers
from kubeprom.web.envelope import error
from kubeprom.web.federate import FederateHandler
from kubeprom.web.hpa_view import HPAView
from kubeprom.web.keys import CLOCK_KEY
from kubeprom.web.kube import KubeHandlers
from kubeprom.web.metrics import HTTPMetrics, QueryMetrics
from kubeprom.web.query import QueryHandlers
from kubeprom.web.remote import RemoteReadHandler, RemoteWriteReceiver
from kubeprom.web.rules import RulesHandlers
from kubeprom.web.security import BasicAuth, add_headers
from kubeprom.web.series import SeriesHandlers
from kubeprom.web.status import ServerStatus, StatusHandlers
from kubeprom.web.targets import TargetsView, targets_handler
from kubeprom.web.ui import UI
from kubeprom.web.webconfig import WebConfig

REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Reload = Callable[[], Awaitable[None]]
"""Reloads the configuration (as SIGHUP does); raises KubepromError when it is invalid."""


@dataclass(frozen=True, slots=True)
class HTTPLimits:
    """Request size limits. Larger bodies get 413; longer lines or headers get 400."""

    max_body_bytes: int = 10 << 20  # Go's ParseForm cap on url-encoded bodies
    max_line_bytes: int = 64 << 10  # request line: long GET queries fit
    max_field_bytes: int = 16 << 10  # one header
    max_headers: int = 100


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="kubeprom is Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="kubeprom is Ready.\n")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def reload_handler(reload: Reload) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        try:
            await reload()
        except KubepromError as err:
            return web.Response(status=500, text=f"failed to reload config: {err}\n")
        return web.Response(status=200)

    return handle


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render APIError in Prometheus' error envelope; the only place errors become HTTP."""
    try:
        return await handler(request)
    except APIError as err:
        return error(err.kind, err.message, status=err.status)
    except web.HTTPNotFound:
        if request.path.startswith("/api/v1/"):
            return error(ErrorType.NOT_FOUND, "not found")
        raise


def build_app(
    registry: CollectorRegistry,
    *,
    clock: Clock | None = None,
    targets: TargetsView | None = None,
    query: QueryHandlers | None = None,
    series: SeriesHandlers | None = None,
    status: ServerStatus | None = None,
    federate: FederateHandler | None = None,
    admin: AdminHandlers | None = None,
    reload: Reload | None = None,
    rules: RulesHandlers | None = None,
    web_config: WebConfig | None = None,
    limits: HTTPLimits | None = None,
    kube: KubeHandlers | None = None,
    hpa_view: HPAView | None = None,
    remote_write: RemoteWriteReceiver | None = None,
    remote_read: RemoteReadHandler | None = None,
    agent: bool = False,
) -> web.Application:
    """The server's routes; ``registry`` holds the collectors served on ``/metrics`` and
    receives the HTTP and query metrics. Parts left as None are not served.

    ``clock`` (the real clock by default) is every handler's "now" and times requests.
    """
    limits = limits or HTTPLimits()
    web_config = web_config or WebConfig()
    clock = clock or RealClock()
    http_metrics = HTTPMetrics(registry, clock)
    middlewares: list[Any] = [http_metrics.middleware()]
    if web_config.basic_auth_users:
        middlewares.append(BasicAuth(web_config.basic_auth_users).middleware())
    middlewares.append(api_errors)
    app = web.Application(middlewares=middlewares, client_max_size=limits.max_body_bytes)
    if web_config.headers:
        add_headers(app, web_config.headers)
    app[REGISTRY_KEY] = registry
    app[CLOCK_KEY] = clock
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/metrics", metrics)
    if reload is not None:
        app.router.add_post("/-/reload", reload_handler(reload))
        app.router.add_put("/-/reload", reload_handler(reload))
    if targets is not None:
        app.router.add_get("/api/v1/targets", targets_handler(targets))
    if query is not None:
        query.add_routes(app, QueryMetrics(registry, query.max_concurrency))
    if series is not None:
        series.add_routes(app)
    if status is not None:
        StatusHandlers(status).add_routes(app)
    if federate is not None:
        federate.add_routes(app)
    if agent:
        add_agent_routes(app)
    else:
        (admin or AdminHandlers(None)).add_routes(app)
        if rules is not None:
            rules.add_routes(app)
        if kube is not None:
            kube.add_routes(app)
        if hpa_view is not None:
            hpa_view.add_routes(app)
        status_routes.add_routes(app, with_rules=rules is None)
    if remote_write is not None:
        remote_write.add_routes(app)
    else:
        app.router.add_post("/api/v1/write", remote_write_disabled)
    if remote_read is not None:
        remote_read.add_routes(app)
    UI(query.api if query is not None else None, clock).add_routes(app)  # pages, `/` -> /query
    return app


# The routes Prometheus' agent answers with "unavailable with Prometheus Agent" (its
# wrapAgent in web/api/v1/api.go).
AGENT_UNAVAILABLE = (
    (("GET", "POST"), "/api/v1/query"),
    (("GET", "POST"), "/api/v1/query_range"),
    (("GET", "POST"), "/api/v1/query_exemplars"),
    (("GET", "POST"), "/api/v1/format_query"),
    (("GET", "POST"), "/api/v1/labels"),
    (("GET",), "/api/v1/label/{name}/values"),
    (("GET", "POST", "DELETE"), "/api/v1/series"),
    (("GET",), "/api/v1/alertmanagers"),
    (("GET",), "/api/v1/status/tsdb"),
    (("GET",), "/api/v1/alerts"),
    (("GET",), "/api/v1/rules"),
    (("POST", "PUT"), "/api/v1/admin/tsdb/delete_series"),
    (("POST", "PUT"), "/api/v1/admin/tsdb/clean_tombstones"),
    (("POST", "PUT"), "/api/v1/admin/tsdb/snapshot"),
)


async def agent_unavailable(request: web.Request) -> web.Response:
    return error(ErrorType.EXECUTION, "unavailable with Prometheus Agent")


async def agent_federate(request: web.Request) -> web.Response:
    return web.Response(status=500, text="unsupported operation with WAL-only storage\n")


def add_agent_routes(app: web.Application) -> None:
    """Agent mode: nothing can be queried; answer as Prometheus' agent does."""
    for methods, path in AGENT_UNAVAILABLE:
        for method in methods:
            app.router.add_route(method, path, agent_unavailable)
    app.router.add_get("/federate", agent_federate)


async def remote_write_disabled(request: web.Request) -> web.Response:
    """Prometheus 2.42's answer (and words) when the receiver is off."""
    return web.Response(
        status=404,
        text="remote write receiver needs to be enabled with "
        "--enable-feature=remote-write-receiver\n",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    *,
    web_config: WebConfig | None = None,
    limits: HTTPLimits | None = None,
) -> web.AppRunner:
    """Listen on ``host:port`` (HTTPS when the web config has TLS); the caller cleans up the
    returned runner. Raises ConfigError for unloadable certificates, OSError for the port."""
    limits = limits or HTTPLimits()
    ctx: ssl.SSLContext | None = None
    if web_config is not None and web_config.tls is not None:
        ctx = web_config.tls.context()
    runner = web.AppRunner(
        app,
        max_line_size=limits.max_line_bytes,
        max_field_size=limits.max_field_bytes,
        max_headers=limits.max_headers,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ctx).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
