"""``kubeprom exporter``: serve a simulated cluster's kubelets and kube-state-metrics alone.

The cluster comes from the ``cluster:`` section of ``--config`` (default: the embedded
kubeprom.yml) and follows the real clock: each scrape first advances it to now. Prints one
line per target URL, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from kubeprom.clock import RealClock
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.errors import KubepromError
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.server import ExporterServer


def add_parser(sub: Any) -> None:
    p = sub.add_parser("exporter", help="serve the simulated cluster's exporters alone")
    p.add_argument(
        "--config",
        default=None,
        help="configuration file with a cluster: section (default: the embedded kubeprom.yml)",
    )
    p.add_argument(
        "--listen-host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    p.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="kube-state-metrics on this port, node i on port+1+i (default: ports the OS picks)",
    )
    p.set_defaults(func=run)


async def serve(args: argparse.Namespace) -> None:
    spec = load_cluster_config(args.config)
    if spec is None:
        where = args.config or "the embedded kubeprom.yml"
        raise KubepromError(f"{where}: no cluster: section to simulate")
    clock = RealClock()
    cluster = SimulatedCluster(spec, start_s=clock.now_ms() / 1000)
    server = ExporterServer(cluster, host=args.listen_host, base_port=args.base_port, clock=clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        for target in server.targets():
            print(f"{target.job:<20} {target.url}", flush=True)
        await stop.wait()
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
