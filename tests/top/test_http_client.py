"""``HTTPQueryAPI``: Prometheus' JSON answers become QueryResults, its errors kubeprom's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from kubeprom.errors import EvalError, ParseError, QueryTimeout
from kubeprom.model.labels import Labels
from kubeprom.promql.api import ResultType
from kubeprom.web.client import HTTPQueryAPI, QueryAPIUnavailable
from tests.support.procs import free_port


class Canned:
    """What the fake server answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.body = ""
        self.content_type = "application/json"
        self.requests: list[tuple[str, dict[str, list[str]]]] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Canned]]:
    canned = Canned()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            canned.requests.append((self.path, form))
            body = canned.body.encode()
            self.send_response(canned.status)
            self.send_header("Content-Type", canned.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
    r = HTTPQueryAPI(url).instant("up", 1_700_000_000_123)
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
    r = HTTPQueryAPI(url).range("x", 10_000, 20_000, 10_000)
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
    r = HTTPQueryAPI(url).instant("42", 5000)
    assert (r.result_type, r.scalar, r.t.tolist()) == (ResultType.SCALAR, 42.0, [5000])
    canned.body = success({"resultType": "string", "result": [5, "hello"]})
    assert HTTPQueryAPI(url).instant('"hello"', 5000).string == "hello"


def test_parse_errors_keep_their_position(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.status = 400
    canned.body = json.dumps(
        {"status": "error", "errorType": "bad_data", "error": '1:5: parse error: unexpected ")"'}
    )
    with pytest.raises(ParseError, match=r'^1:5: parse error: unexpected "\)"$') as info:
        HTTPQueryAPI(url).instant("sum()) ", 0)
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
        HTTPQueryAPI(url).instant("x", 0)


def test_something_that_is_not_the_api(server: tuple[str, Canned]) -> None:
    url, canned = server
    canned.status = 404
    canned.content_type = "text/html"
    canned.body = "<html><body>Not   Found</body></html>"
    with pytest.raises(QueryAPIUnavailable, match=r"HTTP 404: not a Prometheus API") as info:
        HTTPQueryAPI(url).instant("x", 0)
    assert "<html><body>Not Found</body></html>" in info.value.reason
    assert not info.value.refused


def test_connection_refused() -> None:
    port = free_port()
    with pytest.raises(QueryAPIUnavailable) as info:
        HTTPQueryAPI(f"http://127.0.0.1:{port}", timeout_s=5).instant("x", 0)
    assert info.value.refused
    assert info.value.url == f"http://127.0.0.1:{port}/api/v1/query"
