"""Resource quantities as metrics-server stores them and kubectl prints them.

metrics-server turns scraped floats into integers before anything prints them: CPU usage is
``uint64(cores * 1e9)`` nanocores, memory ``uint64(bytes)`` bytes (truncation both). kubectl
then prints CPU as ``Quantity.MilliValue()`` millicores, which rounds *up*, and memory as
``Value() / (1024*1024)`` Mi, which rounds *down* (``pkg/metricsutil/metrics_printer.go``).
Percentages are ``int64(float64(usage.MilliValue()) / float64(available.MilliValue()) * 100)``:
float64 division, then truncation.

The JSON forms (``usage.cpu: "250m"``, ``usage.memory: "1234Ki"``) are apimachinery's
canonical ``Quantity.String()``: CPU in DecimalSI (``n``, ``u``, ``m``, no suffix, ``k`` ...
with exponents that are multiples of 3), memory in BinarySI (``Ki``, ``Mi`` ... when the byte
count divides exactly, else DecimalSI). Every function here is pure and takes integers where
kubectl has integers.
"""

from __future__ import annotations

import math

from kubeprom.model.quantity import decimal_si

NANO_PER_CORE = 1_000_000_000
NANO_PER_MILLI = 1_000_000
MILLI_PER_UNIT = 1_000
MI = 1024 * 1024
# PromQL's irate divides floats where metrics-server subtracts integer nanoseconds, so a rate
# that is exactly 115000000 nanocores can come back as 114999999.99999999. A picocore of
# tolerance absorbs that without changing any real measurement.
_NANO_TOLERANCE = 1e-3
# Resource lists (allocatable, capacity) are exact millicores; kube-state-metrics prints them
# as floats in cores, so round what is within float error of a whole millicore.
_MILLI_TOLERANCE = 1e-6

_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def cpu_nanocores(cores: float) -> int:
    """metrics-server's CPU usage: whole nanocores, truncated; NaN and negatives give 0."""
    if not math.isfinite(cores) or cores <= 0:
        return 0
    return math.floor(cores * NANO_PER_CORE + _NANO_TOLERANCE)


def memory_bytes(value: float) -> int:
    """metrics-server's memory usage: whole bytes, truncated; NaN and negatives give 0."""
    if not math.isfinite(value) or value <= 0:
        return 0
    return math.floor(value)


def milli_of_nano(nanocores: int) -> int:
    """``Quantity.MilliValue()`` of a nanocore quantity: rounded up."""
    return -(-nanocores // NANO_PER_MILLI)


def cpu_milli_of_cores(cores: float) -> int:
    """``MilliValue()`` of a resource list's CPU given in cores (``3.8`` -> 3800)."""
    milli = cores * MILLI_PER_UNIT
    nearest = round(milli)
    if abs(milli - nearest) <= _MILLI_TOLERANCE:
        return int(nearest)
    return math.ceil(milli)


def format_cpu(nanocores: int) -> str:
    """The CPU(cores) cell: ``250m``."""
    return f"{milli_of_nano(nanocores)}m"


def format_memory(n_bytes: int) -> str:
    """The MEMORY(bytes) cell: ``123Mi`` (whole mebibytes, rounded down)."""
    return f"{n_bytes // MI}Mi"


def format_percent(usage_milli: int, available_milli: int) -> str:
    """A CPU(%) / MEMORY(%) cell from milli-values: ``42%``; ``0%`` when nothing is available."""
    fraction = 0.0
    if available_milli != 0:
        fraction = float(usage_milli) / float(available_milli) * 100
    return f"{int(fraction)}%"


def cpu_quantity(nanocores: int) -> str:
    """``usage.cpu`` as metrics-server serves it (DecimalSI, scale -9): ``250m``, ``123456n``."""
    return decimal_si(nanocores, -9)


def memory_quantity(n_bytes: int) -> str:
    """``usage.memory`` as metrics-server serves it (BinarySI): ``1234Ki``, ``16Gi``, ``999``."""
    if -1024 < n_bytes < 1024:
        return decimal_si(n_bytes, 0)
    power = 0
    while n_bytes % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
        n_bytes //= 1024
        power += 1
    return f"{n_bytes}{_BINARY_SUFFIXES[power]}"
