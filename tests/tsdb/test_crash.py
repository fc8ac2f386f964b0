"""Crash safety: every batch acknowledged by ``commit()`` survives a SIGKILL at any moment.

A child process appends batches in a loop and prints each timestamp after its commit
returns. The parent kills it with SIGKILL after a seeded-random number of acknowledgements,
reopens the store and checks that every acknowledged batch is there, exactly.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from kubeprom.model import Matcher, MatchType
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options

pytestmark = pytest.mark.timeout(30)

REPO_ROOT = Path(__file__).resolve().parents[2]
N_SERIES = 200
STEP_MS = 1000
MAX_BATCHES = 3000  # the child stops here and waits to be killed: bounds a runaway child
READ_TIMEOUT_S = 15.0

VARIANTS = {
    # Many small WAL segments, so kills land around segment rotation too.
    "wal-rotation": Options(wal_segment_bytes=32 << 10),
    # A block range of 10 batches: the child compacts (writes blocks, checkpoints the WAL)
    # every 10 batches once the head spans 15.
    "compaction": Options(block_range_ms=10 * STEP_MS),
}

CHILD = textwrap.dedent(
    """
    import sys

    import numpy as np

    from kubeprom.model import Labels
    from kubeprom.tsdb import DB, Options

    path, variant = sys.argv[1], sys.argv[2]
    n_series, step_ms, max_batches = map(int, sys.argv[3:6])
    if variant == "compaction":
        opts = Options(block_range_ms=10 * step_ms)
    else:
        opts = Options(wal_segment_bytes=32 << 10)
    db = DB.open(path, opts)
    app = db.appender()
    labels = [Labels([("__name__", "crash"), ("i", str(i))]) for i in range(n_series)]
    refs = np.array([app.ref(lab) for lab in labels], dtype=np.int64)
    app.commit()
    index = np.arange(n_series, dtype=np.float64)
    for k in range(1, max_batches + 1):
        t = k * step_ms
        app = db.appender()
        stats = app.append(t, refs, t * index)
        if stats.appended != n_series:
            sys.exit(f"batch at {t} appended {stats.appended} of {n_series}")
        app.commit()
        if variant == "compaction":
            db.compact()
        sys.stdout.write(f"{t}\\n")
        sys.stdout.flush()
    sys.stdin.read()  # done: wait for the SIGKILL
    """
)


def _run_and_kill(data: Path, variant: str, kill_after: int) -> list[int]:
    """Start the writer, SIGKILL it after ``kill_after`` acks; returns every ack it printed."""
    args = [data, variant, N_SERIES, STEP_MS, MAX_BATCHES]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, args)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out = b""
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + READ_TIMEOUT_S
        while out.count(b"\n") < kill_after:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            chunk = os.read(fd, 1 << 16) if ready else b""
            if not chunk:
                proc.kill()
                _, err = proc.communicate(timeout=10)
                reason = "timed out" if not ready else f"exited with {proc.returncode}"
                acks = out.count(b"\n")
                pytest.fail(f"writer {reason} after {acks} acks; stderr:\n{err.decode()}")
            out += chunk
        proc.kill()  # SIGKILL on POSIX: no atexit, no flush, no close
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, f"writer did not die by SIGKILL:\n{err.decode()}"
    out += rest
    complete = out[: out.rfind(b"\n") + 1]  # a torn last line was not an acknowledgement
    return [int(line) for line in complete.splitlines()]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_acknowledged_batches_survive_sigkill(tmp_path: Path, variant: str, seed: int) -> None:
    kill_after = random.Random(seed).randint(20, 400)
    data = tmp_path / "data"
    acked = _run_and_kill(data, variant, kill_after)
    assert len(acked) >= kill_after
    assert acked == list(range(STEP_MS, (len(acked) + 1) * STEP_MS, STEP_MS))
    last_ack = acked[-1]

    opts = VARIANTS[variant]
    db = DB.open(data, opts)
    try:
        assert db.corrupt_blocks == {}
        assert list(data.glob("*.tmp")) == []
        if variant == "compaction":
            assert len(db.blocks) >= 1, "the child never compacted; the variant tests nothing"
        matchers = [Matcher(MatchType.EQUAL, "__name__", "crash")]
        got = db.querier().select(matchers, MIN_TIME, MAX_TIME)
        assert len(got) == N_SERIES
        newest = int(got.t[got.offsets[1] - 1])
        # The batch committed just before the kill may be in the store without its ack.
        assert newest in (last_ack, last_ack + STEP_MS)
        want_t = np.arange(STEP_MS, newest + STEP_MS, STEP_MS, dtype=np.int64)
        for s in got:
            i = int(s.labels.get("i"))
            assert s.t.tolist() == want_t.tolist(), f"series {i}: gaps or extra samples"
            assert s.v.tolist() == (want_t.astype(np.float64) * i).tolist(), f"series {i}"

        # The store takes new writes after recovery, and they are durable too.
        app = db.appender()
        refs = np.array([app.ref(s.labels) for s in got], dtype=np.int64)
        next_t = newest + STEP_MS
        values = np.array([float(s.labels.get("i")) for s in got])
        assert app.append(next_t, refs, values).appended == N_SERIES
        app.commit()
    finally:
        db.close()
    db = DB.open(data, opts)
    try:
        got = db.querier().select(matchers, next_t, next_t)
        assert [int(s.labels.get("i")) for s in got] == sorted(range(N_SERIES), key=str)
        assert got.t.tolist() == [next_t] * N_SERIES
        assert got.v.tolist() == [float(s.labels.get("i")) for s in got]
        full = db.querier().select(matchers, MIN_TIME, MAX_TIME)
        assert full.num_samples == N_SERIES * (len(want_t) + 1)
    finally:
        db.close()
