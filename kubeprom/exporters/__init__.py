"""The simulated cluster and its cAdvisor / kubelet / kube-state-metrics exporters."""
