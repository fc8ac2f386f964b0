"""The scrape loop against a real store, with in-process fetches and virtual time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from kubeprom.clock import VirtualClock
from kubeprom.errors import ScrapeError
from kubeprom.model import STALE_NAN_BITS, Labels, Matcher, MatchType
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.loop import ScrapeLoop, ScrapeOptions
from kubeprom.scraper.manager import ScrapeManager, ScrapeTarget
from kubeprom.tsdb import DB, Appender, Options

TEXT = "text/plain; version=0.0.4"
TARGET = Labels({"job": "node", "instance": "10.0.0.1:9100"}.items())


class Bodies:
    """An in-process Fetch serving whatever body the test sets next."""

    def __init__(self, body: str = "", content_type: str = TEXT) -> None:
        self.body = body
        self.content_type = content_type
        self.error: str | None = None
        self.calls = 0

    async def __call__(self, url: str, timeout_s: float, limit: int) -> FetchResult:
        self.calls += 1
        if self.error:
            raise ScrapeError(self.error)
        return FetchResult(self.body.encode(), self.content_type)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    d = DB.open(tmp_path, Options(retention_ms=None))
    yield d
    d.close()


def series(db: DB, name: str) -> dict[str, list[tuple[int, int]]]:
    """Every series of a metric: str(labels) -> [(t, value bits)]."""
    ss = db.querier().select([Matcher(MatchType.EQUAL, "__name__", name)], 0, 2**62)
    return {
        str(s.labels): list(zip(s.t.tolist(), s.v.view(np.uint64).tolist(), strict=True))
        for s in ss
    }


def bits(x: float) -> int:
    return int(np.float64(x).view(np.uint64))


def make_loop(db: DB, fetch: Bodies, **opts: object) -> ScrapeLoop:
    return ScrapeLoop(
        TARGET,
        "http://10.0.0.1:9100/metrics",
        ScrapeOptions(**opts),
        fetch,  # type: ignore[arg-type]
        db.appender,
    )


async def test_scrape_appends_samples_with_target_labels_and_report_series(db: DB) -> None:
    fetch = Bodies(
        '# TYPE http_requests_total counter\nhttp_requests_total{code="200"} 7\n'
        'http_requests_total{code="500"} 1\n'
    )
    loop = make_loop(db, fetch)
    await loop.scrape_once(1_000)
    got = series(db, "http_requests_total")
    assert got == {
        'http_requests_total{code="200", instance="10.0.0.1:9100", job="node"}': [(1_000, bits(7))],
        'http_requests_total{code="500", instance="10.0.0.1:9100", job="node"}': [(1_000, bits(1))],
    }
    assert series(db, "up") == {'up{instance="10.0.0.1:9100", job="node"}': [(1_000, bits(1))]}
    assert list(series(db, "scrape_samples_scraped").values()) == [[(1_000, bits(2))]]
    assert list(series(db, "scrape_series_added").values()) == [[(1_000, bits(2))]]
    assert loop.health.health == "up"
    assert db.querier().metadata()["http_requests_total"][0].type == "counter"


async def test_steady_state_scrape_creates_no_series(db: DB) -> None:
    fetch = Bodies('a{x="1"} 1\na{x="2"} 2\n')
    loop = make_loop(db, fetch)
    await loop.scrape_once(1_000)
    created = db.stats.series_created
    fetch.body = 'a{x="1"} 3\na{x="2"} 4\n'
    await loop.scrape_once(2_000)
    assert db.stats.series_created == created
    assert list(series(db, "scrape_series_added").values()) == [
        [(1_000, bits(2)), (2_000, bits(0))]
    ]
    assert series(db, "a")['a{instance="10.0.0.1:9100", job="node", x="2"}'] == [
        (1_000, bits(2)),
        (2_000, bits(4)),
    ]


async def test_vanished_series_gets_a_staleness_marker(db: DB) -> None:
    fetch = Bodies('a{x="1"} 1\na{x="2"} 2\n')
    loop = make_loop(db, fetch)
    await loop.scrape_once(1_000)
    fetch.body = 'a{x="1"} 1\n'
    await loop.scrape_once(2_000)
    got = series(db, "a")
    assert got['a{instance="10.0.0.1:9100", job="node", x="2"}'] == [
        (1_000, bits(2)),
        (2_000, STALE_NAN_BITS),
    ]
    assert got['a{instance="10.0.0.1:9100", job="node", x="1"}'] == [
        (1_000, bits(1)),
        (2_000, bits(1)),
    ]


async def test_failed_scrape_sets_up_0_marks_everything_stale_and_records_the_error(db: DB) -> None:
    fetch = Bodies("a 1\n")
    loop = make_loop(db, fetch)
    await loop.scrape_once(1_000)
    fetch.error = "connection refused"
    await loop.scrape_once(2_000)
    assert series(db, "a") == {
        'a{instance="10.0.0.1:9100", job="node"}': [(1_000, bits(1)), (2_000, STALE_NAN_BITS)]
    }
    assert list(series(db, "up").values()) == [[(1_000, bits(1)), (2_000, bits(0))]]
    assert (loop.health.health, loop.health.last_error) == ("down", "connection refused")


async def test_malformed_body_fails_the_scrape_naming_the_line(db: DB) -> None:
    loop = make_loop(db, Bodies('a 1\nb{x="1" 2\n'))
    await loop.scrape_once(1_000)
    assert loop.health.health == "down"
    assert loop.health.last_error.startswith("http://10.0.0.1:9100/metrics:2:")
    assert series(db, "a") == {}
    assert list(series(db, "up").values()) == [[(1_000, bits(0))]]


@pytest.mark.parametrize(
    ("honor", "want"),
    [
        (False, 'a{exported_job="mine", instance="10.0.0.1:9100", job="node"}'),
        (True, 'a{instance="10.0.0.1:9100", job="mine"}'),
    ],
    ids=["conflict-renamed", "honor-labels"],
)
async def test_honor_labels(db: DB, honor: bool, want: str) -> None:
    await make_loop(db, Bodies('a{job="mine"} 1\n'), honor_labels=honor).scrape_once(1_000)
    assert list(series(db, "a")) == [want]


@pytest.mark.parametrize(("honor", "t"), [(True, 500), (False, 1_000)], ids=["honor", "ignore"])
async def test_honor_timestamps(db: DB, honor: bool, t: int) -> None:
    await make_loop(db, Bodies("a 1 500\n"), honor_timestamps=honor).scrape_once(1_000)
    assert list(series(db, "a").values()) == [[(t, bits(1))]]


async def test_sample_limit_fails_the_scrape(db: DB) -> None:
    loop = make_loop(db, Bodies("a 1\nb 2\nc 3\n"), sample_limit=2)
    await loop.scrape_once(1_000)
    assert loop.health.last_error == "sample limit exceeded: 3 samples, limit 2"
    assert series(db, "a") == {}
    assert list(series(db, "up").values()) == [[(1_000, bits(0))]]


async def test_label_limit_fails_the_scrape(db: DB) -> None:
    loop = make_loop(db, Bodies('a{x="1",y="2"} 1\n'), label_limit=4)
    await loop.scrape_once(1_000)
    assert (
        loop.health.last_error == "label_limit exceeded (metric: a, number of labels: 5, limit: 4)"
    )


async def test_metric_relabeling_drops_series_and_is_counted(db: DB) -> None:
    def drop_b(labels: Labels) -> Labels | None:
        return None if labels.name == "b" else labels

    await make_loop(db, Bodies("a 1\nb 2\n"), metric_relabel=drop_b).scrape_once(1_000)
    assert series(db, "b") == {}
    assert list(series(db, "a").values()) == [[(1_000, bits(1))]]
    assert list(series(db, "scrape_samples_post_metric_relabeling").values()) == [
        [(1_000, bits(1))]
    ]
    assert list(series(db, "scrape_samples_scraped").values()) == [[(1_000, bits(2))]]


async def test_manager_drives_an_hour_of_virtual_time_and_stales_removed_targets(db: DB) -> None:
    clock = VirtualClock(1_700_000_000_000)
    bodies = {f"http://t{i}/metrics": Bodies(f'work_total{{i="{i}"}} 1\n') for i in range(3)}

    async def fetch(url: str, timeout_s: float, limit: int) -> FetchResult:
        return await bodies[url](url, timeout_s, limit)

    appender: Callable[[], Appender] = db.appender
    manager = ScrapeManager(appender, clock, fetch)
    targets = [
        ScrapeTarget(
            "work",
            Labels({"job": "work", "instance": f"t{i}"}.items()),
            url,
            ScrapeOptions(interval_ms=15_000),
            offset_ms=1_000 * i,
        )
        for i, url in enumerate(bodies)
    ]
    manager.sync(targets)
    manager.start()
    await clock.advance_ms(3_600_000)
    assert [b.calls for b in bodies.values()] == [240, 240, 240]
    t_of = {k: [t for t, _ in v] for k, v in series(db, "up").items()}
    # Offsets are relative to the epoch-aligned interval grid (1_699_999_995_000 + k * 15 s).
    assert t_of['up{instance="t1", job="work"}'][:2] == [1_700_000_011_000, 1_700_000_026_000]
    manager.sync(targets[:2])
    removed = series(db, "work_total")['work_total{i="2", instance="t2", job="work"}']
    assert removed[-1] == (clock.now_ms(), STALE_NAN_BITS)
    await manager.stop()
