"""Relabeling rules (``relabel_configs`` and friends) as Prometheus' ``relabel.Config``.

Names, defaults and validation messages follow ``model/relabel/relabel.go``. Label names are
checked with Prometheus' legacy character set (``[a-zA-Z_][a-zA-Z0-9_]*``), the set kubeprom's
exposition format and store use; Prometheus 3 defaults to UTF-8 names.

:class:`RelabelConfig` compiles its regex (RE2, fully anchored, ``.`` matching newlines) and
its ``$1``/``${name}`` templates once, when it is built; :mod:`kubeprom.config.relabeling`
applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import re2
import yaml

from kubeprom.config.nodes import Fields, error, is_null, scalar_str
from kubeprom.errors import InvalidRelabelConfig
from kubeprom.model.labels import is_label_name


class RelabelAction(StrEnum):
    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.dot_nl = True
_RE2_OPTIONS.log_errors = False  # errors are raised, not printed
# Prometheus' relabelTargetLegacy: a legacy label name that may contain $1 / ${name} references.
# RE2 because the nested repetition would backtrack badly in a backtracking engine.
_TARGET_WITH_VARS = re2.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+")

# A template is literal text and capture-group indices; -1 stands for a group the regex does
# not have, which expands to "" (Go's regexp.Expand).
TemplatePart = str | int
Template = tuple[TemplatePart, ...]
_GO_MAX_GROUP = 100_000_000  # Go's extract() stops treating a name as a number past 1e8


def compile_regex(pattern: str) -> re2._Regexp:
    """Compile ``pattern`` as Prometheus does: anchored at both ends, ``.`` matching ``\\n``.

    Raises :class:`~kubeprom.errors.InvalidRelabelConfig` with RE2's reason.
    """
    try:
        # Non-capturing so group numbers stay the user's; fullmatch() anchors both ends.
        return re2.compile(f"(?:{pattern})", _RE2_OPTIONS)
    except re2.error as err:
        reason = err.args[0] if err.args else err
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        reason = str(reason).split(": ", 1)[0]  # re2 appends our wrapped copy of the pattern
        raise InvalidRelabelConfig(f"error parsing regexp: {reason}: {pattern!r}", "regex") from err


def parse_template(template: str, groupindex: Mapping[str, int], groups: int) -> Template:
    """Split a Go ``regexp.Expand`` template into literals and group indices.

    ``$$`` is a literal ``$``; ``$name`` takes the longest run of letters, digits and ``_``
    (so ``$1x`` is the group *named* ``1x``, usually absent, hence empty); ``${name}``
    delimits it; an all-digit name without a leading zero is a group number; a malformed
    reference keeps its ``$`` as text.
    """
    parts: list[TemplatePart] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c != "$":
            text.append(c)
            i += 1
            continue
        if i + 1 < n and template[i + 1] == "$":
            text.append("$")
            i += 2
            continue
        j = i + 1
        brace = j < n and template[j] == "{"
        if brace:
            j += 1
        start = j
        while j < n and (template[j].isalpha() or template[j].isdecimal() or template[j] == "_"):
            j += 1
        name = template[start:j]
        if not name or (brace and (j >= n or template[j] != "}")):
            text.append("$")  # malformed: the $ is kept as text
            i += 1
            continue
        if brace:
            j += 1
        if text:
            parts.append("".join(text))
            text = []
        parts.append(_group_index(name, groupindex, groups))
        i = j
    if text:
        parts.append("".join(text))
    return tuple(parts)


def _group_index(name: str, groupindex: Mapping[str, int], groups: int) -> int:
    if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
        num = int(name)
        return num if num <= groups and num < _GO_MAX_GROUP else -1
    return groupindex.get(name, -1)


@dataclass(frozen=True, slots=True)
class RelabelConfig:
    """One ``relabel_configs`` rule, validated as Prometheus' ``relabel.Config.Validate``.

    Construction raises :class:`InvalidRelabelConfig`. ``regex`` is the user's pattern;
    ``compiled`` matches it with ``fullmatch``.
    """

    source_labels: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    action: RelabelAction = RelabelAction.REPLACE
    compiled: re2._Regexp = field(init=False, repr=False, compare=False)
    target_template: Template = field(init=False, repr=False, compare=False)
    replacement_template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _action(str(self.action)))
        object.__setattr__(self, "source_labels", tuple(self.source_labels))
        for name in self.source_labels:
            if not is_label_name(name):
                raise InvalidRelabelConfig(f"{name!r} is not a valid label name", "source_labels")
        compiled = compile_regex(self.regex)
        self._validate()
        object.__setattr__(self, "compiled", compiled)
        index, groups = compiled.groupindex, compiled.groups
        object.__setattr__(
            self, "target_template", parse_template(self.target_label, index, groups)
        )
        object.__setattr__(
            self, "replacement_template", parse_template(self.replacement, index, groups)
        )

    def _validate(self) -> None:
        a, target = self.action, self.target_label
        A = RelabelAction
        if a is A.HASHMOD and self.modulus == 0:
            raise InvalidRelabelConfig(
                "relabel configuration for hashmod requires non-zero modulus", "modulus"
            )
        needs_target = (A.REPLACE, A.HASHMOD, A.LOWERCASE, A.UPPERCASE, A.KEEPEQUAL, A.DROPEQUAL)
        if a in needs_target and target == "":
            raise InvalidRelabelConfig(
                f"relabel configuration for {a} action requires 'target_label' value",
                "target_label",
            )
        bad_target = InvalidRelabelConfig(
            f"{target!r} is invalid 'target_label' for {a} action", "target_label"
        )
        if a is A.REPLACE:
            if "$" in target:
                if _TARGET_WITH_VARS.fullmatch(target) is None:
                    raise bad_target
            elif not is_label_name(target):
                raise bad_target
        simple = (A.LOWERCASE, A.UPPERCASE, A.KEEPEQUAL, A.DROPEQUAL)
        if a in simple:
            if not is_label_name(target):
                raise bad_target
            if self.replacement != DEFAULT_REPLACEMENT:
                raise InvalidRelabelConfig(
                    f"'replacement' can not be set for {a} action", "replacement"
                )
        if a is A.LABELMAP and _TARGET_WITH_VARS.fullmatch(self.replacement) is None:
            raise InvalidRelabelConfig(
                f"{self.replacement!r} is invalid 'replacement' for {a} action", "replacement"
            )
        if a is A.HASHMOD and not is_label_name(target):
            raise bad_target
        if a in (A.KEEPEQUAL, A.DROPEQUAL) and (
            self.regex != DEFAULT_REGEX
            or self.modulus != 0
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            raise InvalidRelabelConfig(
                f"{a} action requires only 'source_labels' and `target_label`, and no other fields"
            )
        if a in (A.LABELDROP, A.LABELKEEP) and (
            self.source_labels
            or target != ""
            or self.modulus != 0
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            raise InvalidRelabelConfig(f"{a} action requires only 'regex', and no other fields")


def _action(text: str) -> RelabelAction:
    if text == "":
        raise InvalidRelabelConfig("relabel action cannot be empty", "action")
    try:
        return RelabelAction(text.lower())
    except ValueError:
        raise InvalidRelabelConfig(f"unknown relabel action {text!r}", "action") from None


_RELABEL_FIELDS = frozenset(
    {"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"}
)


def parse_relabel_config(node: yaml.Node, source: str, path: str, what: str) -> RelabelConfig:
    """Read one relabel rule; ``what`` names the list in the null-rule error (Prometheus')."""
    if is_null(node):
        raise error(node, source, path, f"empty or null {what}")
    f = Fields(node, source, path, "relabel.Config", _RELABEL_FIELDS)
    # A key given empty takes Go's zero value: an empty regex then matches only "".
    regex_node = f.get("regex")
    regex = DEFAULT_REGEX if regex_node is None else scalar_str(regex_node, source, f.sub("regex"))
    source_labels = []
    for item_path, item in f.items("source_labels"):
        name = scalar_str(item, source, item_path)
        if not is_label_name(name):
            raise error(item, source, item_path, f"{name!r} is not a valid label name")
        source_labels.append(name)
    try:
        return RelabelConfig(
            source_labels=tuple(source_labels),
            separator=f.string("separator", DEFAULT_SEPARATOR),
            regex=regex,
            modulus=f.uint("modulus"),
            target_label=f.string("target_label"),
            replacement=f.string("replacement", DEFAULT_REPLACEMENT),
            action=f.string("action", RelabelAction.REPLACE),  # type: ignore[arg-type]
        )
    except InvalidRelabelConfig as err:
        raise f.fail(err.field, err.message) from err


def parse_relabel_configs(f: Fields, key: str, what: str) -> tuple[RelabelConfig, ...]:
    return tuple(parse_relabel_config(n, f.source, p, what) for p, n in f.items(key))
