"""Prometheus rule files (``model/rulefmt``): YAML with a position in every error.

:func:`parse_rule_file` reads a document into :class:`RuleFile` and returns every problem it
finds, each a :class:`~kubeprom.errors.RuleFileError` rendering as
``file:line:col: group "g", rule N ("name"): message``: unknown or repeated fields, values of
the wrong type, empty or repeated group names, invalid metric, label and annotation names,
PromQL that does not parse (at the position of the problem inside the file, for plain,
quoted and block scalars alike), templates that do not parse, and the record/alert field
rules of ``Rule.Validate``. :func:`lint_duplicates` is promtool's duplicate-rule lint.

Names are checked with the legacy character sets, as the rest of kubeprom does.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import yaml

from kubeprom.config.nodes import Fields, compose, is_null, scalar_str
from kubeprom.errors import ConfigError, ParseError, RuleFileError
from kubeprom.model.gofmt import quote
from kubeprom.model.labels import METRIC_NAME, Labels, is_label_name, is_metric_name
from kubeprom.promql.parse import parse
from kubeprom.rules.templating import check_alert_template

_TOP_FIELDS = frozenset({"groups"})
_GROUP_FIELDS = frozenset({"name", "interval", "query_offset", "limit", "rules", "labels"})
_RULE_FIELDS = frozenset(
    {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)
_EMPTY: Mapping[str, str] = MappingProxyType({})


class RuleKind(StrEnum):
    RECORDING = "recording"
    ALERTING = "alerting"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule as written. ``index`` is 1-based in its group; ``line``/``col`` (1-based)
    are where the rule's mapping starts."""

    index: int
    record: str
    alert: str
    expr: str
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    line: int = 0
    col: int = 0

    @property
    def kind(self) -> RuleKind:
        return RuleKind.ALERTING if self.alert else RuleKind.RECORDING

    @property
    def name(self) -> str:
        return self.alert or self.record


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One group. ``interval_ms`` 0 means the global evaluation interval; ``query_offset_ms``
    None means the global ``rule_query_offset``; ``limit`` 0 means no limit."""

    name: str
    rules: tuple[RuleSpec, ...]
    interval_ms: int = 0
    query_offset_ms: int | None = None
    limit: int = 0
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class RuleFile:
    path: str
    groups: tuple[GroupSpec, ...]

    @property
    def num_rules(self) -> int:
        return sum(len(g.rules) for g in self.groups)


def rule_labels(group: GroupSpec, rule: RuleSpec) -> Labels:
    """The labels a rule adds: the group's, overridden by the rule's (``FromMaps``)."""
    merged = dict(group.labels)
    merged.update(rule.labels)
    return Labels(merged.items())


def load_rule_file(path: str) -> tuple[RuleFile, list[RuleFileError]]:
    """Read and parse ``path``; unreadable files give one error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        return RuleFile(path, ()), [
            RuleFileError(f"cannot read rule file: {err.strerror}", file=path)
        ]
    except UnicodeDecodeError as err:
        msg = f"cannot read rule file: not UTF-8 text: {err.reason}"
        return RuleFile(path, ()), [RuleFileError(msg, file=path)]
    return parse_rule_file(text, path)


def parse_rule_file(text: str, source: str) -> tuple[RuleFile, list[RuleFileError]]:
    """Parse and validate one rule file document; every problem found, in file order."""
    p = _Parser(text, source)
    try:
        root = compose(text, source)
    except ConfigError as err:
        return RuleFile(source, ()), [_from_config(err)]
    groups: list[GroupSpec] = []
    if root is not None:
        top = p.fields(root, "rulefmt.RuleGroups", _TOP_FIELDS)
        if top is not None:
            seen: set[str] = set()
            for _, node in p.items(top, "groups"):
                g = p.group(node, seen)
                if g is not None:
                    groups.append(g)
    return RuleFile(source, tuple(groups)), sorted(p.errors, key=_error_order)


def _error_order(err: RuleFileError) -> tuple[int, int]:
    return (err.line or 0, err.col or 0)


def _from_config(err: ConfigError, **ctx: str | int | None) -> RuleFileError:
    return RuleFileError(err.message, file=err.file, line=err.line, col=err.col, **ctx)  # type: ignore[arg-type]


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.errors: list[RuleFileError] = []

    # ---- helpers that turn ConfigErrors into collected RuleFileErrors ------------------------
    def fields(
        self,
        node: yaml.Node,
        type_name: str,
        known: frozenset[str],
        **ctx: str | int | None,
    ) -> Fields | None:
        try:
            return Fields(node, self.source, "", type_name, known)
        except ConfigError as err:
            self.errors.append(_from_config(err, **ctx))
            return None

    def items(self, f: Fields, key: str, **ctx: str | int | None) -> list[tuple[str, yaml.Node]]:
        try:
            return list(f.items(key))
        except ConfigError as err:
            self.errors.append(_from_config(err, **ctx))
            return []

    def error(self, node: yaml.Node | None, message: str, **ctx: str | int | None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        col = node.start_mark.column + 1 if node is not None else None
        self.errors.append(RuleFileError(message, file=self.source, line=line, col=col, **ctx))  # type: ignore[arg-type]

    def string(self, f: Fields, key: str, **ctx: str | int | None) -> str:
        try:
            return f.string(key)
        except ConfigError as err:
            self.errors.append(_from_config(err, **ctx))
            return ""

    def duration(self, f: Fields, key: str, **ctx: str | int | None) -> int:
        try:
            return f.duration_ms(key)
        except ConfigError as err:
            self.errors.append(_from_config(err, **ctx))
            return 0

    def mapping(
        self, f: Fields, key: str, what: str, **ctx: str | int | None
    ) -> tuple[dict[str, str], dict[str, yaml.Node]]:
        """A string map and the key node of each entry (for positions)."""
        values: dict[str, str] = {}
        keys: dict[str, yaml.Node] = {}
        try:
            for name, key_node, value_node in f.pairs(key):
                values[name] = scalar_str(value_node, self.source, f"{key}.{name}")
                keys[name] = key_node
        except ConfigError as err:
            self.errors.append(_from_config(err, **ctx))
        return values, keys

    # ---- groups and rules ----------------------------------------------------------------------
    def group(self, node: yaml.Node, seen: set[str]) -> GroupSpec | None:
        written = _value_nodes(node).get("name")
        known = str(written.value) if isinstance(written, yaml.ScalarNode) else ""
        f = self.fields(node, "rulefmt.RuleGroup", _GROUP_FIELDS, group=known or None)
        if f is None:
            return None
        name = self.string(f, "name")
        ctx: dict[str, str | int | None] = {"group": name}
        if not name:
            self.error(node, "group name must not be empty")
        elif name in seen:
            # Prometheus writes `\"%s\"` here, not %q: the name goes in unescaped
            self.error(node, f'groupname: "{name}" is repeated in the same file')
        seen.add(name)
        limit = 0
        try:
            limit = f.uint("limit")
        except ConfigError as err:
            self.errors.append(_from_config(err, **ctx))
        labels, keys = self.mapping(f, "labels", "label", **ctx)
        self.check_labels(labels, keys, f.get("labels"), **ctx)
        rules = []
        for i, (_, rnode) in enumerate(self.items(f, "rules", **ctx), start=1):
            r = self.rule(rnode, i, name)
            if r is not None:
                rules.append(r)
        return GroupSpec(
            name=name,
            rules=tuple(rules),
            interval_ms=self.duration(f, "interval", **ctx),
            query_offset_ms=self.duration(f, "query_offset", **ctx)
            if "query_offset" in f
            else None,
            limit=limit,
            labels=MappingProxyType(labels),
            line=node.start_mark.line + 1,
            col=node.start_mark.column + 1,
        )

    def rule(self, node: yaml.Node, index: int, group: str) -> RuleSpec | None:
        ctx: dict[str, str | int | None] = {"group": group, "rule": index}
        names = _value_nodes(node)
        for key in ("alert", "record"):
            n = names.get(key)
            if isinstance(n, yaml.ScalarNode) and n.value:
                ctx["rule_name"] = str(n.value)
                break
        f = self.fields(node, "rulefmt.Rule", _RULE_FIELDS, **ctx)
        if f is None:
            return None
        record = self.string(f, "record", **ctx)
        alert = self.string(f, "alert", **ctx)
        ctx["rule_name"] = alert or record
        expr = self.string(f, "expr", **ctx)
        for_ms = self.duration(f, "for", **ctx)
        keep_ms = self.duration(f, "keep_firing_for", **ctx)
        labels, label_keys = self.mapping(f, "labels", "label", **ctx)
        annotations, ann_keys = self.mapping(f, "annotations", "annotation", **ctx)
        record_node = f.get("record")
        if record and alert:
            self.error(record_node, "only one of 'record' and 'alert' must be set", **ctx)
        if not record and not alert:
            self.error(node, "one of 'record' or 'alert' must be set", **ctx)
        expr_node = f.get("expr")
        if not expr:
            self.error(expr_node or node, "field 'expr' must be set in rule", **ctx)
        elif expr_node is not None:
            self.check_expr(expr, expr_node, **ctx)
        if record:
            for bad, what in (
                (bool(annotations), "annotations"),
                (for_ms != 0, "for"),
                (keep_ms != 0, "keep_firing_for"),
            ):
                if bad:
                    self.error(f.get(what), f"invalid field '{what}' in recording rule", **ctx)
            if not is_metric_name(record):
                self.error(record_node, f"invalid recording rule name {record!r}", **ctx)
            if "{" in record or "}" in record:
                self.error(
                    record_node,
                    f"braces present in the recording rule name; should it be in expr?: {record!r}",
                    **ctx,
                )
        self.check_labels(labels, label_keys, f.get("labels"), **ctx)
        for name, key_node in ann_keys.items():
            if not is_label_name(name):
                self.error(key_node, f"invalid annotation name {name!r}", **ctx)
        if alert:
            self.check_templates(alert, "label", labels, f.get("labels"), **ctx)
            self.check_templates(alert, "annotation", annotations, f.get("annotations"), **ctx)
        return RuleSpec(
            index=index,
            record=record,
            alert=alert,
            expr=expr,
            for_ms=for_ms,
            keep_firing_for_ms=keep_ms,
            labels=MappingProxyType(labels),
            annotations=MappingProxyType(annotations),
            line=node.start_mark.line + 1,
            col=node.start_mark.column + 1,
        )

    def check_labels(
        self,
        labels: dict[str, str],
        keys: dict[str, yaml.Node],
        mapping: yaml.Node | None,
        **ctx: str | int | None,
    ) -> None:
        for name, value in labels.items():
            if not is_label_name(name) or name == METRIC_NAME:
                self.error(keys.get(name), f"invalid label name {name!r}", **ctx)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.error(keys.get(name), f"invalid label value {value!r}", **ctx)

    def check_expr(self, expr: str, node: yaml.Node, **ctx: str | int | None) -> None:
        try:
            parse(expr)
        except ParseError as err:
            line, col = scalar_position(self.text, node, err.start)
            self.errors.append(
                RuleFileError(
                    f"could not parse expression: {err.message}",
                    file=self.source,
                    line=line,
                    col=col,
                    **ctx,  # type: ignore[arg-type]
                )
            )

    def check_templates(
        self,
        alert: str,
        what: str,
        texts: dict[str, str],
        mapping: yaml.Node | None,
        **ctx: str | int | None,
    ) -> None:
        values = _value_nodes(mapping)
        for name, text in texts.items():
            problem = check_alert_template(text, alert)
            if problem is not None:
                self.error(values.get(name), f"{what} {quote(name)}: {problem}", **ctx)


def _value_nodes(mapping: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(mapping, yaml.MappingNode) or is_null(mapping):
        return {}
    return {str(k.value): v for k, v in mapping.value}


def scalar_position(text: str, node: yaml.Node, offset: int) -> tuple[int, int]:
    """The file's 1-based (line, column) of character ``offset`` of a scalar's value.

    The value is aligned with the scalar's source text: equal characters advance both, and
    source characters the value lacks (indentation, folded line breaks, quotes and escape
    sequences) are skipped. Exact for block scalars and plain scalars; within an escape
    sequence of a double-quoted scalar it points at the escape.
    """
    start = node.start_mark.index
    raw = text[start : node.end_mark.index]
    value = str(node.value)
    style = getattr(node, "style", None)
    i = raw.find("\n") + 1 if style in ("|", ">") else 1 if style in ('"', "'") else 0
    j = 0
    offset = min(offset, len(value))
    while j < offset and i < len(raw):
        if raw[i] == value[j]:
            j += 1
        i += 1
    # Skip what the value does not contain (indentation) up to the character itself.
    while i < len(raw) and j < len(value) and raw[i] != value[j] and raw[i] in " \t\r\n":
        i += 1
    before = raw[:i]
    nl = before.rfind("\n")
    line = node.start_mark.line + 1 + before.count("\n")
    col = (i - nl) if nl >= 0 else node.start_mark.column + 1 + i
    return line, col


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Rules sharing a name and labels (promtool's ``checkDuplicates``)."""

    name: str
    labels: Labels
    group: GroupSpec
    rule: RuleSpec


def lint_duplicates(rule_file: RuleFile) -> list[Duplicate]:
    """Each name+labels that more than one rule of the file has, once, in promtool's order
    (sorted by name, then labels); the rule reported is the second one found."""
    keyed = sorted(
        (
            (r.name, rule_labels(g, r), gi, ri)
            for gi, g in enumerate(rule_file.groups)
            for ri, r in enumerate(g.rules)
        ),
        key=lambda k: (k[0], k[1].flat),
    )
    out: list[Duplicate] = []
    for prev, cur in itertools.pairwise(keyed):
        if (prev[0], prev[1]) == (cur[0], cur[1]) and (
            not out or (out[-1].name, out[-1].labels) != (cur[0], cur[1])
        ):
            g = rule_file.groups[cur[2]]
            out.append(Duplicate(cur[0], cur[1], g, g.rules[cur[3]]))
    return out


def duplicates_message(dups: list[Duplicate]) -> str:
    """promtool's lint text for duplicate rules."""
    lines = [f"{len(dups)} duplicate rule(s) found."]
    for d in dups:
        lines.append(f"Metric: {d.name}")
        lines.append("Label(s):")
        lines += [f"\t{n}: {v}" for n, v in d.labels]
    lines.append("Might cause inconsistency while recording expressions")
    return "\n".join(lines)
