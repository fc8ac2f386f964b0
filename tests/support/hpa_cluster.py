"""One Deployment on one node with HPAs synced for two minutes: the world the HPA API and
kubectl tests serve."""

from __future__ import annotations

from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.hpa import load_hpa_text
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.model.events import EventLog
from kubeprom.sim.metrics_server import MetricsServer
from kubeprom.sim.workloads import ClusterWorkloads

T0 = 1_800_000_000_000
CLUSTER = """
cluster:
  seed: 3
  nodes: [{name: n1, capacity: {cpu: "2", memory: 8Gi}}]
  deployments:
    - metadata: {name: web, labels: {app: web}}
      spec:
        replicas: 2
        template:
          spec:
            containers:
              - {name: app, image: nginx, resources: {requests: {cpu: 500m, memory: 64Mi}}}
      load: {type: constant, rps: 100, cpu_per_request: 10m, baseline_cpu: 0}
"""


def synced(manifests: str) -> tuple[SimulatedCluster, Autoscalers, EventLog]:
    """:data:`CLUSTER` at :data:`T0` with the HPAs of ``manifests`` synced every 15 s for
    two minutes (100 rps x 10m on 500m pods: a CPU HPA on ``web`` scales up)."""
    spec = parse_cluster_config(CLUSTER, "c.yml")
    if spec is None:
        raise AssertionError("CLUSTER has no cluster section")
    events = EventLog()
    c = SimulatedCluster(spec, start_s=T0 / 1000, events=events)
    hpas = Autoscalers(ClusterWorkloads(c), MetricsServer(c), events)
    hpas.apply_config([h.hpa for h in load_hpa_text(manifests, "hpa.yml")], T0)
    for i in range(8):
        hpas.reconcile_all(T0 + i * 15_000)
    return c, hpas, events
