"""Serving a simulated cluster's exporters over HTTP with aiohttp.

One aiohttp application per node (the kubelet: ``/metrics/cadvisor``, ``/metrics/resource``),
one for kube-state-metrics (``/metrics``) and, when a Deployment consumes a queue, one for
the RabbitMQ broker (``/metrics/per-object``), each with ``/healthz``. They bind ``host``
(loopback by default) on ports the OS picks (port 0), or, with ``base_port``,
kube-state-metrics on ``base_port``, node ``i`` (config order) on ``base_port + 1 + i`` and
the broker after the last node.
The addresses are known after :meth:`ExporterServer.start`; :meth:`ExporterServer.targets`
returns them as :class:`~kubeprom.exporters.targets.ServedTarget`.

With a ``clock``, each request first advances the cluster to the clock's time (live mode);
without one the caller drives the cluster. Responses are OpenMetrics when the Accept header
asks for it, else the text format 0.0.4.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from kubeprom.clock import Clock
from kubeprom.exporters.rabbitmq import PATH as PER_OBJECT_PATH
from kubeprom.exporters.targets import (
    CADVISOR_PATH,
    KSM_PATH,
    KSM_TARGET,
    RABBITMQ_TARGET,
    RESOURCE_PATH,
    ClusterExporters,
    ServedTarget,
    cadvisor_target,
    resource_target,
    wants_openmetrics,
)
from kubeprom.exporters.views import ClusterView

log = logging.getLogger(__name__)


class DrivableCluster(ClusterView, Protocol):
    """A cluster view that can also be moved forward in time."""

    def advance_to(self, t_s: float) -> None: ...


class ExporterServer:
    """The HTTP servers of every exporter of one cluster. Use from one event loop."""

    def __init__(
        self,
        cluster: DrivableCluster,
        *,
        host: str = "127.0.0.1",
        base_port: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.cluster = cluster
        self.exporters = ClusterExporters(cluster)
        self.host = host
        self.base_port = base_port
        self.clock = clock
        self._runners: dict[str, web.AppRunner] = {}
        self._addresses: dict[str, str] = {}

    def _handler(self, target_id: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if self.clock is not None:
                self.cluster.advance_to(self.clock.now_ms() / 1000)
            accept_om = wants_openmetrics(request.headers.get("Accept"))
            body, content_type = self.exporters.render(target_id, accept_om)
            return web.Response(body=body, headers={"Content-Type": content_type})

        return handle

    def _apps(self) -> dict[str, web.Application]:
        apps: dict[str, web.Application] = {}
        for node in self.cluster.nodes():
            app = web.Application()
            app.router.add_get(CADVISOR_PATH, self._handler(cadvisor_target(node.name)))
            app.router.add_get(RESOURCE_PATH, self._handler(resource_target(node.name)))
            app.router.add_get("/healthz", _healthz)
            apps[node.name] = app
        ksm = web.Application()
        ksm.router.add_get(KSM_PATH, self._handler(KSM_TARGET))
        ksm.router.add_get("/healthz", _healthz)
        apps[KSM_TARGET] = ksm
        if any(t.target_id == RABBITMQ_TARGET for t in self.exporters.targets()):
            broker = web.Application()
            broker.router.add_get(PER_OBJECT_PATH, self._handler(RABBITMQ_TARGET))
            broker.router.add_get("/healthz", _healthz)
            apps[RABBITMQ_TARGET] = broker
        return apps

    async def start(self) -> None:
        """Bind and serve every target; raises OSError if a port is taken."""
        apps = self._apps()
        names = [KSM_TARGET, *[n for n in apps if n not in (KSM_TARGET, RABBITMQ_TARGET)]]
        names += [RABBITMQ_TARGET] if RABBITMQ_TARGET in apps else []
        try:
            for i, name in enumerate(names):
                runner = web.AppRunner(apps[name], access_log=None)
                await runner.setup()
                self._runners[name] = runner
                port = 0 if self.base_port is None else self.base_port + i
                site = web.TCPSite(runner, self.host, port)
                await site.start()
                bound = runner.addresses[0]
                self._addresses[name] = _host_port(self.host, int(bound[1]))
                log.info("exporter serving target=%s address=%s", name, self._addresses[name])
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every server (idempotent)."""
        runners, self._runners = self._runners, {}
        self._addresses = {}
        for runner in runners.values():
            await runner.cleanup()

    def targets(self) -> list[ServedTarget]:
        """Every served target with its bound address (empty before :meth:`start`)."""
        if not self._addresses:
            return []
        return self.exporters.targets(self._addresses)

    async def __aenter__(self) -> ExporterServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
