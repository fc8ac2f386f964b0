"""Compare kubeprom's parse errors with a reference Prometheus, query by query.

The reference is any Prometheus answering ``/api/v1/query`` (Debian's 2.42 on loopback over
an empty TSDB): a query it cannot parse answers 400 ``invalid parameter "query": L:C: parse
error: ...``. kubeprom's answer is ``str(ParseError)`` from ``kubeprom.promql.parse``.

Each query gets one class:

- ``agree``: both reject it with the same ``line:col: parse error: message``;
- ``v3:<name>``: they differ only as Prometheus 3.x differs from 2.42 (``v3diff.py``);
- ``disagree-position`` / ``disagree-message``: both reject it, with another position or
  another message;
- ``kubeprom-accepts``: Prometheus rejects it, kubeprom parses it;
- ``kubeprom-rejects``: Prometheus parses it, kubeprom rejects it;
- ``valid``: both parse it (not a malformed query; left out of the agreement share).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from benchmarks.parse_errors.v3diff import classify_v3
from kubeprom.errors import ParseError
from kubeprom.promql.parse import parse

_PREFIX = 'invalid parameter "query": '
_POSITION = re.compile(r"^(\d+:\d+|unknown position|invalid position): parse error: ")
QUERY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Outcome:
    query: str
    reference: str | None  # the reference's parse error, None when it parsed the query
    kubeprom: str | None
    cls: str


def reference_error(url: str, query: str) -> str | None:
    """The reference's parse error for ``query``; None when it parsed (any other answer)."""
    data = urllib.parse.urlencode({"query": query, "time": "0", "timeout": "10s"}).encode()
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query", data, QUERY_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as err:
        body = json.load(err)
    message = str(body.get("error", ""))
    if body.get("errorType") != "bad_data" or not message.startswith(_PREFIX):
        return None
    return message[len(_PREFIX) :]


def kubeprom_error(query: str) -> str | None:
    try:
        parse(query)
    except ParseError as err:
        return str(err)
    except Exception as err:
        return f"crash: {type(err).__name__}: {err}"
    except BaseException as err:  # pyo3's PanicException derives from BaseException
        if type(err).__name__ != "PanicException":
            raise
        return f"crash: {type(err).__name__}: {err}"
    return None


def classify(query: str, reference: str | None, ours: str | None) -> str:
    if reference is None:
        return "valid" if ours is None else "kubeprom-rejects"
    if reference == ours:
        return "agree"
    v3 = classify_v3(query, reference, ours)
    if v3 is not None:
        return f"v3:{v3}"
    if ours is None:
        return "kubeprom-accepts"
    if _POSITION.sub("", reference) == _POSITION.sub("", ours):
        return "disagree-position"
    return "disagree-message"


def run(url: str, queries: Sequence[str], workers: int = 4) -> list[Outcome]:
    """Every query classified; the reference is asked ``workers`` queries at a time."""
    with ThreadPoolExecutor(workers) as pool:
        refs = list(pool.map(lambda q: reference_error(url, q), queries))
    out = []
    for query, ref in zip(queries, refs, strict=True):
        ours = kubeprom_error(query)
        out.append(Outcome(query, ref, ours, classify(query, ref, ours)))
    return out


def agreement(outcomes: Iterable[Outcome]) -> tuple[int, int, int]:
    """(exactly equal, equal or a documented 3.x difference, malformed queries)."""
    malformed = [o for o in outcomes if o.reference is not None]
    exact = sum(o.cls == "agree" for o in malformed)
    explained = sum(o.cls == "agree" or o.cls.startswith("v3:") for o in malformed)
    return exact, explained, len(malformed)


def summarize(outcomes: Sequence[Outcome]) -> list[str]:
    exact, explained, malformed = agreement(outcomes)
    counts = Counter(o.cls for o in outcomes)
    lines = [
        f"{len(outcomes)} queries, {malformed} malformed (the reference rejects them)",
        f"identical error: {exact}/{malformed} = {100 * exact / max(malformed, 1):.1f}%",
        f"identical or a documented 3.x difference: {explained}/{malformed} = "
        f"{100 * explained / max(malformed, 1):.1f}%",
    ]
    lines += [f"  {cls:32} {n}" for cls, n in sorted(counts.items(), key=lambda x: -x[1])]
    return lines
