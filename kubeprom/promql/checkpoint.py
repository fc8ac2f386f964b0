"""The running query's checkpoint, for loops deep inside functions that take no evaluator.

A range function's sequential pass can loop millions of times over one long window; the
evaluator's deadline, cancellation and limits must stop it there too, not only between
nodes. The evaluator installs its check for the duration of a query (:func:`checking`);
such loops call :func:`checkpoint` every :data:`EVERY` iterations, which runs the check of
the query on this thread, if any.

The check is held in a :class:`contextvars.ContextVar`: it belongs to the query being
evaluated in this thread (each query thread has a context of its own), which is what a Go
``context.Context`` passed down the call tree would give, without threading a parameter
through every function of the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Loop iterations between checks: a check reads a clock and an event, a loop iteration
# is one numpy operation, so checking one in 4,096 costs nothing measurable.
EVERY = 1 << 12

_CHECK: ContextVar[Callable[[], None] | None] = ContextVar("kubeprom_query_check", default=None)


@contextmanager
def checking(check: Callable[[], None]) -> Iterator[None]:
    """Make ``check`` the checkpoint of this thread's code for the block."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


def checkpoint() -> None:
    """Run the current query's check (it raises when the query must stop)."""
    check = _CHECK.get()
    if check is not None:
        check()
