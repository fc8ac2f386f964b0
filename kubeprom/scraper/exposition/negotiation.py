"""Content negotiation: what a scrape asks for and which parser a response needs."""

from __future__ import annotations

from typing import Literal

#: The Accept header Prometheus sends when it prefers OpenMetrics.
ACCEPT_HEADER = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,"
    "*/*;q=0.1"
)


def content_type_format(content_type: str | None) -> Literal["openmetrics", "text"]:
    """The parser for a response's Content-Type: OpenMetrics for
    ``application/openmetrics-text`` (any version), the text format for anything else,
    including a missing header (as Prometheus falls back)."""
    if content_type is None:
        return "text"
    media_type = content_type.split(";", 1)[0].strip().lower()
    return "openmetrics" if media_type == "application/openmetrics-text" else "text"
