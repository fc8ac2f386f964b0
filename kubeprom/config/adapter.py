"""prometheus-adapter's metrics discovery config (``--config``), read as the adapter reads it.

The file is ``config.MetricsDiscoveryConfig`` decoded with yaml.v2's ``UnmarshalStrict``:
unknown and repeated keys are errors named after the Go type (``field seriesQury not found
in type config.DiscoveryRule``), a scalar is accepted where a string is expected. ::

    rules:                                  # custom.metrics.k8s.io
      - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
        seriesFilters: [{isNot: "^.*_bucket$"}]
        resources:
          overrides: {namespace: {resource: namespace}, pod: {resource: pod}}
          # or: template: "<<.Resource>>"
          namespaced: true                  # external rules: add the namespace matcher
        name: {matches: "^(.*)_total$", as: "${1}_per_second"}
        metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
    externalRules: [...]                    # external.metrics.k8s.io, same shape

What the adapter checks when it starts (``naming.NamersFromConfig``: regular expressions,
filters, the ``as`` default, templates, overrides) is checked by
:func:`kubeprom.hpa.adapter.compile_adapter`, which reports it at the field's position;
this module checks the shape and remembers where each field was written.
``resourceRules`` (the adapter serving ``metrics.k8s.io``) is refused: kubeprom computes
resource metrics the way metrics-server does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubeprom.config.hpa_spec import Position
from kubeprom.config.nodes import Fields, compose, error, is_null
from kubeprom.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RegexFilter:
    is_: str = ""
    is_not: str = ""


@dataclass(frozen=True, slots=True)
class GroupResourceOverride:
    group: str = ""
    resource: str = ""


@dataclass(frozen=True, slots=True)
class ResourceMapping:
    template: str = ""
    overrides: tuple[tuple[str, GroupResourceOverride], ...] = ()
    namespaced: bool | None = None


@dataclass(frozen=True, slots=True)
class NameMapping:
    matches: str = ""
    as_: str = ""


@dataclass(frozen=True, slots=True)
class DiscoveryRule:
    """One rule; ``path`` is where it sits in the file (``rules[0]``)."""

    path: str
    series_query: str = ""
    series_filters: tuple[RegexFilter, ...] = ()
    resources: ResourceMapping = ResourceMapping()
    name: NameMapping = NameMapping()
    metrics_query: str = ""


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """The rules of one config file and where each field path was written."""

    source: str
    rules: tuple[DiscoveryRule, ...] = ()
    external_rules: tuple[DiscoveryRule, ...] = ()
    positions: dict[str, Position] = field(default_factory=dict, compare=False)

    def error(self, path: str, message: str) -> ConfigError:
        """A :class:`ConfigError` at ``path`` (or the nearest enclosing field written)."""
        probe = path
        while probe and probe not in self.positions:
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        pos = self.positions.get(probe)
        return ConfigError(
            message,
            file=self.source,
            line=pos.line if pos else None,
            col=pos.col if pos else None,
            field=path,
        )


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[str, Position] = {}

    def fields(self, node: yaml.Node, path: str, type_name: str, known: set[str]) -> Fields:
        f = Fields(node, self.source, path, type_name, known)
        self._mark(path, node)
        for key in known:
            value = f.get(key)
            if value is not None:
                self._mark(f.sub(key), value)
        return f

    def _mark(self, path: str, node: yaml.Node) -> None:
        if node.start_mark is not None:
            self.positions[path] = Position(node.start_mark.line + 1, node.start_mark.column + 1)

    def rule(self, node: yaml.Node, path: str) -> DiscoveryRule:
        known = {"seriesQuery", "seriesFilters", "resources", "name", "metricsQuery"}
        f = self.fields(node, path, "config.DiscoveryRule", known)
        filters = []
        for p, item in f.items("seriesFilters"):
            r = self.fields(item, p, "config.RegexFilter", {"is", "isNot"})
            filters.append(RegexFilter(r.string("is"), r.string("isNot")))
        name = self.fields(
            f.get("name") or _EMPTY, f.sub("name"), "config.NameMapping", {"matches", "as"}
        )
        return DiscoveryRule(
            path=path,
            series_query=f.string("seriesQuery"),
            series_filters=tuple(filters),
            resources=self.resources(f),
            name=NameMapping(name.string("matches"), name.string("as")),
            metrics_query=f.string("metricsQuery"),
        )

    def resources(self, parent: Fields) -> ResourceMapping:
        node = parent.get("resources")
        path = parent.sub("resources")
        known = {"template", "overrides", "namespaced"}
        f = self.fields(node or _EMPTY, path, "config.ResourceMapping", known)
        overrides = []
        for label, key_node, value in f.pairs("overrides"):
            where = f"{f.sub('overrides')}.{label}"
            self._mark(where, key_node)
            g = self.fields(value, where, "config.GroupResource", {"group", "resource"})
            overrides.append(
                (label, GroupResourceOverride(g.string("group"), g.string("resource")))
            )
        namespaced_node = f.get("namespaced")
        namespaced = (
            None if namespaced_node is None or is_null(namespaced_node) else f.boolean("namespaced")
        )
        return ResourceMapping(f.string("template"), tuple(overrides), namespaced)


def load_adapter_text(text: str, source: str) -> AdapterConfig:
    """Read an adapter config; raises :class:`ConfigError` with the offending position."""
    node = compose(text, source)
    if node is None or is_null(node):
        return AdapterConfig(source)
    return load_adapter_node(node, source)


def load_adapter_node(node: yaml.Node, source: str, path: str = "") -> AdapterConfig:
    """An adapter config from a YAML node; ``path`` is where it is written in ``source``
    (``prometheus_adapter`` inline in kubeprom.yml), the prefix of every field path."""
    reader = _Reader(source)
    top = reader.fields(
        node, path, "config.MetricsDiscoveryConfig", {"rules", "resourceRules", "externalRules"}
    )
    resource_rules = top.get("resourceRules")
    if resource_rules is not None and not is_null(resource_rules):
        raise error(
            resource_rules,
            source,
            top.sub("resourceRules"),
            "resourceRules are not supported: kubeprom serves resource metrics as "
            "metrics-server computes them",
        )
    rules = tuple(reader.rule(item, path) for path, item in top.items("rules"))
    external = tuple(reader.rule(item, path) for path, item in top.items("externalRules"))
    return AdapterConfig(source, rules, external, reader.positions)


def load_adapter_file(path: str | Path) -> AdapterConfig:
    """As :func:`load_adapter_text` for a file; OSError when it cannot be read."""
    return load_adapter_text(Path(path).read_text(encoding="utf-8"), str(path))


# An empty mapping, for an object that was not written (its fields take zero values).
_EMPTY = yaml.MappingNode("tag:yaml.org,2002:map", [])
