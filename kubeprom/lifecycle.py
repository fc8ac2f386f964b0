"""Named parts started in a stated order and stopped in the reverse order.

A server (``kubeprom run``) or a simulation is a list of :class:`Component` s: each owns
one part (the store, the scrape service, the HTTP server, ...) and knows how to start and
stop it. :class:`Lifecycle` starts them in list order and stops them in reverse, so a part
is started after, and stopped before, everything it depends on. If a start fails, the
parts already started are stopped (in reverse) before the error propagates, so nothing is
left running and the store is closed. Parts that can adopt a new configuration implement
:class:`Reloadable`; :meth:`Lifecycle.reload` hands a loaded configuration to each of them
(Prometheus' ``reloaders`` in ``cmd/prometheus/main.go``).

This module knows nothing of the parts themselves; ``kubeprom/cli/server.py`` assembles the
server's list and states its order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar, runtime_checkable

from kubeprom.errors import KubepromError

log = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT")
ConfigT_contra = TypeVar("ConfigT_contra", contravariant=True)


class Component(Protocol):
    """One part of a running system. Used from one event loop.

    ``start`` returns once the part is running (a server is listening, a loop is
    scheduled); it raises if the part cannot start, and then holds nothing. ``stop``
    returns once the part has stopped and released what it holds; it is called once, and
    only after a successful ``start``.
    """

    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Reloadable(Protocol[ConfigT_contra]):
    """A component that adopts a new configuration while running (SIGHUP, /-/reload).

    ``reload`` raises KubepromError when it cannot apply ``config``; it then keeps running
    with what it had.
    """

    async def reload(self, config: ConfigT_contra) -> None: ...


class ReloadError(KubepromError):
    """One or more components refused a new configuration (each is logged by name)."""


class Lifecycle(Generic[ConfigT]):
    """Starts components in order, stops them in reverse, hands them new configurations.

    Names must be unique. Not task-safe: callers serialise ``start``/``stop``/``reload``.
    """

    def __init__(self, components: Sequence[Component]) -> None:
        names = [c.name for c in components]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"component names must be unique, got {dupes} more than once")
        self.components = list(components)
        self._started: list[Component] = []

    @property
    def names(self) -> list[str]:
        """The start order (stop order is its reverse)."""
        return [c.name for c in self.components]

    @property
    def running(self) -> list[str]:
        """Names of the components started and not yet stopped, in start order."""
        return [c.name for c in self._started]

    async def start(self) -> None:
        """Start every component in order. If one fails, stop those started (in reverse)
        and re-raise its error."""
        if self._started:
            raise RuntimeError(f"already started: {self.running}")
        for component in self.components:
            log.info("starting component=%s", component.name)
            try:
                await component.start()
            except BaseException:
                log.error("start failed, stopping what started component=%s", component.name)
                await self._stop_started()
                raise
            self._started.append(component)

    async def stop(self) -> None:
        """Stop the started components in reverse order; every one is stopped even if an
        earlier stop fails. Raises the first failure after all are stopped."""
        errors = await self._stop_started()
        if errors:
            raise errors[0]

    async def _stop_started(self) -> list[Exception]:
        errors: list[Exception] = []
        while self._started:
            component = self._started.pop()
            log.info("stopping component=%s", component.name)
            try:
                await component.stop()
            # The edge of shutdown: a part that fails to stop must not keep the parts
            # below it (the store above all) from stopping. Logged here, raised by stop().
            except Exception as err:
                log.error("stop failed component=%s err=%s", component.name, err, exc_info=err)
                errors.append(err)
        return errors

    async def reload(self, config: ConfigT) -> None:
        """Hand ``config`` to every running :class:`Reloadable` component, in start order.

        A component that refuses it keeps its old configuration and the others still get
        the new one (as Prometheus does); then ReloadError names the ones that failed.
        """
        failed: list[str] = []
        for component in list(self._started):
            if not isinstance(component, Reloadable):
                continue
            try:
                await component.reload(config)
            except KubepromError as err:
                log.error("cannot apply configuration component=%s err=%s", component.name, err)
                failed.append(f"{component.name}: {err}")
        if failed:
            raise ReloadError(
                "one or more errors occurred while applying the new configuration: "
                + "; ".join(failed)
            )
