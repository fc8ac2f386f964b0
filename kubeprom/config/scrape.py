"""``scrape_configs``: scrape jobs, their discovery configs, protocols and limits.

Names, defaults and validation messages follow Prometheus (``config/config.go``,
``discovery/file/file.go``); relabeling rules are in :mod:`kubeprom.config.relabel`.
Durations are milliseconds, sizes bytes, and a limit of 0 means none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from types import MappingProxyType

import yaml

from kubeprom.config.nodes import Fields, error, is_null, scalar_str
from kubeprom.config.relabel import RelabelConfig, parse_relabel_configs
from kubeprom.model.labels import is_label_name

# ---- discovery configs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaticConfig:
    """One ``static_configs`` entry: a target group written in the config."""

    targets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


DEFAULT_FILE_SD_REFRESH_MS = 300_000
# Prometheus' patFileSDName: a path whose last element may hold one '*' glob, ending in an
# extension that tells the format.
_FILE_SD_NAME = re.compile(r"[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)\Z")


@dataclass(frozen=True, slots=True)
class FileSDConfig:
    """One ``file_sd_configs`` entry; ``files`` are joined with the config file's directory."""

    files: tuple[str, ...]
    refresh_interval_ms: int = DEFAULT_FILE_SD_REFRESH_MS


# The simulated cluster's discovery roles (kubernetes_sd roles plus the one
# kube-state-metrics target and the RabbitMQ broker's); the discovery itself lives with the
# cluster model. Simulated pods expose no metrics of their own, so there is no "pod" role.
CLUSTER_SD_ROLES = ("endpoints", "kube-state-metrics", "node", "rabbitmq", "service")


@dataclass(frozen=True, slots=True)
class ClusterSDConfig:
    """One ``cluster_sd_configs`` entry: discover the simulated cluster's objects of a role."""

    role: str


def _label_map(f: Fields, key: str) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for name, key_node, value_node in f.pairs(key):
        if not is_label_name(name):
            raise error(
                key_node, f.source, f"{f.sub(key)}.{name}", f"{name!r} is not a valid label name"
            )
        out[name] = scalar_str(value_node, f.source, f"{f.sub(key)}.{name}")
    return MappingProxyType(out)


def check_target_address(address: str) -> str | None:
    """Prometheus' CheckTargetAddress: the reason ``address`` is not a host, or None."""
    if "/" in address:
        return f"{address!r} is not a valid hostname"
    return None


def parse_static_configs(f: Fields, check_addresses: bool) -> tuple[StaticConfig, ...]:
    out = []
    for path, node in f.items("static_configs"):
        if is_null(node):
            raise error(node, f.source, path, "empty or null section in static_configs")
        sf = Fields(node, f.source, path, "targetgroup.Group", {"targets", "labels"})
        targets = sf.str_list("targets")
        if check_addresses:
            for (tpath, tnode), target in zip(sf.items("targets"), targets, strict=True):
                reason = check_target_address(target)
                if reason is not None:
                    raise error(tnode, f.source, tpath, reason)
        out.append(StaticConfig(targets, _label_map(sf, "labels")))
    return tuple(out)


def parse_file_sd_configs(f: Fields, base_dir: str | None) -> tuple[FileSDConfig, ...]:
    out = []
    for path, node in f.items("file_sd_configs"):
        ff = Fields(node, f.source, path, "file.SDConfig", {"files", "refresh_interval"})
        files = ff.str_list("files")
        if not files:
            raise ff.fail(
                "files", "file service discovery config must contain at least one path name"
            )
        for (fpath, fnode), name in zip(ff.items("files"), files, strict=True):
            if _FILE_SD_NAME.match(name) is None:
                raise error(
                    fnode, f.source, fpath, f"path name {name!r} is not valid for file discovery"
                )
        refresh = ff.duration_ms("refresh_interval", DEFAULT_FILE_SD_REFRESH_MS)
        out.append(FileSDConfig(tuple(join_dir(base_dir, p) for p in files), refresh))
    return tuple(out)


def parse_cluster_sd_configs(f: Fields) -> tuple[ClusterSDConfig, ...]:
    out = []
    for path, node in f.items("cluster_sd_configs"):
        cf = Fields(node, f.source, path, "cluster.SDConfig", {"role"})
        role = cf.string("role")
        if role not in CLUSTER_SD_ROLES:
            expected = ", ".join(CLUSTER_SD_ROLES)
            got = f"unknown role {role!r}" if role else "role is required"
            raise cf.fail("role", f"{got}; expected one of {expected}")
        out.append(ClusterSDConfig(role))
    return tuple(out)


def join_dir(base_dir: str | None, path: str) -> str:
    """Prometheus' config.JoinDir: a relative path is taken from the config file's directory
    (and cleaned, as Go's filepath.Join does)."""
    if base_dir is None or path == "" or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


# ---- scrape protocols, sizes ----------------------------------------------------------------

SCRAPE_PROTOCOLS = (
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusProto",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
)
DEFAULT_SCRAPE_PROTOCOLS = (
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
)


def parse_scrape_protocols(f: Fields, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in f:
        return default
    protocols = f.str_list(key)
    if not protocols:
        raise f.fail(key, "scrape_protocols cannot be empty")
    seen: set[str] = set()
    for (path, node), proto in zip(f.items(key), protocols, strict=True):
        if proto.lower() in seen:
            raise error(
                node,
                f.source,
                path,
                f"duplicated protocol in scrape_protocols, got {list(protocols)}",
            )
        if proto not in SCRAPE_PROTOCOLS:
            raise error(
                node,
                f.source,
                path,
                f"unknown scrape protocol {proto!r}, supported: {', '.join(SCRAPE_PROTOCOLS)}",
            )
        seen.add(proto.lower())
    return protocols


# alecthomas/units' base-2 byte units as Prometheus accepts them: KB and KiB are both 1024.
_BYTE_UNITS = {
    "B": 1,
    **{f"{p}{s}": 1024 ** (i + 1) for i, p in enumerate("KMGTPE") for s in ("B", "iB")},
}
_BYTE_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([A-Za-z]+)")


def parse_byte_size(text: str) -> int:
    """``10MB`` -> 10485760; sums of terms (``1GB512MB``) and ``0`` are allowed."""
    if text in ("", "0"):
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _BYTE_SIZE_RE.match(text, pos)
        if m is None:
            raise ValueError(f"invalid size {text!r}: expected a number and a unit such as 10MB")
        number, unit = m.groups()
        if unit not in _BYTE_UNITS:
            raise ValueError(f"invalid size {text!r}: unknown unit {unit!r}")
        total += float(number) * _BYTE_UNITS[unit]
        pos = m.end()
    return int(total)


def byte_size(f: Fields, key: str, default: int = 0) -> int:
    node = f.get(key)
    if node is None:
        return default
    try:
        return parse_byte_size(scalar_str(node, f.source, f.sub(key)))
    except ValueError as err:
        raise f.fail(key, str(err)) from err


# ---- scrape configs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScrapeLimits:
    """Limits shared by ``global`` and each job (0 = none); a job's 0 takes the global value."""

    body_size_limit_bytes: int = 0
    sample_limit: int = 0
    target_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    keep_dropped_targets: int = 0

    def inherit(self, parent: ScrapeLimits) -> ScrapeLimits:
        """These limits, with every unset (0) one taken from ``parent``."""
        mine, theirs = astuple(self), astuple(parent)
        return ScrapeLimits(*(m or t for m, t in zip(mine, theirs, strict=True)))


_LIMIT_FIELDS = {
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
}


def parse_limits(f: Fields) -> ScrapeLimits:
    return ScrapeLimits(
        body_size_limit_bytes=byte_size(f, "body_size_limit"),
        **{name: f.uint(name) for name in _LIMIT_FIELDS},
    )


@dataclass(frozen=True, slots=True)
class ScrapeConfig:
    """One scrape job after the globals were applied (interval, timeout, limits, protocols)."""

    job_name: str
    scrape_interval_ms: int
    scrape_timeout_ms: int
    scrape_protocols: tuple[str, ...] = DEFAULT_SCRAPE_PROTOCOLS
    fallback_scrape_protocol: str = ""
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    honor_labels: bool = False
    honor_timestamps: bool = True
    track_timestamps_staleness: bool = False
    enable_compression: bool = True
    limits: ScrapeLimits = ScrapeLimits()
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    cluster_sd_configs: tuple[ClusterSDConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()


_SCRAPE_FIELDS = frozenset(
    {
        "job_name",
        "honor_labels",
        "honor_timestamps",
        "track_timestamps_staleness",
        "params",
        "scrape_interval",
        "scrape_timeout",
        "scrape_protocols",
        "fallback_scrape_protocol",
        "metrics_path",
        "scheme",
        "enable_compression",
        "body_size_limit",
        *_LIMIT_FIELDS,
        "static_configs",
        "file_sd_configs",
        "cluster_sd_configs",
        "relabel_configs",
        "metric_relabel_configs",
    }
)


@dataclass(frozen=True, slots=True)
class ScrapeDefaults:
    """What a job inherits from ``global``."""

    scrape_interval_ms: int = 60_000
    scrape_timeout_ms: int = 10_000
    scrape_protocols: tuple[str, ...] = DEFAULT_SCRAPE_PROTOCOLS
    limits: ScrapeLimits = ScrapeLimits()


def parse_scrape_config(
    node: yaml.Node, source: str, path: str, defaults: ScrapeDefaults, base_dir: str | None
) -> ScrapeConfig:
    """Read and validate one ``scrape_configs`` entry (Prometheus' UnmarshalYAML + Validate)."""
    if is_null(node):
        raise error(node, source, path, "empty or null scrape config section")
    f = Fields(node, source, path, "config.ScrapeConfig", _SCRAPE_FIELDS)
    job = f.string("job_name")
    if job == "":
        raise f.fail("job_name", "job_name is empty")
    scheme = f.string("scheme", "http")
    if scheme not in ("http", "https"):
        raise f.fail("scheme", f"unknown scrape scheme {scheme!r}; expected http or https")
    relabel = parse_relabel_configs(f, "relabel_configs", "target relabeling rule in scrape config")
    metric_relabel = parse_relabel_configs(
        f, "metric_relabel_configs", "metric relabeling rule in scrape config"
    )
    interval = f.duration_ms("scrape_interval") or defaults.scrape_interval_ms
    timeout = f.duration_ms("scrape_timeout")
    if timeout > interval:
        raise f.fail(
            "scrape_timeout" if "scrape_timeout" in f else "scrape_interval",
            f"scrape timeout greater than scrape interval for scrape config with job name {job!r}",
        )
    if timeout == 0:
        timeout = min(defaults.scrape_timeout_ms, interval)
    fallback = f.string("fallback_scrape_protocol")
    if fallback and fallback not in SCRAPE_PROTOCOLS:
        raise f.fail(
            "fallback_scrape_protocol",
            f"invalid fallback_scrape_protocol for scrape config with job name {job!r}: "
            f"unknown scrape protocol {fallback!r}, supported: {', '.join(SCRAPE_PROTOCOLS)}",
        )
    params: dict[str, tuple[str, ...]] = {}
    for name, _key_node, value_node in f.pairs("params"):
        ppath = f"{f.sub('params')}.{name}"
        if isinstance(value_node, yaml.SequenceNode):
            params[name] = tuple(scalar_str(v, source, ppath) for v in value_node.value)
        else:
            raise error(value_node, source, ppath, f"expected a list of values for param {name!r}")
    return ScrapeConfig(
        job_name=job,
        scrape_interval_ms=interval,
        scrape_timeout_ms=timeout,
        scrape_protocols=parse_scrape_protocols(f, "scrape_protocols", defaults.scrape_protocols),
        fallback_scrape_protocol=fallback,
        metrics_path=f.string("metrics_path", "/metrics"),
        scheme=scheme,
        params=MappingProxyType(params),
        honor_labels=f.boolean("honor_labels", False),
        honor_timestamps=f.boolean("honor_timestamps", True),
        track_timestamps_staleness=f.boolean("track_timestamps_staleness", False),
        enable_compression=f.boolean("enable_compression", True),
        limits=parse_limits(f).inherit(defaults.limits),
        # Prometheus rejects URLs as static targets only when no relabeling could fix them.
        static_configs=parse_static_configs(f, check_addresses=not relabel),
        file_sd_configs=parse_file_sd_configs(f, base_dir),
        cluster_sd_configs=parse_cluster_sd_configs(f),
        relabel_configs=relabel,
        metric_relabel_configs=metric_relabel,
    )
