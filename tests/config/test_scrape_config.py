"""The prometheus.yml subset: bad files fail with Prometheus' message at the right place,
good files parse into the values and defaults Prometheus would use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubeprom.config import DEFAULT_CONFIG, MainConfig, load_main_config
from kubeprom.config.load import parse_main_config
from kubeprom.config.relabel import RelabelAction, RelabelConfig
from kubeprom.config.scrape import (
    DEFAULT_SCRAPE_PROTOCOLS,
    ClusterSDConfig,
    FileSDConfig,
    ScrapeLimits,
    StaticConfig,
    join_dir,
    parse_byte_size,
)
from kubeprom.errors import ConfigError

TESTDATA = Path(__file__).parent / "testdata"

# (file, the error after "<path>:") -- the message is part of the behaviour.
BAD = {
    "alertmanager_api": "3:20: alerting.alertmanagers[0].api_version: expected Alertmanager "
    "api version to be one of [v2] but got 'v1'",
    "bad_duration": '3:22: scrape_configs[0].scrape_interval: unknown unit "x" in duration "5x"',
    "body_size": "3:22: scrape_configs[0].body_size_limit: invalid size '10XB': unknown unit 'XB'",
    "cluster_sd_role": "4:15: scrape_configs[0].cluster_sd_configs[0].role: unknown role "
    "'deployment'; expected one of endpoints, kube-state-metrics, node, rabbitmq, service",
    "empty_relabel_config": "4:8: scrape_configs[0].relabel_configs[0]: empty or null target "
    "relabeling rule in scrape config",
    "empty_scrape_config": "3:4: scrape_configs[1]: empty or null scrape config section",
    "file_sd_empty": "4:9: scrape_configs[0].file_sd_configs[0].files: file service discovery "
    "config must contain at least one path name",
    "file_sd_extension": "4:17: scrape_configs[0].file_sd_configs[0].files[0]: path name "
    "'targets/*.txt' is not valid for file discovery",
    "global_timeout": "3:19: global.scrape_timeout: global scrape timeout greater than scrape "
    "interval",
    "honor_labels": "3:19: scrape_configs[0].honor_labels: expected true or false, got 'maybe'",
    "inherited_timeout": "6:21: scrape_configs[0].scrape_timeout: scrape timeout greater than "
    "scrape interval for scrape config with job name 'fast'",
    "jobname": "2:5: scrape_configs[0].job_name: job_name is empty",
    "jobname_dup": "4:15: scrape_configs[2].job_name: found multiple scrape configs with job "
    "name 'prometheus'",
    "keepequal": "4:9: scrape_configs[0].relabel_configs[0]: keepequal action requires only "
    "'source_labels' and `target_label`, and no other fields",
    "labeldrop": "4:9: scrape_configs[0].relabel_configs[0]: labeldrop action requires only "
    "'regex', and no other fields",
    "labelmap": "6:22: scrape_configs[0].relabel_configs[0].replacement: 'l-$1' is invalid "
    "'replacement' for labelmap action",
    "labelname": "3:5: global.external_labels.not$allowed: 'not$allowed' is not a valid label name",
    "lowercase": "7:22: scrape_configs[0].relabel_configs[0].replacement: 'replacement' can "
    "not be set for lowercase action",
    "modulus_missing": "4:9: scrape_configs[0].relabel_configs[0].modulus: relabel "
    "configuration for hashmod requires non-zero modulus",
    "regex": "5:16: scrape_configs[0].relabel_configs[0].regex: error parsing regexp: missing ): "
    "'abc(def'",
    "relabel_action": "6:17: scrape_configs[0].relabel_configs[0].action: unknown relabel "
    "action 'rename'",
    "rules": "3:5: rule_files[1]: invalid rule file path 'rules/*/second.rules'",
    "sample_limit": "3:19: scrape_configs[0].sample_limit: expected a non-negative integer, "
    "got '-1'",
    "scheme": "3:13: scrape_configs[0].scheme: unknown scrape scheme 'ftp'; expected http or https",
    "scrape_interval": "4:19: scrape_configs[0].scrape_timeout: scrape timeout greater than "
    "scrape interval for scrape config with job name 'prometheus'",
    "scrape_protocols": "2:43: global.scrape_protocols[1]: unknown scrape protocol "
    "'PrometheusText9', supported: OpenMetricsText0.0.1, OpenMetricsText1.0.0, "
    "PrometheusProto, PrometheusText0.0.4, PrometheusText1.0.0 for global config",
    "section_key_dup": "3:1: scrape_configs: field scrape_configs already set in type "
    "config.Config",
    "source_label": "4:28: scrape_configs[0].relabel_configs[0].source_labels[1]: 'b.c' is not "
    "a valid label name",
    "static_labelname": "6:11: scrape_configs[0].static_configs[0].labels.not:allowed: "
    "'not:allowed' is not a valid label name",
    "target_label": "5:23: scrape_configs[0].metric_relabel_configs[0].target_label: "
    "'bad-label' is invalid 'target_label' for replace action",
    "target_label_missing": "4:9: scrape_configs[0].relabel_configs[0].target_label: relabel "
    "configuration for replace action requires 'target_label' value",
    "target_label_vars": "6:23: scrape_configs[0].relabel_configs[0].target_label: '${1' is "
    "invalid 'target_label' for replace action",
    "unknown_field": "3:5: scrape_configs[0].scrape_intervall: field scrape_intervall not found "
    "in type config.ScrapeConfig",
    "unknown_global_field": "2:3: global.nonexistent_field: field nonexistent_field not found "
    "in type config.GlobalConfig",
    "unknown_top_level": "3:1: storage: field storage not found in type config.Config",
    "url_in_targetgroup": "4:37: scrape_configs[0].static_configs[0].targets[1]: 'http://bad' "
    "is not a valid hostname",
    "yaml_syntax": "3:18: invalid YAML: mapping values are not allowed here",
}


def test_every_bad_file_is_in_the_table() -> None:
    files = {p.name.removesuffix(".bad.yml") for p in TESTDATA.glob("*.bad.yml")}
    assert files == set(BAD)


@pytest.mark.parametrize(("name", "expected"), BAD.items(), ids=BAD.keys())
def test_bad_config(name: str, expected: str) -> None:
    path = str(TESTDATA / f"{name}.bad.yml")
    with pytest.raises(ConfigError) as info:
        load_main_config(path)
    assert str(info.value) == f"{path}:{expected}"
    assert info.value.file == path


def load_good(name: str) -> MainConfig:
    return load_main_config(str(TESTDATA / f"{name}.good.yml"))


def test_conf_good_global() -> None:
    cfg = load_good("conf")
    g = cfg.global_
    assert g.scrape_interval_ms == 15_000
    assert g.scrape_timeout_ms == 10_000  # Prometheus' default, shorter than the interval
    assert g.evaluation_interval_ms == 30_000
    assert dict(g.external_labels) == {"monitor": "codelab", "foo": "bar"}
    assert g.scrape_protocols == ("PrometheusText0.0.4", "OpenMetricsText1.0.0")
    assert g.limits == ScrapeLimits(
        body_size_limit_bytes=15 * 1024 * 1024,
        sample_limit=1500,
        label_limit=30,
        label_name_length_limit=200,
        label_value_length_limit=210,
    )


def test_conf_good_paths_are_taken_from_the_config_directory() -> None:
    cfg = load_good("conf")
    base = str(TESTDATA)
    assert cfg.base_dir == base
    assert cfg.rule_files == (f"{base}/first.rules", f"{base}/my/*.rules", "/absolute/third.rules")
    assert cfg.scrape_configs[0].file_sd_configs == (
        FileSDConfig(
            (f"{base}/foo/*.slow.json", f"{base}/foo/*.slow.yml", f"{base}/single/file.yml"),
            600_000,
        ),
        FileSDConfig((f"{base}/bar/*.yaml",), 300_000),
    )


def test_conf_good_first_job_inherits_the_globals() -> None:
    job = load_good("conf").scrape_configs[0]
    assert job.job_name == "prometheus"
    assert (job.scrape_interval_ms, job.scrape_timeout_ms) == (15_000, 10_000)
    assert job.scrape_protocols == ("PrometheusText0.0.4", "OpenMetricsText1.0.0")
    assert job.honor_labels is True
    assert job.honor_timestamps is True
    assert (job.metrics_path, job.scheme) == ("/metrics", "http")
    assert job.limits.sample_limit == 1500
    assert job.limits.body_size_limit_bytes == 15 * 1024 * 1024
    assert job.static_configs == (
        StaticConfig(("localhost:9090", "localhost:9191"), {"my": "label", "your": "label"}),
    )


def test_conf_good_relabel_defaults() -> None:
    rules = load_good("conf").scrape_configs[0].relabel_configs
    assert rules[0] == RelabelConfig(
        source_labels=("job", "__meta_dns_name"),
        regex="(.*)some-[regex]",
        target_label="job",
        replacement="foo-${1}",
    )
    assert (rules[0].action, rules[0].separator) == (RelabelAction.REPLACE, ";")
    assert rules[1] == RelabelConfig(source_labels=("abc",), target_label="cde")
    assert (rules[1].regex, rules[1].replacement) == ("(.*)", "$1")
    # "regex:" with no value is Go's zero value: an empty regex, which matches only "".
    assert rules[3].regex == ""
    assert rules[3].compiled.fullmatch("") is not None
    assert rules[3].compiled.fullmatch("x") is None
    # Actions are case-insensitive, as Prometheus lower-cases them.
    assert rules[4].action is RelabelAction.KEEPEQUAL
    assert rules[5].action is RelabelAction.DROPEQUAL


def test_conf_good_second_job_overrides() -> None:
    job = load_good("conf").scrape_configs[1]
    assert (job.scrape_interval_ms, job.scrape_timeout_ms) == (50_000, 5_000)
    assert (job.metrics_path, job.scheme, job.honor_timestamps) == ("/my_path", "https", False)
    assert dict(job.params) == {"module": ("http_2xx",), "target": ("a", "b")}
    assert job.limits.body_size_limit_bytes == 10 * 1024 * 1024
    assert job.limits.sample_limit == 1000
    assert job.limits.label_limit == 30  # inherited
    assert [r.action for r in job.relabel_configs] == [
        RelabelAction.DROP,
        RelabelAction.HASHMOD,
        RelabelAction.KEEP,
        RelabelAction.LABELMAP,
        RelabelAction.LABELDROP,
        RelabelAction.LABELKEEP,
    ]
    assert job.relabel_configs[1].modulus == 8
    assert job.metric_relabel_configs[0].regex == "expensive_metric.*"


def test_conf_good_cluster_sd_and_cluster_section() -> None:
    cfg = load_good("conf")
    job = cfg.scrape_config("cluster")
    assert job is not None
    assert job.cluster_sd_configs == (
        ClusterSDConfig("node"),
        ClusterSDConfig("kube-state-metrics"),
    )
    assert (job.scrape_interval_ms, job.scrape_timeout_ms) == (5_000, 5_000)
    assert isinstance(cfg.cluster_node, yaml.MappingNode)
    assert cfg.cluster_node.start_mark.line + 1 == 101  # the line of "nodes:"


def test_conf_good_alerting() -> None:
    am = load_good("conf").alerting.alertmanagers
    assert len(am) == 1
    assert (am[0].scheme, am[0].timeout_ms, am[0].api_version) == ("https", 5_000, "v2")
    assert am[0].static_configs[0].targets == ("1.2.3.4:9093", "1.2.3.5:9093")


def test_config_keeps_the_original_text() -> None:
    path = TESTDATA / "conf.good.yml"
    assert load_main_config(str(path)).text == path.read_text()


@pytest.mark.parametrize("name", ["minimal", "empty"])
def test_defaults(name: str) -> None:
    cfg = load_good(name)
    g = cfg.global_
    assert (g.scrape_interval_ms, g.scrape_timeout_ms, g.evaluation_interval_ms) == (
        60_000,
        10_000,
        60_000,
    )
    assert dict(g.external_labels) == {}
    assert g.scrape_protocols == DEFAULT_SCRAPE_PROTOCOLS
    assert cfg.scrape_configs == ()
    assert cfg.rule_files == ()
    assert cfg.cluster_node is None


def test_timeout_defaults_to_the_interval_when_shorter() -> None:
    jobs = {j.job_name: j for j in load_good("global_timeout").scrape_configs}
    assert load_good("global_timeout").global_.scrape_timeout_ms == 5_000
    assert (jobs["inherits"].scrape_interval_ms, jobs["inherits"].scrape_timeout_ms) == (
        5_000,
        5_000,
    )
    assert (jobs["shorter"].scrape_interval_ms, jobs["shorter"].scrape_timeout_ms) == (
        2_000,
        2_000,
    )
    assert (jobs["own-timeout"].scrape_interval_ms, jobs["own-timeout"].scrape_timeout_ms) == (
        60_000,
        30_000,
    )


def test_embedded_default_loads() -> None:
    cfg = load_main_config(None)
    assert cfg.source == f"<embedded {DEFAULT_CONFIG}>"
    # Paths in it are taken from the package, where its rule files are.
    assert cfg.base_dir is not None
    assert [Path(p).relative_to(cfg.base_dir) for p in cfg.rule_files] == [Path("rules/*.yml")]
    assert cfg.global_.scrape_interval_ms > 0
    assert len({j.job_name for j in cfg.scrape_configs}) == len(cfg.scrape_configs)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"^nope\.yml: cannot read config: No such file"):
        load_main_config("nope.yml")


def test_null_values_take_go_zero_values() -> None:
    cfg = parse_main_config(
        "global:\nscrape_configs:\n  - job_name: a\n    honor_timestamps:\n    scrape_timeout:\n",
        "t.yml",
    )
    assert cfg.global_.scrape_interval_ms == 60_000
    assert cfg.scrape_configs[0].honor_timestamps is False
    assert cfg.scrape_configs[0].scrape_timeout_ms == 10_000


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("512B", 512),
        ("1KB", 1024),
        ("1KiB", 1024),
        ("10MB", 10 << 20),
        ("1GB512MB", (1 << 30) + (512 << 20)),
        ("1.5KB", 1536),
    ],
)
def test_byte_sizes(text: str, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("text", ["10", "10kB", "MB", "-1MB", "10 MB"])
def test_bad_byte_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_byte_size(text)


def test_merge_keys_copy_an_anchored_job() -> None:
    text = """\
scrape_configs:
  - &base
    job_name: a
    scrape_interval: 30s
    metrics_path: /m
  - <<: *base
    job_name: b
  - <<: *base
    job_name: c
    bogus: 1
"""
    with pytest.raises(ConfigError, match=r"^t\.yml:10:5: scrape_configs\[2\]\.bogus: field bogus"):
        parse_main_config(text, "t.yml")
    jobs = parse_main_config(text.rsplit("    bogus", 1)[0], "t.yml").scrape_configs
    assert [(j.job_name, j.scrape_interval_ms, j.metrics_path) for j in jobs] == [
        ("a", 30_000, "/m"),
        ("b", 30_000, "/m"),
        ("c", 30_000, "/m"),
    ]


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [
        (".", "rules/x.yml", "rules/x.yml"),
        ("/etc/prom", "../rules/*.yml", "/etc/rules/*.yml"),
        ("/etc/prom", "/abs/x.yml", "/abs/x.yml"),
        (None, "rel/x.yml", "rel/x.yml"),
    ],
)
def test_relative_paths_join_the_config_directory(base: str | None, path: str, joined: str) -> None:
    assert join_dir(base, path) == joined
