"""Regenerate ``testdata/promtool-2.42.json``: run the corpus through promtool 2.42.

    KUBEPROM_SHARED=/work/shared python -m tests.rules.template.gen_testdata

Needs ``promtool`` (Debian's prometheus package) and the shared kubernetes-mixin rules.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tests.rules.template import promtool_oracle
from tests.rules.template.cases import (
    CASES,
    EVAL_T_MS,
    EXTERNAL_LABELS,
    EXTERNAL_URL,
    MIXIN_LABELS,
    MIXIN_VALUES,
    Case,
    mixin_templates,
)

OUT = Path(__file__).parent / "testdata" / "promtool-2.42.json"
# Systematic 2.42 -> 3.x difference: AlertTemplateData.Value became `any` (native histograms).
V2_STRUCT = "Value float64 }"
V3_STRUCT = "Value interface {} }"


def all_cases(shared: Path) -> list[Case]:
    cases = list(CASES)
    n = 0
    for _alert, text in mixin_templates(shared):
        for labels in MIXIN_LABELS:
            for value in MIXIN_VALUES[: 2 if len(labels) < 5 else None]:
                n += 1
                cases.append(Case(id=f"mixin_{n:03d}", tmpl=text, labels=labels, value=value))
    return cases


def main() -> int:
    promtool = shutil.which("promtool")
    if promtool is None:
        print("promtool is not installed", file=sys.stderr)
        return 1
    shared = Path(os.environ.get("KUBEPROM_SHARED", Path(__file__).resolve().parents[4] / "shared"))
    cases = all_cases(shared)
    oracle = [c for c in cases if not c.v3_only]
    with tempfile.TemporaryDirectory() as tmp:
        parse = promtool_oracle.parse_errors(promtool, oracle, Path(tmp))
        got = promtool_oracle.render(promtool, [c for c in oracle if not parse[c.id]], Path(tmp))
    rows = []
    for case in cases:
        row = asdict(case)
        del row["parse_error"], row["v3_sub"]
        row["labels"] = {k: v for k, v in case.labels.items() if v}  # "" is no label
        row["name"] = "__alert_" + case.id
        if case.v3 is not None:
            row["v3"] = case.v3.replace("{name}", row["name"])
        row["kind"] = "parse" if case.parse_error else "exec"
        if not case.v3_only:
            row["kind"] = "parse" if parse[case.id] else "exec"
            row["want_242"] = parse[case.id] or got[case.id]
            if case.v3_sub is not None:
                old, new = case.v3_sub
                if old not in row["want_242"]:
                    raise AssertionError(f"{case.id}: {old!r} not in {row['want_242']!r}")
                row["v3"] = row["want_242"].replace(old, new)
            if row.get("v3") is None and V2_STRUCT in row["want_242"]:
                row["v3"] = row["want_242"].replace(V2_STRUCT, V3_STRUCT)
                row["why"] = "AlertTemplateData.Value is `any` in 3.x (float64 in 2.42)"
        rows.append(row)
    doc = {
        "generator": "python -m tests.rules.template.gen_testdata",
        "promtool": "2.42.0+ds (Debian, go1.19.8)",
        "eval_t_ms": EVAL_T_MS,
        "external_labels": EXTERNAL_LABELS,
        "external_url": EXTERNAL_URL,
        "cases": rows,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(rows)} cases -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
