"""Label matchers ``=``, ``!=``, ``=~``, ``!~`` with Prometheus semantics.

Regular expressions are RE2 (google-re2): linear time, fully anchored, and ``.`` matches a
newline, as in Prometheus 3.x. A missing label has the value ``""``, so ``a=""`` matches
series without ``a`` and ``a!=""`` requires it.
"""

from __future__ import annotations

import re as _stdlib_re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import re2

from kubeprom.errors import ValidationError
from kubeprom.model.gofmt import quote
from kubeprom.model.labels import is_label_name


class MatchType(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.dot_nl = True
_RE2_OPTIONS.log_errors = False  # we raise a ValidationError instead
# Characters that make a regex more than a literal; without them an alternation of
# literals is matched with a set lookup (Prometheus' FastRegexMatcher does the same).
_REGEX_META = _stdlib_re.compile(r"[\\.+*?()\[\]{}^$]")
# `lit.*`, `.*lit`, `.*lit.*` (and `.*`, `.+`) become string operations; `.` matches any
# character here (newline included), so these are exact, not approximations.
_AFFIX = _stdlib_re.compile(r"(\.\*)?([^\\.+*?()\[\]{}^$|]*)(\.[*+])?\Z", _stdlib_re.S)
# Values already tested against a regex: the same label values come back for every block.
_MEMO_MAX = 65_536


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher. Immutable; construct with :meth:`parse` style ``Matcher(t, n, v)``."""

    type: MatchType
    name: str
    value: str
    _regex: re2._Regexp | None = field(default=None, init=False, repr=False, compare=False)
    _set: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)
    _fast: Callable[[str], bool] | None = field(default=None, init=False, repr=False, compare=False)
    _memo: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", MatchType(self.type))
        # Hashed once: selections are memoised and cached by their matchers.
        object.__setattr__(self, "_hash", hash((self.type, self.name, self.value)))
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            if not _REGEX_META.search(self.value):
                object.__setattr__(self, "_set", frozenset(self.value.split("|")))
            elif (fast := _affix_matcher(self.value)) is not None:
                object.__setattr__(self, "_fast", fast)
            else:
                try:
                    compiled = re2.compile(f"(?:{self.value})", _RE2_OPTIONS)
                except re2.error as err:
                    reason = err.args[0] if err.args else err
                    if isinstance(reason, bytes):
                        reason = reason.decode(errors="replace")
                    # re2 reports "<reason>: <pattern>"; the pattern is our wrapped copy.
                    reason = str(reason).split(": ", 1)[0]
                    raise ValidationError(
                        f"invalid regular expression {self.value!r} for label {self.name!r}: "
                        f"{reason}"
                    ) from err
                object.__setattr__(self, "_regex", compiled)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Callable[..., Matcher], tuple[MatchType, str, str]]:
        # Rebuilt by the constructor: string hashes differ between processes.
        return (Matcher, (self.type, self.name, self.value))

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` when the label is absent) satisfies the matcher."""
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        if self._set is not None:
            hit = value in self._set
        elif self._fast is not None:
            hit = self._fast(value)
        elif self._regex is not None:
            memo = self._memo
            cached = memo.get(value)
            if cached is None:
                cached = self._regex.fullmatch(value) is not None
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                memo[value] = cached
            hit = cached
        else:  # __post_init__ gives every regex matcher a set, a fast path or a pattern
            raise RuntimeError(f"regex matcher {self.value!r} has nothing to match with")
        return hit if t is MatchType.REGEX else not hit

    @property
    def matches_empty(self) -> bool:
        """Whether series lacking the label match (so the postings index cannot be used alone)."""
        return self.matches("")

    def __str__(self) -> str:
        """Prometheus' ``Matcher.String()``: ``name="value"``, the value (and a name outside
        the legacy character set) as ``strconv.Quote`` writes it."""
        name = self.name if is_label_name(self.name) else quote(self.name)
        return f"{name}{self.type.value}{quote(self.value)}"


def _affix_matcher(pattern: str) -> Callable[[str], bool] | None:
    """A string test equivalent to an anchored ``lit.*`` / ``.*lit`` / ``.*lit.*`` regex."""
    m = _AFFIX.match(pattern)
    if m is None:
        return None
    head, lit, tail = m.groups()
    if tail == ".+":
        if head or lit:
            return None
        return lambda v: v != ""
    if head and tail:
        return lambda v: lit in v
    if head:
        return lambda v: v.endswith(lit)
    if tail:
        return lambda v: v.startswith(lit)
    return None  # a bare literal is handled by the set path


def equal(name: str, value: str) -> Matcher:
    return Matcher(MatchType.EQUAL, name, value)


def regex(name: str, value: str) -> Matcher:
    return Matcher(MatchType.REGEX, name, value)
