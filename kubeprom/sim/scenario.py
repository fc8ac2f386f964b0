"""Scenarios for ``kubeprom simulate``: a kubeprom.yml plus a ``simulation:`` section.

A scenario is a configuration file ``kubeprom run`` accepts as it is (so it can also be run
live): ``global:`` (scrape and evaluation intervals), ``rule_files:``, ``scrape_configs:``,
``cluster:`` (nodes, Deployments with requests, limits, readiness delays and load profiles,
``seed``), ``horizontal_pod_autoscalers:`` (manifests or inline objects), and::

    simulation:
      duration: 24h                    # required: cluster time to simulate
      start: 2027-01-01T00:00:00Z      # the virtual clock's start (RFC 3339; this default)
      scrape: direct                   # or text: render and parse every exposition body
      controller:                      # kube-controller-manager's HPA flags, its defaults
        sync_period: 15s               # the HPA sync period, also the timeline's step
        tolerance: 0.1
        downscale_stabilization: 5m
        cpu_initialization_period: 5m
        initial_readiness_delay: 30s

Without ``scrape_configs:`` a scenario scrapes the cluster as the embedded kubeprom.yml
does (jobs ``cadvisor``, ``kubelet``, ``kube-state-metrics``, and ``rabbitmq`` for the
queues of queue-worker Deployments) at its own ``global.scrape_interval``.
``scrape: direct`` (the default) hands the scraper the samples the exporters' OpenMetrics
bodies would parse to, without writing and parsing the text; the store is the same either
way (``text`` is the faithful path, kept to check that).
``kubeprom run`` reads the section's syntax and leaves the rest
to ``simulate``. Errors name ``file:line:col: field: message`` as the rest of the file's do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import resources
from pathlib import Path

import yaml

from kubeprom.config.cluster import ClusterSpec
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.hpa import load_hpa_config
from kubeprom.config.hpa_spec import FeatureGates, HorizontalPodAutoscaler
from kubeprom.config.load import DEFAULT_CONFIG, MainConfig, load_main_config, parse_main_config
from kubeprom.config.nodes import Fields, compose, error, scalar_str
from kubeprom.config.scrape import parse_scrape_config
from kubeprom.errors import ConfigError
from kubeprom.hpa import ControllerConfig
from kubeprom.model.timeutil import parse_rfc3339_ms
from kubeprom.sim.replay import Opener, ReplaySpec, parse_replay, replayed

DEFAULT_START = "2027-01-01T00:00:00Z"
_FIELDS = frozenset({"duration", "start", "scrape", "controller", "replay"})
_CONTROLLER_FIELDS = frozenset(
    {
        "sync_period",
        "tolerance",
        "downscale_stabilization",
        "cpu_initialization_period",
        "initial_readiness_delay",
    }
)
_SECTION = "simulation"
_NULL = yaml.ScalarNode("tag:yaml.org,2002:null", "")


class ScrapeMode(StrEnum):
    """How the in-process scrapes read the exporters."""

    DIRECT = "direct"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class SimulationSpec:
    """The ``simulation:`` section: how long, from when, and the HPA controller's flags."""

    duration_ms: int
    start_ms: int
    controller: ControllerConfig
    scrape: ScrapeMode = ScrapeMode.DIRECT
    replay: ReplaySpec | None = None

    @property
    def step_ms(self) -> int:
        """The timeline's step: one HPA sync period."""
        return self.controller.sync_period_ms

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded scenario: the configuration the loop's parts are built from, its cluster,
    its HPAs (defaulted and validated) and the simulation settings."""

    path: str
    config: MainConfig
    cluster: ClusterSpec
    hpas: tuple[HorizontalPodAutoscaler, ...]
    simulation: SimulationSpec


def parse_simulation(
    node: yaml.Node | None, source: str, base_dir: str | None = None
) -> SimulationSpec:
    """The ``simulation:`` section; raises ConfigError with its position."""
    if node is None:
        raise ConfigError("a scenario needs a simulation: section with a duration", file=source)
    f = Fields(node, source, _SECTION, "simulation", _FIELDS)
    if "duration" not in f:
        raise f.fail(None, "duration is required")
    duration = f.duration_ms("duration")
    if duration <= 0:
        raise f.fail("duration", "must be positive")
    start_text = f.string("start", DEFAULT_START)
    try:
        start = parse_rfc3339_ms(start_text)
    except ValueError as err:
        raise f.fail("start", f"{start_text!r} is not an RFC 3339 time: {err}") from err
    mode_text = f.string("scrape", ScrapeMode.DIRECT.value)
    if mode_text not in {m.value for m in ScrapeMode}:
        raise f.fail("scrape", f"expected direct or text, got {mode_text!r}")
    d = ControllerConfig()
    c = Fields(
        f.get("controller") or _NULL, source, f.sub("controller"), "controller", _CONTROLLER_FIELDS
    )
    sync = c.duration_ms("sync_period", d.sync_period_ms)
    if sync <= 0:
        raise c.fail("sync_period", "must be positive")
    tolerance = d.tolerance
    if "tolerance" in c:
        text = scalar_str(c.at("tolerance"), source, c.sub("tolerance"))
        try:
            tolerance = float(text)
        except ValueError:
            raise c.fail("tolerance", f"expected a number, got {text!r}") from None
        if not tolerance >= 0:
            raise c.fail("tolerance", f"must be 0 or more, got {text!r}")
    controller = replace(
        d,
        sync_period_ms=sync,
        tolerance=tolerance,
        downscale_stabilization_window_ms=c.duration_ms(
            "downscale_stabilization", d.downscale_stabilization_window_ms
        ),
        cpu_initialization_period_ms=c.duration_ms(
            "cpu_initialization_period", d.cpu_initialization_period_ms
        ),
        initial_readiness_delay_ms=c.duration_ms(
            "initial_readiness_delay", d.initial_readiness_delay_ms
        ),
    )
    replay_node = f.get("replay")
    replay = None
    if replay_node is not None:
        replay = parse_replay(replay_node, source, base_dir, f.sub("replay"))
    return SimulationSpec(duration, start, controller, ScrapeMode(mode_text), replay)


def _default_scrape_configs(config: MainConfig) -> MainConfig:
    """The embedded kubeprom.yml's scrape jobs, read with this scenario's global defaults."""
    package = resources.files("kubeprom.config")
    source = f"<embedded {DEFAULT_CONFIG}>"
    root = compose(package.joinpath(DEFAULT_CONFIG).read_text(), source)
    if root is None:
        return config
    jobs = Fields(root, source, "", "config.Config", {k.value for k, _ in root.value})
    configs = tuple(
        parse_scrape_config(node, source, path, config.global_.scrape_defaults, config.base_dir)
        for path, node in jobs.items("scrape_configs")
    )
    return replace(config, scrape_configs=configs)


def _top(text: str, source: str, key: str) -> yaml.Node | None:
    """The key node of a top-level ``key``, or None."""
    root = compose(text, source)
    if not isinstance(root, yaml.MappingNode):
        return None
    return next((k for k, _ in root.value if k.value == key), None)


def load_scenario(
    path: str, gates: FeatureGates | None = None, opener: Opener | None = None
) -> Scenario:
    """Read and validate a scenario file; raises ConfigError (with positions) or OSError.
    ``opener`` answers the queries of a ``replay`` section."""
    return scenario_of(load_main_config(path), gates, opener)


def parse_scenario(
    text: str,
    source: str,
    base_dir: str,
    gates: FeatureGates | None = None,
    opener: Opener | None = None,
) -> Scenario:
    """A scenario from text (a sweep's variant), relative paths taken from ``base_dir``."""
    return scenario_of(parse_main_config(text, source, base_dir), gates, opener)


def scenario_of(
    config: MainConfig, gates: FeatureGates | None = None, opener: Opener | None = None
) -> Scenario:
    """The scenario of a loaded configuration; raises ConfigError (with positions)."""
    path = config.source
    if config.cluster_node is None:
        raise ConfigError("a scenario needs a cluster: section", file=path)
    base_dir = Path(config.base_dir) if config.base_dir is not None else None
    cluster = parse_cluster_config(config.text, path, base_dir=base_dir)
    if cluster is None:
        raise error(config.cluster_node, path, "cluster", "the cluster must not be empty")
    simulation = parse_simulation(config.simulation_node, path, config.base_dir)
    if simulation.replay is not None:
        cluster = replayed(cluster, simulation.replay, simulation.duration_ms, opener)
    hpas = load_hpa_config(config.hpa_node, path, config.base_dir, gates)
    # Parts that would talk to the outside world in virtual time have no place in a scenario.
    for key in ("remote_write", "alerting"):
        node = _top(config.text, path, key)
        if node is not None:
            raise error(node, path, key, "a scenario runs in virtual time and cannot have " + key)
    if _top(config.text, path, "scrape_configs") is None:
        config = _default_scrape_configs(config)
    return Scenario(path, config, cluster, tuple(h.hpa for h in hpas), simulation)
