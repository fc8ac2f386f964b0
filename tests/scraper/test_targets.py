"""Target labels and URLs, ported from Prometheus' scrape tests (TestPopulateLabels,
TestTargetURL, TestTargetsFromGroup, TestTargetOffset)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import xxhash

from kubeprom.config.load import parse_main_config
from kubeprom.config.relabel import RelabelConfig
from kubeprom.config.scrape import ScrapeConfig
from kubeprom.model.fnv import fnv1a_64
from kubeprom.model.labels import Labels
from kubeprom.scraper.discovery import TargetGroup, static_groups
from kubeprom.scraper.targets import (
    TargetError,
    build_targets,
    make_target,
    offset_seed,
    populate_labels,
    target_hash,
    target_url,
    targets_from_group,
)

CFG = ScrapeConfig(
    job_name="job",
    scrape_interval_ms=1_000,
    scrape_timeout_ms=1_000,
    scheme="https",
    metrics_path="/metrics",
)
BASE = {
    "__scheme__": "https",
    "__metrics_path__": "/metrics",
    "job": "job",
    "__scrape_interval__": "1s",
    "__scrape_timeout__": "1s",
}

# (target labels, relabel rules, labels after relabeling, discovered labels)
POPULATE = {
    "regular": (
        {"__address__": "1.2.3.4:1000", "custom": "value"},
        (),
        {**BASE, "__address__": "1.2.3.4:1000", "instance": "1.2.3.4:1000", "custom": "value"},
        {**BASE, "__address__": "1.2.3.4:1000", "custom": "value"},
    ),
    "target-overrides-config": (
        {
            "__address__": "1.2.3.4",
            "__scheme__": "http",
            "__metrics_path__": "/custom",
            "job": "custom-job",
            "__scrape_interval__": "2s",
            "__scrape_timeout__": "2s",
        },
        (),
        {
            "__address__": "1.2.3.4",
            "instance": "1.2.3.4",
            "__scheme__": "http",
            "__metrics_path__": "/custom",
            "job": "custom-job",
            "__scrape_interval__": "2s",
            "__scrape_timeout__": "2s",
        },
        {
            "__address__": "1.2.3.4",
            "__scheme__": "http",
            "__metrics_path__": "/custom",
            "job": "custom-job",
            "__scrape_interval__": "2s",
            "__scrape_timeout__": "2s",
        },
    ),
    "instance-given": (
        {"__address__": "[::1]", "instance": "custom-instance"},
        (),
        {**BASE, "__address__": "[::1]", "instance": "custom-instance"},
        {**BASE, "__address__": "[::1]", "instance": "custom-instance"},
    ),
    "address-from-relabeling": (
        {"custom": "host:1234"},
        (RelabelConfig(source_labels=("custom",), replacement="${1}", target_label="__address__"),),
        {**BASE, "__address__": "host:1234", "instance": "host:1234", "custom": "host:1234"},
        {**BASE, "custom": "host:1234"},
    ),
    "no-default-port": (
        {"__address__": "1.2.3.4"},
        (),
        {**BASE, "__address__": "1.2.3.4", "instance": "1.2.3.4"},
        {**BASE, "__address__": "1.2.3.4"},
    ),
    "default-port-kept": (
        {"__address__": "1.2.3.4:443"},
        (),
        {**BASE, "__address__": "1.2.3.4:443", "instance": "1.2.3.4:443"},
        {**BASE, "__address__": "1.2.3.4:443"},
    ),
    "meta-labels-removed": (
        {"__address__": "h:1", "__meta_x": "y", "__tmp_keep": "z"},
        (),
        {**BASE, "__address__": "h:1", "instance": "h:1", "__tmp_keep": "z"},
        {**BASE, "__address__": "h:1", "__meta_x": "y", "__tmp_keep": "z"},
    ),
}


@pytest.mark.parametrize(
    ("target", "rules", "want", "discovered"), POPULATE.values(), ids=POPULATE.keys()
)
def test_populate_labels(
    target: dict[str, str],
    rules: tuple[RelabelConfig, ...],
    want: dict[str, str],
    discovered: dict[str, str],
) -> None:
    cfg = replace(CFG, relabel_configs=rules)
    given = dict(target)
    labels, disc = populate_labels(target, {}, cfg)
    assert labels == Labels.from_dict(want)
    assert disc == Labels.from_dict(discovered)
    assert target == given  # not altered


POPULATE_ERRORS = {
    "no-address": ({"custom": "value"}, "no address"),
    "invalid-utf8": ({"__address__": "1.2.3.4:1000", "custom": "\udcbd"}, "invalid label value"),
    "bad-interval": (
        {"__address__": "1.2.3.4:1000", "__scrape_interval__": "2notseconds"},
        'error parsing scrape interval: unknown unit "notseconds" in duration "2notseconds"',
    ),
    "bad-timeout": (
        {"__address__": "1.2.3.4:1000", "__scrape_timeout__": "2notseconds"},
        'error parsing scrape timeout: unknown unit "notseconds" in duration "2notseconds"',
    ),
    "zero-interval": (
        {"__address__": "1.2.3.4:1000", "__scrape_interval__": "0s"},
        "scrape interval cannot be 0",
    ),
    "zero-timeout": (
        {"__address__": "1.2.3.4:1000", "__scrape_timeout__": "0s"},
        "scrape timeout cannot be 0",
    ),
    "timeout-over-interval": (
        {"__address__": "1.2.3.4:1000", "__scrape_interval__": "1s", "__scrape_timeout__": "2s"},
        "scrape timeout cannot be greater than scrape interval ('2s' > '1s')",
    ),
    "url-as-address": (
        {"__address__": "http://host:80"},
        "'http://host:80' is not a valid hostname",
    ),
}


@pytest.mark.parametrize(
    ("target", "message"), POPULATE_ERRORS.values(), ids=POPULATE_ERRORS.keys()
)
def test_populate_labels_errors(target: dict[str, str], message: str) -> None:
    with pytest.raises(TargetError) as info:
        populate_labels(target, {}, CFG)
    assert str(info.value).startswith(message)


def test_group_labels_fill_in_and_target_labels_win() -> None:
    labels, disc = populate_labels(
        {"__address__": "a:1", "env": "prod"}, {"env": "dev", "team": "x"}, CFG
    )
    assert labels is not None
    assert (labels.get("env"), labels.get("team")) == ("prod", "x")
    assert disc.get("team") == "x"


def test_params_become_param_labels() -> None:
    cfg = replace(CFG, params={"module": ("http_2xx", "other"), "empty": ()})
    labels, _ = populate_labels({"__address__": "a:1"}, {}, cfg)
    assert labels is not None
    assert labels.get("__param_module") == "http_2xx"
    assert not labels.has("__param_empty")


def test_dropped_target_has_its_discovered_labels() -> None:
    rule = RelabelConfig(source_labels=("__address__",), regex="drop.*", action="drop")  # type: ignore[arg-type]
    labels, disc = populate_labels(
        {"__address__": "drop-me:1"}, {}, replace(CFG, relabel_configs=(rule,))
    )
    assert labels is None
    assert disc.get("__address__") == "drop-me:1"


def test_target_url() -> None:
    labels = Labels.from_dict(
        {
            "__address__": "example.com:1234",
            "__scheme__": "https",
            "__metrics_path__": "/metricz",
            "__param_abc": "overwrite",
            "__param_cde": "huu",
        }
    )
    params = {"abc": ("foo", "bar", "baz"), "xyz": ("hoo",)}
    assert (
        target_url(labels, params)
        == "https://example.com:1234/metricz?abc=overwrite&abc=bar&abc=baz&cde=huu&xyz=hoo"
    )


def test_target_url_escapes_like_go() -> None:
    labels = Labels.from_dict(
        {
            "__address__": "h:1",
            "__scheme__": "http",
            "__metrics_path__": "a b/c;d",
            "__param_q": "x y&z",
        }
    )
    assert target_url(labels, {}) == "http://h:1/a%20b/c;d?q=x+y%26z"


def test_targets_from_group_reports_failures_with_their_place() -> None:
    group = TargetGroup("", [{}, {"__address__": "localhost:9090"}], {})
    result = targets_from_group(
        group, replace(CFG, scrape_interval_ms=60_000, scrape_timeout_ms=10_000)
    )
    assert [t.url for t in result.active] == ["https://localhost:9090/metrics"]
    assert result.failures == ["instance 0 in group : no address"]


@pytest.mark.parametrize(
    ("rule", "dropped"),
    [
        ("", False),
        ("      - regex: foo\n        action: labelkeep\n", True),
        ("      - regex: __address__\n        action: labeldrop\n", True),
    ],
    ids=["no-relabeling", "labelkeep", "labeldrop"],
)
def test_labelkeep_and_labeldrop_see_internal_labels(rule: str, dropped: bool) -> None:
    text = (
        "scrape_configs:\n  - job_name: job1\n    static_configs:\n"
        "      - targets: [localhost:9090]\n" + ("    relabel_configs:\n" + rule if rule else "")
    )
    job = parse_main_config(text, "t.yml").scrape_configs[0]
    result = build_targets(job, static_groups(job.static_configs))
    if dropped:
        assert result.failures == ["instance 0 in group 0: no address"]
        assert result.active == []
    else:
        assert result.failures == []
        assert len(result.active) == 1


def test_build_targets_from_a_config() -> None:
    text = """
scrape_configs:
  - job_name: node
    scrape_interval: 15s
    params: {format: [prometheus]}
    static_configs:
      - targets: ["a:9100", "b:9100", "a:9100"]
        labels: {env: prod}
      - targets: ["skip:9100"]
    relabel_configs:
      - source_labels: [__address__]
        regex: skip.*
        action: drop
      - source_labels: [__address__]
        regex: "([^:]+):.*"
        target_label: host
"""
    job = parse_main_config(text, "t.yml").scrape_configs[0]
    result = build_targets(job, static_groups(job.static_configs))
    assert [t.url for t in result.active] == [
        "http://a:9100/metrics?format=prometheus",
        "http://b:9100/metrics?format=prometheus",
    ]  # the repeated a:9100 is one target
    first = result.active[0]
    assert first.job == "node"
    assert first.labels == Labels.from_dict(
        {"env": "prod", "host": "a", "instance": "a:9100", "job": "node"}
    )
    assert first.all_labels.get("__param_format") == "prometheus"
    assert (first.scrape_interval_ms, first.scrape_timeout_ms) == (15_000, 10_000)
    assert first.discovered_labels.get("__scrape_interval__") == "15s"
    assert [d.discovered_labels.get("__address__") for d in result.dropped] == ["skip:9100"]
    assert result.failures == []


def test_interval_and_timeout_come_from_relabeled_labels() -> None:
    rule = RelabelConfig(target_label="__scrape_interval__", replacement="30s")
    labels, disc = populate_labels(
        {"__address__": "a:1"}, {}, replace(CFG, relabel_configs=(rule,))
    )
    assert labels is not None
    target = make_target(CFG, labels, disc)
    assert (target.scrape_interval_ms, target.scrape_timeout_ms) == (30_000, 1_000)


# ---- hashing and offsets ----------------------------------------------------------------------


def test_target_hash_and_offset() -> None:
    labels, disc = populate_labels({"__address__": "example.com:80"}, {}, CFG)
    assert labels is not None
    target = make_target(CFG, labels, disc)
    url = "https://example.com:80/metrics"
    assert target.url == url
    assert target.hash == target_hash(labels.hash(), url)
    assert target.hash == fnv1a_64(f"{labels.hash():016d}{url}".encode())
    # Built by hand from upstream: the labels in stringlabels encoding, XXH64, "%016d", the URL,
    # FNV-1a 64.
    encoded = b"".join(
        bytes((len(x),)) + x
        for x in (
            b"__address__", b"example.com:80", b"__metrics_path__", b"/metrics",
            b"__scheme__", b"https", b"__scrape_interval__", b"1s", b"__scrape_timeout__", b"1s",
            b"instance", b"example.com:80", b"job", b"job",
        )
    )  # fmt: skip
    want = fnv1a_64(b"%016d" % xxhash.xxh64_intdigest(encoded) + url.encode())
    assert target.hash == want
    interval_ns = 1_000 * 1_000_000
    assert target.offset_ms() == (want % interval_ns) // 1_000_000
    assert target.offset_ms(seed=12345) == ((want ^ 12345) % interval_ns) // 1_000_000


def test_offsets_spread_evenly() -> None:
    # Upstream TestTargetOffset: 10000 targets over a 10s interval, each 1s bucket within 15%.
    cfg = replace(CFG, scrape_interval_ms=10_000, scrape_timeout_ms=1_000)
    buckets = [0] * 10
    for i in range(10_000):
        labels, disc = populate_labels({"__address__": "example.com:80", "label": str(i)}, {}, cfg)
        assert labels is not None
        offset = make_target(cfg, labels, disc).offset_ms()
        assert 0 <= offset < 10_000
        buckets[offset // 1_000] += 1
    assert all(abs(n - 1_000) <= 150 for n in buckets), buckets


def test_offset_seed_depends_on_host_and_external_labels() -> None:
    a = offset_seed("host-a", {"replica": "1"})
    assert a == fnv1a_64(b'host-a{replica="1"}')
    assert a != offset_seed("host-b", {"replica": "1"})
    assert a != offset_seed("host-a", {"replica": "2"})
    assert offset_seed("h", {}) == fnv1a_64(b"h{}")


def test_offset_seed_writes_external_labels_as_labels_string() -> None:
    # Sorted by name, ", " between, values (and names outside the legacy set) strconv-quoted.
    seed = offset_seed("h", {"z": "1", "a.b": 'x"\t'})
    assert seed == fnv1a_64(b'h{"a.b"="x\\"\\t", z="1"}')


@pytest.mark.parametrize(
    ("interval_ms", "label"),
    [(8 * 86_400_000, "8d"), (14 * 86_400_000, "2w"), (90_000, "1m30s"), (1_500, "1s500ms")],
)
def test_interval_label_is_model_duration_string(interval_ms: int, label: str) -> None:
    cfg = replace(CFG, scrape_interval_ms=interval_ms, scrape_timeout_ms=1_000)
    labels, _ = populate_labels({"__address__": "a:1"}, {}, cfg)
    assert labels is not None
    assert labels.get("__scrape_interval__") == label
    assert make_target(cfg, labels, labels).scrape_interval_ms == interval_ms
