"""Errors ``kubectl top`` reports, with the line kubectl prints for each.

kubectl prints an API status error as ``Error from server (Reason): message`` and any other
error as ``error: message`` (``cmdutil.CheckErr``). :attr:`TopError.line` is that line; the
message alone is ``str(err)``.
"""

from __future__ import annotations

from kubeprom.errors import KubepromError


class TopError(KubepromError):
    """An error ``kubectl top`` would report; :attr:`line` is the line it prints."""

    def __init__(self, message: str, *, line: str | None = None) -> None:
        super().__init__(message)
        self.line = line if line is not None else f"error: {message}"


class NotFound(TopError):
    """The API server's NotFound: ``Error from server (NotFound): pods "x" not found``."""

    def __init__(self, resource: str, name: str) -> None:
        message = f'{resource} "{name}" not found'
        super().__init__(message, line=f"Error from server (NotFound): {message}")
        self.resource = resource
        self.name = name


class BadRequest(TopError):
    """The API server's BadRequest (a field selector it does not support)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, line=f"Error from server (BadRequest): {message}")


METRICS_NOT_AVAILABLE = "metrics not available yet"
