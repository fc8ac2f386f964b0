"""prometheus-adapter's naming and query building, case for case from its own tests.

The tables are ``pkg/naming/metrics_query_test.go`` (``TestBuildSelector``,
``TestBuildExternalSelector``, with their mock converter that labels a resource by its name)
and ``pkg/custom-provider/series_registry_test.go`` (the default config's registry and
queries). Upstream's test mapper puts ingresses and deployments in ``extensions``; kubeprom's
resource table has them where Kubernetes does today (``networking.k8s.io``, ``apps``), which
changes the registry's group-resources and not a single query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprom.config.adapter import AdapterConfig, DiscoveryRule, NameMapping, load_adapter_file
from kubeprom.config.k8s_resources import GroupResource, resource_for
from kubeprom.hpa.adapter import MetricInfo, register
from kubeprom.hpa.adapter_naming import Namer, ResourceConverter, compile_adapter, go_regexp
from kubeprom.model.labels import Labels
from kubeprom.model.selectors import Op, Requirement
from kubeprom.rules.template import TextTemplate

TESTDATA = Path(__file__).parent / "testdata"


@dataclass(slots=True, eq=False)
class MockConverter(ResourceConverter):
    """``resourceConverterMock``: a resource's label is its name."""

    def label_for(self, resource: GroupResource) -> str:
        return resource.resource


def namer(query: str, *, namespaced: bool = True) -> Namer:
    return Namer(
        rule=DiscoveryRule("rules[0]"),
        filters=(),
        name_matches=go_regexp(".*"),
        name_as="$0",
        converter=MockConverter(None, None, None, 0),
        query=TextTemplate(query, "metrics-query", ("<<", ">>")),
        namespaced=namespaced,
    )


GR = GroupResource("group", "resource")
M1 = (Requirement("metric1", Op.EQUALS, ("value1",)),)

# (name, template, series, resource, namespace, extra group-by, selector, names, want)
BUILD = [
    ("series", "series <<.Series>>", "foo", GroupResource("", ""), "", (), (), (), "series foo"),
    ("multiple LabelMatchers values", "<<.LabelMatchers>>", "", GR, "", (), (), ("bar", "baz"),
     'resource=~"bar|baz"'),
    ("single LabelMatchers value", "<<.LabelMatchers>>", "", GR, "", (), (), ("bar",),
     'resource="bar"'),
    ("LabelMatchers with additional metrics filter", "<<.LabelMatchers>>", "", GR, "", (), M1,
     ("bar",), 'metric1="value1",resource="bar"'),
    ("single LabelValuesByName value", '<<index .LabelValuesByName "resource">>', "", GR, "", (),
     (), ("bar",), "bar"),
    ("multiple LabelValuesByName values", '<<index .LabelValuesByName "resource">>', "", GR, "",
     (), (), ("bar", "baz"), "bar|baz"),
    ("multiple LabelValuesByName values with namespace",
     '<<index .LabelValuesByName "namespaces">> <<index .LabelValuesByName "resource">>', "", GR,
     "default", (), (), ("bar", "baz"), "default bar|baz"),
    ("single GroupBy value", "<<.GroupBy>>", "", GR, "", (), (), (), "resource"),
    ("multiple GroupBy values", "<<.GroupBy>>", "", GR, "", ("extra", "groups"), (), (),
     "resource,extra,groups"),
    ("single GroupBySlice value", "<<.GroupBySlice>>", "", GR, "", (), (), (), "[resource]"),
    ("multiple GroupBySlice values", "<<.GroupBySlice>>", "", GR, "", ("extra", "groups"), (), (),
     "[resource extra groups]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "series", "resource", "namespace", "extra", "selector", "names", "want"),
    [case[1:] for case in BUILD],
    ids=[case[0] for case in BUILD],
)
def test_build_selector(
    template: str,
    series: str,
    resource: GroupResource,
    namespace: str,
    extra: tuple[str, ...],
    selector: tuple[Requirement, ...],
    names: tuple[str, ...],
    want: str,
) -> None:
    assert namer(template).build(series, resource, namespace, selector, names, extra) == want


FOO = (Requirement("foo", Op.EQUALS, ("bar",)),)
# (name, template, namespaced, series, namespace, group by, group-by slice, selector, want)
BUILD_EXTERNAL = [
    ("series", "series <<.Series>>", True, "foo", "", "", (), (), "series foo"),
    ("single GroupBy value", "<<.GroupBy>>", True, "", "", "foo", (), (), "foo"),
    ("multiple GroupBySlice values", "<<.GroupBySlice>>", True, "", "", "", ("foo", "bar"), (),
     "[foo bar]"),
    ("multiple GroupBySlice values with namespace",
     '<<index .LabelValuesByName "namespaces">> <<.GroupBySlice>>', True, "", "default", "",
     ("foo", "bar"), (), "default [foo bar]"),
    ("multiple GroupBySlice values with namespace disabled",
     '<<index .LabelValuesByName "namespaces">> <<.GroupBySlice>>', False, "", "default", "",
     ("foo", "bar"), (), " [foo bar]"),
    ("single LabelMatchers value", "<<.LabelMatchers>>", True, "", "", "", (), FOO, 'foo="bar"'),
    ("single LabelMatchers value with namespace", "<<.LabelMatchers>>", True, "", "default", "",
     (), FOO, 'foo="bar",namespaces="default"'),
    ("multiple LabelMatchers value", "<<.LabelMatchers>>", True, "", "", "", (),
     (*FOO, Requirement("qux", Op.IN, ("bar", "baz"))), 'foo="bar",qux=~"bar|baz"'),
    ("requirements sorted by key", "<<.LabelMatchers>>", True, "", "", "", (),
     (Requirement("qux", Op.NOT_IN, ("b", "a")), *FOO), 'foo="bar",qux!~"a|b"'),
    ("single LabelValuesByName value", "<<.LabelValuesByName>>", True, "", "", "", (), FOO,
     "map[foo:bar]"),
    ("single LabelValuesByName with multiple selectors", "<<.LabelValuesByName>>", True, "", "",
     "", (), (Requirement("foo", Op.IN, ("bar", "baz")),), "map[foo:bar|baz]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "namespaced", "series", "namespace", "group_by", "slice_", "selector", "want"),
    [case[1:] for case in BUILD_EXTERNAL],
    ids=[case[0] for case in BUILD_EXTERNAL],
)
def test_build_external_selector(
    template: str,
    namespaced: bool,
    series: str,
    namespace: str,
    group_by: str,
    slice_: tuple[str, ...],
    selector: tuple[Requirement, ...],
    want: str,
) -> None:
    n = namer(template, namespaced=namespaced)
    assert n.build_external(series, namespace, selector, group_by, slice_) == want


@pytest.mark.parametrize(
    ("op", "values", "want"),
    [
        (Op.EXISTS, (), 'k!=""'),
        (Op.DOES_NOT_EXIST, (), 'k=""'),
        (Op.NOT_EQUALS, ("a",), 'k!="a"'),
        (Op.NOT_IN, ("a",), 'k!~"a"'),
        (Op.NOT_IN, ("b", "a"), 'k!~"a|b"'),  # a selector keeps its values sorted
        (Op.IN, ("a",), 'k=~"a"'),
    ],
)
def test_selector_operators(op: Op, values: tuple[str, ...], want: str) -> None:
    n = namer("<<.LabelMatchers>>")
    assert n.build_external("", "", (Requirement("k", op, values),)) == want


# ---- the default config's registry (series_registry_test.go) ------------------------------
def _series(name: str, **labels: str) -> Labels:
    return Labels.from_dict({"__name__": name, **labels})


CONTAINER = {"pod": "somepod", "namespace": "somens", "container": "somecont"}
SERIES = {
    '{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}': [
        _series("container_some_time_seconds_total", **CONTAINER),
        _series("container_some_count_total", **CONTAINER),
        _series("container_some_usage", **CONTAINER),
    ],
    '{kube_namespace!="",__name__!~"^container_.*"}': [
        _series("node_gigawatts", kube_node="somenode"),
        _series("service_proxy_packets", kube_service="somesvc", kube_namespace="somens"),
        _series("ingress_hits_total", kube_ingress="someingress", kube_service="somesvc",
                kube_pod="backend1", kube_namespace="somens"),
        _series("ingress_hits_total", kube_ingress="someingress", kube_service="somesvc",
                kube_pod="backend2", kube_namespace="somens"),
        _series("volume_claims_total", kube_persistentvolume="somepv"),
        _series("work_queue_wait_seconds_total", kube_deployment="somedep",
                kube_namespace="somens"),
        _series("node_fan_seconds_total", kube_node="somenode"),
    ],
}  # fmt: skip

PODS = GroupResource("", "pods")
NS = GroupResource("", "namespaces")
REGISTERED = {
    MetricInfo(PODS, True, "some_count"), MetricInfo(NS, False, "some_count"),
    MetricInfo(PODS, True, "some_time"), MetricInfo(NS, False, "some_time"),
    MetricInfo(PODS, True, "some_usage"), MetricInfo(NS, False, "some_usage"),
    MetricInfo(GroupResource("", "services"), True, "ingress_hits"),
    MetricInfo(GroupResource("networking.k8s.io", "ingresses"), True, "ingress_hits"),
    MetricInfo(PODS, True, "ingress_hits"), MetricInfo(NS, False, "ingress_hits"),
    MetricInfo(GroupResource("", "services"), True, "service_proxy_packets"),
    MetricInfo(NS, False, "service_proxy_packets"),
    MetricInfo(GroupResource("apps", "deployments"), True, "work_queue_wait"),
    MetricInfo(NS, False, "work_queue_wait"),
    MetricInfo(GroupResource("", "nodes"), False, "node_gigawatts"),
    MetricInfo(GroupResource("", "persistentvolumes"), False, "volume_claims"),
    MetricInfo(GroupResource("", "nodes"), False, "node_fan"),
}  # fmt: skip

EVERYTHING: tuple[Requirement, ...] = ()
# (title, resource as the request names it, namespaced, metric, namespace, names, selector, query)
QUERIES = [
    ("container metrics gauge / multiple resource names", ("", "pods"), True, "some_usage",
     "somens", ("somepod1", "somepod2"), EVERYTHING,
     'sum(container_some_usage{namespace="somens",pod=~"somepod1|somepod2",container!="POD"}) '
     "by (pod)"),
    ("container metrics counter", ("", "pods"), True, "some_count", "somens",
     ("somepod1", "somepod2"), EVERYTHING,
     'sum(rate(container_some_count_total{namespace="somens",pod=~"somepod1|somepod2",'
     'container!="POD"}[1m])) by (pod)'),
    ("container metrics seconds counter", ("", "pods"), True, "some_time", "somens",
     ("somepod1", "somepod2"), EVERYTHING,
     'sum(rate(container_some_time_seconds_total{namespace="somens",pod=~"somepod1|somepod2",'
     'container!="POD"}[1m])) by (pod)'),
    ("namespaced metrics counter / multidimensional (service)", ("", "service"), True,
     "ingress_hits", "somens", ("somesvc",), EVERYTHING,
     'sum(rate(ingress_hits_total{kube_namespace="somens",kube_service="somesvc"}[1m])) by '
     "(kube_service)"),
    ("namespaced metrics counter / multidimensional (service) / selection using labels",
     ("", "service"), True, "ingress_hits", "somens", ("somesvc",),
     (Requirement("param1", Op.EQUALS, ("value1",)),),
     'sum(rate(ingress_hits_total{param1="value1",kube_namespace="somens",kube_service="somesvc"}'
     "[1m])) by (kube_service)"),
    ("namespaced metrics counter / multidimensional (ingress)", ("networking.k8s.io", "ingress"),
     True, "ingress_hits", "somens", ("someingress",), EVERYTHING,
     'sum(rate(ingress_hits_total{kube_namespace="somens",kube_ingress="someingress"}[1m])) by '
     "(kube_ingress)"),
    ("namespaced metrics counter / multidimensional (pod)", ("", "pod"), True, "ingress_hits",
     "somens", ("somepod",), EVERYTHING,
     'sum(rate(ingress_hits_total{kube_namespace="somens",kube_pod="somepod"}[1m])) by '
     "(kube_pod)"),
    ("namespaced metrics gauge", ("", "service"), True, "service_proxy_packets", "somens",
     ("somesvc",), EVERYTHING,
     'sum(service_proxy_packets{kube_namespace="somens",kube_service="somesvc"}) by '
     "(kube_service)"),
    ("namespaced metrics seconds counter", ("apps", "deployment"), True, "work_queue_wait",
     "somens", ("somedep",), EVERYTHING,
     'sum(rate(work_queue_wait_seconds_total{kube_namespace="somens",kube_deployment="somedep"}'
     "[1m])) by (kube_deployment)"),
    ("root scoped metrics gauge", ("", "node"), False, "node_gigawatts", "", ("somenode",),
     EVERYTHING, 'sum(node_gigawatts{kube_node="somenode"}) by (kube_node)'),
    ("root scoped metrics counter", ("", "persistentvolume"), False, "volume_claims", "",
     ("somepv",), EVERYTHING,
     'sum(rate(volume_claims_total{kube_persistentvolume="somepv"}[1m])) by '
     "(kube_persistentvolume)"),
    ("root scoped metrics seconds counter", ("", "node"), False, "node_fan", "", ("somenode",),
     EVERYTHING, 'sum(rate(node_fan_seconds_total{kube_node="somenode"}[1m])) by (kube_node)'),
]  # fmt: skip


@pytest.fixture(scope="module")
def default_registry() -> dict[MetricInfo, object]:
    compiled = compile_adapter(load_adapter_file(TESTDATA / "adapter-default.yml"))
    return dict(register(compiled, SERIES, 0).custom)


def test_the_default_config_registers_every_metric(default_registry: dict) -> None:
    assert set(default_registry) == REGISTERED


@pytest.mark.parametrize(
    ("resource", "namespaced", "metric", "namespace", "names", "selector", "want"),
    [case[1:] for case in QUERIES],
    ids=[case[0] for case in QUERIES],
)
def test_the_default_config_builds_upstreams_queries(
    default_registry: dict,
    resource: tuple[str, str],
    namespaced: bool,
    metric: str,
    namespace: str,
    names: tuple[str, ...],
    selector: tuple[Requirement, ...],
    want: str,
) -> None:
    normalized = resource_for(GroupResource(*resource))
    reg = default_registry[MetricInfo(normalized, namespaced, metric)]
    assert reg.namer.build(reg.series, normalized, namespace, selector, names) == want


@pytest.mark.parametrize(
    ("matches", "as_", "series", "want"),
    [
        ("^container_(.*)_seconds_total$", "", "container_cpu_seconds_total", "cpu"),
        ("", "", "http_requests_total", "http_requests_total"),
        ("^(.*)_total$", "${1}_per_second", "http_requests_total", "http_requests_per_second"),
        ("^(?P<base>.*)_total$", "$base", "http_requests_total", "http_requests"),
        ("(requests)", "x$1x", "http_requests_total", "x"),  # $1x names group "1x": empty
        ("_total", "", "http_requests_total", "_total"),  # unanchored search
    ],
)
def test_metric_names(matches: str, as_: str, series: str, want: str) -> None:
    rule = DiscoveryRule("rules[0]", series_query="{a!=''}", name=NameMapping(matches, as_))
    n = compile_adapter(AdapterConfig("x.yml", (rule,))).custom[0]
    assert n.metric_name(series) == want
