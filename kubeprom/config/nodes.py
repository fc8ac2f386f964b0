"""Reading composed YAML nodes into typed values, with a position in every error.

Configuration files are loaded with ``yaml.compose`` so that every node keeps its
``start_mark``; :class:`Fields` reads one mapping into the fields of a dataclass the way
Prometheus' strict YAML decoding does: unknown and repeated keys are errors, and a key given
with an empty (null) value takes the zero value of its type (``""``, ``0``, ``false``, an
empty list), as Go's yaml.v2 does.

Every error is a :class:`~kubeprom.errors.ConfigError` carrying the file, the 1-based line
and column of the offending node and the dotted path of the field, e.g.
``scrape_configs[0].scrape_interval``.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from kubeprom.errors import ConfigError
from kubeprom.model.timeutil import parse_duration_ms

_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"
_TRUE = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})
_UINT64_MAX = (1 << 64) - 1


def error(node: yaml.Node, source: str, path: str | None, message: str) -> ConfigError:
    """A :class:`ConfigError` at ``node``'s position."""
    return ConfigError(
        message,
        file=source,
        line=node.start_mark.line + 1,
        col=node.start_mark.column + 1,
        field=path or None,
    )


def describe(node: yaml.Node) -> str:
    """What a node holds, for "expected X, got Y" messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "nothing (null)"
    return repr(str(node.value))


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def yaml_error(err: yaml.YAMLError, source: str) -> ConfigError:
    """A YAML syntax error as a ConfigError at the position PyYAML found it."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return ConfigError(
        f"invalid YAML: {problem}",
        file=source,
        line=mark.line + 1 if mark is not None else None,
        col=mark.column + 1 if mark is not None else None,
    )


def compose(text: str, source: str) -> yaml.Node | None:
    """Compose a YAML document; syntax errors become ConfigErrors with their position.

    libyaml composes about ten times faster than PyYAML's Python loader, with the same nodes
    and marks; a document it rejects is composed again by the Python loader, whose messages
    are the ones users see.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text)
    except yaml.YAMLError as err:
        raise yaml_error(err, source) from err


def compose_all(text: str, source: str) -> Iterator[yaml.Node]:
    """The documents of a YAML stream (empty ones skipped); syntax errors carry a position."""
    try:
        for node in yaml.compose_all(text):
            if node is not None and not is_null(node):
                yield node
    except yaml.YAMLError as err:
        raise yaml_error(err, source) from err


def scalar_str(node: yaml.Node, source: str, path: str) -> str:
    """Any scalar as its text (Go's yaml.v2 reads ``123`` into a string as ``"123"``)."""
    if not isinstance(node, yaml.ScalarNode):
        raise error(node, source, path, f"expected a string, got {describe(node)}")
    return "" if node.tag == _NULL_TAG else str(node.value)


def parse_uint(node: yaml.Node, source: str, path: str) -> int:
    if is_null(node):
        return 0
    if not isinstance(node, yaml.ScalarNode) or node.tag != _INT_TAG:
        raise error(node, source, path, f"expected a non-negative integer, got {describe(node)}")
    text = str(node.value).replace("_", "")
    try:
        value = int(text, 0)
    except ValueError as err:
        raise error(node, source, path, f"expected an integer, got {text!r}") from err
    if not 0 <= value <= _UINT64_MAX:
        raise error(node, source, path, f"expected a non-negative integer, got {text!r}")
    return value


def parse_duration(node: yaml.Node, source: str, path: str) -> int:
    """A Prometheus duration in milliseconds (``0`` is allowed, as ``model.ParseDuration``)."""
    text = scalar_str(node, source, path)
    if text == "":  # an empty scalar is no value: the zero duration
        return 0
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise error(node, source, path, str(err)) from err


def _merged_items(node: yaml.Node, source: str, path: str) -> list[tuple[yaml.Node, yaml.Node]]:
    """The pairs a ``<<`` merge key brings in: one mapping, or a list of them (earlier wins)."""
    if isinstance(node, yaml.MappingNode):
        return list(node.value)
    if isinstance(node, yaml.SequenceNode) and all(
        isinstance(n, yaml.MappingNode) for n in node.value
    ):
        return [pair for n in node.value for pair in n.value]
    raise error(node, source, path, f"expected a mapping to merge, got {describe(node)}")


class Fields:
    """One YAML mapping being read into the fields of ``type_name``.

    ``known`` lists the keys the type accepts; the first other key (in document order) and
    any repeated key are errors. ``path`` is the dotted path of the mapping itself.
    """

    def __init__(
        self,
        node: yaml.Node,
        source: str,
        path: str,
        type_name: str,
        known: frozenset[str] | set[str],
    ) -> None:
        self.node = node
        self.source = source
        self.path = path
        self._items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        if is_null(node):
            return
        if not isinstance(node, yaml.MappingNode):
            raise error(node, source, path, f"expected a mapping, got {describe(node)}")
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for item in _merged_items(value_node, source, path):
                    merged.setdefault(scalar_str(item[0], source, path), item)
                continue
            key = scalar_str(key_node, source, path)
            where = self.sub(key)
            if key not in known:
                raise error(key_node, source, where, f"field {key} not found in type {type_name}")
            if key in self._items:
                raise error(key_node, source, where, f"field {key} already set in type {type_name}")
            self._items[key] = (key_node, value_node)
        # Keys written in the mapping win over keys merged in with "<<: *anchor".
        for key, (key_node, value_node) in merged.items():
            if key not in known:
                raise error(
                    key_node, source, self.sub(key), f"field {key} not found in type {type_name}"
                )
            self._items.setdefault(key, (key_node, value_node))

    def sub(self, key: str) -> str:
        """The dotted path of ``key`` in this mapping."""
        return f"{self.path}.{key}" if self.path else key

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> yaml.Node | None:
        """The value node of ``key``, or None when the key is absent."""
        item = self._items.get(key)
        return item[1] if item is not None else None

    def at(self, key: str) -> yaml.Node:
        """The value node of ``key`` when present, else the mapping: where to point an error."""
        node = self.get(key)
        return node if node is not None else self.node

    def fail(self, key: str | None, message: str) -> ConfigError:
        """An error pointing at ``key`` (or at the mapping when None or absent)."""
        node = self.node if key is None else self.at(key)
        return error(node, self.source, self.sub(key) if key else self.path, message)

    def string(self, key: str, default: str = "") -> str:
        node = self.get(key)
        return default if node is None else scalar_str(node, self.source, self.sub(key))

    def boolean(self, key: str, default: bool = False) -> bool:
        node = self.get(key)
        if node is None:
            return default
        if is_null(node):
            return False
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL_TAG:
            raise error(
                node, self.source, self.sub(key), f"expected true or false, got {describe(node)}"
            )
        return str(node.value) in _TRUE

    def uint(self, key: str, default: int = 0) -> int:
        node = self.get(key)
        return default if node is None else parse_uint(node, self.source, self.sub(key))

    def duration_ms(self, key: str, default: int = 0) -> int:
        node = self.get(key)
        return default if node is None else parse_duration(node, self.source, self.sub(key))

    def items(self, key: str) -> Iterator[tuple[str, yaml.Node]]:
        """``(path, node)`` of each element of the list under ``key`` (none when absent)."""
        node = self.get(key)
        if node is None or is_null(node):
            return
        path = self.sub(key)
        if not isinstance(node, yaml.SequenceNode):
            raise error(node, self.source, path, f"expected a list, got {describe(node)}")
        for i, item in enumerate(node.value):
            yield f"{path}[{i}]", item

    def str_list(self, key: str) -> tuple[str, ...]:
        return tuple(scalar_str(item, self.source, path) for path, item in self.items(key))

    def pairs(self, key: str) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
        """``(name, key node, value node)`` of the mapping under ``key``; repeats are errors."""
        node = self.get(key)
        if node is None or is_null(node):
            return
        path = self.sub(key)
        if not isinstance(node, yaml.MappingNode):
            raise error(node, self.source, path, f"expected a mapping, got {describe(node)}")
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = scalar_str(key_node, self.source, path)
            if name in seen:
                raise error(key_node, self.source, f"{path}.{name}", f"duplicate key {name!r}")
            seen.add(name)
            yield name, key_node, value_node
