"""prometheus-adapter's naming: rules compiled into namers (``pkg/naming``).

A :class:`Namer` is one discovery rule made executable, as ``NamersFromConfig`` builds it:
series filters (``is`` / ``isNot``, plus ``name.matches`` as one more positive filter), the
API name of a series (``name.matches`` searched in the series name, ``name.as`` expanded with
Go's ``Regexp.ExpandString``; ``as`` defaults to ``$0`` or ``$1``), the resource converter
(label <-> group-resource, through ``resources.overrides`` and the ``<<.Group>>`` /
``<<.Resource>>`` template) and the metrics query, a Go text/template with ``<<``/``>>``
delimiters over ``.Series``, ``.LabelMatchers``, ``.LabelValuesByName``, ``.GroupBy`` and
``.GroupBySlice``. :func:`compile_adapter` reports what the adapter would refuse at start as a
:class:`~kubeprom.errors.ConfigError` at the field's position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import re2

from kubeprom.config.adapter import AdapterConfig, DiscoveryRule, RegexFilter, ResourceMapping
from kubeprom.config.k8s_resources import (
    NAMESPACES,
    GroupResource,
    NoMatch,
    resource_for,
    singular,
)
from kubeprom.config.relabel import parse_template as parse_expand
from kubeprom.config.relabeling import expand
from kubeprom.errors import ConfigError, KubepromError, ParseError, TemplateError
from kubeprom.model.gofmt import quote
from kubeprom.model.goprintf import GoSlice
from kubeprom.model.labels import Labels
from kubeprom.model.selectors import Op, Requirement
from kubeprom.promql.parse import parse
from kubeprom.rules.template import TextTemplate
from kubeprom.rules.template.values import T_MAP_STRING, T_STRING, Struct, string_map

_RE2 = re2.Options()
_RE2.log_errors = False
# The sanitizer applied to a group before it goes into the label template.
_GROUP_SANITIZER = str.maketrans({".": "_", "-": "_"})


# RE2's error codes as Go's regexp/syntax words them.
_GO_REGEXP_CODES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "trailing \\": "trailing backslash at end of expression",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid repetition size": "invalid repeat count",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
}


class AdapterError(KubepromError):
    """A query the adapter cannot build; ``str()`` is the adapter's error text."""


def go_regexp(pattern: str) -> re2._Regexp:
    """``regexp.Compile``: RE2 syntax, unanchored. Raises ValueError with Go's wording."""
    try:
        return re2.compile(pattern, _RE2)
    except re2.error as err:
        reason = err.args[0] if err.args else err
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        code = str(reason).split(": ", 1)[0]
        code = _GO_REGEXP_CODES.get(code, code)
        raise ValueError(f"error parsing regexp: {code}: `{pattern}`") from None


class _GroupResourceData(Struct):
    """``schema.GroupResource`` as the resource label template sees it."""

    __slots__ = ("Group", "Resource")
    go_type = "schema.GroupResource"
    FIELDS: ClassVar[Mapping[str, str]] = {"Group": T_STRING, "Resource": T_STRING}

    def __init__(self, group: str, resource: str) -> None:
        self.Group = group
        self.Resource = resource


class _QueryArgs(Struct):
    """``queryTemplateArgs``, the dot of a metrics query template."""

    __slots__ = ("GroupBy", "GroupBySlice", "LabelMatchers", "LabelValuesByName", "Series")
    go_type = "naming.queryTemplateArgs"
    FIELDS: ClassVar[Mapping[str, str]] = {
        "Series": T_STRING,
        "LabelMatchers": T_STRING,
        "LabelValuesByName": T_MAP_STRING,
        "GroupBy": T_STRING,
        "GroupBySlice": "[]string",
    }

    def __init__(
        self,
        series: str,
        matchers: Sequence[str],
        values: Mapping[str, str],
        group_by: Sequence[str],
        group_by_text: str,
    ) -> None:
        self.Series = series
        self.LabelMatchers = ",".join(matchers)
        self.LabelValuesByName = string_map(values)
        self.GroupBy = group_by_text
        self.GroupBySlice = GoSlice(list(group_by), "[]string", T_STRING)


@dataclass(slots=True, eq=False)
class ResourceConverter:
    """``naming.resourceConverter``: overrides both ways, the template, and the label regex
    the template implies (``(?P<group>.+?)`` / ``(?P<resource>.+?)`` substituted)."""

    template: TextTemplate | None
    extractor: re2._Regexp | None
    group_index: int | None
    resource_index: int
    label_to_resource: dict[str, GroupResource] = field(default_factory=dict)
    resource_to_label: dict[GroupResource, str] = field(default_factory=dict)

    def label_for(self, resource: GroupResource) -> str:
        """``LabelForResource``; raises AdapterError with the adapter's message."""
        label = self.resource_to_label.get(resource)
        if label is not None:
            return label
        try:
            return self._make_label(resource)
        except AdapterError as err:
            raise AdapterError(f"unable to convert resource {resource} into label: {err}") from None

    def _make_label(self, resource: GroupResource) -> str:
        if self.template is None:
            raise AdapterError("no generic resource label form specified for this metric")
        try:
            name = singular(resource.resource)
        except NoMatch as err:
            raise AdapterError(f"unable to singularize resource {resource}: {err}") from None
        group = resource.group.translate(_GROUP_SANITIZER)
        try:
            label = self.template.execute(_GroupResourceData(group, name))
        except TemplateError as err:
            raise AdapterError(str(err)) from None
        if not label:
            raise AdapterError("empty label produced by label template")
        return label

    def resources_for(self, labels: Labels) -> list[GroupResource]:
        """``ResourcesForSeries``: the group-resources a series' labels name. (Upstream also
        derives a "namespaced" flag, but a metric's info is namespaced exactly when its
        group-resource is not namespaces, nodes or persistentvolumes.)"""
        found: list[GroupResource] = []
        for name, _ in labels:
            if name == "__name__":
                continue
            res = self.label_to_resource.get(name)
            if res is None and self.extractor is not None:
                m = self.extractor.fullmatch(name)
                if m is not None:
                    group = m.group(self.group_index) if self.group_index is not None else ""
                    try:
                        res = resource_for(GroupResource(group, m.group(self.resource_index)))
                    except NoMatch:
                        continue  # not a resource: skipped, as upstream does
            if res is not None:
                found.append(res)
        return found


@dataclass(frozen=True, slots=True, eq=False)
class Namer:
    """One compiled discovery rule (``naming.metricNamer``)."""

    rule: DiscoveryRule
    filters: tuple[tuple[re2._Regexp, bool], ...]
    name_matches: re2._Regexp
    name_as: str
    converter: ResourceConverter
    query: TextTemplate
    namespaced: bool

    @property
    def series_query(self) -> str:
        return self.rule.series_query

    def keep(self, name: str) -> bool:
        """``FilterSeries`` for one series name."""
        return all((regex.search(name) is not None) == positive for regex, positive in self.filters)

    def metric_name(self, series_name: str) -> str | None:
        """``MetricNameForSeries``: the API name, None when the name does not match."""
        m = self.name_matches.search(series_name)
        if m is None:
            return None
        groupindex = dict(self.name_matches.groupindex)
        template = parse_expand(self.name_as, groupindex, self.name_matches.groups)
        return expand(template, m)

    def build(
        self,
        series: str,
        resource: GroupResource,
        namespace: str,
        metric_selector: Sequence[Requirement],
        names: Sequence[str],
        extra_group_by: Sequence[str] = (),
    ) -> str:
        """``metricsQuery.Build``: the query for ``names`` of ``resource`` (``namespace`` ""
        for a cluster-scoped one)."""
        parts = _parts(metric_selector)
        if namespace:
            parts.append((self.converter.label_for(NAMESPACES), Op.EQUALS, (namespace,)))
        exprs, values = _process(parts)
        label = self.converter.label_for(resource)
        target = "|".join(names)
        exprs.append(f"{label}={quote(target)}" if len(names) <= 1 else f"{label}=~{quote(target)}")
        values[label] = target
        group_by = [label, *extra_group_by]
        return self._execute(_QueryArgs(series, exprs, values, group_by, ",".join(group_by)))

    def build_external(
        self,
        series: str,
        namespace: str,
        metric_selector: Sequence[Requirement],
        group_by: str = "",
        group_by_slice: Sequence[str] = (),
    ) -> str:
        """``metricsQuery.BuildExternal`` (the adapter passes no group-by)."""
        parts = _parts(metric_selector)
        if self.namespaced and namespace:
            parts.append((self.converter.label_for(NAMESPACES), Op.EQUALS, (namespace,)))
        exprs, values = _process(parts)
        return self._execute(_QueryArgs(series, exprs, values, group_by_slice, group_by))

    def _execute(self, args: _QueryArgs) -> str:
        try:
            text = self.query.execute(args)
        except TemplateError as err:
            raise AdapterError(str(err)) from None
        if not text:
            raise AdapterError("empty query produced by metrics query template")
        return text


_Part = tuple[str, Op, tuple[str, ...]]


def _parts(requirements: Sequence[Requirement]) -> list[_Part]:
    # A labels.Selector keeps its requirements sorted by key, values sorted too.
    ordered = sorted(requirements, key=lambda r: r.key)
    return [(r.key, r.op, tuple(sorted(set(r.values)))) for r in ordered]


def _process(parts: Sequence[_Part]) -> tuple[list[str], dict[str, str]]:
    """``processQueryParts``: one matcher per requirement, or the adapter's error."""
    exprs: list[str] = []
    values: dict[str, str] = {}
    for name, op, vals in parts:
        if not name:
            raise AdapterError("label not specified")
        if op in (Op.EXISTS, Op.DOES_NOT_EXIST) and vals:
            raise AdapterError("operator does not support values")
        if op not in (Op.EXISTS, Op.DOES_NOT_EXIST) and not vals:
            raise AdapterError("operator requires values")
        if op == Op.EXISTS:
            matcher = "!="
        elif op == Op.DOES_NOT_EXIST:
            matcher = "="
        elif len(vals) == 1:
            matcher = {Op.EQUALS: "=", Op.NOT_EQUALS: "!=", Op.IN: "=~", Op.NOT_IN: "!~"}[op]
        else:
            matcher = "=~" if op in (Op.EQUALS, Op.IN) else "!~"
        exprs.append(f"{name}{matcher}{quote('|'.join(vals))}")
        values[name] = "|".join(vals)
    return exprs, values


@dataclass(frozen=True, slots=True, eq=False)
class CompiledAdapter:
    """The namers of the custom (``rules``) and external (``externalRules``) rules."""

    config: AdapterConfig
    custom: tuple[Namer, ...]
    external: tuple[Namer, ...]


def _converter(cfg: AdapterConfig, mapping: ResourceMapping, path: str) -> ResourceConverter:
    template = None
    extractor = None
    group_index: int | None = None
    resource_index = 0
    where = f"{path}.resources.template"
    if mapping.template:
        try:
            template = TextTemplate(mapping.template, "resource-label", ("<<", ">>"))
        except TemplateError as err:
            raise cfg.error(
                where, f"unable to parse label template {quote(mapping.template)}: {err}"
            ) from None
        prefix = f"unable to generate label format from template {quote(mapping.template)}: "
        try:
            pattern = template.execute(_GroupResourceData("(?P<group>.+?)", "(?P<resource>.+?)"))
        except TemplateError as err:
            raise cfg.error(
                where, f"{prefix}unable to convert label template to matcher: {err}"
            ) from None
        if not pattern:
            raise cfg.error(
                where, f"{prefix}unable to convert label template to matcher: empty template"
            )
        try:
            extractor = go_regexp(f"^{pattern}$")
        except ValueError as err:
            raise cfg.error(
                where, f"{prefix}unable to convert label template to matcher: {err}"
            ) from None
        names = dict(extractor.groupindex)
        if "resource" not in names:
            raise cfg.error(
                where, f"{prefix}must include at least `{{{{.Resource}}}}` in the label template"
            )
        resource_index = names["resource"]
        group_index = names.get("group")
    converter = ResourceConverter(template, extractor, group_index, resource_index)
    for label, override in mapping.overrides:
        try:
            res = resource_for(GroupResource(override.group, override.resource))
        except NoMatch as err:
            shown = f"{{{override.group} {override.resource}}}"
            raise cfg.error(
                f"{path}.resources.overrides.{label}",
                f"unable to normalize group-resource {shown}: {err}",
            ) from None
        converter.label_to_resource[label] = res
        converter.resource_to_label[res] = label
    return converter


def _series_query(cfg: AdapterConfig, rule: DiscoveryRule) -> None:
    """The series API takes a series selector only; a rule whose query is not one never
    lists anything (kubeprom says so when the config is read)."""
    where = f"{rule.path}.seriesQuery"
    try:
        parse(rule.series_query)
    except ParseError as err:
        raise cfg.error(where, f"invalid seriesQuery {quote(rule.series_query)}: {err}") from None
    try:
        parse(f"{rule.series_query}[1s]")
    except ParseError:
        raise cfg.error(
            where, f"seriesQuery {quote(rule.series_query)} is not a series selector"
        ) from None


def _namer(cfg: AdapterConfig, rule: DiscoveryRule) -> Namer:
    path = rule.path
    sq = quote(rule.series_query)
    _series_query(cfg, rule)
    converter = _converter(cfg, rule.resources, path)
    namespaced = True if rule.resources.namespaced is None else rule.resources.namespaced
    try:
        query = TextTemplate(rule.metrics_query, "metrics-query", ("<<", ">>"))
    except TemplateError as err:
        raise cfg.error(
            f"{path}.metricsQuery",
            f"unable to construct metrics query associated with series query {sq}: unable to "
            f"parse metrics query template {quote(rule.metrics_query)}: {err}",
        ) from None
    filters = []
    for i, f in enumerate((*rule.series_filters, RegexFilter(is_=rule.name.matches))):
        from_name = i == len(rule.series_filters)
        if from_name and not rule.name.matches:
            break
        where = f"{path}.name.matches" if from_name else f"{path}.seriesFilters[{i}]"
        what = "from name rules " if from_name else ""
        try:
            filters.append(_filter(f))
        except ValueError as err:
            raise cfg.error(
                where,
                f"unable to generate series name filter {what}associated with series query "
                f"{sq}: {err}",
            ) from None
    name_matches = go_regexp(rule.name.matches or ".*")
    name_as = rule.name.as_
    if not name_as:
        groups = name_matches.groups
        if groups == 0:
            name_as = "$0"
        elif groups == 1:
            name_as = "$1"
        else:
            raise cfg.error(
                f"{path}.name",
                f"must specify an 'as' value for name matcher {quote(rule.name.matches)} "
                f"associated with series query {sq}",
            )
    return Namer(rule, tuple(filters), name_matches, name_as, converter, query, namespaced)


def _filter(f: RegexFilter) -> tuple[re2._Regexp, bool]:
    """``NewReMatcher``."""
    if f.is_ and f.is_not:
        raise ValueError(
            f"cannot have both an `is` ({quote(f.is_)}) and `isNot` ({quote(f.is_not)}) "
            "expression in a single filter"
        )
    if not f.is_ and not f.is_not:
        raise ValueError("must have either an `is` or `isNot` expression in a filter")
    raw = f.is_ or f.is_not
    try:
        return go_regexp(raw), bool(f.is_)
    except ValueError as err:
        raise ValueError(f"unable to compile series filter {quote(raw)}: {err}") from None


def compile_adapter(cfg: AdapterConfig) -> CompiledAdapter:
    """The namers of every rule; raises :class:`ConfigError` where the adapter would not
    start, at the offending field."""
    return CompiledAdapter(
        cfg,
        tuple(_namer(cfg, r) for r in cfg.rules),
        tuple(_namer(cfg, r) for r in cfg.external_rules),
    )


__all__ = ["AdapterError", "CompiledAdapter", "ConfigError", "Namer", "compile_adapter"]
