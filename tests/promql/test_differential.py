"""kubeprom against real Prometheus 2.42 on random well-typed queries (benchmarks/promql_diff).

A fixed seed, 300 queries (instant and range) over a small bench dataset: every query must
agree, or differ only by a documented Prometheus 3.x change (shown by re-running it with
that 2.x behaviour) or by a Prometheus 2.42 range answer that contradicts its own instant
answers. ``python -m benchmarks.promql_diff`` runs thousands.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.promql_diff.answers import Answer, Query, Series, from_prometheus_json
from benchmarks.promql_diff.compare import compare
from benchmarks.promql_diff.generator import Generator
from benchmarks.promql_diff.kubeprom_engine import (
    KubepromEngine,
    compat_engines,
    import_openmetrics,
)
from benchmarks.promql_diff.prometheus import HTTPEngine, backfill, serve
from benchmarks.promql_diff.run import DISAGREE, run_batch, summarize
from benchmarks.promql_diff.schema import Schema
from tests.support.procs import require_binary
from tests.support.shared import shared_path

SEED = 20261207
QUERIES = 300


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_queries_agree_with_prometheus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gen_dataset = shared_path("bench", "gen_dataset.py")
    promtool = require_binary("promtool")
    prometheus = require_binary("prometheus")
    ds = tmp_path / "ds"
    subprocess.run(
        [sys.executable, str(gen_dataset), "--series", "300", "--hours", "1", "--out", str(ds),
         "--formats", "openmetrics"],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    backfill(promtool, ds / "data.om.txt", tmp_path / "prom")
    import_openmetrics(ds / "data.om.txt", tmp_path / "kp")
    meta = json.loads((ds / "dataset.json").read_text())
    db = KubepromEngine.open(tmp_path / "kp")
    try:
        with serve(prometheus, tmp_path / "prom", tmp_path / "prometheus.log") as url:
            reference = HTTPEngine(url)
            schema = Schema.from_series(
                reference.series(meta["start_ms"], meta["end_ms"]),
                meta["start_ms"],
                meta["end_ms"],
            )
            queries = list(Generator(schema, SEED).queries(QUERIES))
            outcomes = run_batch(queries, SEED, reference, KubepromEngine(db), compat_engines(db))
    finally:
        db.close()
    with capsys.disabled():
        print("\n" + "\n".join(summarize(outcomes)))
    counts = Counter(o.cls for o in outcomes)
    assert len(outcomes) == QUERIES
    assert counts["agree"] > QUERIES * 0.8, counts
    bad = [f"{o.query.describe()}\n  {o.detail}" for o in outcomes if o.cls.startswith(DISAGREE)]
    assert bad == []


def _vector(*points: tuple[tuple[tuple[str, str], ...], float]) -> Answer:
    return Answer(None, "vector", tuple(Series(lab, (1000,), (v,)) for lab, v in points))


def test_compare_treats_nan_inf_and_tolerance_as_promql_values() -> None:
    q = Query("x", 1000, 1000)
    a = (("__name__", "x"),)
    assert compare(q, _vector((a, math.nan)), _vector((a, math.nan))).agree
    assert not compare(q, _vector((a, math.inf)), _vector((a, 1e308))).agree
    assert compare(q, _vector((a, 1.0)), _vector((a, 1.0 + 1e-12))).agree
    v = compare(q, _vector((a, 1.0)), _vector((a, 1.0 + 1e-6)))
    assert (v.agree, v.kind) == (False, "values")
    v = compare(q, _vector((a, 1.0)), _vector(((("__name__", "y"),), 1.0)))
    assert (v.agree, v.kind) == (False, "labels")


def test_compare_checks_order_only_where_prometheus_defines_it() -> None:
    a, b = (("i", "a"),), (("i", "b"),)
    up, down = _vector((a, 1.0), (b, 2.0)), _vector((b, 2.0), (a, 1.0))
    assert compare(Query("x", 1000, 1000), up, down).agree
    v = compare(Query("sort(x)", 1000, 1000), up, down)
    assert (v.agree, v.kind) == (False, "order")


def test_prometheus_json_errors_and_special_values() -> None:
    err = from_prometheus_json({"status": "error", "errorType": "bad_data", "error": "boom"})
    assert err.error == "boom"
    ok = from_prometheus_json(
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "x"}, "value": [1.5, "+Inf"]},
                {"metric": {}, "value": [1.5, "NaN"]},
            ]},
        }
    )  # fmt: skip
    assert ok.series[0] == Series((("__name__", "x"),), (1500,), (math.inf,))
    assert math.isnan(ok.series[1].v[0])


def test_generator_is_seeded_and_covers_the_language() -> None:
    series = [
        {"__name__": "c_total", "instance": "10.0.0.4:9100", "job": "a"},
        {"__name__": "c_total", "instance": "10.0.0.5:9100", "job": "b"},
        {"__name__": "g", "instance": "10.0.0.4:9100", "job": "a"},
        {"__name__": "h_bucket", "instance": "10.0.0.4:9100", "le": "0.5"},
        {"__name__": "h_bucket", "instance": "10.0.0.4:9100", "le": "+Inf"},
    ]
    schema = Schema.from_series(series, 0, 7_200_000)
    one = [q.expr for q in Generator(schema, 7).queries(400)]
    assert one == [q.expr for q in Generator(schema, 7).queries(400)]
    text = "\n".join(one)
    for needle in (
        "=~",
        "!~",
        "!=",
        "`",
        "offset",
        "@",
        "group_left",
        "group_right",
        "ignoring",
        " bool ",
        " or ",
        " and ",
        " unless ",
        ":]",
        "count_values",
        "topk",
        "quantile",
        "histogram_quantile",
        "label_replace",
        "\\\\.",
    ):
        assert needle in text, needle  # fmt: skip
