"""A fetcher that names its series set (``FetchResult.series_set``, the in-process
exporters' short cut) leaves exactly the store that the same bodies parsed as text leave,
while the scrape loop maps a repeated set's series texts only once."""

from __future__ import annotations

from collections.abc import Container
from functools import partial
from pathlib import Path

import numpy as np

from kubeprom.clock import VirtualClock
from kubeprom.model import STALE_NAN_BITS, Matcher, MatchType
from kubeprom.scraper.exposition import parse_text
from kubeprom.scraper.exposition.parser import ParsedBody
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.loop import ScrapeLoop, ScrapeOptions
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options
from tests.scraper.test_loop import TARGET, TEXT, bits

KEEP_ALL = ScrapeOptions()
DROP_B = ScrapeOptions(metric_relabel=lambda labels: None if labels.get("k") == "b" else labels)


class Named:
    """Serves bodies as ``parsed`` callables; equal series texts share one named set."""

    def __init__(self, named: bool) -> None:
        self.named = named
        self.body = ""
        self.sets: dict[tuple[bytes, ...], object] = {}
        self.known_none = 0  # calls that were told every series is known

    def _parsed(self, body: str, known: Container[bytes] | None) -> ParsedBody:
        self.known_none += known is None
        return parse_text(body.encode(), known=frozenset() if known is None else known)

    async def __call__(self, url: str, timeout_s: float, limit: int) -> FetchResult:
        if not self.named:
            return FetchResult(self.body.encode(), TEXT)
        texts = tuple(parse_text(self.body.encode()).series)
        token = self.sets.setdefault(texts, object())
        return FetchResult(b"", TEXT, parsed=partial(self._parsed, self.body), series_set=token)


def body(**values: float) -> str:
    lines = ["# TYPE m gauge", "# HELP m a gauge"]
    lines += [f'm{{k="{k}"}} {v!r}' for k, v in values.items()]
    return "\n".join(lines) + "\n"


Dump = list[tuple[str, list[int], list[int]]]


def dump(db: DB) -> Dump:
    got = db.querier().select([Matcher(MatchType.REGEX, "__name__", ".+")], MIN_TIME, MAX_TIME)
    return [(str(s.labels), s.t.tolist(), s.v.view(np.uint64).tolist()) for s in got]


def collect_everything(db: DB, before_ms: int) -> None:
    """Persisting and truncating the head as compaction does: every series is collected."""
    db.head.seal()
    db.head.drop_before(before_ms)
    assert db.head.gc() > 0


async def run(tmp: Path, named: bool, options: ScrapeOptions) -> tuple[list[object], Named]:
    fetch = Named(named)
    db = DB.open(tmp / str(named), Options(retention_ms=None))
    try:
        clock = VirtualClock()  # scrape durations are 0, not the machine's
        loop = ScrapeLoop(TARGET, "http://x/metrics", options, fetch, db.appender, clock=clock)
        steps = [
            (1_000, body(a=1.0, b=2.0, c=3.0)),
            (2_000, body(a=1.5, b=2.5, c=3.5)),  # the same set: mapped once
            (3_000, body(a=1.5, b=-0.0, c=4.0)),
            (4_000, body(a=2.0, c=5.0)),  # b goes stale
            (5_000, body(a=2.5, b=1.0, c=6.0)),  # the first set again: b is back
            (6_000, body(a=3.0, b=1.0, c=7.0)),
        ]
        for t_ms, text in steps:
            fetch.body = text
            await loop.scrape_once(t_ms)
        before = dump(db)
        collect_everything(db, 100_000)
        for t_ms, text in [(101_000, body(a=9.0, b=8.0, c=7.0)), (102_000, body(a=1.0, b=2.0))]:
            fetch.body = text  # refs from before the collection are dead: re-resolved
            await loop.scrape_once(t_ms)
        return [before, dump(db), db.head.num_series, loop.health.last_samples], fetch
    finally:
        db.close()


async def both(tmp: Path, options: ScrapeOptions) -> tuple[Dump, Dump]:
    """The stores before and after the collection, the same by text and by named sets."""
    text, _ = await run(tmp, named=False, options=options)
    named, fetch = await run(tmp, named=True, options=options)
    assert named == text
    # Repeats of a known set: scrapes 2, 3 and 6 (5 follows another set; 7 a collection).
    assert fetch.known_none == 3
    before, after, _, _ = text
    assert isinstance(before, list)
    assert isinstance(after, list)
    return before, after


async def test_a_named_series_set_leaves_the_store_text_leaves(tmp_path: Path) -> None:
    before, after = await both(tmp_path, KEEP_ALL)
    by_series = {labels: ts for labels, ts, _ in before}
    b = 'm{instance="10.0.0.1:9100", job="node", k="b"}'
    assert by_series[b] == [1_000, 2_000, 3_000, 4_000, 5_000, 6_000]
    c = 'm{instance="10.0.0.1:9100", job="node", k="c"}'
    assert after[2] == (c, [101_000, 102_000], [bits(7.0), STALE_NAN_BITS])


async def test_a_named_series_set_with_relabeling_drops_what_text_drops(tmp_path: Path) -> None:
    before, after = await both(tmp_path, DROP_B)
    assert not [labels for labels, _, _ in before + after if 'k="b"' in labels]
