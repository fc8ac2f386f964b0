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
from collections.abc import Callable

from kubeprom.clock import RealClock
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
        self._holders = 0  # queries holding a reservation
        # Waiting queries by token: what each asks for; what those that hold samples hold;
        # those chosen to give up.
        self._next_token = 0
        self._needs: dict[int, int] = {}
        self._waiting_holders: dict[int, int] = {}
        self._victims: set[int] = set()
        self._cond = threading.Condition()
        # A wait on a condition is real time, whatever clock the query reads.
        self._real = RealClock()

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._needs)

    def wait_for_waiters(self, n: int, timeout_s: float) -> bool:
        """Block until ``n`` queries wait (for observers: tests, metrics); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._needs) >= n, timeout_s)

    def reserve(
        self, n: int, *, holding: int, check: Callable[[], None], remaining_s: float
    ) -> None:
        """Take ``n`` more samples for a query that holds ``holding`` already, waiting for
        others to release if need be.

        ``check`` raises when the query must stop (its deadline, cancellation) and runs
        whenever the wait wakes; ``remaining_s`` is the query's time left, beyond which it
        never waits. Raises :class:`QueryBudgetExceeded` when the samples do not fit in
        time, the wait queue is full, ``n`` alone exceeds the budget, or every query that
        holds samples waits for more and none of their needs fits: nothing can be released
        until one gives up, so the waiting query that holds least gives up at once (its
        caller then releases what it holds and the others go on).
        """
        if n <= 0:
            return
        with self._cond:
            if self._held + n <= self.total:
                self._take(n, holding)
                return
            if n > self.total:
                raise QueryBudgetExceeded(self._refusal(n, "it alone exceeds"))
            if len(self._needs) >= self.max_waiters:
                raise QueryBudgetExceeded(self._refusal(n, f"{len(self._needs)} queries wait for"))
            me = self._next_token
            self._next_token += 1
            self._needs[me] = n
            if holding > 0:
                self._waiting_holders[me] = holding
            self._cond.notify_all()  # observers waiting for a waiter
            try:
                wait_s = min(self.max_wait_s, max(remaining_s, 0.0))
                end_ns = self._real.monotonic_ns() + round(wait_s * 1e9)
                while self._held + n > self.total:
                    if me in self._victims or (self._stuck() and self._victim() == me):
                        raise QueryBudgetExceeded(
                            self._refusal(n, "every query holding samples waits for")
                        )
                    if self._stuck():
                        self._victims.add(self._victim())
                        self._cond.notify_all()
                    left = (end_ns - self._real.monotonic_ns()) / 1e9
                    if left <= 0:
                        raise QueryBudgetExceeded(self._refusal(n, "nothing was released of"))
                    self._cond.wait(min(left, _POLL_S))
                    check()
                self._take(n, holding)
            finally:
                del self._needs[me]
                self._waiting_holders.pop(me, None)
                self._victims.discard(me)

    def _stuck(self) -> bool:
        """Every query holding samples waits, none chosen to give up yet, and no waiter's
        need fits: nothing can be released until one gives up. (A waiter whose need fits
        takes it when it wakes.)"""
        return (
            not self._victims
            and len(self._waiting_holders) >= self._holders > 0
            and self._held + min(self._needs.values()) > self.total
        )

    def _victim(self) -> int:
        """The waiting query that holds least: it gives up the least work."""
        return min(self._waiting_holders, key=lambda t: (self._waiting_holders[t], -t))

    def _take(self, n: int, holding: int) -> None:
        self._held += n
        self._holders += holding == 0

    def release(self, n: int) -> None:
        """Give back everything (``n`` samples) one query took with :meth:`reserve`."""
        if n <= 0:
            return
        with self._cond:
            self._held = max(0, self._held - n)
            self._holders = max(0, self._holders - 1)
            self._cond.notify_all()

    def _refusal(self, n: int, why: str) -> str:
        return (
            f"query would hold {n} more samples while queries in flight hold {self._held}, "
            f"and {why} the server's budget of {self.total} "
            "(--query.max-samples-total); try again later"
        )
