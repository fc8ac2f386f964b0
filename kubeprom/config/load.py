"""The main configuration file: a prometheus.yml subset.

Errors name the file, line and column (1-based) of the offending node and the field, e.g.
``kubeprom.yml:3:20: global.scrape_interval: not a valid duration string: '5x'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from kubeprom.errors import ConfigError
from kubeprom.model.timeutil import parse_duration_ms

DEFAULT_CONFIG = "kubeprom.yml"
_GLOBAL_DURATIONS = {
    "scrape_interval": 60_000,
    "scrape_timeout": 10_000,
    "evaluation_interval": 60_000,
}


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    scrape_interval_ms: int = 60_000
    scrape_timeout_ms: int = 10_000
    evaluation_interval_ms: int = 60_000
    external_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MainConfig:
    source: str
    global_: GlobalConfig
    scrape_configs: list[dict[str, object]]
    text: str


def _err(node: yaml.Node, source: str, field_: str, message: str) -> ConfigError:
    return ConfigError(
        message,
        file=source,
        line=node.start_mark.line + 1,
        col=node.start_mark.column + 1,
        field=field_,
    )


def _mapping(node: yaml.Node, source: str, field_: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise _err(node, source, field_, f"expected a mapping, got {node.tag.rsplit(':', 1)[-1]}")
    out: dict[str, yaml.Node] = {}
    for k, v in node.value:
        out[str(k.value)] = v
    return out


def parse_main_config(text: str, source: str) -> MainConfig:
    """Parse and validate a configuration document."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(
            str(getattr(err, "problem", err)),
            file=source,
            line=mark.line + 1 if mark else None,
            col=mark.column + 1 if mark else None,
        ) from err
    if root is None:
        return MainConfig(source, GlobalConfig(), [], text)
    top = _mapping(root, source, "config")
    known = {"global", "scrape_configs", "rule_files", "alerting", "remote_write", "cluster"}
    for key, node in top.items():
        if key not in known:
            raise _err(node, source, key, f"field {key!r} not found in type config")
    glob: dict[str, object] = {}
    if "global" in top:
        for key, node in _mapping(top["global"], source, "global").items():
            if key in _GLOBAL_DURATIONS:
                try:
                    glob[key] = parse_duration_ms(str(node.value))
                except ValueError as err:
                    raise _err(node, source, f"global.{key}", str(err)) from err
            elif key == "external_labels":
                glob[key] = {
                    k: str(v.value)
                    for k, v in _mapping(node, source, "global.external_labels").items()
                }
            else:
                raise _err(node, source, f"global.{key}", f"field {key!r} not found in type global")
    g = GlobalConfig(
        scrape_interval_ms=int(glob.get("scrape_interval", 60_000)),  # type: ignore[call-overload]
        scrape_timeout_ms=int(glob.get("scrape_timeout", 10_000)),  # type: ignore[call-overload]
        evaluation_interval_ms=int(glob.get("evaluation_interval", 60_000)),  # type: ignore[call-overload]
        external_labels=glob.get("external_labels", {}),  # type: ignore[arg-type]
    )
    if g.scrape_timeout_ms > g.scrape_interval_ms:
        node = top["global"]
        raise _err(
            node,
            source,
            "global.scrape_timeout",
            "global scrape timeout greater than scrape interval",
        )
    data = yaml.safe_load(text) or {}
    return MainConfig(source, g, list(data.get("scrape_configs") or []), text)


def load_main_config(path: str | None = None) -> MainConfig:
    """Load ``path``, or the embedded default configuration when it is None."""
    if path is None:
        text = resources.files("kubeprom.config").joinpath(DEFAULT_CONFIG).read_text()
        return parse_main_config(text, f"<embedded {DEFAULT_CONFIG}>")
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config: {err.strerror}", file=path) from err
    return parse_main_config(text, path)
