"""Annotation texts the functions emit, worded as Prometheus' ``util/annotations``.

Texts carry neither the ``PromQL warning: `` / ``PromQL info: `` prefix nor the
``(line:col)`` suffix: the evaluator knows the kind (it reads ``Annotations.warnings`` or
``.infos``) and the position of the argument that caused the note, so it adds both when it
renders them. Floats are formatted like Go's ``fmt`` verbs so the texts match upstream's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from kubeprom.promql.functions.civil import rfc3339_utc

# annotations.InvalidQuantileWarning, a warning.
INVALID_QUANTILE = "quantile value should be between 0 and 1, got {}"
# annotations.HistogramQuantileForcedMonotonicityInfo, an info.
FORCED_MONOTONICITY = (
    "input to histogram_quantile needed to be fixed for monotonicity "
    "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)"
)


def invalid_quantile(q: float) -> str:
    """The warning for a quantile outside [0, 1] or NaN (Go ``%g``)."""
    return INVALID_QUANTILE.format(go_format_g(q))


def forced_monotonicity(metric_name: str) -> str:
    """The info for classic buckets whose counts had to be made monotonic.

    Upstream appends `` for metric name "<name>"`` only when the name is not empty (it is
    empty when delayed name removal is off).
    """
    if not metric_name:
        return FORCED_MONOTONICITY
    return f"{FORCED_MONOTONICITY} for metric name {go_quote(metric_name)}"


@dataclass(slots=True)
class ForcedMonotonicity:
    """Details of every forced-monotonicity fix for one metric name, merged.

    Upstream merges these per annotation text and, when the HTTP API renders the info,
    appends :meth:`detail` to the text. ``samples`` counts the (group, step) evaluations
    that needed a fix; timestamps are ms, ``None`` when the caller gave no step times.
    """

    metric_name: str
    samples: int
    min_ts_ms: int | None
    max_ts_ms: int | None
    min_bucket: float
    max_bucket: float
    max_diff: float

    def merge(self, other: ForcedMonotonicity) -> None:
        """Widen this record by ``other`` (same metric name), as upstream's ``Merge``."""
        self.samples += other.samples
        if other.min_ts_ms is not None:
            self.min_ts_ms = (
                other.min_ts_ms if self.min_ts_ms is None else min(self.min_ts_ms, other.min_ts_ms)
            )
        if other.max_ts_ms is not None:
            self.max_ts_ms = (
                other.max_ts_ms if self.max_ts_ms is None else max(self.max_ts_ms, other.max_ts_ms)
            )
        self.min_bucket = min(self.min_bucket, other.min_bucket)
        self.max_bucket = max(self.max_bucket, other.max_bucket)
        self.max_diff = max(self.max_diff, other.max_diff)

    def detail(self) -> str:
        """The suffix upstream's HTTP rendering appends to :func:`forced_monotonicity`."""
        lo = 0 if self.min_ts_ms is None else self.min_ts_ms
        hi = 0 if self.max_ts_ms is None else self.max_ts_ms
        return (
            f", from buckets {go_format_g(self.min_bucket)} to {go_format_g(self.max_bucket)}, "
            f"with a max diff of {go_format_g(self.max_diff, 2)}, over {self.samples} samples "
            f"from {rfc3339_utc(_go_div(lo, 1000))} to {rfc3339_utc(_go_div(hi, 1000))}"
        )


def _go_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def go_quote(text: str) -> str:
    """Go's ``%q`` for the label values that appear in annotations (printable text)."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return None


def _digits(text: str) -> tuple[str, int]:
    """Significant digits (no trailing zeros) of a finite non-zero decimal, and where its
    decimal point goes: the value is ``0.<digits> * 10**dp``, as Go's ``decimalSlice``."""
    _, digit_tuple, exponent = Decimal(text).as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite decimal: {text!r}")
    return "".join(map(str, digit_tuple)).rstrip("0"), len(digit_tuple) + exponent


def go_format_g(x: float, prec: int | None = None) -> str:
    """Go's ``%g`` (``prec=None``, shortest round-trip digits) or ``%.<prec>g``."""
    special = _special(x)
    if special is not None:
        return special
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    if prec is None:
        # repr() yields the shortest round-trip digits, as Go's shortest formatting does.
        digits, dp = _digits(repr(abs(x)))
        eprec = 6  # Go: "if precision was the shortest possible, use precision 6"
    else:
        prec = max(prec, 1)
        digits, dp = _digits(f"{abs(x):.{prec - 1}e}")
        eprec = prec
        if eprec > len(digits) >= dp:
            eprec = len(digits)
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_format_f(x: float) -> str:
    """Go's ``%f``: six decimals, ``+Inf``/``-Inf``/``NaN`` spelled out."""
    special = _special(x)
    return special if special is not None else f"{x:.6f}"
