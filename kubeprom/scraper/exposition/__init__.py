"""Exposition parsers: Prometheus text format 0.0.4 and OpenMetrics 1.0, built for bulk speed.

* :func:`parse_text` parses a scrape body into columns (series text, value, timestamp); with
  ``known`` (a scrape cache's keys) a steady-state scrape parses no labels at all.
* :func:`parse_series` turns one series text into :class:`~kubeprom.model.labels.Labels`.
* :class:`OpenMetricsFileReader` streams a large OpenMetrics file with timestamps for import.
* :func:`content_type_format` and :data:`ACCEPT_HEADER` do content negotiation.
"""

from __future__ import annotations

from kubeprom.errors import ExpositionError

from .floats import MISSING
from .metadata import family_name
from .negotiation import ACCEPT_HEADER, content_type_format
from .parser import ParsedBody, parse_text
from .reader import OpenMetricsFileReader
from .series import parse_series

__all__ = [
    "ACCEPT_HEADER",
    "MISSING",
    "ExpositionError",
    "OpenMetricsFileReader",
    "ParsedBody",
    "content_type_format",
    "family_name",
    "parse_series",
    "parse_text",
]
