"""Errors of the exposition parsers.

:class:`~kubeprom.errors.ExpositionError` is what callers see; it names the body
(``source``) and the 1-based line. :class:`MalformedLine` is internal: the line-level parsers
raise it with only a message, and the body-level code, which knows where the line sits,
turns it into an ExpositionError.
"""

from __future__ import annotations


class MalformedLine(Exception):
    """One line (or series text) does not parse; carries the message only."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def show(raw: bytes | str, limit: int = 120) -> str:
    """User input quoted for an error message (``repr``), shortened when long."""
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)
