"""The ``time`` parameter as a real Prometheus (2.42, Debian) reads it: Unix seconds, or
``time.Parse(time.RFC3339Nano, ...)``. kubeprom must accept and reject the same texts and
land on the same millisecond. In CI a missing binary fails.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from kubeprom.errors import APIError
from kubeprom.web.params import parse_time
from tests.support.procs import running_prometheus

pytestmark = pytest.mark.slow

TEXTS = [
    "2006-01-02T15:04:05Z",
    "2006-01-02T15:04:05.5Z",
    "2006-01-02T15:04:05.123456789Z",
    "2006-01-02T15:04:05,25Z",
    "2006-01-02T15:04:05+07:00",
    "2006-01-02T15:04:05.999-07:30",
    "2006-01-02T5:04:05Z",
    "2006-01-02T15:04:05+24:00",
    "2006-01-02T15:04:05+23:60",
    "2000-02-29T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    # rejected
    "2006-01-02T15:04:05",
    "2006-01-02",
    "2006-01-02 15:04:05Z",
    "2006-01-02t15:04:05Z",
    "2006-01-02T15:04:05z",
    "2006-1-02T15:04:05Z",
    "2006-01-02T15:4:05Z",
    "2006-01-02T24:00:00Z",
    "2006-01-02T15:04:60Z",
    "2006-02-29T15:04:05Z",
    "2006-01-02T15:04:05.Z",
    "2006-01-02T15:04:05+0700",
    "+2006-01-02T15:04:05Z",
]

# Where Go changed its parser after 1.19 (what Debian's Prometheus 2.42 is built with): Go 1.23
# rejects zone offsets past 24:60 (golang/go#67470), and newer Go ignores fraction digits past
# nanoseconds where 1.19 calls them out of range. kubeprom follows the Go of Prometheus 3.
# text -> (kubeprom's ms or None, Prometheus 2.42's)
GO_VERSION_DIFFERS = {
    "2006-01-02T15:04:05.1234567891234Z": (1136214245_123, None),
    "2006-01-02T15:04:05+25:00": (None, 1136124245_000),
    "2006-01-02T15:04:05+07:61": (None, 1136185385_000),
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prometheus(tmp_path_factory.mktemp("prom-time"), "scrape_configs: []\n") as url:
        yield url


def _theirs(url: str, text: str) -> int | None:
    query = urllib.parse.urlencode({"query": "time()", "time": text})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as r:
            t_s = json.load(r)["data"]["result"][0]
    except urllib.error.HTTPError as err:
        if err.code != 400:  # only bad_data means "rejected"
            raise
        return None
    return round(t_s * 1000)


def _ours(text: str) -> int | None:
    try:
        return parse_time(text, "time")
    except APIError:
        return None


@pytest.mark.parametrize("text", TEXTS)
def test_time_parameter_matches_prometheus(prometheus: str, text: str) -> None:
    assert _ours(text) == _theirs(prometheus, text)


@pytest.mark.parametrize("text", GO_VERSION_DIFFERS)
def test_time_parameter_where_go_1_19_differs(prometheus: str, text: str) -> None:
    ours, theirs = GO_VERSION_DIFFERS[text]
    assert (_ours(text), _theirs(prometheus, text)) == (ours, theirs)
