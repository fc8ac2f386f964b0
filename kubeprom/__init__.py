"""kubeprom: a Prometheus-style monitoring stack for Kubernetes-style workloads."""

__version__ = "0.1.0"
