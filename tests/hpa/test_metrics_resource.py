"""Resource metrics through PromQL give what metrics-server would serve.

The expectation is computed independently: the kubelet bodies the scrapes received are
decoded and stored the way metrics-server's ``decodeBatch`` and ``podStorage.Store`` do, and
served as ``GetMetrics`` serves them, in plain Python; the PromQL source reads the same
scrapes back from the store. They must agree pod for pod, value for value, at many times:
steady pods, pods just created (fresh containers, missing points), containers restarted by
the OOM killer, pods being deleted.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass, field

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from kubeprom.errors import ParseError
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.metrics_resource import (
    FRESH_CONTAINER_MIN_NS,
    MetricsServerConfig,
    Verdict,
    read_resource_metrics,
)
from kubeprom.hpa.pods import Pod, PodList, PodSamples
from kubeprom.hpa.source import MetricFailure
from kubeprom.promql.api import QueryAPI, QueryResult
from tests.hpa.simrun import CONFIG, START_MS, Body, Sim, simulate

RESOLUTION_NS = 60 * 1_000_000_000


# ---- metrics-server, from its source (pkg/scraper/client/resource/decode.go, pkg/storage) ----
@dataclass
class Point:
    start_ns: int = 0  # Go's zero time when the kubelet gave none
    ts_ns: int = 0
    cpu: int = 0
    mem: int = 0


def decode(text: str) -> dict[str, dict[str, Point]]:
    """``decodeBatch`` for pods: pod -> container -> point; incomplete pods dropped."""
    pods: dict[str, dict[str, Point]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name not in (
                "container_cpu_usage_seconds_total",
                "container_memory_working_set_bytes",
                "container_start_time_seconds",
            ):
                continue
            key = f"{s.labels['namespace']}/{s.labels['pod']}"
            p = pods.setdefault(key, {}).setdefault(s.labels["container"], Point())
            if s.name == "container_start_time_seconds":
                p.start_ns = int(s.value * 1e9)
                continue
            ts_ms = round(float(s.timestamp) * 1000)  # the ms Prometheus' parser gives
            p.ts_ns = ts_ms * 1_000_000
            if s.name == "container_cpu_usage_seconds_total":
                p.cpu = int(s.value * 1e9)
            else:
                p.mem = int(s.value)
    return {k: c for k, c in pods.items() if all(p.cpu != 0 and p.mem != 0 for p in c.values())}


@dataclass
class PodStorage:
    last: dict[str, dict[str, Point]] = field(default_factory=dict)
    prev: dict[str, dict[str, Point]] = field(default_factory=dict)

    def store(self, batch: dict[str, dict[str, Point]]) -> None:
        last: dict[str, dict[str, Point]] = {}
        prev: dict[str, dict[str, Point]] = {}
        for pod, containers in batch.items():
            new_last: dict[str, Point] = {}
            new_prev: dict[str, Point] = {}
            for name, p in containers.items():
                new_last[name] = p
                age = p.ts_ns - p.start_ns
                if p.start_ns < p.ts_ns and FRESH_CONTAINER_MIN_NS <= age < RESOLUTION_NS:
                    new_prev[name] = Point(p.start_ns, p.start_ns, 0, p.mem)
                elif pod in self.last:
                    stored = self.last[pod].get(name)
                    if stored is not None and p.start_ns < stored.ts_ns:
                        if p.ts_ns > stored.ts_ns:
                            new_prev[name] = stored
                        elif pod in self.prev:
                            before = self.prev[pod].get(name, Point())  # Go's zero point
                            if before.ts_ns < p.ts_ns:
                                new_prev[name] = before
            if new_prev:
                prev[pod] = new_prev
            last[pod] = new_last
        self.last, self.prev = last, prev

    def get(self, pod: str) -> tuple[int, int, dict[str, tuple[int, int]]] | None:
        """(timestamp ns, window ns, container -> (nanocores, bytes)), or not served."""
        if pod not in self.last or pod not in self.prev:
            return None
        usage: dict[str, tuple[int, int]] = {}
        earliest: tuple[int, int] | None = None
        for name, last in self.last[pod].items():
            prev = self.prev[pod].get(name)
            if prev is None:
                return None
            if last.start_ns < prev.start_ns or last.cpu < prev.cpu:
                continue
            window = last.ts_ns - prev.ts_ns
            seconds = window // 10**9 + (window % 10**9) / 1e9
            usage[name] = (int((last.cpu - prev.cpu) / seconds), last.mem)
            if earliest is None or earliest[0] > last.ts_ns:
                earliest = (last.ts_ns, window)
        ts, window = earliest if earliest is not None else (0, 0)
        return ts, window, usage


def metrics_server(bodies: list[Body], t_ms: int) -> dict[str, PodStorage]:
    """Per node, the storage after every scrape up to ``t_ms``."""
    nodes: dict[str, PodStorage] = {}
    for body in bodies:
        if body.t_ms <= t_ms:
            nodes.setdefault(body.node, PodStorage()).store(decode(body.text))
    return nodes


def expected(
    nodes: dict[str, PodStorage], pods: list[str], resource: str
) -> dict[str, tuple[int, int, int]]:
    """What the HPA's resource client gets: pod -> (milli value, timestamp ms, window ms)."""
    out = {}
    for pod in pods:
        for storage in nodes.values():
            got = storage.get(f"default/{pod}")
            if got is None:
                continue
            ts, window, usage = got
            if not usage:
                break
            if resource == "cpu":
                value = sum(math.ceil(nc / 1_000_000) for nc, _ in usage.values())
            else:
                value = sum(mem * 1000 for _, mem in usage.values())
            out[pod] = (value, ts // 1_000_000, -(-window // 1_000_000))
            break
    return out


def as_dict(samples: PodSamples | MetricFailure) -> dict[str, tuple[int, int, int]]:
    assert isinstance(samples, PodSamples), samples
    return {
        str(n): (int(v), int(t), int(w))
        for n, v, t, w in zip(
            samples.names, samples.values, samples.timestamp_ms, samples.window_ms, strict=True
        )
    }


# ---- the checkpoints -----------------------------------------------------------------------
@dataclass
class Observation:
    t_ms: int
    pods: list[str]
    got: dict[str, dict[str, tuple[int, int, int]]]
    verdicts: dict[str, str]


OBSERVATIONS: list[Observation] = []
CHECK_OFFSETS_S = [125, 200, 301, 305, 309, 313, 318, 321, 326, 333, 347, 362, 390, 420, 500, 640]


def _observe(sim: Sim) -> None:
    t = sim.clock.now_ms()
    names = sorted(p.name for p in sim.cluster.pods() if p.namespace == "default")
    pods = PodList.of([Pod(n) for n in names])
    reading = read_resource_metrics(
        sim.api, "default", pods, t, MetricsServerConfig(metric_resolution_ms=60_000)
    )
    got = {
        "cpu": as_dict(reading.samples("default", "cpu", "")),
        "memory": as_dict(reading.samples("default", "memory", "")),
    }
    verdicts = {
        f"{p}/{c}": str(v)
        for p, c, v in zip(
            reading.scan.pod, reading.scan.container, reading.scan.verdict, strict=True
        )
    }
    OBSERVATIONS.append(Observation(t, names, got, verdicts))


def _scale_up(sim: Sim) -> None:
    _observe(sim)
    sim.cluster.scale("default", "web", 6)


@pytest.fixture(scope="module")
def run() -> Sim:
    OBSERVATIONS.clear()
    checkpoints = [(s * 1000, _scale_up if s == 301 else _observe) for s in CHECK_OFFSETS_S]
    return asyncio.run(simulate(CONFIG, checkpoints))


@pytest.mark.parametrize(
    "index", range(len(CHECK_OFFSETS_S)), ids=[f"t+{s}s" for s in CHECK_OFFSETS_S]
)
def test_same_as_metrics_server(run: Sim, index: int) -> None:
    obs = OBSERVATIONS[index]
    nodes = metrics_server(run.kubelet_bodies, obs.t_ms)
    for resource in ("cpu", "memory"):
        want = expected(nodes, obs.pods, resource)
        assert obs.got[resource] == want, resource
    assert len(obs.got["cpu"]) >= 2


def test_the_run_covers_the_interesting_cases(run: Sim) -> None:
    """The comparison above is only worth something if the run has fresh containers,
    restarts and pods whose previous point is missing."""
    seen = {v for obs in OBSERVATIONS for v in obs.verdicts.values()}
    assert {Verdict.OK, Verdict.FRESH, Verdict.NO_PREVIOUS} <= seen
    # the leaky workers are OOM-killed: restarted or not scraped while crash-looping
    assert seen & {Verdict.RESTARTED, Verdict.NOT_SCRAPED}
    # the scaled-up web pods are served once they have two points (or a fresh one)
    last = OBSERVATIONS[-1]
    assert len([p for p in last.got["cpu"] if p.startswith("web-")]) == 6
    assert last.t_ms > START_MS


def test_a_failing_query_makes_the_api_unavailable(run: Sim) -> None:
    class Broken:
        def instant(self, expr: str, t_ms: int) -> object:
            raise ParseError("unexpected end of input", query=expr)

        def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> object:
            raise AssertionError("not used")

    reading = read_resource_metrics(Broken(), "default", PodList.of([Pod("a")]), 0)  # type: ignore[arg-type]
    assert reading.error is not None
    failure = reading.samples("default", "cpu", "")
    assert isinstance(failure, MetricFailure)
    assert failure.message == (
        "unable to fetch metrics from resource metrics API: the server is currently unable to "
        "handle the request (get pods.metrics.k8s.io)"
    )


def test_no_pods_served_is_no_metrics(run: Sim) -> None:
    reading = read_resource_metrics(
        run.api, "default", PodList.of([Pod("nope")]), OBSERVATIONS[-1].t_ms
    )
    failure = reading.samples("default", "cpu", "")
    assert failure == MetricFailure("no metrics returned from resource metrics API")


def test_container_metrics(run: Sim) -> None:
    obs = OBSERVATIONS[-1]
    web = PodList.of([Pod(n) for n in obs.pods if n.startswith("web-")])
    reading = read_resource_metrics(run.api, "default", web, obs.t_ms)
    proxy = as_dict(reading.samples("default", "cpu", "proxy"))
    nodes = metrics_server(run.kubelet_bodies, obs.t_ms)
    for pod, (value, ts, window) in proxy.items():
        storage = next(s for s in nodes.values() if s.get(f"default/{pod}") is not None)
        got = storage.get(f"default/{pod}")
        assert got is not None
        assert value == math.ceil(got[2]["proxy"][0] / 1_000_000)
        assert (ts, window) == (got[0] // 1_000_000, -(-got[1] // 1_000_000))
    assert len(proxy) == 6
    # a pod without the container fails the whole metric, as getContainerMetrics does
    everyone = PodList.of([Pod(n) for n in obs.pods])
    reading = read_resource_metrics(run.api, "default", everyone, obs.t_ms)
    failure = reading.samples("default", "cpu", "proxy")
    assert isinstance(failure, MetricFailure)
    assert failure.message.startswith(
        "failed to get container metrics: container proxy not present in metrics for pod "
        "default/leaky-"
    )


class CountingAPI:
    """Passes queries to ``api`` and counts each (expr, time) it evaluated."""

    def __init__(self, api: QueryAPI) -> None:
        self.api = api
        self.asked: Counter[tuple[str, int]] = Counter()

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        self.asked[(expr, t_ms)] += 1
        return self.api.instant(expr, t_ms)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        self.asked[(expr, end_ms)] += 1
        return self.api.range(expr, start_ms, end_ms, step_ms)


def _two_hpas(
    backends: MetricsBackends, t_ms: int, names: list[str]
) -> list[dict[str, tuple[int, int, int]]]:
    web = PodList.of([Pod(n) for n in names if n.startswith("web-")])
    rest = PodList.of([Pod(n) for n in names if not n.startswith("web-")])
    out = []
    for pods in (web, rest):
        got = backends.source(pods, t_ms).resource("default", "", "cpu", "")
        assert isinstance(got, PodSamples)
        out.append(as_dict(got))
    return out


def test_hpas_of_one_namespace_share_the_kubelet_queries_within_a_sync(run: Sim) -> None:
    obs = OBSERVATIONS[-1]
    alone = CountingAPI(run.api)
    apart = _two_hpas(MetricsBackends(alone), obs.t_ms, obs.pods)
    assert set(alone.asked.values()) == {2}  # each HPA ran every query
    counting = CountingAPI(run.api)
    backends = MetricsBackends(counting)
    with backends.sync(obs.t_ms):
        together = _two_hpas(backends, obs.t_ms, obs.pods)
    assert together == apart
    assert len(apart[0]) == 6
    assert len(apart[1]) >= 1
    assert counting.asked == Counter(dict.fromkeys(alone.asked, 1))
    # Outside a sync nothing is kept: the same reads evaluate every query again.
    _two_hpas(backends, obs.t_ms, obs.pods)
    assert set(counting.asked.values()) == {3}
