"""A QueryAPI whose instant queries block until released: for tests of the query pool."""

from __future__ import annotations

import threading

import numpy as np

from kubeprom.promql.api import QueryResult, ResultType


class BlockingAPI:
    """Instant queries count themselves as started, then wait until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        self.started.release()
        self.release.wait(30)
        return QueryResult(ResultType.SCALAR, t=np.array([1000]), v=np.array([1.0]))

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise NotImplementedError
