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


SEAMS = [
    "kubeprom.clock",
    "kubeprom.config",
    "kubeprom.errors",
    "kubeprom.model",
    "kubeprom.promql.api",
    "kubeprom.promql.parse",  # checking expressions (rule files, adapter queries) before use
    "kubeprom.tsdb.api",
    "kubeprom.tsdb.memstore",
]
"""What the feature packages (rules, hpa, sim) may import of the layers below them."""

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
    "clock-is-the-bottom": ("kubeprom.clock", "allow", []),
    "lifecycle-sits-on-errors": ("kubeprom.lifecycle", "allow", ["kubeprom.errors"]),
    # The evaluator imports its node modules; they see it only through the Evaluator protocol.
    "promql-eval-below-the-engine": (
        "kubeprom.promql.eval",
        "forbid",
        ["kubeprom.promql.engine", "kubeprom.promql.api", "kubeprom.promql.promqltest"],
    ),
    "promql-functions-below-eval": (
        "kubeprom.promql.functions",
        "forbid",
        [
            "kubeprom.promql.engine",
            "kubeprom.promql.api",
            "kubeprom.promql.eval",
            "kubeprom.promql.promqltest",
        ],
    ),
    # rules/, hpa/ and sim/ see PromQL and the store only through their seams. The in-memory
    # store (tsdb.memstore) is part of the storage seam for them: rule unit tests, HPA
    # dry runs and simulations load series into it and query it through promql.api.
    "rules-through-the-seams": ("kubeprom.rules", "allow", [*SEAMS, "kubeprom.rules"]),
    # prometheus-adapter's query templates are Go text/template: the engine rules/ has.
    "hpa-through-the-seams": (
        "kubeprom.hpa",
        "allow",
        [*SEAMS, "kubeprom.hpa", "kubeprom.rules.template"],
    ),
    # sim also drives the simulated cluster and the scrape path in virtual time (in-process
    # fetches), and runs parts through the lifecycle; never the web server or the CLI.
    "sim-through-the-seams": (
        "kubeprom.sim",
        "allow",
        [
            *SEAMS,
            "kubeprom.exporters",
            "kubeprom.hpa",
            "kubeprom.lifecycle",
            "kubeprom.rules",
            "kubeprom.scraper",
            "kubeprom.sim",
        ],
    ),
    # The web UI reads what it shows through the query seam and the HTTP API, never the store.
    "ui-reads-through-the-api": (
        "kubeprom.web.ui",
        "forbid",
        ["kubeprom.cli", "kubeprom.exporters", "kubeprom.scraper", "kubeprom.tsdb"],
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
    assert "kubeprom.tsdb.querier.StoreQuerier" in db_imports
    engine_imports = {imp for _, imp in modules["kubeprom.promql.engine"][1]}
    assert "kubeprom.promql.eval.aggregate" in engine_imports
    metrics_imports = {imp for _, imp in modules["kubeprom.tsdb.metrics"][1]}
    assert "kubeprom.tsdb.db.DB" in metrics_imports  # inside TYPE_CHECKING
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


def test_the_feature_packages_are_held_to_their_seams() -> None:
    fake = {
        "kubeprom.promql.eval.bad": (
            PACKAGE_DIR / "promql" / "eval" / "bad.py",
            [(4, "kubeprom.promql.engine.QueryEvaluator"), (5, "kubeprom.promql.steps.compact")],
        ),
        "kubeprom.sim.bad": (
            PACKAGE_DIR / "sim" / "bad.py",
            [
                (2, "kubeprom.web.app"),
                (3, "kubeprom.tsdb.db.DB"),
                (4, "kubeprom.tsdb.memstore.MemStore"),
                (5, "kubeprom.promql.engine"),
                (6, "kubeprom.rules.group"),
            ],
        ),
        "kubeprom.rules.bad": (
            PACKAGE_DIR / "rules" / "bad.py",
            [(8, "kubeprom.cli.main"), (9, "kubeprom.promql.api.QueryAPI")],
        ),
    }
    assert violations(*RULES["promql-eval-below-the-engine"], fake) == [
        "kubeprom/promql/eval/bad.py:4: imports kubeprom.promql.engine.QueryEvaluator"
    ]
    assert violations(*RULES["sim-through-the-seams"], fake) == [
        "kubeprom/sim/bad.py:2: imports kubeprom.web.app",
        "kubeprom/sim/bad.py:3: imports kubeprom.tsdb.db.DB",
        "kubeprom/sim/bad.py:5: imports kubeprom.promql.engine",
    ]
    assert violations(*RULES["rules-through-the-seams"], fake) == [
        "kubeprom/rules/bad.py:8: imports kubeprom.cli.main"
    ]


# ---- no function-local imports ------------------------------------------------------------


def local_imports(source: str, module: str, *, is_package: bool) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of the kubeprom modules imported inside a function body.

    Such an import is how an import circle gets hidden: the two modules then depend on
    each other at run time while the import graph looks acyclic. ``TYPE_CHECKING`` blocks
    sit at module level and import nothing at run time, so they are not counted.
    """
    out: list[tuple[int, str]] = []
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, functions):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import | ast.ImportFrom):
                text = ast.unparse(node)
                out += [
                    (node.lineno, name)
                    for line, name in imports_of(text, module, is_package=is_package)
                    if _under(name, "kubeprom")
                ]
    return sorted(set(out))


def test_no_module_imports_kubeprom_inside_a_function() -> None:
    found = []
    for module, (path, _) in scan().items():
        text = path.read_text(encoding="utf-8")
        for line, name in local_imports(text, module, is_package=path.name == "__init__.py"):
            found.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: imports {name}")
    assert found == []


def test_a_function_local_import_is_found_and_type_checking_is_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from kubeprom.tsdb.db import DB\n"
        "def f():\n"
        "    import os\n"
        "    from ..engine import Evaluator\n"
        "class C:\n"
        "    async def m(self):\n"
        "        from kubeprom.web import app\n"
    )
    got = local_imports(source, "kubeprom.promql.eval.binary", is_package=False)
    assert got == [(6, "kubeprom.promql.engine.Evaluator"), (9, "kubeprom.web.app")]


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
        "MemStore",
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
