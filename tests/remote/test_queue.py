"""The remote-write queue over a real WAL, a scripted endpoint and virtual time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kubeprom.clock import VirtualClock
from kubeprom.config.relabel import RelabelConfig
from kubeprom.config.remote import MetadataConfig, QueueConfig
from kubeprom.tsdb import DB, Options
from tests.remote.helpers import (
    FakeEndpoint,
    advance,
    fatal,
    make_queue,
    recoverable,
    run_until,
    write_scrapes,
)

START_S = 1_800_000_000.0


def in_order_per_series(received: list[tuple[object, int, int]]) -> bool:
    last: dict[object, int] = {}
    for labels, t, _ in received:
        if t <= last.get(labels, -(2**63)):
            return False
        last[labels] = t
    return True


async def test_every_sample_arrives_once_in_order_per_series(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock)
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(
            min_shards=3, max_shards=3, max_samples_per_send=70, batch_send_deadline_ms=1000
        ),
    )
    await queue.start()
    written = write_scrapes(db, series=250, scrapes=6)
    await run_until(clock, lambda: len(endpoint.received) >= len(written))
    await queue.stop()
    assert Counter(endpoint.received) == Counter(written)
    assert in_order_per_series(endpoint.received)
    s = queue.stats
    assert (s.samples_total, s.samples_failed, s.samples_retried, s.samples_pending) == (
        1500,
        0,
        0,
        0,
    )
    assert s.highest_sent_ms == 1_800_000_000_000 + 5 * 15_000
    assert s.shards == 3
    db.close()


async def test_a_partial_batch_waits_for_the_deadline(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock)
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(max_samples_per_send=100, batch_send_deadline_ms=5000),
    )
    await queue.start()
    await advance(clock, 1.0)
    write_scrapes(db, series=30, scrapes=1)
    await advance(clock, 2.0)
    assert endpoint.received == []  # 30 < 100 and the 5 s deadline has not passed
    await run_until(clock, lambda: len(endpoint.received) == 30)
    assert 5.0 <= endpoint.attempts[0] - START_S <= 5.2
    await queue.stop()
    db.close()


async def test_recoverable_errors_are_retried_with_exponential_backoff(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock, script=recoverable(5))
    cfg = QueueConfig(
        max_samples_per_send=100, batch_send_deadline_ms=100, min_backoff_ms=30, max_backoff_ms=200
    )
    queue = make_queue(tmp_path, clock, endpoint, db, cfg)
    await queue.start()
    written = write_scrapes(db, series=40, scrapes=1)
    await run_until(clock, lambda: len(endpoint.received) == 40, step_s=0.01)
    gaps = [round(b - a, 3) for a, b in zip(endpoint.attempts, endpoint.attempts[1:], strict=False)]
    assert gaps == [0.03, 0.06, 0.12, 0.2, 0.2]  # doubling from min_backoff, capped at max
    assert Counter(endpoint.received) == Counter(written)
    s = queue.stats
    assert (s.samples_retried, s.samples_total, s.samples_failed) == (200, 240, 0)
    await queue.stop()
    db.close()


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock, script=recoverable(1, retry_after_ms=7000))
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(max_samples_per_send=10, batch_send_deadline_ms=100),
    )
    await queue.start()
    write_scrapes(db, series=10, scrapes=1)
    await run_until(clock, lambda: len(endpoint.received) == 10)
    assert round(endpoint.attempts[1] - endpoint.attempts[0], 3) == 7.0
    await queue.stop()
    db.close()


async def test_a_non_recoverable_error_drops_the_batch_and_counts_it(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock, script=[fatal()])
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(max_samples_per_send=50, batch_send_deadline_ms=100),
    )
    await queue.start()
    written = write_scrapes(db, series=50, scrapes=2)
    await run_until(clock, lambda: len(endpoint.received) == 50)
    await advance(clock, 1.0)
    assert Counter(endpoint.received) == Counter(written[50:])  # the first batch is gone
    s = queue.stats
    assert (s.samples_failed, s.samples_retried, s.samples_total) == (50, 0, 100)
    await queue.stop()
    db.close()


async def test_write_relabel_configs_drop_series_and_count_their_samples(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock)
    drop_m0 = RelabelConfig(source_labels=("__name__",), regex="m0", action="drop")  # type: ignore[arg-type]
    queue = make_queue(tmp_path, clock, endpoint, db, write_relabel_configs=(drop_m0,))
    await queue.start()
    written = write_scrapes(db, series=70, scrapes=2)
    kept = [s for s in written if s[0].name != "m0"]
    await run_until(clock, lambda: len(endpoint.received) == len(kept))
    await advance(clock, 2.0)
    assert Counter(endpoint.received) == Counter(kept)
    assert queue.stats.samples_dropped == len(written) - len(kept) == 20
    await queue.stop()
    db.close()


async def test_shards_are_bounded_while_the_endpoint_is_down(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock, script=recoverable(10_000))
    cfg = QueueConfig(
        capacity=200, max_samples_per_send=50, batch_send_deadline_ms=100, max_backoff_ms=500
    )
    queue = make_queue(tmp_path, clock, endpoint, db, cfg)
    await queue.start()
    written = write_scrapes(db, series=100, scrapes=20)
    peak = 0
    for _ in range(200):
        await advance(clock, 0.05)
        peak = max(peak, queue.stats.samples_pending)
    # capacity, plus the one WAL record that was being added when the shard filled up
    assert 200 <= peak <= 300
    assert queue.stats.enqueue_retries > 0
    endpoint.script.clear()  # the endpoint comes back: the backlog drains from the WAL
    await run_until(clock, lambda: len(endpoint.received) >= len(written))
    assert Counter(endpoint.received) == Counter(written)
    assert in_order_per_series(endpoint.received)
    await queue.stop()
    db.close()


async def test_a_crash_resumes_from_the_saved_position_with_nothing_missing(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock)
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(max_samples_per_send=40, batch_send_deadline_ms=100),
    )
    await queue.start()
    written = write_scrapes(db, series=40, scrapes=10)
    await run_until(clock, lambda: len(endpoint.received) >= 160)
    await advance(clock, 1.5)  # the position is saved at least every second
    # Crash: the tasks die where they are, nothing is flushed or saved.
    for task in queue._tasks + [s.task for s in queue._shards if s.task]:
        task.cancel()
    await advance(clock, 0.1)
    saved = queue.saved_position
    assert saved is not None
    assert saved.offset > 0
    written += write_scrapes(db, series=40, scrapes=5, start_ms=1_800_000_000_000 + 10 * 15_000)
    second = FakeEndpoint(clock)
    again = make_queue(
        tmp_path,
        clock,
        second,
        db,
        QueueConfig(max_samples_per_send=40, batch_send_deadline_ms=100),
    )
    await again.start()
    await run_until(
        clock, lambda: len(set(endpoint.received) | set(second.received)) >= len(written)
    )
    await again.stop()
    assert set(endpoint.received) | set(second.received) == set(written)
    # Resent at most what was in flight since the last save: a few batches, not everything.
    assert len(second.received) < len(written) - 120
    db.close()


async def test_a_stopped_queue_flushes_and_the_next_start_sends_only_what_is_new(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock)
    queue = make_queue(tmp_path, clock, endpoint, db)
    await queue.start()
    first = write_scrapes(db, series=30, scrapes=3)
    await advance(clock, 0.2)
    await queue.stop()  # flushes the partial batches, saves the position
    assert Counter(endpoint.received) == Counter(first)
    second = FakeEndpoint(clock)
    again = make_queue(tmp_path, clock, second, db)
    await again.start()
    more = write_scrapes(db, series=30, scrapes=2, start_ms=1_800_000_000_000 + 3 * 15_000)
    await run_until(clock, lambda: len(second.received) == len(more))
    await advance(clock, 2.0)
    assert Counter(second.received) == Counter(more)
    await again.stop()
    db.close()


@pytest.mark.parametrize("checkpoint_while_behind", [True, False], ids=["held", "caught-up"])
async def test_wal_segments_stay_until_the_queue_read_them(
    tmp_path: Path, checkpoint_while_behind: bool
) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None, wal_segment_bytes=4096))
    endpoint = FakeEndpoint(clock, script=recoverable(10_000) if checkpoint_while_behind else [])
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(capacity=100, max_samples_per_send=50, batch_send_deadline_ms=100),
    )
    assert db.wal is not None
    db.wal.keep_segments_from(
        lambda: queue.saved_position.segment if queue.saved_position else None
    )
    await queue.start()
    written = write_scrapes(db, series=50, scrapes=30)
    await advance(clock, 3.0)
    before = db.wal.segments
    db._checkpoint()  # what compaction does: covers every segment written so far
    after = db.wal.segments
    if checkpoint_while_behind:
        # Nothing was sent: every segment stays, beside the new one the checkpoint starts.
        assert after == [*before, before[-1] + 1]
        assert len(before) > 3
        endpoint.script.clear()
    else:
        # Everything was read: only the segment holding the saved position stays.
        assert after == [before[-1], before[-1] + 1]
    await run_until(clock, lambda: len(endpoint.received) >= len(written))
    assert Counter(endpoint.received) == Counter(written)
    await queue.stop()
    saved = queue.saved_position
    assert saved is not None
    db._checkpoint()
    assert min(db.wal.segments) == saved.segment  # the rest was released once read
    db.close()


async def test_shards_follow_the_backlog_and_keep_each_series_in_order(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    # Each request takes half a second: one shard sends 200 samples/s, not enough.
    endpoint = FakeEndpoint(clock, latency_s=0.5)
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        QueueConfig(
            capacity=1000, max_shards=8, max_samples_per_send=100, batch_send_deadline_ms=1000
        ),
    )
    await queue.start()
    written: list[tuple[object, int, int]] = []
    for k in range(60):  # 60 s of 1,000 samples/s; one shard sends 200/s
        written += write_scrapes(db, series=1000, scrapes=1, start_ms=1_800_000_000_000 + k * 1000)
        await advance(clock, 1.0)
    assert queue.stats.shards > 1
    assert queue.stats.shards <= 8
    await run_until(clock, lambda: len(endpoint.received) >= len(written), limit_s=1200)
    await queue.stop()
    assert Counter(endpoint.received) == Counter(written)
    assert in_order_per_series(endpoint.received)
    db.close()


async def test_metadata_is_sent_every_interval_in_batches(tmp_path: Path) -> None:
    clock = VirtualClock(round(START_S * 1000))
    db = DB.open(tmp_path, Options(retention_ms=None))
    endpoint = FakeEndpoint(clock)
    entries = [(f"m{i}", "counter" if i % 2 else "gauge", f"help {i}", "") for i in range(5)]
    queue = make_queue(
        tmp_path,
        clock,
        endpoint,
        db,
        metadata=lambda: entries,
        metadata_config=MetadataConfig(send=True, send_interval_ms=60_000, max_samples_per_send=2),
    )
    await queue.start()
    await advance(clock, 59.0)
    assert endpoint.metadata == []
    await run_until(clock, lambda: len(endpoint.metadata) == 5)
    assert endpoint.metadata == [(n, 1 if t == "counter" else 2, h, u) for n, t, h, u in entries]
    assert len(endpoint.attempts) == 3  # batches of at most 2 entries
    assert (queue.stats.metadata_total, queue.stats.metadata_failed) == (5, 0)
    await queue.stop()
    db.close()
