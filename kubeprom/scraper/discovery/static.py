"""``static_configs``: target groups written in the configuration."""

from __future__ import annotations

from collections.abc import Sequence

from kubeprom.config.scrape import StaticConfig
from kubeprom.scraper.discovery.group import TargetGroup

ADDRESS_LABEL = "__address__"


def static_groups(configs: Sequence[StaticConfig]) -> list[TargetGroup]:
    """One group per ``static_configs`` entry, its source the entry's index (as Prometheus)."""
    return [
        TargetGroup(
            source=str(i),
            targets=[{ADDRESS_LABEL: target} for target in cfg.targets],
            labels=dict(cfg.labels),
        )
        for i, cfg in enumerate(configs)
    ]
