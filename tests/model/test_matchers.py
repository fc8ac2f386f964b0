"""Label matchers: the four match types, RE2 semantics, and the literal-alternation fast path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.errors import ValidationError
from kubeprom.model import Matcher, MatchType


@pytest.mark.parametrize(
    ("type_", "value", "label_value", "want"),
    [
        (MatchType.EQUAL, "node", "node", True),
        (MatchType.EQUAL, "node", "nodes", False),
        (MatchType.EQUAL, "node", "", False),
        (MatchType.NOT_EQUAL, "node", "node", False),
        (MatchType.NOT_EQUAL, "node", "api", True),
        (MatchType.NOT_EQUAL, "node", "", True),
        (MatchType.REGEX, "no.e", "node", True),
        (MatchType.REGEX, "no.e", "api", False),
        (MatchType.NOT_REGEX, "no.e", "node", False),
        (MatchType.NOT_REGEX, "no.e", "api", True),
    ],
    ids=[
        "eq-hit",
        "eq-miss-longer",
        "eq-miss-absent",
        "ne-miss",
        "ne-hit",
        "ne-hit-absent",
        "re-hit",
        "re-miss",
        "nre-miss",
        "nre-hit",
    ],
)
def test_match_types(type_: MatchType, value: str, label_value: str, want: bool) -> None:
    assert Matcher(type_, "job", value).matches(label_value) is want


def test_type_given_as_operator_string() -> None:
    m = Matcher("!~", "job", "a.*")  # type: ignore[arg-type]
    assert m.type is MatchType.NOT_REGEX
    assert m.matches("b")
    assert not m.matches("abc")


@pytest.mark.parametrize(
    ("pattern", "label_value", "want"),
    [
        ("a.c", "abc", True),
        ("a.c", "xabcx", False),
        ("a.c", "abcx", False),
        ("a.c", "xabc", False),
        ("a|b", "ab", False),
        ("a|ab", "ab", True),  # full match, not leftmost-first prefix match
        ("a.c", "a\nc", True),  # `.` matches a newline (Prometheus 3.x)
        (".*", "line1\nline2", True),
        ("a.*", "a\n", True),
        ("(?i)NODE", "node", True),
    ],
    ids=[
        "plain",
        "no-substring",
        "no-prefix",
        "no-suffix",
        "alternation-anchored",
        "alternation-longest",
        "dot-newline",
        "star-multiline",
        "trailing-newline",
        "flags",
    ],
)
def test_regex_is_fully_anchored_re2(pattern: str, label_value: str, want: bool) -> None:
    assert Matcher(MatchType.REGEX, "a", pattern).matches(label_value) is want
    assert Matcher(MatchType.NOT_REGEX, "a", pattern).matches(label_value) is not want


@pytest.mark.parametrize(
    ("type_", "value", "want_absent", "want_present"),
    [
        (MatchType.EQUAL, "", True, False),
        (MatchType.REGEX, "", True, False),
        (MatchType.NOT_REGEX, ".+", True, False),
        (MatchType.REGEX, "x|", True, True),
        (MatchType.REGEX, ".*", True, True),
        (MatchType.NOT_EQUAL, "", False, True),
        (MatchType.REGEX, ".+", False, True),
        (MatchType.NOT_REGEX, "", False, True),
        (MatchType.EQUAL, "x", False, True),
    ],
    ids=[
        'a=""',
        'a=~""',
        'a!~".+"',
        'a=~"x|"',
        'a=~".*"',
        'a!=""',
        'a=~".+"',
        'a!~""',
        'a="x"',
    ],
)
def test_matching_a_missing_label(
    type_: MatchType, value: str, want_absent: bool, want_present: bool
) -> None:
    """A missing label reads as ``""``; ``matches_empty`` tells the index to look there."""
    m = Matcher(type_, "a", value)
    assert m.matches("") is want_absent
    assert m.matches_empty is want_absent
    assert m.matches("x") is want_present


@pytest.mark.parametrize(
    "pattern",
    ["(", "[a", "a**", "x{2,1}", "*", "(?P<n>"],
    ids=["open-paren", "open-class", "double-star", "bad-repeat", "bare-star", "open-group"],
)
@pytest.mark.parametrize("type_", [MatchType.REGEX, MatchType.NOT_REGEX], ids=["re", "nre"])
def test_invalid_regex_names_the_label(type_: MatchType, pattern: str) -> None:
    with pytest.raises(ValidationError, match=r"invalid regular expression .* for label 'pod'"):
        Matcher(type_, "pod", pattern)


def test_equality_matchers_never_compile_their_value() -> None:
    assert Matcher(MatchType.EQUAL, "pod", "(").matches("(")
    assert Matcher(MatchType.NOT_EQUAL, "pod", "[a").matches("a")


@pytest.mark.parametrize(
    ("matcher", "want"),
    [
        (Matcher(MatchType.EQUAL, "job", "node"), 'job="node"'),
        (Matcher(MatchType.NOT_EQUAL, "a", 'x"\n\\'), 'a!="x\\"\\n\\\\"'),
        (Matcher(MatchType.NOT_REGEX, "a", "a.b"), 'a!~"a.b"'),
        (Matcher(MatchType.EQUAL, "a", "\t\x00"), 'a="\\t\\x00"'),
        (Matcher(MatchType.EQUAL, "a.b", "1"), '"a.b"="1"'),
        (Matcher(MatchType.EQUAL, "9a", "1"), '"9a"="1"'),
    ],
    ids=["plain", "escaped", "regex", "strconv-quote", "utf8-name", "digit-first"],
)
def test_str(matcher: Matcher, want: str) -> None:
    assert str(matcher) == want


# Characters with no regex meaning (plus non-ASCII and a newline): alternations of them take
# the set-lookup fast path.
_LITERAL = st.text(alphabet="ab-_ /é\n:", max_size=3)


@given(
    alternatives=st.lists(_LITERAL, min_size=1, max_size=4),
    probes=st.lists(_LITERAL, max_size=6),
    negate=st.booleans(),
)
def test_literal_alternation_fast_path_agrees_with_re2(
    alternatives: list[str], probes: list[str], negate: bool
) -> None:
    pattern = "|".join(alternatives)
    type_ = MatchType.NOT_REGEX if negate else MatchType.REGEX
    fast = Matcher(type_, "l", pattern)
    # An empty group changes nothing in the language but forces the compiled-regex path.
    slow = Matcher(type_, "l", pattern + "(?:)")
    assert fast._set is not None, "fast path not taken; the comparison would be vacuous"
    assert slow._regex is not None
    candidates = [*alternatives, *probes, "", pattern]
    candidates += [a + b for a in alternatives for b in alternatives]
    candidates += [a[:-1] for a in alternatives] + [a + "\n" for a in alternatives]
    for value in candidates:
        assert fast.matches(value) == slow.matches(value), (pattern, value)


_affix_values = st.text(alphabet="ab-\n.x", max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    lit=st.text(alphabet="ab-\nx", max_size=4),
    shape=st.sampled_from(["{}.*", ".*{}", ".*{}.*", ".*", ".+"]),
    values=st.lists(_affix_values, max_size=10),
)
def test_prefix_suffix_contains_fast_path_agrees_with_re2(
    lit: str, shape: str, values: list[str]
) -> None:
    pattern = shape.format(lit)
    fast = Matcher(MatchType.REGEX, "a", pattern)
    slow = Matcher(MatchType.REGEX, "a", pattern + "(?:)")  # (?:) defeats the fast path
    assert fast._fast is not None
    assert slow._fast is None
    for v in [*values, lit, "", lit + "\n"]:
        assert fast.matches(v) == slow.matches(v), (pattern, v)
        assert fast.matches(v) == slow.matches(v)  # memoised answers stay right
