"""Reading promtool's unit-test files: values as text, yaml.v2's scalars, positions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from kubeprom.errors import ConfigError
from kubeprom.model.labels import Labels
from kubeprom.rules.unittest_file import go_yaml_float, parse_test_file

BASE = """\
rule_files: [rules/*.yml, /abs/r.yml]
tests:
- interval: 1m
  input_series:
  - series: 'a{{b="c"}}'
    values: {values}
  promql_expr_test:
  - expr: a
    eval_time: 1m
    exp_samples:
    - labels: 'a{{b="c"}}'
      value: {value}
"""


def parse(values: str = "1 2", value: str = "1", extra: str = "", **kw: bool) -> object:
    return parse_test_file(BASE.format(values=values, value=value) + extra, "/t/test.yml", **kw)


def test_values_are_read_as_text_not_yaml_integers() -> None:
    tf = parse_test_file(BASE.format(values="0x720", value="0"), "/t/test.yml")
    [series] = tf.tests[0].input_series
    assert series.values == "0x720"
    assert len(series.items) == 721
    assert set(series.items) == {0.0}
    assert series.labels == Labels([("__name__", "a"), ("b", "c")])


def test_rule_files_are_joined_to_the_test_file_and_cleaned() -> None:
    tf = parse_test_file(BASE.format(values="1", value="1"), "/t/sub/../test.yml")
    assert tf.rule_files == ("/t/rules/*.yml", "/abs/r.yml")
    assert tf.evaluation_interval_ms == 60_000
    assert tf.tests[0].interval_ms == 60_000


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1", 1.0),
        ("-2.5", -2.5),
        ("1e3", 1000.0),  # a YAML 1.1 loader reads this as a string
        ("0x10", 16.0),
        ("010", 8.0),  # Go's base prefix: octal
        ("0b101", 5.0),
        ("1_000", 1000.0),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("", 0.0),
        ("~", 0.0),
    ],
    ids=lambda v: str(v),
)
def test_value_is_decoded_as_yaml_v2_decodes_a_float64(text: str, want: float) -> None:
    node = yaml.compose(f"v: {text}")
    assert node is not None
    assert go_yaml_float(node.value[0][1], "f", "v") == want


def test_value_nan() -> None:
    node = yaml.compose("v: .nan")
    assert node is not None
    assert math.isnan(go_yaml_float(node.value[0][1], "f", "v"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"1"', "cannot unmarshal !!str '1' into float64"),
        ("yes", "cannot unmarshal !!bool 'yes' into float64"),
        ("abc", "cannot unmarshal !!str 'abc' into float64"),
    ],
)
def test_value_that_is_not_a_number(text: str, message: str) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^/t/test.yml:12:14: tests\[0\]\.promql_expr_test\[0\]\.exp_samples\[0\]"
        rf"\.value: {message}",
    ):
        parse(value=text)


def test_unknown_fields_are_errors_with_their_position() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^/t/test.yml:13:5: tests\[0\]\.promql_expr_test\[0\]\.frobnicate: "
        r"field frobnicate not found in type main\.promqlTestCase$",
    ):
        parse(extra="    frobnicate: 1\n")


def test_unknown_fields_can_be_ignored() -> None:
    tf = parse_test_file(
        BASE.format(values="1", value="1") + "    frobnicate: 1\n",
        "/t/t.yml",
        ignore_unknown_fields=True,
    )
    assert tf.tests[0].expr_tests[0].expr == "a"


def test_bad_series_is_kept_for_the_test_group_to_report() -> None:
    tf = parse_test_file(BASE.format(values="1 x2x", value="1"), "/t/test.yml")
    assert tf.tests[0].input_error == "/t/test.yml:6: invalid value 'x2x'"


@pytest.mark.parametrize(
    ("text", "want"),
    [("0", 0), ("1700000000.5", 1_700_000_000_500), ("'2024-01-02T03:04:05Z'", 1_704_164_645_000)],
)
def test_start_timestamp(text: str, want: int) -> None:
    tf = parse_test_file(f"tests:\n- start_timestamp: {text}\n", "/t/t.yml")
    assert tf.tests[0].start_ms == want


def test_bad_start_timestamp() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^/t/t.yml:2:20: tests\[0\]\.start_timestamp: "
        r"cannot parse 'x' to a valid timestamp$",
    ):
        parse_test_file("tests:\n- start_timestamp: x\n", "/t/t.yml")


def test_expected_labels_keep_empty_values_and_exp_sample_labels_parse_lazily() -> None:
    text = """\
tests:
- alert_rule_test:
  - eval_time: 5m
    alertname: A
    exp_alerts:
    - exp_labels: {x: "", code: 0x10}
  promql_expr_test:
  - expr: a
    exp_samples:
    - labels: 'a{'
"""
    tf = parse_test_file(text, "/t/t.yml")
    [alert] = tf.tests[0].alert_tests
    assert alert.eval_ms == 300_000
    assert alert.exp_alerts[0].labels == (("code", "0x10"), ("x", ""))
    [sample] = tf.tests[0].expr_tests[0].exp_samples
    assert sample.labels is None
    assert sample.error == "invalid series description 'a{'"


def test_empty_file_has_no_tests(tmp_path: Path) -> None:
    tf = parse_test_file("", str(tmp_path / "t.yml"))
    assert tf.tests == ()
    assert tf.rule_files == ()
