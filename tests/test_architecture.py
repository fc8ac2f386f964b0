"""The layering of DESIGN.md / STYLE.md, checked on the source, and the pinned public surface."""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "kubeprom"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, *, is_package: bool) -> list[tuple[int, str]]:
    """Every ``(line, dotted name)`` a module imports, anywhere in it (functions and
    ``TYPE_CHECKING`` blocks included); ``from a import b`` yields ``a.b``, relative imports
    are resolved against ``module``."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


Imports = dict[str, tuple[Path, list[tuple[int, str]]]]


@functools.cache
def scan() -> Imports:
    """Module name -> (file, its imports of kubeprom modules), for every module of kubeprom."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = module_name(path)
        imports = imports_of(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
        found[name] = (path, [(line, imp) for line, imp in imports if _under(imp, "kubeprom")])
    return found


# (the package whose modules are checked, "forbid" or "allow", the packages named)
RULES = {
    "tsdb-sees-no-upper-layer": (
        "kubeprom.tsdb",
        "forbid",
        [
            "kubeprom.cli",
            "kubeprom.exporters",
            "kubeprom.hpa",
            "kubeprom.promql",
            "kubeprom.rules",
            "kubeprom.scraper",
            "kubeprom.sim",
            "kubeprom.top",
            "kubeprom.web",
            "kubeprom.remote",
        ],
    ),
    "model-is-the-bottom": ("kubeprom.model", "allow", ["kubeprom.errors", "kubeprom.model"]),
    "exporters-skip-the-store": (
        "kubeprom.exporters",
        "forbid",
        ["kubeprom.promql", "kubeprom.tsdb"],
    ),
    "scraper-below-web-and-cli": ("kubeprom.scraper", "forbid", ["kubeprom.cli", "kubeprom.web"]),
    "hpa-reads-through-seams": (
        "kubeprom.hpa",
        "allow",
        [
            "kubeprom.clock",
            "kubeprom.config",
            "kubeprom.errors",
            "kubeprom.hpa",
            "kubeprom.model",
            "kubeprom.promql.api",
            "kubeprom.tsdb.api",
        ],
    ),
    "rules-read-through-the-seams": (
        "kubeprom.rules",
        "forbid",
        [
            "kubeprom.cli",
            "kubeprom.exporters",
            "kubeprom.hpa",
            "kubeprom.scraper",
            "kubeprom.sim",
            "kubeprom.top",
            "kubeprom.web",
        ],
    ),
    # remote write reads the store's WAL from the side, never its head, querier or blocks
    "remote-reads-the-wal": (
        "kubeprom.remote",
        "allow",
        [
            "kubeprom.__version__",
            "kubeprom.clock",
            "kubeprom.config",
            "kubeprom.errors",
            "kubeprom.model",
            "kubeprom.remote",
            "kubeprom.tsdb.wal",
            "kubeprom.tsdb.walcodec",
        ],
    ),
    # config (the http_config and its TLS transport included) is shared by every layer
    "config-is-low": (
        "kubeprom.config",
        "allow",
        ["kubeprom.clock", "kubeprom.config", "kubeprom.errors", "kubeprom.model"],
    ),
}


def violations(package: str, kind: str, named: list[str], modules: Imports) -> list[str]:
    """``file:line: imports name`` for each import of ``package``'s modules the rule rejects."""
    out = []
    for module, (path, imports) in modules.items():
        if not _under(module, package):
            continue
        for line, imported in imports:
            hit = any(_under(imported, p) for p in named)
            if hit == (kind == "forbid"):
                out.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: imports {imported}")
    return out


@pytest.mark.parametrize(("package", "kind", "named"), RULES.values(), ids=RULES.keys())
def test_imports_point_down(package: str, kind: str, named: list[str]) -> None:
    assert any(_under(m, package) for m in scan()), f"no modules found in {package}"
    assert violations(package, kind, named, scan()) == []


def test_the_scan_sees_real_imports() -> None:
    """Guards the checks above against scanning nothing."""
    modules = scan()
    assert {"kubeprom.clock", "kubeprom.model.labels", "kubeprom.tsdb.db"} <= set(modules)
    db_imports = {imp for _, imp in modules["kubeprom.tsdb.db"][1]}
    assert "kubeprom.tsdb.block.write_block" in db_imports
    assert "kubeprom.tsdb.querier.DBQuerier" in db_imports  # inside TYPE_CHECKING and a method
    assert {imp for _, imp in modules["kubeprom.model.labels"][1]} == {
        "kubeprom.errors.ValidationError",
        "kubeprom.model.gofmt.quote",
    }


@pytest.mark.parametrize(
    ("source", "module", "is_package", "want"),
    [
        ("import kubeprom.web.app", "kubeprom.tsdb.db", False, ["kubeprom.web.app"]),
        ("import kubeprom.web as w, os", "kubeprom.tsdb.db", False, ["kubeprom.web", "os"]),
        ("from kubeprom import web", "kubeprom.tsdb.db", False, ["kubeprom.web"]),
        ("from ..web import app", "kubeprom.tsdb.db", False, ["kubeprom.web.app"]),
        ("from . import wal", "kubeprom.tsdb", True, ["kubeprom.tsdb.wal"]),
        ("from .wal import WAL", "kubeprom.tsdb.db", False, ["kubeprom.tsdb.wal.WAL"]),
        (
            "def f():\n    from kubeprom.promql import x",
            "kubeprom.tsdb.db",
            False,
            ["kubeprom.promql.x"],
        ),
        ("if T:\n    from kubeprom.cli import *", "kubeprom.tsdb.db", False, ["kubeprom.cli.*"]),
    ],
    ids=[
        "import",
        "import-as",
        "from-package",
        "relative-parent",
        "relative-in-init",
        "relative-sibling",
        "in-function",
        "star-in-if",
    ],
)
def test_import_resolution(source: str, module: str, is_package: bool, want: list[str]) -> None:
    assert [imp for _, imp in imports_of(source, module, is_package=is_package)] == want


def test_a_violation_is_reported_with_its_place() -> None:
    fake = {
        "kubeprom.tsdb.bad": (PACKAGE_DIR / "tsdb" / "bad.py", [(3, "kubeprom.web.app.App")]),
        "kubeprom.model.bad": (PACKAGE_DIR / "model" / "bad.py", [(7, "kubeprom.tsdb.DB")]),
        "kubeprom.tsdbx.ok": (PACKAGE_DIR / "tsdbx" / "ok.py", [(1, "kubeprom.web")]),
    }
    assert violations(*RULES["tsdb-sees-no-upper-layer"], fake) == [
        "kubeprom/tsdb/bad.py:3: imports kubeprom.web.app.App"
    ]
    assert violations(*RULES["model-is-the-bottom"], fake) == [
        "kubeprom/model/bad.py:7: imports kubeprom.tsdb.DB"
    ]


# ---- exported members -------------------------------------------------------------------------
EXPORTS = {
    "kubeprom.model": [
        "EMPTY",
        "METRIC_NAME",
        "STALE_NAN",
        "STALE_NAN_BITS",
        "Labels",
        "MatchType",
        "Matcher",
        "bits_equal",
        "format_duration_ms",
        "is_stale",
        "parse_duration_ms",
        "stale_mask",
        "validate_label_name",
        "validate_labels",
        "validate_metric_name",
    ],
    "kubeprom.tsdb": [
        "DB",
        "MAX_TIME",
        "MIN_TIME",
        "AppendStats",
        "Appender",
        "BulkImporter",
        "MetricMetadata",
        "MetricType",
        "Options",
        "Querier",
        "Series",
        "SeriesRef",
        "SeriesSet",
    ],
    "kubeprom.remote": [
        "HTTPWriteClient",
        "Position",
        "PositionFile",
        "ProtocolError",
        "QueueManager",
        "RemoteWrite",
        "RemoteWriteCollector",
        "SeriesEncoder",
        "WALWatcher",
        "WriteClient",
    ],
}


def isort_style_key(name: str) -> tuple[int, str]:
    """ruff RUF022's order: SCREAMING_CASE, then CamelCase, then everything else."""
    if len(name) > 1 and name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("module", EXPORTS)
def test_exported_members(module: str) -> None:
    mod = importlib.import_module(module)
    exported = list(mod.__all__)
    assert exported == EXPORTS[module]
    assert exported == sorted(exported, key=isort_style_key)
    assert [name for name in exported if not hasattr(mod, name)] == []
