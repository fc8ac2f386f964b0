"""Runs HPA conformance case files (the schema of ``conformance/hpa/cases.yaml``).

Each case is run through :func:`kubeprom.hpa.cases.run_case` and compared key by key with
its ``expect`` section, as the schema's header says: exact equality, ``error`` as a
case-insensitive substring (or truthiness for a boolean), ``conditions`` as an exact mapping,
``unready``/``missing``/``ignored`` as sets, ``currentMetrics`` field by field. A failure
names the case id and its ``file:line`` and shows what was expected and what came back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeprom.config.nodes import yaml_error
from kubeprom.errors import ConfigError
from kubeprom.hpa.cases import run_case

_SET_KEYS = frozenset({"unready", "missing", "ignored"})


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    kind: str
    line: int
    config: Mapping[str, Any]
    input: Mapping[str, Any]
    expect: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Failure:
    case: Case
    problems: tuple[str, ...]


@dataclass(slots=True)
class FileReport:
    path: str
    passed: int = 0
    failures: list[Failure] = field(default_factory=list)


def load_cases(path: str | Path) -> list[Case]:
    """The cases of a file with the line each starts on. Raises ConfigError for a file that
    does not follow the schema."""
    source = str(path)
    top, data = _compose(Path(path).read_text(encoding="utf-8"), source)
    if not isinstance(top, yaml.MappingNode) or not isinstance(data, Mapping):
        raise ConfigError("expected a mapping with a 'cases' list", file=source)
    nodes = next((v for k, v in top.value if k.value == "cases"), None)
    if not isinstance(nodes, yaml.SequenceNode) or not isinstance(data.get("cases"), list):
        raise ConfigError("expected a mapping with a 'cases' list", file=source)
    out = []
    seen: set[str] = set()
    for node, raw in zip(nodes.value, data["cases"], strict=True):
        line = node.start_mark.line + 1
        if not isinstance(raw, Mapping) or "id" not in raw or "kind" not in raw:
            raise ConfigError("a case needs an 'id' and a 'kind'", file=source, line=line)
        case_id = str(raw["id"])
        if case_id in seen:
            raise ConfigError(f"duplicate case id {case_id!r}", file=source, line=line)
        seen.add(case_id)
        out.append(
            Case(
                case_id,
                str(raw["kind"]),
                line,
                raw.get("config") or {},
                raw.get("input") or {},
                raw.get("expect") or {},
            )
        )
    return out


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, parsed once (libyaml when
    PyYAML has it: case files are large)."""
    loader_type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_type(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise yaml_error(err, source) from err
    finally:
        loader.dispose()


def _metric_problems(want: Any, got: Any) -> list[str]:
    if not isinstance(want, list) or not isinstance(got, list) or len(want) != len(got):
        return [f"currentMetrics: expected {want!r}, got {got!r}"]
    out = []
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if w is None or g is None:
            if w != g:
                out.append(f"currentMetrics[{i}]: expected {w!r}, got {g!r}")
            continue
        for key, value in w.items():
            if g.get(key) != value:
                out.append(f"currentMetrics[{i}].{key}: expected {value!r}, got {g.get(key)!r}")
    return out


def compare(expect: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    """What differs between a case's ``expect`` and a result, one line per key."""
    problems: list[str] = []
    for key, want in expect.items():
        if key not in got:
            problems.append(f"{key}: expected {want!r}, got nothing")
            continue
        value = got[key]
        if key == "error":
            if isinstance(want, bool):
                ok = bool(value) == want
            else:
                ok = isinstance(value, str) and str(want).lower() in value.lower()
            if not ok:
                problems.append(f"error: expected {want!r}, got {value!r}")
        elif key == "currentMetrics":
            problems += _metric_problems(want, value)
        elif key == "conditions" and isinstance(want, Mapping) and isinstance(value, Mapping):
            for name in sorted(set(want) | set(value)):
                if want.get(name) != value.get(name):
                    w, g = want.get(name, "absent"), value.get(name, "absent")
                    problems.append(f"conditions.{name}: expected {w!r}, got {g!r}")
        elif key in _SET_KEYS:
            if set(want or ()) != set(value or ()):
                problems.append(
                    f"{key}: expected {sorted(want or ())!r}, got {sorted(value or ())!r}"
                )
        elif value != want:
            problems.append(f"{key}: expected {want!r}, got {value!r}")
    if "error" not in expect and isinstance(got.get("error"), str) and "replicas" in expect:
        problems.append(f"unexpected error: {got['error']!r}")
    return problems


def run_cases(cases: Iterable[Case], path: str) -> FileReport:
    report = FileReport(path)
    for case in cases:
        try:
            got = run_case(case.kind, case.config, case.input)
        except NotImplementedError as err:
            report.failures.append(Failure(case, (f"not supported: {err}",)))
            continue
        problems = compare(case.expect, got)
        if problems:
            report.failures.append(Failure(case, tuple(problems)))
        else:
            report.passed += 1
    return report


def run_file(path: str | Path) -> FileReport:
    """Load and run one case file."""
    return run_cases(load_cases(path), str(path))


def render(reports: Sequence[FileReport]) -> list[str]:
    """Each failure (``FAIL id (file:line)`` then its differences), then the summary line."""
    lines = []
    for report in reports:
        for failure in report.failures:
            case = failure.case
            lines.append(f"FAIL {case.id} ({report.path}:{case.line}) [{case.kind}]")
            lines += [f"  {p}" for p in failure.problems]
    passed = sum(r.passed for r in reports)
    failed = sum(len(r.failures) for r in reports)
    lines.append(f"{passed} passed, {failed} failed")
    return lines
