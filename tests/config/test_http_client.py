"""``http_config``: Prometheus' validation messages at the right place, values and defaults
of good files, sections that inline the keys, and secrets read from files when used."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from kubeprom.config.http_client import (
    HTTP_CLIENT_FIELDS,
    Authorization,
    HTTPClientConfig,
    Secret,
    load_http_config,
    parse_http_client_config,
    parse_http_config,
)
from kubeprom.config.nodes import Fields, compose
from kubeprom.errors import ConfigError
from tests.support.procs import require_binary

TESTDATA = Path(__file__).parent / "testdata" / "http_client"

# (file, the error after "<path>:") -- the message is part of the behaviour; the texts after
# the field are Prometheus' (common/config HTTPClientConfig.Validate, TLSConfig.Validate).
BAD = {
    "authorization_and_bearer": "2:3: authorization: authorization is not compatible with "
    "bearer_token & bearer_token_file",
    "authorization_basic": '2:9: authorization.type: authorization type cannot be set to "basic", '
    'use "basic_auth" instead',
    "authorization_creds_and_file": "3:21: authorization.credentials_file: at most one of "
    "authorization credentials & credentials_file must be configured",
    "basic_auth_and_authorization": "4:3: authorization: at most one of basic_auth, oauth2 & "
    "authorization must be configured",
    "basic_auth_and_bearer": "2:3: basic_auth: at most one of basic_auth, oauth2, bearer_token "
    "& bearer_token_file must be configured",
    "basic_auth_typo": "3:3: basic_auth.pasword: field pasword not found in type config.BasicAuth",
    "basic_password_and_file": "4:18: basic_auth.password_file: at most one of basic_auth "
    "password, password_file & password_ref must be configured",
    "basic_username_and_file": "3:18: basic_auth.username_file: at most one of basic_auth "
    "username, username_file & username_ref must be configured",
    "bearer_token_and_file": "2:20: bearer_token_file: at most one of bearer_token & "
    "bearer_token_file must be configured",
    "oauth2": "2:3: oauth2: oauth2 is not supported by kubeprom",
    "password_ref": "3:17: basic_auth.password_ref: password_ref is not supported by kubeprom",
    "proxy_url": "1:12: proxy_url: proxy_url is not supported by kubeprom",
    "tls_ca_and_file": "4:12: tls_config.ca_file: at most one of ca, ca_file & ca_ref must be "
    "configured",
    "tls_cert_without_key": "2:14: tls_config.cert_file: exactly one of key or key_file must be "
    "configured when a client certificate is configured",
    "tls_inline_cert": "2:9: tls_config.cert: inline cert is not supported by kubeprom; use "
    "cert_file",
    "tls_insecure_bool": "2:25: tls_config.insecure_skip_verify: expected true or false, got "
    "'yes please'",
    "tls_key_without_cert": "2:13: tls_config.key_file: exactly one of cert or cert_file must be "
    "configured when a client key is configured",
    "tls_max_below_min": "3:16: tls_config.max_version: tls_config.max_version must be greater "
    "than or equal to tls_config.min_version if both are specified",
    "tls_not_a_mapping": "1:13: tls_config: expected a mapping, got a list",
    "tls_version": "2:16: tls_config.min_version: unknown TLS version: TLS99",
    "unknown_field": "2:1: follow_redirect: field follow_redirect not found in type "
    "config.HTTPClientConfig",
}


def test_every_bad_file_has_a_message() -> None:
    assert sorted(p.name.removesuffix(".bad.yml") for p in TESTDATA.glob("*.bad.yml")) == sorted(
        BAD
    )


@pytest.mark.parametrize(("name", "message"), BAD.items(), ids=BAD.keys())
def test_bad_files_name_the_position_and_field(name: str, message: str) -> None:
    path = str(TESTDATA / f"{name}.bad.yml")
    with pytest.raises(ConfigError) as info:
        load_http_config(path)
    assert str(info.value) == f"{path}:{message}"


def test_good_file_values_and_paths_from_its_directory() -> None:
    cfg = load_http_config(str(TESTDATA / "basic_tls.good.yml"))
    base = TESTDATA.resolve()
    assert cfg.basic_auth is not None
    assert cfg.basic_auth.username == Secret("alice")
    assert cfg.basic_auth.password == Secret(file=base / "secrets" / "pw.txt")
    assert cfg.authorization is None
    tls = cfg.tls
    assert (tls.ca, tls.ca_file, tls.cert_file, tls.key_file) == (
        "",
        base / "ca.crt",
        Path("/etc/pki/client.crt"),
        base / "client.key",
    )
    assert (tls.server_name, tls.insecure_skip_verify) == ("prometheus.example", False)
    assert (tls.min_version, tls.max_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    assert (cfg.follow_redirects, cfg.enable_http2) == (False, False)


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("authorization_file", Authorization("Bearer", Secret(file=TESTDATA / "token.txt"))),
        ("authorization_type", Authorization("Token", Secret("abc"))),
        ("bearer_token", Authorization("Bearer", Secret("abc"))),
        ("null_basic_auth", Authorization("Bearer", Secret("abc"))),
    ],
    ids=["credentials-file", "type-trimmed", "deprecated-bearer-token", "null-section"],
)
def test_authorization_forms(name: str, want: Authorization) -> None:
    cfg = parse_http_config((TESTDATA / f"{name}.good.yml").read_text(), name, TESTDATA)
    assert cfg.authorization == want
    assert cfg.basic_auth is None


def test_defaults() -> None:
    cfg = load_http_config(str(TESTDATA / "empty.good.yml"))
    assert cfg == HTTPClientConfig()
    assert (cfg.follow_redirects, cfg.enable_http2, cfg.tls.insecure_skip_verify) == (
        True,
        True,
        False,
    )


def test_secrets_stay_out_of_reprs() -> None:
    cfg = parse_http_config("basic_auth: {username: alice, password: hunter2}\n", "x.yml")
    assert "hunter2" not in repr(cfg)


def test_a_section_can_inline_the_keys() -> None:
    """How an Alertmanager or remote-write section reuses the parser (Prometheus inlines
    HTTPClientConfig in those structs)."""
    text = "url: http://am:9093\ntimeout: 10s\nauthorization:\n  credentials: abc\nfoo: 1\n"
    node = compose(text, "am.yml")
    assert node is not None
    with pytest.raises(ConfigError, match=r"^am.yml:5:1: am.foo: field foo not found in type x$"):
        Fields(node, "am.yml", "am", "x", {"url", "timeout"} | HTTP_CLIENT_FIELDS)
    node = compose(text.replace("foo: 1\n", ""), "am.yml")
    assert node is not None
    f = Fields(node, "am.yml", "am", "x", {"url", "timeout"} | HTTP_CLIENT_FIELDS)
    assert parse_http_client_config(f, None).authorization == Authorization("Bearer", Secret("abc"))
    bad = compose("url: x\nbearer_token: a\nbearer_token_file: b\n", "am.yml")
    assert bad is not None
    f = Fields(bad, "am.yml", "am", "x", {"url"} | HTTP_CLIENT_FIELDS)
    with pytest.raises(ConfigError, match=r"^am.yml:3:20: am.bearer_token_file: at most one"):
        parse_http_client_config(f, None)


def test_file_secrets_are_read_when_used_and_trimmed(tmp_path: Path) -> None:
    (tmp_path / "http.yml").write_text("authorization:\n  credentials_file: token\n")
    cfg = load_http_config(str(tmp_path / "http.yml"))
    assert cfg.authorization is not None
    secret = cfg.authorization.credentials
    with pytest.raises(
        ConfigError,
        match=rf"^{tmp_path}/http.yml:2:21: authorization.credentials_file: cannot read "
        rf"'{tmp_path}/token': No such file or directory$",
    ):
        secret.read()
    (tmp_path / "token").write_text("  first\n")
    assert secret.read() == "first"
    (tmp_path / "token").write_text("second\n")
    assert secret.read() == "second"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"/nope.yml: cannot read HTTP client config: No such"):
        load_http_config(str(tmp_path / "nope.yml"))


# What Prometheus 2.42 (Debian's promtool, prometheus/common v0.39) accepts differently:
# kubeprom rejects proxy_url as unsupported, and v0.39 checks max_version < min_version only
# when it connects.
PROMTOOL_ACCEPTS = {"proxy_url", "tls_max_below_min"}
# Files whose message v0.39 words as today (the others differ in the fields v0.39 lacks).
SAME_WORDS = {
    "authorization_and_bearer",
    "authorization_basic",
    "authorization_creds_and_file",
    "basic_auth_and_authorization",
    "basic_auth_and_bearer",
    "bearer_token_and_file",
    "tls_version",
}


def _promtool_check(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check config`` of a scrape config that inlines ``path``'s keys, as
    prometheus.yml does."""
    body = "".join(f"    {line}\n" for line in path.read_text().splitlines())
    config = tmp_path / f"{path.stem}.prometheus.yml"
    config.write_text(
        f'scrape_configs:\n  - job_name: x\n    static_configs: [{{targets: ["a:1"]}}]\n{body}'
    )
    promtool = require_binary("promtool")
    return subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "path", sorted(TESTDATA.glob("*.yml")), ids=lambda p: p.name.removesuffix(".yml")
)
def test_promtool_agrees(path: Path, tmp_path: Path) -> None:
    name, kind = path.name.removesuffix(".yml").rsplit(".", 1)
    proc = _promtool_check(path, tmp_path)
    rejected = proc.returncode != 0
    assert rejected == (kind == "bad" and name not in PROMTOOL_ACCEPTS), proc.stdout + proc.stderr
    if name in SAME_WORDS:
        words = BAD[name].split(": ", 2)[2]  # after "line:col: field: "
        assert words in proc.stdout + proc.stderr
