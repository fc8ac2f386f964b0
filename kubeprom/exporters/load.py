"""Load shapes: requests per second a Deployment receives at a time since the cluster started.

:func:`rps_at` is pure: the same spec and time give the same rate, whatever was asked before.
Rates never go below 0. Field meanings are documented in :mod:`kubeprom.config.cluster`.
"""

from __future__ import annotations

import math

import numpy as np

from kubeprom.config.cluster import LoadSpec, LoadType


def rps_at(load: LoadSpec, t_s: float) -> float:
    """Requests per second at ``t_s`` seconds after the cluster started."""
    match load.type:
        case LoadType.CONSTANT:
            rate = load.rps
        case LoadType.STEP:
            rate = load.from_rps if t_s < load.at_s else load.to_rps
        case LoadType.RAMP:
            done = min(max((t_s - load.at_s) / load.over_s, 0.0), 1.0)
            rate = load.from_rps + (load.to_rps - load.from_rps) * done
        case LoadType.DIURNAL:
            angle = 2.0 * math.pi * (t_s + load.phase_s) / load.period_s
            rate = load.base_rps + load.amplitude_rps * math.sin(angle)
        case LoadType.SPIKE:
            since = t_s - load.at_s
            if load.every_s is not None and since >= 0:
                since %= load.every_s
            inside = 0.0 <= since < load.duration_s
            rate = load.base_rps * (load.factor if inside else 1.0)
        case LoadType.CSV:
            rate = _csv_rate(load, t_s)
    return max(rate, 0.0)


def _csv_rate(load: LoadSpec, t_s: float) -> float:
    times = load.csv_times_s
    # A replay loops over the span its rows cover; a single row is a constant.
    if load.loop and times[-1] > 0:
        t_s %= times[-1]
    return float(np.interp(t_s, times, load.csv_rps))
