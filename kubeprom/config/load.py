"""The main configuration file: a prometheus.yml subset, plus the simulated ``cluster:``.

Names, defaults and messages are Prometheus' (``config/config.go``). Errors name the file,
line and column (1-based) of the offending node and the field, e.g.
``kubeprom.yml:3:20: global.scrape_interval: unknown unit 'x' in duration '5x'``.

The ``cluster:`` section is not read here: :attr:`MainConfig.cluster_node` keeps its YAML
node (with positions) for :mod:`kubeprom.config.cluster`; ``horizontal_pod_autoscalers:``,
``prometheus_adapter:`` and ``scaled_objects:`` are kept the same way (:attr:`MainConfig.hpa_node`
...) for :func:`kubeprom.config.hpa.load_autoscaling`, and ``simulation:``
(:attr:`MainConfig.simulation_node`) for ``kubeprom simulate``'s scenarios.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import yaml

from kubeprom.config.http_client import (
    HTTP_CLIENT_FIELDS,
    HTTPClientConfig,
    parse_http_client_config,
)
from kubeprom.config.nodes import Fields, compose, error, scalar_str
from kubeprom.config.relabel import RelabelConfig, parse_relabel_configs
from kubeprom.config.remote import RemoteWriteConfig, parse_remote_writes
from kubeprom.config.scrape import (
    DEFAULT_SCRAPE_PROTOCOLS,
    ScrapeConfig,
    ScrapeDefaults,
    ScrapeLimits,
    StaticConfig,
    join_dir,
    parse_limits,
    parse_scrape_config,
    parse_scrape_protocols,
    parse_static_configs,
)
from kubeprom.errors import ConfigError
from kubeprom.model.labels import is_label_name

DEFAULT_CONFIG = "kubeprom.yml"

DEFAULT_SCRAPE_INTERVAL_MS = 60_000
DEFAULT_SCRAPE_TIMEOUT_MS = 10_000
DEFAULT_EVALUATION_INTERVAL_MS = 60_000
DEFAULT_ALERTMANAGER_TIMEOUT_MS = 10_000

# Prometheus' patRulePath: only the last path element may hold a '*' glob.
_RULE_PATH = re.compile(r"[^*]*(\*[^/]*)?\Z")


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    """``global:``; every duration in milliseconds."""

    scrape_interval_ms: int = DEFAULT_SCRAPE_INTERVAL_MS
    scrape_timeout_ms: int = DEFAULT_SCRAPE_TIMEOUT_MS
    evaluation_interval_ms: int = DEFAULT_EVALUATION_INTERVAL_MS
    rule_query_offset_ms: int = 0
    external_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    scrape_protocols: tuple[str, ...] = DEFAULT_SCRAPE_PROTOCOLS
    limits: ScrapeLimits = field(default_factory=ScrapeLimits)

    @property
    def scrape_defaults(self) -> ScrapeDefaults:
        return ScrapeDefaults(
            self.scrape_interval_ms, self.scrape_timeout_ms, self.scrape_protocols, self.limits
        )


@dataclass(frozen=True, slots=True)
class AlertmanagerConfig:
    """One ``alerting.alertmanagers`` entry (static targets only). ``http`` holds its
    inlined ``http_config`` (basic_auth, authorization, tls_config, ...)."""

    scheme: str = "http"
    path_prefix: str = ""
    timeout_ms: int = DEFAULT_ALERTMANAGER_TIMEOUT_MS
    api_version: str = "v2"
    static_configs: tuple[StaticConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    alert_relabel_configs: tuple[RelabelConfig, ...] = ()
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    alertmanagers: tuple[AlertmanagerConfig, ...] = ()
    alert_relabel_configs: tuple[RelabelConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class MainConfig:
    """A loaded configuration file.

    ``source`` is the file path (``<embedded kubeprom.yml>`` for the default); ``text`` the
    file as written (for ``/api/v1/status/config``). ``rule_files`` and file_sd ``files``
    are globs joined with the file's directory, as Prometheus does.
    """

    source: str
    global_: GlobalConfig
    scrape_configs: tuple[ScrapeConfig, ...]
    text: str
    rule_files: tuple[str, ...] = ()
    alerting: AlertingConfig = AlertingConfig()
    cluster_node: yaml.Node | None = field(default=None, compare=False)
    remote_write: tuple[RemoteWriteConfig, ...] = ()
    hpa_node: yaml.Node | None = field(default=None, compare=False)
    simulation_node: yaml.Node | None = field(default=None, compare=False)
    adapter_node: yaml.Node | None = field(default=None, compare=False)
    scaled_objects_node: yaml.Node | None = field(default=None, compare=False)
    base_dir: str | None = None  # directory of ``source`` (the package's for the default)

    def scrape_config(self, job_name: str) -> ScrapeConfig | None:
        return next((c for c in self.scrape_configs if c.job_name == job_name), None)


_TOP_FIELDS = frozenset(
    {
        "global",
        "scrape_configs",
        "rule_files",
        "alerting",
        "remote_write",
        "cluster",
        "horizontal_pod_autoscalers",
        "simulation",
        "prometheus_adapter",
        "scaled_objects",
    }
)
_GLOBAL_FIELDS = frozenset(
    {
        "scrape_interval",
        "scrape_timeout",
        "evaluation_interval",
        "rule_query_offset",
        "external_labels",
        "scrape_protocols",
        "body_size_limit",
        "sample_limit",
        "target_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "keep_dropped_targets",
    }
)


def _parse_global(f: Fields) -> GlobalConfig:
    g = Fields(f.at("global"), f.source, "global", "config.GlobalConfig", _GLOBAL_FIELDS)
    external: dict[str, str] = {}
    for name, key_node, value_node in g.pairs("external_labels"):
        where = f"global.external_labels.{name}"
        if not is_label_name(name):
            raise error(key_node, f.source, where, f"{name!r} is not a valid label name")
        external[name] = scalar_str(value_node, f.source, where)
    interval = g.duration_ms("scrape_interval") or DEFAULT_SCRAPE_INTERVAL_MS
    timeout = g.duration_ms("scrape_timeout")
    if timeout > interval:
        key = "scrape_timeout" if "scrape_timeout" in g else "scrape_interval"
        raise g.fail(key, "global scrape timeout greater than scrape interval")
    if timeout == 0:
        timeout = min(DEFAULT_SCRAPE_TIMEOUT_MS, interval)
    try:
        protocols = parse_scrape_protocols(g, "scrape_protocols", DEFAULT_SCRAPE_PROTOCOLS)
    except ConfigError as err:
        raise ConfigError(
            f"{err.message} for global config",
            file=err.file,
            line=err.line,
            col=err.col,
            field=err.field,
        ) from err
    return GlobalConfig(
        scrape_interval_ms=interval,
        scrape_timeout_ms=timeout,
        evaluation_interval_ms=g.duration_ms("evaluation_interval")
        or DEFAULT_EVALUATION_INTERVAL_MS,
        rule_query_offset_ms=g.duration_ms("rule_query_offset"),
        external_labels=MappingProxyType(external),
        scrape_protocols=protocols,
        limits=parse_limits(g),
    )


_ALERTMANAGER_FIELDS = frozenset(
    {
        "scheme",
        "path_prefix",
        "timeout",
        "api_version",
        "static_configs",
        "relabel_configs",
        "alert_relabel_configs",
    }
)


def _parse_alerting(f: Fields, base_dir: str | None) -> AlertingConfig:
    fields = {"alertmanagers", "alert_relabel_configs"}
    a = Fields(f.at("alerting"), f.source, "alerting", "config.AlertingConfig", fields)
    managers = []
    for path, node in a.items("alertmanagers"):
        m = Fields(
            node,
            f.source,
            path,
            "config.AlertmanagerConfig",
            _ALERTMANAGER_FIELDS | HTTP_CLIENT_FIELDS,
        )
        version = m.string("api_version", "v2")
        if version != "v2":
            raise m.fail(
                "api_version",
                f"expected Alertmanager api version to be one of [v2] but got {version!r}",
            )
        relabel = parse_relabel_configs(m, "relabel_configs", "Alertmanager target relabeling rule")
        managers.append(
            AlertmanagerConfig(
                scheme=m.string("scheme", "http"),
                path_prefix=m.string("path_prefix"),
                timeout_ms=m.duration_ms("timeout", DEFAULT_ALERTMANAGER_TIMEOUT_MS),
                api_version=version,
                static_configs=parse_static_configs(m, check_addresses=not relabel),
                relabel_configs=relabel,
                alert_relabel_configs=parse_relabel_configs(
                    m, "alert_relabel_configs", "Alertmanager alert relabeling rule"
                ),
                http=parse_http_client_config(m, Path(base_dir) if base_dir else None),
            )
        )
    return AlertingConfig(
        tuple(managers), parse_relabel_configs(a, "alert_relabel_configs", "alert relabeling rule")
    )


def parse_main_config(text: str, source: str, base_dir: str | None = None) -> MainConfig:
    """Parse and validate a configuration document.

    ``base_dir`` is the directory relative paths (rule files, file_sd files) are taken
    from. Raises :class:`ConfigError` at the first problem.
    """
    root = compose(text, source)
    if root is None:
        return MainConfig(source, GlobalConfig(), (), text, base_dir=base_dir)
    f = Fields(root, source, "", "config.Config", _TOP_FIELDS)
    global_ = _parse_global(f) if "global" in f else GlobalConfig()
    rule_files = []
    for path, node in f.items("rule_files"):
        pattern = scalar_str(node, source, path)
        if _RULE_PATH.match(pattern) is None:
            raise error(node, source, path, f"invalid rule file path {pattern!r}")
        rule_files.append(join_dir(base_dir, pattern))
    scrape_configs: list[ScrapeConfig] = []
    jobs: set[str] = set()
    for path, node in f.items("scrape_configs"):
        cfg = parse_scrape_config(node, source, path, global_.scrape_defaults, base_dir)
        if cfg.job_name in jobs:
            where = _value(node, "job_name") or node
            raise error(
                where,
                source,
                f"{path}.job_name",
                f"found multiple scrape configs with job name {cfg.job_name!r}",
            )
        jobs.add(cfg.job_name)
        scrape_configs.append(cfg)
    return MainConfig(
        source=source,
        global_=global_,
        scrape_configs=tuple(scrape_configs),
        text=text,
        rule_files=tuple(rule_files),
        alerting=_parse_alerting(f, base_dir) if "alerting" in f else AlertingConfig(),
        cluster_node=f.get("cluster"),
        remote_write=parse_remote_writes(f, base_dir),
        hpa_node=f.get("horizontal_pod_autoscalers"),
        simulation_node=f.get("simulation"),
        adapter_node=f.get("prometheus_adapter"),
        scaled_objects_node=f.get("scaled_objects"),
        base_dir=base_dir,
    )


def _value(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == key), None)
    return None


def load_main_config(path: str | None = None) -> MainConfig:
    """Load ``path``, or the embedded default configuration when it is None."""
    if path is None:
        package = resources.files("kubeprom.config")
        text = package.joinpath(DEFAULT_CONFIG).read_text()
        # Its rule files are package data beside it.
        return parse_main_config(text, f"<embedded {DEFAULT_CONFIG}>", str(package))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config: {err.strerror}", file=path) from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"cannot read config: not UTF-8 text: {err.reason}", file=path) from err
    return parse_main_config(text, path, str(Path(path).parent))
