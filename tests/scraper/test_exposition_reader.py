"""OpenMetricsFileReader: streaming import files in blocks."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from kubeprom.model.labels import Labels
from kubeprom.scraper.exposition import (
    ExpositionError,
    OpenMetricsFileReader,
    ParsedBody,
    parse_text,
)
from kubeprom.tsdb.api import MetricMetadata, MetricType


def _import_file(series: int = 7, samples: int = 9, *, seed: int = 0) -> list[str]:
    """Lines of a small import file: counters and a histogram, some awkward label values."""
    rng = random.Random(seed)
    lines = ["# HELP requests Requests served.", "# TYPE requests counter"]
    for s in range(series):
        pod = "pod with space" if s == 3 else f"pod-{s}"
        for j in range(samples):
            ts = 1761955200 + 15 * j + rng.randrange(1000) / 1000
            exemplar = ' # {trace_id="t"} 1.0' if (s, j) == (5, 2) else ""
            lines.append(
                f'requests_total{{pod="{pod}",code="200"}} {s * 100 + j} {ts:.3f}{exemplar}'
            )
    lines += ["# HELP latency_seconds Latency.", "# TYPE latency_seconds histogram"]
    lines += ["# UNIT latency_seconds seconds"]
    for j in range(samples):
        for le in ("0.1", "1.0", "+Inf"):
            lines.append(f'latency_seconds_bucket{{le="{le}"}} {j} {1761955200 + j}')
    lines.append("# EOF")
    return lines


def _write(tmp_path: Path, lines: list[str], *, trailing_newline: bool = True) -> str:
    path = tmp_path / "import.om"
    path.write_bytes(("\n".join(lines) + ("\n" if trailing_newline else "")).encode())
    return str(path)


def _concat(bodies: list[ParsedBody]) -> tuple[list[bytes], list[float], list[int]]:
    series = [s for body in bodies for s in body.series]
    values = np.concatenate([b.values for b in bodies]).tolist() if bodies else []
    ts = np.concatenate([b.timestamps_ms for b in bodies]).tolist() if bodies else []
    return series, values, ts


@pytest.mark.parametrize("block_bytes", [1, 17, 64, 300, 32 << 20], ids=lambda b: f"block={b}")
@pytest.mark.parametrize("trailing_newline", [True, False], ids=["newline", "no-newline"])
def test_reader_matches_parse_text(
    tmp_path: Path, block_bytes: int, trailing_newline: bool
) -> None:
    lines = _import_file()
    path = _write(tmp_path, lines, trailing_newline=trailing_newline)
    reader = OpenMetricsFileReader(path, block_bytes=block_bytes)
    bodies = list(reader)

    whole = parse_text(Path(path).read_bytes(), openmetrics=True)
    assert _concat(bodies) == (whole.series, whole.values.tolist(), whole.timestamps_ms.tolist())
    assert len(whole) == 7 * 9 + 9 * 3
    assert reader.bytes_read == reader.total_bytes == Path(path).stat().st_size

    labels: dict[bytes, Labels] = {}
    metadata: dict[str, MetricMetadata] = {}
    for body in bodies:
        assert not set(body.labels) & set(labels), "a series text is announced only once"
        labels.update(body.labels)
        metadata.update(body.metadata)
    assert labels == whole.labels
    assert metadata == {
        "requests": MetricMetadata(MetricType.COUNTER, "Requests served."),
        "latency_seconds": MetricMetadata(MetricType.HISTOGRAM, "Latency.", "seconds"),
    }
    # One bytes object per distinct series text, across blocks.
    objects = {id(s) for body in bodies for s in body.series}
    assert len(objects) == len(labels) == 7 + 3


def test_reader_normalises_le_across_blocks(tmp_path: Path) -> None:
    lines = ["# TYPE h histogram"] + [f'h_bucket{{le="{le}"}} 1 {i}' for i, le in enumerate("125")]
    path = _write(tmp_path, [*lines, "# EOF"])
    bodies = list(OpenMetricsFileReader(path, block_bytes=20))
    assert sorted(lab.get("le") for body in bodies for lab in body.labels.values()) == [
        "1.0",
        "2.0",
        "5.0",
    ]


def test_reader_yields_big_blocks(tmp_path: Path) -> None:
    path = _write(tmp_path, _import_file(series=40, samples=50))
    bodies = list(OpenMetricsFileReader(path, block_bytes=20_000))
    assert len(bodies) > 2
    assert all(len(body) > 100 for body in bodies[:-1])


_BAD_FILES = [
    (
        "missing-timestamp",
        5,
        "a 1 1\na 2 2\nb 3 3\n# HELP c x\nc 4\nc 5 5\n# EOF\n",
        "missing timestamp for series 'c'",
    ),
    (
        "missing-timestamp-exemplar",
        2,
        'a 1 1\nb 2 # {x="y"} 1\n# EOF\n',
        "missing timestamp for series 'b'",
    ),
    ("bad-value", 3, "a 1 1\na 2 2\na x 3\n# EOF\n", "expected value after series 'a', got 'x'"),
    ("bad-timestamp", 2, "a 1 1\na 2 2s\n# EOF\n", r"expected timestamp \(seconds\)"),
    (
        "bad-label",
        3,
        'a{x="1"} 1 1\na{x="1"} 2 2\na{x=1} 3 3\n# EOF\n',
        "expected quoted value for label 'x'",
    ),
    ("missing-eof", 3, "a 1 1\na 2 2\n", "expected '# EOF' at the end of the file"),
    ("missing-eof-no-newline", 3, "a 1 1\na 2 2", "expected '# EOF' at the end of the file"),
    ("data-after-eof", 3, "a 1 1\n# EOF\na 2 2\n", "unexpected data after '# EOF'"),
    ("blank-after-eof", 3, "a 1 1\n# EOF\n\n", "unexpected data after '# EOF'"),
    ("text-comment", 2, "a 1 1\n# just a comment\n# EOF\n", "expected '# HELP', '# TYPE'"),
]


@pytest.mark.parametrize(
    ("line", "content", "message"),
    [case[1:] for case in _BAD_FILES],
    ids=[case[0] for case in _BAD_FILES],
)
@pytest.mark.parametrize("block_bytes", [1, 7, 64, 32 << 20], ids=lambda b: f"block={b}")
def test_reader_errors_name_the_line(
    tmp_path: Path, line: int, content: str, message: str, block_bytes: int
) -> None:
    path = tmp_path / "bad.om"
    path.write_text(content)
    with pytest.raises(ExpositionError, match=message) as info:
        list(OpenMetricsFileReader(str(path), block_bytes=block_bytes))
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("block_bytes", [64, 4096, 32 << 20], ids=lambda b: f"block={b}")
def test_reader_error_deep_in_a_big_file(tmp_path: Path, block_bytes: int) -> None:
    lines = _import_file(series=30, samples=40)
    victim = 777
    assert not lines[victim].startswith("#")
    lines[victim] = lines[victim].rsplit(" ", 1)[0]  # drop the timestamp
    path = _write(tmp_path, lines)
    with pytest.raises(ExpositionError, match="missing timestamp") as info:
        list(OpenMetricsFileReader(path, block_bytes=block_bytes))
    assert info.value.line == victim + 1


def test_reader_rejects_bad_block_size(tmp_path: Path) -> None:
    path = _write(tmp_path, ["# EOF"])
    with pytest.raises(ValueError, match="block_bytes must be positive"):
        OpenMetricsFileReader(path, block_bytes=0)


def test_reader_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.om"
    path.write_bytes(b"")
    with pytest.raises(ExpositionError, match="expected '# EOF'") as info:
        list(OpenMetricsFileReader(str(path)))
    assert info.value.line == 1
