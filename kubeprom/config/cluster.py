"""The ``cluster:`` section of kubeprom.yml: a simulated Kubernetes cluster.

Nodes and Deployments are written the way Kubernetes users write them; each Deployment adds a
``load`` (the requests per second it receives and what a request costs) and may set
``startup_delay``. A fully commented example is ``config/examples/cluster.yml``::

    cluster:
      seed: 42                 # every random choice (names, noise) derives from it
      tick: 1s                 # model step; events and noise change once per tick
      warm_start: true         # initial pods are already Running and Ready at start
      nodes:
        - name: node-1         # or `count: 3` (+ `name_prefix: node-`) for node-1..node-3
          capacity: {cpu: "4", memory: 16Gi, pods: 110}
          allocatable: {cpu: 3800m, memory: 15Gi, pods: 110}   # default: capacity
          overhead: {cpu: 50m, memory: 256Mi}                  # OS + kubelet usage
          labels: {topology.kubernetes.io/zone: a}
      deployments:
        - metadata: {name: web, namespace: default, labels: {app: web}}
          spec:
            replicas: 3
            template:
              metadata: {labels: {app: web}}
              spec:
                containers:
                  - name: app
                    image: nginx:1.25
                    resources:
                      requests: {cpu: 250m, memory: 256Mi}
                      limits: {cpu: "1", memory: 512Mi}
                    readinessProbe: {initialDelaySeconds: 5}
          startup_delay: 2s    # scheduled -> Running
          load: {type: diurnal, base_rps: 50, amplitude_rps: 30, period: 24h}
        - metadata: {name: worker}
          spec: ...
          load: {type: spike, base_rps: 1, at: 10m, duration: 5m, factor: 20}
          queue:               # the pods consume a RabbitMQ queue; `load` publishes to it
            name: orders
            vhost: /           # the default
            consume_rate: 5    # messages per second one ready pod processes
            initial_messages: 0
      resource_quotas:         # ResourceQuota objects, as Kubernetes users write them
        - metadata: {name: compute, namespace: default}
          spec:
            hard: {pods: "20", requests.cpu: "4", requests.memory: 8Gi, limits.cpu: "8"}

A Deployment's ``spec.selector`` (``matchLabels`` / ``matchExpressions``) must select its
template's labels; without one the template's labels are the selector. Pods it removes
terminate for ``terminationGracePeriodSeconds`` (30 s by default) before they are gone.
A quota limits ``pods``, ``requests.cpu``, ``requests.memory``, ``limits.cpu`` and
``limits.memory`` (``cpu`` and ``memory`` mean the ``requests.*`` ones); pods beyond it are
not created, as the API server's quota admission refuses them.

A Deployment with a ``queue`` is a queue worker: its ``load`` is the messages published to
the queue per second, not requests sent to the pods. Messages wait in the queue (the
backlog, exported by the broker even while no pod runs, see
:mod:`kubeprom.exporters.rabbitmq`); each ready pod processes up to ``consume_rate``
messages per second, and the cost fields below are per message processed. A queue is
consumed by one Deployment.

Load types and their fields (times are durations since the cluster started)::

    constant  rps
    step      at, from, to                      from before `at`, to after
    ramp      from, to, over [, at]             linear from `at` to `at + over`
    diurnal   base_rps, amplitude_rps [, period=24h, phase=0s]   sine
    spike     base_rps, at, duration, factor [, every]           base * factor inside
    csv       file [, loop=true]                rows `time_s,rps`, linearly interpolated

Cost fields, for every type (each container of a pod does this work for each request its pod
serves): ``cpu_per_request`` (CPU quantity: core-seconds per request, ``5m``),
``baseline_cpu`` (cores), ``memory_per_rps`` (bytes per request/s), ``baseline_memory``,
``memory_leak_per_hour`` (working-set growth since the container started),
``rx_bytes_per_request``, ``tx_bytes_per_request`` and ``noise`` (relative standard deviation
of CPU demand per tick).

Quantities follow Kubernetes: ``500m``, ``2``, ``1.5``, ``512Mi``, ``1Gi``, ``1e3``, ``10k``.
Errors render ``file:line:col: field.path: message``; unknown fields are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from kubeprom.model.quantity import Quantity
from kubeprom.model.quantity import parse_quantity as exact_quantity
from kubeprom.model.selectors import Requirement

_QUANTITY_RE = re.compile(
    r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE](?P<exp>[+-]?\d+))?\Z"
)
DEFAULT_PODS_PER_NODE = 110  # the kubelet's default --max-pods
DEFAULT_STARTUP_DELAY_S = 2.0
DEFAULT_TERMINATION_GRACE_S = 30.0  # terminationGracePeriodSeconds' default
#: What a ResourceQuota may limit here (``cpu``/``memory`` are Kubernetes' aliases of the
#: ``requests.*`` names, tracked separately as there).
QUOTA_RESOURCES = (
    "cpu",
    "limits.cpu",
    "limits.memory",
    "memory",
    "pods",
    "requests.cpu",
    "requests.memory",
)
DEFAULT_TICK_S = 1.0
DEFAULT_OVERHEAD_CPU = 0.05
DEFAULT_OVERHEAD_MEMORY = 256.0 * 2**20


def parse_quantity(text: str) -> float:
    """The value of a Kubernetes quantity (``500m`` -> 0.5, ``1Gi`` -> 1073741824).

    Raises ValueError naming the input; negative quantities are rejected.
    """
    m = _QUANTITY_RE.match(text.strip())
    if not text.strip() or m is None:
        raise ValueError(
            f"cannot parse quantity {text!r}: expected a number with an optional suffix "
            "(m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (e3)"
        )
    # The syntax above is stricter than apimachinery's; the value is apimachinery's, exactly.
    value = exact_quantity(text.strip()).value
    if value < 0:
        raise ValueError(f"quantity {text!r} must not be negative")
    return float(value)


class LoadType(StrEnum):
    CONSTANT = "constant"
    STEP = "step"
    RAMP = "ramp"
    DIURNAL = "diurnal"
    SPIKE = "spike"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class Resources:
    """A resource list: CPU in cores, memory in bytes, pods as a count; None when unset."""

    cpu: float | None = None
    memory: float | None = None
    pods: int | None = None


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """Requests per second over time (seconds since the cluster started) and their cost."""

    type: LoadType = LoadType.CONSTANT
    rps: float = 0.0
    base_rps: float = 0.0
    amplitude_rps: float = 0.0
    period_s: float = 86_400.0
    phase_s: float = 0.0
    at_s: float = 0.0
    from_rps: float = 0.0
    to_rps: float = 0.0
    over_s: float = 0.0
    duration_s: float = 0.0
    factor: float = 1.0
    every_s: float | None = None
    csv_times_s: tuple[float, ...] = ()
    csv_rps: tuple[float, ...] = ()
    loop: bool = True
    cpu_per_request: float = 0.001
    baseline_cpu: float = 0.001
    memory_per_rps: float = 0.0
    baseline_memory: float = 16.0 * 2**20
    memory_leak_per_hour: float = 0.0
    rx_bytes_per_request: float = 800.0
    tx_bytes_per_request: float = 4096.0
    noise: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A RabbitMQ queue a Deployment's pods consume: each ready pod processes up to
    ``consume_rate`` messages per second; ``initial_messages`` wait at the start."""

    name: str
    consume_rate: float
    vhost: str = "/"
    initial_messages: float = 0.0


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    image: str
    requests: Resources
    limits: Resources
    readiness_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """A Deployment; ``selector`` is ``spec.selector`` as requirements (the template's labels
    when not written). Removed pods terminate for ``termination_grace_s`` before they go.
    With a ``queue`` the load is published to the queue and the pods consume it."""

    namespace: str
    name: str
    replicas: int
    containers: tuple[ContainerSpec, ...]
    load: LoadSpec
    labels: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    startup_delay_s: float = DEFAULT_STARTUP_DELAY_S
    selector: tuple[Requirement, ...] = ()
    termination_grace_s: float = DEFAULT_TERMINATION_GRACE_S
    queue: QueueSpec | None = None


@dataclass(frozen=True, slots=True)
class ResourceQuotaSpec:
    """A namespace's ``ResourceQuota``: ``hard`` limits by resource name, sorted by name,
    as exact quantities (messages print them as the API server does)."""

    namespace: str
    name: str
    hard: tuple[tuple[str, Quantity], ...]


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    capacity: Resources
    allocatable: Resources
    labels: dict[str, str] = field(default_factory=dict)
    overhead_cpu: float = DEFAULT_OVERHEAD_CPU
    overhead_memory: float = DEFAULT_OVERHEAD_MEMORY


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """A whole simulated cluster. ``source`` names the file it came from."""

    nodes: tuple[NodeSpec, ...]
    deployments: tuple[DeploymentSpec, ...]
    resource_quotas: tuple[ResourceQuotaSpec, ...] = ()
    seed: int = 0
    tick_s: float = DEFAULT_TICK_S
    warm_start: bool = True
    source: str = "<cluster>"
