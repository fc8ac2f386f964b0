"""Relabeling: Prometheus' ``relabel.Process`` over :class:`~kubeprom.model.labels.Labels`.

It runs once per discovered target (``relabel_configs``) and once per *new* series of a
scrape (``metric_relabel_configs``; the scrape cache keeps the result), never per sample.
Rules are :class:`~kubeprom.config.relabel.RelabelConfig` values, validated and compiled when
the configuration is loaded.

Semantics follow ``model/relabel/relabel.go`` exactly, including its label builder: a rule
sees the effects of the rules before it, setting a label to ``""`` deletes it, ``labelmap``
walks the labels as they were when the rule started (unchanged labels in name order, then
labels set by earlier rules in the order they were first set), and a ``replace`` whose
expanded ``target_label`` is not a valid label name does nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import re2

from kubeprom.config.relabel import (
    DEFAULT_REGEX,
    RelabelAction,
    RelabelConfig,
    Template,
)
from kubeprom.model.labels import Labels, is_label_name

__all__ = ["RelabelAction", "RelabelConfig", "expand", "hashmod", "process"]

A = RelabelAction


def process(labels: Labels, configs: Sequence[RelabelConfig]) -> Labels | None:
    """Apply ``configs`` in order; the resulting labels, or None when a rule drops them."""
    if not configs:
        return labels
    b = _Builder(labels)
    for cfg in configs:
        if not _relabel(cfg, b):
            return None
    return b.labels() if b.changed else labels


def expand(template: Template, match: re2._Match | None) -> str:
    """Expand a parsed template against a match (``None`` expands groups to ``""``)."""
    if len(template) == 1 and isinstance(template[0], str):
        return template[0]
    out: list[str] = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
        elif part >= 0 and match is not None:
            out.append(match.group(part) or "")
    return "".join(out)


def hashmod(value: str, modulus: int) -> int:
    """md5 of ``value``, its last 8 bytes as a big-endian integer, modulo ``modulus``."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


class _Builder:
    """Prometheus' ``labels.Builder``: a base label set plus ordered additions and deletions."""

    __slots__ = ("add", "base", "changed", "dels")

    def __init__(self, labels: Labels) -> None:
        self.base = labels.to_dict()  # name order, as Labels iterates
        self.add: dict[str, str] = {}  # insertion order = the order names were first set
        self.dels: set[str] = set()
        self.changed = False

    def get(self, name: str) -> str:
        value = self.add.get(name)
        if value is not None:
            return value
        if name in self.dels:
            return ""
        return self.base.get(name, "")

    def set(self, name: str, value: str) -> None:
        if value == "":
            self.delete(name)
            return
        self.add[name] = value
        self.changed = True

    def delete(self, name: str) -> None:
        self.add.pop(name, None)
        self.dels.add(name)
        self.changed = True

    def snapshot(self) -> list[tuple[str, str]]:
        """The current labels in Builder.Range order, taken before a rule changes them."""
        add, dels = self.add, self.dels
        out = [(n, v) for n, v in self.base.items() if n not in dels and n not in add]
        out += add.items()
        return out

    def labels(self) -> Labels:
        merged = {n: v for n, v in self.base.items() if n not in self.dels}
        merged.update(self.add)
        return Labels(merged.items())


def _relabel(cfg: RelabelConfig, b: _Builder) -> bool:
    val = cfg.separator.join([b.get(name) for name in cfg.source_labels])
    action = cfg.action
    if action is A.REPLACE:
        _replace(cfg, b, val)
    elif action is A.KEEP:
        return cfg.compiled.fullmatch(val) is not None
    elif action is A.DROP:
        return cfg.compiled.fullmatch(val) is None
    elif action is A.KEEPEQUAL:
        return b.get(cfg.target_label) == val
    elif action is A.DROPEQUAL:
        return b.get(cfg.target_label) != val
    elif action is A.HASHMOD:
        b.set(cfg.target_label, str(hashmod(val, cfg.modulus)))
    elif action is A.LOWERCASE:
        b.set(cfg.target_label, _go_lower(val))
    elif action is A.UPPERCASE:
        b.set(cfg.target_label, _go_upper(val))
    elif action is A.LABELMAP:
        for name, value in b.snapshot():
            m = cfg.compiled.fullmatch(name)
            if m is not None:
                b.set(expand(cfg.replacement_template, m), value)
    elif action is A.LABELDROP:
        for name in _matching_names(cfg, b, want=True):
            b.delete(name)
    elif action is A.LABELKEEP:
        for name in _matching_names(cfg, b, want=False):
            b.delete(name)
    else:  # pragma: no cover - RelabelAction is closed
        raise AssertionError(f"unknown relabel action {action!r}")
    return True


def _replace(cfg: RelabelConfig, b: _Builder, val: str) -> None:
    if (
        val == ""
        and cfg.regex == DEFAULT_REGEX
        and "$" not in cfg.target_label
        and "$" not in cfg.replacement
    ):
        # Prometheus' fast path: a constant label, no regex needed.
        b.set(cfg.target_label, cfg.replacement)
        return
    m = cfg.compiled.fullmatch(val)
    if m is None:
        return
    target = expand(cfg.target_template, m)
    if not is_label_name(target):
        return
    b.set(target, expand(cfg.replacement_template, m))


def _matching_names(cfg: RelabelConfig, b: _Builder, *, want: bool) -> Iterator[str]:
    fullmatch = cfg.compiled.fullmatch
    for name, _ in b.snapshot():
        if (fullmatch(name) is not None) is want:
            yield name


# Go's strings.ToLower/ToUpper map rune by rune with simple case mappings: no "ß" -> "SS",
# no final-sigma rule. Python's str methods use full mappings, so non-ASCII text goes char
# by char and keeps any character whose full mapping is not a single character. U+0130 is
# the one letter whose full lowercase is two characters while its simple one is "i".
_SIMPLE_LOWER = {"\u0130": "i"}


def _go_lower(value: str) -> str:
    if value.isascii():
        return value.lower()
    return "".join(_SIMPLE_LOWER.get(c) or _one(c, c.lower()) for c in value)


def _go_upper(value: str) -> str:
    if value.isascii():
        return value.upper()
    return "".join(_one(c, c.upper()) for c in value)


def _one(c: str, mapped: str) -> str:
    return mapped if len(mapped) == 1 else c
