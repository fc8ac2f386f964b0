"""``--web.config.file``: Prometheus' web configuration (exporter-toolkit format).

Supported::

    tls_server_config:
      cert_file: server.crt           # paths are relative to this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
      client_ca_file: ca.crt
      min_version: TLS12              # TLS10..TLS13
      max_version: TLS13
    http_server_config:
      headers: {X-Frame-Options: deny}
      http2: true                     # accepted; aiohttp speaks HTTP/1.1
    basic_auth_users:
      alice: $2y$10$...               # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')

Unknown fields, and the exporter-toolkit fields kubeprom cannot honour (cipher suites,
curve preferences, client certificate requests without verification), are errors that
name the file, line and column.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from kubeprom.config.nodes import Fields, compose, error, scalar_str
from kubeprom.errors import ConfigError

_TOP = frozenset({"tls_server_config", "http_server_config", "basic_auth_users"})
_TLS = frozenset(
    {
        "cert_file",
        "key_file",
        "cert",
        "key",
        "client_auth_type",
        "client_ca_file",
        "client_ca",
        "cipher_suites",
        "curve_preferences",
        "min_version",
        "max_version",
        "prefer_server_cipher_suites",
        "client_allowed_sans",
    }
)
_UNSUPPORTED_TLS = (
    "cert",
    "key",
    "client_ca",
    "cipher_suites",
    "curve_preferences",
    "client_allowed_sans",
)
_HTTP = frozenset({"http2", "headers"})
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_BCRYPT = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}\Z")


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cert_file: Path
    key_file: Path
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion | None = None

    def context(self) -> ssl.SSLContext:
        """A server SSLContext; raises ConfigError when a file cannot be loaded."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = self.min_version
        if self.max_version is not None:
            ctx.maximum_version = self.max_version
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
            if self.client_ca_file is not None:
                ctx.load_verify_locations(self.client_ca_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"cannot load TLS certificate or key: {err}") from err
        ctx.verify_mode = self.client_auth
        return ctx


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A loaded web configuration; the empty one serves plain HTTP without auth."""

    tls: TLSConfig | None = None
    basic_auth_users: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def load_web_config(path: str) -> WebConfig:
    """Read and validate a web configuration file; raises ConfigError with positions."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read web config: {err.strerror}", file=path) from err
    return parse_web_config(text, path, Path(path).resolve().parent)


def parse_web_config(text: str, source: str, base_dir: Path) -> WebConfig:
    root = compose(text, source)
    if root is None:
        return WebConfig()
    top = Fields(root, source, "", "web.Config", _TOP)
    tls = None
    if "tls_server_config" in top:
        node = top.at("tls_server_config")
        tls = _tls(Fields(node, source, "tls_server_config", "web.TLSConfig", _TLS), base_dir)
    headers: dict[str, str] = {}
    if "http_server_config" in top:
        h = Fields(
            top.at("http_server_config"), source, "http_server_config", "web.HTTPConfig", _HTTP
        )
        h.boolean("http2", True)
        for name, _key, node in h.pairs("headers"):
            headers[name] = scalar_str(node, source, f"http_server_config.headers.{name}")
    users: dict[str, bytes] = {}
    for name, _key, node in top.pairs("basic_auth_users"):
        where = f"basic_auth_users.{name}"
        hashed = scalar_str(node, source, where)
        if not _BCRYPT.match(hashed):
            raise error(node, source, where, "expected a bcrypt hash ($2y$...), got another value")
        users[name] = hashed.encode()
    return WebConfig(tls, MappingProxyType(users), MappingProxyType(headers))


def _tls(f: Fields, base_dir: Path) -> TLSConfig | None:
    for key in _UNSUPPORTED_TLS:
        if key in f:
            raise f.fail(key, f"{key} is not supported by kubeprom")
    cert, key = f.string("cert_file"), f.string("key_file")
    if not cert and not key and not f.string("client_ca_file"):
        return None
    if not cert:
        raise f.fail(None, "missing cert_file")
    if not key:
        raise f.fail(None, "missing key_file")
    auth_text = f.string("client_auth_type")
    if auth_text not in _CLIENT_AUTH:
        raise f.fail(
            "client_auth_type",
            f"invalid ClientAuth {auth_text!r}; kubeprom supports "
            + ", ".join(k for k in _CLIENT_AUTH if k),
        )
    auth = _CLIENT_AUTH[auth_text]
    ca_text = f.string("client_ca_file")
    if auth != ssl.CERT_NONE and not ca_text:
        raise f.fail("client_auth_type", f"client_ca_file is required for {auth_text}")
    versions: list[ssl.TLSVersion | None] = []
    for name, default in (("min_version", "TLS12"), ("max_version", "")):
        text = f.string(name, default)
        if text and text not in _VERSIONS:
            raise f.fail(name, f"unknown TLS version: {text}")
        versions.append(_VERSIONS[text] if text else None)
    f.boolean("prefer_server_cipher_suites")
    min_version = versions[0] or ssl.TLSVersion.TLSv1_2
    return TLSConfig(
        base_dir / cert,
        base_dir / key,
        auth,
        base_dir / ca_text if ca_text else None,
        min_version,
        versions[1],
    )
