"""The server's self-metrics: queued updates reach the registry's readers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubeprom.web.metrics import QueryMetrics


def _count_without_applying(m: QueryMetrics, slice_: str) -> float:
    (family,) = m.duration.collect()  # the metric alone: no applier runs
    return next(
        s.value for s in family.samples if s.name.endswith("_count") and s.labels["slice"] == slice_
    )


def test_queued_query_timings_apply_when_the_registry_is_read() -> None:
    registry = CollectorRegistry()
    m = QueryMetrics(registry, 4)
    m.timed(0.25, 0.5)
    m.timed(0.25, 1.5)
    assert _count_without_applying(m, "inner_eval") == 0
    name = "prometheus_engine_query_duration_seconds"
    assert registry.get_sample_value(f"{name}_sum", {"slice": "inner_eval"}) == 2.0
    assert registry.get_sample_value(f"{name}_count", {"slice": "queue_time"}) == 2.0
    assert registry.get_sample_value(f"{name}_sum", {"slice": "queue_time"}) == 0.5


def test_queued_query_timings_apply_at_256_without_a_read() -> None:
    m = QueryMetrics(CollectorRegistry(), 4)
    for _ in range(255):
        m.timed(0.0, 0.001)
    assert _count_without_applying(m, "inner_eval") == 0
    m.timed(0.0, 0.001)
    assert _count_without_applying(m, "inner_eval") == 256


def test_queries_in_flight_are_read_at_collection() -> None:
    registry = CollectorRegistry()
    m = QueryMetrics(registry, 4)
    m.running += 3
    assert registry.get_sample_value("prometheus_engine_queries") == 3.0
    m.running -= 3
    assert registry.get_sample_value("prometheus_engine_queries") == 0.0
