"""The types every part of kubeprom shares: labels, matchers, sample values, durations."""

from kubeprom.model.labels import (
    EMPTY,
    METRIC_NAME,
    Labels,
    validate_label_name,
    validate_labels,
    validate_metric_name,
)
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import STALE_NAN, STALE_NAN_BITS, bits_equal, is_stale, stale_mask
from kubeprom.model.timeutil import format_duration_ms, parse_duration_ms

__all__ = [
    "EMPTY",
    "METRIC_NAME",
    "STALE_NAN",
    "STALE_NAN_BITS",
    "Labels",
    "MatchType",
    "Matcher",
    "bits_equal",
    "format_duration_ms",
    "is_stale",
    "parse_duration_ms",
    "stale_mask",
    "validate_label_name",
    "validate_labels",
    "validate_metric_name",
]
