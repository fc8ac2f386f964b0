"""A store with a query API for rule tests: samples in, groups evaluated at explicit times."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import STALE_NAN
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.rules.group import GroupOptions
from kubeprom.tsdb.db import DB, Options


class Store:
    def __init__(self, path: Path) -> None:
        self.db = DB.open(path, Options(retention_ms=None))
        self.query = LocalQueryAPI(self.db.querier)

    def add(self, t_ms: int, samples: dict[str, float]) -> None:
        """Append ``{'name{a="b"}': value}`` at ``t_ms`` (labels written as in PromQL)."""
        app = self.db.appender()
        refs = [app.ref(parse_series(s)) for s in samples]
        app.append(t_ms, np.array(refs, dtype=np.int64), np.array(list(samples.values())))
        app.commit()

    def stale(self, t_ms: int, *series: str) -> None:
        """Append staleness markers (a scrape that no longer has these series)."""
        app = self.db.appender()
        refs = np.array([app.ref(parse_series(s)) for s in series], dtype=np.int64)
        app.append(t_ms, refs, np.full(len(series), STALE_NAN))
        app.commit()

    def options(self, **kw: object) -> GroupOptions:
        return GroupOptions(
            query=self.query,
            appender=self.db.appender,
            querier=self.db.querier,
            **kw,  # type: ignore[arg-type]
        )

    def raw(self, name: str) -> dict[str, list[tuple[int, float]]]:
        """Every stored sample of metric ``name`` (staleness markers included)."""
        found = self.db.querier().select([Matcher(MatchType.EQUAL, "__name__", name)], 0, 2**62)
        return {str(s.labels): list(zip(s.t.tolist(), s.v.tolist(), strict=True)) for s in found}

    def instant(self, expr: str, t_ms: int) -> dict[str, float]:
        res = self.query.instant(expr, t_ms)
        return {str(lab): float(v[0]) for lab, _, v in res.series()}


def parse_series(text: str) -> Labels:
    name, _, rest = text.partition("{")
    pairs = [("__name__", name)] if name else []
    for part in filter(None, rest.rstrip("}").split(",")):
        k, _, v = part.partition("=")
        pairs.append((k.strip(), v.strip().strip('"')))
    return Labels(pairs)
