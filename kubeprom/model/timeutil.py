"""Prometheus durations (``1h30m``, ``250ms``) and their formatting."""

from __future__ import annotations

import re

_UNITS_MS = {
    "y": 31_536_000_000,
    "w": 604_800_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
# Units must appear largest first, each at most once, as in Prometheus' model.ParseDuration.
_DURATION_RE = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?\Z"
)


def parse_duration_ms(text: str) -> int:
    """Milliseconds in a Prometheus duration; raises ValueError naming the input."""
    m = _DURATION_RE.match(text)
    if not text or m is None or not any(m.groups()):
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(g) * u for g, u in zip(m.groups(), _UNITS_MS.values(), strict=True) if g)


def format_duration_ms(ms: int) -> str:
    """The shortest Prometheus spelling of a duration, e.g. ``7200000`` -> ``2h``."""
    if ms == 0:
        return "0s"
    out = []
    for unit, size in _UNITS_MS.items():
        n, ms = divmod(ms, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
