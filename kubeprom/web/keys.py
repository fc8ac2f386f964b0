"""Application state shared by every handler, as typed aiohttp ``AppKey``s.

The app's :class:`~kubeprom.clock.Clock` is the only thing handlers ask for "now" (default
``time`` parameters, ``/federate``'s lookback window, snapshot names, ``serverTime``) and
for request durations, so a test can pin "now" with a ``VirtualClock`` for the whole app.
"""

from __future__ import annotations

from aiohttp import web

from kubeprom.clock import Clock

CLOCK_KEY = web.AppKey[Clock]("clock")


def request_clock(request: web.Request) -> Clock:
    """The clock of the app serving ``request``."""
    return request.app[CLOCK_KEY]
