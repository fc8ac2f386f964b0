"""Serving the exporters over HTTP on loopback: every target, both formats, live clock."""

from __future__ import annotations

import aiohttp
import pytest

from kubeprom.clock import VirtualClock
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.server import ExporterServer
from kubeprom.scraper.exposition import ACCEPT_HEADER

from .helpers import cluster, deployment, one, parse

T0 = 1_700_000_000.0
NODES = '{count: 2, capacity: {cpu: "4", memory: 8Gi}}'


async def test_every_target_is_served_in_both_formats() -> None:
    sim = SimulatedCluster(cluster(deployment(replicas=3), nodes=NODES), start_s=T0)
    async with ExporterServer(sim) as server, aiohttp.ClientSession() as http:
        targets = server.targets()
        assert [(t.job, t.node, t.metrics_path) for t in targets] == [
            ("cadvisor", "node-1", "/metrics/cadvisor"),
            ("kubelet", "node-1", "/metrics/resource"),
            ("cadvisor", "node-2", "/metrics/cadvisor"),
            ("kubelet", "node-2", "/metrics/resource"),
            ("kube-state-metrics", None, "/metrics"),
        ]
        assert len({t.address for t in targets}) == 3  # one server per node, one for KSM
        for target in targets:
            assert target.address.startswith("127.0.0.1:")
            assert not target.address.endswith(":0")
            labels = target.discovery_labels()
            assert labels["__address__"] == target.address
            assert labels["__metrics_path__"] == target.metrics_path
            if target.node:
                assert labels["__meta_kubernetes_node_name"] == target.node
                assert labels["__meta_kubernetes_node_address_InternalIP"].startswith("10.")
            for accept, om in ((ACCEPT_HEADER, True), ("text/plain;version=0.0.4", False)):
                async with http.get(target.url, headers={"Accept": accept}) as resp:
                    assert resp.status == 200
                    body = await resp.read()
                    media = resp.headers["Content-Type"].split(";")[0]
                    assert media == ("application/openmetrics-text" if om else "text/plain")
                samples = parse(body, openmetrics=om)
                assert len(samples) > 5
        async with http.get(f"http://{targets[0].address}/healthz") as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
    assert server.targets() == []  # stopped
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(targets[0].url):
            pass


async def test_with_a_clock_each_scrape_advances_the_cluster() -> None:
    load = "{type: constant, rps: 10, cpu_per_request: 10m, baseline_cpu: 0}"
    sim = SimulatedCluster(cluster(deployment(replicas=1, load=load)), start_s=T0)
    clock = VirtualClock(round(T0 * 1000))
    async with ExporterServer(sim, clock=clock) as server, aiohttp.ClientSession() as http:
        url = next(t.url for t in server.targets() if t.job == "kubelet")

        async def node_cpu() -> tuple[float, int | None]:
            async with http.get(url) as resp:
                sample = one(parse(await resp.read()), "node_cpu_usage_seconds_total")
            return sample.value, sample.timestamp_ms

        first = await node_cpu()
        await clock.set_ms(round((T0 + 100) * 1000))
        second = await node_cpu()
    assert first[1] == round(T0 * 1000)
    assert second[1] == round((T0 + 100) * 1000)
    assert second[0] - first[0] == pytest.approx(100 * (0.1 + 0.05))  # pod + node overhead


async def test_the_broker_is_served_with_a_queue_worker() -> None:
    worker = deployment(
        "worker",
        replicas=0,
        load="{type: constant, rps: 2, cpu_per_request: 10m}",
        extra=", queue: {name: orders, consume_rate: 1}",
    )
    sim = SimulatedCluster(cluster(worker, nodes=NODES), start_s=T0)
    clock = VirtualClock(int(T0 * 1000))
    async with ExporterServer(sim, clock=clock) as server, aiohttp.ClientSession() as http:
        broker = server.targets()[-1]
        assert (broker.job, broker.node, broker.metrics_path) == (
            "rabbitmq",
            None,
            "/metrics/per-object",
        )
        await clock.set_ms(int(T0 * 1000) + 30_000)  # 60 messages published, no consumer
        async with http.get(broker.url) as resp:
            assert resp.status == 200
            samples = parse(await resp.read())
        ready = one(samples, "rabbitmq_queue_messages_ready", vhost="/", queue="orders")
        assert ready.value == 60.0
        async with http.get(f"http://{broker.address}/healthz") as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
