"""Alert template speed: parse once per rule, expand once per alert and annotation.

    python benchmarks/bench_template.py

Prints microseconds per parse and per expansion for annotation styles of real rule files.
"""

from __future__ import annotations

import time

from kubeprom.rules.template import AlertTemplate

TEMPLATES = {
    "labels": "Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is waiting.",
    "humanize": "{{ $labels.instance }} has {{ $value | humanizePercentage }} of CPU throttled.",
    "printf": 'Filesystem on {{ $labels.device }} has only {{ printf "%.2f" $value }}% left.',
    "with": "{{ with $labels.cluster -}} on cluster {{ . }} {{- end }} {{ $value | humanize }}",
    "range": "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}",
}
LABELS = {
    "namespace": "monitoring",
    "pod": "prometheus-k8s-0",
    "container": "prometheus",
    "instance": "10.0.0.1:9100",
    "device": "/dev/sda1",
    "cluster": "prod",
}


def bench(n: int = 20_000) -> None:
    for name, text in TEMPLATES.items():
        t0 = time.perf_counter()
        for _ in range(n // 10):
            AlertTemplate(text, "HighCPU")
        parse_us = (time.perf_counter() - t0) / (n // 10) * 1e6
        tmpl = AlertTemplate(text, "HighCPU")
        t0 = time.perf_counter()
        for i in range(n):
            tmpl.expand(labels=LABELS, value=0.5 + i, t_ms=60_000)
        expand_us = (time.perf_counter() - t0) / n * 1e6
        print(f"{name:10s} parse {parse_us:7.1f} us   expand {expand_us:6.1f} us")


if __name__ == "__main__":
    bench()
