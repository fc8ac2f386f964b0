"""Settings shared by every test package."""

from __future__ import annotations

from hypothesis import settings

# Speed belongs to benchmarks/, not to unit tests: Hypothesis' per-example deadline (200 ms)
# is a timing assertion that fails on a loaded machine without any change in behaviour.
settings.register_profile("kubeprom", deadline=None)
settings.load_profile("kubeprom")
