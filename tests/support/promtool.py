"""Running Debian's promtool on rule unit tests one assertion at a time.

promtool reports per file; splitting a test file into one file per assertion (each
``alert_rule_test`` and ``promql_expr_test`` entry of each test group) gives its verdict per
assertion. Splitting does not change results: every test group starts from scratch. YAML is
read and written with every scalar kept as its text (promtool reads ``values: 0x720`` as a
string; a YAML 1.1 loader would make it the integer 1824).
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeprom.rules.unittest import Runner, Verdict


class TextLoader(yaml.SafeLoader):
    pass


class TextDumper(yaml.SafeDumper):
    pass


for _cls in (TextLoader, TextDumper):
    _cls.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag == "tag:yaml.org,2002:null"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def load_text(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=TextLoader)


def dump_text(doc: Any, path: Path) -> None:
    path.write_text(yaml.dump(doc, Dumper=TextDumper, sort_keys=False, width=1 << 20))


@dataclass(frozen=True)
class Assertion:
    """One assertion of a test file, written alone to ``path``."""

    group: int
    kind: str
    index: int
    path: Path


def split(test_file: Path, out_dir: Path, doc: Any | None = None) -> Iterator[Assertion]:
    """Each assertion of ``test_file`` (or of ``doc``, read from it) as its own test file
    in ``out_dir``, with ``rule_files`` made absolute."""
    if doc is None:
        doc = load_text(test_file)
    base = test_file.parent.resolve()
    head = {k: v for k, v in doc.items() if k != "tests"}
    head["rule_files"] = [str(base / f) for f in doc.get("rule_files") or []]
    n = 0
    for gi, group in enumerate(doc.get("tests") or []):
        for kind in ("alert_rule_test", "promql_expr_test"):
            for ai, case in enumerate(group.get(kind) or []):
                one = dict(head)
                g = {
                    k: v
                    for k, v in group.items()
                    if k not in ("alert_rule_test", "promql_expr_test")
                }
                g[kind] = [copy.deepcopy(case)]
                one["tests"] = [g]
                path = out_dir / f"assertion-{n}.yml"
                n += 1
                dump_text(one, path)
                yield Assertion(gi, kind, ai, path)


def run(promtool: str, path: Path) -> tuple[int, str]:
    """promtool's exit code and its output (without the ``Unit Testing:`` line)."""
    p = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    text = "\n".join(
        line for line in (p.stdout + p.stderr).splitlines() if not line.startswith("Unit Testing:")
    )
    return p.returncode, text.strip("\n")


Verdicts = dict[tuple[int, str, int], tuple[bool, str]]
"""(test group, kind, index) -> (passed, failure text)."""


def both_verdicts(
    binary: str, test_file: Path, out_dir: Path, runner: Runner
) -> tuple[Verdicts, Verdicts]:
    """kubeprom's and promtool's verdict and failure text (promtool's words after
    ``FAILED:``) of each assertion of ``test_file``, each run alone. (Alone matters: a
    test group evaluates up to its latest ``eval_time``, and input after the last step is
    never loaded, so an expression test can depend on the group's other tests.)"""
    ours: Verdicts = {}
    theirs: Verdicts = {}
    for a in split(test_file, out_dir):
        rc, text = run(binary, a.path)
        key = (a.group, a.kind, a.index)
        theirs[key] = (rc == 0, "" if rc == 0 else text.removeprefix("  FAILED:\n"))
        [group] = runner.run_file(str(a.path)).groups
        [mine] = group.assertions
        ours[key] = (mine.verdict is Verdict.PASSED, mine.message)
    return ours, theirs
