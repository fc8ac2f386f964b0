"""``remote_write``: where and how samples are shipped, as Prometheus' ``RemoteWriteConfig``.

Names, defaults and messages follow ``config/config.go`` (Prometheus 2.42, plus the queue
checks of ``QueueConfig.Validate`` that 3.x added: 2.42 accepted values that break its
queue). Supported::

    url, name, remote_timeout (30s), headers, write_relabel_configs,
    queue_config: capacity (2500), min_shards (1), max_shards (200),
                  max_samples_per_send (500), batch_send_deadline (5s),
                  min_backoff (30ms), max_backoff (5s), retry_on_http_429 (false)
    metadata_config: send (true), send_interval (1m), max_samples_per_send (500)
    send_exemplars / send_native_histograms: false only (kubeprom stores neither)
    basic_auth, authorization (bearer_token[_file]), tls_config, follow_redirects,
    enable_http2: the shared HTTP client settings (:mod:`kubeprom.config.http_client`)

``sigv4`` and the HTTP client keys kubeprom does not support are errors saying so; unknown
keys are errors as everywhere. Durations are milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml

from kubeprom.config.http_client import (
    HTTP_CLIENT_FIELDS,
    HTTPClientConfig,
    parse_http_client_config,
)
from kubeprom.config.nodes import Fields, error, is_null, scalar_str
from kubeprom.config.relabel import RelabelConfig, parse_relabel_configs

DEFAULT_REMOTE_TIMEOUT_MS = 30_000


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """``queue_config``: one queue's shards, batches and retry backoff."""

    capacity: int = 2500
    max_shards: int = 200
    min_shards: int = 1
    max_samples_per_send: int = 500
    batch_send_deadline_ms: int = 5_000
    min_backoff_ms: int = 30
    max_backoff_ms: int = 5_000
    retry_on_http_429: bool = False


@dataclass(frozen=True, slots=True)
class MetadataConfig:
    """``metadata_config``: whether and how often metric metadata is sent."""

    send: bool = True
    send_interval_ms: int = 60_000
    max_samples_per_send: int = 500


@dataclass(frozen=True, slots=True)
class RemoteWriteConfig:
    """One ``remote_write`` entry. ``name`` is the configured one, or "" when unset."""

    url: str
    name: str = ""
    remote_timeout_ms: int = DEFAULT_REMOTE_TIMEOUT_MS
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    write_relabel_configs: tuple[RelabelConfig, ...] = ()
    queue_config: QueueConfig = QueueConfig()
    metadata_config: MetadataConfig = MetadataConfig()
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)

    @property
    def queue_name(self) -> str:
        """The ``remote_name`` label: the name, else the first 6 hex digits of a config hash
        (Prometheus' ``toHash``), so two unnamed queues to one URL differ."""
        return self.name or self.config_hash()[:6]

    def config_hash(self) -> str:
        """md5 of the settings that identify the queue's data (not its tuning)."""
        ident = {
            "url": self.url,
            "headers": dict(self.headers),
            "write_relabel_configs": [repr(r) for r in self.write_relabel_configs],
        }
        return hashlib.md5(
            json.dumps(ident, sort_keys=True).encode(), usedforsecurity=False
        ).hexdigest()


# Headers the client sets itself (Prometheus' reservedHeaders).
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-encoding",
        "content-length",
        "content-type",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "www-authenticate",
        "accept-encoding",
        "x-prometheus-remote-write-version",
        "x-prometheus-remote-read-version",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    }
)

_REMOTE_WRITE_FIELDS = frozenset(
    {
        "url",
        "remote_timeout",
        "headers",
        "write_relabel_configs",
        "name",
        "send_exemplars",
        "send_native_histograms",
        "queue_config",
        "metadata_config",
        "sigv4",
        "protobuf_message",
        *HTTP_CLIENT_FIELDS,
    }
)
_QUEUE_FIELDS = frozenset(
    {
        "capacity",
        "max_shards",
        "min_shards",
        "max_samples_per_send",
        "batch_send_deadline",
        "min_backoff",
        "max_backoff",
        "retry_on_http_429",
    }
)
_METADATA_FIELDS = frozenset({"send", "send_interval", "max_samples_per_send"})
PROTOBUF_MESSAGE_V1 = "prometheus.WriteRequest"


def _parse_queue(f: Fields) -> QueueConfig:
    q = Fields(
        f.at("queue_config"), f.source, f.sub("queue_config"), "config.QueueConfig", _QUEUE_FIELDS
    )
    d = QueueConfig()
    # An absent key keeps the default; a key given (even as 0) is the value (Go's unmarshal
    # into the defaults), then Prometheus 3's QueueConfig.Validate checks it.
    cfg = QueueConfig(
        capacity=q.uint("capacity", d.capacity),
        max_shards=q.uint("max_shards", d.max_shards),
        min_shards=q.uint("min_shards", d.min_shards),
        max_samples_per_send=q.uint("max_samples_per_send", d.max_samples_per_send),
        batch_send_deadline_ms=q.duration_ms("batch_send_deadline", d.batch_send_deadline_ms),
        min_backoff_ms=q.duration_ms("min_backoff", d.min_backoff_ms),
        max_backoff_ms=q.duration_ms("max_backoff", d.max_backoff_ms),
        retry_on_http_429=q.boolean("retry_on_http_429", False),
    )
    for key in ("max_shards", "min_shards", "max_samples_per_send", "capacity"):
        if getattr(cfg, key) <= 0:
            raise q.fail(key, f"remote write queue {key} must be positive")
    if cfg.min_shards > cfg.max_shards:
        raise q.fail(
            "min_shards", "remote write queue min_shards must not be greater than max_shards"
        )
    if cfg.max_backoff_ms < cfg.min_backoff_ms:
        raise q.fail(
            "max_backoff" if "max_backoff" in q else "min_backoff",
            "remote write queue max_backoff must not be less than min_backoff",
        )
    return cfg


def _parse_metadata(f: Fields) -> MetadataConfig:
    m = Fields(
        f.at("metadata_config"),
        f.source,
        f.sub("metadata_config"),
        "config.MetadataConfig",
        _METADATA_FIELDS,
    )
    d = MetadataConfig()
    # Prometheus does not check these; a 0 interval makes its ticker panic and 0 entries
    # per send never finishes, so kubeprom refuses both while sending is on.
    cfg = MetadataConfig(
        send=m.boolean("send", d.send),
        send_interval_ms=m.duration_ms("send_interval", d.send_interval_ms),
        max_samples_per_send=m.uint("max_samples_per_send", d.max_samples_per_send),
    )
    if cfg.send and cfg.send_interval_ms <= 0:
        raise m.fail("send_interval", "metadata send_interval must be positive")
    if cfg.send and cfg.max_samples_per_send <= 0:
        raise m.fail("max_samples_per_send", "metadata max_samples_per_send must be positive")
    return cfg


def _parse_url(f: Fields) -> str:
    text = f.string("url")
    if text == "":
        raise f.fail("url" if "url" in f else None, "url for remote_write is empty")
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise f.fail("url", f"remote write url {text!r} must be http:// or https:// with a host")
    return text


def _parse_headers(f: Fields) -> Mapping[str, str]:
    headers: dict[str, str] = {}
    for name, key_node, value_node in f.pairs("headers"):
        where = f"{f.sub('headers')}.{name}"
        if name.lower() == "authorization":
            raise error(
                key_node,
                f.source,
                where,
                "authorization header must be changed via the basic_auth, authorization, "
                "oauth2, or sigv4 parameter",
            )
        if name.lower() in RESERVED_HEADERS:
            raise error(
                key_node, f.source, where, f"{name} is a reserved header. It must not be changed"
            )
        headers[name] = scalar_str(value_node, f.source, where)
    return MappingProxyType(headers)


def parse_remote_write(
    node: yaml.Node, source: str, path: str, base_dir: str | None = None
) -> RemoteWriteConfig:
    """Read and validate one ``remote_write`` entry (Prometheus' UnmarshalYAML); relative
    file paths (CA, credentials) are taken from ``base_dir``."""
    if is_null(node):
        raise error(node, source, path, "empty or null remote write config section")
    f = Fields(node, source, path, "config.RemoteWriteConfig", _REMOTE_WRITE_FIELDS)
    url = _parse_url(f)
    for key in ("send_exemplars", "send_native_histograms"):
        if f.boolean(key, False):
            what = "exemplars" if key == "send_exemplars" else "native histograms"
            raise f.fail(key, f"{key} is not supported: kubeprom stores no {what}")
    if "sigv4" in f:
        raise f.fail("sigv4", "sigv4 is not supported by kubeprom")
    message = f.string("protobuf_message", PROTOBUF_MESSAGE_V1)
    if message != PROTOBUF_MESSAGE_V1:
        raise f.fail(
            "protobuf_message",
            f"unsupported protobuf_message {message!r}: kubeprom sends remote write 1.0 "
            f"({PROTOBUF_MESSAGE_V1})",
        )
    for item_path, item in f.items("write_relabel_configs"):
        if is_null(item):
            raise error(
                item, source, item_path, "empty or null relabeling rule in remote write config"
            )
    http = parse_http_client_config(f, Path(base_dir) if base_dir is not None else None)
    return RemoteWriteConfig(
        url=url,
        http=http,
        name=f.string("name"),
        remote_timeout_ms=f.duration_ms("remote_timeout") or DEFAULT_REMOTE_TIMEOUT_MS,
        headers=_parse_headers(f),
        write_relabel_configs=parse_relabel_configs(
            f, "write_relabel_configs", "relabeling rule in remote write config"
        ),
        queue_config=_parse_queue(f) if "queue_config" in f else QueueConfig(),
        metadata_config=_parse_metadata(f) if "metadata_config" in f else MetadataConfig(),
    )


def parse_remote_writes(f: Fields, base_dir: str | None = None) -> tuple[RemoteWriteConfig, ...]:
    """Every ``remote_write`` entry; a repeated non-empty name is an error (Prometheus')."""
    out: list[RemoteWriteConfig] = []
    names: set[str] = set()
    for path, node in f.items("remote_write"):
        cfg = parse_remote_write(node, f.source, path, base_dir)
        if cfg.name and cfg.name in names:
            name_node = next(
                (v for k, v in node.value if getattr(k, "value", None) == "name"), node
            )
            raise error(
                name_node,
                f.source,
                f"{path}.name",
                f"found multiple remote write configs with job name {cfg.name!r}",
            )
        names.add(cfg.name)
        out.append(cfg)
    return tuple(out)
