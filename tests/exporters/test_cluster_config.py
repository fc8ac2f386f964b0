"""The cluster: section of kubeprom.yml: quantities, good documents, and bad ones with positions."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from kubeprom.config.cluster import LoadType, QueueSpec, parse_quantity
from kubeprom.config.cluster_parse import load_cluster_config, parse_cluster_config
from kubeprom.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        ("1.5", 1.5),
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("1e3", 1000.0),
        ("10k", 10_000.0),
        ("1M", 1e6),
        ("250u", 250e-6),
        ("100n", 100e-9),
        (".5", 0.5),
        ("2Ki", 2048.0),
        ("0", 0.0),
    ],
)
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("text", ["5x", "", "Mi", "1.2.3", "1 Gi", "1gi", "-1", "1e"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_quantity(text)


GOOD = """\
cluster:
  seed: 42
  tick: 500ms
  warm_start: false
  nodes:
    - name: node-1
      capacity: {cpu: "4", memory: 16Gi, pods: 110}
      allocatable: {cpu: 3800m, memory: 15Gi, pods: 100}
    - count: 2
      name_prefix: small-
      capacity: {cpu: 2, memory: 4Gi}
      overhead: {cpu: 10m}
  deployments:
    - metadata: {name: web, namespace: shop, labels: {app: web}}
      spec:
        replicas: 3
        template:
          metadata: {labels: {app: web, tier: front}}
          spec:
            containers:
              - name: app
                image: nginx:1.25
                resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 512Mi}}
                readinessProbe: {initialDelaySeconds: 5, httpGet: {path: /, port: 80}}
              - name: sidecar
                image: envoy:1
                resources: {limits: {cpu: 100m}}
      startup_delay: 3s
      load: {type: diurnal, base_rps: 50, amplitude_rps: 30, period: 24h, cpu_per_request: 5m,
             baseline_cpu: 20m, memory_per_rps: 1Mi, baseline_memory: 100Mi, noise: 0.05}
"""


def test_a_good_document() -> None:
    spec = parse_cluster_config(GOOD, "good.yml")
    assert spec is not None
    assert (spec.seed, spec.tick_s, spec.warm_start) == (42, 0.5, False)
    assert [n.name for n in spec.nodes] == ["node-1", "small-1", "small-2"]
    node = spec.nodes[0]
    assert (node.capacity.cpu, node.capacity.memory, node.capacity.pods) == (4.0, 16 * 2**30, 110)
    assert (node.allocatable.cpu, node.allocatable.pods) == (3.8, 100)
    assert spec.nodes[1].allocatable == spec.nodes[1].capacity
    assert spec.nodes[1].capacity.pods == 110  # the kubelet's default
    assert spec.nodes[1].overhead_cpu == pytest.approx(0.01)
    (web,) = spec.deployments
    assert (web.namespace, web.name, web.replicas, web.startup_delay_s) == ("shop", "web", 3, 3.0)
    assert web.labels == {"app": "web"}
    assert web.pod_labels == {"app": "web", "tier": "front"}
    app, sidecar = web.containers
    assert (app.requests.cpu, app.limits.memory, app.readiness_delay_s) == (0.25, 512 * 2**20, 5.0)
    # A missing request defaults to the limit, as Kubernetes does.
    assert (sidecar.requests.cpu, sidecar.limits.cpu, sidecar.requests.memory) == (0.1, 0.1, None)
    load = web.load
    assert (load.type, load.base_rps, load.amplitude_rps, load.period_s) == (
        LoadType.DIURNAL,
        50.0,
        30.0,
        86_400.0,
    )
    assert (load.cpu_per_request, load.baseline_cpu, load.noise) == (0.005, 0.02, 0.05)
    assert (load.memory_per_rps, load.baseline_memory) == (2**20, 100 * 2**20)


def test_no_cluster_section() -> None:
    assert parse_cluster_config("global: {}\nscrape_configs: []\n", "x.yml") is None
    assert parse_cluster_config("cluster:\n", "x.yml") is None


def test_yaml_syntax_errors_read_as_in_every_config_file() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^k\.yml:3:1: invalid YAML: expected the node content, but found '<stream end>'$",
    ):
        parse_cluster_config("cluster:\n  a: [1,\n", "k.yml")


def test_the_embedded_default_and_the_example_load() -> None:
    default = load_cluster_config(None)
    assert default is not None
    assert len(default.nodes) == 3
    kinds = {d.load.type for d in default.deployments}
    assert {LoadType.CONSTANT, LoadType.DIURNAL, LoadType.SPIKE, LoadType.STEP} <= kinds
    example = load_cluster_config(str(REPO / "config" / "examples" / "cluster.yml"))
    assert example is not None
    assert {d.load.type for d in example.deployments} == set(LoadType)
    (gateway,) = [d for d in example.deployments if d.name == "gateway"]
    assert gateway.load.csv_times_s[:2] == (0.0, 60.0)  # read relative to the config file
    (mailer,) = [d for d in example.deployments if d.queue is not None]
    assert mailer.queue == QueueSpec("emails", 3.0, "/", 500.0)


def _containers(extra: str = "", resources: str = "") -> str:
    lines = [
        "cluster:",
        '  nodes: [{name: n1, capacity: {cpu: "4", memory: 8Gi}}]',
        "  deployments:",
        "    - metadata: {name: web}",
        "      spec:",
        "        template:",
        "          spec:",
        "            containers:",
        "              - name: app",
        "                image: nginx",
    ]
    if resources:
        lines.append(f"                resources: {resources}")
    if extra:
        lines.append(f"                {extra}")
    return "\n".join(lines) + "\n"


def _load(load: str) -> str:
    return textwrap.dedent(f"""\
        cluster:
          nodes: [{{name: n1, capacity: {{cpu: "4", memory: 8Gi}}}}]
          deployments:
            - metadata: {{name: web}}
              spec: {{template: {{spec: {{containers: [{{name: app, image: nginx}}]}}}}}}
              load: {load}
        """)


def _queue(queue: str, second: str = "") -> str:
    """A queue worker (and, when ``second`` is given, another consuming that queue)."""
    items = [("worker", queue)] + ([("other", second)] if second else [])
    lines = [
        "cluster:",
        '  nodes: [{name: n1, capacity: {cpu: "4", memory: 8Gi}}]',
        "  deployments:",
    ]
    for name, q in items:
        lines += [
            f"    - metadata: {{name: {name}}}",
            "      spec: {template: {spec: {containers: [{name: app, image: nginx}]}}}",
            f"      queue: {q}",
        ]
    return "\n".join(lines) + "\n"


def test_a_queue_worker() -> None:
    spec = parse_cluster_config(_queue("{name: orders, consume_rate: 2.5}"), "q.yml")
    assert spec is not None
    (worker,) = spec.deployments
    assert worker.queue == QueueSpec("orders", 2.5, "/", 0.0)
    spec = parse_cluster_config(
        _queue("{name: orders, vhost: shop, consume_rate: 4, initial_messages: 120}"), "q.yml"
    )
    assert spec is not None
    assert spec.deployments[0].queue == QueueSpec("orders", 4.0, "shop", 120.0)


_C0 = "cluster.deployments[0].spec.template.spec.containers[0]"
BAD = {
    "unknown-top-field": (
        "cluster:\n  nodes: []\n  colour: blue\n",
        "bad.yml:3:3: cluster.colour: field 'colour' not found in type cluster",
    ),
    "unknown-container-field": (
        _containers("imagePullSecret: x"),
        f"bad.yml:11:17: {_C0}.imagePullSecret: field 'imagePullSecret' not found in type "
        "container",
    ),
    "bad-quantity": (
        _containers(resources="{requests: {cpu: 5x}}"),
        f"bad.yml:11:45: {_C0}.resources.requests.cpu: cannot parse quantity '5x'",
    ),
    "negative-quantity": (
        _containers(resources="{limits: {memory: -1Gi}}"),
        f"bad.yml:11:46: {_C0}.resources.limits.memory: quantity '-1Gi' must not be negative",
    ),
    "missing-container-name": (
        _containers().replace("- name: app\n                image", "- image"),
        f"bad.yml:9:17: {_C0}.name: missing required field 'name'",
    ),
    "requests-above-limits": (
        _containers(resources="{requests: {cpu: '2'}, limits: {cpu: '1'}}"),
        f"bad.yml:11:39: {_C0}.resources.requests.cpu: requests.cpu 2 must be less than or "
        "equal to limits.cpu 1",
    ),
    "no-containers": (
        _containers().split("              - name")[0].replace("containers:", "containers: []"),
        "bad.yml:8:25: cluster.deployments[0].spec.template.spec.containers: at least one "
        "container is required",
    ),
    "bad-name": (
        _containers().replace("{name: web}", "{name: Web_1}"),
        "bad.yml:4:24: cluster.deployments[0].metadata.name: invalid name 'Web_1'",
    ),
    "negative-replicas": (
        _containers().replace(
            "spec:\n        template", "spec:\n        replicas: -1\n        template"
        ),
        "bad.yml:6:19: cluster.deployments[0].spec.replicas: must be at least 0, got -1",
    ),
    "bad-duration": (
        _load("{type: step, at: 5x, from: 1, to: 2}"),
        'bad.yml:6:30: cluster.deployments[0].load.at: unknown unit "x" in duration "5x"',
    ),
    "unknown-load-type": (
        _load("{type: sawtooth}"),
        "bad.yml:6:20: cluster.deployments[0].load.type: unknown load type 'sawtooth'",
    ),
    "missing-load-field": (
        _load("{type: spike, base_rps: 5, at: 1m, factor: 3}"),
        "bad.yml:6:13: cluster.deployments[0].load.duration: missing required field 'duration' "
        "for load type 'spike'",
    ),
    "field-of-another-load-type": (
        _load("{type: constant, rps: 5, amplitude_rps: 3}"),
        "bad.yml:6:53: cluster.deployments[0].load.amplitude_rps: field 'amplitude_rps' is not "
        "used by load type 'constant'",
    ),
    "missing-csv-file": (
        _load("{type: csv, file: nowhere.csv}"),
        "bad.yml:6:31: cluster.deployments[0].load.file: cannot read load file",
    ),
    "duplicate-node": (
        "cluster:\n  nodes:\n    - {name: a, capacity: {cpu: 1, memory: 1Gi}}\n"
        "    - {name: a, capacity: {cpu: 1, memory: 1Gi}}\n",
        "bad.yml:4:7: cluster.nodes[1]: duplicate node 'a'",
    ),
    "allocatable-above-capacity": (
        "cluster:\n  nodes:\n    - {name: a, capacity: {cpu: 1, memory: 1Gi},"
        " allocatable: {cpu: 2}}\n",
        "bad.yml:3:63: cluster.nodes[0].allocatable.cpu: allocatable cpu must be less than or "
        "equal to capacity cpu",
    ),
    "name-and-count": (
        "cluster:\n  nodes:\n    - {name: a, count: 2, capacity: {cpu: 1, memory: 1Gi}}\n",
        "bad.yml:3:7: cluster.nodes[0].name: set exactly one of 'name' and 'count'",
    ),
    "not-a-mapping": (
        "cluster:\n  nodes: [{name: a, capacity: 4}]\n",
        "bad.yml:2:31: cluster.nodes[0].capacity: expected a mapping for resource list, got '4'",
    ),
    "queue-without-rate": (
        _queue("{name: orders}"),
        "bad.yml:6:14: cluster.deployments[0].queue.consume_rate: missing required field "
        "'consume_rate'",
    ),
    "queue-zero-rate": (
        _queue("{name: orders, consume_rate: 0}"),
        "bad.yml:6:43: cluster.deployments[0].queue.consume_rate: consume_rate must be greater "
        "than 0 messages per second, got 0",
    ),
    "queue-unknown-field": (
        _queue("{name: orders, consume_rate: 1, prefetch: 10}"),
        "bad.yml:6:46: cluster.deployments[0].queue.prefetch: field 'prefetch' not found in "
        "type queue",
    ),
    "queue-reserved-name": (
        _queue("{name: amq.orders, consume_rate: 1}"),
        "bad.yml:6:21: cluster.deployments[0].queue.name: invalid queue name 'amq.orders': the "
        "prefix 'amq.' is reserved for the broker",
    ),
    "queue-negative-backlog": (
        _queue("{name: orders, consume_rate: 1, initial_messages: -5}"),
        "bad.yml:6:64: cluster.deployments[0].queue.initial_messages: expected a finite number "
        ">= 0, got '-5'",
    ),
    "queue-consumed-twice": (
        _queue("{name: orders, consume_rate: 1}", "{name: orders, consume_rate: 2}"),
        "bad.yml:7:7: cluster.deployments[1].queue.name: queue 'orders' in vhost '/' is already "
        "consumed by deployment default/worker",
    ),
    "yaml-syntax": (
        "cluster:\n  nodes: [\n",
        "bad.yml:3:1:",
    ),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_documents_name_file_line_col_and_field(
    text: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster_config(text, "bad.yml", base_dir=tmp_path)
    assert str(caught.value).startswith(message)


def test_bad_csv_rows_name_the_csv_file_and_line(tmp_path: Path) -> None:
    csv = tmp_path / "load.csv"
    csv.write_text("time_s,rps\n0,1\n60,abc\n")
    with pytest.raises(ConfigError, match=re.escape(f"{csv}:3: cannot parse row '60,abc'")):
        parse_cluster_config(_load("{type: csv, file: load.csv}"), "x.yml", base_dir=tmp_path)
    csv.write_text("0,1\n60,2\n30,3\n")
    with pytest.raises(ConfigError, match=re.escape(f"{csv}:3: time '30'")):
        parse_cluster_config(_load("{type: csv, file: load.csv}"), "x.yml", base_dir=tmp_path)
