"""kubeprom's alert templates against Go's rendering (promtool 2.42, 3.x where it differs)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeprom.errors import EvalError, TemplateError
from kubeprom.rules.template import ALERT_DEFS, AlertTemplate, parse_template
from kubeprom.rules.template.expand import expansion_error_text
from tests.rules.template import promtool_oracle
from tests.rules.template.cases import QUERIES, Case
from tests.support.procs import require_binary

DATA = json.loads(
    (Path(__file__).parent / "testdata" / "promtool-2.42.json").read_text(encoding="utf-8")
)
ROWS: list[dict[str, Any]] = DATA["cases"]


@dataclass(frozen=True)
class _Sample:
    labels: dict[str, str]
    value: float


def fake_query(q: str) -> Sequence[_Sample]:
    """The instant queries of the corpus over its series, as Prometheus answers them."""
    result = QUERIES.get(q)
    if result is None:
        raise AssertionError(f"the corpus has no answer for query {q!r}")
    if isinstance(result, str):
        raise EvalError(result)
    return [_Sample(labels, value) for labels, value in result]


def expand(row: dict[str, Any]) -> str:
    ext = row["ext"]
    return AlertTemplate(row["tmpl"], row["id"]).expand_or_error(
        labels=row["labels"],
        value=row["value"],
        t_ms=DATA["eval_t_ms"],
        external_labels=DATA["external_labels"] if ext else None,
        external_url=DATA["external_url"] if ext else "",
        query=fake_query,
    )


def parse_message(row: dict[str, Any]) -> str:
    try:
        parse_template(ALERT_DEFS + row["tmpl"], row["name"])
    except TemplateError as err:
        return str(err)
    return ""


def want(row: dict[str, Any]) -> str:
    return str(row["v3"] if row.get("v3") is not None else row["want_242"])


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_matches_go(row: dict[str, Any]) -> None:
    got = parse_message(row) if row["kind"] == "parse" else expand(row)
    assert got == want(row), f"template {row['tmpl']!r}"


def test_corpus_covers_what_it_claims() -> None:
    kinds = {r["kind"] for r in ROWS}
    assert kinds == {"parse", "exec"}
    assert sum(1 for r in ROWS if r["id"].startswith("mixin_")) > 100
    errors = [r for r in ROWS if str(r.get("want_242", "")).startswith("<error expanding")]
    assert len(errors) > 50
    assert all(r.get("why") for r in ROWS if r.get("v3") is not None)


def test_parse_errors_also_fail_expansion() -> None:
    row = next(r for r in ROWS if r["kind"] == "parse" and r["want_242"])
    with pytest.raises(TemplateError, match=r"^template: __alert_") as info:
        AlertTemplate(row["tmpl"], row["id"])
    assert expansion_error_text(info.value) == (
        f"<error expanding template: error parsing template {row['name']}: {info.value}>"
    )


@pytest.mark.slow
def test_testdata_is_what_promtool_renders() -> None:
    """Re-run the stored corpus through promtool: the table is Go's output, not ours."""
    promtool = require_binary("promtool")
    fields = {"id", "tmpl", "labels", "value", "ext"}
    oracle = [r for r in ROWS if not r["v3_only"]]
    cases = [Case(**{k: r[k] for k in fields}) for r in oracle]
    with tempfile.TemporaryDirectory() as tmp:
        parse = promtool_oracle.parse_errors(promtool, cases, Path(tmp))
        exec_cases = [c for c in cases if not parse[c.id]]
        got = promtool_oracle.render(promtool, exec_cases, Path(tmp))
    mismatches = [r["id"] for r in oracle if (parse[r["id"]] or got.get(r["id"])) != r["want_242"]]
    assert mismatches == []
    assert shutil.which("promtool") == promtool or promtool.startswith("/usr/bin/")
