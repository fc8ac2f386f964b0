"""Valid PromQL queries users write: the bench query set, mixin rules, promqltest evals.

``load(shared)`` reads, from the shared directory:

- ``bench/queries.yaml``: every ``expr``;
- ``conformance/rules/**.yaml``: every rule's ``expr`` and every unit test's ``expr``;
- ``conformance/promql/testdata/*.test``: every ``eval`` expression.

Returns distinct queries in a stable order (sorted), so a seeded generator over them is
reproducible. Which of them are valid is for the parser to say; the caller filters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeprom.promql.promqltest_format import Eval, parse_file


def _exprs(node: Any) -> list[str]:
    """Every string under an ``expr`` key anywhere in a YAML document."""
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, val in item.items():
                if key == "expr" and isinstance(val, str):
                    out.append(val.strip())
                else:
                    stack.append(val)
        elif isinstance(item, list):
            stack.extend(item)
    return out


def bench_queries(shared: Path) -> list[str]:
    doc = yaml.safe_load((shared / "bench" / "queries.yaml").read_text())
    return _exprs(doc)


def rule_queries(shared: Path) -> list[str]:
    out: list[str] = []
    for path in sorted((shared / "conformance" / "rules").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out += _exprs(doc)
    return out


def promqltest_queries(shared: Path) -> list[str]:
    out: list[str] = []
    for path in sorted((shared / "conformance" / "promql" / "testdata").glob("*.test")):
        for cmd in parse_file(path.read_text(), str(path)):
            if isinstance(cmd, Eval):
                out.append(cmd.expr)
    return out


def load(shared: Path) -> list[str]:
    """Every distinct query of the three corpora, sorted."""
    texts = bench_queries(shared) + rule_queries(shared) + promqltest_queries(shared)
    return sorted({t for t in texts if t})
