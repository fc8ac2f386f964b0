"""A server-wide sample budget shared by the queries in flight (issue 11).

``--query.max-samples`` bounds one query, as in Prometheus; nothing bounded their sum, and
six slow queries at once held six times what one may. :class:`SampleBudget` is the sum's
bound: every query's evaluator reserves here the samples it accounts against its own limit
(``QueryEvaluator.hold``) and gives them all back when it ends, however it ends. A query
whose reservation does not fit waits, at most ``max_wait_s`` and never past its own
deadline, for others to release; then it is refused with :class:`QueryBudgetExceeded`,
which the HTTP API answers 503 ``unavailable``: the refusal says the server is busy, not
that the query is wrong (a query too large on its own is refused by its own limit, 422).
At most ``max_waiters`` queries wait at once; one more is refused at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kubeprom.errors import QueryBudgetExceeded

# A waiting query wakes at least this often to check its own deadline and cancellation.
_POLL_S = 0.05


class SampleBudget:
    """Samples held by all queries together, at most ``total``. Thread-safe."""

    def __init__(self, total: int, *, max_wait_s: float, max_waiters: int) -> None:
        if total <= 0 or max_wait_s < 0 or max_waiters < 0:
            raise ValueError("a sample budget needs total > 0, max_wait_s >= 0, max_waiters >= 0")
        self.total = total
        self.max_wait_s = max_wait_s
        self.max_waiters = max_waiters
        self._held = 0
        self._waiting = 0
        self._cond = threading.Condition()

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    @property
    def waiting(self) -> int:
        with self._cond:
            return self._waiting

    def wait_for_waiters(self, n: int, timeout_s: float) -> bool:
        """Block until ``n`` queries wait (for observers: tests, metrics); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._waiting >= n, timeout_s)

    def reserve(self, n: int, *, check: Callable[[], None], remaining_s: float) -> None:
        """Take ``n`` samples, waiting for others to release them if need be.

        ``check`` raises when the query must stop (its deadline, cancellation) and runs
        whenever the wait wakes; ``remaining_s`` is the query's time left, beyond which it
        never waits. Raises :class:`QueryBudgetExceeded` when the samples do not fit in
        time, the wait queue is full, or ``n`` alone exceeds the budget.
        """
        if n <= 0:
            return
        with self._cond:
            if self._held + n <= self.total:
                self._held += n
                return
            if n > self.total:
                raise QueryBudgetExceeded(self._refusal(n, "it alone exceeds"))
            if self._waiting >= self.max_waiters:
                raise QueryBudgetExceeded(self._refusal(n, f"{self._waiting} queries wait for"))
            self._waiting += 1
            self._cond.notify_all()  # observers waiting for a waiter
            try:
                end = time.monotonic() + min(self.max_wait_s, max(remaining_s, 0.0))
                while self._held + n > self.total:
                    left = end - time.monotonic()
                    if left <= 0:
                        raise QueryBudgetExceeded(self._refusal(n, "nothing was released of"))
                    self._cond.wait(min(left, _POLL_S))
                    check()
                self._held += n
            finally:
                self._waiting -= 1

    def release(self, n: int) -> None:
        """Give back ``n`` samples taken with :meth:`reserve`."""
        if n <= 0:
            return
        with self._cond:
            self._held = max(0, self._held - n)
            self._cond.notify_all()

    def _refusal(self, n: int, why: str) -> str:
        return (
            f"query would hold {n} more samples while queries in flight hold {self._held}, "
            f"and {why} the server's budget of {self.total} "
            "(--query.max-samples-total); try again later"
        )
