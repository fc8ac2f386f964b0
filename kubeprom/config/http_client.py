"""HTTP client settings, as Prometheus' common ``http_config`` names them.

One home for every outgoing HTTP connection kubeprom configures: the ``--http.config.file``
of the query commands (promtool's flag, the same file format), and the sections that inline
these keys (Alertmanager targets, remote write). Supported::

    basic_auth: {username | username_file, password | password_file}
    authorization: {type: Bearer, credentials | credentials_file}
    bearer_token | bearer_token_file         # deprecated spellings of authorization
    tls_config:
      ca | ca_file                           # PEM; replaces the system roots
      cert_file, key_file                    # client certificate (both or neither)
      server_name                            # SNI and the name the certificate must carry
      insecure_skip_verify: false
      min_version: TLS12                     # TLS10..TLS13; max_version likewise
    follow_redirects: true
    enable_http2: true                       # accepted: the clients speak HTTP/1.1 either way

Validation and its messages are Prometheus' (``HTTPClientConfig.Validate``,
``TLSConfig.Validate``). The other keys Prometheus knows (``oauth2``, proxies,
``http_headers``, secret-manager ``*_ref`` fields, inline ``cert``/``key``) are errors saying
kubeprom does not support them; unknown keys are errors as everywhere. Relative file paths
are joined with the configuration file's directory. Every error is a
:class:`~kubeprom.errors.ConfigError` with the file, line, column and dotted field path.

Secrets in files are read when used (trimmed of surrounding white space, as Prometheus
does), so a rotated token is picked up without a restart; :mod:`kubeprom.config.http_transport`
turns a config into what a request needs (an ``ssl.SSLContext`` and headers).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubeprom.config.nodes import Fields, compose, is_null
from kubeprom.errors import ConfigError

HTTP_CLIENT_FIELDS = frozenset(
    {
        "basic_auth",
        "authorization",
        "oauth2",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "follow_redirects",
        "enable_http2",
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
        "http_headers",
    }
)
"""The keys of Prometheus' ``HTTPClientConfig``; sections that inline it accept these too."""

_UNSUPPORTED = (
    "oauth2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "http_headers",
)
_BASIC_AUTH_FIELDS = frozenset(
    {"username", "username_file", "username_ref", "password", "password_file", "password_ref"}
)
_AUTHORIZATION_FIELDS = frozenset({"type", "credentials", "credentials_file", "credentials_ref"})
_TLS_FIELDS = frozenset(
    {
        "ca",
        "cert",
        "key",
        "ca_file",
        "cert_file",
        "key_file",
        "ca_ref",
        "cert_ref",
        "key_ref",
        "server_name",
        "insecure_skip_verify",
        "min_version",
        "max_version",
    }
)
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a setting was written, so errors found when it is used can point at it."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    field: str | None = None

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line, col=self.col, field=self.field)


def _origin(f: Fields, key: str) -> Origin:
    node = f.at(key)
    return Origin(f.source, node.start_mark.line + 1, node.start_mark.column + 1, f.sub(key))


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential written inline (``text``) or kept in a file (``file``, read when used)."""

    text: str = field(default="", repr=False)
    file: Path | None = None
    origin: Origin = field(default_factory=Origin, compare=False)

    def read(self) -> str:
        """The secret; a file's content without surrounding white space (Prometheus'
        ``FileSecret``). Raises ConfigError at the setting's position when unreadable."""
        if self.file is None:
            return self.text
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise self.origin.error(f"cannot read {str(self.file)!r}: {reason}") from err


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: Secret
    password: Secret


@dataclass(frozen=True, slots=True)
class Authorization:
    """``Authorization: <type> <credentials>``; ``type`` defaults to ``Bearer``."""

    type: str
    credentials: Secret


@dataclass(frozen=True, slots=True)
class TLSClientConfig:
    """How to check the server and whom to present as; the defaults are the system's roots
    and TLS 1.2 or newer."""

    ca: str = ""  # PEM text
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: ssl.TLSVersion | None = None
    max_version: ssl.TLSVersion | None = None
    origin: Origin = field(default_factory=Origin, compare=False)


@dataclass(frozen=True, slots=True)
class HTTPClientConfig:
    """A validated ``http_config``; the default is plain requests with no credentials."""

    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    follow_redirects: bool = True
    enable_http2: bool = True


def _join(base_dir: Path | None, text: str) -> Path:
    path = Path(text)
    return path if base_dir is None or path.is_absolute() else base_dir / path


def _secret(f: Fields, key: str, file_key: str, base_dir: Path | None) -> Secret:
    text, file = f.string(key), f.string(file_key)
    if file:
        return Secret(file=_join(base_dir, file), origin=_origin(f, file_key))
    return Secret(text, origin=_origin(f, key))


def _reject(f: Fields, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in f:
            raise f.fail(key, f"{key} is not supported by kubeprom")


def _basic_auth(f: Fields, base_dir: Path | None) -> BasicAuth:
    _reject(f, ("username_ref", "password_ref"))
    if f.string("username") and f.string("username_file"):
        raise f.fail(
            "username_file",
            "at most one of basic_auth username, username_file & username_ref must be configured",
        )
    if f.string("password") and f.string("password_file"):
        raise f.fail(
            "password_file",
            "at most one of basic_auth password, password_file & password_ref must be configured",
        )
    return BasicAuth(
        _secret(f, "username", "username_file", base_dir),
        _secret(f, "password", "password_file", base_dir),
    )


def _authorization(f: Fields, base_dir: Path | None) -> Authorization:
    _reject(f, ("credentials_ref",))
    if f.string("credentials") and f.string("credentials_file"):
        raise f.fail(
            "credentials_file",
            "at most one of authorization credentials & credentials_file must be configured",
        )
    kind = f.string("type").strip() or "Bearer"
    if kind.lower() == "basic":
        raise f.fail(
            "type", 'authorization type cannot be set to "basic", use "basic_auth" instead'
        )
    return Authorization(kind, _secret(f, "credentials", "credentials_file", base_dir))


def _tls_version(f: Fields, key: str) -> ssl.TLSVersion | None:
    text = f.string(key)
    if not text:
        return None
    if text not in TLS_VERSIONS:
        raise f.fail(key, f"unknown TLS version: {text}")
    return TLS_VERSIONS[text]


def _tls(f: Fields, base_dir: Path | None) -> TLSClientConfig:
    _reject(f, ("ca_ref", "cert_ref", "key_ref"))
    for key in ("cert", "key"):
        if key in f:
            raise f.fail(key, f"inline {key} is not supported by kubeprom; use {key}_file")
    if f.string("ca") and f.string("ca_file"):
        raise f.fail("ca_file", "at most one of ca, ca_file & ca_ref must be configured")
    cert, key = f.string("cert_file"), f.string("key_file")
    if cert and not key:
        raise f.fail(
            "cert_file",
            "exactly one of key or key_file must be configured when a client certificate is "
            "configured",
        )
    if key and not cert:
        raise f.fail(
            "key_file",
            "exactly one of cert or cert_file must be configured when a client key is configured",
        )
    low, high = _tls_version(f, "min_version"), _tls_version(f, "max_version")
    if low is not None and high is not None and high < low:
        raise f.fail(
            "max_version",
            "tls_config.max_version must be greater than or equal to tls_config.min_version "
            "if both are specified",
        )
    ca_file = f.string("ca_file")
    return TLSClientConfig(
        ca=f.string("ca"),
        ca_file=_join(base_dir, ca_file) if ca_file else None,
        cert_file=_join(base_dir, cert) if cert else None,
        key_file=_join(base_dir, key) if key else None,
        server_name=f.string("server_name"),
        insecure_skip_verify=f.boolean("insecure_skip_verify"),
        min_version=low,
        max_version=high,
        origin=Origin(f.source, f.node.start_mark.line + 1, f.node.start_mark.column + 1, f.path),
    )


def _given(f: Fields, key: str) -> bool:
    """A section is set when present and not null (a null pointer in Go's yaml.v2)."""
    node = f.get(key)
    return node is not None and not is_null(node)


def parse_http_client_config(f: Fields, base_dir: Path | None) -> HTTPClientConfig:
    """The ``http_config`` keys of the mapping ``f`` (which may hold other keys too: build it
    with ``known=OWN_KEYS | HTTP_CLIENT_FIELDS``). Relative paths are joined with
    ``base_dir`` (None: left as written). Raises ConfigError."""
    _reject(f, _UNSUPPORTED)
    basic = auth = None
    if _given(f, "basic_auth"):
        path = f.sub("basic_auth")
        b = Fields(f.at("basic_auth"), f.source, path, "config.BasicAuth", _BASIC_AUTH_FIELDS)
        basic = _basic_auth(b, base_dir)
    bearer, bearer_file = f.string("bearer_token"), f.string("bearer_token_file")
    if bearer and bearer_file:
        raise f.fail(
            "bearer_token_file",
            "at most one of bearer_token & bearer_token_file must be configured",
        )
    if basic is not None and (bearer or bearer_file):
        raise f.fail(
            "basic_auth",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
            "configured",
        )
    if _given(f, "authorization"):
        path = f.sub("authorization")
        a = Fields(
            f.at("authorization"), f.source, path, "config.Authorization", _AUTHORIZATION_FIELDS
        )
        if bearer or bearer_file:
            raise f.fail(
                "authorization",
                "authorization is not compatible with bearer_token & bearer_token_file",
            )
        auth = _authorization(a, base_dir)
        if basic is not None:
            raise f.fail(
                "authorization",
                "at most one of basic_auth, oauth2 & authorization must be configured",
            )
    elif bearer or bearer_file:
        auth = Authorization("Bearer", _secret(f, "bearer_token", "bearer_token_file", base_dir))
    tls = TLSClientConfig()
    if "tls_config" in f:
        t = Fields(
            f.at("tls_config"), f.source, f.sub("tls_config"), "config.TLSConfig", _TLS_FIELDS
        )
        tls = _tls(t, base_dir)
    return HTTPClientConfig(
        basic_auth=basic,
        authorization=auth,
        tls=tls,
        follow_redirects=f.boolean("follow_redirects", True),
        enable_http2=f.boolean("enable_http2", True),
    )


def parse_http_config(text: str, source: str, base_dir: Path | None = None) -> HTTPClientConfig:
    """A document that is one ``http_config`` (promtool's ``--http.config.file``)."""
    root: yaml.Node | None = compose(text, source)
    if root is None:
        return HTTPClientConfig()
    return parse_http_client_config(
        Fields(root, source, "", "config.HTTPClientConfig", HTTP_CLIENT_FIELDS), base_dir
    )


def load_http_config(path: str) -> HTTPClientConfig:
    """Read and validate an HTTP client configuration file; paths are taken from its
    directory. Raises ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read HTTP client config: {err.strerror}", file=path) from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"cannot read HTTP client config: {err}", file=path) from err
    return parse_http_config(text, path, Path(path).resolve().parent)
