"""Exposition parser throughput: scrape bodies and an OpenMetrics import file.

Usage: ``python benchmarks/bench_parse.py [--series 5000] [--file-lines 2000000]``

Measures, on one core:

* ``parse_text`` on a cAdvisor-like text body (``--series`` series of ~8 labels, HELP/TYPE
  per family): cold (every series text validated and parsed to labels) and steady state
  (all series texts already in the scrape cache, passed as ``known``);
* the same body as OpenMetrics;
* ``OpenMetricsFileReader`` over a generated file of ``--file-lines`` samples with
  timestamps (seconds with a millisecond fraction), ``# HELP``/``# TYPE`` and ``# EOF``.

Rates are samples per second, best of ``--repeat`` runs, against wall time and against the
process' CPU time (the parser is single-threaded; CPU time is the one-core rate even when other
processes share the machine).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial

from kubeprom.scraper.exposition import OpenMetricsFileReader, parse_text

_FAMILIES = [
    ("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds."),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    ("container_memory_rss", "gauge", "Size of RSS in bytes."),
    ("container_network_receive_bytes_total", "counter", "Cumulative count of bytes received"),
    ("container_fs_reads_bytes_total", "counter", "Cumulative count of bytes read"),
]


def _series_texts(
    count: int, rng: random.Random, *, short: bool = False
) -> list[tuple[str, str, str, str]]:
    """(family, type, help, series text) for ``count`` cAdvisor-like series.

    Full cAdvisor series carry 10 labels (~300 bytes a line); ``short`` ones carry 2
    (``container_cpu_usage_seconds_total{container="app",pod="x"}``, ~90 bytes a line).
    """
    out = []
    for i in range(count):
        family, mtype, help_ = _FAMILIES[i % len(_FAMILIES)]
        pod = f"app-{i // 50:04d}-{rng.randrange(16**5):05x}"
        namespace = f"team-{i % 17}"
        container = f"c{i % 3}"
        uid = f"{rng.randrange(16**8):08x}-{rng.randrange(16**4):04x}"
        if short:
            labels = f'container="{container}",pod="{pod}"'
        else:
            labels = (
                f'container="{container}",cpu="total",'
                f'id="/kubepods/burstable/pod{uid}/{rng.randrange(16**12):012x}",'
                f'image="registry.example.com/{namespace}/app:1.{i % 9}.{i % 5}",'
                f'instance="node-{i % 20}:10250",job="kubelet",'
                f'name="k8s_{container}_{pod}_{namespace}_{uid}_0",'
                f'namespace="{namespace}",pod="{pod}"'
            )
        out.append((family, mtype, help_, f"{family}{{{labels}}}"))
    out.sort(key=lambda item: item[0])  # families must be contiguous
    return out


def _body(
    series: list[tuple[str, str, str, str]], rng: random.Random, *, openmetrics: bool
) -> bytes:
    parts: list[str] = []
    current = None
    for family, mtype, help_, text in series:
        if family != current:
            current = family
            name = family.removesuffix("_total") if openmetrics and mtype == "counter" else family
            parts.append(f"# HELP {name} {help_}\n# TYPE {name} {mtype}\n")
        parts.append(f"{text} {rng.random() * 1e6:.6g}\n")
    if openmetrics:
        parts.append("# EOF\n")
    return "".join(parts).encode()


def _write_file(
    path: str, series: list[tuple[str, str, str, str]], lines: int, rng: random.Random
) -> int:
    """An import file: every series gets ``lines // len(series)`` samples, 15s apart."""
    per_series = max(1, lines // len(series))
    start = 1_761_955_200.0
    written = 0
    with open(path, "w", encoding="utf-8") as file:
        current = None
        for family, mtype, help_, text in series:
            if family != current:
                current = family
                name = family.removesuffix("_total") if mtype == "counter" else family
                file.write(f"# HELP {name} {help_}\n# TYPE {name} {mtype}\n")
            value = rng.random() * 1000
            chunk = []
            for j in range(per_series):
                value += rng.random()
                chunk.append(
                    f"{text} {value:.6g} {start + 15 * j + rng.randrange(1000) / 1000:.3f}\n"
                )
            file.write("".join(chunk))
            written += per_series
        file.write("# EOF\n")
    return written


def _best(repeat: int, run: Callable[[], int]) -> tuple[float, float, int]:
    """Best wall time and best CPU time of ``repeat`` runs, and the sample count.

    CPU time is what one core spends; on a shared machine wall time also counts waiting.
    """
    best_wall = best_cpu = float("inf")
    samples = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        samples = run()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_wall, best_cpu, samples


def _report(name: str, wall: float, cpu: float, samples: int) -> None:
    print(
        f"{name:<48} {samples:>10,} samples  wall {wall * 1e3:8.1f} ms "
        f"{samples / wall / 1e6:5.2f} M/s  cpu {cpu * 1e3:8.1f} ms {samples / cpu / 1e6:5.2f} M/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--file-lines", type=int, default=2_000_000)
    parser.add_argument("--file-series", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    series = _series_texts(args.series, rng)
    for openmetrics in (False, True):
        body = _body(series, rng, openmetrics=openmetrics)
        kind = "openmetrics" if openmetrics else "text"
        cache = dict.fromkeys(parse_text(body, openmetrics=openmetrics).labels, 0)
        cold = _best(args.repeat, partial(_parse_len, body, openmetrics, {}))
        warm = _best(args.repeat * 4, partial(_parse_len, body, openmetrics, cache))
        _report(f"parse_text {kind} cold ({len(body) / 1e6:.1f} MB)", *cold)
        _report(f"parse_text {kind} steady state (known)", *warm)

    with tempfile.TemporaryDirectory() as tmp:
        for short in (False, True):
            file_series = _series_texts(args.file_series, rng, short=short)
            path = os.path.join(tmp, "import.om")
            written = _write_file(path, file_series, args.file_lines, rng)
            size = os.path.getsize(path)
            _report(
                f"OpenMetricsFileReader ({size / 1e6:.0f} MB, {size / written:.0f} B/line)",
                *_best(max(1, args.repeat // 2), partial(_read_all, path)),
            )


def _parse_len(body: bytes, openmetrics: bool, known: dict[bytes, int]) -> int:
    return len(parse_text(body, openmetrics=openmetrics, known=known))


def _read_all(path: str) -> int:
    return sum(len(body) for body in OpenMetricsFileReader(path))


if __name__ == "__main__":
    main()
