"""Loading and validating YAML configuration (prometheus.yml subset, rule files, scenarios)."""

from kubeprom.config.load import DEFAULT_CONFIG, MainConfig, load_main_config

__all__ = ["DEFAULT_CONFIG", "MainConfig", "load_main_config"]
