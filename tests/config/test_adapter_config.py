"""prometheus-adapter configs: bad files fail with the adapter's message at the field's place
(as it refuses to start), good ones compile."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.config.adapter import load_adapter_file
from kubeprom.errors import ConfigError
from kubeprom.hpa.adapter_naming import compile_adapter

TESTDATA = Path(__file__).parent / "testdata" / "adapter"
HTTP = 'series query "http_requests_total{namespace!=\\"\\"}"'

# (file, the error after "<path>:")
BAD = {
    "bad_regex": "5:9: rules[0].seriesFilters[0]: unable to generate series name filter "
    f'associated with {HTTP}: unable to compile series filter "(_bucket": error parsing '
    "regexp: missing closing ): `(_bucket`",
    "both_filters": "4:9: rules[0].seriesFilters[0]: unable to generate series name filter "
    f'associated with {HTTP}: cannot have both an `is` ("^http_.*") and `isNot` ("_bucket$") '
    "expression in a single filter",
    "empty_filter": "4:21: rules[0].seriesFilters[0]: unable to generate series name filter "
    f"associated with {HTTP}: must have either an `is` or `isNot` expression in a filter",
    "namespaced": "3:29: externalRules[0].resources.namespaced: expected true or false, got "
    "'sometimes'",
    "override": "6:14: rules[0].resources.overrides.svc: unable to normalize group-resource "
    "{ widget}: no matches for /, Resource=widget",
    "query_template": "4:19: rules[0].metricsQuery: unable to construct metrics query "
    f"associated with {HTTP}: unable to parse metrics query template "
    '"sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy)": template: metrics-query:1: '
    "unexpected right paren",
    "resource_rules": "3:3: resourceRules: resourceRules are not supported: kubeprom serves "
    "resource metrics as metrics-server computes them",
    "resource_template": "4:17: rules[0].resources.template: unable to generate label format "
    'from template "kube_<<.Group>>": must include at least `{{.Resource}}` in the label '
    "template",
    "rules_mapping": "2:3: rules: expected a list, got a mapping",
    "series_query": '2:18: rules[0].seriesQuery: seriesQuery "rate(http_requests_total[5m])" '
    "is not a series selector",
    "two_groups": "4:11: rules[0].name: must specify an 'as' value for name matcher "
    f'"^(http)_(.*)_total$" associated with {HTTP}',
    "unknown_field": "3:5: rules[0].seriesQury: field seriesQury not found in type "
    "config.DiscoveryRule",
}
GOOD = {"default": (6, 0), "empty": (0, 0), "helm": (2, 1)}


def test_every_fixture_is_listed() -> None:
    names = {p.name.split(".")[0] for p in TESTDATA.glob("*.yml")}
    assert names == set(BAD) | set(GOOD)


@pytest.mark.parametrize(("name", "message"), BAD.items(), ids=BAD.keys())
def test_bad(name: str, message: str) -> None:
    path = TESTDATA / f"{name}.bad.yml"
    with pytest.raises(ConfigError) as err:
        compile_adapter(load_adapter_file(path))
    assert str(err.value) == f"{path}:{message}"


@pytest.mark.parametrize(("name", "counts"), GOOD.items(), ids=GOOD.keys())
def test_good(name: str, counts: tuple[int, int]) -> None:
    compiled = compile_adapter(load_adapter_file(TESTDATA / f"{name}.good.yml"))
    assert (len(compiled.custom), len(compiled.external)) == counts


def test_the_default_rules_read_as_written() -> None:
    cfg = load_adapter_file(TESTDATA / "helm.good.yml")
    rule = cfg.rules[1]
    assert rule.series_query == '{namespace!="",__name__!~"^container_.*"}'
    assert [(f.is_, f.is_not) for f in rule.series_filters] == [("", ".*_total$")]
    assert rule.resources.template == "<<.Resource>>"
    assert cfg.external_rules[0].resources.namespaced is False
    assert cfg.rules[0].resources.overrides[1][0] == "pod"
