"""Target discovery: where target groups come from (config, files, the simulated cluster).

A discovery produces :class:`TargetGroup` values; :mod:`kubeprom.scraper.targets` turns a
group into targets with the job's settings and relabeling.
"""

from kubeprom.scraper.discovery.file import FileDiscovery, read_target_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.discovery.static import static_groups

__all__ = ["FileDiscovery", "TargetGroup", "read_target_groups", "static_groups"]
