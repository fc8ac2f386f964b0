"""The PromQL evaluator over the promql-parser AST.

Callers use :class:`QueryAPI` (the protocol) and :class:`LocalQueryAPI` (the engine over a
local :class:`~kubeprom.tsdb.api.Querier`); ``parse`` turns a query into the evaluator's tree
and raises :class:`~kubeprom.errors.ParseError` with Prometheus' positions.
"""

from kubeprom.promql.api import LocalQueryAPI, QueryAPI, QueryResult, ResultType
from kubeprom.promql.options import EngineOptions
from kubeprom.promql.parse import parse

__all__ = [
    "EngineOptions",
    "LocalQueryAPI",
    "QueryAPI",
    "QueryResult",
    "ResultType",
    "parse",
]
