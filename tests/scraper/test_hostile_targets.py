"""Hostile targets (issue 11): samples from the future, limits before any series exists,
duplicates, gzip bombs and bodies that take longer to parse than the scrape timeout."""

from __future__ import annotations

import asyncio
import gzip
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from aiohttp import web

from kubeprom.clock import VirtualClock
from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.scraper import loop as loop_module
from kubeprom.scraper.fetch import FetchResult, HTTPFetcher, decoded_body
from kubeprom.scraper.loop import ScrapeLoop, ScrapeOptions
from kubeprom.tsdb import DB, MAX_TIME, Options

TEXT = "text/plain; version=0.0.4"
TARGET = Labels.from_dict({"job": "hostile", "instance": "h:1"})
NOW = 1_700_000_000_000
YEAR_MS = 365 * 24 * 3_600_000
REPORT_SERIES = 5  # up, scrape_duration_seconds, ... of the target itself

T = TypeVar("T")


class Served:
    """An in-process Fetch returning one fixed result."""

    def __init__(self, body: bytes, encoding: str = "", content_type: str = TEXT) -> None:
        self.result = FetchResult(body, content_type, encoding)
        self.limits: list[int] = []

    async def __call__(self, url: str, timeout_s: float, limit: int) -> FetchResult:
        self.limits.append(limit)
        return self.result


class TickingClock(VirtualClock):
    """A virtual clock whose monotonic reading moves ``tick_ms`` each time it is read, so
    a deadline passes after a known number of checks (nothing sleeps)."""

    def __init__(self, start_ms: int, tick_ms: int) -> None:
        super().__init__(start_ms)
        self.tick_ms = tick_ms
        self.reads = 0

    def monotonic_ns(self) -> int:
        self.reads += 1
        return (self.now_ms() + self.reads * self.tick_ms) * 1_000_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    d = DB.open(tmp_path, Options(retention_ms=None))
    yield d
    d.close()


def loop_of(db: DB, fetch: Served, clock: VirtualClock | None = None, **opts: object) -> ScrapeLoop:
    return ScrapeLoop(
        TARGET,
        "http://h:1/metrics",
        ScrapeOptions(**opts),  # type: ignore[arg-type]
        fetch,
        db.appender,
        clock=clock or VirtualClock(NOW),
    )


def stored(db: DB, name: str) -> dict[str, list[tuple[int, float]]]:
    ss = db.querier().select([Matcher(MatchType.EQUAL, "__name__", name)], 0, MAX_TIME)
    return {
        str(s.labels.without("instance", "job")): list(zip(s.t.tolist(), s.v.tolist(), strict=True))
        for s in ss
    }


def many_series(n: int) -> bytes:
    return "".join(f'big{{i="{i}"}} {i}\n' for i in range(n)).encode()


# ---- item 2: samples from the future ---------------------------------------------------------
async def test_samples_more_than_10_minutes_ahead_are_refused_and_counted(
    db: DB, caplog: pytest.LogCaptureFixture
) -> None:
    body = (
        f"future 1 {NOW + 10 * YEAR_MS}\n"
        f"soon 2 {NOW + 10 * 60_000}\n"  # exactly 10 minutes ahead: still accepted
        f"too_soon 3 {NOW + 10 * 60_000 + 1}\n"
        "plain 4\n"
    )
    loop = loop_of(db, Served(body.encode()))
    caplog.set_level(logging.WARNING)
    await loop.scrape_once(NOW)
    assert loop.health.health == "up"
    assert stored(db, "future") == {}
    assert stored(db, "too_soon") == {}
    assert stored(db, "soon") == {"soon": [(NOW + 600_000, 2.0)]}
    assert stored(db, "plain") == {"plain": [(NOW, 4.0)]}
    assert loop.counters.sample_out_of_bounds == 2
    assert db.head.maxt == NOW + 600_000
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "kubeprom.scraper.loop"]
    assert warning == (
        "error on ingesting samples that are too old or are too far into the future "
        "target=http://h:1/metrics num_dropped=2"
    )


async def test_a_future_sample_then_compaction_keeps_healthy_targets_ingesting(db: DB) -> None:
    """The issue's sequence: a future sample, a compaction, healthy samples next."""
    clock = VirtualClock(NOW)
    hostile = loop_of(db, Served(f"x 1 {NOW + 10 * YEAR_MS}\n".encode()), clock)
    healthy = loop_of(db, Served(b"ok 1\n"), clock)
    await hostile.scrape_once(NOW)
    await healthy.scrape_once(NOW)
    db.compact()
    db.apply_retention()
    await healthy.scrape_once(NOW + 15_000)
    assert stored(db, "ok") == {"ok": [(NOW, 1.0), (NOW + 15_000, 1.0)]}
    assert db.stats.out_of_bounds == 0


# ---- item 4: limits before any series is created ------------------------------------------
async def test_sample_limit_creates_no_series(db: DB) -> None:
    loop = loop_of(db, Served(many_series(20_000)), sample_limit=1_000)
    await loop.scrape_once(NOW)
    assert loop.health.last_error == "sample limit exceeded: 20000 samples, limit 1000"
    assert db.head.num_series == REPORT_SERIES
    assert loop.counters.exceeded_sample_limit == 1
    # Under the limit next time: the series are created then.
    loop.options = ScrapeOptions(sample_limit=20_000)
    await loop.scrape_once(NOW + 15_000)
    assert loop.health.health == "up"
    assert db.head.num_series == REPORT_SERIES + 20_000


async def test_a_huge_body_under_sample_limit_stops_parsing_early(db: DB) -> None:
    """Without metric relabeling every sample counts, so the parse stops after the first
    piece of the body (~1 MiB) instead of validating a million label sets."""
    loop = loop_of(db, Served(many_series(200_000)), sample_limit=1_000)
    await loop.scrape_once(NOW)
    error = loop.health.last_error
    assert error.startswith("sample limit exceeded: at least ")
    assert error.endswith(" samples, limit 1000")
    assert int(error.split()[5]) < 60_000  # one piece's worth, not 200,000
    assert db.head.num_series == REPORT_SERIES


async def test_sample_limit_counts_after_metric_relabeling(db: DB) -> None:
    def keep_even(labels: Labels) -> Labels | None:
        return labels if int(labels.get("i")) % 2 == 0 else None

    body = many_series(3_000)
    failing = loop_of(db, Served(body), sample_limit=1_499, metric_relabel=keep_even)
    await failing.scrape_once(NOW)
    assert failing.health.last_error == "sample limit exceeded: 1500 samples, limit 1499"
    assert db.head.num_series == REPORT_SERIES
    passing = loop_of(db, Served(body), sample_limit=1_500, metric_relabel=keep_even)
    await passing.scrape_once(NOW)
    assert passing.health.health == "up"
    assert len(stored(db, "big")) == 1_500


async def test_a_label_limit_hit_late_in_the_body_creates_no_series(db: DB) -> None:
    body = many_series(5_000) + b'big{i="x",a="1",b="2",c="3"} 1\n'
    loop = loop_of(db, Served(body), label_limit=4)
    await loop.scrape_once(NOW)
    assert loop.health.last_error.startswith("label_limit exceeded (metric: big, number of labels")
    assert db.head.num_series == REPORT_SERIES
    assert loop.counters.exceeded_label_limits == 1


# ---- item 7: duplicates in one scrape -------------------------------------------------------
async def test_100000_duplicates_of_one_series_are_counted_not_stored(
    db: DB, caplog: pytest.LogCaptureFixture
) -> None:
    """Prometheus 3: the first sample is kept, every repeat of the series in the scrape
    counts in prometheus_target_scrapes_sample_duplicate_timestamp_total; up stays 1."""
    body = "".join(f"dup {k}\n" for k in range(100_000)).encode()
    loop = loop_of(db, Served(body))
    caplog.set_level(logging.WARNING)
    await loop.scrape_once(NOW)
    assert loop.health.health == "up"
    assert stored(db, "dup") == {"dup": [(NOW, 0.0)]}
    assert loop.counters.sample_duplicate_timestamp == 99_999
    assert stored(db, "scrape_samples_scraped") == {"scrape_samples_scraped": [(NOW, 100_000.0)]}
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "kubeprom.scraper.loop"]
    assert "samples with different value but same timestamp" in warning
    assert warning.endswith("num_dropped=99999")


# ---- item 4: gzip bombs and the scrape timeout ------------------------------------------------
def bomb(n_bytes: int) -> bytes:
    return gzip.compress(b"#" * n_bytes, compresslevel=9)


async def test_a_gzip_bomb_stops_at_the_body_size_limit(db: DB) -> None:
    loop = loop_of(db, Served(bomb(64 << 20), "gzip"), body_size_limit=1 << 20)
    await loop.scrape_once(NOW)
    assert loop.health.last_error == f"body size limit exceeded: more than {1 << 20} bytes"
    assert loop.counters.exceeded_body_size_limit == 1


async def test_without_body_size_limit_kubeproms_default_bound_applies(
    db: DB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_module, "DEFAULT_BODY_LIMIT_BYTES", 2 << 20)
    fetch = Served(bomb(32 << 20), "gzip")
    loop = loop_of(db, fetch)
    await loop.scrape_once(NOW)
    assert fetch.limits == [2 << 20]  # the fetch reads at most that much, compressed or not
    assert loop.health.last_error == f"body size limit exceeded: more than {2 << 20} bytes"


async def test_the_scrape_timeout_covers_decompression(db: DB) -> None:
    clock = TickingClock(NOW, tick_ms=1_000)  # each check moves the deadline clock 1 s
    loop = loop_of(db, Served(bomb(64 << 20), "gzip"), clock, timeout_ms=10_000)
    await loop.scrape_once(NOW)
    assert loop.health.last_error == (
        "scrape of 'http://h:1/metrics' exceeded its timeout of 10s while decompressing or "
        "parsing (context deadline exceeded)"
    )
    assert clock.reads < 20  # stopped at the deadline, not after 64 chunks


async def test_the_scrape_timeout_covers_parsing_and_creates_no_series(db: DB) -> None:
    clock = TickingClock(NOW, tick_ms=1_000)
    loop = loop_of(db, Served(many_series(400_000)), clock, timeout_ms=3_000)
    await loop.scrape_once(NOW)
    assert "exceeded its timeout of 3s" in loop.health.last_error
    assert db.head.num_series == REPORT_SERIES


@pytest.mark.parametrize(
    ("encoding", "body", "want"),
    [
        ("gzip", gzip.compress(b"a 1\n") + gzip.compress(b"b 2\n"), b"a 1\nb 2\n"),
        ("gzip", gzip.compress(b"a 1\n")[:-3], "gzip: unexpected EOF"),
        ("gzip", b"not gzip", "gzip: Error -3 while decompressing data: incorrect header check"),
        ("identity", b"a 1\n", b"a 1\n"),
        ("br", b"a 1\n", "unsupported Content-Encoding 'br'"),
    ],
    ids=["two-members", "truncated", "garbage", "identity", "brotli"],
)
def test_decoded_body(encoding: str, body: bytes, want: bytes | str) -> None:
    result = FetchResult(body, TEXT, encoding)
    if isinstance(want, bytes):
        assert decoded_body(result, 0, lambda: None) == want
    else:
        with pytest.raises(Exception, match=f"^{want}$"):
            decoded_body(result, 0, lambda: None)


async def test_http_fetcher_leaves_decompression_to_the_parse(unused_tcp_port: int) -> None:
    payload = b"a 1\n" * 1000

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(payload), headers={"Content-Encoding": "gzip", "Content-Type": TEXT}
        )

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    fetcher = HTTPFetcher()
    try:
        got = await fetcher(f"http://127.0.0.1:{unused_tcp_port}/metrics", 5.0, 1 << 20)
    finally:
        await fetcher.close()
        await runner.cleanup()
    assert (got.content_encoding, len(got.body) < len(payload)) == ("gzip", True)
    assert decoded_body(got, 1 << 20, lambda: None) == payload


# ---- off the event loop -------------------------------------------------------------------------
async def test_large_bodies_are_processed_on_the_offload_runner(db: DB) -> None:
    threads: list[str] = []

    def offload(fn: Callable[[], T]) -> Awaitable[T]:
        def run() -> T:
            threads.append(threading.current_thread().name)
            return fn()

        return asyncio.get_running_loop().run_in_executor(None, run)

    big = many_series(20_000)
    assert len(big) > loop_module.OFFLOAD_BYTES
    for body, offloaded in ((b"small 1\n", 0), (big, 1)):
        loop = ScrapeLoop(
            TARGET,
            "http://h:1/metrics",
            ScrapeOptions(),
            Served(body),
            db.appender,
            clock=VirtualClock(NOW),
            offload=offload,
        )
        await loop.scrape_once(NOW)
        assert loop.health.health == "up"
        assert len(threads) == offloaded
    assert threads[0] != threading.current_thread().name
    assert len(stored(db, "big")) == 20_000


def test_a_gzip_body_declaring_more_than_the_limit_is_refused_before_inflating() -> None:
    body = gzip.compress(b"#" * (3 << 20))
    checks = 0

    def check() -> None:
        nonlocal checks
        checks += 1

    with pytest.raises(Exception, match=f"^body size limit exceeded: more than {1 << 20} bytes$"):
        decoded_body(FetchResult(body, TEXT, "gzip"), 1 << 20, check)
    assert checks == 0  # not one chunk inflated
    liar = body[:-4] + (100).to_bytes(4, "little")  # claims 100 bytes
    with pytest.raises(Exception, match=r"^body size limit exceeded"):
        decoded_body(FetchResult(liar, TEXT, "gzip"), 1 << 20, check)
    assert checks == 1
