"""Rules of one group iteration sharing selections and sub-expression values (QueryMemo):
the same samples and alert states as evaluating every rule afresh, a rule still sees what
an earlier rule wrote, and any other writer's commit empties the memo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.profile_rules import fill
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.promql.api import QueryMemo, Shapes
from kubeprom.rules.alerting import AlertingRule
from tests.rules.helpers import Store
from tests.rules.test_group import group_from
from tests.support.shared import shared_path


async def test_mixin_rules_write_the_same_bits_with_and_without_the_memo(tmp_path: Path) -> None:
    # The kubernetes-mixin rules over the default simulated cluster, scraped for 5 virtual
    # minutes (30 iterations of every 10 s group), once with each evaluation path.
    shared_path("conformance", "rules", "kubernetes-mixin")
    plain_db, plain, _ = await fill(tmp_path / "plain", 5, memo=False)
    memo_db, memo, _ = await fill(tmp_path / "memo", 5, memo=True)
    every = [Matcher(MatchType.REGEX, "__name__", ".+")]
    a = plain_db.querier().select(every, 0, 2**62)
    b = memo_db.querier().select(every, 0, 2**62)
    assert a.labels == b.labels
    assert np.array_equal(a.offsets, b.offsets)
    assert np.array_equal(a.t, b.t)
    # Bit for bit: NaN payloads (staleness markers) and -0.0 included.
    assert np.array_equal(a.v.view(np.int64), b.v.view(np.int64))
    recorded = {lab.get("__name__") for lab in a.labels if ":" in lab.get("__name__")}
    assert len(recorded) >= 15  # the recording rules did record
    assert len([lab for lab in a.labels if lab.get("__name__") == "ALERTS"]) >= 1
    for ga, gb in zip(plain, memo, strict=True):
        for ra, rb in zip(ga.rules, gb.rules, strict=True):
            assert (ra.health, ra.last_error) == (rb.health, rb.last_error), ra.name
            if isinstance(ra, AlertingRule) and isinstance(rb, AlertingRule):
                assert ra.active == rb.active, ra.name
    plain_db.close()
    memo_db.close()


def test_a_rule_sees_what_an_earlier_rule_wrote_though_a_rule_before_read_it(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "data")
    g = group_from(
        tmp_path,
        """
groups:
  - name: g
    rules:
      - record: seen_before
        expr: count(out) or vector(0)
      - record: out
        expr: sum(x)
      - record: seen_after
        expr: count(out) or vector(0)
      - record: unrelated
        expr: count(x)
""",
        store.options(store_changes=store.db.changes),
    )
    store.add(0, {'x{i="1"}': 1.0, 'x{i="2"}': 2.0})
    g.evaluate(0)
    assert store.raw("seen_before") == {"seen_before": [(0, 0.0)]}
    assert store.raw("out") == {"out": [(0, 3.0)]}
    assert store.raw("seen_after") == {"seen_after": [(0, 1.0)]}
    assert store.raw("unrelated") == {"unrelated": [(0, 2.0)]}


def test_selections_survive_the_groups_commits_of_other_names_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    store.add(0, {"x": 1.0, "y": 5.0})
    memo = QueryMemo(store.db.changes, Shapes())
    api = store.query.sharing(memo)
    assert api.instant("x", 10_000).scalar == 1.0
    assert (memo.hits, memo.misses) == (0, 1)
    before = memo.before_commit()
    store.add(10_000, {"z": 9.0})  # as the group's commit of a rule recording z
    memo.committed(before, ["z"])
    assert api.instant("x", 10_000).scalar == 1.0
    assert (memo.hits, memo.misses) == (1, 1)
    before = memo.before_commit()
    store.add(10_000, {"x": 2.0})  # as the group's commit of a rule recording x
    memo.committed(before, ["x"])
    assert api.instant("x", 10_000).scalar == 2.0
    assert (memo.hits, memo.misses) == (1, 2)


def test_another_writers_commit_empties_the_memo(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    store.add(0, {"x": 1.0})
    memo = QueryMemo(store.db.changes, Shapes(["sum(x) + sum(x)"]))
    api = store.query.sharing(memo)
    assert api.instant("sum(x) + sum(x)", 10_000).scalar == 2.0
    assert memo.hits == 1  # the second sum(x), whatever its position
    store.add(5_000, {"x": 4.0})  # a scrape's commit, not the group's
    assert api.instant("sum(x) + sum(x)", 10_000).scalar == 8.0
    assert api.instant("x", 10_000).scalar == 4.0
    store.add(6_000, {"x": 7.0})  # another writer commits, then the group does
    before = memo.before_commit()
    store.add(10_000, {"z": 1.0})
    memo.committed(before, ["z"])
    assert api.instant("x", 10_000).scalar == 7.0


def test_shapes_ignore_positions_and_nothing_else() -> None:
    same = Shapes(["sum(rate(a[5m])) / sum(rate(a[5m]))"])
    assert len(same.repeated) >= 2  # the sum and the rate under it
    assert Shapes(["sum(rate(a[5m])) / sum(rate(a[1m]))"]).repeated == set()
    assert Shapes(["sum by (x) (a) / sum(a)"]).repeated == set()
    assert Shapes(["sum(a) / sum(a offset 1m)"]).repeated == set()
    assert Shapes(['sum(a{b="1"}) / sum(a{b="2"})']).repeated == set()
