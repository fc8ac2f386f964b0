"""Relabeling, with cases ported from Prometheus' model/relabel/relabel_test.go."""

from __future__ import annotations

import hashlib

import pytest

from kubeprom.config.relabel import RelabelAction, RelabelConfig
from kubeprom.config.relabeling import hashmod, process
from kubeprom.errors import InvalidRelabelConfig
from kubeprom.model.labels import Labels

A = RelabelAction


def L(**kv: str) -> Labels:
    return Labels.from_dict(kv)


def R(**kw: object) -> RelabelConfig:
    return RelabelConfig(**kw)  # type: ignore[arg-type]


# (input labels, rules, output labels or None when dropped) -- upstream TestRelabel.
UPSTREAM = {
    "replace-with-group": (
        {"a": "foo", "b": "bar", "c": "baz"},
        [R(source_labels=("a",), regex="f(.*)", target_label="d", replacement="ch${1}-ch${1}")],
        {"a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"},
    ),
    "replace-chained": (
        {"a": "foo", "b": "bar", "c": "baz"},
        [
            R(
                source_labels=("a", "b"),
                regex="f(.*);(.*)r",
                target_label="a",
                replacement="b${1}${2}m",
            ),
            R(
                source_labels=("c", "a"),
                regex="(b).*b(.*)ba(.*)",
                target_label="d",
                replacement="$1$2$2$3",
            ),
        ],
        {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"},
    ),
    "drop-stops-processing": (
        {"a": "foo"},
        [
            R(source_labels=("a",), regex=".*o.*", action=A.DROP),
            R(source_labels=("a",), regex="f(.*)", target_label="d", replacement="ch$1-ch$1"),
        ],
        None,
    ),
    "drop": (
        {"a": "foo", "b": "bar"},
        [R(source_labels=("a",), regex=".*o.*", action=A.DROP)],
        None,
    ),
    "replace-inner-group": (
        {"a": "abc"},
        [R(source_labels=("a",), regex=".*(b).*", target_label="d", replacement="$1")],
        {"a": "abc", "d": "b"},
    ),
    "drop-no-match": (
        {"a": "foo"},
        [R(source_labels=("a",), regex="no-match", action=A.DROP)],
        {"a": "foo"},
    ),
    "drop-is-anchored": (
        {"a": "foo"},
        [R(source_labels=("a",), regex="f|o", action=A.DROP)],
        {"a": "foo"},
    ),
    "keep-no-match": (
        {"a": "foo"},
        [R(source_labels=("a",), regex="no-match", action=A.KEEP)],
        None,
    ),
    "keep-match": (
        {"a": "foo"},
        [R(source_labels=("a",), regex="f.*", action=A.KEEP)],
        {"a": "foo"},
    ),
    "replace-no-match-no-change": (
        {"a": "boo"},
        [R(source_labels=("a",), regex="f", target_label="b", replacement="bar")],
        {"a": "boo"},
    ),
    "blank-replacement-deletes": (
        {"a": "foo", "f": "baz"},
        [R(source_labels=("a",), regex="(f).*", target_label="$1", replacement="$2")],
        {"a": "foo"},
    ),
    "hashmod": (
        {"a": "foo", "b": "bar", "c": "baz"},
        [R(source_labels=("c",), target_label="d", action=A.HASHMOD, modulus=1000)],
        {"a": "foo", "b": "bar", "c": "baz", "d": "976"},
    ),
    "hashmod-newline": (
        {"a": "foo\nbar"},
        [R(source_labels=("a",), target_label="b", action=A.HASHMOD, modulus=1000)],
        {"a": "foo\nbar", "b": "734"},
    ),
    "labelmap": (
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [R(regex="(b.*)", replacement="bar_${1}", action=A.LABELMAP)],
        {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"},
    ),
    "labelmap-meta": (
        {"a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"},
        [R(regex="__meta_(my.*)", replacement="${1}", action=A.LABELMAP)],
        {
            "a": "foo",
            "__meta_my_bar": "aaa",
            "__meta_my_baz": "bbb",
            "__meta_other": "ccc",
            "my_bar": "aaa",
            "my_baz": "bbb",
        },
    ),
    "target-from-group": (
        {"a": "some-name-value"},
        [
            R(
                source_labels=("a",),
                regex="some-([^-]+)-([^,]+)",
                replacement="${2}",
                target_label="${1}",
            )
        ],
        {"a": "some-name-value", "name": "value"},
    ),
    "replacement-missing-group": (
        {"a": "some-name-value"},
        [
            R(
                source_labels=("a",),
                regex="some-([^-]+)-([^,]+)",
                replacement="${3}",
                target_label="${1}",
            )
        ],
        {"a": "some-name-value"},
    ),
    "invalid-target-after-expansion-is-skipped": (
        {"a": "some-name-0"},
        [
            R(
                source_labels=("a",),
                regex="some-([^-]+)-([^,]+)",
                replacement="${1}",
                target_label="${3}",
            ),
            R(
                source_labels=("a",),
                regex="some-([^-]+)-([^,]+)",
                replacement="${1}",
                target_label="${3}",
            ),
            R(
                source_labels=("a",),
                regex="some-([^-]+)(-[^,]+)",
                replacement="${1}",
                target_label="${3}",
            ),
        ],
        {"a": "some-name-0"},
    ),
    "real-life-tags": (
        {"__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar"},
        [
            R(
                source_labels=("__meta_sd_tags",),
                regex="(?:.+,|^)path:(/[^,]+).*",
                replacement="${1}",
                target_label="__metrics_path__",
            ),
            R(
                source_labels=("__meta_sd_tags",),
                regex="(?:.+,|^)job:([^,]+).*",
                replacement="${1}",
                target_label="job",
            ),
            R(
                source_labels=("__meta_sd_tags",),
                regex="(?:.+,|^)label:([^=]+)=([^,]+).*",
                replacement="${2}",
                target_label="${1}",
            ),
        ],
        {
            "__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar",
            "__metrics_path__": "/secret",
            "job": "some-job",
            "foo": "bar",
        },
    ),
    "issue-12283-labeldrop-then-replace": (
        {
            "__meta_kubernetes_pod_container_port_name": "foo",
            "__meta_kubernetes_pod_annotation_XXX_metrics_port": "9091",
        },
        [
            R(regex="^__meta_kubernetes_pod_container_port_name$", action=A.LABELDROP),
            R(
                source_labels=("__meta_kubernetes_pod_annotation_XXX_metrics_port",),
                regex="(.+)",
                replacement="metrics",
                target_label="__meta_kubernetes_pod_container_port_name",
            ),
            R(
                source_labels=("__meta_kubernetes_pod_container_port_name",),
                regex="^metrics$",
                action=A.KEEP,
            ),
        ],
        {
            "__meta_kubernetes_pod_annotation_XXX_metrics_port": "9091",
            "__meta_kubernetes_pod_container_port_name": "metrics",
        },
    ),
    "labelkeep": (
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [R(regex="(b.*)", action=A.LABELKEEP)],
        {"b1": "bar", "b2": "baz"},
    ),
    "labeldrop": (
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [R(regex="(b.*)", action=A.LABELDROP)],
        {"a": "foo"},
    ),
    "upper-and-lowercase": (
        {"foo": "bAr123Foo"},
        [
            R(source_labels=("foo",), action=A.UPPERCASE, target_label="foo_uppercase"),
            R(source_labels=("foo",), action=A.LOWERCASE, target_label="foo_lowercase"),
        ],
        {"foo": "bAr123Foo", "foo_lowercase": "bar123foo", "foo_uppercase": "BAR123FOO"},
    ),
    "keepequal-equal": (
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(source_labels=("__tmp_port",), action=A.KEEPEQUAL, target_label="__port1")],
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
    ),
    "dropequal-equal": (
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(source_labels=("__tmp_port",), action=A.DROPEQUAL, target_label="__port1")],
        None,
    ),
    "dropequal-different": (
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(source_labels=("__tmp_port",), action=A.DROPEQUAL, target_label="__port2")],
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
    ),
    "keepequal-different": (
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(source_labels=("__tmp_port",), action=A.KEEPEQUAL, target_label="__port2")],
        None,
    ),
    "dot-matches-newline": (
        {"a": "line1\nline2", "b": "bar", "c": "baz"},
        [R(source_labels=("a",), regex="line1.*line2", target_label="d", replacement="match${1}")],
        {"a": "line1\nline2", "b": "bar", "c": "baz", "d": "match"},
    ),
    "named-groups": (
        {"a": "line1\nline2", "b": "bar", "c": "baz"},
        [
            R(
                source_labels=("a",),
                regex="(line1).*(?<second>line2)",
                target_label="label1_${1}",
                replacement="val_${second}",
            ),
            R(
                source_labels=("a",),
                regex="(line1).*(?<second>line2)",
                target_label="label2_$1",
                replacement="val_$second",
            ),
        ],
        {
            "a": "line1\nline2",
            "b": "bar",
            "c": "baz",
            "label1_line1": "val_line2",
            "label2_line1": "val_line2",
        },
    ),
    "type-label": (
        {"__name__": "http_requests_total"},
        [
            R(
                source_labels=("__name__",),
                regex=".*_total$",
                target_label="__type__",
                replacement="counter",
            )
        ],
        {"__name__": "http_requests_total", "__type__": "counter"},
    ),
}


@pytest.mark.parametrize(("given", "rules", "want"), UPSTREAM.values(), ids=UPSTREAM.keys())
def test_upstream_cases(
    given: dict[str, str], rules: list[RelabelConfig], want: dict[str, str] | None
) -> None:
    got = process(Labels.from_dict(given), rules)
    assert got == (None if want is None else Labels.from_dict(want))


def test_no_rules_returns_the_same_labels() -> None:
    labels = L(a="1")
    assert process(labels, []) is labels


def test_hashmod_is_md5_last_eight_bytes_big_endian() -> None:
    digest = hashlib.md5(b"baz").digest()
    assert hashmod("baz", 1000) == int.from_bytes(digest[8:], "big") % 1000 == 976
    # Sharding over several source labels hashes the joined value.
    joined = "10.0.0.1:9100;node"
    expected = int.from_bytes(hashlib.md5(joined.encode()).digest()[8:], "big") % 7
    rule = R(
        source_labels=("__address__", "job"), target_label="shard", action=A.HASHMOD, modulus=7
    )
    got = process(L(__address__="10.0.0.1:9100", job="node"), [rule])
    assert got is not None
    assert got.get("shard") == str(expected)


# Go's regexp.Expand: (regex, template, value, expansion).
EXPANSIONS = {
    "number": ("(a)(b)", "$1", "ab", "a"),
    "braces": ("(a)(b)", "${2}x", "ab", "bx"),
    "name-runs-on": ("(a)(b)", "$1x", "ab", ""),  # the group named "1x"
    "dollar-dollar": ("(a)", "$$1", "a", "$1"),
    "lone-dollar": ("(a)", "x$", "a", "x$"),
    "dollar-space": ("(a)", "$ $1", "a", "$ a"),
    "unclosed-brace": ("(a)", "${1", "a", "${1"),
    "empty-braces": ("(a)", "${}", "a", "${}"),
    "leading-zero-is-a-name": ("(a)", "$01", "a", ""),
    "group-zero": ("a(b)c", "<$0>", "abc", "<abc>"),
    "missing-number": ("(a)", "$10", "a", ""),
    "named": ("(?P<first>a)(b)", "$first-${first}", "ab", "a-a"),
    "unknown-name": ("(a)", "$nope", "a", ""),
    "unicode-name": ("(a)", "$é!", "a", "!"),
    "unmatched-group": ("(a)|(b)", "[$1][$2]", "b", "[][b]"),
}


@pytest.mark.parametrize(
    ("regex", "template", "value", "want"), EXPANSIONS.values(), ids=EXPANSIONS.keys()
)
def test_go_expand(regex: str, template: str, value: str, want: str) -> None:
    rule = R(source_labels=("in",), regex=regex, target_label="out", replacement=template)
    got = process(L(**{"in": value}), [rule])
    assert got is not None
    assert got.get("out") == want


def test_expanded_target_label_names_a_group_by_name() -> None:
    rule = R(source_labels=("in",), regex="(?P<n>[a-z]+)=(.*)", target_label="$n", replacement="$2")
    assert process(L(**{"in": "env=prod"}), [rule]) == L(**{"in": "env=prod", "env": "prod"})


def test_constant_label_fast_path() -> None:
    rules = [R(target_label="cluster", replacement="dev-us-central-0")]
    assert process(L(job="x"), rules) == L(job="x", cluster="dev-us-central-0")


def test_rules_see_earlier_changes() -> None:
    rules = [
        R(source_labels=("a",), target_label="b"),
        R(source_labels=("b",), regex="1", action=A.KEEP),
    ]
    assert process(L(a="1"), rules) == L(a="1", b="1")
    assert process(L(a="2"), rules) is None


def test_labelmap_walks_a_snapshot() -> None:
    # A label added by this rule is not mapped again within the same rule.
    rules = [R(regex="(.*)", replacement="${1}_copy", action=A.LABELMAP)]
    assert process(L(a="1"), rules) == L(a="1", a_copy="1")


def test_labelmap_collisions_follow_prometheus_builder_order() -> None:
    # Unchanged labels come in name order, then labels set by earlier rules: last one wins.
    mapping = R(regex="(a|b)_(x)", replacement="$2", action=A.LABELMAP)
    assert process(L(a_x="1", b_x="2"), [mapping]) == L(a_x="1", b_x="2", x="2")
    touched = R(target_label="a_x", replacement="9")
    assert process(L(a_x="1", b_x="2"), [touched, mapping]) == L(a_x="9", b_x="2", x="9")


def test_labeldrop_applies_to_internal_labels() -> None:
    rules = [R(regex="__address__", action=A.LABELDROP)]
    assert process(L(__address__="h:1", job="j"), rules) == L(job="j")


@pytest.mark.parametrize(
    ("action", "value", "want"),
    [
        (A.LOWERCASE, "ÀB", "àb"),
        (A.UPPERCASE, "straße", "STRAßE"),  # no "SS": Go maps rune by rune
        (A.LOWERCASE, "\u03a3\u0391\u03a3", "\u03c3\u03b1\u03c3"),  # no final sigma
        (A.LOWERCASE, "İ", "i"),
    ],
)
def test_case_mapping_is_gos(action: RelabelAction, value: str, want: str) -> None:
    rule = R(source_labels=("in",), target_label="out", action=action)
    got = process(L(**{"in": value}), [rule])
    assert got is not None
    assert got.get("out") == want


# Upstream TestRelabelValidate, with the legacy label-name scheme kubeprom uses.
INVALID = {
    "empty-action": ({"action": ""}, "relabel action cannot be empty"),
    "unknown-action": ({"action": "rename"}, "unknown relabel action 'rename'"),
    "replace-needs-target": (
        {},
        "relabel configuration for replace action requires 'target_label' value",
    ),
    "lowercase-needs-target": (
        {"action": "lowercase"},
        "relabel configuration for lowercase action requires 'target_label' value",
    ),
    "lowercase-no-vars": (
        {"action": "lowercase", "target_label": "${3}"},
        "'${3}' is invalid 'target_label' for lowercase action",
    ),
    "replace-digit-first": (
        {"source_labels": ("a",), "regex": "some-([^-]+)-([^,]+)", "target_label": "0${3}"},
        "'0${3}' is invalid 'target_label' for replace action",
    ),
    "hashmod-modulus": (
        {"action": "hashmod", "target_label": "x"},
        "relabel configuration for hashmod requires non-zero modulus",
    ),
    "hashmod-target-vars": (
        {"action": "hashmod", "target_label": "${1}", "modulus": 2},
        "'${1}' is invalid 'target_label' for hashmod action",
    ),
    "labelmap-replacement": (
        {"action": "labelmap", "replacement": "l-$1"},
        "'l-$1' is invalid 'replacement' for labelmap action",
    ),
    "dropequal-extra": (
        {"action": "dropequal", "target_label": "x", "separator": ","},
        "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    "labelkeep-extra": (
        {"action": "labelkeep", "target_label": "x"},
        "labelkeep action requires only 'regex', and no other fields",
    ),
    "uppercase-replacement": (
        {"action": "uppercase", "target_label": "x", "replacement": "y"},
        "'replacement' can not be set for uppercase action",
    ),
    "bad-regex": (
        {"regex": "a{2,1}", "target_label": "x"},
        "error parsing regexp: invalid repetition size",
    ),
    "bad-source-label": (
        {"source_labels": ("a-b",), "target_label": "x"},
        "'a-b' is not a valid label name",
    ),
}


@pytest.mark.parametrize(("kwargs", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_rules(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRelabelConfig) as info:
        R(**kwargs)
    assert info.value.message.startswith(message)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"source_labels": ("a",), "regex": "some-([^-]+)-([^,]+)", "target_label": "${3}"},
        {
            "regex": "__meta_kubernetes_pod_label_(strimzi_io_.+)",
            "action": "labelmap",
            "replacement": "$1",
        },
        {"regex": "__meta_(.+)", "action": "labelmap", "replacement": "${1}"},
    ],
)
def test_valid_rules(kwargs: dict[str, object]) -> None:
    R(**kwargs)


# Upstream TestTargetLabelLegacyValidity, through a replace rule's target_label.
@pytest.mark.parametrize(
    ("target", "valid"),
    [
        ("-label", False),
        ("label", True),
        ("label${1}", True),
        ("${1}label", True),
        ("${1}", True),
        ("${", False),
        ("$", False),
        ("${}", False),
        ("foo${", False),
        ("$1", True),
        ("asd$2asd", True),
        ("-foo${1}bar-", False),
        ("bar.foo${1}bar", False),
        ("_${1}_", True),
        ("foo${bar}foo", True),
    ],
)
def test_target_label_validity(target: str, valid: bool) -> None:
    if valid:
        assert R(target_label=target).target_label == target
    else:
        with pytest.raises(InvalidRelabelConfig, match="is invalid 'target_label'"):
            R(target_label=target)
