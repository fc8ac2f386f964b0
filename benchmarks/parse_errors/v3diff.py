"""Parse errors that differ between Prometheus 2.42 and 3.x, as the 3.x source shows.

kubeprom reports 3.x's errors; the differential run compares with Debian's 2.42. Each class
here names a change in ``promql/parser`` (grammar, lexer or checks) between v2.42.0 and 3.x
and recognises the pair (2.42 message, kubeprom message) it produces.
"""

from __future__ import annotations


def classify_v3(reference: str, ours: str) -> str | None:
    """The name of the 3.x change that explains ``ours`` differing from ``reference``."""
    return None
