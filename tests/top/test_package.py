"""The top package's public surface, and that it reads only through the query seam."""

from __future__ import annotations

import kubeprom.top
from tests.test_architecture import isort_style_key, scan, violations

EXPORTED = [
    "Available",
    "BadRequest",
    "ContainerMetrics",
    "Extras",
    "MetricsSource",
    "NodeMetrics",
    "NodeRequest",
    "NodeResult",
    "NotFound",
    "OutputFormat",
    "PodMetrics",
    "PodRequest",
    "PodResult",
    "Queries",
    "RequestsLimits",
    "SortBy",
    "Sources",
    "TopError",
    "Usage",
    "dump",
    "node_metrics_list",
    "node_table",
    "parse_sort_by",
    "pod_metrics_list",
    "pod_table",
    "top_node",
    "top_pod",
]


def test_exported_members() -> None:
    exported = list(kubeprom.top.__all__)
    assert exported == EXPORTED
    assert exported == sorted(exported, key=isort_style_key)
    assert [name for name in exported if not hasattr(kubeprom.top, name)] == []


def test_top_reads_only_through_the_query_seam() -> None:
    """No store, scraper, exporters, web or CLI: a QueryAPI is all top gets."""
    forbidden = [
        "kubeprom.cli",
        "kubeprom.exporters",
        "kubeprom.scraper",
        "kubeprom.sim",
        "kubeprom.tsdb",
        "kubeprom.web",
        "kubeprom.promql.engine",
    ]
    modules = scan()
    assert any(m.startswith("kubeprom.top.") for m in modules)
    assert violations("kubeprom.top", "forbid", forbidden, modules) == []
