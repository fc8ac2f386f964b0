"""``PrometheusClient``: Prometheus' JSON answers become QueryResults, its errors kubeprom's."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from kubeprom.config.http_client import load_http_config, parse_http_config
from kubeprom.errors import (
    APIError,
    ConfigError,
    ErrorType,
    EvalError,
    ParseError,
    QueryAPIUnavailable,
    QueryCanceled,
    QueryTimeout,
    TooManySamples,
)
from kubeprom.model.labels import Labels
from kubeprom.promql.api import ResultType
from kubeprom.web.client import APIResponse, PrometheusClient
from tests.support.procs import free_port


@dataclass(frozen=True)
class Asked:
    method: str
    path: str  # with the query string
    form: dict[str, list[str]]  # the POST body, or the query string of a GET
    headers: dict[str, str]


class Canned:
    """What the fake server answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.body = ""
        self.content_type = "application/json"
        self.post_status: int | None = None  # answer POSTs with this status (and no body)
        self.redirect: str | None = None  # answer with 302 to this URL
        self.asked: list[Asked] = []

    @property
    def requests(self) -> list[tuple[str, dict[str, list[str]]]]:
        return [(a.path, a.form) for a in self.asked]


def _serve() -> Iterator[tuple[str, Canned]]:
    canned = Canned()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, form: dict[str, list[str]]) -> None:
            canned.asked.append(Asked(self.command, self.path, form, dict(self.headers.items())))
            status, body = canned.status, canned.body.encode()
            if self.command == "POST" and canned.post_status is not None:
                status, body = canned.post_status, b""
            self.send_response(302 if canned.redirect else status)
            if canned.redirect:
                self.send_header("Location", canned.redirect)
            self.send_header("Content-Type", canned.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            self._answer(parse_qs(self.rfile.read(length).decode()))

        def do_GET(self) -> None:
            self._answer(parse_qs(urlsplit(self.path).query))

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/prefix/", canned
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[tuple[str, Canned]]:
    yield from _serve()


@pytest.fixture
def other_server() -> Iterator[tuple[str, Canned]]:
    yield from _serve()


def success(data: object, **extra: object) -> str:
    return json.dumps({"status": "success", "data": data, **extra})


def test_instant_vector(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.body = success(
        {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.123, "1"]},
                {"metric": {"job": "b"}, "value": [1700000000.123, "NaN"]},
            ],
        },
        warnings=["PromQL warning: something"],
    )
    r = PrometheusClient(url).instant("up", 1_700_000_000_123)
    assert canned.requests == [
        ("/prefix/api/v1/query", {"query": ["up"], "time": ["1700000000.123"]})
    ]
    assert r.result_type is ResultType.VECTOR
    assert r.labels == [
        Labels.from_dict({"__name__": "up", "job": "a"}),
        Labels.from_dict({"job": "b"}),
    ]
    assert r.t.tolist() == [1_700_000_000_123] * 2
    assert r.v[0] == 1.0
    assert r.v[1] != r.v[1]  # NaN
    assert r.offsets.tolist() == [0, 1, 2]
    assert r.warnings == ("PromQL warning: something",)


def test_range_matrix(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.body = success(
        {
            "resultType": "matrix",
            "result": [
                {"metric": {"a": "1"}, "values": [[10, "1"], [20, "+Inf"]]},
                {"metric": {"a": "2"}, "values": [[20, "-2.5"]]},
            ],
        }
    )
    r = PrometheusClient(url).range("x", 10_000, 20_000, 10_000)
    assert canned.requests[0][1] == {
        "query": ["x"],
        "start": ["10.000"],
        "end": ["20.000"],
        "step": ["10.000"],
    }
    assert r.result_type is ResultType.MATRIX
    assert [(str(lab), t.tolist(), v.tolist()) for lab, t, v in r.series()] == [
        ('{a="1"}', [10_000, 20_000], [1.0, float("inf")]),
        ('{a="2"}', [20_000], [-2.5]),
    ]


def test_scalar_and_string(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.body = success({"resultType": "scalar", "result": [5, "42"]})
    r = PrometheusClient(url).instant("42", 5000)
    assert (r.result_type, r.scalar, r.t.tolist()) == (ResultType.SCALAR, 42.0, [5000])
    canned.body = success({"resultType": "string", "result": [5, "hello"]})
    assert PrometheusClient(url).instant('"hello"', 5000).string == "hello"


def test_parse_errors_keep_their_position(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.status = 400
    canned.body = json.dumps(
        {"status": "error", "errorType": "bad_data", "error": '1:5: parse error: unexpected ")"'}
    )
    with pytest.raises(ParseError, match=r'^1:5: parse error: unexpected "\)"$') as info:
        PrometheusClient(url).instant("sum()) ", 0)
    assert info.value.start == 4


@pytest.mark.parametrize(
    ("kind", "error"),
    [("execution", EvalError), ("timeout", QueryTimeout), ("internal", EvalError)],
)
def test_error_envelope(server: tuple[str, Canned], kind: str, error: type[Exception]) -> None:
    url, canned = server
    canned.status = 422
    canned.body = json.dumps({"status": "error", "errorType": kind, "error": "it broke"})
    with pytest.raises(error, match=r"^it broke$"):
        PrometheusClient(url).instant("x", 0)


def test_something_that_is_not_the_api(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.status = 404
    canned.content_type = "text/html"
    canned.body = "<html><body>Not   Found</body></html>"
    with pytest.raises(QueryAPIUnavailable, match=r"HTTP 404: not a Prometheus API") as info:
        PrometheusClient(url).instant("x", 0)
    assert "<html><body>Not Found</body></html>" in info.value.reason
    assert not info.value.refused


def test_connection_refused() -> None:
    port = free_port()
    with pytest.raises(QueryAPIUnavailable) as info:
        PrometheusClient(f"http://127.0.0.1:{port}", timeout_s=5).instant("x", 0)
    assert info.value.refused
    assert info.value.url == f"http://127.0.0.1:{port}/api/v1/query"


def test_parse_errors_behind_prometheus_parameter_prefix(server: tuple[str, Canned]) -> None:
    """Prometheus (and kubeprom's server) put ``invalid parameter "query": `` first."""
    url, canned = server
    canned.status = 400
    message = 'invalid parameter "query": 2:3: parse error: unclosed left parenthesis'
    canned.body = json.dumps({"status": "error", "errorType": "bad_data", "error": message})
    with pytest.raises(ParseError, match=r"^2:3: parse error: unclosed left parenthesis$") as info:
        PrometheusClient(url).instant("1 +\n  sum(", 0)
    assert info.value.start == 6


@pytest.mark.parametrize(
    ("kind", "message", "error"),
    [
        ("unavailable", "too many queries", QueryAPIUnavailable),
        ("canceled", "query was canceled", QueryCanceled),
        (
            "execution",
            "query processing would load too many samples into memory in query execution",
            TooManySamples,
        ),
        ("bad_data", 'invalid parameter "step": zero or negative', EvalError),
    ],
    ids=["unavailable", "canceled", "too-many-samples", "bad-step"],
)
def test_query_error_mapping(
    server: tuple[str, Canned], kind: str, message: str, error: type[Exception]
) -> None:
    url, canned = server
    canned.status = 503
    canned.body = json.dumps({"status": "error", "errorType": kind, "error": message})
    with pytest.raises(error, match=re.escape(message)):
        PrometheusClient(url).range("x", 0, 1000, 1000)


@pytest.mark.parametrize(
    ("error_type", "status", "kind"),
    [("bad_data", 400, ErrorType.BAD_DATA), ("422", 422, ErrorType.EXECUTION), ("?", 500, None)],
    ids=["prometheus", "victoriametrics-status-as-type", "unknown"],
)
def test_call_raises_the_error_envelope(
    server: tuple[str, Canned], error_type: str, status: int, kind: ErrorType | None
) -> None:
    url, canned = server
    canned.status = status
    canned.body = json.dumps({"status": "error", "errorType": error_type, "error": "no good"})
    with pytest.raises(APIError) as info:
        PrometheusClient(url).call("series", [("match[]", "{")])
    want = kind or ErrorType.INTERNAL
    assert (info.value.kind, info.value.message, info.value.status) == (want, "no good", status)
    assert str(info.value) == f"{want.value}: no good"


def test_form_post_falls_back_to_get_on_405(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.post_status = 405
    canned.body = success(["a", "b"])
    resp = PrometheusClient(url).call("labels", [("match[]", "up"), ("match[]", 'x{a="1"}')])
    assert resp == APIResponse(["a", "b"])
    assert [(a.method, a.path.split("?")[0], a.form) for a in canned.asked] == [
        ("POST", "/prefix/api/v1/labels", {"match[]": ["up", 'x{a="1"}']}),
        ("GET", "/prefix/api/v1/labels", {"match[]": ["up", 'x{a="1"}']}),
    ]


def test_get_only_endpoints_are_gets(server: tuple[str, Canned]) -> None:
    """Prometheus serves label values and metadata on GET only (a POST gets 405)."""
    url, canned = server
    canned.body = success(["x"], warnings=["w"], infos=["i"])
    client = PrometheusClient(url)
    assert client.call("label/job/values", [("start", "1")]) == APIResponse(["x"], ("w",), ("i",))
    assert client.call("metadata") == APIResponse(["x"], ("w",), ("i",))
    assert [(a.method, a.path) for a in canned.asked] == [
        ("GET", "/prefix/api/v1/label/job/values?start=1"),
        ("GET", "/prefix/api/v1/metadata"),
    ]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_in_the_url_are_basic_auth(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.body = success([])
    with_creds = url.replace("http://", "http://al%40ice:p%3Ass@")
    client = PrometheusClient(with_creds)
    assert client.base_url == url.rstrip("/")
    client.call("labels")
    assert canned.asked[0].headers["Authorization"] == _basic("al@ice", "p:ss")
    assert canned.asked[0].headers["User-Agent"] == "kubeprom"


def test_http_config_credentials_and_a_rotated_token(
    server: tuple[str, Canned], tmp_path: Path
) -> None:
    url, canned = server
    canned.body = success([])
    (tmp_path / "token").write_text("one\n")
    (tmp_path / "http.yml").write_text("authorization:\n  credentials_file: token\n")
    client = PrometheusClient(url, load_http_config(str(tmp_path / "http.yml")))
    client.call("labels")
    (tmp_path / "token").write_text("two\n")
    client.call("labels")
    basic = parse_http_config("basic_auth: {username: bob, password: pw}\n", "h.yml")
    PrometheusClient(url, basic).call("labels")
    # the URL's credentials win, as in Go's http.Client
    PrometheusClient(url.replace("http://", "http://url:user@"), basic).call("labels")
    assert [a.headers["Authorization"] for a in canned.asked] == [
        "Bearer one",
        "Bearer two",
        _basic("bob", "pw"),
        _basic("url", "user"),
    ]


def test_an_unreadable_credentials_file_names_the_setting(
    server: tuple[str, Canned], tmp_path: Path
) -> None:
    url, _ = server
    (tmp_path / "http.yml").write_text("bearer_token_file: missing\n")
    client = PrometheusClient(url, load_http_config(str(tmp_path / "http.yml")))
    with pytest.raises(ConfigError, match=r"http.yml:1:20: bearer_token_file: cannot read '"):
        client.instant("up", 0)


def test_unauthorized_is_unavailable_with_the_status(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.status = 401
    canned.content_type = "text/plain"
    canned.body = "Unauthorized\n"
    with pytest.raises(QueryAPIUnavailable, match=r"/prefix/api/v1/query: HTTP 401 Unauthorized$"):
        PrometheusClient(url).instant("up", 0)


def test_redirects_drop_credentials_to_another_host(
    server: tuple[str, Canned], other_server: tuple[str, Canned]
) -> None:
    url, canned = server
    other_url, other = other_server
    other.body = success(["moved"])
    canned.redirect = f"{other_url}api/v1/labels"
    token = parse_http_config("bearer_token: secret\n", "h.yml")
    assert PrometheusClient(url, token).call("labels").data == ["moved"]
    assert canned.asked[0].headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in other.asked[0].headers
    no_follow = parse_http_config("follow_redirects: false\n", "h.yml")
    with pytest.raises(QueryAPIUnavailable, match=r"HTTP 302: not a Prometheus API response"):
        PrometheusClient(url, no_follow).call("labels")
    assert len(other.asked) == 1


def test_redirect_within_the_host_keeps_credentials(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.redirect = f"{url}api/v1/labels?moved=1"
    token = parse_http_config("bearer_token: secret\n", "h.yml")
    with pytest.raises(QueryAPIUnavailable, match="HTTP 302"):  # urllib stops a loop
        PrometheusClient(url, token).call("labels")
    assert {a.headers.get("Authorization") for a in canned.asked} == {"Bearer secret"}
    assert len(canned.asked) > 1


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://host/", "http:///x"])
def test_a_url_that_is_not_http_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^server URL: expected an http or https URL, got '"):
        PrometheusClient(url)
