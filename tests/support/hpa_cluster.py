"""One Deployment on one node with HPAs synced for two minutes: the world the HPA API and
kubectl tests serve."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.model.events import EventLog
from tests.support.hpa_live import SCRAPE, T0_MS, Live, live

_T = TypeVar("_T")

T0 = T0_MS
CLUSTER = """
cluster:
  seed: 3
  nodes: [{name: n1, capacity: {cpu: "2", memory: 8Gi}}]
  deployments:
    - metadata: {name: web, labels: {app: web}}
      spec:
        replicas: 2
        template:
          spec:
            containers:
              - {name: app, image: nginx, resources: {requests: {cpu: 500m, memory: 64Mi}}}
      load: {type: constant, rps: 100, cpu_per_request: 10m, baseline_cpu: 0}
"""
SYNCED_MS = 105_000  # the last of eight syncs, 15 s apart from T0


class Running:
    """:data:`CLUSTER` with the HPAs of ``manifests`` (one file's documents) running live in
    its own thread's event loop: scraped, synced every 15 s, metrics read with PromQL.
    Step it with :meth:`advance`; :meth:`close` it."""

    def __init__(self, manifests: str) -> None:
        docs = [d for d in manifests.split("\n---\n") if d.strip()]
        items = "".join(
            textwrap.indent(d.strip() + "\n", "    ").replace("    ", "  - ", 1) for d in docs
        )
        self._cm = live(f"{SCRAPE}horizontal_pod_autoscalers:\n{items}{CLUSTER}")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.world: Live = self._call(self._cm.__aenter__())

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def advance(self, t_ms: int) -> None:
        """Run the world to ``t_ms``."""
        self._call(self.world.until(t_ms))

    def close(self) -> None:
        self._call(self._cm.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def synced(manifests: str) -> tuple[SimulatedCluster, Autoscalers, EventLog]:
    """:class:`Running` to :data:`T0` + :data:`SYNCED_MS`, then stopped (100 rps x 10m on
    500m pods: a CPU HPA on ``web`` scales up)."""
    running = Running(manifests)
    try:
        running.advance(T0 + SYNCED_MS)
    finally:
        running.close()
    w = running.world
    return w.cluster, w.hpas, w.events
