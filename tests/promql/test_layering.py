"""``promql`` sees the store only through the Querier seam, and exports a pinned surface."""

from __future__ import annotations

import importlib

from tests.test_architecture import scan

UPPER = ("cli", "web", "rules", "hpa", "top", "sim", "scraper", "exporters", "config")


# The promqltest runner loads its ``load`` blocks into the in-memory store; the engine and
# everything it runs see only the Querier seam.
LOADERS = {"kubeprom.promql.promqltest": ("kubeprom.tsdb.api", "kubeprom.tsdb.memstore")}


def test_promql_imports_only_the_store_seam() -> None:
    bad = []
    for module, (path, imports) in scan().items():
        if not module.startswith("kubeprom.promql"):
            continue
        allowed = LOADERS.get(module, ("kubeprom.tsdb.api",))
        for line, name in imports:
            if name.startswith("kubeprom.tsdb") and not name.startswith(allowed):
                bad.append(f"{path.name}:{line}: {name}")
            if any(name.startswith(f"kubeprom.{p}") for p in UPPER):
                bad.append(f"{path.name}:{line}: {name}")
    assert bad == []


def test_exported_members() -> None:
    mod = importlib.import_module("kubeprom.promql")
    assert sorted(mod.__all__) == [
        "EngineOptions",
        "LocalQueryAPI",
        "QueryAPI",
        "QueryResult",
        "ResultType",
        "parse",
    ]
    assert all(hasattr(mod, name) for name in mod.__all__)
