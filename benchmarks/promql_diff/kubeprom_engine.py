"""kubeprom as an engine under test: the in-process ``LocalQueryAPI`` over an imported store.

``KubepromEngine(db)`` answers with Prometheus 3.x semantics (kubeprom's own);
``KubepromEngine(db, {Compat.V2_WINDOWS})`` with one (or more) of the Prometheus 2.x
behaviours that 3.x changed, which the classifier uses to show that a disagreement with
Prometheus 2.42 is that change and nothing else. ``compat_engines(db)`` gives one engine
per change, then one with all of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.promql_diff.answers import Answer, Query, Series
from kubeprom.errors import KubepromError
from kubeprom.promql import LocalQueryAPI
from kubeprom.promql.api import QueryResult, ResultType
from kubeprom.promql.options import Compat, EngineOptions
from kubeprom.tsdb import DB, Options

INTERNAL = "internal error: "


def import_openmetrics(openmetrics: Path, out: Path) -> None:
    """``kubeprom tsdb import`` of the dataset, once."""
    if (out / "imported").exists():
        return
    subprocess.run(
        [sys.executable, "-m", "kubeprom.cli.main", "tsdb", "import", str(openmetrics),
         "--data", str(out), "--quiet"],
        check=True,
        capture_output=True,
        timeout=1800,
    )  # fmt: skip
    (out / "imported").write_text("ok\n")


def to_answer(res: QueryResult) -> Answer:
    if res.result_type is ResultType.STRING:
        return Answer(None, "string", (Series((("", res.string),), (), ()),))
    out = []
    for lab, t, v in res.series():
        out.append(
            Series(
                tuple(sorted(dict(lab).items())),
                tuple(int(x) for x in t),
                tuple(float(x) for x in v),
            )
        )
    return Answer(None, res.result_type.value, tuple(out))


class KubepromEngine:
    def __init__(self, db: DB, compat: frozenset[Compat] = frozenset()) -> None:
        self.db = db
        self.compat = compat
        self.name = "+".join(sorted(c.value for c in compat)) if compat else "kubeprom"
        self.api = LocalQueryAPI(db.querier, EngineOptions(compat=compat))

    @staticmethod
    def open(data: Path) -> DB:
        return DB.open(data, Options(retention_ms=None))

    def answer(self, q: Query) -> Answer:
        try:
            if q.is_range:
                res = self.api.range(q.expr, q.start_ms, q.end_ms, q.step_ms)
            else:
                res = self.api.instant(q.expr, q.start_ms)
        except KubepromError as err:
            return Answer(error=str(err))
        except Exception as err:  # the harness' edge: a crash is an answer that disagrees
            return Answer(error=f"{INTERNAL}{err!r}")
        return to_answer(res)


def compat_engines(db: DB) -> list[KubepromEngine]:
    singles = [KubepromEngine(db, frozenset({c})) for c in Compat]
    return [*singles, KubepromEngine(db, frozenset(Compat))]
