"""promtool's rule unit-test files (``promtool test rules``), read with a position for every
entry.

The format is promtool's ``unitTestFile``: ``rule_files`` (globs, relative to the test file),
``evaluation_interval`` (default 1m), ``group_eval_order``, ``fuzzy_compare`` and ``tests``;
each test group has ``interval`` (default: the evaluation interval), ``input_series``
(``series`` + ``values`` in the expanding notation), ``alert_rule_test`` (``eval_time``,
``alertname``, ``exp_alerts`` with ``exp_labels`` / ``exp_annotations``),
``promql_expr_test`` (``expr``, ``eval_time``, ``exp_samples`` with ``labels``, ``value``,
``histogram``), ``external_labels``, ``external_url``, ``name`` and ``start_timestamp``.

Scalars are read as Go's yaml.v2 decodes them into promtool's typed fields, from their text:
``values: 0x720`` is the string "0x720" (0 repeated 721 times), never the YAML 1.1 integer
1824; a string field takes any scalar's text; ``value`` is resolved as yaml.v2 resolves a
plain scalar for a float64 (``1e3``, ``0x10``, ``.inf``; a quoted number is an error).
Unknown and repeated keys are errors (``UnmarshalStrict``) unless ``ignore_unknown_fields``.
Errors are :class:`~kubeprom.errors.ConfigError` with file, line, column and field path.

Problems promtool reports when it runs a test group rather than when it reads the file (an
input series that does not parse, ``exp_samples`` labels that do not parse, an alert test
without ``alertname``) are kept on the entry and reported by the runner the same way.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubeprom.config.nodes import Fields, compose, error, is_null, parse_duration, scalar_str
from kubeprom.errors import ConfigError, FormatError
from kubeprom.model.labels import Labels
from kubeprom.model.series_notation import Item, parse_labels, parse_series
from kubeprom.model.timeutil import parse_rfc3339_ms

DEFAULT_EVALUATION_INTERVAL_MS = 60_000

_FILE_FIELDS = frozenset(
    {"rule_files", "evaluation_interval", "group_eval_order", "tests", "fuzzy_compare"}
)
_GROUP_FIELDS = frozenset(
    {
        "interval",
        "input_series",
        "alert_rule_test",
        "promql_expr_test",
        "external_labels",
        "external_url",
        "name",
        "start_timestamp",
    }
)
_SERIES_FIELDS = frozenset({"series", "values"})
_ALERT_TEST_FIELDS = frozenset({"eval_time", "alertname", "exp_alerts"})
_ALERT_FIELDS = frozenset({"exp_labels", "exp_annotations"})
_EXPR_TEST_FIELDS = frozenset({"expr", "eval_time", "exp_samples"})
_SAMPLE_FIELDS = frozenset({"labels", "value", "histogram"})

Pairs = tuple[tuple[str, str], ...]
"""Label pairs sorted by name, empty values kept (``labels.FromMap`` keeps them)."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where an entry starts in its file (1-based)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class InputSeries:
    """One ``input_series`` entry; ``items`` are its value positions (one per interval)."""

    series: str
    values: str
    labels: Labels
    items: tuple[Item, ...]
    place: Place


@dataclass(frozen=True, slots=True)
class ExpAlert:
    labels: Pairs
    annotations: Pairs
    place: Place


@dataclass(frozen=True, slots=True)
class AlertTest:
    """``eval_ms`` is relative to the test group's start."""

    eval_ms: int
    alertname: str
    exp_alerts: tuple[ExpAlert, ...]
    place: Place


@dataclass(frozen=True, slots=True)
class ExpSample:
    """``labels`` None when ``labels_text`` does not parse (``error`` says why)."""

    labels_text: str
    labels: Labels | None
    value: float
    histogram: str
    place: Place
    error: str = ""


@dataclass(frozen=True, slots=True)
class ExprTest:
    expr: str
    eval_ms: int
    exp_samples: tuple[ExpSample, ...]
    place: Place


@dataclass(frozen=True, slots=True)
class UnitTestGroup:
    """One entry of ``tests``. ``start_ms`` None: the Unix epoch (no ``start_timestamp``).
    ``input_error`` is a series that does not parse (the group fails with it)."""

    index: int
    name: str
    interval_ms: int
    input_series: tuple[InputSeries, ...]
    alert_tests: tuple[AlertTest, ...]
    expr_tests: tuple[ExprTest, ...]
    external_labels: Pairs
    external_url: str
    start_ms: int | None
    place: Place
    input_error: str = ""

    @property
    def display_name(self) -> str:
        """The name promtool reports (``unnamed#N`` when there is none)."""
        return self.name or f"unnamed#{self.index}"

    @property
    def max_eval_ms(self) -> int:
        """The latest ``eval_time`` of the group's tests (``maxEvalTime``)."""
        times = [t.eval_ms for t in self.alert_tests] + [t.eval_ms for t in self.expr_tests]
        return max(times, default=0)


@dataclass(frozen=True, slots=True)
class UnitTestFile:
    """A test file. ``rule_files`` are the patterns joined to the file's directory."""

    path: str
    rule_files: tuple[str, ...]
    evaluation_interval_ms: int
    group_eval_order: tuple[str, ...]
    tests: tuple[UnitTestGroup, ...]
    fuzzy_compare: bool
    group_eval_order_place: Place | None = None
    rule_file_places: tuple[Place, ...] = field(default=())


def load_test_file(path: str, *, ignore_unknown_fields: bool = False) -> UnitTestFile:
    """Read and parse a test file; raises ConfigError (or OSError when unreadable)."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_test_file(text, path, ignore_unknown_fields=ignore_unknown_fields)


def parse_test_file(text: str, path: str, *, ignore_unknown_fields: bool = False) -> UnitTestFile:
    root = compose(text, path) or compose("{}", path)
    if root is None:  # "{}" always composes to a mapping
        raise ConfigError("empty test file", file=path)
    r = _Reader(path, ignore_unknown_fields)
    f = r.fields(root, "", "main.unitTestFile", _FILE_FIELDS)
    base = Path(path).parent
    patterns = []
    places = []
    for sub, node in f.items("rule_files"):
        pattern = scalar_str(node, path, sub)
        if pattern and not Path(pattern).is_absolute():
            pattern = os.path.normpath(base / pattern)  # Go's filepath.Join cleans
        patterns.append(pattern)
        places.append(r.place(node))
    interval = f.duration_ms("evaluation_interval") or DEFAULT_EVALUATION_INTERVAL_MS
    tests = tuple(r.group(node, sub, i, interval) for i, (sub, node) in enumerate(f.items("tests")))
    order_node = f.get("group_eval_order")
    return UnitTestFile(
        path=path,
        rule_files=tuple(patterns),
        evaluation_interval_ms=interval,
        group_eval_order=f.str_list("group_eval_order"),
        tests=tests,
        fuzzy_compare=f.boolean("fuzzy_compare"),
        group_eval_order_place=r.place(order_node) if order_node is not None else None,
        rule_file_places=tuple(places),
    )


class _Reader:
    def __init__(self, path: str, ignore_unknown: bool) -> None:
        self.path = path
        self.ignore_unknown = ignore_unknown

    def place(self, node: yaml.Node) -> Place:
        return Place(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def fields(self, node: yaml.Node, path: str, type_name: str, known: frozenset[str]) -> Fields:
        if self.ignore_unknown and isinstance(node, yaml.MappingNode):
            known = known | {str(k.value) for k, _ in node.value}
        return Fields(node, self.path, path, type_name, known)

    def group(self, node: yaml.Node, path: str, index: int, default_ms: int) -> UnitTestGroup:
        f = self.fields(node, path, "main.testGroup", _GROUP_FIELDS)
        interval = f.duration_ms("interval") or default_ms
        start_ms = None
        start_node = f.get("start_timestamp")
        if start_node is not None and not is_null(start_node):
            start_ms = self.timestamp(start_node, f.sub("start_timestamp"))
        series: list[InputSeries] = []
        input_error = ""
        for sub, snode in f.items("input_series"):
            sf = self.fields(snode, sub, "main.series", _SERIES_FIELDS)
            text, values = sf.string("series"), sf.string("values")
            place = self.place(sf.at("values") if "values" in sf else snode)
            try:
                labels, items = parse_series(f"{text} {values}", place.line)
            except FormatError as err:
                if not input_error:
                    input_error = f"{self.path}:{err.line}: {err.message}"
                continue
            series.append(InputSeries(text, values, labels, tuple(items), self.place(snode)))
        return UnitTestGroup(
            index=index,
            name=f.string("name"),
            interval_ms=interval,
            input_series=tuple(series),
            alert_tests=tuple(self.alert_test(n, s) for s, n in f.items("alert_rule_test")),
            expr_tests=tuple(self.expr_test(n, s) for s, n in f.items("promql_expr_test")),
            external_labels=self.pairs(f, "external_labels"),
            external_url=f.string("external_url"),
            start_ms=start_ms,
            place=self.place(node),
            input_error=input_error,
        )

    def timestamp(self, node: yaml.Node, path: str) -> int:
        """promtool's ``parseTime``: Unix seconds (with a fraction) or RFC 3339."""
        text = scalar_str(node, self.path, path)
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(seconds):
                whole = math.trunc(seconds)
                return whole * 1000 + int((seconds - whole) * 1e9) // 1_000_000
        try:
            return parse_rfc3339_ms(text)
        except ValueError:
            raise error(
                node, self.path, path, f"cannot parse {text!r} to a valid timestamp"
            ) from None

    def pairs(self, f: Fields, key: str) -> Pairs:
        out = {name: scalar_str(v, self.path, f.sub(key)) for name, _, v in f.pairs(key)}
        return tuple(sorted(out.items()))

    def alert_test(self, node: yaml.Node, path: str) -> AlertTest:
        f = self.fields(node, path, "main.alertTestCase", _ALERT_TEST_FIELDS)
        alerts = []
        for sub, anode in f.items("exp_alerts"):
            af = self.fields(anode, sub, "main.alert", _ALERT_FIELDS)
            alerts.append(
                ExpAlert(
                    self.pairs(af, "exp_labels"),
                    self.pairs(af, "exp_annotations"),
                    self.place(anode),
                )
            )
        return AlertTest(
            eval_ms=self.duration(f, "eval_time"),
            alertname=f.string("alertname"),
            exp_alerts=tuple(alerts),
            place=self.place(node),
        )

    def duration(self, f: Fields, key: str) -> int:
        node = f.get(key)
        return 0 if node is None else parse_duration(node, self.path, f.sub(key))

    def expr_test(self, node: yaml.Node, path: str) -> ExprTest:
        f = self.fields(node, path, "main.promqlTestCase", _EXPR_TEST_FIELDS)
        samples = []
        for sub, snode in f.items("exp_samples"):
            sf = self.fields(snode, sub, "main.sample", _SAMPLE_FIELDS)
            text = sf.string("labels")
            value_node = sf.get("value")
            value = (
                0.0 if value_node is None else go_yaml_float(value_node, self.path, sf.sub("value"))
            )
            labels: Labels | None = None
            problem = ""
            try:
                labels = parse_labels(text, 1)
            except FormatError as err:
                problem = err.message
            samples.append(
                ExpSample(text, labels, value, sf.string("histogram"), self.place(snode), problem)
            )
        return ExprTest(
            expr=f.string("expr"),
            eval_ms=self.duration(f, "eval_time"),
            exp_samples=tuple(samples),
            place=self.place(node),
        )


# yaml.v2's resolve table and float pattern (resolve.go).
_YAML_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_YAML_BOOL = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE"}
    | {"false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"}
)
_YAML_NAN = frozenset({".nan", ".NaN", ".NAN"})
_YAML_INF = frozenset({".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
_YAML_NEG_INF = frozenset({"-.inf", "-.Inf", "-.INF"})
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9][0-9]*|0)\Z")


def go_yaml_float(node: yaml.Node, source: str, path: str) -> float:
    """A scalar decoded into a Go float64 as yaml.v2 does: plain scalars are resolved (null is
    0; ints in Go's base-prefixed syntax, ``0b`` included; floats; ``.inf`` / ``.nan``);
    strings, booleans and anything quoted are errors."""
    if not isinstance(node, yaml.ScalarNode):
        raise error(node, source, path, "expected a number")
    text = str(node.value)
    if node.style not in (None, ""):
        raise error(node, source, path, f"cannot unmarshal !!str {text!r} into float64")
    if text in _YAML_NULL:
        return 0.0
    if text in _YAML_NAN:
        return math.nan
    if text in _YAML_INF:
        return math.inf
    if text in _YAML_NEG_INF:
        return -math.inf
    if text in _YAML_BOOL:
        raise error(node, source, path, f"cannot unmarshal !!bool {text!r} into float64")
    plain = text.replace("_", "")
    if _GO_INT.match(plain):
        sign = -1 if plain.startswith("-") else 1
        digits = plain.lstrip("+-")
        base = 8 if len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567" else 0
        value = int(digits, base) if base else int(digits, 0)
        if -(1 << 63) <= sign * value < (1 << 64):
            return float(sign * value)
    if _YAML_FLOAT.match(plain):
        return float(plain)
    raise error(node, source, path, f"cannot unmarshal !!str {text!r} into float64")


__all__ = [
    "AlertTest",
    "ConfigError",
    "ExpAlert",
    "ExpSample",
    "ExprTest",
    "InputSeries",
    "Pairs",
    "Place",
    "UnitTestFile",
    "UnitTestGroup",
    "go_yaml_float",
    "load_test_file",
    "parse_test_file",
]
