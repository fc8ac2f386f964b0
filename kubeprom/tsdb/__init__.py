"""The time-series store: head, WAL, compressed blocks, retention.

Writers use an :class:`Appender` (``DB.appender()``), readers a :class:`Querier`
(``DB.querier()``); nothing else of the store is part of the seam. :class:`MemStore` is the
same head in memory only (no WAL, no blocks), for tests, rule unit tests and simulations.
"""

from kubeprom.tsdb.api import (
    MAX_TIME,
    MIN_TIME,
    Appender,
    AppendStats,
    MetricMetadata,
    MetricType,
    Querier,
    Series,
    SeriesRef,
    SeriesSet,
)
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.importer import BulkImporter
from kubeprom.tsdb.memstore import MemStore

__all__ = [
    "DB",
    "MAX_TIME",
    "MIN_TIME",
    "AppendStats",
    "Appender",
    "BulkImporter",
    "MemStore",
    "MetricMetadata",
    "MetricType",
    "Options",
    "Querier",
    "Series",
    "SeriesRef",
    "SeriesSet",
]
